//! What differs between readers on otherwise shared pages: the account links in the header,
//! the bookmark star and the reader's own notes.
//!
//! Pages are rendered once at start-up with slot markers (`<!--slot:NAME-->`, see
//! [`crate::layout::CachedPage`]). Anonymous readers get the page with the slots filled once;
//! for a signed-in reader the few slot fragments are made per request and spliced between the
//! cached byte ranges, from a per-user [`Snapshot`] of bookmarks and notes kept in memory and
//! dropped whenever that user writes. No template is rendered per view.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};

use askama::Template;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::accounts::{CSRF_FIELD, Viewer};
use crate::content::Article;
use crate::db::Db;
use crate::error::Error;
use crate::layout::CachedPage;
use crate::notes::Note;
use crate::{bookmarks, notes};

pub const HEAD: &str = "head";
pub const ACCOUNT: &str = "account";
pub const STAR: &str = "star";
pub const NOTES: &str = "notes";
/// The CSRF field of a form on a per-request page, for signed-in readers.
pub const CSRF: &str = "csrf";

/// HTML-escapes `s` into `out`.
pub fn escape_into(out: &mut String, s: &str) {
    let _ = pulldown_cmark_escape::escape_html(&mut *out, s);
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// The hidden CSRF field every form of a signed-in reader carries.
pub fn csrf_input(out: &mut String, viewer: &Viewer) {
    let _ = write!(
        out,
        "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">",
        viewer.csrf_token
    );
}

/// The slots every page has (`head`, `account`), for `viewer` or an anonymous reader.
pub fn fill_common(slot: &str, viewer: Option<&Viewer>, out: &mut String) {
    match (slot, viewer) {
        (HEAD, Some(v)) => {
            let _ = write!(
                out,
                "<meta name=\"csrf-token\" content=\"{}\">",
                v.csrf_token
            );
        }
        (ACCOUNT, Some(v)) => {
            out.push_str("<a class=\"nav-link\" href=\"/bookmarks\">Bookmarks</a><a class=\"nav-link\" href=\"/notes\">Notes</a>");
            out.push_str("<span class=\"nav-user\" title=\"Signed in\">");
            escape_into(out, &v.username);
            out.push_str("</span><form class=\"logout-form\" method=\"post\" action=\"/logout\">");
            csrf_input(out, v);
            out.push_str("<button type=\"submit\" class=\"link-button\">Sign out</button></form>");
        }
        (CSRF, Some(v)) => csrf_input(out, v),
        (ACCOUNT, None) => {
            out.push_str("<a class=\"nav-link nav-signin\" href=\"/login\">Sign in</a>")
        }
        _ => {}
    }
}

/// Renders one of this crate's per-request pages and fills its common slots.
pub fn render_page(page: &impl Template, viewer: Option<&Viewer>) -> Response {
    match page.render() {
        Ok(html) => {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            );
            (headers, Html(fill_html(&html, viewer))).into_response()
        }
        Err(e) => Error::from(e).into_response(),
    }
}

/// Fills the `<!--slot:…-->` markers of rendered HTML (for pages rendered per request).
pub fn fill_html(html: &str, viewer: Option<&Viewer>) -> String {
    let mut out = String::with_capacity(html.len() + 512);
    crate::layout::for_each_piece(html, |piece| match piece {
        crate::layout::Piece::Text(t) => out.push_str(t),
        crate::layout::Piece::Slot(name) => fill_common(name, viewer, &mut out),
    });
    out
}

/// The anonymous filling of an article page's slots.
pub fn fill_article_anonymous(article: &Article) -> impl Fn(&str, &mut String) + '_ {
    move |slot, out| match slot {
        STAR => bookmarks::star_html(None, &article.slug, false, out),
        NOTES => notes::invite_html(&article.slug, out),
        _ => fill_common(slot, None, out),
    }
}

/// A cached article page for a signed-in reader: their star, their notes, their header.
pub async fn article_page(
    db: &Db,
    snapshots: &Snapshots,
    page: &CachedPage,
    article: &Article,
    viewer: &Viewer,
    headers: &axum::http::HeaderMap,
) -> Response {
    let snapshot = match snapshots.get(db, viewer.user_id).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let fragments = snapshot.fragments(viewer, article);
    page.respond_with(headers, |slot| fragments.slot(slot))
}

/// A cached page without per-article parts (home, 404) for a signed-in reader.
pub fn common_page(
    page: &CachedPage,
    viewer: &Viewer,
    headers: &axum::http::HeaderMap,
) -> Response {
    page.respond_with(headers, |slot| {
        let mut out = String::new();
        fill_common(slot, Some(viewer), &mut out);
        Bytes::from(out)
    })
}

/// The HTML a signed-in reader's article page adds, made once per session and article
/// and kept until the reader's next write drops their snapshot.
#[derive(Debug)]
pub struct Fragments {
    head: Bytes,
    account: Bytes,
    star: Bytes,
    notes: Bytes,
    /// The CSRF field of the page's forms (the Run buttons).
    csrf: Bytes,
    /// The reader's notes under each section heading, by heading id (`notes@ID` slots).
    sections: HashMap<String, Bytes>,
}

impl Fragments {
    fn build(viewer: &Viewer, article: &Article, snapshot: &Snapshot) -> Self {
        let make = |f: &dyn Fn(&mut String)| {
            let mut out = String::new();
            f(&mut out);
            Bytes::from(out)
        };
        let starred = snapshot.bookmarks.contains(&article.slug);
        let notes = snapshot
            .notes
            .get(&article.slug)
            .map_or(&[][..], Vec::as_slice);
        Self {
            head: make(&|out| fill_common(HEAD, Some(viewer), out)),
            account: make(&|out| fill_common(ACCOUNT, Some(viewer), out)),
            star: make(&|out| bookmarks::star_html(Some(viewer), &article.slug, starred, out)),
            notes: make(&|out| notes::panel_html(viewer, article, notes, out)),
            csrf: make(&|out| csrf_input(out, viewer)),
            sections: article
                .headings
                .iter()
                .filter(|h| {
                    notes
                        .iter()
                        .any(|n| n.anchor.as_deref() == Some(h.id.as_str()))
                })
                .map(|h| {
                    let html =
                        make(&|out| notes::section_notes_html(viewer, &h.id, &h.text, notes, out));
                    (h.id.clone(), html)
                })
                .collect(),
        }
    }

    pub fn slot(&self, name: &str) -> Bytes {
        match name {
            HEAD => self.head.clone(),
            ACCOUNT => self.account.clone(),
            STAR => self.star.clone(),
            NOTES => self.notes.clone(),
            CSRF => self.csrf.clone(),
            _ => name
                .strip_prefix(notes::SECTION_SLOT)
                .and_then(|id| self.sections.get(id))
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// One user's bookmarks and notes, as page views need them.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub bookmarks: HashSet<String>,
    /// Notes by article slug, oldest first.
    pub notes: HashMap<String, Vec<Note>>,
    /// Rendered fragments by CSRF token (one per session) and article slug.
    fragments: Mutex<HashMap<String, HashMap<String, Arc<Fragments>>>>,
}

impl Snapshot {
    /// The fragments of `article` for this session, made on first use.
    pub fn fragments(&self, viewer: &Viewer, article: &Article) -> Arc<Fragments> {
        let mut cache = self.fragments.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = cache
            .get(&viewer.csrf_token)
            .and_then(|m| m.get(&article.slug))
        {
            return f.clone();
        }
        if cache.values().map(HashMap::len).sum::<usize>() > 1_000 {
            cache.clear();
        }
        let made = Arc::new(Fragments::build(viewer, article, self));
        cache
            .entry(viewer.csrf_token.clone())
            .or_default()
            .insert(article.slug.clone(), made.clone());
        made
    }
}

#[derive(Default)]
struct Inner {
    data: HashMap<i64, Arc<Snapshot>>,
    /// Bumped on every write; a load that raced with a write is not cached.
    generation: HashMap<i64, u64>,
}

/// Per-user snapshots, loaded on first view and dropped on every write by that user.
#[derive(Default)]
pub struct Snapshots {
    inner: RwLock<Inner>,
}

impl Snapshots {
    pub async fn get(&self, db: &Db, user_id: i64) -> Result<Arc<Snapshot>, Error> {
        let generation = {
            let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = inner.data.get(&user_id) {
                return Ok(s.clone());
            }
            inner.generation.get(&user_id).copied().unwrap_or(0)
        };
        let snapshot = Arc::new(load(db, user_id).await?);
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.generation.get(&user_id).copied().unwrap_or(0) == generation {
            if inner.data.len() > 10_000 {
                inner.data.clear();
            }
            inner.data.insert(user_id, snapshot.clone());
        }
        Ok(snapshot)
    }

    /// Call after every committed write of this user's bookmarks or notes.
    pub fn invalidate(&self, user_id: i64) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.data.remove(&user_id);
        *inner.generation.entry(user_id).or_insert(0) += 1;
    }
}

async fn load(db: &Db, user_id: i64) -> Result<Snapshot, Error> {
    let bookmarks = bookmarks::slugs(db, user_id).await?.into_iter().collect();
    let mut by_slug: HashMap<String, Vec<Note>> = HashMap::new();
    for note in notes::list(db, user_id, None, None).await? {
        by_slug.entry(note.slug.clone()).or_default().push(note);
    }
    for list in by_slug.values_mut() {
        list.sort_by_key(|n| n.id);
    }
    Ok(Snapshot {
        bookmarks,
        notes: by_slug,
        fragments: Mutex::default(),
    })
}

/// 303 See Other, the answer to a form post.
pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}
