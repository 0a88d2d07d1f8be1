//! Shared helpers: the real app over the fixture site, driven through the router.
#![allow(dead_code)]

pub mod browser;

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use snakepit::config::SiteArgs;
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
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

pub struct TestApp {
    pub router: axum::Router,
}

impl TestApp {
    pub fn new() -> Self {
        let site = Site::build(&fixture_args()).expect("fixture site builds");
        Self { router: app(AppState::new(site)) }
    }

    pub async fn request(&self, request: Request<Body>) -> Response {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
        Response { status, headers, body }
    }

    pub async fn get(&self, uri: &str) -> Response {
        self.request(Request::get(uri).body(Body::empty()).unwrap()).await
    }
}

/// All matches of a CSS selector, as trimmed text.
pub fn texts(html: &scraper::Html, selector: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(selector).expect("valid selector");
    html.select(&sel).map(|e| e.text().collect::<String>().trim().to_string()).collect()
}

/// All values of `attr` on matches of a CSS selector.
pub fn attrs(html: &scraper::Html, selector: &str, attr: &str) -> Vec<String> {
    let sel = scraper::Selector::parse(selector).expect("valid selector");
    html.select(&sel).filter_map(|e| e.value().attr(attr).map(str::to_string)).collect()
}
