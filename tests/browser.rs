//! What readers click, in a real headless Chromium: browsing, copy-link and the theme.

mod common;

use common::browser::{Browser, chromedriver, serve};
use common::fixture_args;
use fantoccini::Locator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_browses_copies_a_section_link_and_switches_theme() {
    let Some(driver) = chromedriver() else { return };
    let base = serve(fixture_args()).await;
    let browser = Browser::start(&driver).await;
    let c = &browser.client;

    // The home page lists the articles; a click opens one.
    c.goto(&format!("{base}/")).await.unwrap();
    let links = c.find_all(Locator::Css(".article-link")).await.unwrap();
    assert_eq!(links.len(), 3);
    assert_eq!(links[0].text().await.unwrap(), "First steps with lists");
    links[0].click().await.unwrap();
    browser.wait_until("location.pathname === '/articles/first-steps'", "the article opens").await;
    let title = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(title, "First steps with lists");

    // The copy-link button on a heading yields that section's full URL.
    let copy = c.find(Locator::Css("#a-nested-case .copy-link")).await.unwrap();
    copy.click().await.unwrap();
    browser.wait_until("!document.querySelector('.toast').hidden", "the copy toast").await;
    let copied = browser.eval("document.querySelector('.toast').dataset.detail").await;
    assert_eq!(copied.as_str().unwrap(), format!("{base}/articles/first-steps#a-nested-case"));
    assert_eq!(browser.eval("location.hash").await, "#a-nested-case");

    // The theme toggle flips the theme, changes the colours, and the choice sticks.
    let before = browser.eval("getComputedStyle(document.body).backgroundColor").await;
    let initial = browser.eval("matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'").await;
    let expected = if initial == "dark" { "light" } else { "dark" };
    c.find(Locator::Css(".theme-toggle")).await.unwrap().click().await.unwrap();
    assert_eq!(browser.eval("document.documentElement.dataset.theme").await, expected);
    let after = browser.eval("getComputedStyle(document.body).backgroundColor").await;
    assert_ne!(before, after, "the background colour changes with the theme");
    c.goto(&format!("{base}/articles/second-look")).await.unwrap();
    assert_eq!(browser.eval("document.documentElement.dataset.theme").await, expected, "the choice persists");

    // "/" focuses the search box; the previous/next links navigate.
    c.find(Locator::Css("body")).await.unwrap().send_keys("/").await.unwrap();
    assert_eq!(browser.eval("document.activeElement.id").await, "site-search-input");
    c.find(Locator::Css(".pager-next")).await.unwrap().click().await.unwrap();
    browser.wait_until("location.pathname === '/articles/deep-dive'", "next article").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_fit_a_phone_screen() {
    let Some(driver) = chromedriver() else { return };
    let base = serve(fixture_args()).await;
    let browser = Browser::start(&driver).await;
    let c = &browser.client;
    c.set_window_size(390, 844).await.unwrap();
    for path in ["/", "/articles/first-steps", "/nope"] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        let overflow = browser.eval("document.documentElement.scrollWidth - window.innerWidth").await;
        assert!(overflow.as_i64().unwrap() <= 0, "{path} scrolls sideways on a phone by {overflow}px");
    }
    // On a narrow screen the table of contents comes before the article text.
    c.goto(&format!("{base}/articles/first-steps")).await.unwrap();
    let toc_above = browser
        .eval("document.querySelector('.toc').getBoundingClientRect().top < document.querySelector('.prose').getBoundingClientRect().top")
        .await;
    assert_eq!(toc_above, true);
    browser.close().await;
}
