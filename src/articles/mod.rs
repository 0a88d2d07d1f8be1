//! Browsing: the home page, article pages, old-slug redirects and the 404 page (with
//! near-miss addresses redirected, see [`near_miss`]).
//!
//! Every page here is the same for every anonymous reader, so all of them are rendered
//! once at start-up ([`Pages::render`]) and a request only looks one up and checks its ETag.

pub mod near_miss;

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::accounts::MaybeUser;
use crate::content::{Article, Heading, Library, Section};
use crate::layout::{CachedPage, Layout};
use crate::personal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(show_home))
        .route("/articles/{slug}", get(show_article))
}

async fn show_home(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    headers: HeaderMap,
) -> Response {
    match viewer {
        None => state.site.pages.home.respond(&headers),
        Some(v) => personal::common_page(&state.site.pages.home, &v, &headers),
    }
}

async fn show_article(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    MaybeUser(viewer): MaybeUser,
    headers: HeaderMap,
) -> Response {
    let site = &state.site;
    if let (Some(page), Some(article)) =
        (site.pages.articles.get(&slug), site.library.article(&slug))
    {
        return match viewer {
            None => page.respond(&headers),
            Some(v) => {
                personal::article_page(
                    &state.db,
                    &state.accounts.snapshots,
                    page,
                    article,
                    &v,
                    &headers,
                )
                .await
            }
        };
    }
    if let Some(target) = site.library.alias_target(&slug) {
        // 301, as the contract says (axum's `Redirect::permanent` is a 308).
        let location = format!("/articles/{}", target.slug);
        return (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, location)],
        )
            .into_response();
    }
    near_miss::answer(
        &state,
        &format!("/articles/{slug}"),
        viewer.as_deref(),
        &headers,
    )
    .await
}

/// The pre-rendered pages.
pub struct Pages {
    pub home: CachedPage,
    pub articles: HashMap<String, CachedPage>,
    pub not_found: CachedPage,
}

impl Pages {
    /// `related` maps each slug to its related slugs, best first (see `search::related`).
    pub fn render(
        library: &Library,
        layout: &Layout,
        related: &HashMap<String, Vec<String>>,
    ) -> Result<Self, askama::Error> {
        let common = |slot: &str, out: &mut String| personal::fill_common(slot, None, out);
        let home = HomePage::new(library, layout).render()?;
        let mut articles = HashMap::with_capacity(library.articles.len());
        for article in &library.articles {
            let mut page = ArticlePage::new(library, layout, article);
            page.related = related.get(&article.slug).map_or_else(Vec::new, |slugs| {
                slugs.iter().filter_map(|s| library.article(s)).collect()
            });
            let html = page.render()?;
            let html = crate::notes::add_note_buttons(&html, &article.slug, &article.headings);
            let page = CachedPage::with_slots(
                html,
                StatusCode::OK,
                personal::fill_article_anonymous(article),
            );
            articles.insert(article.slug.clone(), page);
        }
        let not_found = NotFoundPage {
            layout,
            canonical: String::new(),
            library,
            query: String::new(),
            suggestions: Vec::new(),
        }
        .render()?;
        Ok(Self {
            home: CachedPage::with_slots(home, StatusCode::OK, common),
            articles,
            not_found: CachedPage::with_slots(not_found, StatusCode::NOT_FOUND, common),
        })
    }
}

/// A section with its articles, for the home page.
pub struct SectionEntry<'a> {
    pub section: &'a Section,
    pub articles: Vec<&'a Article>,
}

#[derive(Template)]
#[template(path = "articles/home.html")]
pub struct HomePage<'a> {
    pub layout: &'a Layout,
    /// Where this page lives (see `templates/base.html`): canonical link and link previews.
    pub canonical: String,
    pub sections: Vec<SectionEntry<'a>>,
    pub article_count: usize,
}

impl<'a> HomePage<'a> {
    pub fn new(library: &'a Library, layout: &'a Layout) -> Self {
        let sections = library
            .sections
            .iter()
            .map(|section| SectionEntry {
                section,
                articles: library.in_section(&section.id).collect(),
            })
            .filter(|e| !e.articles.is_empty())
            .collect();
        Self {
            layout,
            canonical: layout.absolute("/"),
            sections,
            article_count: library.articles.len(),
        }
    }
}

#[derive(Template)]
#[template(path = "articles/article.html")]
pub struct ArticlePage<'a> {
    pub layout: &'a Layout,
    pub article: &'a Article,
    pub section: &'a Section,
    pub prev: Option<&'a Article>,
    pub next: Option<&'a Article>,
    /// `##` and `###` headings, for the table of contents.
    pub toc: Vec<&'a Heading>,
    pub canonical: String,
    /// "Related articles": more-like-this plus shared tags, computed at start-up.
    pub related: Vec<&'a Article>,
}

impl<'a> ArticlePage<'a> {
    pub fn new(library: &'a Library, layout: &'a Layout, article: &'a Article) -> Self {
        let (prev, next) = library.neighbours(&article.slug);
        let section = library
            .section(&article.section)
            .expect("content::load validated the section");
        Self {
            layout,
            article,
            section,
            prev,
            next,
            toc: article
                .headings
                .iter()
                .filter(|h| (2..=3).contains(&h.level))
                .collect(),
            canonical: layout.absolute(&format!("/articles/{}", article.slug)),
            related: Vec::new(),
        }
    }
}

#[derive(Template)]
#[template(path = "articles/not_found.html")]
pub struct NotFoundPage<'a> {
    pub layout: &'a Layout,
    /// Empty: the 404 page stands for no URL in particular.
    pub canonical: String,
    pub library: &'a Library,
    /// What the address seemed to ask for, filled into the search box.
    pub query: String,
    /// The articles closest to it, best first.
    pub suggestions: Vec<&'a Article>,
}
