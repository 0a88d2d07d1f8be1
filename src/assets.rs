//! Static files (`static/`): read, fingerprinted and compressed (gzip and Brotli) once at
//! start-up, then served from memory with an ETag per coding, like the pages. Pages link
//! to them by fingerprinted URL (`/static/app.css?v=<hash>`), so a changed file gets a new
//! URL and a cached copy never goes stale.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::AppState;
use crate::layout::{Coding, brotli, gzip};

/// One file of the static directory, in every coding worth sending.
#[derive(Debug)]
struct Asset {
    content_type: HeaderValue,
    identity: Bytes,
    /// Present only when compressing made the file smaller (not for PNGs).
    gzip: Option<Bytes>,
    br: Option<Bytes>,
    /// The identity ETag, then the gzip and Brotli ones (`"<hash>-gz"`, `"<hash>-br"`).
    etags: [HeaderValue; 3],
    /// `"v=<hash>"`: the query of the fingerprinted URL.
    version: String,
}

/// The static directory, in memory.
#[derive(Debug, Clone)]
pub struct Assets {
    files: Arc<HashMap<String, Asset>>,
}

/// Types of the files a site has; anything else is served as bytes.
fn content_type(name: &str) -> (&'static str, bool) {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "css" => ("text/css; charset=utf-8", true),
        "js" | "mjs" => ("text/javascript; charset=utf-8", true),
        "json" | "map" => ("application/json", true),
        "svg" => ("image/svg+xml", true),
        "html" => ("text/html; charset=utf-8", true),
        "txt" => ("text/plain; charset=utf-8", true),
        "png" => ("image/png", false),
        "jpg" | "jpeg" => ("image/jpeg", false),
        "webp" => ("image/webp", false),
        "ico" => ("image/x-icon", true),
        "woff2" => ("font/woff2", false),
        "woff" => ("font/woff", false),
        _ => ("application/octet-stream", false),
    }
}

impl Assets {
    /// Reads, fingerprints and compresses every file once. A missing directory is an
    /// error: pages without their stylesheet and scripts are not a site.
    pub fn scan(dir: &Path) -> std::io::Result<Self> {
        let mut files = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("static directory {}: {e}", dir.display()))
        })? {
            let path = entry?.path();
            if !path.is_file() {
                continue;
            }
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let bytes = Bytes::from(std::fs::read(&path)?);
            let hash = blake3::hash(&bytes).to_hex();
            let (kind, compressible) = content_type(name);
            let smaller = |packed: Bytes| (packed.len() < bytes.len()).then_some(packed);
            let (gz, br) = if compressible {
                (smaller(gzip(&bytes)), smaller(brotli(&bytes)))
            } else {
                (None, None)
            };
            let tag = |suffix: &str| {
                HeaderValue::from_str(&format!("\"{}{suffix}\"", &hash[..20]))
                    .expect("hex is a valid header value")
            };
            files.insert(
                name.to_string(),
                Asset {
                    content_type: HeaderValue::from_static(kind),
                    identity: bytes,
                    gzip: gz,
                    br,
                    etags: [tag(""), tag("-gz"), tag("-br")],
                    version: format!("v={}", &hash[..12]),
                },
            );
        }
        Ok(Self {
            files: Arc::new(files),
        })
    }

    /// The fingerprinted URL of `name`, or its plain URL if the file is unknown.
    pub fn url(&self, name: &str) -> String {
        match self.files.get(name) {
            Some(asset) => format!("/static/{name}?{}", asset.version),
            None => format!("/static/{name}"),
        }
    }

    pub fn router(&self) -> Router<AppState> {
        Router::new().route("/static/{*name}", get(serve_asset))
    }

    /// The file's bytes as stored (uncompressed), for tests and tools.
    pub fn bytes(&self, name: &str) -> Option<&Bytes> {
        self.files.get(name).map(|a| &a.identity)
    }
}

/// A static file in the best coding the client accepts, `304` when its copy is current.
/// Fingerprinted requests are immutable for a year; anything else revalidates.
async fn serve_asset(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    request: Request,
) -> Response {
    let headers = request.headers();
    let Some(asset) = state.site.assets.files.get(&name) else {
        return state.site.pages.not_found.respond(headers);
    };
    let fingerprinted = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("v=")));
    let cache = if fingerprinted {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300, must-revalidate"
    };
    let (body, encoding, etag) = match Coding::negotiate(headers) {
        Coding::Brotli if asset.br.is_some() => (asset.br.clone(), Some("br"), &asset.etags[2]),
        Coding::Gzip if asset.gzip.is_some() => (asset.gzip.clone(), Some("gzip"), &asset.etags[1]),
        _ => (Some(asset.identity.clone()), None, &asset.etags[0]),
    };
    let body = body.expect("the chosen coding exists");
    let mut response = if matches(headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(Body::from(body));
        if let Some(encoding) = encoding {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, asset.content_type.clone());
    out.insert(header::ETAG, etag.clone());
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if asset.gzip.is_some() || asset.br.is_some() {
        out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Whether `If-None-Match` names `etag` (weak or strong, any coding of the same file).
fn matches(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(value) = headers.get(header::IF_NONE_MATCH) else {
        return false;
    };
    let ours = etag.as_bytes();
    let stem = &ours[..ours
        .iter()
        .position(|&b| b == b'-')
        .unwrap_or(ours.len() - 1)];
    value.as_bytes().split(|&b| b == b',').any(|t| {
        let t = t.trim_ascii();
        t == b"*" || t.strip_prefix(b"W/").unwrap_or(t).starts_with(stem)
    })
}
