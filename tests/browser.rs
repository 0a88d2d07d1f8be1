//! What readers click, in a real headless Chromium: browsing, copy-link and the theme.

mod common;

use common::browser::{Browser, chromedriver, serve};
use common::fixture_args;
use fantoccini::Locator;
use snakepit::sandbox::api::Runner;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_browses_copies_a_section_link_and_switches_theme() {
    let Some(driver) = chromedriver() else { return };
    let base = serve(
        fixture_args(),
        Runner::Unavailable("not needed here".into()),
    )
    .await;
    let browser = Browser::start(&driver).await;
    let c = &browser.client;

    // The home page lists the articles; a click opens one.
    c.goto(&format!("{base}/")).await.unwrap();
    let links = c.find_all(Locator::Css(".article-link")).await.unwrap();
    assert_eq!(links.len(), 3);
    assert_eq!(links[0].text().await.unwrap(), "First steps with lists");
    links[0].click().await.unwrap();
    browser
        .wait_until(
            "location.pathname === '/articles/first-steps'",
            "the article opens",
        )
        .await;
    assert_eq!(browser.text("h1").await, "First steps with lists");

    // The copy-link button on a heading yields that section's full URL.
    browser
        .click(".heading:has(#a-nested-case) .copy-link")
        .await;
    browser
        .wait_until("!document.querySelector('.toast').hidden", "the copy toast")
        .await;
    let copied = browser
        .eval("document.querySelector('.toast').dataset.detail")
        .await;
    assert_eq!(
        copied.as_str().unwrap(),
        format!("{base}/articles/first-steps#a-nested-case")
    );
    assert_eq!(browser.eval("location.hash").await, "#a-nested-case");

    // The theme toggle flips the theme, changes the colours, and the choice sticks.
    let before = browser
        .eval("getComputedStyle(document.body).backgroundColor")
        .await;
    let initial = browser
        .eval("matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'")
        .await;
    let expected = if initial == "dark" { "light" } else { "dark" };
    browser.click(".theme-toggle").await;
    assert_eq!(
        browser.eval("document.documentElement.dataset.theme").await,
        expected
    );
    let after = browser
        .eval("getComputedStyle(document.body).backgroundColor")
        .await;
    assert_ne!(
        before, after,
        "the background colour changes with the theme"
    );
    c.goto(&format!("{base}/articles/second-look"))
        .await
        .unwrap();
    assert_eq!(
        browser.eval("document.documentElement.dataset.theme").await,
        expected,
        "the choice persists"
    );

    // "/" focuses the search box; the previous/next links navigate.
    browser.type_into("body", "/").await;
    assert_eq!(
        browser.eval("document.activeElement.id").await,
        "site-search-input"
    );
    browser.click(".pager-next").await;
    browser
        .wait_until(
            "location.pathname === '/articles/deep-dive'",
            "next article",
        )
        .await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_fit_a_phone_screen() {
    let Some(driver) = chromedriver() else { return };
    let base = serve(
        fixture_args(),
        Runner::Unavailable("not needed here".into()),
    )
    .await;
    let browser = Browser::start(&driver).await;
    let c = &browser.client;
    c.set_window_size(390, 844).await.unwrap();
    for path in ["/", "/articles/first-steps", "/nope"] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let overflow = browser
            .eval("document.documentElement.scrollWidth - window.innerWidth")
            .await;
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{path} scrolls sideways on a phone by {overflow}px"
        );
    }
    // On a narrow screen the table of contents comes before the article text.
    c.goto(&format!("{base}/articles/first-steps"))
        .await
        .unwrap();
    let toc_above = browser
        .eval("document.querySelector('.toc').getBoundingClientRect().top < document.querySelector('.prose').getBoundingClientRect().top")
        .await;
    assert_eq!(toc_above, true);
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_runs_edits_and_stops_snippets() {
    let Some(driver) = chromedriver() else { return };
    let limits = snakepit::sandbox::Limits {
        wall: std::time::Duration::from_secs(8),
        ..Default::default()
    };
    let (sandbox, _scratch) = common::start_sandbox(2, limits).await;
    let base = serve(fixture_args(), Runner::Ready(sandbox)).await;
    let browser = Browser::start(&driver).await;
    let c = &browser.client;
    c.goto(&format!("{base}/articles/first-steps"))
        .await
        .unwrap();

    // Run: the output appears under the snippet with its exit status.
    browser.click("#snippet-0 .run-form button").await;
    browser
        .wait_until(
            "document.querySelector('.run-status.ok') !== null",
            "a successful run",
        )
        .await;
    let out = browser
        .eval("document.querySelector('.run-stream').textContent")
        .await;
    assert_eq!(out, "[1, 2, 3]\n");
    let status = browser
        .eval("document.querySelector('.run-status').textContent")
        .await;
    assert!(
        status.as_str().unwrap().starts_with("Exit code 0 · "),
        "{status}"
    );

    // Edit: Tab indents, Enter keeps the indentation; the edited code is what runs; stderr is marked.
    browser.click("#snippet-0 .edit").await;
    browser.eval("(() => { const a = document.querySelector('textarea.code-editor'); a.value = ''; a.dispatchEvent(new Event('input')); return true; })()").await;
    browser
        .type_into(
            "#snippet-0 textarea.code-editor",
            "import sys, time\nfor i in range(3):\nprint('line', i, flush=True)\ntime.sleep(0.3)\n",
        )
        .await;
    let typed = browser
        .eval("document.querySelector('textarea.code-editor').value")
        .await;
    assert_eq!(
        typed.as_str().unwrap(),
        "import sys, time\nfor i in range(3):\n    print('line', i, flush=True)\n    time.sleep(0.3)\n    ",
        "Enter keeps (and after a colon adds) indentation"
    );
    browser.eval("(() => { const a = document.querySelector('textarea.code-editor'); a.value = a.value.trimEnd() + \"\\nprint('bad', file=sys.stderr)\\n\"; a.dispatchEvent(new Event('input')); return true; })()").await;
    browser.click("#snippet-0 .run-form button").await;
    // Live: the first line shows while the program is still running.
    browser
        .wait_until(
            "document.querySelector('.run-stream').textContent.includes('line 0')",
            "live output",
        )
        .await;
    let still_running = browser
        .eval("document.querySelector('.run-status').textContent")
        .await;
    assert_eq!(still_running, "Running…");
    browser
        .wait_until(
            "document.querySelector('.run-status.ok') !== null",
            "the edited run ends",
        )
        .await;
    let stderr = browser.eval("Array.from(document.querySelectorAll('.run-stream .stderr')).map(e => e.textContent).join('')").await;
    assert_eq!(stderr, "bad\n");

    // Stop: an endless program is stopped by the reader, and the button comes back.
    browser.eval("(() => { const a = document.querySelector('textarea.code-editor'); a.value = 'import time\\nwhile True:\\n    print(\"tick\", flush=True)\\n    time.sleep(0.1)\\n'; a.dispatchEvent(new Event('input')); return true; })()").await;
    browser.click("#snippet-0 .run-form button").await;
    browser
        .wait_until(
            "document.querySelector('.run-stream').textContent.includes('tick')",
            "ticks",
        )
        .await;
    browser.click("#snippet-0 .stop").await;
    browser
        .wait_until(
            "document.querySelector('.run-status').textContent.startsWith('Stopped after')",
            "stopped",
        )
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('#snippet-0 .run-form button').hidden")
            .await,
        false
    );

    // Reset brings back the original, highlighted code.
    browser.click("#snippet-0 .reset").await;
    assert_eq!(
        browser
            .eval("document.querySelector('#snippet-0 textarea') === null")
            .await,
        true
    );
    let code = browser
        .eval("document.querySelector('#snippet-0 pre.code').textContent")
        .await;
    assert_eq!(code, "a = [1, 2]\nb = a\nb.append(3)\nprint(a)\n");
    browser.close().await;
}
