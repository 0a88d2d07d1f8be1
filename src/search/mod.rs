//! Search: the tantivy index over every article part, `GET /api/search` for the header's
//! search-as-you-type, the `/search` results page that works without JavaScript, and the
//! "Related articles" computed at start-up.
//!
//! The module owns tantivy (STYLE.md 8): the index is built once in RAM by
//! [`SearchIndex::build`] (one writer, used once), read through one long-lived reader, with a
//! new searcher per request on the blocking pool so scoring never stalls the async runtime.

pub mod analyze;
pub mod index;
pub mod query;
pub mod related;
pub mod snippet;
pub mod vocabulary;

use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub use index::{Help, Hit, SearchIndex};

use crate::AppState;
use crate::accounts::MaybeUser;
use crate::content::Section;
use crate::error::{ApiError, Error};
use crate::layout::Layout;
use crate::metrics::SearchSource;

/// Hits returned when the client does not say how many.
pub const DEFAULT_LIMIT: usize = 10;
/// Most hits a client may ask for.
pub const MAX_LIMIT: usize = 50;
/// Hits on the results page.
const PAGE_LIMIT: usize = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/search", get(search_api))
        .route("/search", get(show_results))
}

/// Query string of both endpoints. Everything is a string so that any input reaches the
/// handler, which answers a bad `limit` or `section` in the endpoint's own error format.
#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    pub limit: Option<String>,
    pub section: Option<String>,
}

/// `GET /api/search` body (CONTRACT.md), plus the section filter applied.
#[derive(Debug, Serialize)]
pub struct SearchResponse {
    pub query: String,
    pub took_us: u64,
    pub hits: Vec<Hit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// Only when nothing matched: `did_you_mean`, `closest` and `closest_reason`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub help: Option<Help>,
}

async fn search_api(
    State(state): State<AppState>,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let Query(params) = params
        .map_err(|e| Error::BadRequest(format!("invalid query string: {}", e.body_text())))?;
    let limit = match params
        .limit
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| {
                Error::BadRequest(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}"
                ))
            })?
            .clamp(1, MAX_LIMIT),
    };
    let section = section_filter(&state, params.section.as_deref())
        .map_err(|known| Error::BadRequest(format!("unknown section; known sections: {known}")))?;
    let started = Instant::now();
    let hits = run_search(&state, params.q.clone(), limit, section.clone()).await?;
    let took = started.elapsed();
    let took_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
    record(&state, SearchSource::Api, &params.q, took, hits.len());
    let help = if hits.is_empty() {
        run_help(&state, params.q.clone(), section.clone()).await?
    } else {
        None
    };
    Ok(Json(SearchResponse {
        query: params.q,
        took_us,
        hits,
        section,
        help,
    }))
}

/// `/search?q=&section=`: the results page, for readers without JavaScript and for Enter in
/// the header box.
async fn show_results(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, Error> {
    let params = params.map(|Query(p)| p).unwrap_or_default();
    let section = section_filter(&state, params.section.as_deref()).unwrap_or(None);
    let started = Instant::now();
    let hits = run_search(&state, params.q.clone(), PAGE_LIMIT, section.clone()).await?;
    record(
        &state,
        SearchSource::Page,
        &params.q,
        started.elapsed(),
        hits.len(),
    );
    let help = if hits.is_empty() {
        run_help(&state, params.q.clone(), section.clone()).await?
    } else {
        None
    };
    let others = help
        .as_ref()
        .is_some_and(|h| h.closest_reason == "other_sections");
    let site = &state.site;
    let page = ResultsPage {
        layout: &site.layout,
        canonical: site
            .layout
            .absolute(&search_path(&params.q, section.as_deref())),
        sections: &site.library.sections,
        q: params.q.trim(),
        section: section.as_deref().unwrap_or(""),
        results: hits
            .iter()
            .map(|h| ResultEntry::new(h, site.library.section(&h.section)))
            .collect(),
        matches_elsewhere: others,
        did_you_mean: help.as_ref().and_then(|h| h.did_you_mean.clone()),
        closest: help
            .as_ref()
            .filter(|h| h.closest_reason != "other_sections")
            .map(|h| {
                h.closest
                    .iter()
                    .map(|c| ResultEntry::new(c, site.library.section(&c.section)))
                    .collect()
            })
            .unwrap_or_default(),
        suggestions: SUGGESTIONS,
    };
    // The header's account links (and nothing else) differ per reader.
    Ok(crate::personal::render_page(&page, viewer.as_deref()))
}

/// `/search?q=…&section=…` for a query and optional section filter.
fn search_path(q: &str, section: Option<&str>) -> String {
    let q = q.trim();
    if q.is_empty() {
        return "/search".to_string();
    }
    let mut form = serde_urlencoded::to_string([("q", q)]).unwrap_or_default();
    if let Some(s) = section {
        form.push('&');
        form.push_str(&serde_urlencoded::to_string([("section", s)]).unwrap_or_default());
    }
    format!("/search?{form}")
}

/// The section id to filter on: `None` for none or empty, `Err(known ids)` for an unknown one.
fn section_filter(state: &AppState, section: Option<&str>) -> Result<Option<String>, String> {
    let Some(section) = section.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let sections = &state.site.library.sections;
    if sections.iter().any(|s| s.id == section) {
        Ok(Some(section.to_string()))
    } else {
        Err(sections
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
            .join(", "))
    }
}

/// Counts a search for `/metrics`; empty queries never reach the index and are not counted.
fn record(state: &AppState, source: SearchSource, q: &str, took: Duration, hits: usize) {
    if !q.trim().is_empty() {
        state.metrics.search.record(source, took, hits);
    }
}

/// Runs the search on the blocking pool: scoring and typo expansion are CPU work.
async fn run_search(
    state: &AppState,
    q: String,
    limit: usize,
    section: Option<String>,
) -> Result<Vec<Hit>, Error> {
    if q.trim().is_empty() {
        return Ok(Vec::new());
    }
    let site = state.site.clone();
    tokio::task::spawn_blocking(move || {
        let mut hits = site.search.search(&q, limit, section.as_deref());
        name_sections(&site.library, &mut hits);
        hits
    })
    .await
    .map_err(|e| Error::Internal(format!("search task failed: {e}")))
}

/// Help for a query that found nothing: a spelling correction, other sections, or the
/// closest titles. `None` for an empty query.
async fn run_help(
    state: &AppState,
    q: String,
    section: Option<String>,
) -> Result<Option<Help>, Error> {
    if q.trim().is_empty() {
        return Ok(None);
    }
    let site = state.site.clone();
    tokio::task::spawn_blocking(move || {
        let mut help = site.search.help(&q, section.as_deref());
        name_sections(&site.library, &mut help.closest);
        Some(help)
    })
    .await
    .map_err(|e| Error::Internal(format!("search task failed: {e}")))
}

/// Puts each hit's section title (not its id) where readers see it.
fn name_sections(library: &crate::content::Library, hits: &mut [Hit]) {
    for hit in hits {
        if let Some(s) = library.section(&hit.section) {
            hit.section_title = s.title.clone();
        }
    }
}

/// Example searches offered when nothing matched.
const SUGGESTIONS: &[&str] = &[
    "mutable default argument",
    "lru_cache",
    "UnboundLocalError",
    "asyncio.run",
    "float precision",
];

/// One result as the page shows it.
pub struct ResultEntry<'a> {
    pub hit: &'a Hit,
    pub section_title: &'a str,
    /// The hit's URL with `?hl=` terms, so the article marks them (with JavaScript).
    pub href: String,
}

impl<'a> ResultEntry<'a> {
    fn new(hit: &'a Hit, section: Option<&'a Section>) -> Self {
        Self {
            hit,
            section_title: section.map_or(hit.section.as_str(), |s| s.title.as_str()),
            href: highlight_url(hit),
        }
    }
}

/// `/articles/slug?hl=a+b#anchor`: the article with the matched terms to mark.
pub fn highlight_url(hit: &Hit) -> String {
    let (path, anchor) = hit
        .url
        .split_once('#')
        .map_or((hit.url.as_str(), None), |(p, a)| (p, Some(a)));
    let terms: Vec<&str> = hit.terms.iter().map(String::as_str).take(8).collect();
    if terms.is_empty() {
        return hit.url.clone();
    }
    let hl =
        percent_encoding::utf8_percent_encode(&terms.join(" "), percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    match anchor {
        Some(a) => format!("{path}?hl={hl}#{a}"),
        None => format!("{path}?hl={hl}"),
    }
}

#[derive(Template)]
#[template(path = "search/results.html")]
pub struct ResultsPage<'a> {
    pub layout: &'a Layout,
    /// This search's own URL, so a shared results link unfurls to itself.
    pub canonical: String,
    pub sections: &'a [Section],
    pub q: &'a str,
    /// The section filtered on, or empty for all.
    pub section: &'a str,
    pub results: Vec<ResultEntry<'a>>,
    /// Nothing in the chosen section, but something in others.
    pub matches_elsewhere: bool,
    /// Nothing matched: the query spelled the way the articles spell it, if that finds something.
    pub did_you_mean: Option<String>,
    /// Nothing matched: the closest articles (the corrected query's hits, or similar titles).
    pub closest: Vec<ResultEntry<'a>>,
    pub suggestions: &'static [&'static str],
}
