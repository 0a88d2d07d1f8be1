//! Sharing a snippet in a real headless Chromium: an unchanged snippet shares its section's
//! link, an edited one a /s/ link that opens the code, runnable; errors show in the panel.

mod common;

use common::browser::{Browser, chromedriver, serve};
use common::fixture_args;
use snakepit::sandbox::api::Runner;

/// Replaces the code in the snippet's editor, as typing would.
const SET_CODE: &str = "(code) => { const a = document.querySelector('#snippet-0 textarea.code-editor'); a.value = code; a.dispatchEvent(new Event('input')); return true; }";

fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_shares_an_edited_snippet_and_opens_it() {
    let Some(driver) = chromedriver() else { return };
    let (sandbox, _scratch) = common::start_sandbox(2, Default::default()).await;
    let mut args = fixture_args();
    args.base_url = None; // links must lead back to this test server
    let base = serve(args, Runner::Ready(sandbox)).await;
    let browser = Browser::start(&driver).await;
    let c = &browser.client;
    c.goto(&format!("{base}/articles/first-steps"))
        .await
        .unwrap();

    // Unchanged code shares its section's link, without asking the server.
    browser.click("#snippet-0 .share").await;
    browser
        .wait_until(
            "document.querySelector('.share-panel .share-link') && document.querySelector('.share-link').value",
            "the share panel",
        )
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('.share-link').value")
            .await,
        format!("{base}/articles/first-steps#aliasing-surprises")
    );
    assert_eq!(
        browser.eval("document.activeElement.className").await,
        "share-link",
        "the link is focused (and selected) for keyboard readers"
    );
    assert_eq!(
        browser
            .eval("performance.getEntriesByType('resource').filter(e => e.name.includes('/api/shares')).length")
            .await,
        0
    );

    // Edited code is shared through the API; the panel shows the /s/ link.
    browser.click("#snippet-0 .edit").await;
    let code = "words = ['shared', 'code']\nprint(*words, 6 * 7)\n";
    browser
        .eval(&format!("({SET_CODE})({})", js_string(code)))
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('.share-panel').hidden")
            .await,
        true,
        "editing hides the stale link"
    );
    browser.click("#snippet-0 .share").await;
    browser
        .wait_until(
            "document.querySelector('.share-link').value.includes('/s/')",
            "the shared link",
        )
        .await;
    let link = browser
        .eval("document.querySelector('.share-link').value")
        .await;
    let link = link.as_str().unwrap().to_string();
    assert!(link.starts_with(&format!("{base}/s/")), "{link}");
    assert_eq!(
        browser
            .eval("document.querySelector('#snippet-0 .share').getAttribute('aria-expanded')")
            .await,
        "true"
    );

    // Copy: the toast confirms, naming the link (or offers it when the clipboard is refused).
    browser.click(".share-copy").await;
    browser
        .wait_until("!document.querySelector('.toast').hidden", "the copy toast")
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('.toast').dataset.detail")
            .await,
        link.as_str()
    );

    // The link opens the code, from its section, runnable.
    c.goto(&link).await.unwrap();
    assert_eq!(
        browser
            .eval("document.querySelector('#snippet-0 pre.code').textContent")
            .await,
        code
    );
    assert_eq!(
        browser
            .eval("document.querySelector('.share-origin a').getAttribute('href')")
            .await,
        "/articles/first-steps#aliasing-surprises"
    );
    browser.click("#snippet-0 .run-form button").await;
    browser
        .wait_until(
            "document.querySelector('.run-status.ok') !== null",
            "a successful run",
        )
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('.run-stream').textContent")
            .await,
        "shared code 42\n"
    );

    // Sharing it unchanged gives the same link.
    browser.click("#snippet-0 .share").await;
    browser
        .wait_until(
            "document.querySelector('.share-link') && document.querySelector('.share-link').value",
            "the share panel",
        )
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('.share-link').value")
            .await,
        link.as_str()
    );
    // Escape closes the panel and gives focus back to Share.
    browser
        .eval("document.querySelector('.share-link').dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true}))")
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('.share-panel').hidden")
            .await,
        true
    );
    assert_eq!(
        browser
            .eval("document.activeElement.classList.contains('share')")
            .await,
        true
    );

    // Errors show in the panel: code over the size limit.
    browser.click("#snippet-0 .edit").await;
    browser
        .eval(&format!("({SET_CODE})('x = 1\\n'.repeat(20000))"))
        .await;
    browser.click("#snippet-0 .share").await;
    browser
        .wait_until(
            "document.querySelector('.share-panel.failed') !== null",
            "the error",
        )
        .await;
    let message = browser
        .eval("document.querySelector('.share-message').textContent")
        .await;
    assert!(message.as_str().unwrap().contains("too large"), "{message}");
    assert_eq!(
        browser
            .eval("document.querySelector('.share-link').hidden")
            .await,
        true
    );
    browser.close().await;
}
