//! The request frame: the one middleware every request passes through, outside everything
//! a handler can do wrong. It counts and logs the request (so timeouts, panics, refused and
//! oversized requests are in the log and `/metrics` like any other answer), bounds the time
//! to the response's head and the time to receive the body, checks the `Host` header, turns
//! errors into their final form (JSON under `/api`, the site's error page elsewhere) and adds
//! the security headers.
//!
//! It is one hand-written [`tower::Service`] instead of a stack of `from_fn` middleware and
//! header layers: each of those cost a boxed future, a clone of its state and a pass over the
//! response per request (README, "Benchmarks", for what merging them bought).

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use tower::{Layer, Service};

use super::{BODY_LIMIT, Limits, json_error};
use crate::Site;
use crate::error::{ErrorPageInfo, error_page};
use crate::metrics::{Metrics, RouteGroup};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// Sent on every response that does not set its own.
const SECURITY_HEADERS: [(HeaderName, &str); 6] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    ),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
];

/// Sent when the site's public URL is https: browsers then never try plain http again.
const HSTS: &str = "max-age=31536000";

/// Seconds a client is asked to wait after a timeout or an overload.
const RETRY_AFTER_SECS: u64 = 5;

/// Marks a request that arrived on a connection refused for being over its client's
/// connection limit (set by [`super::conn`]): the frame answers it 503 and nothing else runs.
#[derive(Debug, Clone, Copy)]
pub struct OverConnectionLimit;

/// Marks a request read from a socket by the accept loop ([`super::conn`]), as opposed to
/// one handed to the router directly (tests): only those are held to HTTP/1.1's Host rules.
#[derive(Debug, Clone, Copy)]
pub struct FromWire;

/// What the frame needs, shared by every route's copy of it.
pub struct Shared {
    pub metrics: Arc<Metrics>,
    pub site: Arc<Site>,
    pub limits: Limits,
    /// The run routes' time to answer (queue wait + wall-clock limit), when the sandbox runs.
    pub run_deadline: Option<Duration>,
    pub hsts: bool,
}

#[derive(Clone)]
pub struct FrameLayer(pub Arc<Shared>);

impl<S> Layer<S> for FrameLayer {
    type Service = Frame<S>;

    fn layer(&self, inner: S) -> Frame<S> {
        Frame {
            inner,
            shared: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Frame<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for Frame<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let shared = self.shared.clone();
        let log = Entry::of(&request);
        let refusal = refusal(&request);
        let body_timed_out = match refusal {
            None => guard_body(&mut request, started + shared.limits.body),
            Some(_) => None,
        };
        let run = log.method == Method::POST && matches!(log.path(), "/api/run" | "/run");
        let deadline = match shared.run_deadline {
            Some(run_deadline) if run => run_deadline,
            _ => shared.limits.request,
        };
        let inner = refusal.is_none().then(|| self.inner.call(request));
        Box::pin(async move {
            let _in_flight = shared.metrics.http.start();
            let mut response = match (refusal, inner) {
                (Some(refused), _) => refused.respond(log.api),
                (None, Some(inner)) => {
                    match tokio::time::timeout(deadline, AssertUnwindSafe(inner).catch_unwind())
                        .await
                    {
                        Ok(Ok(Ok(response))) => response,
                        Ok(Ok(Err(never))) => match never {},
                        Ok(Err(_panic)) => error_response(
                            log.api,
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Something went wrong on our side. The error has been logged.",
                        ),
                        Err(_elapsed) => timed_out(log.api, deadline),
                    }
                }
                (None, None) => unreachable!("a request is either refused or handled"),
            };
            if body_timed_out.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
                response = error_response(
                    log.api,
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the request body did not arrive within {} s",
                        shared.limits.body.as_secs()
                    ),
                );
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            let mut response = finish(response, &shared.site, log.api);
            let headers = response.headers_mut();
            for (name, value) in &SECURITY_HEADERS {
                if !headers.contains_key(name) {
                    headers.insert(name.clone(), HeaderValue::from_static(value));
                }
            }
            if shared.hsts {
                headers.insert(
                    header::STRICT_TRANSPORT_SECURITY,
                    HeaderValue::from_static(HSTS),
                );
            }
            log.write(&shared.metrics, response.status(), started.elapsed());
            Ok(response)
        })
    }
}

/// What the log line and the counters need, taken before the request is handed on.
struct Entry {
    method: Method,
    uri: axum::http::Uri,
    route: Option<MatchedPath>,
    api: bool,
}

impl Entry {
    fn of(request: &Request) -> Self {
        Entry {
            method: request.method().clone(),
            uri: request.uri().clone(),
            route: request.extensions().get::<MatchedPath>().cloned(),
            api: request.uri().path().starts_with("/api/"),
        }
    }

    fn path(&self) -> &str {
        self.uri.path()
    }

    /// One log line per request, and the request metrics: a single event at the end,
    /// cheaper than a span per request.
    fn write(&self, metrics: &Metrics, status: StatusCode, took: Duration) {
        let route = self.route.as_ref().map(MatchedPath::as_str);
        metrics
            .http
            .record(&self.method, RouteGroup::of(route), status, took);
        tracing::info!(
            target: "snakepit::request",
            method = %self.method,
            path = self.uri.path(),
            query = self.uri.query(),
            route = route.unwrap_or("-"),
            status = status.as_u16(),
            duration_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
        );
    }
}

/// Why a request is answered before any handler sees it.
enum Refusal {
    /// HTTP/1.1 without a `Host` header, or any request with two.
    Host,
    /// A declared body over [`BODY_LIMIT`].
    TooLarge,
    /// The connection is over its client's connection limit.
    Overloaded,
}

impl Refusal {
    fn respond(self, api: bool) -> Response {
        match self {
            Refusal::Host => error_response(
                api,
                StatusCode::BAD_REQUEST,
                "a request needs exactly one Host header",
            ),
            Refusal::TooLarge => error_response(
                api,
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is too large (at most {BODY_LIMIT} bytes)"),
            ),
            Refusal::Overloaded => {
                let mut response = error_response(
                    api,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many open connections from your address; close some and retry",
                );
                let headers = response.headers_mut();
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
                response
            }
        }
    }
}

fn refusal(request: &Request) -> Option<Refusal> {
    let extensions = request.extensions();
    if extensions.get::<OverConnectionLimit>().is_some() {
        return Some(Refusal::Overloaded);
    }
    // Requests from the network (not tests driving the router directly): HTTP/1.1 requires
    // exactly one Host header (RFC 9112, 3.2), and two are a classic smuggling vector.
    if extensions.get::<FromWire>().is_some() {
        let mut hosts = request.headers().get_all(header::HOST).iter();
        let first = hosts.next();
        let required = request.version() >= Version::HTTP_11;
        if hosts.next().is_some() || (first.is_none() && required) {
            return Some(Refusal::Host);
        }
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Some(Refusal::TooLarge);
    }
    None
}

/// Bounds the body: at most [`BODY_LIMIT`] bytes (handlers answer 413 past it), received by
/// `deadline` (the frame answers 408 past it). Requests without a body are left alone.
fn guard_body(request: &mut Request, deadline: Instant) -> Option<Arc<AtomicBool>> {
    if http_body::Body::is_end_stream(request.body()) {
        return None;
    }
    let flag = Arc::new(AtomicBool::new(false));
    let body = std::mem::replace(request.body_mut(), Body::empty());
    let timed = TimedBody {
        inner: body,
        deadline,
        sleep: None,
        timed_out: flag.clone(),
    };
    *request.body_mut() = Body::new(http_body_util::Limited::new(timed, BODY_LIMIT));
    Some(flag)
}

/// A request body that fails once its deadline passes, and says so through `timed_out`.
struct TimedBody {
    inner: Body,
    deadline: Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        if sleep.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new("the request body timed out"))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The answer when the handler did not produce a response's head in time.
fn timed_out(api: bool, deadline: Duration) -> Response {
    let mut response = error_response(
        api,
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "the server could not answer within {} s; try again in a moment",
            deadline.as_secs()
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    response
}

/// `{"error": message}` under `/api`, the error page elsewhere.
fn error_response(api: bool, status: StatusCode, message: &str) -> Response {
    if api {
        json_error(status, message)
    } else {
        error_page(status, message)
    }
}

/// Error answers in their final form: HTML error pages, rendered where no site is at hand,
/// are rendered again with the site's layout (stylesheet, link previews); a 413 that some
/// layer answered in plain text becomes JSON under `/api`.
fn finish(mut response: Response, site: &Site, api: bool) -> Response {
    if let Some(info) = response.extensions_mut().remove::<ErrorPageInfo>() {
        let (mut parts, _) = response.into_parts();
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, info.render(&site.layout).into());
    }
    if api && response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if !is_json {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is too large (at most {BODY_LIMIT} bytes)"),
            );
        }
    }
    response.into_response()
}
