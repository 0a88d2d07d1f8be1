//! Browsing through the real router: statuses, headers, and the HTML parsed.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestApp, attrs, texts};

#[tokio::test]
async fn home_lists_sections_with_their_articles_in_order() {
    let app = TestApp::new().await;
    let res = app.get("/").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-type"), "text/html; charset=utf-8");
    let html = res.html();
    assert_eq!(
        texts(&html, ".section-card h2"),
        ["Basics", "Advanced"],
        "empty sections are not shown"
    );
    assert_eq!(
        texts(&html, ".article-link"),
        [
            "First steps with lists",
            "A second look at tuples",
            "Deep dive into <dicts> & hashing"
        ]
    );
    assert_eq!(
        attrs(&html, ".article-link", "href")[0],
        "/articles/first-steps"
    );
    assert!(
        texts(&html, ".article-summary")
            .contains(&"Lists grow, shrink and alias; here is how.".to_string())
    );
}

#[tokio::test]
async fn article_has_toc_anchors_breadcrumb_and_pager() {
    let app = TestApp::new().await;
    let html = app.get("/articles/first-steps").await.html();
    assert_eq!(texts(&html, "h1"), ["First steps with lists"]);
    // Every heading has an id, and the table of contents links to each one.
    let ids = attrs(&html, ".prose h2, .prose h3", "id");
    assert_eq!(
        ids,
        [
            "aliasing-surprises",
            "a-nested-case",
            "copying-list-objects"
        ]
    );
    let toc: Vec<String> = attrs(&html, ".toc-wide a", "href");
    assert_eq!(
        toc,
        [
            "#aliasing-surprises",
            "#a-nested-case",
            "#copying-list-objects"
        ]
    );
    assert_eq!(
        attrs(&html, ".toc-wide li", "class"),
        ["toc-level-2", "toc-level-3", "toc-level-2"]
    );
    // A copy-link on every heading, pointing at its own anchor, beside the heading (not in
    // it: a screen reader reads the heading once, as its text alone).
    assert_eq!(
        attrs(&html, ".prose [data-copy-link]", "data-copy-link"),
        ids
    );
    assert_eq!(
        attrs(
            &html,
            ".prose .heading > :is(h2, h3) + .copy-link",
            "data-copy-link"
        ),
        ids
    );
    assert!(texts(&html, ".prose :is(h2, h3) .copy-link").is_empty());
    assert_eq!(
        texts(&html, ".prose :is(h2, h3)"),
        [
            "Aliasing surprises",
            "A nested case",
            "Copying list objects"
        ]
    );
    assert_eq!(
        texts(&html, ".breadcrumb li"),
        ["Home", "Basics", "First steps with lists"]
    );
    assert_eq!(attrs(&html, ".breadcrumb a", "href"), ["/", "/#basics"]);
    assert!(
        attrs(&html, ".pager-prev", "href").is_empty(),
        "the first article has no previous"
    );
    assert_eq!(
        attrs(&html, ".pager-next", "href"),
        ["/articles/second-look"]
    );
    assert_eq!(
        attrs(&html, "link[rel=canonical]", "href"),
        ["https://kb.example.test/articles/first-steps"]
    );
}

#[tokio::test]
async fn pager_crosses_sections_in_reading_order() {
    let app = TestApp::new().await;
    let html = app.get("/articles/second-look").await.html();
    assert_eq!(
        attrs(&html, ".pager-prev", "href"),
        ["/articles/first-steps"]
    );
    assert_eq!(attrs(&html, ".pager-next", "href"), ["/articles/deep-dive"]);
    let last = app.get("/articles/deep-dive").await.html();
    assert!(attrs(&last, ".pager-next", "href").is_empty());
}

#[tokio::test]
async fn code_is_highlighted_and_snippets_are_marked() {
    let app = TestApp::new().await;
    let html = app.get("/articles/first-steps").await.html();
    assert_eq!(attrs(&html, "figure.snippet", "id"), ["snippet-0"]);
    assert!(
        !texts(
            &html,
            "figure.snippet .hl-support, figure.snippet [class*=hl-]"
        )
        .is_empty()
    );
    assert_eq!(texts(&html, ".output-block pre"), ["[1, 2, 3]"]);
    assert_eq!(texts(&html, ".code-block figcaption"), ["Shell"]);
    assert_eq!(texts(&html, ".prose table th"), ["method", "depth"]);
    let second = app.get("/articles/second-look").await.html();
    assert!(
        attrs(&second, "figure.snippet", "id").is_empty(),
        "norun blocks are not runnable"
    );
    assert_eq!(texts(&second, ".prose del"), ["Tuples never change."]);
    assert_eq!(
        attrs(&second, ".prose input[type=checkbox]", "type").len(),
        2
    );
    assert_eq!(attrs(&second, ".prose .footnote-definition", "id"), ["1"]);
    let third = app.get("/articles/deep-dive").await;
    assert!(!third.text().contains("<dicts>"), "titles are escaped");
    assert_eq!(
        texts(&third.html(), "h1"),
        ["Deep dive into <dicts> & hashing"]
    );
    assert!(
        !texts(&third.html(), ".code-block .hl-entity").is_empty(),
        "TOML is highlighted"
    );
}

#[tokio::test]
async fn old_slugs_redirect_permanently() {
    let app = TestApp::new().await;
    let res = app.get("/articles/lists-101").await;
    assert_eq!(res.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(res.header("location"), "/articles/first-steps");
    assert!(res.body.is_empty());
    let target = app.get(res.header("location")).await;
    assert_eq!(target.status, StatusCode::OK);
    assert_eq!(texts(&target.html(), "h1"), ["First steps with lists"]);
    // A slug that is neither an article nor an alias: the 404 page, not a redirect.
    let res = app.get("/articles/lists-102").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.header("location"), "");
    assert_eq!(texts(&res.html(), "h1"), ["Page not found"]);
}

/// Heading ids are computed from the Markdown alone: loading and rendering the same content
/// twice gives the same anchors, so links to sections never break across restarts.
#[test]
fn heading_ids_are_stable_across_loads_and_renders() {
    let first = snakepit::Site::build(&common::fixture_args()).unwrap();
    let second = snakepit::Site::build(&common::fixture_args()).unwrap();
    let ids = |site: &snakepit::Site, slug: &str| {
        let html = scraper::Html::parse_document(
            std::str::from_utf8(site.pages.articles[slug].html()).unwrap(),
        );
        attrs(&html, ".prose :is(h1, h2, h3, h4, h5, h6)", "id")
    };
    for article in &first.library.articles {
        let again = second.library.article(&article.slug).unwrap();
        let a: Vec<&str> = article.headings.iter().map(|h| h.id.as_str()).collect();
        let b: Vec<&str> = again.headings.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(a, b, "{}", article.slug);
        let rendered = ids(&first, &article.slug);
        assert_eq!(rendered, ids(&second, &article.slug), "{}", article.slug);
        assert_eq!(
            rendered, a,
            "{}: the page shows the loaded ids",
            article.slug
        );
    }
    assert!(!ids(&first, "first-steps").is_empty());
    // The shipped content too, loaded twice from disk.
    let dir = common::root().join("content");
    let (one, two) = (
        snakepit::content::load(&dir).unwrap(),
        snakepit::content::load(&dir).unwrap(),
    );
    for (a, b) in one.articles.iter().zip(&two.articles) {
        assert_eq!(a.slug, b.slug);
        let ids = |x: &snakepit::content::Article| {
            x.headings.iter().map(|h| h.id.clone()).collect::<Vec<_>>()
        };
        assert_eq!(ids(a), ids(b), "{}", a.slug);
        assert_eq!(a.html, b.html, "{}", a.slug);
    }
}

#[tokio::test]
async fn unknown_pages_get_a_404_with_a_search_box() {
    let app = TestApp::new().await;
    for path in ["/articles/nope", "/no/such/page", "/articles/"] {
        let res = app.get(path).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{path}");
        let html = res.html();
        assert_eq!(texts(&html, "h1"), ["Page not found"], "{path}");
        assert_eq!(
            attrs(&html, "main form[role=search]", "action"),
            ["/search"]
        );
        assert_eq!(attrs(&html, "main form[role=search] input", "name"), ["q"]);
    }
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let app = TestApp::new().await;
    for path in [
        "/",
        "/articles/first-steps",
        "/nope",
        "/healthz",
        "/static/app.css",
        "/metrics",
    ] {
        let res = app.get(path).await;
        let csp = res.header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(res.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(
            res.header("referrer-policy"),
            "strict-origin-when-cross-origin",
            "{path}"
        );
    }
}

#[tokio::test]
async fn pages_have_no_inline_script_or_style() {
    let app = TestApp::new().await;
    let html = app.get("/articles/first-steps").await.html();
    let scripts = scraper::Selector::parse("script").unwrap();
    for s in html.select(&scripts) {
        assert!(s.value().attr("src").is_some(), "inline script found");
    }
    assert!(texts(&html, "style").is_empty());
    assert!(attrs(&html, "[style]", "style").is_empty());
    assert!(attrs(&html, "[onclick], [onload]", "onclick").is_empty());
}

#[tokio::test]
async fn pages_revalidate_with_etags() {
    let app = TestApp::new().await;
    let first = app.get("/articles/first-steps").await;
    let etag = first.header("etag").to_string();
    assert!(etag.starts_with('"'), "{etag}");
    let req = Request::get("/articles/first-steps")
        .header("if-none-match", &etag)
        .body(Body::empty())
        .unwrap();
    let again = app.request(req).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());
    let other = app.get("/articles/second-look").await;
    assert_ne!(other.header("etag"), etag);
}

#[tokio::test]
async fn static_files_are_fingerprinted_cached_and_compressed() {
    let app = TestApp::new().await;
    let html = app.get("/").await.html();
    let css = attrs(&html, "link[rel=stylesheet]", "href").remove(0);
    assert!(css.starts_with("/static/app.css?v="), "{css}");
    let req = Request::get(&css)
        .header("accept-encoding", "gzip")
        .body(Body::empty())
        .unwrap();
    let res = app.request(req).await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(res.header("content-encoding"), "gzip");
    assert!(res.header("content-type").starts_with("text/css"));
    let plain = app.get("/static/app.js").await;
    assert_eq!(
        plain.header("cache-control"),
        "public, max-age=300, must-revalidate"
    );
    assert_eq!(
        app.get("/static/missing.css").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn static_files_are_precompressed_with_etags_and_revalidate() {
    let app = TestApp::new().await;
    let file = std::fs::read(common::root().join("static/app.css")).unwrap();
    let mut tags = Vec::new();
    for coding in ["br", "gzip", "identity"] {
        let req = Request::get("/static/app.css")
            .header("accept-encoding", coding)
            .body(Body::empty())
            .unwrap();
        let res = app.request(req).await;
        assert_eq!(res.status, StatusCode::OK, "{coding}");
        assert_eq!(res.header("content-type"), "text/css; charset=utf-8");
        assert_eq!(res.header("vary"), "accept-encoding");
        let decoded = match coding {
            "br" => {
                assert_eq!(res.header("content-encoding"), "br");
                let mut out = Vec::new();
                brotli::BrotliDecompress(&mut &res.body[..], &mut out).unwrap();
                out
            }
            "gzip" => {
                assert_eq!(res.header("content-encoding"), "gzip");
                let mut out = Vec::new();
                std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&res.body[..]),
                    &mut out,
                )
                .unwrap();
                out
            }
            _ => {
                assert_eq!(res.header("content-encoding"), "");
                res.body.clone()
            }
        };
        assert_eq!(decoded, file, "{coding}");
        let etag = res.header("etag").to_string();
        assert!(etag.starts_with('"'), "{coding}: {etag}");
        let again = Request::get("/static/app.css")
            .header("accept-encoding", coding)
            .header("if-none-match", &etag)
            .body(Body::empty())
            .unwrap();
        let again = app.request(again).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{coding}");
        assert!(again.body.is_empty());
        tags.push(etag);
    }
    tags.dedup();
    assert_eq!(tags.len(), 3, "one ETag per coding: {tags:?}");
    // Images are not compressed again.
    let req = Request::get("/static/og-card.png")
        .header("accept-encoding", "br, gzip")
        .body(Body::empty())
        .unwrap();
    let png = app.request(req).await;
    assert_eq!(png.header("content-type"), "image/png");
    assert_eq!(png.header("content-encoding"), "");
    assert_eq!(
        png.body,
        std::fs::read(common::root().join("static/og-card.png")).unwrap()
    );
}

#[tokio::test]
async fn html_pages_are_compressed_on_request() {
    let app = TestApp::new().await;
    let req = Request::get("/")
        .header("accept-encoding", "br")
        .body(Body::empty())
        .unwrap();
    let res = app.request(req).await;
    assert_eq!(res.header("content-encoding"), "br");
}

#[tokio::test]
async fn healthz_reports_ready_once_the_sandbox_is_warm() {
    let app = TestApp::with_sandbox(1, snakepit::sandbox::Limits::default()).await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["articles"], 3);
    assert!(
        body["sandbox"].as_str().unwrap().contains("seccomp"),
        "{body}"
    );
}

#[tokio::test]
async fn healthz_is_503_when_snippets_cannot_run() {
    let app = TestApp::new().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["sandbox"], "no sandbox in this test");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let app = TestApp::new().await;
    let big = vec![b'x'; snakepit::http::BODY_LIMIT + 1];
    let req = Request::post("/healthz")
        .header("content-length", big.len())
        .body(Body::from(big))
        .unwrap();
    assert_eq!(app.request(req).await.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn openapi_describes_every_api_route() {
    let app = TestApp::new().await;
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/run",
        "/api/search",
        "/healthz",
        "/metrics",
        "/api/signup",
        "/api/login",
        "/api/logout",
        "/api/me",
        "/api/bookmarks",
        "/api/bookmarks/{slug}",
        "/api/notes",
        "/api/notes/{id}",
        "/api/export",
        "/api/shares",
        "/api/shares/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is undocumented");
    }
}

#[tokio::test]
async fn pages_are_served_precompressed_in_the_best_accepted_coding() {
    use std::io::Read;
    let app = TestApp::new().await;
    let plain = app.get("/articles/first-steps").await;
    assert_eq!(plain.header("content-encoding"), "");
    assert_eq!(plain.header("vary"), "accept-encoding");
    let get = |coding: &'static str| {
        Request::get("/articles/first-steps")
            .header("accept-encoding", coding)
            .body(Body::empty())
            .unwrap()
    };
    let br = app.request(get("gzip, deflate, br")).await;
    assert_eq!(br.header("content-encoding"), "br");
    let mut decoded = Vec::new();
    brotli::Decompressor::new(&br.body[..], 4096)
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain.body);
    let gz = app.request(get("gzip;q=1, br;q=0")).await;
    assert_eq!(gz.header("content-encoding"), "gzip");
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert_eq!(decoded, plain.body);
    assert!(gz.body.len() * 3 < plain.body.len(), "compression pays off");
    // Each coding has its own tag, and any of them revalidates the page.
    assert_ne!(gz.header("etag"), plain.header("etag"));
    let req = Request::get("/articles/first-steps")
        .header("accept-encoding", "br")
        .header("if-none-match", gz.header("etag"))
        .body(Body::empty())
        .unwrap();
    let again = app.request(req).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(again.header("content-encoding"), "");
}

#[tokio::test]
async fn signed_in_pages_are_gzip_spliced_from_precompressed_parts() {
    let app = TestApp::new().await;
    let session = app.sign_up("reader").await;
    // (The 404 page is rendered per request now: it suggests articles for the address.)
    for path in ["/articles/first-steps", "/"] {
        let get = |coding: &'static str| {
            Request::get(path)
                .header("cookie", &session.cookie)
                .header("accept-encoding", coding)
                .body(Body::empty())
                .unwrap()
        };
        let plain = app.request(get("identity")).await;
        assert!(plain.text().contains("class=\"nav-user\""), "{path}");
        assert_eq!(plain.header("content-encoding"), "", "{path}");
        let packed = app.request(get("gzip, deflate, br")).await;
        assert_eq!(packed.status, plain.status, "{path}");
        assert_eq!(packed.header("content-encoding"), "gzip", "{path}");
        assert_eq!(
            packed.header("cache-control"),
            "private, no-store",
            "{path}"
        );
        // A strict decoder: checks the CRC-32 and the length in the trailer.
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&packed.body[..]),
            &mut decoded,
        )
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(String::from_utf8(decoded).unwrap(), plain.text(), "{path}");
        assert!(packed.body.len() < plain.body.len(), "{path}: compressed");
    }
}

/// Near misses of an article's address lead to it: another letter case or a trailing slash
/// (301), a typo close to one slug only (302); anything else gets a 404 that suggests the
/// closest articles with the search box filled in.
#[tokio::test]
async fn near_miss_addresses_find_their_article() {
    let app = TestApp::new().await;
    for (path, status, location) in [
        (
            "/articles/First-Steps",
            StatusCode::MOVED_PERMANENTLY,
            "/articles/first-steps",
        ),
        (
            "/articles/first-steps/",
            StatusCode::MOVED_PERMANENTLY,
            "/articles/first-steps",
        ),
        (
            "/Articles/SECOND-LOOK/",
            StatusCode::MOVED_PERMANENTLY,
            "/articles/second-look",
        ),
        (
            "/articles/LISTS-101",
            StatusCode::MOVED_PERMANENTLY,
            "/articles/first-steps",
        ),
        (
            "/articles/first-step",
            StatusCode::FOUND,
            "/articles/first-steps",
        ),
        (
            "/articles/deep-dives",
            StatusCode::FOUND,
            "/articles/deep-dive",
        ),
        (
            "/deep-dive",
            StatusCode::MOVED_PERMANENTLY,
            "/articles/deep-dive",
        ),
    ] {
        let res = app.get(path).await;
        assert_eq!(
            (res.status, res.header("location")),
            (status, location),
            "{path}"
        );
    }
    // Not close to any one slug: the 404 page, suggesting articles, the box filled in.
    let res = app.get("/articles/aliasing-lists").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let html = res.html();
    assert_eq!(
        attrs(&html, "#not-found-search", "value"),
        ["aliasing lists"]
    );
    let suggested = attrs(&html, ".suggested-articles a", "href");
    assert_eq!(
        suggested.first().map(String::as_str),
        Some("/articles/first-steps"),
        "{suggested:?}"
    );
}
