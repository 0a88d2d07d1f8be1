//! Shared helpers: the real app over the fixture site, driven through the router.
#![allow(dead_code)]

pub mod browser;

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use snakepit::accounts::{Accounts, AccountsConfig};
use snakepit::config::SiteArgs;
use snakepit::sandbox::api::Runner;
use snakepit::sandbox::{Limits, Sandbox, SandboxConfig};
use snakepit::{AppState, Site, app};
use tower::ServiceExt;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture_args() -> SiteArgs {
    SiteArgs {
        content: root().join("tests/fixtures/content"),
        static_dir: root().join("static"),
        base_url: Some("https://kb.example.test".into()),
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
    pub fn html(&self) -> scraper::Html {
        scraper::Html::parse_document(&self.text())
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A real sandbox pool for tests: the `snakepit` binary as helper, scratch in a temp dir.
pub async fn start_sandbox(workers: usize, limits: Limits) -> (Sandbox, tempfile::TempDir) {
    let scratch = tempfile::tempdir().expect("scratch dir");
    let cfg = SandboxConfig {
        python: snakepit::sandbox::python::find_python(std::path::Path::new("python3")),
        scratch_root: scratch.path().join("runs"),
        workers,
        queue_len: 8,
        limits,
        helper: Some(PathBuf::from(env!("CARGO_BIN_EXE_snakepit"))),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(cfg).await.expect("the sandbox starts");
    for _ in 0..200 {
        if sandbox.is_ready() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    (sandbox, scratch)
}

/// Where `scripts/ensure-runtimes` installed the Python runtimes (they must be there:
/// `scripts/test` runs it first).
pub fn runtime_dir() -> PathBuf {
    std::env::var_os("SNAKEPIT_RUNTIME_DIR")
        .map_or_else(|| PathBuf::from("/opt/snakepit/runtimes"), PathBuf::from)
}

/// The shipped runtime ids.
pub const RUNTIMES: [&str; 4] = ["3.11", "3.13", "3.14", "3.15"];

/// Every shipped runtime with its packages, `workers` warm workers each, default 3.14.
pub async fn start_runtimes(
    workers: usize,
    limits: Limits,
) -> (snakepit::runtimes::RuntimeSet, tempfile::TempDir) {
    use snakepit::runtimes::{Minor, Plan, RuntimeSet, locate};
    let scratch = tempfile::tempdir().expect("scratch dir");
    let plans = RUNTIMES
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let id: Minor = id.parse().unwrap();
            let (python, packages, manifest) = locate(&runtime_dir(), id);
            Plan {
                id: Some(id),
                sandbox: SandboxConfig {
                    python,
                    packages,
                    scratch_root: scratch.path().join("runs"),
                    workers,
                    queue_len: 8,
                    limits: limits.clone(),
                    helper: Some(PathBuf::from(env!("CARGO_BIN_EXE_snakepit"))),
                    uid_base: 1_500_000 + k as u32 * 1024,
                    ..SandboxConfig::default()
                },
                manifest,
            }
        })
        .collect();
    let set = RuntimeSet::start(plans, Minor::new(3, 14)).await;
    assert_eq!(
        set.sandboxes().count(),
        RUNTIMES.len(),
        "every runtime starts (run scripts/ensure-runtimes)"
    );
    for _ in 0..400 {
        if set.sandboxes().all(|(_, s)| s.is_ready()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    (set, scratch)
}

/// The accounts configuration `serve` uses for the fixture site (https base URL: Secure cookies).
pub fn default_accounts() -> AccountsConfig {
    let args = snakepit::config::AccountArgs::default();
    AccountsConfig::from_args(&args, fixture_args().base_url()).expect("valid defaults")
}

/// The shipped content (not the fixtures), built once per test binary.
pub fn shipped_site() -> std::sync::Arc<Site> {
    static SITE: std::sync::OnceLock<std::sync::Arc<Site>> = std::sync::OnceLock::new();
    SITE.get_or_init(|| {
        let args = SiteArgs {
            content: root().join("content"),
            static_dir: root().join("static"),
            base_url: None,
        };
        std::sync::Arc::new(
            Site::build(&args).unwrap_or_else(|e| panic!("shipped content must build: {e}")),
        )
    })
    .clone()
}

/// The app's state over `site` with a fresh database in a temporary directory.
pub async fn state_for(
    site: impl Into<std::sync::Arc<Site>>,
    config: AccountsConfig,
    runner: Runner,
) -> (AppState, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("a data directory");
    let db = snakepit::db::open(data.path())
        .await
        .expect("database opens");
    let accounts = Accounts::new(config, &db).await.expect("accounts start");
    (AppState::new(site, runner, db, accounts), data)
}

/// The app's state over the fixture site and a fresh database in a temporary directory.
pub async fn test_state(config: AccountsConfig, runner: Runner) -> (AppState, tempfile::TempDir) {
    let site = Site::build(&fixture_args()).expect("fixture site builds");
    let data = tempfile::tempdir().expect("a data directory");
    let db = snakepit::db::open(data.path())
        .await
        .expect("database opens");
    let accounts = Accounts::new(config, &db).await.expect("accounts start");
    (AppState::new(site, runner, db, accounts), data)
}

pub struct TestApp {
    pub router: axum::Router,
    pub sandbox: Option<Sandbox>,
    pub state: AppState,
    pub data: tempfile::TempDir,
    _scratch: Option<tempfile::TempDir>,
}

impl TestApp {
    /// The fixture site without a sandbox (runs answer 503), with a fresh database.
    pub async fn new() -> Self {
        Self::with_config(default_accounts()).await
    }

    /// Like [`TestApp::new`], with other accounts settings.
    pub async fn with_config(config: AccountsConfig) -> Self {
        let runner = Runner::Unavailable("no sandbox in this test".into());
        Self::build(config, runner, None, None).await
    }

    /// The fixture site with a real sandbox pool.
    pub async fn with_sandbox(workers: usize, limits: Limits) -> Self {
        let (sandbox, scratch) = start_sandbox(workers, limits).await;
        let runner = Runner::Ready(sandbox.clone());
        Self::build(default_accounts(), runner, Some(sandbox), Some(scratch)).await
    }

    /// The fixture site with every shipped Python runtime.
    pub async fn with_runtimes(workers: usize, limits: Limits) -> Self {
        let (set, scratch) = start_runtimes(workers, limits).await;
        let sandbox = set.default_runtime().and_then(|r| r.state.clone().ok());
        let runner = Runner::Runtimes(set);
        Self::build(default_accounts(), runner, sandbox, Some(scratch)).await
    }

    async fn build(
        config: AccountsConfig,
        runner: Runner,
        sandbox: Option<Sandbox>,
        scratch: Option<tempfile::TempDir>,
    ) -> Self {
        let (state, data) = test_state(config, runner).await;
        Self {
            router: app(state.clone()),
            sandbox,
            state,
            data,
            _scratch: scratch,
        }
    }

    pub async fn request(&self, request: Request<Body>) -> Response {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Response {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Response {
        self.request(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// Sends a JSON API request, as `session` with its CSRF token when given.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> Response {
        self.request(json_request(method, uri, session, true, body))
            .await
    }

    /// Signs `username` up through `/api/signup` with a good password; returns the new session.
    pub async fn sign_up(&self, username: &str) -> Session {
        let body = json!({"username": username, "password": GOOD_PASSWORD});
        let res = self.call("POST", "/api/signup", None, Some(body)).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
        session_of(&res)
    }

    /// GETs `uri` as `session` (cookie only).
    pub async fn page(&self, uri: &str, session: &Session) -> Response {
        self.request(
            Request::get(uri)
                .header("cookie", &session.cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }
}

/// The password [`TestApp::sign_up`] uses: long enough to be accepted.
pub const GOOD_PASSWORD: &str = "correct horse";

/// A signed-in client: its cookie and CSRF token.
#[derive(Clone)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

/// A request with an optional JSON body, as `session` (with `x-csrf-token` when `csrf`).
pub fn json_request(
    method: &str,
    uri: &str,
    session: Option<&Session>,
    csrf: bool,
    body: Option<Value>,
) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(s) = session {
        b = b.header("cookie", &s.cookie);
        if csrf {
            b = b.header("x-csrf-token", &s.csrf);
        }
    }
    match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

/// A urlencoded form POST, as `session` (cookie only: the form carries its own token).
pub fn form_request(
    uri: &str,
    session: Option<&Session>,
    fields: &[(&str, &str)],
) -> Request<Body> {
    let body = serde_urlencoded::to_string(fields).unwrap();
    let mut b = Request::post(uri).header("content-type", "application/x-www-form-urlencoded");
    if let Some(s) = session {
        b = b.header("cookie", &s.cookie);
    }
    b.body(Body::from(body)).unwrap()
}

/// The session a sign-up or login response starts: its cookie and `csrf_token`.
pub fn session_of(res: &Response) -> Session {
    let set = res.header("set-cookie");
    let cookie = set.split(';').next().unwrap().to_string();
    let body: Value = serde_json::from_slice(&res.body).unwrap();
    Session {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap().to_string(),
    }
}

/// The response body as JSON, failing with the status and text when it is not.
pub fn json_of(res: &Response) -> Value {
    serde_json::from_slice(&res.body)
        .unwrap_or_else(|_| panic!("JSON body, got {}: {}", res.status, res.text()))
}

/// Asserts a `status` with `{"error": "..."}` (a non-empty message); returns the message.
pub fn assert_error(res: &Response, status: StatusCode) -> String {
    assert_eq!(res.status, status, "{}", res.text());
    let message = json_of(res)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!message.is_empty(), "an error message in {}", res.text());
    message
}

/// All matches of a CSS selector, as trimmed text.
pub fn texts(html: &scraper::Html, selector: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(selector).expect("valid selector");
    html.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_string())
        .collect()
}

/// All values of `attr` on matches of a CSS selector.
pub fn attrs(html: &scraper::Html, selector: &str, attr: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(selector).expect("valid selector");
    html.select(&sel)
        .filter_map(|e| e.value().attr(attr).map(str::to_string))
        .collect()
}
