//! The real-browser harness: Debian's headless Chromium driven over WebDriver by
//! fantoccini, against the real app on a real loopback listener.
//!
//! `chromedriver` comes from the `chromium-driver` package, which the README's test
//! command installs when missing. Without it these tests fail (they never pass by
//! skipping) unless `SNAKEPIT_SKIP_BROWSER=1` is set explicitly.

use std::net::TcpListener as StdListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use snakepit::accounts::{Accounts, AccountsConfig};
use snakepit::config::SiteArgs;
use snakepit::sandbox::api::Runner;
use snakepit::{AppState, Site, app};

pub fn chromedriver() -> Option<PathBuf> {
    if std::env::var_os("SNAKEPIT_SKIP_BROWSER").is_some_and(|v| v == "1") {
        eprintln!("SNAKEPIT_SKIP_BROWSER=1: skipping a browser test");
        return None;
    }
    let path = std::env::var_os("CHROMEDRIVER")
        .map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    assert!(
        path.exists(),
        "{} not found: install Debian's chromium and chromium-driver (the README's test command does), \
         or set SNAKEPIT_SKIP_BROWSER=1 to skip browser tests",
        path.display()
    );
    Some(path)
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A chromedriver process and a browser session; both end when this is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(driver_path: &PathBuf) -> Browser {
        Self::start_with(driver_path, &[]).await
    }

    /// A browser started with `extra` command-line flags (e.g. `--force-dark-mode`, which
    /// makes `prefers-color-scheme` dark as a system setting would).
    pub async fn start_with(driver_path: &PathBuf, extra: &[&str]) -> Browser {
        let port = free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "args": args, "binary": "/usr/bin/chromium" }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start a browser session through chromedriver: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// The first element matching `css`; panics naming the selector when there is none.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element for {css}: {e}"))
    }

    /// Clicks the first element matching `css`; panics naming the selector on failure.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// The rendered text of the first element matching `css`; panics naming the selector.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("no text for {css}: {e}"))
    }

    /// Types `keys` into the first element matching `css`; panics naming the selector.
    pub async fn type_into(&self, css: &str, keys: &str) {
        self.find(css)
            .await
            .send_keys(keys)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Evaluates a JavaScript expression and returns its JSON value.
    pub async fn eval(&self, expression: &str) -> serde_json::Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .expect("script runs")
    }

    /// Polls `expression` until it is truthy, or panics with `what` after 10 s.
    pub async fn wait_until(&self, expression: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.eval(expression).await;
            if v.as_bool() == Some(true)
                || (!v.is_null() && v.as_bool().is_none() && v != serde_json::json!(""))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for: {what} ({expression} = {v})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Serves the app for `args` on a fresh loopback port (with a fresh database); returns its base URL.
pub async fn serve(args: SiteArgs, runner: Runner) -> String {
    let site = Site::build(&args).expect("site builds");
    let data = tempfile::tempdir().expect("a data directory").keep();
    let db = snakepit::db::open(&data).await.expect("database opens");
    let accounts = Accounts::new(AccountsConfig::default(), &db)
        .await
        .expect("accounts start");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = app(AppState::new(site, runner, db, accounts))
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("server runs");
    });
    format!("http://{addr}")
}
