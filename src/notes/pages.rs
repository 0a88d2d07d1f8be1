//! The notes' HTML: the panel beside an article, `/notes` with search, the new/edit forms
//! (they work without JavaScript) and the export of notes and bookmarks.

use std::fmt::Write as _;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::Note;
use crate::accounts::{ApiUser, User, Viewer};
use crate::bookmarks::{self, Bookmark};
use crate::content::Article;
use crate::layout::Layout;
use crate::personal::{self, csrf_input, escape, see_other};
use crate::{ApiError, AppState, Error};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/notes", get(show_notes).post(create_note_form))
        .route("/notes/new", get(new_note_form))
        .route("/notes/{id}", post(update_note_form))
        .route("/notes/{id}/edit", get(edit_note_form))
        .route("/export.json", get(export_json))
        .route("/export.md", get(export_markdown))
}

/// Under an article for anonymous readers.
pub fn invite_html(slug: &str, out: &mut String) {
    let _ = write!(
        out,
        "<aside class=\"notes-panel notes-invite\"><p><a href=\"/login?next=%2Farticles%2F{slug}\">Sign in</a> \
         to bookmark articles and keep private notes on any section.</p></aside>"
    );
}

fn note_html(viewer: &Viewer, note: &Note, out: &mut String) {
    let _ = write!(
        out,
        "<article class=\"note\" id=\"note-{id}\" data-note-id=\"{id}\"><div class=\"note-body\">",
        id = note.id
    );
    out.push_str(&note.body_html);
    let _ = write!(
        out,
        "</div><footer class=\"note-meta\"><time datetime=\"{t}\">{d}</time> \
         <a href=\"/notes/{id}/edit\">Edit</a> <form class=\"note-delete\" method=\"post\" action=\"/notes/{id}/delete\">",
        t = escape(&note.updated_at),
        d = escape(note.updated_at.get(..10).unwrap_or(&note.updated_at)),
        id = note.id
    );
    csrf_input(out, viewer);
    out.push_str(
        "<button type=\"submit\" class=\"link-button\">Delete</button></form></footer></article>",
    );
}

/// The reader's notes on one section, shown right under its heading (the article page's
/// `notes@ID` slot, see `notes::add_note_buttons`); nothing when there are none.
pub fn section_notes_html(
    viewer: &Viewer,
    anchor: &str,
    title: &str,
    notes: &[Note],
    out: &mut String,
) {
    let mut list = notes
        .iter()
        .filter(|n| n.anchor.as_deref() == Some(anchor))
        .peekable();
    if list.peek().is_none() {
        return;
    }
    let _ = write!(
        out,
        "<section class=\"section-notes\" data-anchor=\"{}\" aria-label=\"Your notes on: {}\">",
        escape(anchor),
        escape(title)
    );
    for n in list {
        note_html(viewer, n, out);
    }
    out.push_str("</section>");
}

/// The panel under an article: the reader's notes on the whole article and on sections
/// that no longer exist, and the form for a new note (notes on a section sit under it).
pub fn panel_html(viewer: &Viewer, article: &Article, notes: &[Note], out: &mut String) {
    let _ = write!(
        out,
        "<aside class=\"notes-panel\" id=\"notes\" aria-labelledby=\"notes-title\"><h2 id=\"notes-title\">Your notes</h2>"
    );
    let whole: Vec<&Note> = notes.iter().filter(|n| n.anchor.is_none()).collect();
    if !whole.is_empty() {
        out.push_str("<section class=\"note-group section-notes\" data-anchor=\"\"><h3>On the whole article</h3>");
        for n in whole {
            note_html(viewer, n, out);
        }
        out.push_str("</section>");
    }
    let removed: Vec<&Note> = notes
        .iter()
        .filter(|n| {
            n.anchor
                .as_deref()
                .is_some_and(|a| !article.headings.iter().any(|h| h.id == a))
        })
        .collect();
    if !removed.is_empty() {
        out.push_str("<section class=\"note-group note-group-removed\" data-anchor=\"removed\"><h3>Notes on removed sections</h3>");
        for n in removed {
            let _ = write!(
                out,
                "<p class=\"note-old-anchor\">Was on <code>#{}</code></p>",
                escape(n.anchor.as_deref().unwrap_or(""))
            );
            note_html(viewer, n, out);
        }
        out.push_str("</section>");
    }
    if notes.is_empty() {
        out.push_str(
            "<p class=\"notes-empty\">No notes yet. Use ✎ beside a heading, or write one here.</p>",
        );
    }
    out.push_str("<form class=\"note-form\" method=\"post\" action=\"/notes\">");
    csrf_input(out, viewer);
    let _ = write!(
        out,
        "<input type=\"hidden\" name=\"article\" value=\"{}\"><label for=\"note-anchor\">On</label>\
         <select id=\"note-anchor\" name=\"anchor\"><option value=\"\">the whole article</option>",
        escape(&article.slug)
    );
    for h in &article.headings {
        let _ = write!(
            out,
            "<option value=\"{}\">{}</option>",
            escape(&h.id),
            escape(&h.text)
        );
    }
    out.push_str(
        "</select><label for=\"note-body\" class=\"visually-hidden\">Note (Markdown)</label>\
         <textarea id=\"note-body\" name=\"body\" rows=\"4\" required placeholder=\"A private note, in Markdown\"></textarea>\
         <button type=\"submit\" class=\"button\">Add note</button></form></aside>",
    );
}

/// A note with its article's title, for `/notes`.
pub struct ListedNote {
    pub note: Note,
    pub title: String,
    pub section: Option<String>,
    pub removed_section: bool,
}

#[derive(Template)]
#[template(path = "notes/list.html")]
pub struct NotesPage<'a> {
    pub layout: &'a Layout,
    /// Where this page lives (see `templates/base.html`): canonical link and link previews.
    pub canonical: String,
    pub query: String,
    pub notes: Vec<ListedNote>,
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

async fn show_notes(
    State(state): State<AppState>,
    User(user): User,
    Query(q): Query<SearchQuery>,
) -> Result<Response, Error> {
    let query = q.q.trim().to_string();
    let found = super::list(
        &state.db,
        user.user_id,
        None,
        Some(&query).filter(|q| !q.is_empty()).map(|s| s.as_str()),
    )
    .await?;
    let notes = found
        .into_iter()
        .rev()
        .map(|note| {
            let article = state.site.library.article(&note.slug);
            let heading = note
                .anchor
                .as_deref()
                .and_then(|a| article.and_then(|art| art.headings.iter().find(|h| h.id == a)));
            ListedNote {
                title: article.map_or_else(|| note.slug.clone(), |a| a.title.clone()),
                section: heading.map(|h| h.text.clone()),
                removed_section: note.anchor.is_some() && heading.is_none(),
                note,
            }
        })
        .collect();
    let page = NotesPage {
        layout: &state.site.layout,
        canonical: state.site.layout.absolute("/notes"),
        query,
        notes,
    };
    Ok(personal::render_page(&page, Some(&user)))
}

#[derive(Template)]
#[template(path = "notes/edit.html")]
pub struct NoteFormPage<'a> {
    pub layout: &'a Layout,
    /// Empty: a form has no canonical URL.
    pub canonical: String,
    pub article: &'a Article,
    /// `None` for a new note.
    pub note_id: Option<i64>,
    pub anchor: String,
    pub body: String,
    pub error: Option<String>,
    pub csrf_token: &'a str,
}

#[derive(Debug, Deserialize)]
pub struct NewQuery {
    article: String,
    #[serde(default)]
    anchor: String,
}

async fn new_note_form(
    State(state): State<AppState>,
    User(user): User,
    Query(q): Query<NewQuery>,
) -> Result<Response, Error> {
    let article = state
        .site
        .library
        .article(&q.article)
        .ok_or(Error::NotFound)?;
    let page = NoteFormPage {
        layout: &state.site.layout,
        canonical: String::new(),
        article,
        note_id: None,
        anchor: q.anchor,
        body: String::new(),
        error: None,
        csrf_token: &user.csrf_token,
    };
    Ok(personal::render_page(&page, Some(&user)))
}

async fn edit_note_form(
    State(state): State<AppState>,
    User(user): User,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let note = super::find(&state.db, user.user_id, id).await?;
    let article = state
        .site
        .library
        .article(&note.slug)
        .ok_or(Error::NotFound)?;
    let page = NoteFormPage {
        layout: &state.site.layout,
        canonical: String::new(),
        article,
        note_id: Some(note.id),
        anchor: note.anchor.unwrap_or_default(),
        body: note.body,
        error: None,
        csrf_token: &user.csrf_token,
    };
    Ok(personal::render_page(&page, Some(&user)))
}

#[derive(Debug, Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    article: String,
    #[serde(default)]
    anchor: String,
    body: String,
}

/// A refused note (too large, too deeply nested, empty): the form again with the
/// message and the text kept, so nothing typed is lost.
fn refused_form(
    state: &AppState,
    user: &Viewer,
    note_id: Option<i64>,
    form: NoteForm,
    error: Error,
) -> Result<Response, Error> {
    let keep = matches!(error, Error::Unprocessable(_) | Error::PayloadTooLarge(_));
    let Some(article) = state.site.library.article(&form.article).filter(|_| keep) else {
        return Err(error);
    };
    let page = NoteFormPage {
        layout: &state.site.layout,
        canonical: String::new(),
        article,
        note_id,
        anchor: form.anchor,
        body: form.body,
        error: Some(error.to_string()),
        csrf_token: &user.csrf_token,
    };
    let mut response = personal::render_page(&page, Some(user));
    *response.status_mut() = error.status();
    Ok(response)
}

async fn create_note_form(
    State(state): State<AppState>,
    User(user): User,
    Form(form): Form<NoteForm>,
) -> Result<Response, Error> {
    let created = super::create(
        &state,
        user.user_id,
        &form.article,
        Some(&form.anchor),
        &form.body,
    )
    .await;
    match created {
        Ok(note) => Ok(see_other(&format!(
            "/articles/{}#note-{}",
            note.slug, note.id
        ))),
        Err(e) => refused_form(&state, &user, None, form, e),
    }
}

async fn update_note_form(
    State(state): State<AppState>,
    User(user): User,
    Path(id): Path<i64>,
    Form(form): Form<NoteForm>,
) -> Result<Response, Error> {
    match super::update(&state, user.user_id, id, &form.body).await {
        Ok(note) => Ok(see_other(&format!(
            "/articles/{}#note-{}",
            note.slug, note.id
        ))),
        Err(e) => refused_form(&state, &user, Some(id), form, e),
    }
}

/// The delete button's form: it says where it was (`from=notes` on `/notes`).
#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    from: String,
}

pub async fn delete_note_form(
    State(state): State<AppState>,
    User(user): User,
    Path(id): Path<i64>,
    Form(form): Form<DeleteForm>,
) -> Result<Response, Error> {
    let slug = super::delete(&state, user.user_id, id).await?;
    if form.from == "notes" {
        return Ok(see_other("/notes"));
    }
    Ok(see_other(&format!("/articles/{slug}#notes")))
}

/// Everything a user has, as `/export.json` and `/api/export` give it.
#[derive(Debug, Serialize)]
pub struct Export {
    pub username: String,
    pub bookmarks: Vec<Bookmark>,
    pub notes: Vec<Note>,
}

async fn export(state: &AppState, viewer: &Viewer) -> Result<Export, Error> {
    Ok(Export {
        username: viewer.username.clone(),
        bookmarks: bookmarks::list(&state.db, &state.site, viewer.user_id).await?,
        notes: super::list(&state.db, viewer.user_id, None, None).await?,
    })
}

fn attachment(name: &str) -> (header::HeaderName, HeaderValue) {
    (
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).expect("ascii name"),
    )
}

pub async fn export_json(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Response, ApiError> {
    let data = export(&state, &user).await?;
    Ok(([attachment("snakepit-export.json")], Json(data)).into_response())
}

async fn export_markdown(
    State(state): State<AppState>,
    User(user): User,
) -> Result<Response, Error> {
    let data = export(&state, &user).await?;
    let mut md = format!(
        "# Snakepit export for {}\n\n## Bookmarks\n\n",
        data.username
    );
    for b in &data.bookmarks {
        let _ = writeln!(md, "- [{}]({}) — {}", b.title, b.url, b.created_at);
    }
    md.push_str("\n## Notes\n");
    let mut current = None;
    for n in &data.notes {
        if current != Some(&n.slug) {
            let title = state
                .site
                .library
                .article(&n.slug)
                .map_or(n.slug.as_str(), |a| a.title.as_str());
            let _ = write!(md, "\n### {title} (/articles/{})\n", n.slug);
            current = Some(&n.slug);
        }
        let place = n
            .anchor
            .as_deref()
            .map_or_else(|| "whole article".to_string(), |a| format!("#{a}"));
        let _ = write!(
            md,
            "\n#### Note {} on {place} — {}\n\n{}\n",
            n.id,
            n.updated_at,
            n.body.trim_end()
        );
    }
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/markdown; charset=utf-8"),
        ),
        attachment("snakepit-export.md"),
    ];
    Ok((headers, md).into_response())
}
