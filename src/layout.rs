//! What every page shares: the site's name, its base URL and asset URLs, and the
//! pre-rendered page type with its ETag.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

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

/// Marks where per-reader HTML goes in a pre-rendered page: `<!--slot:NAME-->`.
pub const SLOT_OPEN: &str = "<!--slot:";
const SLOT_CLOSE: &str = "-->";

/// A part of a page with slots.
pub enum Piece<'a> {
    Text(&'a str),
    Slot(&'a str),
}

/// Walks `html`, yielding text and slot markers in order.
pub fn for_each_piece<'a>(html: &'a str, mut f: impl FnMut(Piece<'a>)) {
    let mut rest = html;
    while let Some(start) = rest.find(SLOT_OPEN) {
        let after = &rest[start + SLOT_OPEN.len()..];
        let Some(end) = after.find(SLOT_CLOSE) else {
            break;
        };
        f(Piece::Text(&rest[..start]));
        f(Piece::Slot(&after[..end]));
        rest = &after[end + SLOT_CLOSE.len()..];
    }
    f(Piece::Text(rest));
}

/// A response body made of several buffers, written out in order with an exact length.
struct Chunks {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    fn new(chunks: VecDeque<Bytes>) -> Self {
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Self { chunks, remaining }
    }
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        Poll::Ready(this.chunks.pop_front().map(|chunk| {
            this.remaining -= chunk.len() as u64;
            Ok(http_body::Frame::data(chunk))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.remaining)
    }
}

/// A byte range of the page template, or a named slot.
#[derive(Debug, Clone)]
enum Part {
    Text(Bytes),
    Slot(String),
}

/// An HTML page rendered once, served many times, with an ETag for revalidation.
///
/// The page may hold slots (see [`SLOT_OPEN`]): the anonymous version has them filled once
/// at construction; [`CachedPage::respond_with`] fills them per request for a signed-in reader.
#[derive(Debug, Clone)]
pub struct CachedPage {
    body: Bytes,
    etag: HeaderValue,
    status: StatusCode,
    parts: Vec<Part>,
}

impl CachedPage {
    /// A page whose slots (if any) stay empty for anonymous readers.
    pub fn new(html: String, status: StatusCode) -> Self {
        Self::with_slots(html, status, |_, _| {})
    }

    /// A page whose anonymous version has each slot filled by `anonymous(name, out)`.
    pub fn with_slots(
        html: String,
        status: StatusCode,
        anonymous: impl Fn(&str, &mut String),
    ) -> Self {
        let template = Bytes::from(html);
        let text = std::str::from_utf8(&template).expect("rendered from a String");
        let mut parts = Vec::new();
        let mut body = String::with_capacity(template.len() + 256);
        for_each_piece(text, |piece| match piece {
            Piece::Text(t) => {
                body.push_str(t);
                parts.push(Part::Text(template.slice_ref(t.as_bytes())));
            }
            Piece::Slot(name) => {
                anonymous(name, &mut body);
                parts.push(Part::Slot(name.to_string()));
            }
        });
        let hash = blake3::hash(body.as_bytes()).to_hex();
        let etag = HeaderValue::from_str(&format!("\"{}\"", &hash[..20]))
            .expect("hex is a valid header value");
        Self {
            body: Bytes::from(body),
            etag,
            status,
            parts,
        }
    }

    /// The page for one reader: the cached byte ranges with each slot filled by
    /// `fill(name)`, sent as they are (no copy of the page). Private to the reader, so
    /// never cached by the browser or a proxy.
    pub fn respond_with(&self, mut fill: impl FnMut(&str) -> Bytes) -> Response {
        let chunks: VecDeque<Bytes> = self
            .parts
            .iter()
            .map(|part| match part {
                Part::Text(t) => t.clone(),
                Part::Slot(name) => fill(name),
            })
            .filter(|b| !b.is_empty())
            .collect();
        let headers = [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ];
        (self.status, headers, Body::new(Chunks::new(chunks))).into_response()
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
