//! Accounts, bookmarks and notes through the real router: every API path and its errors,
//! authorization between users, CSRF, XSS in notes, and the pages.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::{
    Session, TestApp, assert_error, attrs, form_request, json_of, json_request, session_of, texts,
};
use serde_json::{Value, json};
use snakepit::accounts::AccountsConfig;
use snakepit::config::AuthMode;

#[tokio::test]
async fn signup_me_logout_and_login() {
    let app = TestApp::new().await;
    let res = app
        .call(
            "POST",
            "/api/signup",
            None,
            Some(json!({"username": "ada", "password": "correct horse"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED);
    let cookie = res.header("set-cookie").to_string();
    for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let ada = session_of(&res);
    assert_eq!(json_of(&res)["username"], "ada");

    let me = app.call("GET", "/api/me", Some(&ada), None).await;
    assert_eq!(
        json_of(&me),
        json!({"username": "ada", "csrf_token": ada.csrf})
    );
    assert_error(
        &app.call("GET", "/api/me", None, None).await,
        StatusCode::UNAUTHORIZED,
    );

    // Logout needs the CSRF token, then ends the session.
    let res = app
        .request(json_request("POST", "/api/logout", Some(&ada), false, None))
        .await;
    assert_error(&res, StatusCode::FORBIDDEN);
    let res = app.call("POST", "/api/logout", Some(&ada), None).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert!(res.header("set-cookie").contains("Max-Age=0"));
    assert_error(
        &app.call("GET", "/api/me", Some(&ada), None).await,
        StatusCode::UNAUTHORIZED,
    );

    // Wrong password, unknown user, then the right one (names are case-insensitive).
    let wrong = app
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"username": "ada", "password": "wrong horse"})),
        )
        .await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED);
    let nobody = app
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"username": "bob", "password": "correct horse"})),
        )
        .await;
    assert_error(&nobody, StatusCode::UNAUTHORIZED);
    let ok = app
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"username": "ADA", "password": "correct horse"})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let again = session_of(&ok);
    assert_ne!(again.csrf, ada.csrf, "a new session has a new CSRF token");
    assert_eq!(
        json_of(&app.call("GET", "/api/me", Some(&again), None).await)["username"],
        "ada"
    );
}

#[tokio::test]
async fn signup_rejects_bad_input() {
    let app = TestApp::new().await;
    app.sign_up("ada").await;
    let dup = app
        .call(
            "POST",
            "/api/signup",
            None,
            Some(json!({"username": "Ada", "password": "another one"})),
        )
        .await;
    assert_error(&dup, StatusCode::CONFLICT);
    let short = app
        .call(
            "POST",
            "/api/signup",
            None,
            Some(json!({"username": "bob", "password": "short"})),
        )
        .await;
    assert_error(&short, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_name = app
        .call(
            "POST",
            "/api/signup",
            None,
            Some(json!({"username": "<b>", "password": "long enough"})),
        )
        .await;
    assert_error(&bad_name, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = app
        .call(
            "POST",
            "/api/signup",
            None,
            Some(json!({"username": "bob"})),
        )
        .await;
    assert_error(&missing, StatusCode::UNPROCESSABLE_ENTITY);
    let syntax = app
        .request(
            Request::post("/api/signup")
                .header("content-type", "application/json")
                .body(Body::from("{nope"))
                .unwrap(),
        )
        .await;
    assert_error(&syntax, StatusCode::BAD_REQUEST);
    let bytes = app
        .request(
            Request::post("/api/login")
                .header("content-type", "application/json")
                .body(Body::from(&b"{\"username\": \"\xff\xfe\"}"[..]))
                .unwrap(),
        )
        .await;
    assert!(bytes.status.is_client_error());
    assert!(
        json_of(&bytes)["error"].is_string(),
        "invalid UTF-8 gets a JSON error"
    );
    let no_type = app
        .request(Request::post("/api/signup").body(Body::from("{}")).unwrap())
        .await;
    assert_error(&no_type, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn closed_signup_refuses_new_accounts() {
    let config = AccountsConfig {
        signup_open: false,
        ..AccountsConfig::default()
    };
    let app = TestApp::with_config(config).await;
    let res = app
        .call(
            "POST",
            "/api/signup",
            None,
            Some(json!({"username": "ada", "password": "correct horse"})),
        )
        .await;
    assert_error(&res, StatusCode::FORBIDDEN);
    let page = app.get("/signup").await;
    assert!(texts(&page.html(), ".lead")[0].contains("closed"));
    assert!(attrs(&page.html(), "form.account-form", "action").is_empty());
}

#[tokio::test]
async fn login_attempts_are_rate_limited() {
    let config = AccountsConfig {
        login_failures_per_user: 3,
        login_failures_per_ip: 5,
        ..AccountsConfig::default()
    };
    let app = TestApp::with_config(config).await;
    app.sign_up("ada").await;
    for _ in 0..3 {
        let res = app
            .call(
                "POST",
                "/api/login",
                None,
                Some(json!({"username": "ada", "password": "wrong horse"})),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = app
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"username": "ada", "password": "correct horse"})),
        )
        .await;
    assert_error(&blocked, StatusCode::TOO_MANY_REQUESTS);
    assert!(blocked.header("retry-after").parse::<u64>().unwrap() > 0);
    // Per address too: other usernames from the same address run into the limit.
    for name in ["u1", "u2"] {
        let res = app
            .call(
                "POST",
                "/api/login",
                None,
                Some(json!({"username": name, "password": "wrong horse"})),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let res = app
        .call(
            "POST",
            "/api/login",
            None,
            Some(json!({"username": "u3", "password": "whatever1"})),
        )
        .await;
    assert_error(&res, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn sessions_expire() {
    let config = AccountsConfig {
        session_ttl: Duration::from_secs(1),
        ..AccountsConfig::default()
    };
    let app = TestApp::with_config(config).await;
    let ada = app.sign_up("ada").await;
    assert_eq!(
        app.call("GET", "/api/me", Some(&ada), None).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_error(
        &app.call("GET", "/api/me", Some(&ada), None).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn bookmarks_api() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    for slug in ["first-steps", "deep-dive", "first-steps"] {
        let res = app
            .call("PUT", &format!("/api/bookmarks/{slug}"), Some(&ada), None)
            .await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "PUT is idempotent");
    }
    let list = json_of(&app.call("GET", "/api/bookmarks", Some(&ada), None).await);
    let slugs: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["deep-dive", "first-steps"], "newest first");
    assert_eq!(list[1]["title"], "First steps with lists");
    assert_eq!(list[1]["url"], "/articles/first-steps");
    assert!(list[1]["created_at"].as_str().unwrap().starts_with("20"));

    assert_eq!(
        app.call("DELETE", "/api/bookmarks/deep-dive", Some(&ada), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call("DELETE", "/api/bookmarks/deep-dive", Some(&ada), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        json_of(&app.call("GET", "/api/bookmarks", Some(&ada), None).await)
            .as_array()
            .unwrap()
            .len(),
        1
    );

    assert_error(
        &app.call("PUT", "/api/bookmarks/no-such-article", Some(&ada), None)
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &app.call("PUT", "/api/bookmarks/%FF", Some(&ada), None)
            .await,
        StatusCode::BAD_REQUEST,
    );
    assert_error(
        &app.call("PUT", "/api/bookmarks/first-steps", None, None)
            .await,
        StatusCode::UNAUTHORIZED,
    );
    assert_error(
        &app.call("GET", "/api/bookmarks", None, None).await,
        StatusCode::UNAUTHORIZED,
    );
    let no_csrf = app
        .request(json_request(
            "PUT",
            "/api/bookmarks/deep-dive",
            Some(&ada),
            false,
            None,
        ))
        .await;
    assert_error(&no_csrf, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn notes_api() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let res = app
        .call("POST", "/api/notes", Some(&ada), Some(json!({"article": "first-steps", "anchor": "a-nested-case", "body": "Remember *this*"})))
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let note = json_of(&res);
    for field in [
        "id",
        "slug",
        "anchor",
        "body",
        "body_html",
        "created_at",
        "updated_at",
    ] {
        assert!(note.get(field).is_some(), "{field} in {note}");
    }
    assert_eq!(note["anchor"], "a-nested-case");
    assert_eq!(note["body_html"], "<p>Remember <em>this</em></p>\n");
    let id = note["id"].as_i64().unwrap();
    let whole = app
        .call(
            "POST",
            "/api/notes",
            Some(&ada),
            Some(json!({"article": "deep-dive", "anchor": null, "body": "whole"})),
        )
        .await;
    assert_eq!(whole.status, StatusCode::CREATED);
    assert!(json_of(&whole)["anchor"].is_null());

    let one = json_of(
        &app.call("GET", "/api/notes?article=first-steps", Some(&ada), None)
            .await,
    );
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(
        json_of(&app.call("GET", "/api/notes", Some(&ada), None).await)
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let res = app
        .call(
            "PUT",
            &format!("/api/notes/{id}"),
            Some(&ada),
            Some(json!({"body": "changed"})),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(json_of(&res)["body"], "changed");
    assert_eq!(
        app.call("DELETE", &format!("/api/notes/{id}"), Some(&ada), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &app.call("DELETE", &format!("/api/notes/{id}"), Some(&ada), None)
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &app.call(
            "PUT",
            &format!("/api/notes/{id}"),
            Some(&ada),
            Some(json!({"body": "x"})),
        )
        .await,
        StatusCode::NOT_FOUND,
    );

    // Errors: unknown article or section, empty or oversized body, bad ids, bad JSON.
    let post = |body: Value| app.call("POST", "/api/notes", Some(&ada), Some(body));
    assert_error(
        &post(json!({"article": "nope", "body": "x"})).await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &post(json!({"article": "first-steps", "anchor": "nope", "body": "x"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &post(json!({"article": "first-steps", "body": "   "})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &post(json!({"article": "first-steps", "body": "x".repeat(100_000)})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    assert_error(
        &post(json!({"body": "x"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(
        &app.call(
            "PUT",
            "/api/notes/abc",
            Some(&ada),
            Some(json!({"body": "x"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
    );
    let huge = app
        .request(
            Request::post("/api/notes")
                .header("cookie", &ada.cookie)
                .header("x-csrf-token", &ada.csrf)
                .header("content-type", "application/json")
                .body(Body::from(vec![b' '; 400_000]))
                .unwrap(),
        )
        .await;
    assert_error(&huge, StatusCode::PAYLOAD_TOO_LARGE);
    let declared = app
        .request(
            Request::post("/api/notes")
                .header("cookie", &ada.cookie)
                .header("x-csrf-token", &ada.csrf)
                .header("content-type", "application/json")
                .header("content-length", 400_000)
                .body(Body::from(vec![b' '; 400_000]))
                .unwrap(),
        )
        .await;
    assert_error(&declared, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(
        &app.call("GET", "/api/notes", None, None).await,
        StatusCode::UNAUTHORIZED,
    );
    let no_csrf = app
        .request(json_request(
            "POST",
            "/api/notes",
            Some(&ada),
            false,
            Some(json!({"article": "first-steps", "body": "x"})),
        ))
        .await;
    assert_error(&no_csrf, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn nobody_reads_or_changes_another_users_data() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    let mut ids = Vec::new();
    for anchor in [Value::Null, json!("aliasing-surprises")] {
        let res = app
            .call(
                "POST",
                "/api/notes",
                Some(&ada),
                Some(json!({"article": "first-steps", "anchor": anchor, "body": "ada's secret"})),
            )
            .await;
        ids.push(json_of(&res)["id"].as_i64().unwrap());
    }
    app.call("PUT", "/api/bookmarks/first-steps", Some(&ada), None)
        .await;

    // Bob sees nothing of Ada's, whichever id he tries.
    assert_eq!(
        json_of(&app.call("GET", "/api/notes", Some(&bob), None).await),
        json!([])
    );
    assert_eq!(
        json_of(
            &app.call("GET", "/api/notes?article=first-steps", Some(&bob), None)
                .await
        ),
        json!([])
    );
    assert_eq!(
        json_of(&app.call("GET", "/api/bookmarks", Some(&bob), None).await),
        json!([])
    );
    for id in 1..=(ids[1] + 5) {
        assert_error(
            &app.call("GET", &format!("/api/notes/{id}"), Some(&bob), None)
                .await,
            StatusCode::NOT_FOUND,
        );
        assert_error(
            &app.call(
                "PUT",
                &format!("/api/notes/{id}"),
                Some(&bob),
                Some(json!({"body": "pwned"})),
            )
            .await,
            StatusCode::NOT_FOUND,
        );
        assert_error(
            &app.call("DELETE", &format!("/api/notes/{id}"), Some(&bob), None)
                .await,
            StatusCode::NOT_FOUND,
        );
        let form = form_request(
            &format!("/notes/{id}/delete"),
            Some(&bob),
            &[("csrf_token", &bob.csrf)],
        );
        assert_eq!(app.request(form).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            app.page(&format!("/notes/{id}/edit"), &bob).await.status,
            StatusCode::NOT_FOUND
        );
    }
    // Bob's token does not work with Ada's cookie.
    let mixed = Session {
        cookie: ada.cookie.clone(),
        csrf: bob.csrf.clone(),
    };
    assert_error(
        &app.call(
            "DELETE",
            &format!("/api/notes/{}", ids[0]),
            Some(&mixed),
            None,
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    // Bob's article page and his lists show none of Ada's notes.
    for uri in [
        "/articles/first-steps",
        "/notes",
        "/notes?q=secret",
        "/bookmarks",
        "/export.md",
    ] {
        let text = app.page(uri, &bob).await.text();
        assert!(
            !text.contains("ada's secret") && !text.contains("ada&#39;s secret"),
            "{uri} leaks Ada's note"
        );
    }
    let export = json_of(&app.page("/export.json", &bob).await);
    assert_eq!(export["notes"], json!([]));
    // Ada's notes are untouched.
    let notes = json_of(&app.call("GET", "/api/notes", Some(&ada), None).await);
    assert_eq!(notes.as_array().unwrap().len(), 2);
    assert!(
        notes
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["body"] == "ada's secret")
    );
}

#[tokio::test]
async fn forms_need_the_csrf_field() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let cases = [
        ("/bookmarks/first-steps", vec![("action", "add")]),
        (
            "/notes",
            vec![
                ("article", "first-steps"),
                ("anchor", ""),
                ("body", "hello"),
            ],
        ),
        ("/logout", vec![]),
    ];
    for (uri, fields) in &cases {
        let res = app.request(form_request(uri, Some(&ada), fields)).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{uri} without the token");
        let mut wrong = fields.clone();
        wrong.push(("csrf_token", "0000"));
        assert_eq!(
            app.request(form_request(uri, Some(&ada), &wrong))
                .await
                .status,
            StatusCode::FORBIDDEN,
            "{uri} with a wrong token"
        );
    }
    assert_eq!(
        json_of(&app.call("GET", "/api/bookmarks", Some(&ada), None).await),
        json!([]),
        "nothing was written"
    );
    for (uri, fields) in &cases {
        let mut ok = fields.clone();
        ok.push(("csrf_token", &ada.csrf));
        let res = app.request(form_request(uri, Some(&ada), &ok)).await;
        assert_eq!(
            res.status,
            StatusCode::SEE_OTHER,
            "{uri} with the token: {}",
            res.text()
        );
    }
    let (bookmarks, notes): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM bookmarks), (SELECT count(*) FROM notes)")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!((bookmarks, notes), (1, 1));
    assert_error(
        &app.call("GET", "/api/me", Some(&ada), None).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn note_html_is_sanitized() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let payloads = [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
        "<svg onload=alert(1)><circle/></svg>",
        "<iframe src=\"https://evil.example\"></iframe>",
        "<div style=\"background:url(javascript:alert(1))\" onclick=\"alert(1)\">d</div>",
        "<a href=\"data:text/html,<script>alert(1)</script>\">d</a>",
        "<form action=\"https://evil.example\"><input name=csrf_token></form>",
        "`<script>in code</script>` and **bold**",
    ];
    for p in payloads {
        let res = app
            .call(
                "POST",
                "/api/notes",
                Some(&ada),
                Some(json!({"article": "first-steps", "body": p})),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED);
    }
    let page = app.page("/articles/first-steps", &ada).await.html();
    let list = app.page("/notes", &ada).await.html();
    for html in [&page, &list] {
        let notes = scraper::Selector::parse(".note-body").unwrap();
        let bodies: Vec<_> = html.select(&notes).collect();
        assert_eq!(bodies.len(), payloads.len());
        for body in bodies {
            for el in body.descendants().filter_map(scraper::ElementRef::wrap) {
                let name = el.value().name();
                assert!(
                    ![
                        "script", "iframe", "svg", "form", "input", "style", "object"
                    ]
                    .contains(&name),
                    "<{name}> survived"
                );
                for (attr, value) in el.value().attrs() {
                    assert!(
                        !attr.starts_with("on") && attr != "style",
                        "{attr} survived on <{name}>"
                    );
                    let v = value.trim().to_ascii_lowercase();
                    assert!(
                        !v.starts_with("javascript:") && !v.starts_with("data:"),
                        "{attr}={value} survived"
                    );
                }
            }
        }
    }
    assert!(
        texts(&page, ".note-body code").contains(&"<script>in code</script>".to_string()),
        "code is shown as text"
    );
}

#[tokio::test]
async fn anonymous_pages_invite_to_sign_in() {
    let app = TestApp::new().await;
    let html = app.get("/articles/first-steps").await.html();
    assert_eq!(texts(&html, ".nav-signin"), ["Sign in"]);
    assert_eq!(
        attrs(&html, ".article-tools a.star-button", "href"),
        ["/login?next=%2Farticles%2Ffirst-steps"]
    );
    assert!(
        texts(&html, ".notes-invite")
            .join(" ")
            .contains("private notes")
    );
    assert!(attrs(&html, "meta[name=csrf-token]", "content").is_empty());
    // A note button beside every heading.
    assert_eq!(
        attrs(&html, ".prose .heading .note-add", "data-note-anchor"),
        [
            "aliasing-surprises",
            "a-nested-case",
            "copying-list-objects"
        ]
    );
    let res = app
        .get("/notes/new?article=first-steps&anchor=a-nested-case")
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        res.header("location"),
        "/login?next=%2Fnotes%2Fnew%3Farticle%3Dfirst%2Dsteps%26anchor%3Da%2Dnested%2Dcase"
    );
    assert_eq!(
        app.get("/bookmarks").await.header("location"),
        "/login?next=%2Fbookmarks"
    );
    assert!(
        app.get("/")
            .await
            .html()
            .select(&scraper::Selector::parse(".nav-signin").unwrap())
            .next()
            .is_some()
    );
    assert_eq!(
        texts(&app.get("/nope").await.html(), ".nav-signin"),
        ["Sign in"]
    );
}

#[tokio::test]
async fn signed_in_pages_show_the_readers_own_things() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let html = app.page("/articles/first-steps", &ada).await;
    assert_eq!(html.header("cache-control"), "private, no-store");
    assert!(html.header("etag").is_empty());
    let html = html.html();
    assert_eq!(texts(&html, ".nav-user"), ["ada"]);
    assert_eq!(
        attrs(&html, "meta[name=csrf-token]", "content"),
        std::slice::from_ref(&ada.csrf)
    );
    assert_eq!(
        attrs(&html, ".logout-form input[name=csrf_token]", "value"),
        std::slice::from_ref(&ada.csrf)
    );
    assert_eq!(
        attrs(&html, ".star-form .star-button", "aria-pressed"),
        ["false"]
    );
    assert_eq!(texts(&html, ".notes-panel .notes-empty").len(), 1);

    app.call("PUT", "/api/bookmarks/first-steps", Some(&ada), None)
        .await;
    app.call(
        "POST",
        "/api/notes",
        Some(&ada),
        Some(
            json!({"article": "first-steps", "anchor": "a-nested-case", "body": "nested **note**"}),
        ),
    )
    .await;
    app.call(
        "POST",
        "/api/notes",
        Some(&ada),
        Some(json!({"article": "first-steps", "body": "whole-article note"})),
    )
    .await;
    // A note whose section has since disappeared from the content.
    sqlx::query("INSERT INTO notes (user_id, slug, anchor, body, body_html) SELECT id, 'first-steps', 'old-heading', 'orphan', '<p>orphan</p>' FROM users WHERE username = 'ada'")
        .execute(&app.state.db)
        .await
        .unwrap();
    app.state.accounts.snapshots.invalidate(1);
    let html = app.page("/articles/first-steps", &ada).await.html();
    assert_eq!(
        attrs(&html, ".star-form .star-button", "aria-pressed"),
        ["true"]
    );
    assert_eq!(
        attrs(&html, ".star-form input[name=action]", "value"),
        ["remove"]
    );
    // The panel at the end: notes on the whole article and on removed sections.
    assert_eq!(
        attrs(&html, ".notes-panel .note-group", "data-anchor"),
        ["", "removed"]
    );
    assert_eq!(
        texts(&html, ".notes-panel .note-group h3"),
        ["On the whole article", "Notes on removed sections"]
    );
    // A section's notes right under its heading's row, named after it.
    assert_eq!(
        attrs(&html, ".prose .heading + .section-notes", "data-anchor"),
        ["a-nested-case"]
    );
    assert_eq!(
        attrs(&html, ".prose .section-notes", "aria-label"),
        ["Your notes on: A nested case"]
    );
    assert_eq!(texts(&html, ".note-group-removed .note-body"), ["orphan"]);
    assert_eq!(
        texts(&html, "[data-anchor=a-nested-case] .note-body strong"),
        ["note"]
    );
    // Another article does not show these notes.
    assert!(
        texts(
            &app.page("/articles/deep-dive", &ada).await.html(),
            ".note-body"
        )
        .is_empty()
    );

    let bookmarks = app.page("/bookmarks", &ada).await.html();
    assert_eq!(
        texts(&bookmarks, ".bookmark-link"),
        ["First steps with lists"]
    );
    let notes = app.page("/notes", &ada).await.html();
    assert_eq!(texts(&notes, ".note-entry").len(), 3);
    let found = app.page("/notes?q=nested", &ada).await.html();
    assert_eq!(texts(&found, ".note-entry .note-body"), ["nested note"]);
    assert_eq!(
        texts(&found, ".note-where a"),
        ["First steps with lists › A nested case"]
    );
    assert!(
        texts(&app.page("/notes?q=%25", &ada).await.html(), ".note-entry").is_empty(),
        "LIKE wildcards are literal"
    );

    let md = app.page("/export.md", &ada).await;
    assert!(
        md.header("content-disposition")
            .contains("snakepit-export.md")
    );
    assert!(
        md.text().contains("nested **note**")
            && md
                .text()
                .contains("[First steps with lists](/articles/first-steps)")
    );
    let export = json_of(&app.page("/export.json", &ada).await);
    assert_eq!(export["bookmarks"][0]["slug"], "first-steps");
    assert_eq!(export["notes"].as_array().unwrap().len(), 3);
    assert_eq!(
        json_of(&app.call("GET", "/api/export", Some(&ada), None).await)["username"],
        "ada"
    );
}

#[tokio::test]
async fn html_forms_work_without_javascript() {
    let app = TestApp::new().await;
    // Sign up through the form, and come back to where we were.
    let res = app
        .request(form_request(
            "/signup",
            None,
            &[
                ("username", "ada"),
                ("password", "correct horse"),
                ("next", "/articles/deep-dive"),
            ],
        ))
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), "/articles/deep-dive");
    let cookie = res
        .header("set-cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let me = app
        .request(
            Request::get("/api/me")
                .header("cookie", &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let ada = Session {
        cookie,
        csrf: json_of(&me)["csrf_token"].as_str().unwrap().to_string(),
    };

    // An open redirect is not possible.
    let res = app
        .request(form_request(
            "/login",
            None,
            &[
                ("username", "ada"),
                ("password", "correct horse"),
                ("next", "//evil.example"),
            ],
        ))
        .await;
    assert_eq!(res.header("location"), "/");
    let res = app
        .request(form_request(
            "/login",
            None,
            &[("username", "ada"), ("password", "nope nope")],
        ))
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        texts(&res.html(), ".form-error"),
        ["wrong username or password"]
    );

    // Login CSRF: another site's form cannot sign the reader in (to any account),
    // whether the browser says so with Sec-Fetch-Site or only with Origin.
    let good = [("username", "ada"), ("password", "correct horse")];
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
        ("origin", "null"),
    ] {
        let mut req = form_request("/login", None, &good);
        req.headers_mut().insert(name, value.parse().unwrap());
        let res = app.request(req).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{name}: {value}");
        assert!(res.header("set-cookie").is_empty(), "{name}: {value}");
    }
    let mut req = form_request("/signup", None, &good);
    req.headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(app.request(req).await.status, StatusCode::FORBIDDEN);
    // The same form sent from the site itself works.
    for (name, value) in [
        ("sec-fetch-site", "same-origin"),
        ("origin", "http://localhost"),
    ] {
        let mut req = form_request("/login", None, &good);
        req.headers_mut().insert(name, value.parse().unwrap());
        req.headers_mut()
            .insert("host", "localhost".parse().unwrap());
        let res = app.request(req).await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{name}: {value}");
    }

    // Write, edit and delete a note through forms.
    let res = app
        .request(form_request(
            "/notes",
            Some(&ada),
            &[
                ("csrf_token", &ada.csrf),
                ("article", "first-steps"),
                ("anchor", "aliasing-surprises"),
                ("body", "first draft"),
            ],
        ))
        .await;
    let location = res.header("location").to_string();
    assert!(
        location.starts_with("/articles/first-steps#note-"),
        "{location}"
    );
    let id = location.rsplit('-').next().unwrap();
    let form = app.page(&format!("/notes/{id}/edit"), &ada).await.html();
    assert_eq!(texts(&form, "textarea"), ["first draft"]);
    let res = app
        .request(form_request(
            &format!("/notes/{id}"),
            Some(&ada),
            &[("csrf_token", &ada.csrf), ("body", "second draft")],
        ))
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        texts(
            &app.page("/articles/first-steps", &ada).await.html(),
            ".note-body"
        ),
        ["second draft"]
    );
    let new_form = app
        .page("/notes/new?article=first-steps&anchor=a-nested-case", &ada)
        .await
        .html();
    assert_eq!(
        attrs(&new_form, "select option[selected]", "value"),
        ["a-nested-case"]
    );
    let res = app
        .request(form_request(
            &format!("/notes/{id}/delete"),
            Some(&ada),
            &[("csrf_token", &ada.csrf)],
        ))
        .await;
    assert_eq!(res.header("location"), "/articles/first-steps#notes");
    // From /notes, its Delete button comes back to /notes.
    let created = app
        .call(
            "POST",
            "/api/notes",
            Some(&ada),
            Some(json!({"article": "first-steps", "body": "another"})),
        )
        .await;
    let id2 = json_of(&created)["id"].as_i64().unwrap();
    let notes_page = app.page("/notes", &ada).await.html();
    assert_eq!(
        attrs(&notes_page, ".note-entry form.note-delete", "action"),
        [format!("/notes/{id2}/delete")]
    );
    assert_eq!(
        attrs(
            &notes_page,
            ".note-entry form.note-delete input[name=csrf_token]",
            "value"
        ),
        std::slice::from_ref(&ada.csrf)
    );
    let res = app
        .request(form_request(
            &format!("/notes/{id2}/delete"),
            Some(&ada),
            &[("csrf_token", &ada.csrf), ("from", "notes")],
        ))
        .await;
    assert_eq!(res.header("location"), "/notes");
    assert!(
        texts(
            &app.page("/articles/first-steps", &ada).await.html(),
            ".note-body"
        )
        .is_empty()
    );

    // Sign out through the form.
    let res = app
        .request(form_request(
            "/logout",
            Some(&ada),
            &[("csrf_token", &ada.csrf)],
        ))
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(res.header("set-cookie").contains("Max-Age=0"));
    assert_eq!(
        app.page("/bookmarks", &ada).await.status,
        StatusCode::SEE_OTHER
    );
}

fn from(addr: &str, mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut()
        .insert(ConnectInfo(addr.parse::<SocketAddr>().unwrap()));
    req
}

#[tokio::test]
async fn proxy_mode_trusts_only_configured_proxies() {
    let config = AccountsConfig {
        mode: AuthMode::Proxy,
        trusted_proxies: vec!["10.0.0.1/32".parse().unwrap()],
        ..AccountsConfig::default()
    };
    let app = TestApp::with_config(config).await;
    let me = |addr: &'static str| {
        from(
            addr,
            Request::get("/api/me")
                .header("x-forwarded-user", "carol")
                .body(Body::empty())
                .unwrap(),
        )
    };
    let res = app.request(me("10.0.0.1:5000")).await;
    assert_eq!(res.status, StatusCode::OK);
    let csrf = json_of(&res)["csrf_token"].as_str().unwrap().to_string();
    assert_eq!(json_of(&res)["username"], "carol");
    assert_error(
        &app.request(me("10.0.0.2:5000")).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_error(
        &app.request(
            Request::get("/api/me")
                .header("x-forwarded-user", "carol")
                .body(Body::empty())
                .unwrap(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    );

    let put = |token: Option<&str>| {
        let mut b = Request::put("/api/bookmarks/first-steps").header("x-forwarded-user", "carol");
        if let Some(t) = token {
            b = b.header("x-csrf-token", t);
        }
        from("10.0.0.1:5000", b.body(Body::empty()).unwrap())
    };
    assert_error(&app.request(put(None)).await, StatusCode::FORBIDDEN);
    assert_eq!(
        app.request(put(Some(&csrf))).await.status,
        StatusCode::NO_CONTENT
    );
    let login = from(
        "10.0.0.1:5000",
        json_request(
            "POST",
            "/api/login",
            None,
            false,
            Some(json!({"username": "carol", "password": "whatever1"})),
        ),
    );
    assert_error(&app.request(login).await, StatusCode::BAD_REQUEST);
    let page = app
        .request(from(
            "10.0.0.1:5000",
            Request::get("/articles/first-steps")
                .header("x-forwarded-user", "carol")
                .body(Body::empty())
                .unwrap(),
        ))
        .await;
    assert_eq!(texts(&page.html(), ".nav-user"), ["carol"]);
}
