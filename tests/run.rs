//! `POST /api/run`, `POST /run` and `/metrics` through the real router and a real sandbox.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestApp, texts};
use http_body_util::BodyExt;
use snakepit::sandbox::Limits;
use tower::ServiceExt;

fn run_request(code: &str, stream: bool) -> Request<Body> {
    let body = serde_json::json!({ "code": code }).to_string();
    let mut req = Request::post("/api/run").header("content-type", "application/json");
    if stream {
        req = req.header("accept", "text/event-stream");
    }
    req.body(Body::from(body)).unwrap()
}

fn quick_limits() -> Limits {
    Limits {
        wall: Duration::from_secs(3),
        ..Limits::default()
    }
}

/// `(event, data)` pairs of a complete SSE body.
fn parse_sse(text: &str) -> Vec<(String, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut name = "message".to_string();
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                }
            }
            (!data.is_empty()).then(|| (name, data.join("\n")))
        })
        .collect()
}

#[tokio::test]
async fn json_mode_returns_the_whole_result() {
    let app = TestApp::with_sandbox(2, quick_limits()).await;
    let res = app
        .request(run_request(
            "import sys\nprint('hi')\nprint('oops', file=sys.stderr)\nsys.exit(3)",
            false,
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(v["stdout"], "hi\n");
    assert_eq!(v["stderr"], "oops\n");
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["signal"], serde_json::Value::Null);
    assert_eq!(v["timed_out"], false);
    assert_eq!(v["truncated"], false);
    assert!(v["duration_ms"].as_u64().unwrap() < 3000);
}

#[tokio::test]
async fn event_stream_carries_output_then_exit() {
    let app = TestApp::with_sandbox(2, quick_limits()).await;
    let code = "import sys, time\nprint('one')\nsys.stdout.flush()\ntime.sleep(0.2)\nprint('two\\nthree')\n1/0\n";
    let res = app.request(run_request(code, true)).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.header("content-type").starts_with("text/event-stream"));
    let events = parse_sse(&res.text());
    let stdout: String = events
        .iter()
        .filter(|(n, _)| n == "stdout")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(stdout, "one\ntwo\nthree\n");
    let stderr: String = events
        .iter()
        .filter(|(n, _)| n == "stderr")
        .map(|(_, d)| d.as_str())
        .collect();
    assert!(
        stderr.contains("ZeroDivisionError: division by zero"),
        "{stderr}"
    );
    assert!(stderr.contains("File \"main.py\", line 6"), "{stderr}");
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "exit");
    let exit: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(exit["exit_code"], 1);
    assert!(
        exit.get("stdout").is_none(),
        "the exit event has no output fields"
    );
    assert!(events.iter().position(|(n, _)| n == "stdout").unwrap() < events.len() - 1);
}

#[tokio::test]
async fn output_arrives_while_the_program_still_runs() {
    let app = TestApp::with_sandbox(1, quick_limits()).await;
    let code = "import time\nprint('early', flush=True)\ntime.sleep(1.5)\nprint('late')";
    let res = app
        .router
        .clone()
        .oneshot(run_request(code, true))
        .await
        .unwrap();
    let mut body = res.into_body();
    let started = std::time::Instant::now();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("early"),
        "{first:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "the first line was held back"
    );
}

#[tokio::test]
async fn timeouts_are_reported() {
    let limits = Limits {
        wall: Duration::from_millis(700),
        ..Limits::default()
    };
    let app = TestApp::with_sandbox(1, limits).await;
    let res = app
        .request(run_request(
            "import time\nprint('start', flush=True)\ntime.sleep(30)",
            false,
        ))
        .await;
    let v: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(v["timed_out"], true, "{v}");
    assert_eq!(v["stdout"], "start\n");
}

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let app = TestApp::with_sandbox(1, quick_limits()).await;
    let cases = [
        ("{not json", StatusCode::BAD_REQUEST),
        (r#"{"source": "x"}"#, StatusCode::BAD_REQUEST),
        ("[]", StatusCode::BAD_REQUEST),
    ];
    for (body, _) in cases {
        let req = Request::post("/api/run")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let res = app.request(req).await;
        assert!(res.status.is_client_error(), "{body}: {}", res.status);
        let v: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
        assert!(
            v["error"].as_str().unwrap().contains("expected JSON"),
            "{v}"
        );
    }
    let big = "x = 1\n".repeat(20_000);
    let res = app.request(run_request(&big, false)).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    let v: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert!(v["error"].as_str().unwrap().contains("larger than"), "{v}");
}

#[tokio::test]
async fn without_a_sandbox_runs_get_503_with_the_reason() {
    let app = TestApp::new().await;
    let res = app.request(run_request("print(1)", true)).await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!res.header("retry-after").is_empty());
    let v: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("no sandbox in this test")
    );
}

#[tokio::test]
async fn overload_is_answered_429_with_retry_after() {
    let app = TestApp::with_sandbox(1, quick_limits()).await;
    // One run holds the only worker; this client's queue share (4 of 8) fills up.
    let mut pending = Vec::new();
    for _ in 0..5 {
        let router = app.router.clone();
        pending.push(tokio::spawn(async move {
            router
                .oneshot(run_request("import time; time.sleep(1)", false))
                .await
        }));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let res = app
        .request(run_request("print('one too many')", true))
        .await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(res.header("retry-after").parse::<u64>().unwrap() >= 1);
    for p in pending {
        p.abort();
    }
}

#[tokio::test]
async fn a_hostile_run_does_not_stop_the_site() {
    let app = TestApp::with_sandbox(2, quick_limits()).await;
    let router = app.router.clone();
    let bomb = tokio::spawn(async move {
        router.oneshot(run_request("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass", false)).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let page = app.get("/articles/first-steps").await;
        assert_eq!(page.status, StatusCode::OK);
    }
    let res = app.request(run_request("print('still here')", false)).await;
    let v: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(v["stdout"], "still here\n");
    let bomb = bomb.await.unwrap().unwrap();
    let body = bomb.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["timed_out"], true, "{v}");
}

#[tokio::test]
async fn stopping_a_stream_kills_the_run() {
    let app = TestApp::with_sandbox(1, quick_limits()).await;
    let res = app
        .router
        .clone()
        .oneshot(run_request(
            "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.05)",
            true,
        ))
        .await
        .unwrap();
    let mut body = res.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("tick"));
    drop(body); // the reader presses Stop
    // The only worker is free again well before the 3 s wall limit would have ended the run.
    let started = std::time::Instant::now();
    let res = app.request(run_request("print('next')", false)).await;
    let v: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
    assert_eq!(v["stdout"], "next\n");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the stopped run kept its worker"
    );
}

#[tokio::test]
async fn the_run_form_works_without_javascript() {
    let app = TestApp::with_sandbox(1, quick_limits()).await;
    let req = Request::post("/run")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("referer", "http://localhost/articles/first-steps")
        .body(Body::from(
            "code=print(%22%3Cb%3Ehi%3C%2Fb%3E%22)%0D%0Aprint(2)",
        ))
        .unwrap();
    let res = app.request(req).await;
    assert_eq!(res.status, StatusCode::OK);
    let html = res.html();
    assert_eq!(texts(&html, ".run-stream"), ["<b>hi</b>\n2"]);
    assert!(texts(&html, ".run-status")[0].starts_with("Exit code 0"));
    assert_eq!(
        common::attrs(&html, ".run-page a", "href"),
        ["/articles/first-steps"]
    );
}

#[tokio::test]
async fn article_snippets_have_a_run_button_that_posts_their_code() {
    let app = TestApp::new().await;
    let html = app.get("/articles/first-steps").await.html();
    assert_eq!(
        common::attrs(&html, "figure.snippet form.run-form", "action"),
        ["/run"]
    );
    let code = common::attrs(
        &html,
        "figure.snippet form.run-form input[name=code]",
        "value",
    );
    assert_eq!(code, ["a = [1, 2]\nb = a\nb.append(3)\nprint(a)\n"]);
    assert_eq!(texts(&html, "figure.snippet form.run-form button"), ["Run"]);
}

#[tokio::test]
async fn metrics_count_runs_and_requests() {
    let app = TestApp::with_sandbox(1, quick_limits()).await;
    app.request(run_request("print(1)", false)).await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.header("content-type").starts_with("text/plain"));
    let text = res.text();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    };
    assert_eq!(value("snakepit_sandbox_runs_total"), 1.0, "{text}");
    assert_eq!(value("snakepit_sandbox_pool_size"), 1.0, "{text}");
    assert!(
        value("snakepit_http_requests_total{method=\"POST\",route=\"run\",status=\"2xx\"}") >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn the_exit_event_names_the_limit_that_ended_the_run() {
    let limits = Limits {
        wall: Duration::from_millis(700),
        ..Limits::default()
    };
    let app = TestApp::with_sandbox(1, limits).await;
    let res = app
        .request(run_request(
            "import time\nprint('zzz', flush=True)\ntime.sleep(30)",
            true,
        ))
        .await;
    let events = parse_sse(&res.text());
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "exit");
    let exit: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(exit["timed_out"], true, "{exit}");
    assert_eq!(exit["killed_by"], "wall", "{exit}");
    assert!(
        exit.get("stdout").is_none() && exit.get("stderr").is_none(),
        "{exit}"
    );
}
