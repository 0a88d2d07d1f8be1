//! Dead ends turned into answers: an address that almost names an article (another letter
//! case, a trailing slash, a letter or two off, an old slug) is redirected to it; anything
//! else gets the 404 page with the closest articles and the search box filled in.

use askama::Template;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::NotFoundPage;
use crate::AppState;
use crate::accounts::Viewer;
use crate::content::{Article, Library};

/// Articles the 404 page suggests at most.
const SUGGESTED: usize = 5;

/// What an unknown path most likely meant.
#[derive(Debug, PartialEq, Eq)]
pub enum Guess {
    /// The same address written differently (case, trailing slash, an alias): 301.
    Same(String),
    /// The one article whose slug is a typo or two away: 302 (a guess, not a rename).
    Close(String),
    /// No single answer: the words to search for (may be empty).
    Search(String),
}

/// The last meaningful segment of `path`, percent-decoded and lower-cased.
fn slug_of(path: &str) -> String {
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    percent_encoding::percent_decode_str(last)
        .decode_utf8_lossy()
        .trim()
        .to_lowercase()
}

/// Edit distance between two strings (Levenshtein, by characters).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// What `path` (an unknown one) most likely meant.
pub fn guess(library: &Library, path: &str) -> Guess {
    let wanted = slug_of(path);
    let in_articles = path
        .to_ascii_lowercase()
        .trim_start_matches('/')
        .starts_with("articles/");
    if wanted.is_empty() || !wanted.chars().any(char::is_alphabetic) {
        return Guess::Search(String::new());
    }
    let exact = library
        .article(&wanted)
        .or_else(|| library.alias_target(&wanted));
    if let Some(a) = exact {
        if in_articles || path.trim_matches('/').eq_ignore_ascii_case(&wanted) {
            return Guess::Same(a.slug.clone());
        }
    }
    // Typos of a current slug: within one edit per eight characters (at least one), the
    // same numbers (`part-2` is not a typo of `part-1`), and only one article.
    let allowed = (wanted.chars().count() / 8).max(1);
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let close: Vec<&Article> = library
        .articles
        .iter()
        .filter(|a| digits(&a.slug) == digits(&wanted) && distance(&a.slug, &wanted) <= allowed)
        .collect();
    if let [one] = close[..] {
        return Guess::Close(one.slug.clone());
    }
    Guess::Search(wanted.replace(['-', '_', '+', '.'], " ").trim().to_string())
}

/// The answer to an unknown path: a redirect to what it meant, or the 404 page suggesting
/// the closest articles with the search box filled in.
pub async fn answer(
    state: &AppState,
    path: &str,
    viewer: Option<&Viewer>,
    headers: &HeaderMap,
) -> Response {
    let site = &state.site;
    let words = match guess(&site.library, path) {
        Guess::Same(slug) => return redirect(StatusCode::MOVED_PERMANENTLY, &slug),
        Guess::Close(slug) => return redirect(StatusCode::FOUND, &slug),
        Guess::Search(words) if !words.is_empty() => words,
        Guess::Search(_) => return crate::http::not_found_page(state, viewer, headers),
    };
    let search = site.clone();
    let query = words.clone();
    let hits = tokio::task::spawn_blocking(move || search.search.search(&query, SUGGESTED, None))
        .await
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let suggestions: Vec<&Article> = hits
        .iter()
        .filter(|h| seen.insert(h.slug.clone()))
        .filter_map(|h| site.library.article(&h.slug))
        .collect();
    let page = NotFoundPage {
        layout: &site.layout,
        canonical: String::new(),
        library: &site.library,
        query: words,
        suggestions,
    };
    match page.render() {
        Ok(html) => (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-store")],
            Html(crate::personal::fill_html(&html, viewer)),
        )
            .into_response(),
        Err(e) => crate::Error::from(e).into_response(),
    }
}

fn redirect(status: StatusCode, slug: &str) -> Response {
    (status, [(header::LOCATION, format!("/articles/{slug}"))]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert_eq!(
            distance("mutable-default-argument", "mutable-default-arguments"),
            1
        );
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("", "ab"), 2);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn the_slug_is_the_last_segment_decoded_and_lower_cased() {
        assert_eq!(
            slug_of("/articles/Mutable-Default-Arguments/"),
            "mutable-default-arguments"
        );
        assert_eq!(slug_of("/articles/caf%C3%A9"), "café");
        assert_eq!(slug_of("/"), "");
    }
}
