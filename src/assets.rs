//! Static files (`static/`): served by tower-http with compression and long-lived caching.
//! Pages link to them by fingerprinted URL (`/static/app.css?v=<hash>`), so a changed file
//! gets a new URL and a cached copy never goes stale.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::services::ServeDir;

use crate::AppState;

/// Fingerprinted URLs of the files in the static directory.
#[derive(Debug, Clone)]
pub struct Assets {
    dir: PathBuf,
    urls: HashMap<String, String>,
}

impl Assets {
    /// Reads every file once to fingerprint it. A missing directory is an error: pages
    /// without their stylesheet and scripts are not a site.
    pub fn scan(dir: &Path) -> std::io::Result<Self> {
        let mut urls = HashMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| {
            std::io::Error::new(e.kind(), format!("static directory {}: {e}", dir.display()))
        })? {
            let path = entry?.path();
            if path.is_file() {
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string();
                let hash = blake3::hash(&std::fs::read(&path)?).to_hex();
                urls.insert(name.clone(), format!("/static/{name}?v={}", &hash[..12]));
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            urls,
        })
    }

    /// The fingerprinted URL of `name`, or its plain URL if the file is unknown.
    pub fn url(&self, name: &str) -> String {
        self.urls
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("/static/{name}"))
    }

    pub fn router(&self) -> Router<AppState> {
        let serve = ServeDir::new(&self.dir)
            .precompressed_gzip()
            .precompressed_br();
        Router::new()
            .nest_service("/static", serve)
            .layer(middleware::from_fn(cache_headers))
    }
}

/// Fingerprinted requests are immutable for a year; anything else revalidates.
async fn cache_headers(request: Request, next: Next) -> Response {
    let fingerprinted = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("v=")));
    let mut response = next.run(request).await;
    let value = if fingerprinted {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300, must-revalidate"
    };
    if response.status().is_success() || response.status().as_u16() == 304 {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}
