//! What every page shares: the site's name, its base URL and asset URLs, and the
//! pre-rendered page type with its ETag.

use axum::body::Body;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::assets::Assets;

pub const SITE_NAME: &str = "Snakepit";

/// Data the base template needs on every page.
#[derive(Debug, Clone)]
pub struct Layout {
    pub site_name: &'static str,
    /// Public URL without a trailing slash; empty when not configured (links stay relative).
    pub base_url: String,
    pub css_url: String,
    pub js_url: String,
    pub theme_js_url: String,
    pub run_js_url: String,
    pub favicon_url: String,
}

impl Layout {
    pub fn new(assets: &Assets, base_url: Option<&str>) -> Self {
        Self {
            site_name: SITE_NAME,
            base_url: base_url.unwrap_or_default().to_string(),
            css_url: assets.url("app.css"),
            js_url: assets.url("app.js"),
            theme_js_url: assets.url("theme.js"),
            run_js_url: assets.url("run.js"),
            favicon_url: assets.url("favicon.svg"),
        }
    }

    /// An absolute URL for `path` when a base URL is configured, else `path` itself.
    pub fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// An HTML page rendered once, served many times, with an ETag for revalidation.
#[derive(Debug, Clone)]
pub struct CachedPage {
    body: Bytes,
    etag: HeaderValue,
    status: StatusCode,
}

impl CachedPage {
    pub fn new(html: String, status: StatusCode) -> Self {
        let hash = blake3::hash(html.as_bytes()).to_hex();
        let etag = HeaderValue::from_str(&format!("\"{}\"", &hash[..20]))
            .expect("hex is a valid header value");
        Self {
            body: Bytes::from(html),
            etag,
            status,
        }
    }

    /// The page, or `304 Not Modified` when the client already holds this version.
    pub fn respond(&self, request_headers: &HeaderMap) -> Response {
        let fresh = request_headers.get(header::IF_NONE_MATCH).is_some_and(|v| {
            v.as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii() == self.etag.as_bytes())
        });
        let headers = [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::ETAG, self.etag.clone()),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ];
        if fresh && self.status.is_success() {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        (self.status, headers, Body::from(self.body.clone())).into_response()
    }

    pub fn html(&self) -> &[u8] {
        &self.body
    }
}
