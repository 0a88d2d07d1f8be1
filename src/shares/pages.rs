//! The shared snippet's page (`/s/{id}`) and the no-JS "Share this code" form.

use std::sync::OnceLock;

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{RequestAuth, Share, create, find, is_valid_id};
use crate::accounts::MaybeUser;
use crate::content::highlight::Highlighter;
use crate::content::markdown::{escape, runnable_snippet_html};
use crate::content::{Article, Heading};
use crate::http::ClientKey;
use crate::layout::Layout;
use crate::personal::{render_page, see_other};
use crate::{AppState, Error, Site};

/// Where a shared snippet came from, when its article is still there.
pub struct Origin<'a> {
    pub article: &'a Article,
    /// The section, when the anchor still names one of the article's headings.
    pub heading: Option<&'a Heading>,
    /// `/articles/{slug}#{anchor}` (without the anchor when the section is gone).
    pub href: String,
}

/// The origin of a share: its article and section, if they still exist.
pub fn origin_of<'a>(site: &'a Site, share: &Share) -> Option<Origin<'a>> {
    let article = site.library.article(share.article.as_deref()?)?;
    let heading = share
        .anchor
        .as_deref()
        .and_then(|a| article.headings.iter().find(|h| h.id == a));
    let href = match heading {
        Some(h) => format!("/articles/{}#{}", article.slug, h.id),
        None => format!("/articles/{}", article.slug),
    };
    Some(Origin {
        article,
        heading,
        href,
    })
}

#[derive(Template)]
#[template(path = "shares/show.html")]
pub struct SharePage<'a> {
    pub layout: &'a Layout,
    pub share: &'a Share,
    /// The snippet, in the same markup as an article's runnable snippets.
    pub snippet_html: String,
    pub origin: Option<Origin<'a>>,
    /// The page's absolute URL (root-relative without `--base-url`).
    pub canonical: String,
}

impl SharePage<'_> {
    /// The date part of `created_at`.
    pub fn day(&self) -> &str {
        self.share
            .created_at
            .get(..10)
            .unwrap_or(&self.share.created_at)
    }
}

/// Syntect's grammars load once, on the first shared page shown.
fn highlighter() -> &'static Highlighter {
    static HIGHLIGHTER: OnceLock<Highlighter> = OnceLock::new();
    HIGHLIGHTER.get_or_init(Highlighter::new)
}

/// `/s/{id}`: the shared code, runnable and editable, linked to where it came from; the
/// site's 404 page for ids that are malformed or unknown.
pub async fn show_share(
    State(state): State<AppState>,
    Path(id): Path<String>,
    MaybeUser(viewer): MaybeUser,
    headers: HeaderMap,
) -> Response {
    let found = if is_valid_id(&id) {
        find(&state.db, &id).await
    } else {
        Ok(None)
    };
    let share = match found {
        Ok(Some(share)) => share,
        Ok(None) => return crate::http::not_found_page(&state, viewer.as_deref(), &headers),
        Err(e) => return e.into_response(),
    };
    // Highlighting up to the code size limit is CPU work: off the async runtime.
    let code = share.code.clone();
    let highlighted = tokio::task::spawn_blocking(move || highlighter().highlight("python", &code))
        .await
        .unwrap_or_else(|_| escape(&share.code));
    let page = SharePage {
        layout: &state.site.layout,
        snippet_html: with_python(
            runnable_snippet_html(0, &share.code, &highlighted, None),
            share.python.as_deref(),
        ),
        origin: origin_of(&state.site, &share),
        canonical: state.site.layout.absolute(&share.path()),
        share: &share,
    };
    render_page(&page, viewer.as_deref())
}

/// A share made for one Python version opens with that version picked: the figure
/// carries it (python-picker.js and run.js read it), and the no-JS Run form posts it.
fn with_python(html: String, python: Option<&str>) -> String {
    let Some(p) = python else { return html };
    let p = escape(p);
    html.replacen(
        "data-snippet=\"0\"",
        &format!("data-snippet=\"0\" data-python-chosen=\"{p}\""),
        1,
    )
    .replacen(
        "<button type=\"submit\">Run</button>",
        &format!("<input type=\"hidden\" name=\"python\" value=\"{p}\"><button type=\"submit\">Run</button>"),
        1,
    )
}

#[derive(Debug, Deserialize)]
pub struct ShareForm {
    code: String,
    #[serde(default)]
    article: Option<String>,
    #[serde(default)]
    anchor: Option<String>,
    #[serde(default)]
    python: Option<String>,
}

/// Without JavaScript, the `/run` result page's "Share this code" posts here: 303 to the
/// share's page.
pub async fn create_share_form(
    State(state): State<AppState>,
    client: ClientKey,
    auth: RequestAuth,
    Form(form): Form<ShareForm>,
) -> Result<Response, Error> {
    let (share, _) = create(
        &state,
        &client,
        &auth,
        &form.code,
        form.article.as_deref(),
        form.anchor.as_deref(),
        form.python.as_deref(),
    )
    .await?;
    Ok(see_other(&share.path()))
}

/// The article and anchor a page at `path` (`/articles/{slug}…` or `/s/{id}`) gives the
/// code run from it, so the `/run` page's "Share this code" keeps where the code came from.
pub async fn source_of_page(state: &AppState, path: &str) -> (Option<String>, Option<String>) {
    let end = |s: &str| s.find(['?', '#', '/']).unwrap_or(s.len());
    if let Some(rest) = path.strip_prefix("/articles/") {
        let slug = &rest[..end(rest)];
        return (
            state.site.library.article(slug).map(|a| a.slug.clone()),
            None,
        );
    }
    if let Some(rest) = path.strip_prefix("/s/") {
        let id = &rest[..end(rest)];
        if is_valid_id(id) {
            if let Ok(Some(share)) = find(&state.db, id).await {
                return (share.article, share.anchor);
            }
        }
    }
    (None, None)
}
