//! A reader's account journey in a real headless Chromium: sign up, bookmark an article,
//! write a note on a section, find it on /notes, sign out.

mod common;

use common::browser::{Browser, chromedriver, serve};
use common::fixture_args;
use fantoccini::Locator;
use snakepit::sandbox::api::Runner;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_signs_up_bookmarks_writes_a_section_note_and_signs_out() {
    let Some(driver) = chromedriver() else { return };
    let mut args = fixture_args();
    args.base_url = None; // plain http here: the session cookie must not be Secure-only
    let base = serve(args, Runner::Unavailable("no sandbox in this test".into())).await;
    let browser = Browser::start(&driver).await;
    let c = &browser.client;

    // An anonymous reader is invited to sign in; the invitation leads to sign-up and back.
    c.goto(&format!("{base}/articles/first-steps"))
        .await
        .unwrap();
    assert_eq!(browser.text(".nav-signin").await, "Sign in");
    browser.click(".article-tools a.star-button").await;
    browser
        .wait_until("location.pathname === '/login'", "the login page")
        .await;
    browser.click("a[href^='/signup']").await;
    browser
        .wait_until("location.pathname === '/signup'", "the sign-up page")
        .await;
    browser.type_into("#username", "ada").await;
    browser
        .type_into("#password", "correct horse battery")
        .await;
    browser.click(".account-form button").await;
    browser
        .wait_until(
            "location.pathname === '/articles/first-steps'",
            "back on the article",
        )
        .await;
    assert_eq!(browser.text(".nav-user").await, "ada");

    // The star toggles in place (JavaScript), and the state sticks across a reload.
    browser.click(".star-form .star-button").await;
    browser
        .wait_until(
            "document.querySelector('.star-button').getAttribute('aria-pressed') === 'true'",
            "starred",
        )
        .await;
    c.refresh().await.unwrap();
    browser
        .wait_until(
            "document.querySelector('.star-button').getAttribute('aria-pressed') === 'true'",
            "still starred",
        )
        .await;

    // The note button beside a heading opens a composer under that section; the note is
    // saved without a reload (the page keeps its state) and shows there, sanitized.
    browser
        .eval("(() => { window.notReloaded = true; return true; })()")
        .await;
    browser
        .click(".heading:has(#a-nested-case) .note-add")
        .await;
    browser
        .wait_until(
            "document.activeElement.matches('.note-composer[data-anchor=\"a-nested-case\"] textarea')",
            "the composer under the section has focus",
        )
        .await;
    browser
        .type_into(
            ".note-composer textarea",
            "Copy **deeply** here <script>alert(1)</script>",
        )
        .await;
    browser.click(".note-composer button[type=submit]").await;
    browser
        .wait_until(
            "!!document.querySelector('.section-notes[data-anchor=\"a-nested-case\"] .note')",
            "the new note under its section",
        )
        .await;
    assert_eq!(
        browser.eval("window.notReloaded === true").await,
        true,
        "saved without a reload"
    );
    // Right under its heading's row, before the section's text.
    assert_eq!(
        browser.eval("document.querySelector('.heading:has(#a-nested-case)').nextElementSibling.matches('.section-notes')").await,
        true
    );
    let group = browser.eval("document.querySelector('.section-notes[data-anchor=\"a-nested-case\"] .note-body').innerHTML").await;
    assert!(
        group.as_str().unwrap().contains("<strong>deeply</strong>"),
        "{group}"
    );
    assert!(!group.as_str().unwrap().contains("<script"), "{group}");
    // After a reload the server puts it in the same place.
    c.refresh().await.unwrap();
    let group = browser.eval("document.querySelector('.heading:has(#a-nested-case) + .section-notes .note-body').innerHTML").await;
    assert!(
        group.as_str().unwrap().contains("<strong>deeply</strong>"),
        "{group}"
    );

    // Bookmarks and notes pages list them; the search finds the note.
    browser.click(".header-nav a[href='/bookmarks']").await;
    browser
        .wait_until("location.pathname === '/bookmarks'", "bookmarks")
        .await;
    assert_eq!(
        browser.text(".bookmark-link").await,
        "First steps with lists"
    );
    browser.click(".header-nav a[href='/notes']").await;
    browser
        .wait_until("location.pathname === '/notes'", "notes")
        .await;
    browser.type_into("#notes-q", "deeply").await;
    browser.click(".notes-search button").await;
    browser
        .wait_until("location.search === '?q=deeply'", "the search ran")
        .await;
    let found = c.find_all(Locator::Css(".note-entry")).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        browser.text(".note-where a").await,
        "First steps with lists › A nested case"
    );
    // /notes has Delete: the note goes, without a reload, and stays gone.
    browser
        .eval("(() => { window.confirm = () => true; return true; })()")
        .await;
    browser.click(".note-entry .note-delete button").await;
    browser
        .wait_until(
            "document.querySelectorAll('.note-entry').length === 0",
            "the note deleted",
        )
        .await;
    c.goto(&format!("{base}/notes")).await.unwrap();
    assert_eq!(
        browser
            .eval("document.querySelectorAll('.note-entry').length")
            .await,
        0
    );

    // Sign out: the header offers sign-in again and the notes page asks for it.
    browser.click(".logout-form button").await;
    browser
        .wait_until(
            "location.pathname === '/' && !!document.querySelector('.nav-signin')",
            "signed out",
        )
        .await;
    c.goto(&format!("{base}/notes")).await.unwrap();
    browser
        .wait_until("location.pathname === '/login'", "notes need sign-in")
        .await;
    browser.close().await;
}
