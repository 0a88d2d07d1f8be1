//! `/metrics` through the real router and a real sandbox: the exposition parses (every
//! sample `name{labels} value`, every family with `# HELP` and `# TYPE`), and requests of
//! each kind move their counters.

mod common;

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use common::TestApp;
use serde_json::json;
use snakepit::sandbox::Limits;

/// One scrape: samples keyed by `name{labels}` exactly as written, and each family's type.
struct Scrape {
    samples: BTreeMap<String, f64>,
    types: HashMap<String, String>,
}

impl Scrape {
    /// Parses the text format strictly: a sample must belong to a family announced with
    /// HELP and TYPE before it, names and label sets are well formed, values are numbers.
    fn parse(text: &str) -> Scrape {
        let mut helps = HashMap::new();
        let mut types = HashMap::new();
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP name text");
                assert!(!help.trim().is_empty(), "{line}");
                assert!(
                    helps.insert(name.to_string(), help).is_none(),
                    "HELP twice: {name}"
                );
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                assert!(helps.contains_key(name), "TYPE before HELP: {name}");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert!(types.insert(name.to_string(), kind.to_string()).is_none());
                continue;
            }
            assert!(!line.starts_with('#') && !line.is_empty(), "stray {line:?}");
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("number in {line:?}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.starts_with("snakepit_")
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name}"
            );
            if let Some(labels) = series.strip_prefix(name) {
                if !labels.is_empty() {
                    let inner = labels
                        .strip_prefix('{')
                        .and_then(|l| l.strip_suffix('}'))
                        .unwrap_or_else(|| panic!("labels in {line:?}"));
                    for pair in inner.split("\",") {
                        let (key, val) = pair.split_once("=\"").expect("key=\"value\"");
                        assert!(key.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
                        assert!(!val.trim_end_matches('"').contains('"'), "{line}");
                    }
                }
            }
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
                })
                .unwrap_or(name);
            let kind = types
                .get(family)
                .unwrap_or_else(|| panic!("no TYPE before {line:?}"));
            if kind == "counter" {
                assert!(family.ends_with("_total"), "counter {family}");
            }
            assert!(
                samples.insert(series.to_string(), value).is_none(),
                "{series} twice"
            );
        }
        Scrape { samples, types }
    }

    fn get(&self, series: &str) -> f64 {
        self.samples.get(series).copied().unwrap_or(0.0)
    }

    /// Sum over every series of `name` whose labels include all of `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(series, _)| {
                series.split('{').next() == Some(name)
                    && labels
                        .iter()
                        .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let res = app.get("/metrics").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(
        res.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    Scrape::parse(&res.text())
}

#[tokio::test]
async fn requests_of_every_kind_move_their_metrics() {
    let app = TestApp::with_sandbox(1, Limits::default()).await;
    let before = scrape(&app).await;
    assert_eq!(before.types["snakepit_http_requests_total"], "counter");
    assert_eq!(
        before.types["snakepit_http_request_duration_seconds"],
        "histogram"
    );
    assert!(before.get("snakepit_process_start_time_seconds") > 1.6e9);
    assert_eq!(before.get("snakepit_sandbox_pool_size"), 1.0);

    // Pages, a 404, searches (one finding nothing), a run, and a signed-in reader's writes.
    assert_eq!(app.get("/").await.status, StatusCode::OK);
    assert_eq!(
        app.get("/articles/first-steps").await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/no/such/page").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/search?q=lists").await.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/search?q=qqxyzzyvvw").await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/search?q=%20").await.status,
        StatusCode::OK,
        "an empty query is no search"
    );
    assert_eq!(app.get("/search?q=tuples").await.status, StatusCode::OK);
    let run = app
        .call(
            "POST",
            "/api/run",
            None,
            Some(json!({"code": "print(6 * 7)"})),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text());
    assert!(run.text().contains("42"));
    let grace = app.sign_up("grace").await;
    let put = app
        .call("PUT", "/api/bookmarks/first-steps", Some(&grace), None)
        .await;
    assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.text());
    let note_body = json!({"article": "first-steps", "anchor": null, "body": "remember"});
    let note = app
        .call("POST", "/api/notes", Some(&grace), Some(note_body))
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{}", note.text());
    let share_body = json!({"code": "print('shared')", "article": "first-steps"});
    let share = app
        .call("POST", "/api/shares", None, Some(share_body))
        .await;
    assert_eq!(share.status, StatusCode::CREATED, "{}", share.text());
    let page = app.page("/bookmarks", &grace).await;
    assert_eq!(page.status, StatusCode::OK);

    let after = scrape(&app).await;
    let moved =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);
    let requests = "snakepit_http_requests_total";
    let get_ok = [("method", "GET"), ("status", "2xx")];
    for (route, n) in [("home", 1.0), ("article", 1.0), ("bookmarks", 1.0)] {
        let labels = [get_ok[0], get_ok[1], ("route", route)];
        assert_eq!(moved(requests, &labels), n, "{route}");
    }
    assert_eq!(
        moved(requests, &[("route", "search"), ("status", "2xx")]),
        4.0
    );
    assert_eq!(
        moved(requests, &[("route", "unmatched"), ("status", "4xx")]),
        1.0
    );
    assert_eq!(
        moved(requests, &[("method", "POST"), ("route", "run")]),
        1.0
    );
    assert_eq!(
        moved(requests, &[("method", "PUT"), ("route", "bookmarks")]),
        1.0
    );
    assert_eq!(
        moved(requests, &[("method", "POST"), ("route", "notes")]),
        1.0
    );
    // The first scrape is counted once it has been answered.
    assert_eq!(moved(requests, &[("route", "metrics")]), 1.0);

    // Durations: one observation per request, buckets cumulative up to the count.
    let duration = "snakepit_http_request_duration_seconds";
    let count = after.get(&format!("{duration}_count{{route=\"article\"}}"));
    assert_eq!(count, 1.0);
    let inf = after.get(&format!(
        "{duration}_bucket{{route=\"article\",le=\"+Inf\"}}"
    ));
    assert_eq!(inf, count);
    let buckets: Vec<f64> = after
        .samples
        .iter()
        .filter(|(s, _)| s.starts_with(&format!("{duration}_bucket{{route=\"search\"")))
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.len() > 5);
    assert!(after.get(&format!("{duration}_sum{{route=\"run\"}}")) > 0.0);

    // Searches: the empty query never reached the index.
    assert_eq!(
        moved("snakepit_search_queries_total", &[("source", "api")]),
        2.0
    );
    assert_eq!(
        moved("snakepit_search_queries_total", &[("source", "page")]),
        1.0
    );
    assert_eq!(moved("snakepit_search_zero_hits_total", &[]), 1.0);
    assert_eq!(moved("snakepit_search_duration_seconds_count", &[]), 3.0);

    // Runs, through the real sandbox.
    assert_eq!(moved("snakepit_sandbox_runs_total", &[]), 1.0);
    assert_eq!(
        moved("snakepit_sandbox_run_duration_seconds_count", &[]),
        1.0
    );

    // The database, read at scrape time.
    let rows = "snakepit_db_rows";
    assert_eq!(after.sum(rows, &[("table", "users")]), 1.0);
    assert_eq!(after.sum(rows, &[("table", "sessions")]), 1.0);
    assert_eq!(after.sum(rows, &[("table", "bookmarks")]), 1.0);
    assert_eq!(after.sum(rows, &[("table", "notes")]), 1.0);
    assert_eq!(after.sum(rows, &[("table", "shares")]), 1.0);
    assert!(after.get("snakepit_db_pool_connections") >= 1.0);
    assert!(after.sum("snakepit_db_file_size_bytes", &[("file", "db")]) > 0.0);
    assert_eq!(after.types["snakepit_db_errors_total"], "counter");
    assert_eq!(
        after.get("snakepit_http_requests_in_flight"),
        1.0,
        "the scrape itself"
    );
}
