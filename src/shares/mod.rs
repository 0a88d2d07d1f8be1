//! Snippet sharing, as on the Rust and Go playgrounds: a reader's edited snippet gets a
//! short link (`/s/{id}`) that shows the code, runnable and linked to the article section
//! it came from.
//!
//! Shares are content-addressed: the id is derived from a BLAKE3 hash of the code (newlines
//! normalised), the article and the section anchor, so sharing the same thing twice gives
//! the same link and stores one row. They are anonymous and immutable; creating them is
//! rate-limited per client. A (theoretical) id collision is refused, never overwritten.

mod pages;

use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::accounts::Auth;
use crate::accounts::limit::Limiter;
use crate::db::Db;
use crate::extract::{ApiJson, ApiPath};
use crate::http::ClientKey;
use crate::{ApiError, AppState, Error, Site};

pub use pages::{origin_of, source_of_page};

/// Characters in a share id (base64url of [`ID_BYTES`] hash bytes).
pub const ID_LEN: usize = 12;
/// 72 bits of the hash: collisions are a theoretical concern only (and refused).
const ID_BYTES: usize = 9;
/// New shares a client may create per [`SHARE_WINDOW`].
pub const SHARES_PER_WINDOW: u32 = 30;
pub const SHARE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The limiter `AppState` starts with: [`SHARES_PER_WINDOW`] per client per [`SHARE_WINDOW`].
pub fn default_limiter() -> Limiter {
    Limiter::new(SHARES_PER_WINDOW, SHARE_WINDOW)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/shares", post(create_share))
        .route("/api/shares/{id}", get(show_share_json))
        .route("/s/{id}", get(pages::show_share))
        .route("/shares", post(pages::create_share_form))
}

/// A share as stored and as `GET /api/shares/{id}` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Share {
    pub id: String,
    pub code: String,
    pub article: Option<String>,
    pub anchor: Option<String>,
    /// The Python runtime it was shared for ("3.13"); `None`: the default.
    pub python: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl Share {
    /// The root-relative URL of its page.
    pub fn path(&self) -> String {
        format!("/s/{}", self.id)
    }
}

/// A share as requested, checked and normalised: what its id is derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShare {
    pub code: String,
    pub article: Option<String>,
    pub anchor: Option<String>,
    pub python: Option<String>,
}

impl NewShare {
    /// Normalises newlines (a form post sends CRLF, a script LF: the same code must give the
    /// same id), resolves an old slug to its article, and checks size, emptiness, the
    /// article and the anchor.
    pub fn check(
        site: &Site,
        code_limit: usize,
        code: &str,
        article: Option<&str>,
        anchor: Option<&str>,
    ) -> Result<Self, Error> {
        let code = code.replace("\r\n", "\n").replace('\r', "\n");
        if code.len() > code_limit {
            return Err(Error::PayloadTooLarge(format!(
                "the code is too large to share (at most {code_limit} bytes)"
            )));
        }
        if code.trim().is_empty() {
            return Err(Error::Unprocessable("there is no code to share".into()));
        }
        let article = article.map(str::trim).filter(|s| !s.is_empty());
        let anchor = anchor.map(str::trim).filter(|s| !s.is_empty());
        let article = match article {
            None if anchor.is_some() => {
                return Err(Error::Unprocessable(
                    "an anchor needs its article: give `article` too".into(),
                ));
            }
            None => None,
            Some(slug) => Some(
                site.library
                    .article(slug)
                    .or_else(|| site.library.alias_target(slug))
                    .ok_or_else(|| Error::Unprocessable(format!("there is no article `{slug}`")))?,
            ),
        };
        if let (Some(article), Some(anchor)) = (article, anchor) {
            if !article.headings.iter().any(|h| h.id == anchor) {
                return Err(Error::Unprocessable(format!(
                    "the article `{}` has no section `{anchor}`",
                    article.slug
                )));
            }
        }
        Ok(Self {
            code,
            article: article.map(|a| a.slug.clone()),
            anchor: anchor.map(str::to_string),
            python: None,
        })
    }

    /// Records the runtime the share is for; it must be one of `available`.
    pub fn with_python(
        mut self,
        python: Option<&str>,
        available: &[String],
    ) -> Result<Self, Error> {
        let Some(p) = python.map(str::trim).filter(|p| !p.is_empty()) else {
            return Ok(self);
        };
        if !available.iter().any(|a| a == p) {
            return Err(Error::Unprocessable(format!(
                "unknown Python version {p:?}; available: {}",
                available.join(", ")
            )));
        }
        self.python = Some(p.to_string());
        Ok(self)
    }

    /// The content address: BLAKE3 (in its key-derivation mode, so these hashes are never
    /// confused with any other of the site's) over the length-prefixed fields, base64url.
    pub fn id(&self) -> String {
        let mut hasher = blake3::Hasher::new_derive_key("snakepit 2025 share id v1");
        for field in [
            Some(self.code.as_str()),
            self.article.as_deref(),
            self.anchor.as_deref(),
        ]
        .into_iter()
        // A share without a version keeps the id it had before versions existed.
        .chain(self.python.as_deref().map(Some))
        {
            match field {
                Some(s) => {
                    hasher.update(&[1]);
                    hasher.update(&(s.len() as u64).to_le_bytes());
                    hasher.update(s.as_bytes());
                }
                None => {
                    hasher.update(&[0]);
                }
            }
        }
        base64url(&hasher.finalize().as_bytes()[..ID_BYTES])
    }
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding, for inputs whose length is a multiple of 3.
fn base64url(bytes: &[u8]) -> String {
    debug_assert_eq!(bytes.len() % 3, 0);
    bytes
        .chunks_exact(3)
        .flat_map(|c| {
            let n = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
            [18, 12, 6, 0].map(|shift| char::from(BASE64URL[(n >> shift & 63) as usize]))
        })
        .collect()
}

/// Whether `id` could be a share id at all (checked before touching the database).
pub fn is_valid_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| BASE64URL.contains(&b))
}

const COLUMNS: &str = "id, code, article, anchor, python, created_at";

pub async fn find(db: &Db, id: &str) -> Result<Option<Share>, Error> {
    let sql = format!("SELECT {COLUMNS} FROM shares WHERE id = ?");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(db).await?)
}

/// Stores `new` unless it is already stored; `true` when this call stored it. A different
/// share under the same id is refused (409), never overwritten.
pub async fn store(db: &Db, new: &NewShare) -> Result<(Share, bool), Error> {
    let id = new.id();
    let inserted = sqlx::query(
        "INSERT INTO shares (id, code, article, anchor, python) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&id)
    .bind(&new.code)
    .bind(&new.article)
    .bind(&new.anchor)
    .bind(&new.python)
    .execute(db)
    .await?
    .rows_affected()
        == 1;
    let share = find(db, &id)
        .await?
        .ok_or_else(|| Error::Internal(format!("share {id} vanished after its insert")))?;
    if (&share.code, &share.article, &share.anchor, &share.python)
        != (&new.code, &new.article, &new.anchor, &new.python)
    {
        tracing::error!(id, "share id collision: refusing to overwrite");
        return Err(Error::Conflict(
            "another share already has this id; change the code slightly and share again".into(),
        ));
    }
    Ok((share, inserted))
}

/// The authentication state of a request (anonymous readers may share too).
pub struct RequestAuth(Auth);

impl<S: Send + Sync> FromRequestParts<S> for RequestAuth {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestAuth(
            parts.extensions.get::<Auth>().cloned().unwrap_or_default(),
        ))
    }
}

/// Checks and stores a share for the API and the form alike: a request made with a session
/// must carry its CSRF token (CONTRACT.md); every accepted request counts against the
/// client's rate limit.
pub async fn create(
    state: &AppState,
    client: &ClientKey,
    auth: &RequestAuth,
    code: &str,
    article: Option<&str>,
    anchor: Option<&str>,
    python: Option<&str>,
) -> Result<(Share, bool), Error> {
    if auth.0.viewer.is_some() && !auth.0.csrf_ok {
        return Err(Error::Forbidden(
            "missing or wrong CSRF token: send the X-CSRF-Token header (or the csrf_token form field) given by /api/me".into(),
        ));
    }
    state
        .share_limiter
        .check(&client.0)
        .map_err(Error::TooManyRequests)?;
    let new = NewShare::check(
        &state.site,
        state.runner.code_limit(),
        code,
        article,
        anchor,
    )?
    .with_python(python, &available_pythons(state))?;
    state.share_limiter.hit(&client.0);
    store(&state.db, &new).await
}

/// The runtime ids a share may name.
fn available_pythons(state: &AppState) -> Vec<String> {
    state
        .runner
        .runtimes()
        .map(|set| set.runtimes.iter().map(|r| r.id.to_string()).collect())
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
pub struct ShareRequest {
    code: String,
    #[serde(default)]
    article: Option<String>,
    #[serde(default)]
    anchor: Option<String>,
    #[serde(default)]
    python: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Created {
    pub id: String,
    pub url: String,
}

/// `{"code", "article", "anchor"?}` → 201 `{"id", "url"}` for a new share, 200 with the same
/// answer when it was shared before (nothing new is stored).
async fn create_share(
    State(state): State<AppState>,
    client: ClientKey,
    auth: RequestAuth,
    ApiJson(request): ApiJson<ShareRequest>,
) -> Result<Response, ApiError> {
    let (share, created) = create(
        &state,
        &client,
        &auth,
        &request.code,
        request.article.as_deref(),
        request.anchor.as_deref(),
        request.python.as_deref(),
    )
    .await?;
    let url = state.site.layout.absolute(&share.path());
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = Created { id: share.id, url };
    Ok((status, [(header::LOCATION, body.url.clone())], Json(body)).into_response())
}

async fn show_share_json(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Share>, ApiError> {
    if !is_valid_id(&id) {
        return Err(Error::BadRequest(format!(
            "`{id}` is not a share id (ids have {ID_LEN} characters: letters, digits, - and _)"
        ))
        .into());
    }
    let share = find(&state.db, &id)
        .await?
        .ok_or_else(|| Error::NotFoundMessage(format!("there is no share `{id}`")))?;
    Ok(Json(share))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(code: &str, article: Option<&str>, anchor: Option<&str>) -> NewShare {
        NewShare {
            code: code.into(),
            article: article.map(Into::into),
            anchor: anchor.map(Into::into),
            python: None,
        }
    }

    #[test]
    fn ids_are_short_url_safe_and_stable() {
        let id = share("print(1)\n", Some("first-steps"), None).id();
        assert!(is_valid_id(&id), "{id}");
        // Links are out in the world: the derivation must never change.
        assert_eq!(id, share("print(1)\n", Some("first-steps"), None).id());
        assert_eq!(share("print('hi')\n", None, None).id(), "DZvPHTOIWIir");
    }

    #[test]
    fn every_field_counts_and_fields_do_not_run_together() {
        let ids = [
            share("x", None, None).id(),
            share("x", Some("a"), None).id(),
            share("x", Some("b"), None).id(),
            share("x", Some("a"), Some("h")).id(),
            share("xa", None, None).id(),
            share("", Some("xa"), None).id(),
        ];
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
    }

    #[test]
    fn base64url_matches_the_rfc_alphabet() {
        assert_eq!(base64url(b"\xfb\xff\xbf"), "-_-_");
        assert_eq!(base64url(b"Man"), "TWFu");
        assert!(!is_valid_id("short"));
        assert!(!is_valid_id("abc/def+ghi="));
        assert!(is_valid_id("AZaz09-_AZaz"));
    }
}
