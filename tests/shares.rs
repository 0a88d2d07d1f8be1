//! Snippet sharing through the real router and a real SQLite database: the JSON API, the
//! `/s/{id}` page, idempotence, limits, CSRF, the no-JS forms and a restart.

mod common;

use std::net::SocketAddr;
use std::path::Path;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use common::{
    Response, Session, TestApp, assert_error, attrs, default_accounts, fixture_args, form_request,
    json_of, json_request, texts,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use snakepit::accounts::Accounts;
use snakepit::sandbox::Limits;
use snakepit::sandbox::api::Runner;
use snakepit::shares::SHARES_PER_WINDOW;
use snakepit::{AppState, Site, app};
use tower::ServiceExt;

const XSS: &str = "print('</pre><script>alert(1)</script>')\nx = \"<b>&amp;</b>\"\n";

/// An anonymous `POST /api/shares` of `body`.
fn share_request(body: &Value) -> Request<Body> {
    json_request("POST", "/api/shares", None, false, Some(body.clone()))
}

/// The same request as coming from the peer `ip` (the rate limit is per client).
fn from_peer(mut request: Request<Body>, ip: &str) -> Request<Body> {
    let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(addr));
    request
}

async fn share(app: &TestApp, body: Value) -> Response {
    app.request(share_request(&body)).await
}

/// Shares `body` (expecting a new share) and returns its id.
async fn new_share(app: &TestApp, body: Value) -> String {
    let res = share(app, body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    json_of(&res)["id"].as_str().unwrap().to_string()
}

async fn rows(state: &AppState) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM shares")
        .fetch_one(&state.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_share_round_trips_through_the_api_and_its_page() {
    let app = TestApp::new().await;
    let res = share(
        &app,
        json!({"code": XSS, "article": "first-steps", "anchor": "aliasing-surprises"}),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let created = json_of(&res);
    let id = created["id"].as_str().unwrap();
    assert!(
        id.len() == 12
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "a short URL-safe id: {id}"
    );
    // The fixture site has a base URL, so the link is absolute.
    let url = format!("https://kb.example.test/s/{id}");
    assert_eq!(created["url"], url);
    assert_eq!(res.header("location"), url);

    let res = app.get(&format!("/api/shares/{id}")).await;
    assert_eq!(res.status, StatusCode::OK);
    let got = json_of(&res);
    assert_eq!(got["id"], id);
    assert_eq!(got["code"], XSS);
    assert_eq!(got["article"], "first-steps");
    assert_eq!(got["anchor"], "aliasing-surprises");
    let created_at = got["created_at"].as_str().unwrap();
    let shape = created_at.len() == 20
        && created_at.ends_with('Z')
        && created_at.as_bytes()[10] == b'T'
        && created_at[..4].parse::<u32>().is_ok_and(|y| y >= 2024);
    assert!(shape, "RFC 3339 UTC: {created_at}");

    let page = app.get(&format!("/s/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    let html = page.html();
    // The code is shown escaped, in the markup of an article's snippets, with the no-JS Run form.
    assert_eq!(
        texts(
            &html,
            "figure.snippet[data-snippet] pre.code code.language-python"
        ),
        vec![XSS.trim().to_string()]
    );
    let sel = scraper::Selector::parse("figure.snippet pre.code").unwrap();
    let pre: String = html.select(&sel).next().unwrap().text().collect();
    assert_eq!(pre, XSS, "the exact code, highlighted but unaltered");
    assert_eq!(
        attrs(&html, "figure.snippet form.run-form", "action"),
        vec!["/run"]
    );
    assert_eq!(
        attrs(&html, "form.run-form input[name=code]", "value"),
        vec![XSS]
    );
    let inline_scripts = attrs(&html, "script", "src").len();
    assert_eq!(
        texts(&html, "script").len(),
        inline_scripts,
        "no script element comes from the shared code"
    );
    assert!(!page.text().contains("<script>alert"));
    // Where it came from, with the article's summary and links back.
    assert_eq!(
        texts(&html, ".share-origin"),
        vec!["Shared from First steps with lists › Aliasing surprises"]
    );
    assert_eq!(
        attrs(&html, ".share-origin a", "href"),
        vec!["/articles/first-steps#aliasing-surprises"]
    );
    assert_eq!(
        texts(&html, ".share-header .lead"),
        vec!["Lists grow, shrink and alias; here is how."]
    );
    assert_eq!(
        attrs(&html, "a.share-article-link", "href"),
        vec!["/articles/first-steps"]
    );
    assert_eq!(
        attrs(&html, "link[rel=canonical]", "href"),
        vec![url.clone()]
    );
    // Pasted in chat, the link unfurls as the snippet's article.
    assert_eq!(
        attrs(&html, "meta[property='og:url']", "content"),
        vec![url]
    );
    assert_eq!(
        attrs(&html, "meta[property='og:description']", "content"),
        vec!["Lists grow, shrink and alias; here is how."]
    );
    assert_eq!(
        attrs(&html, "meta[name='twitter:card']", "content"),
        vec!["summary_large_image"]
    );
    assert_eq!(
        texts(&html, "title"),
        vec!["Shared snippet from First steps with lists — Snakepit"]
    );
    assert_eq!(
        attrs(&html, "meta[name=description]", "content"),
        vec!["Lists grow, shrink and alias; here is how."]
    );
    assert_eq!(
        attrs(&html, "[data-share-id]", "data-share-id"),
        vec![id.to_string()]
    );
    assert_eq!(
        attrs(&html, "[data-share-id]", "data-anchor"),
        vec!["aliasing-surprises"]
    );

    // Without an article the page simply shows the code.
    let bare = new_share(&app, json!({"code": "print(42)\n", "article": null})).await;
    let html = app.get(&format!("/s/{bare}")).await.html();
    assert!(texts(&html, ".share-origin").is_empty());
    assert_eq!(texts(&html, "figure.snippet pre.code"), vec!["print(42)"]);
}

#[tokio::test]
async fn the_same_share_gives_the_same_id_and_one_row() {
    let app = TestApp::new().await;
    let body = json!({"code": "print(1)\n", "article": "first-steps"});
    let first = new_share(&app, body.clone()).await;
    let again = share(&app, body).await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "a repeat is answered 200, nothing new stored"
    );
    assert_eq!(json_of(&again)["id"], first.as_str());
    assert_eq!(rows(&app.state).await, 1);
    // Newlines are normalised: a form's CRLF gives the same share; an old slug is its article.
    let crlf = share(
        &app,
        json!({"code": "print(1)\r\n", "article": "first-steps"}),
    )
    .await;
    assert_eq!(json_of(&crlf)["id"], first.as_str());
    let alias = share(&app, json!({"code": "print(1)\n", "article": "lists-101"})).await;
    assert_eq!(json_of(&alias)["id"], first.as_str());
    assert_eq!(rows(&app.state).await, 1);

    // Anything else is another share.
    let others = [
        new_share(
            &app,
            json!({"code": "print(1)\n", "article": "second-look"}),
        )
        .await,
        new_share(&app, json!({"code": "print(1)\n", "article": null})).await,
        json_of(&share(&app, json!({"code": "print(1)\n"})).await)["id"]
            .as_str()
            .unwrap()
            .to_string(),
        new_share(
            &app,
            json!({"code": "print(1)\n", "article": "first-steps", "anchor": "a-nested-case"}),
        )
        .await,
        new_share(
            &app,
            json!({"code": "print(2)\n", "article": "first-steps"}),
        )
        .await,
    ];
    assert_ne!(others[0], first);
    assert_ne!(others[1], first);
    assert_eq!(others[2], others[1], "a missing article is a null one");
    assert_ne!(others[3], first);
    assert_ne!(others[4], first);
    assert_eq!(rows(&app.state).await, 5);
}

#[tokio::test]
async fn bad_shares_are_refused_with_json_errors() {
    let app = TestApp::new().await;
    let limit = Limits::default().code_bytes;
    let big = "x".repeat(limit + 1);
    let message = assert_error(
        &share(&app, json!({"code": big, "article": null})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    assert!(message.contains(&limit.to_string()), "{message}");
    // Exactly the limit is fine.
    new_share(&app, json!({"code": "x".repeat(limit)})).await;

    for (body, what) in [
        (json!({"code": ""}), "empty code"),
        (json!({"code": " \n\t\n"}), "blank code"),
        (
            json!({"code": "print(1)", "article": "no-such-article"}),
            "unknown article",
        ),
        (
            json!({"code": "print(1)", "article": "first-steps", "anchor": "no-such-heading"}),
            "unknown anchor",
        ),
        (
            json!({"code": "print(1)", "anchor": "aliasing-surprises"}),
            "anchor without article",
        ),
        (json!({"article": "first-steps"}), "no code"),
        (json!({"code": 42}), "code not a string"),
    ] {
        let res = share(&app, body).await;
        assert_eq!(
            res.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            res.text()
        );
        assert_error(&res, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let broken = Request::post("/api/shares")
        .header("content-type", "application/json")
        .body(Body::from("{\"code\": "))
        .unwrap();
    let message = assert_error(&app.request(broken).await, StatusCode::BAD_REQUEST);
    assert!(message.contains("not valid JSON"), "{message}");
    let untyped = Request::post("/api/shares")
        .body(Body::from("{\"code\": \"print(1)\"}"))
        .unwrap();
    assert_error(
        &app.request(untyped).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    assert_eq!(rows(&app.state).await, 1, "only the share at the limit");

    // Unknown and malformed ids.
    assert_error(
        &app.get("/api/shares/AAAAAAAAAAAA").await,
        StatusCode::NOT_FOUND,
    );
    assert_error(&app.get("/api/shares/nope").await, StatusCode::BAD_REQUEST);
    assert_error(
        &app.get("/api/shares/AAAAAAAAAAA%2F").await,
        StatusCode::BAD_REQUEST,
    );
    for path in ["/s/AAAAAAAAAAAA", "/s/nope", "/s/%3Cscript%3E"] {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        let html = page.html();
        assert_eq!(texts(&html, "h1"), vec!["Page not found"], "{path}");
        assert_eq!(attrs(&html, "form.big-search", "action"), vec!["/search"]);
    }
}

#[tokio::test]
async fn creating_shares_is_rate_limited_per_client() {
    let app = TestApp::new().await;
    for i in 0..SHARES_PER_WINDOW {
        let req = from_peer(
            share_request(&json!({"code": format!("print({i})")})),
            "192.0.2.1",
        );
        assert_eq!(
            app.request(req).await.status,
            StatusCode::CREATED,
            "share {i}"
        );
    }
    let req = from_peer(
        share_request(&json!({"code": "print('one more')"})),
        "192.0.2.1",
    );
    let res = app.request(req).await;
    assert_error(&res, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res
        .header("retry-after")
        .parse()
        .expect("Retry-After seconds");
    assert!((1..=600).contains(&retry), "{retry}");
    // The form is limited alike, with the error page.
    let form = from_peer(
        form_request("/shares", None, &[("code", "print('form')")]),
        "192.0.2.1",
    );
    let res = app.request(form).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!res.header("retry-after").is_empty());
    assert_eq!(rows(&app.state).await, i64::from(SHARES_PER_WINDOW));
    // Another client is not affected.
    let req = from_peer(
        share_request(&json!({"code": "print('one more')"})),
        "192.0.2.2",
    );
    assert_eq!(app.request(req).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_signed_in_reader_shares_with_the_csrf_token() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let body = json!({"code": "print('signed in')"});
    let without_token = json_request("POST", "/api/shares", Some(&ada), false, Some(body.clone()));
    assert_error(&app.request(without_token).await, StatusCode::FORBIDDEN);
    let wrong_token = Session {
        csrf: "wrong".into(),
        ..ada.clone()
    };
    let res = app
        .call(
            "POST",
            "/api/shares",
            Some(&wrong_token),
            Some(body.clone()),
        )
        .await;
    assert_error(&res, StatusCode::FORBIDDEN);
    assert_eq!(rows(&app.state).await, 0);
    assert_eq!(
        app.call("POST", "/api/shares", Some(&ada), Some(body))
            .await
            .status,
        StatusCode::CREATED
    );
    // The form needs the token field when signed in.
    let res = app
        .request(form_request("/shares", Some(&ada), &[("code", "print(3)")]))
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    let fields = [("code", "print(3)"), ("csrf_token", ada.csrf.as_str())];
    let res = app
        .request(form_request("/shares", Some(&ada), &fields))
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_no_js_run_page_offers_a_share_form_that_redirects_to_the_share() {
    let app = TestApp::with_sandbox(1, Limits::default()).await;
    let code = "a = [1, 2]\r\nprint(a)\r\n";
    let run = Request::post("/run")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("referer", "https://kb.example.test/articles/first-steps")
        .body(Body::from(
            serde_urlencoded::to_string([("code", code)]).unwrap(),
        ))
        .unwrap();
    let page = app.request(run).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.html();
    assert_eq!(texts(&html, ".run-stream"), vec!["[1, 2]"]);
    assert_eq!(attrs(&html, "form.share-form", "action"), vec!["/shares"]);
    assert_eq!(attrs(&html, "form.share-form", "method"), vec!["post"]);
    // (HTML parsing turns the CRLFs in the attribute into LFs, as a browser does.)
    assert_eq!(
        attrs(&html, "form.share-form input[name=code]", "value"),
        vec![code.replace("\r\n", "\n")]
    );
    assert_eq!(
        attrs(&html, "form.share-form input[name=article]", "value"),
        vec!["first-steps"]
    );
    // Submitting it: 303 to the share, the same one the JSON API gives for this code.
    let fields: Vec<(String, String)> = ["code", "article"]
        .iter()
        .map(|name| {
            let sel = format!("form.share-form input[name={name}]");
            // A browser submits newlines as CRLF.
            let value = attrs(&html, &sel, "value").remove(0).replace('\n', "\r\n");
            (name.to_string(), value)
        })
        .collect();
    let submit = Request::post("/shares")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(serde_urlencoded::to_string(&fields).unwrap()))
        .unwrap();
    let res = app.request(submit).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    let location = res.header("location").to_string();
    let api = share(
        &app,
        json!({"code": "a = [1, 2]\nprint(a)\n", "article": "first-steps"}),
    )
    .await;
    assert_eq!(api.status, StatusCode::OK, "already shared by the form");
    assert_eq!(
        location,
        format!("/s/{}", json_of(&api)["id"].as_str().unwrap())
    );
    let shared = app.get(&location).await;
    assert_eq!(shared.status, StatusCode::OK);
    assert_eq!(
        texts(&shared.html(), ".share-origin a"),
        vec!["First steps with lists"]
    );

    // Run from the share's page: the result page links back and keeps the share's origin.
    let run = Request::post("/run")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("referer", format!("https://kb.example.test{location}"))
        .body(Body::from("code=print%28a%29"))
        .unwrap();
    let html = app.request(run).await.html();
    assert_eq!(
        attrs(&html, ".run-page p a", "href"),
        vec![location.clone()]
    );
    assert_eq!(
        attrs(&html, "form.share-form input[name=article]", "value"),
        vec!["first-steps"]
    );
    assert!(attrs(&html, "form.share-form input[name=csrf_token]", "value").is_empty());

    // A signed-in reader's form carries their CSRF token (and so must their run: every
    // unsafe request with a session does).
    let ada = app.sign_up("ada").await;
    let run = form_request(
        "/run",
        Some(&ada),
        &[("code", "print(a)"), ("csrf_token", &ada.csrf)],
    );
    let html = app.request(run).await.html();
    assert_eq!(
        attrs(&html, "form.share-form input[name=csrf_token]", "value"),
        vec![ada.csrf]
    );
}

/// The app over the fixture site and the database in `data`, as `serve` builds it.
async fn app_on(data: &Path) -> (axum::Router, AppState) {
    let site = Site::build(&fixture_args()).expect("fixture site builds");
    let db = snakepit::db::open(data).await.expect("database opens");
    let accounts = Accounts::new(default_accounts(), &db).await.unwrap();
    let runner = Runner::Unavailable("not needed here".into());
    let state = AppState::new(site, runner, db, accounts);
    (app(state.clone()), state)
}

async fn send(router: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn shares_survive_a_restart_on_the_same_database() {
    let data = tempfile::tempdir().unwrap();
    let body = json!({"code": XSS, "article": "second-look"});
    let (router, state) = app_on(data.path()).await;
    let (status, created) = send(&router, share_request(&body)).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap().to_string();
    let (_, before) = send(
        &router,
        Request::get(format!("/api/shares/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    drop(router);
    state.db.close().await;
    drop(state);

    let (router, state) = app_on(data.path()).await;
    let (status, after) = send(
        &router,
        Request::get(format!("/api/shares/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after, before, "the same share, created_at included");
    assert_eq!(after["code"], XSS);
    let (status, again) = send(&router, share_request(&body)).await;
    assert_eq!(status, StatusCode::OK, "still known after the restart");
    assert_eq!(again["id"], id.as_str());
    assert_eq!(rows(&state).await, 1);
}
