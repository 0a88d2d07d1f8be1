//! Every failure answers clearly, and connections are bounded: the real accept loop
//! (`http::conn::serve`) on a loopback port, spoken to in raw HTTP/1.1, and the request
//! frame's timeouts through the real router (issue 16; issue 19, item 12).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use common::{TestApp, default_accounts, test_state};
use snakepit::AppState;
use snakepit::sandbox::api::Runner;
use snakepit::sandbox::{Limits, Sandbox, SandboxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// The fixture site without a sandbox, served by the real accept loop with `limits`.
async fn serve(limits: snakepit::http::Limits) -> (SocketAddr, AppState, tempfile::TempDir) {
    let runner = Runner::Unavailable("no sandbox in this test".into());
    let (mut state, data) = test_state(default_accounts(), runner).await;
    state.http = limits;
    let addr = listen(state.clone()).await;
    (addr, state, data)
}

async fn listen(state: AppState) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let limits = state.http;
    let app = snakepit::app(state);
    tokio::spawn(snakepit::http::conn::serve(
        listener,
        app,
        limits,
        std::future::pending(),
    ));
    addr
}

fn limits() -> snakepit::http::Limits {
    snakepit::http::Limits::default()
}

/// Reads until the server closes the connection (or errors); `None` if it stays open
/// for `within`.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&out).into_owned())
}

/// Reads one response whose body has a Content-Length.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("a response within 10 s")
            .expect("read");
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if out.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

async fn exchange(addr: SocketAddr, raw: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(raw.as_bytes()).await.expect("write");
    read_to_close(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server answers and closes")
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

fn body_of(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn header_of<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = response.split_once("\r\n\r\n").map_or(response, |(h, _)| h);
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn a_slow_request_head_is_cut_off() {
    let (addr, _state, _data) = serve(snakepit::http::Limits {
        header: Duration::from_secs(1),
        idle: Duration::from_secs(60),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    // A head that never ends, sent a little at a time (slowloris).
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        let mut buf = [0u8; 256];
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if stream
                .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(1), stream.read(&mut buf)).await
            {
                return;
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a trickled request head kept its connection for 15 s"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let (addr, _state, _data) = serve(snakepit::http::Limits {
        header: Duration::from_secs(1),
        idle: Duration::from_secs(4),
        ..limits()
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(status_of(&read_response(&mut stream).await), 200);
    // Idle longer than the header timeout: still open (idle is not a slow head).
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(status_of(&read_response(&mut stream).await), 200);
    // Then idle past the idle timeout: closed by the server.
    let idle_from = Instant::now();
    let rest = read_to_close(&mut stream, Duration::from_secs(20)).await;
    assert_eq!(
        rest.as_deref(),
        Some(""),
        "an idle connection stayed open for 20 s"
    );
    assert!(
        idle_from.elapsed() >= Duration::from_secs(3),
        "{:?}",
        idle_from.elapsed()
    );
}

#[tokio::test]
async fn a_client_cannot_hold_more_than_its_share_of_connections() {
    let (addr, _state, _data) = serve(snakepit::http::Limits {
        conns_per_client: 3,
        ..limits()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(status_of(&read_response(&mut stream).await), 200);
        held.push(stream);
    }
    // The fourth is answered 503 with Retry-After (JSON under /api) and closed.
    let refused = exchange(addr, "GET /api/me HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status_of(&refused), 503, "{refused}");
    assert!(header_of(&refused, "retry-after").is_some(), "{refused}");
    let error: serde_json::Value = serde_json::from_str(body_of(&refused)).expect("JSON");
    assert!(
        error["error"].as_str().unwrap().contains("connections"),
        "{error}"
    );
    let page = exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status_of(&page), 503);
    assert!(
        body_of(&page).contains("<html"),
        "an HTML error page: {page}"
    );
    // Once one is closed, the client may connect again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = exchange(
            addr,
            "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        if status_of(&answer) == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused after a connection closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The refusals were counted like any other answer.
    let mut stream = held.pop().unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let metrics = read_response(&mut stream).await;
    assert!(
        metrics.contains(
            r#"snakepit_http_requests_total{method="GET",route="account",status="5xx"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn requests_need_exactly_one_host_header() {
    let (addr, _state, _data) = serve(limits()).await;
    let two = exchange(
        addr,
        "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&two), 400, "{two}");
    let none = exchange(addr, "GET /api/me HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&none), 400, "{none}");
    let error: serde_json::Value = serde_json::from_str(body_of(&none)).expect("JSON");
    assert!(error["error"].as_str().unwrap().contains("Host"), "{error}");
    // HTTP/1.0 has no Host requirement; one Host is fine.
    let old = exchange(addr, "GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(status_of(&old), 200);
    let one = exchange(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&one), 200);
}

#[tokio::test]
async fn a_slow_request_body_gets_408() {
    let (addr, _state, _data) = serve(snakepit::http::Limits {
        body: Duration::from_secs(1),
        ..limits()
    })
    .await;
    for (path, kind, api) in [
        ("/api/run", "application/json", true),
        ("/run", "application/x-www-form-urlencoded", false),
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\nContent-Length: 100\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(b"{\"code\": \"pri").await.unwrap();
        let started = Instant::now();
        let answer = read_to_close(&mut stream, Duration::from_secs(15))
            .await
            .expect("answered and closed within 15 s");
        assert_eq!(status_of(&answer), 408, "{path}: {answer}");
        assert!(started.elapsed() < Duration::from_secs(10));
        if api {
            let error: serde_json::Value = serde_json::from_str(body_of(&answer)).expect("JSON");
            assert!(error["error"].as_str().unwrap().contains("body"), "{error}");
        } else {
            assert!(body_of(&answer).contains("408"), "{answer}");
        }
    }
}

/// A log writer the test can read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn request_timeouts_answer_clearly_and_are_logged_and_counted() {
    let log = Captured::default();
    let writer = log.clone();
    let _subscriber = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish(),
    );
    let runner = Runner::Unavailable("no sandbox in this test".into());
    let (mut state, _data) = test_state(default_accounts(), runner).await;
    // Other tests of this binary may have met the log line's callsite while no subscriber
    // existed (concurrently with `set_default`): have its interest computed again.
    tracing::callsite::rebuild_interest_cache();
    state.http.request = Duration::from_millis(500);
    async fn slow() -> &'static str {
        tokio::time::sleep(Duration::from_secs(30)).await;
        "too late"
    }
    let routes = Router::new()
        .route("/api/slow", get(slow))
        .route("/slow", get(slow))
        .merge(snakepit::metrics::router())
        .with_state(state.clone());
    let app = snakepit::http::layers(routes, &state);
    let call = |path: &str| {
        app.clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
    };
    let api = call("/api/slow").await.unwrap();
    assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(api.headers().contains_key("retry-after"));
    assert!(api.headers().contains_key("content-security-policy"));
    let body = axum::body::to_bytes(api.into_body(), 1 << 20)
        .await
        .unwrap();
    let error: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert!(
        error["error"].as_str().unwrap().contains("within"),
        "{error}"
    );
    let page = call("/slow").await.unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.headers().contains_key("retry-after"));
    let body = axum::body::to_bytes(page.into_body(), 1 << 20)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains("<html"));
    let metrics = call("/metrics").await.unwrap();
    let body = axum::body::to_bytes(metrics.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&body);
    for series in [
        r#"snakepit_http_requests_total{method="GET",route="api",status="5xx"} 1"#,
        r#"snakepit_http_requests_total{method="GET",route="other",status="5xx"} 1"#,
    ] {
        assert!(text.contains(series), "{series} in\n{text}");
    }
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("status=503")).collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].contains("path=\"/api/slow\"") || lines[0].contains("path=/api/slow"),
        "{log}"
    );
}

/// A real sandbox whose runs may wait `queue_wait` for a worker.
async fn sandbox_with_queue_wait(
    queue_wait: Duration,
    wall: Duration,
) -> (Sandbox, tempfile::TempDir) {
    let scratch = tempfile::tempdir().unwrap();
    let cfg = SandboxConfig {
        python: snakepit::sandbox::python::find_python(std::path::Path::new("python3")),
        scratch_root: scratch.path().join("runs"),
        workers: 1,
        queue_len: 8,
        queue_wait,
        limits: Limits {
            wall,
            ..Limits::default()
        },
        helper: Some(env!("CARGO_BIN_EXE_snakepit").into()),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(cfg).await.expect("the sandbox starts");
    let started = Instant::now();
    while !sandbox.is_ready() && started.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (sandbox, scratch)
}

fn run_request(code: &str) -> Request<Body> {
    Request::post("/api/run")
        .header("content-type", "application/json")
        .body(Body::from(serde_json::json!({ "code": code }).to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_run_that_waits_too_long_in_the_queue_gets_503_json_with_retry_after() {
    let (sandbox, _scratch) =
        sandbox_with_queue_wait(Duration::from_secs(1), Duration::from_secs(10)).await;
    let (state, _data) = test_state(default_accounts(), Runner::Ready(sandbox.clone())).await;
    let app = snakepit::app(state);
    let first = tokio::spawn(
        app.clone()
            .oneshot(run_request("import time; time.sleep(6); print('done')")),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while sandbox.metrics().running == 0 {
        assert!(Instant::now() < deadline, "the first run never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let second = app.clone().oneshot(run_request("print(2)")).await.unwrap();
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(second.headers().contains_key("retry-after"));
    let body = axum::body::to_bytes(second.into_body(), 1 << 20)
        .await
        .unwrap();
    let error: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert!(
        error["error"].as_str().unwrap().contains("worker"),
        "{error}"
    );
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_json_run_may_take_longer_than_the_request_timeout() {
    let (sandbox, _scratch) =
        sandbox_with_queue_wait(Duration::from_secs(5), Duration::from_secs(10)).await;
    let (mut state, _data) = test_state(default_accounts(), Runner::Ready(sandbox.clone())).await;
    state.http.request = Duration::from_secs(1);
    let app = snakepit::app(state);
    let response = app
        .oneshot(run_request("import time; time.sleep(2.5); print('done')"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(outcome["stdout"], "done\n", "{outcome}");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn hsts_is_sent_only_when_the_public_url_is_https() {
    let https = TestApp::new().await; // the fixture site's base URL is https
    for path in ["/", "/api/me", "/nope"] {
        let res = https.get(path).await;
        assert_eq!(
            res.header("strict-transport-security"),
            "max-age=31536000",
            "{path}"
        );
    }
    let mut args = common::fixture_args();
    args.base_url = Some("http://kb.example.test".into());
    let site = snakepit::Site::build(&args).unwrap();
    let runner = Runner::Unavailable("none".into());
    let (state, _data) = common::state_for(site, default_accounts(), runner).await;
    let res = snakepit::app(state)
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.headers().contains_key("strict-transport-security"));
}
