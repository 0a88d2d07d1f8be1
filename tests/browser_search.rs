//! Search in a real headless Chromium: type in the header box, see live results, move with
//! the keyboard, open the article at the matching section with the words marked.
//!
//! [`search_journey`] is the journey itself, written against a fantoccini client and a base
//! URL; the test below runs it with the shared harness (tests/common/browser.rs) against the
//! shipped content.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::browser::{Browser, chromedriver, serve};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::Value;
use snakepit::config::SiteArgs;
use snakepit::sandbox::api::Runner;

async fn eval(c: &Client, expression: &str) -> Value {
    c.execute(&format!("return ({expression});"), vec![])
        .await
        .expect("script runs")
}

/// Polls `expression` until it is `true`, or panics naming `what` after 10 s.
async fn wait_until(c: &Client, expression: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = eval(c, expression).await;
        if v == Value::Bool(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what} ({expression} = {v})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The journey: live results while typing, ↑/↓/Esc/Enter, the article at the section.
pub async fn search_journey(c: &Client, base: &str) {
    c.goto(&format!("{base}/")).await.expect("home page");
    let input = c
        .find(Locator::Id("site-search-input"))
        .await
        .expect("the header search box");
    assert_eq!(
        input.attr("role").await.expect("attr").as_deref(),
        Some("combobox")
    );
    input.click().await.expect("focus the box");

    // Typing (with typos) shows live results; the first is the article meant.
    input.send_keys("mutible defualt").await.expect("type");
    wait_until(
        c,
        "!document.getElementById('site-search-input-results').hidden",
        "the dropdown opens",
    )
    .await;
    wait_until(
        c,
        "document.querySelectorAll('#site-search-input-results .search-option').length > 1",
        "live results",
    )
    .await;
    assert_eq!(
        eval(
            c,
            "document.getElementById('site-search-input').getAttribute('aria-expanded')"
        )
        .await,
        "true"
    );
    let first = eval(
        c,
        "document.querySelector('#site-search-input-results .search-option-title').textContent",
    )
    .await;
    assert!(
        first
            .as_str()
            .is_some_and(|t| t.contains("Mutable default")),
        "first result: {first}"
    );
    assert_eq!(
        eval(
            c,
            "document.querySelectorAll('#site-search-input-results mark').length > 0"
        )
        .await,
        true
    );
    // Each result names its section by title, as the home page does, not by its id.
    let meta = eval(
        c,
        "document.querySelector('#site-search-input-results .search-option-meta').textContent",
    )
    .await;
    assert!(
        meta.as_str()
            .is_some_and(|m| m.starts_with("Pitfalls and gotchas")),
        "section title shown: {meta}"
    );

    // ↓ ↓ ↑ moves the active option; aria-activedescendant follows.
    let active =
        "document.getElementById('site-search-input').getAttribute('aria-activedescendant')";
    input.send_keys(&Key::Down).await.expect("down");
    assert_eq!(eval(c, active).await, "site-search-input-results-0");
    input.send_keys(&Key::Down).await.expect("down");
    assert_eq!(eval(c, active).await, "site-search-input-results-1");
    assert_eq!(
        eval(
            c,
            "document.getElementById('site-search-input-results-1').getAttribute('aria-selected')"
        )
        .await,
        "true"
    );
    input.send_keys(&Key::Up).await.expect("up");
    assert_eq!(eval(c, active).await, "site-search-input-results-0");

    // Esc closes; typing more reopens with fresh results.
    input.send_keys(&Key::Escape).await.expect("escape");
    assert_eq!(
        eval(
            c,
            "document.getElementById('site-search-input-results').hidden"
        )
        .await,
        true
    );
    input.send_keys(" argument").await.expect("type more");
    wait_until(
        c,
        "!document.getElementById('site-search-input-results').hidden",
        "the dropdown reopens",
    )
    .await;

    // Nothing matches: the dropdown offers a correction and the closest articles.
    c.execute("const i = document.getElementById('site-search-input'); i.value = ''; i.dispatchEvent(new Event('input'));", vec![])
        .await
        .expect("clear");
    input.send_keys("dsi").await.expect("type");
    wait_until(
        c,
        "(document.querySelector('#site-search-input-results .search-option-help')||{}).textContent?.includes('Did you mean “dis”') === true",
        "a did-you-mean",
    )
    .await;
    wait_until(
        c,
        "(document.querySelector('#site-search-input-results .search-option-title')||{}).textContent?.includes('dis') === true",
        "the closest article listed",
    )
    .await;

    // A pasted error finds its section; Enter on the active option opens it there.
    c.execute("const i = document.getElementById('site-search-input'); i.value = ''; i.dispatchEvent(new Event('input'));", vec![])
        .await
        .expect("clear");
    input
        .send_keys("UnboundLocalError: local variable 'count' referenced before assignment")
        .await
        .expect("paste");
    wait_until(
        c,
        "(document.querySelector('#site-search-input-results .search-option')||{dataset:{}}).dataset.href?.includes('/articles/scope-and-closures') === true",
        "the error's article first",
    )
    .await;
    input.send_keys(&Key::Down).await.expect("down");
    input.send_keys(&Key::Enter).await.expect("enter");
    wait_until(
        c,
        "location.pathname === '/articles/scope-and-closures'",
        "the article opens",
    )
    .await;
    let hash = eval(c, "location.hash").await;
    assert!(
        hash.as_str().is_some_and(|h| h.len() > 1),
        "opened at a section: {hash}"
    );
    wait_until(
        c,
        "document.querySelectorAll('.prose mark.search-hit').length > 0",
        "matched words marked",
    )
    .await;
    assert_eq!(
        eval(
            c,
            "document.querySelector('.search-target')?.id === location.hash.slice(1)"
        )
        .await,
        true
    );
    assert_eq!(
        eval(c, "location.search.includes('hl=')").await,
        false,
        "the address is cleaned"
    );
    let top = eval(
        c,
        "Math.round(document.querySelector('.search-target').getBoundingClientRect().top)",
    )
    .await;
    let height = eval(c, "window.innerHeight").await;
    assert!(
        top.as_i64()
            .zip(height.as_i64())
            .is_some_and(|(t, h)| t >= 0 && t < h),
        "section scrolled into view: {top}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_types_a_query_and_opens_the_matching_section() {
    let Some(driver) = chromedriver() else { return };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let args = SiteArgs {
        content: root.join("content"),
        static_dir: root.join("static"),
        base_url: None,
    };
    let base = serve(args, Runner::Unavailable("not needed here".into())).await;
    let browser = Browser::start(&driver).await;
    search_journey(&browser.client, &base).await;
    browser.close().await;
}
