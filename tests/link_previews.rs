//! Link previews: OpenGraph and Twitter card tags and canonical links on every kind of page,
//! absolute with a base URL, left out (not faked) without one, and a card image that serves.

mod common;

use askama::Template;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestApp, attrs, form_request, texts};
use snakepit::accounts::AccountsConfig;
use snakepit::config::{AccountArgs, SiteArgs};
use snakepit::layout::Layout;
use snakepit::sandbox::api::Runner;
use snakepit::{Site, app};

const BASE: &str = "https://kb.example.test";

/// The `content` of every `<meta property=KEY>` or `<meta name=KEY>`, in page order.
fn meta(html: &scraper::Html, key: &str) -> Vec<String> {
    attrs(
        html,
        &format!("meta[property=\"{key}\"], meta[name=\"{key}\"]"),
        "content",
    )
}

/// The single value of `key`, failing with the page's head when it is missing or repeated.
fn one(html: &scraper::Html, key: &str) -> String {
    let values = meta(html, key);
    assert_eq!(values.len(), 1, "{key}: {values:?}\n{}", head(html));
    values[0].clone()
}

fn head(html: &scraper::Html) -> String {
    let sel = scraper::Selector::parse("head").unwrap();
    html.select(&sel)
        .next()
        .map(|h| h.html())
        .unwrap_or_default()
}

/// The tags every page has, whatever its kind; returns the page title.
fn assert_common_tags(html: &scraper::Html, with_base: bool) -> String {
    let title = texts(html, "title").concat();
    assert!(!title.is_empty());
    assert_eq!(one(html, "og:title"), title);
    assert_eq!(one(html, "twitter:title"), title);
    let description = one(html, "description");
    assert!(!description.is_empty());
    assert_eq!(one(html, "og:description"), description);
    assert_eq!(one(html, "twitter:description"), description);
    assert_eq!(one(html, "og:site_name"), "Snakepit");
    assert_eq!(one(html, "twitter:card"), "summary_large_image");
    if with_base {
        let image = one(html, "og:image");
        assert!(
            image.starts_with(&format!("{BASE}/static/og-card.png")),
            "{image}"
        );
        assert_eq!(one(html, "twitter:image"), image);
        assert_eq!(one(html, "og:image:width"), "1200");
        assert_eq!(one(html, "og:image:height"), "630");
        assert!(one(html, "og:image:alt").contains("Snakepit"));
    } else {
        for key in ["og:image", "twitter:image", "og:url", "og:image:width"] {
            assert!(meta(html, key).is_empty(), "{key} without a base URL");
        }
    }
    title
}

#[tokio::test]
async fn home_article_search_and_404_have_absolute_previews_with_a_base_url() {
    let app = TestApp::new().await;

    let home = app.get("/").await.html();
    assert_common_tags(&home, true);
    assert_eq!(one(&home, "og:type"), "website");
    assert_eq!(one(&home, "og:url"), format!("{BASE}/"));
    assert_eq!(
        attrs(&home, "link[rel=canonical]", "href"),
        [format!("{BASE}/")]
    );
    assert_eq!(
        one(&home, "og:description"),
        snakepit::layout::SITE_DESCRIPTION
    );

    let article = app.get("/articles/first-steps").await.html();
    let title = assert_common_tags(&article, true);
    assert!(title.starts_with("First steps with lists"), "{title}");
    assert_eq!(one(&article, "og:type"), "article");
    assert_eq!(
        one(&article, "og:description"),
        "Lists grow, shrink and alias; here is how."
    );
    let url = format!("{BASE}/articles/first-steps");
    assert_eq!(one(&article, "og:url"), url);
    assert_eq!(attrs(&article, "link[rel=canonical]", "href"), [url]);
    assert_eq!(one(&article, "article:section"), "Basics");
    assert_eq!(meta(&article, "article:tag"), ["lists", "aliasing"]);

    // Markup and quotes in titles and summaries are escaped once, not twice.
    let deep = app.get("/articles/deep-dive").await.html();
    let title = assert_common_tags(&deep, true);
    assert!(
        title.starts_with("Deep dive into <dicts> & hashing"),
        "{title}"
    );
    assert_eq!(
        one(&deep, "og:description"),
        "How dicts find keys, and why \"hash\" matters."
    );
    assert_eq!(one(&deep, "article:section"), "Advanced");
    assert!(meta(&deep, "article:tag").is_empty());

    let search = app.get("/search?q=list%20aliasing").await.html();
    assert_common_tags(&search, true);
    assert_eq!(one(&search, "og:type"), "website");
    assert_eq!(
        one(&search, "og:url"),
        format!("{BASE}/search?q=list+aliasing")
    );
    assert!(meta(&search, "article:section").is_empty());

    let missing = app.get("/articles/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let missing = missing.html();
    let title = assert_common_tags(&missing, true);
    assert!(title.starts_with("Page not found"), "{title}");
    assert!(
        meta(&missing, "og:url").is_empty(),
        "a 404 stands for no URL"
    );
    assert!(attrs(&missing, "link[rel=canonical]", "href").is_empty());
}

#[tokio::test]
async fn signed_in_pages_and_error_pages_have_previews_too() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    for (path, url) in [("/bookmarks", "/bookmarks"), ("/notes", "/notes")] {
        let res = app.page(path, &ada).await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        let html = res.html();
        assert_common_tags(&html, true);
        assert_eq!(one(&html, "og:url"), format!("{BASE}{url}"), "{path}");
    }

    // No sandbox in this app: the no-JavaScript run form answers an HTML error page.
    let res = app
        .request(form_request("/run", None, &[("code", "print(1)")]))
        .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    let html = res.html();
    let title = assert_common_tags(&html, true);
    assert!(title.starts_with("503 Service Unavailable"), "{title}");
    assert_eq!(one(&html, "og:type"), "website");
    assert!(
        attrs(&html, "link[rel=stylesheet]", "href")[0].contains("?v="),
        "the error page links the fingerprinted stylesheet"
    );
}

#[tokio::test]
async fn without_a_base_url_only_tags_that_need_no_url_are_emitted() {
    let args = SiteArgs {
        base_url: None,
        ..common::fixture_args()
    };
    let site = Site::build(&args).expect("fixture site builds");
    let config = AccountsConfig::from_args(&AccountArgs::default(), None).expect("defaults");
    let runner = Runner::Unavailable("no sandbox in this test".into());
    let (state, _data) = common::state_for(site, config, runner).await;
    let router = app(state);
    for path in ["/", "/articles/first-steps", "/search?q=lists", "/nope"] {
        let res = tower::ServiceExt::oneshot(
            router.clone(),
            Request::get(path).body(Body::empty()).unwrap(),
        )
        .await
        .unwrap();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        let html = scraper::Html::parse_document(std::str::from_utf8(&body).unwrap());
        assert_common_tags(&html, false);
        assert!(!meta(&html, "og:type").is_empty(), "{path}");
        // The canonical link may stay relative: browsers and crawlers resolve it.
        for href in attrs(&html, "link[rel=canonical]", "href") {
            assert!(href.starts_with('/'), "{path}: {href}");
        }
    }
}

#[tokio::test]
async fn the_card_image_serves_as_a_small_png_of_the_advertised_size() {
    let app = TestApp::new().await;
    let html = app.get("/articles/first-steps").await.html();
    let image = one(&html, "og:image");
    let path = image.strip_prefix(BASE).expect("absolute on this site");
    let res = app.get(path).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), "image/png");
    let png = &res.body;
    assert!(png.len() < 100 * 1024, "{} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!(width.to_string(), one(&html, "og:image:width"));
    assert_eq!(height.to_string(), one(&html, "og:image:height"));
}

/// A page written as the shared-snippet page will be: it extends base.html and sets only the
/// `title` and `description` blocks and a `canonical` field.
#[derive(Template)]
#[template(
    ext = "html",
    source = r#"{% extends "base.html" %}
{% block title %}Shared snippet — {{ layout.site_name }}{% endblock %}
{% block description %}A snippet shared from {{ article }}.{% endblock %}
{% block content %}<pre>print(1)</pre>{% endblock %}"#
)]
struct MinimalPage<'a> {
    layout: &'a Layout,
    canonical: String,
    article: &'a str,
}

#[test]
fn a_page_setting_only_title_description_and_canonical_gets_full_previews() {
    let site = Site::build(&common::fixture_args()).expect("fixture site builds");
    let page = MinimalPage {
        layout: &site.layout,
        canonical: site.layout.absolute("/s/abc123"),
        article: "\"First steps\" <lists>",
    };
    let html = scraper::Html::parse_document(&page.render().unwrap());
    let title = assert_common_tags(&html, true);
    assert_eq!(title, "Shared snippet — Snakepit");
    assert_eq!(
        one(&html, "og:description"),
        "A snippet shared from \"First steps\" <lists>."
    );
    assert_eq!(one(&html, "og:type"), "website");
    assert_eq!(one(&html, "og:url"), format!("{BASE}/s/abc123"));
    assert_eq!(
        attrs(&html, "link[rel=canonical]", "href"),
        [format!("{BASE}/s/abc123")]
    );
}
