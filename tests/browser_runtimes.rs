//! The Python version picker in a real headless Chromium: pick 3.11, run, see 3.11's
//! output and expected output; pick 3.15, see 3.15's; the choice is remembered.

mod common;

use common::browser::{Browser, chromedriver, serve};
use common::root;
use snakepit::config::SiteArgs;
use snakepit::sandbox::api::Runner;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_picks_a_python_version_per_snippet() {
    let Some(driver) = chromedriver() else { return };
    let (set, _scratch) = common::start_runtimes(1, snakepit::sandbox::Limits::default()).await;
    let args = SiteArgs {
        content: root().join("tests/fixtures/versions"),
        static_dir: root().join("static"),
        base_url: None,
    };
    let base = serve(args, Runner::Runtimes(set)).await;
    let browser = Browser::start(&driver).await;
    let c = &browser.client;
    c.goto(&format!("{base}/articles/versions")).await.unwrap();
    browser
        .wait_until(
            "document.querySelectorAll('select.python-picker').length === 2",
            "a picker on each snippet",
        )
        .await;
    // Shown before any choice: the default, 3.14, and its expected output.
    let shown = "Array.from(document.querySelectorAll('#snippet-0 ~ figure.output-block')).slice(0, 4).filter(f => !f.hidden).map(f => f.querySelector('pre').textContent).join('|')";
    assert_eq!(
        browser
            .eval("document.querySelector('#snippet-0 select').value")
            .await,
        "3.14"
    );
    assert_eq!(browser.eval(shown).await, "Python 3.14\n");
    // The gated snippet offers only the versions it runs on.
    let offered = browser
        .eval("Array.from(document.querySelectorAll('#snippet-1 select option')).map(o => o.value).join(',')")
        .await;
    assert_eq!(offered, "3.14,3.15");

    for (id, exact) in [("3.11", "3.11."), ("3.15", "3.15.")] {
        browser
            .eval(&format!("(() => {{ const s = document.querySelector('#snippet-0 select'); s.value = '{id}'; s.dispatchEvent(new Event('change')); return true; }})()"))
            .await;
        assert_eq!(
            browser.eval(shown).await,
            format!("Python {id}\n"),
            "expected output of {id}"
        );
        browser.click("#snippet-0 .run-form button").await;
        browser
            .wait_until(
                &format!("(document.querySelector('#snippet-0 + .run-output .run-status.ok') || {{}}).textContent?.includes('Python {exact}')"),
                "a run labelled with the exact version",
            )
            .await;
        let out = browser
            .eval("document.querySelector('#snippet-0 + .run-output .run-stream').textContent")
            .await;
        assert_eq!(out, format!("Python {id}\n"));
    }
    // 3.15 is remembered site-wide: after a reload both snippets are on it.
    c.refresh().await.unwrap();
    browser
        .wait_until(
            "document.querySelectorAll('select.python-picker').length === 2",
            "pickers after reload",
        )
        .await;
    let values = browser
        .eval("Array.from(document.querySelectorAll('select.python-picker')).map(s => s.value).join(',')")
        .await;
    assert_eq!(values, "3.15,3.15");
    browser.close().await;
}
