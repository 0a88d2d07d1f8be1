//! The one error type. Pages render it as an HTML error page; `/api` handlers wrap it in
//! [`ApiError`] to answer `{"error": "..."}`. 5xx details are logged, never shown.

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::layout::Layout;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    /// Not found, with a message saying what is missing.
    #[error("{0}")]
    NotFoundMessage(String),
    #[error("{0}")]
    BadRequest(String),
    /// A dependency (such as the sandbox) cannot serve this now: 503.
    #[error("{0}")]
    Unavailable(String),
    /// Overloaded for now (a full queue): 503 with `Retry-After` (seconds).
    #[error("{0}")]
    Busy(String, u64),
    /// Not signed in (or the session expired).
    #[error("sign in first")]
    Unauthorized,
    /// A failed login.
    #[error("wrong username or password")]
    WrongCredentials,
    /// Signed in, but the request is refused (e.g. a missing CSRF token).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unprocessable(String),
    /// Too many attempts; try again after this many seconds.
    #[error("too many attempts; try again in {0} seconds")]
    TooManyRequests(u64),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("template: {0}")]
    Template(#[from] askama::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NotFound | Error::NotFoundMessage(_) => StatusCode::NOT_FOUND,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unavailable(_) | Error::Busy(..) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unauthorized | Error::WrongCredentials => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::Template(_) | Error::Io(_) | Error::Internal(_) | Error::Database(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// What the client may see: the message for 4xx, a generic sentence for 5xx.
    fn public_message(&self) -> String {
        let status = self.status();
        if let Error::Busy(message, _) = self {
            tracing::warn!(error = %message, "overloaded");
            message.clone()
        } else if status.is_server_error() {
            if matches!(self, Error::Database(_)) {
                crate::db::ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            tracing::error!(error = %self, "request failed");
            "Something went wrong on our side. The error has been logged.".to_string()
        } else if matches!(self, Error::NotFound) {
            "There is no page at this address.".to_string()
        } else {
            self.to_string()
        }
    }
}

impl Error {
    /// `Retry-After` on 429 and on 503 from a full queue.
    fn add_headers(&self, response: &mut Response) {
        if let Error::TooManyRequests(secs) | Error::Busy(_, secs) = self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, (*secs).into());
        }
    }
}

/// A standalone error page: it renders without the site (so even when things are broken);
/// with the site's layout it also carries the stylesheet's URL and full link previews.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub status: u16,
    pub reason: &'a str,
    pub message: &'a str,
    pub layout: Option<&'a Layout>,
}

/// What an HTML error page said, kept on its response so that the middleware stack, which
/// knows the site, can render it again with the layout ([`ErrorPageInfo::render`]).
#[derive(Debug, Clone)]
pub struct ErrorPageInfo {
    pub status: StatusCode,
    pub message: String,
}

impl ErrorPageInfo {
    /// The page again, with the site's layout.
    pub fn render(&self, layout: &Layout) -> String {
        render_error(self.status, &self.message, Some(layout))
    }
}

fn render_error(status: StatusCode, message: &str, layout: Option<&Layout>) -> String {
    let page = ErrorPage {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
        layout,
    };
    page.render()
        .unwrap_or_else(|_| format!("{status}: {message}"))
}

/// An HTML error page for `status` with `message`.
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let mut response = (status, Html(render_error(status, message, None))).into_response();
    response.extensions_mut().insert(ErrorPageInfo {
        status,
        message: message.to_string(),
    });
    response
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let message = self.public_message();
        let mut response = error_page(self.status(), &message);
        self.add_headers(&mut response);
        response
    }
}

/// The JSON face of [`Error`], for handlers under `/api`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = self.0.public_message();
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        self.0.add_headers(&mut response);
        response
    }
}
