//! Private notes on an article or on one of its sections: Markdown rendered through a
//! sanitizer, shown beside the article to their author only, listed and searched on
//! `/notes`, exported with the bookmarks as Markdown or JSON.
//!
//! Every query is scoped by the author's id, so another user's note is simply not found
//! (404), whether its id was guessed or not. A note keeps its anchor when the heading
//! disappears from the content; the article then shows it under "notes on removed sections".

mod pages;
mod render;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::accounts::ApiUser;
use crate::content::Article;
use crate::db::Db;
use crate::extract::{ApiJson, ApiPath};
use crate::{ApiError, AppState, Error, Site};

pub use pages::{invite_html, panel_html, section_notes_html};
pub use render::{
    MAX_DEPTH, MAX_ELEMENTS, SECTION_SLOT, add_note_buttons, render_markdown, render_note,
};

/// Largest note body, in bytes of Markdown.
pub const MAX_BODY: usize = 32 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/notes", get(list_notes).post(create_note))
        .route(
            "/api/notes/{id}",
            put(update_note).delete(delete_note).get(show_note),
        )
        .route("/api/export", get(pages::export_json))
        .merge(pages::router())
        .route("/notes/{id}/delete", post(pages::delete_note_form))
}

/// A note as stored and as the API returns it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Note {
    pub id: i64,
    pub slug: String,
    pub anchor: Option<String>,
    pub body: String,
    pub body_html: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Note {
    /// The date part of `updated_at`.
    pub fn day(&self) -> &str {
        self.updated_at.get(..10).unwrap_or(&self.updated_at)
    }
}

const COLUMNS: &str = "id, slug, anchor, body, body_html, created_at, updated_at";

/// The user's notes, oldest first; optionally of one article, optionally matching `search`.
pub async fn list(
    db: &Db,
    user_id: i64,
    slug: Option<&str>,
    search: Option<&str>,
) -> Result<Vec<Note>, Error> {
    let pattern = search.map(|q| {
        format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        )
    });
    let sql = format!(
        "SELECT {COLUMNS} FROM notes WHERE user_id = ?1 AND (?2 IS NULL OR slug = ?2)
         AND (?3 IS NULL OR body LIKE ?3 ESCAPE '\\' OR slug LIKE ?3 ESCAPE '\\' OR anchor LIKE ?3 ESCAPE '\\')
         ORDER BY created_at, id"
    );
    Ok(sqlx::query_as(&sql)
        .bind(user_id)
        .bind(slug)
        .bind(pattern)
        .fetch_all(db)
        .await?)
}

pub async fn find(db: &Db, user_id: i64, id: i64) -> Result<Note, Error> {
    let sql = format!("SELECT {COLUMNS} FROM notes WHERE id = ? AND user_id = ?");
    sqlx::query_as(&sql)
        .bind(id)
        .bind(user_id)
        .fetch_optional(db)
        .await?
        .ok_or_else(no_note)
}

fn no_note() -> Error {
    Error::NotFoundMessage("there is no such note".into())
}

/// Checks a body: not blank, not too large.
fn check_body(body: &str) -> Result<(), Error> {
    if body.len() > MAX_BODY {
        return Err(Error::PayloadTooLarge(format!(
            "a note may have at most {MAX_BODY} bytes"
        )));
    }
    if body.trim().is_empty() {
        return Err(Error::Unprocessable("the note is empty".into()));
    }
    Ok(())
}

/// [`render_note`] on the bounded blocking pool ([`crate::blocking`]), never on the runtime.
pub async fn render_off_runtime(body: &str) -> Result<String, Error> {
    let body = body.to_string();
    crate::blocking::run("rendering notes", move || render_note(&body)).await?
}

/// The article, and the anchor normalised (`""` means the whole article) and checked.
fn check_target<'a>(
    site: &'a Site,
    slug: &str,
    anchor: Option<&str>,
) -> Result<(&'a Article, Option<String>), Error> {
    let article = site
        .library
        .article(slug)
        .ok_or_else(|| Error::NotFoundMessage(format!("there is no article `{slug}`")))?;
    let anchor = anchor.map(str::trim).filter(|a| !a.is_empty());
    if let Some(a) = anchor {
        if !article.headings.iter().any(|h| h.id == a) {
            return Err(Error::Unprocessable(format!(
                "the article `{slug}` has no section `{a}`"
            )));
        }
    }
    Ok((article, anchor.map(str::to_string)))
}

pub async fn create(
    state: &AppState,
    user_id: i64,
    slug: &str,
    anchor: Option<&str>,
    body: &str,
) -> Result<Note, Error> {
    check_body(body)?;
    let (article, anchor) = check_target(&state.site, slug, anchor)?;
    let html = render_off_runtime(body).await?;
    let sql = format!(
        "INSERT INTO notes (user_id, slug, anchor, body, body_html) VALUES (?, ?, ?, ?, ?) RETURNING {COLUMNS}"
    );
    let note = sqlx::query_as(&sql)
        .bind(user_id)
        .bind(&article.slug)
        .bind(anchor)
        .bind(body)
        .bind(html)
        .fetch_one(&state.db)
        .await?;
    state.accounts.snapshots.invalidate(user_id);
    Ok(note)
}

pub async fn update(state: &AppState, user_id: i64, id: i64, body: &str) -> Result<Note, Error> {
    check_body(body)?;
    let html = render_off_runtime(body).await?;
    let sql = format!(
        "UPDATE notes SET body = ?, body_html = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE id = ? AND user_id = ? RETURNING {COLUMNS}"
    );
    let note = sqlx::query_as(&sql)
        .bind(body)
        .bind(html)
        .bind(id)
        .bind(user_id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(no_note)?;
    state.accounts.snapshots.invalidate(user_id);
    Ok(note)
}

/// Deletes the note; returns its article's slug.
pub async fn delete(state: &AppState, user_id: i64, id: i64) -> Result<String, Error> {
    let slug: String =
        sqlx::query_scalar("DELETE FROM notes WHERE id = ? AND user_id = ? RETURNING slug")
            .bind(id)
            .bind(user_id)
            .fetch_optional(&state.db)
            .await?
            .ok_or_else(no_note)?;
    state.accounts.snapshots.invalidate(user_id);
    Ok(slug)
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    article: Option<String>,
    q: Option<String>,
}

async fn list_notes(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    Query(q): Query<ListQuery>,
) -> Result<Json<Vec<Note>>, ApiError> {
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    Ok(Json(
        list(&state.db, user.user_id, q.article.as_deref(), search).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct NewNote {
    article: String,
    #[serde(default)]
    anchor: Option<String>,
    body: String,
}

async fn create_note(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiJson(new): ApiJson<NewNote>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let note = create(
        &state,
        user.user_id,
        &new.article,
        new.anchor.as_deref(),
        &new.body,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(note)))
}

async fn show_note(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Note>, ApiError> {
    Ok(Json(find(&state.db, user.user_id, id).await?))
}

#[derive(Debug, Deserialize)]
pub struct EditNote {
    body: String,
}

async fn update_note(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(edit): ApiJson<EditNote>,
) -> Result<Json<Note>, ApiError> {
    Ok(Json(update(&state, user.user_id, id, &edit.body).await?))
}

async fn delete_note(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    delete(&state, user.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
