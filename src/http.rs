//! HTTP plumbing shared by every feature: the middleware stack in one function, the
//! health check and the 404 fallback.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;

use crate::AppState;
use crate::accounts::MaybeUser;
use crate::sandbox::api::Runner;

pub mod conn;
pub mod frame;

/// Largest request body accepted anywhere; features may set lower limits of their own.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Time allowed to produce a response's head (streams may run longer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The OpenAPI description of the JSON API, kept beside the code it documents.
const OPENAPI: &str = include_str!("openapi.json");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi))
}

/// The OpenAPI document, with the `section` values of `/api/search` filled in from the
/// content being served (they change with it).
async fn openapi(State(state): State<AppState>) -> Response {
    let mut doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
    let sections: Vec<&str> = std::iter::once("")
        .chain(state.site.library.sections.iter().map(|s| s.id.as_str()))
        .collect();
    if let Some(params) = doc
        .pointer_mut("/paths/~1api~1search/get/parameters")
        .and_then(|p| p.as_array_mut())
    {
        for p in params.iter_mut().filter(|p| p["name"] == "section") {
            p["schema"]["enum"] = serde_json::json!(sections);
        }
    }
    Json(doc).into_response()
}

/// 200 once the site is loaded and the sandbox pool is warm; 503 (with the reason) before.
async fn healthz(State(state): State<AppState>) -> Response {
    let articles = state.site.library.articles.len();
    match (&state.runner, state.runner.default_sandbox()) {
        (_, Some(s)) if s.is_ready() => {
            let layers = s.layers().to_string();
            Json(serde_json::json!({ "status": "ok", "articles": articles, "sandbox": layers }))
                .into_response()
        }
        (_, Some(_)) => {
            let body = serde_json::json!({ "status": "starting", "articles": articles, "sandbox": "warming up" });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        (Runner::Unavailable(why), _) => {
            let body =
                serde_json::json!({ "status": "degraded", "articles": articles, "sandbox": why });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        (_, None) => {
            let body = serde_json::json!({ "status": "degraded", "articles": articles, "sandbox": "the default Python runtime is not running" });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// The client's address as the listener saw it (`None` when driven without a socket,
/// as in tests). Login limits, proxy trust, run fairness and share limits all use it.
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        ClientIp(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

/// Who is asking, for fairness between clients: the peer address when the server
/// knows it (a real listener), else one shared key.
pub struct ClientKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = ClientIp::of(&parts.extensions).0;
        Ok(ClientKey(
            ip.map_or_else(|| "local".to_string(), |ip| ip.to_string()),
        ))
    }
}

/// Unknown paths: the 404 page with a search box.
pub async fn not_found(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    crate::articles::near_miss::answer(&state, uri.path(), viewer.as_deref(), &headers).await
}

/// The 404 page, with the reader's account links when signed in.
pub fn not_found_page(
    state: &AppState,
    viewer: Option<&crate::accounts::Viewer>,
    headers: &HeaderMap,
) -> Response {
    match viewer {
        None => state.site.pages.not_found.respond(headers),
        Some(v) => crate::personal::common_page(&state.site.pages.not_found, v, headers),
    }
}

/// Time limits and connection limits (`--http-*` flags, see [`crate::config::HttpArgs`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// To send a complete request head once started.
    pub header: Duration,
    /// An idle keep-alive connection stays open; a client may stall reading this long.
    pub idle: Duration,
    /// To send the request body (408 after).
    pub body: Duration,
    /// For a handler to produce the response's head (503 after); run routes get
    /// [`Runner::deadline`] instead.
    pub request: Duration,
    /// Open connections per client address (IPv6: per /64); 0 means no limit.
    pub conns_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            body: Duration::from_secs(20),
            request: REQUEST_TIMEOUT,
            conns_per_client: 128,
        }
    }
}

/// The middleware stack: the request frame ([`frame`]: log line and counters, time limits,
/// body limit, Host check, errors in their final form, security headers) around every
/// route, and compression outside it for what is not already compressed.
pub fn layers(router: Router, state: &AppState) -> Router {
    let static_files = state.site.assets.router().with_state(state.clone());
    let shared = frame::Shared {
        metrics: state.metrics.clone(),
        site: state.site.clone(),
        limits: state.http,
        run_deadline: state.runner.deadline(),
        hsts: state.site.layout.base_url.starts_with("https://"),
    };
    router
        .merge(static_files)
        .layer(frame::FrameLayer(std::sync::Arc::new(shared)))
        .layer(CompressionLayer::new())
}

pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
