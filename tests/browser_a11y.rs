//! Accessibility in a real headless Chromium, with the shipped articles:
//! - axe-core (npm, pinned; `scripts/test` puts it in `~/.cache/snakepit-tools`) finds no
//!   violation on any page a reader meets (home, a short and a long article, search with
//!   its dropdown open, sign-in and sign-up, bookmarks, notes, the 404, a shared snippet,
//!   an article signed in with a note and a run's output), in the light theme, the dark
//!   theme chosen with the toggle, and the dark theme from the system setting;
//! - a keyboard-only reader reads, edits, runs, stops, copies and searches with no trap, and
//!   focus comes back to Run after a run and after Stop;
//! - on a phone nothing scrolls sideways, a section link lands with its heading in view
//!   (not under the header), and nothing shifts after the first paint (CLS < 0.05).

mod common;

use std::path::PathBuf;

use common::browser::{Browser, chromedriver, serve};
use fantoccini::key::Key;
use snakepit::config::SiteArgs;
use snakepit::sandbox::api::Runner;

const AXE_VERSION: &str = "4.14.1";
const SHORT: &str = "/articles/mutable-default-arguments";
const LONG: &str = "/articles/dunder-methods";

fn shipped_content() -> SiteArgs {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    SiteArgs {
        content: root.join("content"),
        static_dir: root.join("static"),
        // Plain http here: a session cookie must not be Secure-only.
        base_url: None,
    }
}

/// axe-core's script, from `SNAKEPIT_AXE` or the cache `scripts/test` fills.
fn axe_source() -> String {
    let path = std::env::var_os("SNAKEPIT_AXE").map_or_else(
        || {
            let cache = std::env::var_os("XDG_CACHE_HOME").map_or_else(
                || PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"),
                PathBuf::from,
            );
            cache.join(format!(
                "snakepit-tools/axe-core-{AXE_VERSION}/node_modules/axe-core/axe.min.js"
            ))
        },
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core {AXE_VERSION} not found at {} ({e}): scripts/test installs it (npm), or set SNAKEPIT_AXE",
            path.display()
        )
    })
}

/// Runs axe-core on the page as it stands; returns one line per violation and node.
async fn axe(browser: &Browser, axe: &str) -> Vec<String> {
    let loaded = browser.eval("typeof window.axe === 'object'").await;
    if loaded != true {
        browser
            .client
            .execute(axe, vec![])
            .await
            .expect("axe-core loads");
    }
    let result = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then(r => done(r.violations.flatMap(v => v.nodes.map(n =>
                 v.id + ' (' + v.impact + '): ' + n.target.join(' ') + ' — ' + n.failureSummary.replace(/\\s+/g, ' ')))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe runs");
    serde_json::from_value(result).expect("a list of violations")
}

async fn goto(browser: &Browser, url: &str) {
    browser.client.goto(url).await.expect("page loads");
    browser
        .wait_until("document.readyState === 'complete'", "the page loads")
        .await;
}

/// A page state worth checking: a URL, and a script putting the page in that state.
struct Check {
    name: &'static str,
    path: String,
    setup: &'static str,
}

fn check(name: &'static str, path: &str, setup: &'static str) -> Check {
    Check {
        name,
        path: path.to_string(),
        setup,
    }
}

/// Runs `checks` in `browser`, collecting every violation with where it was found.
async fn audit(
    browser: &Browser,
    base: &str,
    checks: &[Check],
    theme: &str,
    axe_js: &str,
) -> Vec<String> {
    let mut found = Vec::new();
    for c in checks {
        goto(browser, &format!("{base}{}", c.path)).await;
        let dark = browser
            .eval("getComputedStyle(document.documentElement).colorScheme")
            .await;
        assert_eq!(
            dark,
            if theme == "light" { "light" } else { "dark" },
            "{theme} theme on {}",
            c.name
        );
        if !c.setup.is_empty() {
            browser.eval(c.setup).await;
            browser
                .wait_until(
                    "!document.querySelector('.run-status.running')",
                    "the page settles",
                )
                .await;
        }
        for v in axe(browser, axe_js).await {
            found.push(format!("[{theme}] {}: {v}", c.name));
        }
    }
    found
}

/// Signs a reader up through the API in the page; returns the CSRF token.
async fn sign_up(browser: &Browser, base: &str) -> String {
    goto(browser, &format!("{base}/login")).await;
    let token = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/api/signup', { method: 'POST', headers: { 'Content-Type': 'application/json' },
               body: JSON.stringify({ username: 'grace' + Math.floor(Math.random() * 1e6), password: 'correct horse battery' }) })
               .then(r => r.json()).then(j => done(j.csrf_token), e => done(null));",
            vec![],
        )
        .await
        .expect("sign-up runs");
    token.as_str().expect("signed up").to_string()
}

/// In the page: writes a note on the first section of `slug`, bookmarks it and shares a
/// snippet; returns the share's path.
async fn write_things(browser: &Browser, csrf: &str, slug: &str) -> String {
    let shared = browser
        .client
        .execute_async(
            "const [csrf, slug, done] = arguments;
             const h = { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf };
             fetch('/articles/' + slug).then(r => r.text()).then(html => {
               const anchor = new DOMParser().parseFromString(html, 'text/html').querySelector('.prose h2[id]').id;
               return fetch('/api/notes', { method: 'POST', headers: h,
                 body: JSON.stringify({ article: slug, anchor: anchor, body: 'Remember **this** and `that`.' }) });
             })
             .then(() => fetch('/api/notes', { method: 'POST', headers: h,
                 body: JSON.stringify({ article: slug, anchor: null, body: 'A note on the whole article.' }) }))
             .then(() => fetch('/api/bookmarks/' + slug, { method: 'PUT', headers: h }))
             .then(() => fetch('/api/shares', { method: 'POST', headers: h,
                 body: JSON.stringify({ code: 'print(\"shared\")\\n', article: slug }) }))
             .then(r => r.json()).then(j => done(new URL(j.url, location.origin).pathname), e => done('failed: ' + e));",
            vec![serde_json::json!(csrf), serde_json::json!(slug)],
        )
        .await
        .expect("writes run");
    let path = shared.as_str().expect("a share path").to_string();
    assert!(path.starts_with("/s/"), "{path}");
    path
}

/// Runs the first snippet and edits the second (so the run output, the editor and a stale
/// expected output are on the page).
const RUN_AND_EDIT: &str = "(() => {
    document.querySelector('.snippet .run-form button').click();
    const s = document.querySelectorAll('.snippet')[1] || document.querySelector('.snippet');
    s.querySelector('.edit').click();
    const a = s.querySelector('textarea');
    a.value += '\\n# edited'; a.dispatchEvent(new Event('input'));
    return true; })()";

/// Opens the search dropdown with results.
const SEARCH_OPEN: &str = "(() => {
    const i = document.getElementById('site-search-input');
    i.focus(); i.value = 'default argument'; i.dispatchEvent(new Event('input'));
    return true; })()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_axe_violations_in_either_theme() {
    let Some(driver) = chromedriver() else { return };
    let axe_js = axe_source();
    let (sandbox, _scratch) = common::start_sandbox(2, Default::default()).await;
    let base = serve(shipped_content(), Runner::Ready(sandbox)).await;

    let anonymous = |share: &str| {
        vec![
            check("home", "/", ""),
            check("short article", SHORT, ""),
            check("long article", LONG, ""),
            check("article after a run and an edit", SHORT, RUN_AND_EDIT),
            check("search page", "/search?q=closure", ""),
            check("search dropdown", "/", SEARCH_OPEN),
            check("login", "/login", ""),
            check("signup", "/signup", ""),
            check("404", "/no/such/page", ""),
            check("404 with suggestions", "/articles/default-mutable", ""),
            check("shared snippet", share, ""),
        ]
    };
    let signed_in = vec![
        check("article signed in", SHORT, ""),
        check(
            "article signed in, composing a note",
            SHORT,
            "(() => { document.querySelector('.note-add').click(); return true; })()",
        ),
        check("bookmarks", "/bookmarks", ""),
        check("notes", "/notes", ""),
    ];

    let mut violations = Vec::new();
    for (theme, flags) in [
        ("light", &[][..]),
        ("dark (system)", &["--force-dark-mode"][..]),
        ("dark (toggle)", &[][..]),
    ] {
        let browser = Browser::start_with(&driver, flags).await;
        if theme == "dark (toggle)" {
            goto(&browser, &format!("{base}/")).await;
            browser.click(".theme-toggle").await;
            assert_eq!(
                browser.eval("document.documentElement.dataset.theme").await,
                "dark"
            );
        }
        // Anonymous pages, with a snippet shared by a reader who then signs in.
        let csrf = sign_up(&browser, &base).await;
        let share = write_things(&browser, &csrf, SHORT.trim_start_matches("/articles/")).await;
        violations.extend(audit(&browser, &base, &signed_in, theme, &axe_js).await);
        browser.click(".logout-form button").await;
        browser
            .wait_until("!!document.querySelector('.nav-signin')", "signed out")
            .await;
        violations.extend(audit(&browser, &base, &anonymous(&share), theme, &axe_js).await);
        browser.close().await;
    }
    assert!(
        violations.is_empty(),
        "{} axe violations:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

/// Tabs forward until `done` is true of the focused element; panics after `max` presses.
async fn tab_until(browser: &Browser, done: &str, what: &str, max: usize) {
    for _ in 0..max {
        if browser.eval(done).await == true {
            return;
        }
        browser
            .client
            .active_element()
            .await
            .expect("a focused element")
            .send_keys(&Key::Tab)
            .await
            .expect("Tab");
    }
    panic!("Tab never reached {what}");
}

async fn press(browser: &Browser, key: &str) {
    browser
        .client
        .active_element()
        .await
        .expect("a focused element")
        .send_keys(key)
        .await
        .expect("a key press");
}

const FOCUSED: &str = "(document.activeElement.getAttribute('aria-label') || document.activeElement.textContent || document.activeElement.tagName).trim()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_reader_edits_runs_stops_and_copies_without_a_trap() {
    let Some(driver) = chromedriver() else { return };
    let (sandbox, _scratch) = common::start_sandbox(2, Default::default()).await;
    let base = serve(shipped_content(), Runner::Ready(sandbox)).await;
    let browser = Browser::start(&driver).await;
    goto(&browser, &format!("{base}{SHORT}")).await;

    // Tabbing through the page keeps the code highlighted: focus on the code is no edit.
    tab_until(
        &browser,
        "document.activeElement.matches('#snippet-0 pre.code')",
        "the first snippet's code",
        200,
    )
    .await;
    assert_eq!(
        browser
            .eval("document.querySelector('#snippet-0 textarea') === null")
            .await,
        true
    );
    assert_eq!(browser.eval("document.querySelector('#snippet-0 pre.code .hl-keyword, #snippet-0 pre.code [class^=hl-]') !== null").await, true);
    assert_eq!(
        browser
            .eval("document.querySelector('#snippet-0 .run-form button').textContent")
            .await,
        "Run"
    );

    // Typing edits: the editor opens with the character typed, its help shown and announced.
    press(&browser, "#").await;
    assert_eq!(
        browser
            .eval("document.activeElement.matches('#snippet-0 textarea.code-editor')")
            .await,
        true
    );
    let value = browser.eval("document.activeElement.value").await;
    assert!(value.as_str().unwrap().contains('#'), "{value}");
    let hint = browser.eval("document.getElementById(document.activeElement.getAttribute('aria-describedby')).textContent").await;
    assert!(
        hint.as_str().unwrap().contains("Esc leaves the editor"),
        "{hint}"
    );
    assert_eq!(
        browser
            .eval("document.querySelector('#snippet-0 .editor-hint').hidden")
            .await,
        false
    );
    // The expected output now says it is for the original code.
    assert_eq!(
        browser.eval("document.querySelector('#snippet-0 + .run-output + .output-block, #snippet-0 + .output-block').classList.contains('stale')").await,
        true
    );
    // Tab indents inside the editor; Esc leaves it, on Run; Tab then moves on (no trap).
    press(&browser, &Key::Tab).await;
    assert_eq!(
        browser
            .eval("document.activeElement.matches('textarea.code-editor')")
            .await,
        true
    );
    press(&browser, &Key::Escape).await;
    assert_eq!(browser.eval(FOCUSED).await, "Run");
    press(&browser, &Key::Tab).await;
    assert_eq!(
        browser
            .eval("document.activeElement.matches('textarea')")
            .await,
        false
    );

    // Run from the keyboard: focus is back on Run when the run ends.
    browser.eval("(() => { const a = document.querySelector('#snippet-0 textarea'); a.value = 'print(6 * 7)\\n'; a.dispatchEvent(new Event('input')); document.querySelector('#snippet-0 .run-form button').focus(); return true; })()").await;
    press(&browser, &Key::Enter).await;
    browser
        .wait_until(
            "document.querySelector('#snippet-0 + .run-output .run-status.ok') !== null",
            "the run ends",
        )
        .await;
    assert_eq!(
        browser.eval(FOCUSED).await,
        "Run",
        "focus returns to Run after a run"
    );
    assert_eq!(
        browser
            .eval(
                "document.querySelector('#snippet-0 + .run-output .run-output-label').textContent"
            )
            .await,
        "Your output"
    );
    assert_eq!(
        browser
            .eval("document.querySelector('#snippet-0 + .run-output .run-stream').textContent")
            .await,
        "42\n"
    );
    // Your output and the expected output use the same type size.
    assert_eq!(
        browser
            .eval("getComputedStyle(document.querySelector('#snippet-0 + .run-output .run-stream')).fontSize === getComputedStyle(document.querySelector('figure.output-block pre code')).fontSize")
            .await,
        true
    );

    // An endless program: Enter runs it, focus is on Stop, Enter stops it, focus is on Run.
    browser.eval("(() => { const a = document.querySelector('#snippet-0 textarea'); a.value = 'import time\\nwhile True:\\n    print(1, flush=True)\\n    time.sleep(0.1)\\n'; a.dispatchEvent(new Event('input')); document.querySelector('#snippet-0 .run-form button').focus(); return true; })()").await;
    press(&browser, &Key::Enter).await;
    browser.wait_until("document.querySelector('#snippet-0 + .run-output .run-stream').textContent.includes('1')", "output").await;
    assert_eq!(browser.eval(FOCUSED).await, "Stop");
    press(&browser, &Key::Enter).await;
    browser.wait_until("document.querySelector('#snippet-0 + .run-output .run-status').textContent.startsWith('Stopped')", "stopped").await;
    assert_eq!(
        browser.eval(FOCUSED).await,
        "Run",
        "focus returns to Run after Stop"
    );

    // Copy, by keyboard, on the code and on an expected output.
    tab_until(
        &browser,
        "document.activeElement.matches('#snippet-0 .copy-button')",
        "Copy code",
        10,
    )
    .await;
    press(&browser, &Key::Enter).await;
    browser
        .wait_until(
            "document.querySelector('.toast').textContent.startsWith('Copied code')",
            "copied",
        )
        .await;
    assert!(browser.eval("document.querySelectorAll('figure.output-block .copy-button').length === document.querySelectorAll('figure.output-block').length && document.querySelectorAll('figure.output-block').length > 0").await == true);

    // Search by keyboard: "/" focuses the box, arrows pick a result, Tab closes the list.
    browser
        .eval("(() => { document.activeElement.blur(); return true; })()")
        .await;
    browser.type_into("body", "/").await;
    press(&browser, "closure").await;
    browser
        .wait_until(
            "document.querySelectorAll('#site-search-input-results [role=option]').length > 1",
            "results",
        )
        .await;
    assert_eq!(
        browser
            .eval("document.querySelector('#site-search-input-results a') === null")
            .await,
        true,
        "no links inside options"
    );
    press(&browser, &Key::Down).await;
    assert_eq!(
        browser
            .eval("document.getElementById('site-search-input').getAttribute('aria-expanded')")
            .await,
        "true"
    );
    press(&browser, &Key::Tab).await;
    assert_eq!(
        browser
            .eval("document.getElementById('site-search-input').getAttribute('aria-expanded')")
            .await,
        "false"
    );
    assert_eq!(
        browser
            .eval("document.getElementById('site-search-input-results').hidden")
            .await,
        true
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_pages_fit_land_on_their_heading_and_do_not_shift() {
    let Some(driver) = chromedriver() else { return };
    let base = serve(
        shipped_content(),
        Runner::Unavailable("not needed here".into()),
    )
    .await;
    let browser = Browser::start(&driver).await;
    browser.client.set_window_size(390, 844).await.unwrap();
    let width = browser.eval("window.innerWidth").await.as_i64().unwrap();
    assert!(width <= 400, "a phone-sized viewport, got {width}px");

    let csrf = sign_up(&browser, &base).await;
    let share = write_things(&browser, &csrf, SHORT.trim_start_matches("/articles/")).await;
    let signed_in = ["/bookmarks", "/notes", SHORT];
    let mut pages: Vec<String> = signed_in.iter().map(|p| p.to_string()).collect();
    let mut anonymous = vec![
        "/",
        SHORT,
        LONG,
        "/search?q=closure",
        "/search?q=zzzzqqq",
        "/login",
        "/signup",
        "/no/such/page",
        "/articles/default-mutable",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    anonymous.push(share);
    for (i, path) in pages
        .drain(..)
        .chain(std::iter::once("logout".to_string()))
        .chain(anonymous)
        .enumerate()
    {
        if path == "logout" {
            browser.click(".logout-form button").await;
            browser
                .wait_until("!!document.querySelector('.nav-signin')", "signed out")
                .await;
            continue;
        }
        goto(&browser, &format!("{base}{path}")).await;
        let overflow = browser
            .eval("document.documentElement.scrollWidth - window.innerWidth")
            .await;
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{path} ({i}) scrolls sideways on a phone by {overflow}px"
        );
    }

    // A section link opened from chat: the heading is in view, not under the header.
    for (path, heading) in [(LONG, 3), (SHORT, 2)] {
        goto(&browser, &format!("{base}{path}")).await;
        let id = browser
            .eval(&format!(
                "document.querySelectorAll('.prose h2[id]')[{heading}].id"
            ))
            .await;
        let id = id.as_str().expect("a section id").to_string();
        // A fresh load of the link, as when it is opened from a chat message.
        goto(&browser, "about:blank").await;
        goto(&browser, &format!("{base}{path}#{id}")).await;
        let seen = browser.eval(&format!(
            "(() => {{ const h = document.getElementById('{id}'); const r = h.getBoundingClientRect();
                 const at = document.elementFromPoint(Math.min(r.left + 8, innerWidth - 1), r.top + r.height / 2);
                 return r.top >= 0 && r.bottom <= innerHeight && !!at && h.contains(at); }})()"
        )).await;
        assert_eq!(
            seen, true,
            "{path}#{id}: the heading is visible and uncovered"
        );
    }

    // Nothing moves after the first paint: cumulative layout shift well under 0.05.
    for path in ["/", SHORT, LONG, "/search?q=closure"] {
        goto(&browser, &format!("{base}{path}")).await;
        let cls = browser
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; let total = 0;
                 new PerformanceObserver(l => { for (const e of l.getEntries()) if (!e.hadRecentInput) total += e.value; })
                   .observe({ type: 'layout-shift', buffered: true });
                 setTimeout(() => done(total), 1500);",
                vec![],
            )
            .await
            .expect("layout shifts measured");
        let cls = cls.as_f64().unwrap();
        assert!(cls < 0.05, "{path}: cumulative layout shift {cls}");
    }
    browser.close().await;
}
