//! Issue 16, through the real router and a real database: bounded Markdown work off the
//! runtime, login and sign-up limits that hold under concurrency and give attackers no
//! lever on a victim, redirect targets read as browsers read them, CSRF on every unsafe
//! request with a session, proxy identity headers, password rules, caching headers and
//! `/metrics` protection.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::json;
use snakepit::accounts::AccountsConfig;
use snakepit::config::AuthMode;
use tower::ServiceExt;

fn from(addr: &str, mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut()
        .insert(ConnectInfo(addr.parse::<SocketAddr>().unwrap()));
    req
}

/// Sends `request` through a clone of the app's router (for concurrent tasks).
async fn send(router: axum::Router, request: Request<Body>) -> StatusCode {
    router.oneshot(request).await.expect("infallible").status()
}

fn nested_quotes() -> String {
    ">".repeat(32 * 1024 - 16) + " deep"
}

fn nested_lists() -> String {
    "1. ".repeat(10 * 1024) + "x"
}

// ---- 1. Markdown work is bounded and off the runtime ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pathological_notes_get_a_quick_422_in_the_api_and_the_form() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    for body in [nested_quotes(), nested_lists()] {
        let started = Instant::now();
        let res = app
            .call(
                "POST",
                "/api/notes",
                Some(&ada),
                Some(json!({"article": "first-steps", "anchor": null, "body": body})),
            )
            .await;
        let message = assert_error(&res, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(message.contains("levels deep"), "{message}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "refused in {:?}",
            started.elapsed()
        );
    }
    // The same through the HTML form: the form again, with the message and the text kept.
    let body = nested_lists();
    let res = app
        .request(form_request(
            "/notes",
            Some(&ada),
            &[
                ("article", "first-steps"),
                ("anchor", ""),
                ("body", &body),
                ("csrf_token", &ada.csrf),
            ],
        ))
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.html();
    assert!(texts(&html, ".form-error")[0].contains("levels deep"));
    assert_eq!(texts(&html, "textarea#note-body")[0], body.trim());
    // An edit is bounded alike.
    let note = json_of(
        &app.call(
            "POST",
            "/api/notes",
            Some(&ada),
            Some(json!({"article": "first-steps", "body": "> fine\n> - nested *a bit*"})),
        )
        .await,
    );
    assert!(note["body_html"].as_str().unwrap().contains("<blockquote>"));
    let res = app
        .call(
            "PUT",
            &format!("/api/notes/{}", note["id"]),
            Some(&ada),
            Some(json!({"body": nested_quotes()})),
        )
        .await;
    assert_error(&res, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn article_pages_keep_answering_while_pathological_notes_are_posted() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let router = app.router.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut attackers = Vec::new();
    for i in 0..4 {
        let (router, ada, stop) = (router.clone(), ada.clone(), stop.clone());
        attackers.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = if i % 2 == 0 {
                    nested_quotes()
                } else {
                    nested_lists()
                };
                let req = json_request(
                    "POST",
                    "/api/notes",
                    Some(&ada),
                    true,
                    Some(json!({"article": "first-steps", "body": body})),
                );
                statuses.push(send(router.clone(), req).await);
            }
            statuses
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut worst = Duration::ZERO;
    for _ in 0..30 {
        let started = Instant::now();
        let page = app.get("/articles/first-steps").await;
        assert_eq!(page.status, StatusCode::OK);
        worst = worst.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for a in attackers {
        let statuses = a.await.unwrap();
        assert!(!statuses.is_empty());
        assert!(statuses.iter().all(|s| s.is_client_error()), "{statuses:?}");
    }
    // Before the fix one such note held a runtime thread for seconds.
    assert!(
        worst < Duration::from_secs(1),
        "slowest article page: {worst:?}"
    );
}

// ---- 2. Limits hold under concurrency ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_logins_are_all_counted() {
    let app = TestApp::new().await;
    app.sign_up("victim").await;
    let tasks: Vec<_> = (0..45)
        .map(|_| {
            let router = app.router.clone();
            tokio::spawn(async move {
                let req = json_request(
                    "POST",
                    "/api/login",
                    None,
                    false,
                    Some(json!({"username": "victim", "password": "wrong guess"})),
                );
                send(router, req).await
            })
        })
        .collect();
    let mut evaluated = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::UNAUTHORIZED => evaluated += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    let limit = AccountsConfig::default().login_failures_per_user;
    assert!(
        evaluated <= limit as usize,
        "{evaluated} guesses evaluated, limit {limit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_signups_from_one_address_stop_at_the_limit() {
    let app = TestApp::new().await;
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let router = app.router.clone();
            tokio::spawn(async move {
                let req = json_request(
                    "POST",
                    "/api/signup",
                    None,
                    false,
                    Some(json!({"username": format!("bot{i}"), "password": GOOD_PASSWORD})),
                );
                send(router, req).await
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    let limit = AccountsConfig::default().signups_per_ip as usize;
    assert_eq!(created, limit, "exactly the limit gets through");
    // A failed sign-up does not use up the allowance: the reservation is given back.
    let app = TestApp::new().await;
    app.sign_up("taken").await;
    for _ in 0..limit + 5 {
        let res = app
            .call(
                "POST",
                "/api/signup",
                None,
                Some(json!({"username": "taken", "password": GOOD_PASSWORD})),
            )
            .await;
        assert_error(&res, StatusCode::CONFLICT);
    }
}

// ---- 3. Lockout is no lever against a victim ----

fn login_from(addr: &str, name: &str, password: &str, device: Option<&str>) -> Request<Body> {
    let mut req = json_request(
        "POST",
        "/api/login",
        None,
        false,
        Some(json!({"username": name, "password": password})),
    );
    if let Some(d) = device {
        req.headers_mut()
            .insert("cookie", d.parse().expect("a cookie header"));
    }
    from(addr, req)
}

/// The `snakepit_device=...` pair a sign-in response sets.
fn device_cookie(res: &Response) -> String {
    res.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("snakepit_device="))
        .expect("a device cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn an_attacker_cannot_lock_the_owner_out() {
    let config = AccountsConfig {
        login_failures_per_user: 3,
        login_failures_per_account: 6,
        ..AccountsConfig::default()
    };
    let app = TestApp::with_config(config).await;
    let signed_up = app
        .call(
            "POST",
            "/api/signup",
            None,
            Some(json!({"username": "victim", "password": GOOD_PASSWORD})),
        )
        .await;
    assert_eq!(signed_up.status, StatusCode::CREATED);
    let device = device_cookie(&signed_up);
    let cookie_attrs = signed_up
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("snakepit_device="))
        .unwrap();
    assert!(cookie_attrs.contains("HttpOnly") && cookie_attrs.contains("SameSite=Lax"));

    // One attacker address: blocked after 3 guesses, for that address only.
    for _ in 0..3 {
        let res = app
            .request(login_from("203.0.113.1:1", "victim", "wrong guess", None))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let res = app
        .request(login_from("203.0.113.1:1", "victim", GOOD_PASSWORD, None))
        .await;
    assert_error(&res, StatusCode::TOO_MANY_REQUESTS);
    let res = app
        .request(login_from("198.51.100.7:1", "victim", GOOD_PASSWORD, None))
        .await;
    assert_eq!(res.status, StatusCode::OK, "the owner elsewhere signs in");

    // Many attacker addresses use up the account-wide allowance...
    for i in 2..=4 {
        for _ in 0..3 {
            let addr = format!("203.0.113.{i}:1");
            let _ = app
                .request(login_from(&addr, "victim", "wrong guess", None))
                .await;
        }
    }
    let res = app
        .request(login_from("192.0.2.9:1", "victim", GOOD_PASSWORD, None))
        .await;
    assert_error(&res, StatusCode::TOO_MANY_REQUESTS);
    // ...but the owner's own browser, known from an earlier sign-in, still gets in.
    let res = app
        .request(login_from(
            "192.0.2.9:1",
            "victim",
            GOOD_PASSWORD,
            Some(&device),
        ))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    // A forged or other account's device cookie is just an unknown browser.
    let forged = format!("snakepit_device={}.{}", "a".repeat(32), "b".repeat(32));
    let res = app
        .request(login_from(
            "192.0.2.9:1",
            "victim",
            GOOD_PASSWORD,
            Some(&forged),
        ))
        .await;
    assert_error(&res, StatusCode::TOO_MANY_REQUESTS);
    // A stolen device cookie does not give unlimited guesses either.
    for _ in 0..3 {
        let res = app
            .request(login_from("192.0.2.10:1", "victim", "wrong", Some(&device)))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let res = app
        .request(login_from("192.0.2.10:1", "victim", "wrong", Some(&device)))
        .await;
    assert_error(&res, StatusCode::TOO_MANY_REQUESTS);
}

// ---- 5. Redirect targets ----

#[tokio::test]
async fn next_targets_stay_on_the_site() {
    let app = TestApp::with_config(AccountsConfig {
        login_failures_per_user: 100,
        ..AccountsConfig::default()
    })
    .await;
    app.sign_up("ada").await;
    let hostile = [
        "/\t/evil.example",
        "/\n/evil.example",
        "//evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "https://evil.example/",
        "/\r\nSet-Cookie: x=1",
        "/.//evil.example",
        "/../\\evil.example",
        "javascript:alert(1)",
    ];
    for next in hostile {
        // The login page keeps only a safe target in its form.
        let page = app
            .get(&format!(
                "/login?next={}",
                percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
            ))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{next:?}");
        let kept = attrs(&page.html(), "input[name=next]", "value");
        assert!(is_same_origin(&kept[0]), "{next:?} kept as {:?}", kept[0]);
        // Signing in with it goes somewhere on the site.
        let res = app
            .request(form_request(
                "/login",
                None,
                &[
                    ("username", "ada"),
                    ("password", GOOD_PASSWORD),
                    ("next", next),
                ],
            ))
            .await;
        assert_eq!(
            res.status,
            StatusCode::SEE_OTHER,
            "{next:?}: {}",
            res.text()
        );
        let location = res.header("location");
        assert!(is_same_origin(location), "{next:?} -> {location:?}");
        // A failed sign-in sets no cookie, whatever the target.
        let res = app
            .request(form_request(
                "/login",
                None,
                &[
                    ("username", "ada"),
                    ("password", "wrong horse"),
                    ("next", next),
                ],
            ))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{next:?}");
        assert!(res.headers.get("set-cookie").is_none(), "{next:?}");
    }
    // Good targets survive, query and fragment included.
    let res = app
        .request(form_request(
            "/login",
            None,
            &[
                ("username", "ada"),
                ("password", GOOD_PASSWORD),
                ("next", "/articles/first-steps?hl=x#lists"),
            ],
        ))
        .await;
    assert_eq!(res.header("location"), "/articles/first-steps?hl=x#lists");
}

/// How a browser reads `location` against this site: still this site.
fn is_same_origin(location: &str) -> bool {
    let base = url::Url::parse("https://kb.example.test/login").unwrap();
    base.join(location)
        .is_ok_and(|u| u.origin() == base.origin())
        && !location.chars().any(|c| c.is_control())
}

// ---- 6. CSRF on every unsafe request with a session ----

#[tokio::test]
async fn every_unsafe_request_with_a_session_needs_its_token() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let cross_site = |mut req: Request<Body>| {
        req.headers_mut()
            .insert("sec-fetch-site", "cross-site".parse().unwrap());
        req
    };
    // Signing in again (a session swap) from another site, with ada's cookie.
    let login = cross_site(form_request(
        "/login",
        Some(&ada),
        &[("username", "ada"), ("password", GOOD_PASSWORD)],
    ));
    let res = app.request(login).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert!(res.headers.get("set-cookie").is_none());
    let signup = form_request(
        "/signup",
        Some(&ada),
        &[("username", "mallory"), ("password", GOOD_PASSWORD)],
    );
    assert_eq!(app.request(signup).await.status, StatusCode::FORBIDDEN);
    // Running code, JSON and form, and sharing.
    let run = json_request(
        "POST",
        "/api/run",
        Some(&ada),
        false,
        Some(json!({"code": "print(1)"})),
    );
    assert_error(&app.request(cross_site(run)).await, StatusCode::FORBIDDEN);
    let run_form = form_request("/run", Some(&ada), &[("code", "print(1)")]);
    assert_eq!(
        app.request(cross_site(run_form)).await.status,
        StatusCode::FORBIDDEN
    );
    let share = json_request(
        "POST",
        "/api/shares",
        Some(&ada),
        false,
        Some(json!({"code": "print(1)"})),
    );
    assert_error(&app.request(share).await, StatusCode::FORBIDDEN);
    // With the token they go through (the run then finds no sandbox in this test).
    let run = json_request(
        "POST",
        "/api/run",
        Some(&ada),
        true,
        Some(json!({"code": "print(1)"})),
    );
    assert_ne!(app.request(run).await.status, StatusCode::FORBIDDEN);
    let login = form_request(
        "/login",
        Some(&ada),
        &[
            ("username", "ada"),
            ("password", GOOD_PASSWORD),
            ("csrf_token", &ada.csrf),
        ],
    );
    assert_eq!(app.request(login).await.status, StatusCode::SEE_OTHER);
    // Without a session nothing changes: a plain same-site sign-in needs no token.
    let res = app
        .request(form_request(
            "/login",
            None,
            &[("username", "ada"), ("password", GOOD_PASSWORD)],
        ))
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signed_in_pages_put_the_token_in_every_form() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    for uri in ["/articles/first-steps", "/login", "/signup"] {
        let page = app.page(uri, &ada).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}");
        let html = page.html();
        let forms = scraper::Selector::parse("form[method=post]").unwrap();
        let token = scraper::Selector::parse("input[name=csrf_token]").unwrap();
        let mut n = 0;
        for form in html.select(&forms) {
            n += 1;
            let values: Vec<_> = form
                .select(&token)
                .filter_map(|i| i.value().attr("value"))
                .collect();
            assert_eq!(values, [ada.csrf.as_str()], "{uri}: {}", form.html());
        }
        assert!(n > 0, "{uri} has forms");
    }
    // Anonymous pages carry no token field.
    let page = app.get("/articles/first-steps").await;
    assert!(attrs(&page.html(), "input[name=csrf_token]", "value").is_empty());
    assert!(!page.text().contains("<!--slot:"));
}

// ---- 7. Proxy mode ----

#[tokio::test]
async fn duplicate_identity_headers_from_the_proxy_are_refused() {
    let config = AccountsConfig {
        mode: AuthMode::Proxy,
        trusted_proxies: vec!["10.0.0.1/32".parse().unwrap()],
        ..AccountsConfig::default()
    };
    let app = TestApp::with_config(config).await;
    let two = from(
        "10.0.0.1:5000",
        Request::get("/api/me")
            .header("x-forwarded-user", "carol")
            .header("x-forwarded-user", "admin")
            .body(Body::empty())
            .unwrap(),
    );
    let message = assert_error(&app.request(two).await, StatusCode::BAD_REQUEST);
    assert!(message.contains("more than one"), "{message}");
    let page = from(
        "10.0.0.1:5000",
        Request::get("/bookmarks")
            .header("x-forwarded-user", "carol")
            .header("x-forwarded-user", "admin")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(app.request(page).await.status, StatusCode::BAD_REQUEST);
    let one = from(
        "10.0.0.1:5000",
        Request::get("/api/me")
            .header("x-forwarded-user", "carol")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(json_of(&app.request(one).await)["username"], "carol");
}

// ---- 8. Passwords ----

#[tokio::test]
async fn weak_passwords_are_refused_and_length_counts_characters() {
    let app = TestApp::new().await;
    let signup = |name: &str, password: &str| {
        json_request(
            "POST",
            "/api/signup",
            None,
            false,
            Some(json!({"username": name, "password": password})),
        )
    };
    for weak in [
        "password",
        "12345678",
        "        ",
        "Password1",
        "iloveyou",
        "ééééééé",
    ] {
        let res = app.request(signup("ada", weak)).await;
        let message = assert_error(&res, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            message.contains("common")
                || message.contains("characters")
                || message.contains("spaces"),
            "{weak:?}: {message}"
        );
    }
    // 1024 characters of 3 bytes each are within the documented maximum...
    let long: String = "€ab".repeat(341) + "€";
    assert_eq!(long.chars().count(), 1024);
    assert_eq!(
        app.request(signup("ada", &long)).await.status,
        StatusCode::CREATED
    );
    // ...one more is not.
    let res = app.request(signup("bob", &format!("{long}x"))).await;
    let message = assert_error(&res, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(message.contains("1024 characters"), "{message}");
    // The form says so too.
    let res = app
        .request(form_request(
            "/signup",
            None,
            &[("username", "carl"), ("password", "password")],
        ))
        .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(texts(&res.html(), ".form-error")[0].contains("common"));
}

// ---- 9. Caching ----

#[tokio::test]
async fn private_answers_are_not_stored() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let note = app
        .call(
            "POST",
            "/api/notes",
            Some(&ada),
            Some(json!({"article": "first-steps", "body": "hi"})),
        )
        .await;
    let id = json_of(&note)["id"].clone();
    for uri in [
        "/api/me".to_string(),
        "/api/notes".into(),
        format!("/api/notes/{id}"),
        "/api/bookmarks".into(),
        "/api/export".into(),
        "/export.json".into(),
        "/export.md".into(),
        "/bookmarks".into(),
        "/notes".into(),
    ] {
        let res = app.call("GET", &uri, Some(&ada), None).await;
        assert_eq!(res.status, StatusCode::OK, "{uri}");
        assert!(
            res.header("cache-control").contains("no-store"),
            "{uri}: {:?}",
            res.header("cache-control")
        );
    }
    assert!(
        app.call("GET", "/api/me", None, None)
            .await
            .header("cache-control")
            .contains("no-store")
    );
}

// ---- 10. /metrics ----

#[tokio::test]
async fn metrics_can_require_a_bearer_token_or_move_to_another_listener() {
    let mut app = TestApp::new().await;
    app.state.metrics_access.token = Some("s3cret-token".into());
    let router = snakepit::app(app.state.clone());
    let get = |auth: Option<&str>| {
        let mut b = Request::get("/metrics");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(Body::empty()).unwrap()
    };
    for bad in [
        None,
        Some("Bearer wrong"),
        Some("s3cret-token"),
        Some("Bearer s3cret-toke"),
    ] {
        let res = router.clone().oneshot(get(bad)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
        assert!(res.headers().contains_key("www-authenticate"));
    }
    let res = router
        .clone()
        .oneshot(get(Some("Bearer s3cret-token")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // On its own listener: the site no longer serves it.
    app.state.metrics_access = snakepit::metrics::MetricsAccess {
        token: None,
        separate: true,
    };
    app.router = snakepit::app(app.state.clone());
    assert_eq!(app.get("/metrics").await.status, StatusCode::NOT_FOUND);
    let res = snakepit::metrics_app(app.state.clone())
        .oneshot(get(None))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
