//! Several Python runtimes through the real router and real sandboxes: a run on each
//! version, `GET /api/runtimes`, the 422 for an unknown version, real pandas and pytest
//! snippets, shares keeping their version, and `snakepit check` per version.

mod common;

use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use common::{RUNTIMES, TestApp, root};
use serde_json::{Value, json};
use snakepit::sandbox::Limits;

/// Imports of pandas and friends take a few seconds on a loaded 2-core machine.
fn roomy_limits() -> Limits {
    Limits {
        wall: Duration::from_secs(30),
        cpu: Duration::from_secs(30),
        ..Limits::default()
    }
}

async fn run(app: &TestApp, python: Option<&str>, code: &str) -> (StatusCode, Value) {
    let mut body = json!({ "code": code });
    if let Some(p) = python {
        body["python"] = json!(p);
    }
    let res = app.call("POST", "/api/run", None, Some(body)).await;
    let value = serde_json::from_slice(&res.body).unwrap_or(Value::Null);
    (res.status, value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runtime_runs_its_own_interpreter_with_its_packages() {
    let app = TestApp::with_runtimes(1, roomy_limits()).await;

    let listed = app.get("/api/runtimes").await;
    assert_eq!(listed.status, StatusCode::OK);
    let listed: Value = serde_json::from_slice(&listed.body).unwrap();
    assert_eq!(listed["default"], "3.14");
    let ids: Vec<&str> = listed["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, RUNTIMES);
    for r in listed["runtimes"].as_array().unwrap() {
        assert_eq!(r["available"], true, "{r}");
        let names: Vec<&str> = r["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for must in [
            "pytest",
            "numpy",
            "pandas",
            "polars",
            "pydantic",
            "attrs",
            "hypothesis",
            "sqlalchemy",
        ] {
            assert!(
                names.contains(&must)
                    || r["missing_packages"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|m| m == must),
                "{must} is neither installed nor reported missing on {}",
                r["id"]
            );
        }
    }

    // Each version answers with its own interpreter, labelled with the exact version.
    let code = "import sys\nprint('%d.%d' % sys.version_info[:2])";
    for id in RUNTIMES {
        let (status, v) = run(&app, Some(id), code).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["stdout"], format!("{id}\n"), "{v}");
        let exact = v["python"].as_str().unwrap();
        assert!(exact.starts_with(&format!("{id}.")), "{exact}");
        let listed_version = listed["runtimes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["version"]
            .clone();
        assert_eq!(listed_version, exact);
    }
    // No version: the default, 3.14.
    let (_, v) = run(&app, None, code).await;
    assert_eq!(v["stdout"], "3.14\n");

    // One runtime's packages are out of another's reach (Landlock and sys.path alike).
    let peek = "import os\ntry:\n    os.listdir('/opt/snakepit/runtimes/packages/3.13')\n    print('readable')\nexcept OSError as e:\n    print(type(e).__name__)";
    let (_, v) = run(&app, Some("3.14"), peek).await;
    assert_eq!(v["stdout"], "PermissionError\n", "{v}");

    // An unknown version: 422 naming the ones there are.
    for bad in ["3.12", "2.7", "latest"] {
        let (status, v) = run(&app, Some(bad), "print(1)").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        let error = v["error"].as_str().unwrap();
        assert!(error.contains("3.11, 3.13, 3.14, 3.15"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pandas_and_pytest_run_for_real() {
    let app = TestApp::with_runtimes(1, roomy_limits()).await;
    // pandas 3 (Copy-on-Write): chained assignment never changes the original frame.
    let pandas = "import pandas as pd\n\
        df = pd.DataFrame({'a': [1, 2, 3], 'b': [10, 20, 30]})\n\
        df[df['a'] > 1]['b'] = 0\n\
        print(df['b'].tolist(), pd.__version__.split('.')[0])";
    for id in ["3.11", "3.15"] {
        let (status, v) = run(&app, Some(id), pandas).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["exit_code"], 0, "{id}: {v}");
        assert!(
            v["stdout"].as_str().unwrap().starts_with("[10, 20, 30] "),
            "{id}: {v}"
        );
    }
    let pytest = "import pathlib, pytest\n\
        pathlib.Path('test_demo.py').write_text('def test_ok():\\n    assert 1 + 1 == 2\\n\\ndef test_bad():\\n    assert [1] == [2]\\n')\n\
        code = pytest.main(['-q', '-p', 'no:cacheprovider', 'test_demo.py'])\n\
        print('exit', int(code))";
    let (_, v) = run(&app, Some("3.14"), pytest).await;
    let out = v["stdout"].as_str().unwrap();
    assert!(out.contains("1 failed, 1 passed"), "{v}");
    assert!(out.contains("exit 1"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_keep_their_version() {
    let app = TestApp::with_runtimes(1, Limits::default()).await;
    let code = "print('shared')";
    let plain = app
        .call("POST", "/api/shares", None, Some(json!({ "code": code })))
        .await;
    assert_eq!(plain.status, StatusCode::CREATED);
    let plain: Value = serde_json::from_slice(&plain.body).unwrap();
    let versioned = app
        .call(
            "POST",
            "/api/shares",
            None,
            Some(json!({ "code": code, "python": "3.13" })),
        )
        .await;
    assert_eq!(versioned.status, StatusCode::CREATED);
    let versioned: Value = serde_json::from_slice(&versioned.body).unwrap();
    assert_ne!(
        plain["id"], versioned["id"],
        "the version is part of the share"
    );

    let id = versioned["id"].as_str().unwrap();
    let got = app.get(&format!("/api/shares/{id}")).await;
    let got: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(got["python"], "3.13");
    let got = app
        .get(&format!("/api/shares/{}", plain["id"].as_str().unwrap()))
        .await;
    let got: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(got["python"], Value::Null);

    // The page opens on that version, with and without JavaScript.
    let page = app.get(&format!("/s/{id}")).await.html();
    let sel = scraper::Selector::parse(
        "figure.snippet[data-python-chosen='3.13'] form.run-form input[name=python][value='3.13']",
    )
    .unwrap();
    assert_eq!(page.select(&sel).count(), 1);

    let bad = app
        .call(
            "POST",
            "/api/shares",
            None,
            Some(json!({ "code": code, "python": "3.9" })),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_no_js_run_page_offers_the_versions() {
    let app = TestApp::with_runtimes(1, Limits::default()).await;
    let res = app
        .request(
            axum::http::Request::post("/run")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(
                    "code=import+sys%0Aprint(sys.version_info[1])&python=3.11",
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let page = res.html();
    let out = scraper::Selector::parse(".run-stream").unwrap();
    assert_eq!(
        page.select(&out).next().unwrap().text().collect::<String>(),
        "11\n"
    );
    let text = res.text();
    assert!(
        text.contains("Python 3.11."),
        "the output names the exact version"
    );
    let selected = scraper::Selector::parse("select[name=python] option[selected]").unwrap();
    let chosen: Vec<String> = page.select(&selected).map(|o| o.text().collect()).collect();
    assert_eq!(chosen, ["3.11"]);
    let options = scraper::Selector::parse("select[name=python] option").unwrap();
    assert_eq!(page.select(&options).count(), RUNTIMES.len());
}

fn check(content: &std::path::Path) -> (bool, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_snakepit"))
        .args(["check", "--workers", "1", "--content"])
        .arg(content)
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn check_runs_every_version_and_catches_a_wrong_versioned_output() {
    let fixture = root().join("tests/fixtures/versions");
    let (ok, out) = check(&fixture);
    assert!(ok, "{out}");
    // The gated snippet runs on 3.14 and 3.15 only.
    assert!(out.contains("Python 3.11 (3.11."), "{out}");
    assert!(out.contains("): 1 snippet run(s), 0 problem(s)"), "{out}");
    assert!(out.contains("): 2 snippet run(s), 0 problem(s)"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("basics")).unwrap();
    std::fs::copy(
        fixture.join("sections.toml"),
        dir.path().join("sections.toml"),
    )
    .unwrap();
    let article = std::fs::read_to_string(fixture.join("basics/versions.md")).unwrap();
    let wrong = article.replace(
        "```output 3.13\nPython 3.13\n",
        "```output 3.13\nPython 3.12\n",
    );
    assert_ne!(wrong, article);
    std::fs::write(dir.path().join("basics/versions.md"), wrong).unwrap();
    let (ok, out) = check(dir.path());
    assert!(!ok, "{out}");
    assert!(
        out.contains("versions.md:20 [3.13]: output differs from a real run:"),
        "{out}"
    );
    assert!(
        out.contains("- Python 3.12") && out.contains("+ Python 3.13"),
        "{out}"
    );
    assert!(out.contains("Python 3.13 (3.13."), "{out}");
    assert!(out.contains("1 snippet run(s), 1 problem(s)"), "{out}");
    assert!(!out.contains("[3.11]") && !out.contains("[3.14]"), "{out}");

    // --python limits the check to one runtime.
    let data = tempfile::tempdir().unwrap();
    let only = Command::new(env!("CARGO_BIN_EXE_snakepit"))
        .args(["check", "--python", "3.11", "--content"])
        .arg(dir.path())
        .arg("--data")
        .arg(data.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&only.stdout);
    assert!(only.status.success(), "{text}");
    assert!(
        text.contains("Python 3.11 (") && !text.contains("Python 3.13 ("),
        "{text}"
    );
}
