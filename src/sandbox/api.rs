//! HTTP face of the sandbox: `POST /api/run` (Server-Sent Events or JSON) and the no-JS
//! `POST /run` result page. Its counters reach `/metrics` through `crate::metrics`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::accounts::MaybeUser;
use askama::Template;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{Output, RunError, RunOutcome, RunRequest, Sandbox};
use crate::http::ClientKey;
use crate::layout::Layout;
use crate::runtimes::{PickError, RuntimeSet};
use crate::{ApiError, AppState, Error};

/// The sandbox as the server holds it: one pool per Python runtime, a single pool
/// (tests), or refused with the reason.
#[derive(Clone)]
pub enum Runner {
    Ready(Sandbox),
    Runtimes(RuntimeSet),
    Unavailable(String),
}

/// Why a run got no sandbox: an unknown version (422) or none running (503).
enum NoSandbox {
    Unknown(String),
    Run(RunError),
}

impl Runner {
    /// The runtimes, as a set (a single pool is a set of one).
    pub fn runtimes(&self) -> Option<RuntimeSet> {
        match self {
            Runner::Ready(s) => Some(RuntimeSet::single(s.clone())),
            Runner::Runtimes(set) => Some(set.clone()),
            Runner::Unavailable(_) => None,
        }
    }

    /// The pool for `python` ("3.13"; `None`: the default runtime).
    fn sandbox(&self, python: Option<&str>) -> Result<Sandbox, NoSandbox> {
        let set = match self {
            Runner::Ready(s) if python.is_none() => return Ok(s.clone()),
            Runner::Unavailable(why) => {
                return Err(NoSandbox::Run(RunError::Unavailable(why.clone())));
            }
            other => other.runtimes().expect("a running sandbox"),
        };
        match set.pick(python) {
            Ok((_, s)) => Ok(s.clone()),
            Err(PickError::Unknown { asked, available }) => Err(NoSandbox::Unknown(format!(
                "unknown Python version {asked:?}; available: {}",
                available.join(", ")
            ))),
            Err(PickError::Unavailable(why)) => Err(NoSandbox::Run(RunError::Unavailable(why))),
        }
    }

    /// The default sandbox, if it runs.
    pub fn default_sandbox(&self) -> Option<Sandbox> {
        match self {
            Runner::Ready(s) => Some(s.clone()),
            Runner::Runtimes(set) => set
                .default_runtime()
                .and_then(|r| r.state.as_ref().ok().cloned()),
            Runner::Unavailable(_) => None,
        }
    }

    /// The longest a run request may take to answer: its wait in the queue plus its
    /// wall-clock limit, and a little for starting and cleaning up. The request timeout of
    /// the run routes (`crate::http`) follows it, so the sandbox's own answers come first.
    pub fn deadline(&self) -> Option<std::time::Duration> {
        // Every runtime's pool shares the same limits; the default one speaks for them.
        self.default_sandbox().map(|s| {
            let cfg = s.config();
            cfg.queue_wait + cfg.limits.wall + std::time::Duration::from_secs(5)
        })
    }

    pub fn is_ready(&self) -> bool {
        self.default_sandbox().is_some_and(|s| s.is_ready())
    }

    /// The largest program accepted (also the largest shared snippet): the pool's limit,
    /// or the default one when the sandbox is not running.
    pub fn code_limit(&self) -> usize {
        match self.default_sandbox() {
            Some(s) => s.config().limits.code_bytes,
            None => super::Limits::default().code_bytes,
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/run", post(run_code))
        .route("/api/runtimes", get(list_runtimes))
        .route("/run", post(run_form))
}

#[derive(Deserialize)]
struct RunBody {
    code: String,
    /// A runtime id such as "3.13"; absent: the default runtime.
    #[serde(default)]
    python: Option<String>,
}

/// One runtime as `GET /api/runtimes` lists it.
#[derive(Serialize)]
struct RuntimeInfo {
    id: String,
    /// Exact version ("3.14.8"); the id when not running.
    version: String,
    default: bool,
    available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    packages: Vec<crate::runtimes::Package>,
    /// Curated packages with no wheel for this version.
    missing_packages: Vec<String>,
}

/// `GET /api/runtimes`: every configured runtime, its exact version and packages.
async fn list_runtimes(State(state): State<AppState>) -> Response {
    let Some(set) = state.runner.runtimes() else {
        return Json(serde_json::json!({ "default": null, "runtimes": [] })).into_response();
    };
    let runtimes: Vec<RuntimeInfo> = set
        .runtimes
        .iter()
        .map(|r| RuntimeInfo {
            id: r.id.to_string(),
            version: r.version(),
            default: r.id == set.default,
            available: r.state.is_ok(),
            error: r.state.as_ref().err().cloned(),
            packages: r.manifest.packages.clone(),
            missing_packages: r.manifest.missing.clone(),
        })
        .collect();
    Json(serde_json::json!({ "default": set.default.to_string(), "runtimes": runtimes }))
        .into_response()
}

/// `{"code"}` → SSE as the program prints (`Accept: text/event-stream`), else JSON at the end.
async fn run_code(
    State(state): State<AppState>,
    client: ClientKey,
    headers: HeaderMap,
    body: Result<Json<RunBody>, JsonRejection>,
) -> Response {
    let Json(RunBody { code, python }) = match body {
        Ok(b) => b,
        Err(e) => {
            return ApiError(Error::BadRequest(format!(
                "expected JSON {{\"code\": str, \"python\": str (optional)}}: {}",
                e.body_text()
            )))
            .into_response();
        }
    };
    let sandbox = match state.runner.sandbox(python.as_deref()) {
        Ok(s) => s,
        Err(NoSandbox::Unknown(why)) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({ "error": why })),
            )
                .into_response();
        }
        Err(NoSandbox::Run(e)) => return run_error(e),
    };
    let request = RunRequest {
        code,
        client: client.0,
        merge_stderr: false,
    };
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !wants_stream {
        return match sandbox.run(request, None).await {
            Ok(outcome) => Json(outcome).into_response(),
            Err(e) => run_error(e),
        };
    }
    stream_run(sandbox, request).await
}

/// Streams a run as SSE. Admission is decided on the run's first poll, so a refused run
/// still gets its proper status; once streaming, a client that disconnects (Stop)
/// drops the run, which kills it.
async fn stream_run(sandbox: Sandbox, request: RunRequest) -> Response {
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(64);
    let mut run: Pin<Box<dyn Future<Output = Result<RunOutcome, RunError>> + Send>> =
        Box::pin(async move { sandbox.run(request, Some(out_tx)).await });
    if let Poll::Ready(Err(e)) = std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await
    {
        return run_error(e);
    }
    let (tx, rx) = mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let result = loop {
            tokio::select! {
                Some(out) = out_rx.recv() => {
                    if tx.send(output_event(out)).await.is_err() {
                        return; // client gone: dropping `run` kills the program
                    }
                }
                result = &mut run => break result,
                () = tx.closed() => return,
            }
        };
        while let Ok(out) = out_rx.try_recv() {
            let _ = tx.send(output_event(out)).await;
        }
        let last = match result {
            Ok(outcome) => Event::default().event("exit").data(exit_json(&outcome)),
            Err(e) => Event::default()
                .event("error")
                .data(serde_json::json!({ "error": e.to_string() }).to_string()),
        };
        let _ = tx.send(last).await;
    });
    let events = stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// SSE carries lines, and a bare CR would end one: carriage returns become newlines.
fn output_event(out: Output) -> Event {
    let (name, text) = match out {
        Output::Stdout(t) => ("stdout", t),
        Output::Stderr(t) => ("stderr", t),
    };
    Event::default()
        .event(name)
        .data(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// The `exit` event: the JSON result without stdout and stderr (derived from the JSON
/// mode's answer, so the two never drift apart).
fn exit_json(o: &RunOutcome) -> String {
    let mut value = serde_json::to_value(o).expect("a RunOutcome serializes");
    if let Some(fields) = value.as_object_mut() {
        fields.remove("stdout");
        fields.remove("stderr");
    }
    value.to_string()
}

fn run_error(e: RunError) -> Response {
    let body = Json(serde_json::json!({ "error": e.to_string() }));
    match e {
        RunError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, body).into_response(),
        RunError::Busy { retry_after } => {
            let secs = HeaderValue::from(retry_after.as_secs().max(1));
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, secs)],
                body,
            )
                .into_response()
        }
        RunError::QueueTimeout { retry_after, .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            )],
            body,
        )
            .into_response(),
        RunError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, HeaderValue::from(30))],
            body,
        )
            .into_response(),
        RunError::Internal(ref why) => {
            tracing::error!(error = %why, "sandbox failure");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(
                    serde_json::json!({ "error": "the sandbox failed; the error has been logged" }),
                ),
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
struct RunForm {
    code: String,
    /// The runtime picked on the page; empty or absent: the default.
    #[serde(default)]
    python: Option<String>,
}

#[derive(Template)]
#[template(path = "sandbox/run.html")]
struct RunPage<'a> {
    layout: &'a Layout,
    /// Empty: a run result has no URL of its own.
    canonical: String,
    code: &'a str,
    outcome: &'a RunOutcome,
    /// The runtimes to choose from for running again: `(id, selected)`.
    runtimes: Vec<(String, bool)>,
    back: Option<String>,
    /// Where the code came from, for the "Share this code" form: article and anchor.
    share_article: Option<String>,
    share_anchor: Option<String>,
}

/// Without JavaScript, a snippet's Run button posts here and gets the result as a page.
async fn run_form(
    State(state): State<AppState>,
    client: ClientKey,
    MaybeUser(viewer): MaybeUser,
    headers: HeaderMap,
    Form(form): Form<RunForm>,
) -> Result<Response, Error> {
    let python = form.python.as_deref().filter(|p| !p.trim().is_empty());
    let sandbox = state.runner.sandbox(python).map_err(|e| match e {
        NoSandbox::Unknown(why) => Error::BadRequest(why),
        NoSandbox::Run(e) => Error::Unavailable(e.to_string()),
    })?;
    let runtimes = state
        .runner
        .runtimes()
        .map(|set| {
            let chosen = python
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(set.default);
            set.sandboxes()
                .map(|(r, _)| (r.id.to_string(), r.id == chosen))
                .collect()
        })
        .unwrap_or_default();
    let request = RunRequest {
        code: form.code.clone(),
        client: client.0,
        merge_stderr: true,
    };
    let outcome = sandbox.run(request, None).await.map_err(|e| match e {
        RunError::TooLarge { .. } => Error::BadRequest(e.to_string()),
        other => Error::Unavailable(other.to_string()),
    })?;
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(referer_path)
        .filter(|p| p.starts_with("/articles/") || p.starts_with("/s/"))
        .map(str::to_string);
    let (share_article, share_anchor) = match &back {
        Some(path) => crate::shares::source_of_page(&state, path).await,
        None => (None, None),
    };
    let page = RunPage {
        layout: &state.site.layout,
        canonical: String::new(),
        code: &form.code,
        outcome: &outcome,
        runtimes,
        back,
        share_article,
        share_anchor,
    };
    Ok(crate::personal::render_page(&page, viewer.as_deref()))
}

/// The path (with query) of a `Referer`: what follows the scheme and host.
fn referer_path(referer: &str) -> Option<&str> {
    let rest = referer.find("://").map_or(referer, |i| &referer[i + 3..]);
    rest.find('/').map(|i| &rest[i..])
}
