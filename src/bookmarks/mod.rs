//! Bookmarks: a star on every article (a form without JavaScript, a toggle with it), the
//! reader's `/bookmarks` page and the JSON API.

use std::fmt::Write as _;

use askama::Template;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::accounts::{ApiUser, User, Viewer};
use crate::db::Db;
use crate::extract::ApiPath;
use crate::layout::Layout;
use crate::personal::{self, csrf_input, escape_into};
use crate::{ApiError, AppState, Error, Site};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/bookmarks", get(list_bookmarks))
        .route(
            "/api/bookmarks/{slug}",
            put(add_bookmark).delete(remove_bookmark),
        )
        .route("/bookmarks", get(show_bookmarks))
        .route("/bookmarks/{slug}", post(toggle_bookmark))
}

/// One bookmark as the API and the page show it.
#[derive(Debug, Clone, Serialize)]
pub struct Bookmark {
    pub slug: String,
    pub title: String,
    pub url: String,
    pub created_at: String,
}

pub async fn slugs(db: &Db, user_id: i64) -> Result<Vec<String>, Error> {
    Ok(
        sqlx::query_scalar("SELECT slug FROM bookmarks WHERE user_id = ?")
            .bind(user_id)
            .fetch_all(db)
            .await?,
    )
}

/// The user's bookmarks, newest first. Articles removed since keep their slug as title.
pub async fn list(db: &Db, site: &Site, user_id: i64) -> Result<Vec<Bookmark>, Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT slug, created_at FROM bookmarks WHERE user_id = ? ORDER BY id DESC")
            .bind(user_id)
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(slug, created_at)| {
            let title = site
                .library
                .article(&slug)
                .map_or_else(|| slug.clone(), |a| a.title.clone());
            let url = format!("/articles/{slug}");
            Bookmark {
                slug,
                title,
                url,
                created_at,
            }
        })
        .collect())
}

impl Bookmark {
    /// The date part of `created_at`.
    pub fn day(&self) -> &str {
        self.created_at.get(..10).unwrap_or(&self.created_at)
    }
}

fn known_article<'a>(site: &'a Site, slug: &str) -> Result<&'a crate::content::Article, Error> {
    site.library
        .article(slug)
        .ok_or_else(|| Error::NotFoundMessage(format!("there is no article `{slug}`")))
}

async fn set(state: &AppState, user_id: i64, slug: &str, on: bool) -> Result<(), Error> {
    if on {
        known_article(&state.site, slug)?;
        sqlx::query("INSERT INTO bookmarks (user_id, slug) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(user_id)
            .bind(slug)
            .execute(&state.db)
            .await?;
    } else {
        sqlx::query("DELETE FROM bookmarks WHERE user_id = ? AND slug = ?")
            .bind(user_id)
            .bind(slug)
            .execute(&state.db)
            .await?;
    }
    state.accounts.snapshots.invalidate(user_id);
    Ok(())
}

async fn list_bookmarks(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
) -> Result<Json<Vec<Bookmark>>, ApiError> {
    Ok(Json(list(&state.db, &state.site, user.user_id).await?))
}

async fn add_bookmark(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(slug): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    set(&state, user.user_id, &slug, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_bookmark(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    ApiPath(slug): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    set(&state, user.user_id, &slug, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct ToggleForm {
    /// `add` or `remove`.
    action: String,
}

/// The star's form: add or remove, then back to the article.
async fn toggle_bookmark(
    State(state): State<AppState>,
    User(user): User,
    axum::extract::Path(slug): axum::extract::Path<String>,
    Form(form): Form<ToggleForm>,
) -> Result<Response, Error> {
    let on = match form.action.as_str() {
        "add" => true,
        "remove" => false,
        other => {
            return Err(Error::BadRequest(format!(
                "unknown action `{other}`: use add or remove"
            )));
        }
    };
    set(&state, user.user_id, &slug, on).await?;
    Ok(personal::see_other(&format!("/articles/{slug}")))
}

#[derive(Template)]
#[template(path = "bookmarks/list.html")]
pub struct BookmarksPage<'a> {
    pub layout: &'a Layout,
    /// Where this page lives (see `templates/base.html`): canonical link and link previews.
    pub canonical: String,
    pub bookmarks: Vec<Bookmark>,
    pub csrf_token: &'a str,
}

async fn show_bookmarks(
    State(state): State<AppState>,
    User(user): User,
) -> Result<Response, Error> {
    let bookmarks = list(&state.db, &state.site, user.user_id).await?;
    let page = BookmarksPage {
        layout: &state.site.layout,
        canonical: state.site.layout.absolute("/bookmarks"),
        bookmarks,
        csrf_token: &user.csrf_token,
    };
    Ok(personal::render_page(&page, Some(&user)).into_response())
}

/// The star on an article: a toggle form for a signed-in reader, a sign-in link otherwise.
pub fn star_html(viewer: Option<&Viewer>, slug: &str, starred: bool, out: &mut String) {
    let Some(viewer) = viewer else {
        let _ = write!(
            out,
            "<a class=\"star-button\" href=\"/login?next=%2Farticles%2F{slug}\" title=\"Sign in to bookmark this article\">\
             <span aria-hidden=\"true\">☆</span> Bookmark</a>"
        );
        return;
    };
    let (action, label, icon) = if starred {
        ("remove", "Bookmarked", "★")
    } else {
        ("add", "Bookmark", "☆")
    };
    out.push_str("<form class=\"star-form\" method=\"post\" action=\"/bookmarks/");
    escape_into(out, slug);
    out.push_str("\">");
    csrf_input(out, viewer);
    let _ = write!(
        out,
        "<input type=\"hidden\" name=\"action\" value=\"{action}\">\
         <button type=\"submit\" class=\"star-button\" aria-pressed=\"{starred}\" data-slug=\"{}\">\
         <span class=\"star-icon\" aria-hidden=\"true\">{icon}</span> <span class=\"star-label\">{label}</span></button></form>",
        personal::escape(slug)
    );
}
