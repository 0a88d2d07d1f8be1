//! HTTP plumbing shared by every feature: the middleware stack in one function, the
//! health check and the 404 fallback.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::AppState;
use crate::error::error_page;

/// Largest request body accepted anywhere; features may set lower limits of their own.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Time allowed to produce a response's head (streams may run longer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

/// 200 once the site is loaded (it is, or the server would not be running).
async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "articles": state.site.library.articles.len() }))
}

/// Unknown paths: the 404 page with a search box.
pub async fn not_found(State(state): State<AppState>, headers: HeaderMap) -> Response {
    state.site.pages.not_found.respond(&headers)
}

/// The middleware stack, outermost last: static files, security headers, compression,
/// body limit, timeout, panic catching and one log line per request.
pub fn layers(router: Router, state: &AppState) -> Router {
    let static_files = state.site.assets.router().with_state(state.clone());
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .merge(static_files)
        .layer(CatchPanicLayer::custom(|_| error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. The error has been logged.")))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, REQUEST_TIMEOUT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(CompressionLayer::new())
        .layer(header(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::REFERRER_POLICY, "strict-origin-when-cross-origin"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(HeaderName::from_static("permissions-policy"), "camera=(), microphone=(), geolocation=()"))
        .layer(header(HeaderName::from_static("cross-origin-opener-policy"), "same-origin"))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let route = request.extensions().get::<MatchedPath>().map_or("<unmatched>", |m| m.as_str());
                    tracing::info_span!("request", method = %request.method(), uri = %request.uri(), route)
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
