//! What every page shares: the site's name, its base URL and asset URLs, and the
//! pre-rendered page type with its ETag.

use std::collections::VecDeque;
use std::io::Write;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::assets::Assets;

pub const SITE_NAME: &str = "Snakepit";
/// The description of pages that have none of their own (search engines and link previews).
pub const SITE_DESCRIPTION: &str =
    "Hard-won Python expertise: pitfalls, internals and practice, with runnable examples.";

/// The link-preview image in `static/` (made by `scripts/og-card`), its size and its text.
pub const CARD_FILE: &str = "og-card.png";
pub const CARD_WIDTH: u32 = 1200;
pub const CARD_HEIGHT: u32 = 630;
/// The tags the page title goes in, as (opening, closing) text: `templates/base.html`
/// renders its `title` block once inside each, so link previews show the page's own title.
pub const TITLE_TAGS: [(&str, &str); 3] = [
    ("<title>", "</title>"),
    ("<meta property=\"og:title\" content=\"", "\">"),
    ("<meta name=\"twitter:title\" content=\"", "\">"),
];

/// The tags the page description goes in, like [`TITLE_TAGS`].
pub const DESCRIPTION_TAGS: [(&str, &str); 3] = [
    ("<meta name=\"description\" content=\"", "\">"),
    ("<meta property=\"og:description\" content=\"", "\">"),
    ("<meta name=\"twitter:description\" content=\"", "\">"),
];

pub const CARD_ALT: &str = "Snakepit: hard-won Python expertise, with every example runnable";

/// Data the base template needs on every page.
#[derive(Debug, Clone)]
pub struct Layout {
    pub site_name: &'static str,
    pub site_description: &'static str,
    /// Public URL without a trailing slash; empty when not configured (links stay relative).
    pub base_url: String,
    pub css_url: String,
    pub js_url: String,
    pub theme_js_url: String,
    /// Search-as-you-type in the header (`static/search.js`) and its styles.
    pub search_js_url: String,
    pub search_css_url: String,
    pub run_js_url: String,
    /// The Python version picker on snippets (`static/python-picker.js`).
    pub python_js_url: String,
    pub favicon_url: String,
    /// The link-preview card (fingerprinted, so a new card gets a new URL unfurlers refetch).
    pub card_url: String,
    pub card_width: u32,
    pub card_height: u32,
    pub card_alt: &'static str,
}

impl Layout {
    pub fn new(assets: &Assets, base_url: Option<&str>) -> Self {
        Self {
            site_name: SITE_NAME,
            site_description: SITE_DESCRIPTION,
            base_url: base_url.unwrap_or_default().to_string(),
            css_url: assets.url("app.css"),
            js_url: assets.url("app.js"),
            theme_js_url: assets.url("theme.js"),
            run_js_url: assets.url("run.js"),
            python_js_url: assets.url("python-picker.js"),
            search_js_url: assets.url("search.js"),
            search_css_url: assets.url("search.css"),
            favicon_url: assets.url("favicon.svg"),
            card_url: assets.url(CARD_FILE),
            card_width: CARD_WIDTH,
            card_height: CARD_HEIGHT,
            card_alt: CARD_ALT,
        }
    }

    /// An absolute URL for `path` when a base URL is configured, else `path` itself.
    pub fn absolute(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// [`TITLE_TAGS`], for templates (a method, so templates outside this crate work too).
    pub fn title_tags(&self) -> &'static [(&'static str, &'static str)] {
        &TITLE_TAGS
    }

    /// [`DESCRIPTION_TAGS`], for templates.
    pub fn description_tags(&self) -> &'static [(&'static str, &'static str)] {
        &DESCRIPTION_TAGS
    }

    /// `url` (a path, or an absolute URL) as link previews need it: absolute, so `None`
    /// without a base URL (unfurlers cannot resolve a relative one) or for an empty `url`.
    pub fn shareable(&self, url: &str) -> Option<String> {
        if self.base_url.is_empty() || url.is_empty() {
            None
        } else if url.starts_with('/') {
            Some(self.absolute(url))
        } else {
            Some(url.to_string())
        }
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
    /// The page compressed once, on first demand, so no request pays for compression.
    gzip: OnceLock<Bytes>,
    br: OnceLock<Bytes>,
}

/// A content coding the reader's browser accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    /// The best coding `Accept-Encoding` allows: Brotli, then gzip, else none.
    pub fn negotiate(headers: &HeaderMap) -> Coding {
        let Some(accept) = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
        else {
            return Coding::Identity;
        };
        let allows = |wanted: &str| {
            accept.split(',').any(|item| {
                let mut fields = item.split(';').map(str::trim);
                let name = fields.next().unwrap_or_default();
                let q = fields
                    .find_map(|f| f.strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                (name.eq_ignore_ascii_case(wanted) || name == "*") && q > 0.0
            })
        };
        if allows("br") {
            Coding::Brotli
        } else if allows("gzip") {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }
}

fn gzip(body: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::new(9),
    );
    encoder
        .write_all(body)
        .expect("writing to a Vec cannot fail");
    Bytes::from(encoder.finish().expect("writing to a Vec cannot fail"))
}

fn brotli(body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(body.len() / 5);
    let params = brotli::enc::BrotliEncoderParams {
        quality: 10,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &body[..], &mut out, &params)
        .expect("compressing in memory cannot fail");
    Bytes::from(out)
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
            gzip: OnceLock::new(),
            br: OnceLock::new(),
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

    /// The page, or `304 Not Modified` when the client already holds this version; in the
    /// best coding the client accepts, compressed once and reused.
    pub fn respond(&self, request_headers: &HeaderMap) -> Response {
        let fresh = request_headers.get(header::IF_NONE_MATCH).is_some_and(|v| {
            let tag = &self.etag.as_bytes()[..self.etag.len() - 1]; // without the closing quote
            v.as_bytes().split(|&b| b == b',').any(|t| {
                let t = t.trim_ascii();
                t.strip_prefix(b"W/").unwrap_or(t).starts_with(tag) // any coding's tag, weak or strong
            })
        });
        let coding = Coding::negotiate(request_headers);
        let (body, encoding, suffix) = match coding {
            Coding::Brotli => (
                self.br.get_or_init(|| brotli(&self.body)).clone(),
                Some("br"),
                "-br",
            ),
            Coding::Gzip => (
                self.gzip.get_or_init(|| gzip(&self.body)).clone(),
                Some("gzip"),
                "-gz",
            ),
            Coding::Identity => (self.body.clone(), None, ""),
        };
        let etag = if suffix.is_empty() {
            self.etag.clone()
        } else {
            let tag = std::str::from_utf8(self.etag.as_bytes())
                .expect("hex")
                .trim_end_matches('"');
            HeaderValue::from_str(&format!("{tag}{suffix}\"")).expect("hex is a valid header value")
        };
        let mut response = if fresh && self.status.is_success() {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            (self.status, Body::from(body)).into_response()
        };
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::ETAG, etag);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if let Some(encoding) = encoding.filter(|_| response.status() != StatusCode::NOT_MODIFIED) {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    }

    pub fn html(&self) -> &[u8] {
        &self.body
    }
}
