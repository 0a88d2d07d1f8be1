//! HTTP plumbing shared by every feature: the middleware stack in one function, the
//! health check and the 404 fallback.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::AppState;
use crate::accounts::MaybeUser;
use crate::error::{ErrorPageInfo, error_page};
use crate::metrics::{Metrics, RouteGroup};
use crate::sandbox::api::Runner;

/// Largest request body accepted anywhere; features may set lower limits of their own.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Time allowed to produce a response's head (streams may run longer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// The OpenAPI description of the JSON API, kept beside the code it documents.
const OPENAPI: &str = include_str!("openapi.json");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// 200 once the site is loaded and the sandbox pool is warm; 503 (with the reason) before.
async fn healthz(State(state): State<AppState>) -> Response {
    let articles = state.site.library.articles.len();
    match &state.runner {
        Runner::Ready(s) if s.is_ready() => {
            let layers = s.layers().to_string();
            Json(serde_json::json!({ "status": "ok", "articles": articles, "sandbox": layers }))
                .into_response()
        }
        Runner::Ready(_) => {
            let body = serde_json::json!({ "status": "starting", "articles": articles, "sandbox": "warming up" });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
        Runner::Unavailable(why) => {
            let body =
                serde_json::json!({ "status": "degraded", "articles": articles, "sandbox": why });
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

/// One log line per request, and the request metrics: a single event at the end, cheaper
/// than a span per request (which measurably cut page throughput). The route template is an
/// `Arc<str>` shared with the router, so nothing here allocates.
async fn log_requests(
    State(metrics): State<std::sync::Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let _in_flight = metrics.http.start();
    let method = request.method().clone();
    let uri = request.uri().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let took = started.elapsed();
    let route = route.as_ref().map(MatchedPath::as_str);
    let status = response.status();
    metrics
        .http
        .record(&method, RouteGroup::of(route), status, took);
    tracing::info!(
        target: "snakepit::request",
        %method,
        path = uri.path(),
        query = uri.query(),
        route = route.unwrap_or("-"),
        status = status.as_u16(),
        duration_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
    );
    response
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
        Some(v) => crate::personal::common_page(&state.site.pages.not_found, v),
    }
}

/// The middleware stack, innermost first: one log line per request (with the counters),
/// panic catching, timeout, body limit, JSON errors for `/api`, compression, security headers.
pub fn layers(router: Router, state: &AppState) -> Router {
    let static_files = state.site.assets.router().with_state(state.clone());
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .merge(static_files)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            log_requests,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. The error has been logged.",
            )
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.site.clone(),
            finish_errors,
        ))
        .layer(CompressionLayer::new())
        .layer(header(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(
            header::REFERRER_POLICY,
            "strict-origin-when-cross-origin",
        ))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ))
        .layer(header(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ))
}

/// Error answers in their final form: `/api` clients get JSON even from the layers that
/// answer before any handler (413 here); HTML error pages, rendered where no site is at
/// hand, are rendered again with the site's layout (stylesheet, link previews).
async fn finish_errors(
    State(site): State<std::sync::Arc<crate::Site>>,
    request: Request,
    next: Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if let Some(info) = response.extensions_mut().remove::<ErrorPageInfo>() {
        let (mut parts, _) = response.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        response = Response::from_parts(parts, info.render(&site.layout).into());
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if api && response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is too large (at most {BODY_LIMIT} bytes)"),
        );
    }
    response
}

pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
