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
    assert_eq!(
        c.find(Locator::Css(".nav-signin"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Sign in"
    );
    c.find(Locator::Css(".article-tools a.star-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until("location.pathname === '/login'", "the login page")
        .await;
    c.find(Locator::Css("a[href^='/signup']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until("location.pathname === '/signup'", "the sign-up page")
        .await;
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("ada")
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("correct horse battery")
        .await
        .unwrap();
    c.find(Locator::Css(".account-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until(
            "location.pathname === '/articles/first-steps'",
            "back on the article",
        )
        .await;
    assert_eq!(
        c.find(Locator::Css(".nav-user"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ada"
    );

    // The star toggles in place (JavaScript), and the state sticks across a reload.
    c.find(Locator::Css(".star-form .star-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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

    // The note button beside a heading picks that section in the notes form.
    c.find(Locator::Css("#a-nested-case .note-add"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until(
            "document.activeElement.id === 'note-body'",
            "the note box has focus",
        )
        .await;
    assert_eq!(
        browser
            .eval("document.getElementById('note-anchor').value")
            .await,
        "a-nested-case"
    );
    c.find(Locator::Id("note-body"))
        .await
        .unwrap()
        .send_keys("Copy **deeply** here <script>alert(1)</script>")
        .await
        .unwrap();
    c.find(Locator::Css(".notes-panel .note-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until("location.hash.startsWith('#note-')", "the new note")
        .await;
    let group = browser.eval("document.querySelector('.note-group[data-anchor=\"a-nested-case\"] .note-body').innerHTML").await;
    assert!(
        group.as_str().unwrap().contains("<strong>deeply</strong>"),
        "{group}"
    );
    assert!(!group.as_str().unwrap().contains("<script"), "{group}");
    assert_eq!(
        c.find(Locator::Css("#a-nested-case .note-count"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "1 note"
    );

    // Bookmarks and notes pages list them; the search finds the note.
    c.find(Locator::Css(".header-nav a[href='/bookmarks']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until("location.pathname === '/bookmarks'", "bookmarks")
        .await;
    assert_eq!(
        c.find(Locator::Css(".bookmark-link"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "First steps with lists"
    );
    c.find(Locator::Css(".header-nav a[href='/notes']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until("location.pathname === '/notes'", "notes")
        .await;
    c.find(Locator::Id("notes-q"))
        .await
        .unwrap()
        .send_keys("deeply")
        .await
        .unwrap();
    c.find(Locator::Css(".notes-search button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until("location.search === '?q=deeply'", "the search ran")
        .await;
    let found = c.find_all(Locator::Css(".note-entry")).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        c.find(Locator::Css(".note-where a"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "First steps with lists › A nested case"
    );

    // Sign out: the header offers sign-in again and the notes page asks for it.
    c.find(Locator::Css(".logout-form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
