//! Sign-up, login, logout and `/api/me`: the HTML forms and the JSON API share one flow.

use std::net::IpAddr;

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use crate::http::ClientIp;

use super::{ApiUser, Auth, MaybeUser, User, Viewer, password, session};
use crate::extract::ApiJson;
use crate::layout::Layout;
use crate::{ApiError, AppState, Error, personal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(show_login).post(submit_login))
        .route("/signup", get(show_signup).post(submit_signup))
        .route("/logout", post(submit_logout))
        .route("/api/login", post(api_login))
        .route("/api/signup", post(api_signup))
        .route("/api/logout", post(api_logout))
        .route("/api/me", get(api_me))
}

#[derive(Debug, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// What `/api/login`, `/api/signup` and `/api/me` answer.
#[derive(Debug, Serialize)]
pub struct Me {
    pub username: String,
    pub csrf_token: String,
}

impl From<&Viewer> for Me {
    fn from(v: &Viewer) -> Self {
        Me {
            username: v.username.clone(),
            csrf_token: v.csrf_token.clone(),
        }
    }
}

/// A started session: its cookie and who it is for.
struct Started {
    viewer: Viewer,
    token: String,
}

fn ip_key(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

fn local_only(state: &AppState) -> Result<(), Error> {
    if state.accounts.is_proxy() {
        return Err(Error::BadRequest(
            "accounts are managed by the sign-in proxy here".into(),
        ));
    }
    Ok(())
}

async fn start_session(state: &AppState, user_id: i64, username: String) -> Result<Started, Error> {
    let ttl = state.accounts.config.session_ttl.as_secs() as i64;
    let (token, csrf_token) = session::create(&state.db, user_id, ttl).await?;
    Ok(Started {
        viewer: Viewer {
            user_id,
            username,
            csrf_token,
        },
        token,
    })
}

/// Cookie of a browser that has signed in to an account before (see [`login`]).
pub const DEVICE_COOKIE: &str = "snakepit_device";
/// How long a browser stays known.
const DEVICE_DAYS: u64 = 365;

/// The attempts one login reserved, given back when it succeeds.
struct Reserved<'a> {
    taken: Vec<(&'a super::limit::Limiter, String)>,
}

impl<'a> Reserved<'a> {
    /// Reserves one attempt on each `(limiter, key)`, all or none.
    fn take(wanted: Vec<(&'a super::limit::Limiter, String)>) -> Result<Self, Error> {
        let mut taken: Vec<(&super::limit::Limiter, String)> = Vec::with_capacity(wanted.len());
        for (limiter, key) in wanted {
            if let Err(secs) = limiter.acquire(&key) {
                for (l, k) in &taken {
                    l.release(k);
                }
                return Err(Error::TooManyRequests(secs));
            }
            taken.push((limiter, key));
        }
        Ok(Self { taken })
    }

    fn give_back(self) {
        for (l, k) in &self.taken {
            l.release(k);
        }
    }
}

/// Signs in, limiting failed attempts so that guessing is slow and nobody can lock a
/// victim out (docs/accounts.md, "Login limits"):
/// - a browser that has signed in to this account before (its `snakepit_device` cookie,
///   MACed with the server's key) is limited on its own: failures per (account, device);
/// - any other attempt counts per address, per (account, address) pair, and per account
///   across all addresses. The account-wide limit only stops unknown browsers, so an
///   attacker who uses it up does not lock the owner's own browser out.
///
/// Every attempt is reserved before the argon2 work, in the same step as the check, so
/// concurrent requests cannot all pass; a successful one is given back.
async fn login(
    state: &AppState,
    ip: Option<IpAddr>,
    device: Option<&str>,
    creds: Credentials,
) -> Result<Started, Error> {
    local_only(state)?;
    let accounts = &state.accounts;
    let user_key = creds.username.trim().to_lowercase();
    let ip_key = ip_key(ip);
    let known_device = device.and_then(|d| accounts.device_nonce(&user_key, d));
    let wanted = match &known_device {
        Some(nonce) => vec![(&accounts.login_by_device, format!("{user_key}\0{nonce}"))],
        None => vec![
            (&accounts.login_by_ip, ip_key.clone()),
            (&accounts.login_by_user, format!("{user_key}\0{ip_key}")),
            (&accounts.login_by_account, user_key.clone()),
        ],
    };
    let reserved = Reserved::take(wanted)?;
    let found = if creds.username.len() <= session::USERNAME_MAX {
        session::find_login(&state.db, creds.username.trim()).await?
    } else {
        None
    };
    let hash = found.as_ref().and_then(|(_, _, h)| h.clone());
    let ok = match password::verify(creds.password, hash).await {
        Ok(ok) => ok,
        Err(e) => {
            reserved.give_back();
            return Err(e);
        }
    };
    match found {
        Some((user_id, username, _)) if ok => {
            reserved.give_back();
            accounts
                .login_by_user
                .reset(&format!("{user_key}\0{ip_key}"));
            start_session(state, user_id, username).await
        }
        _ => {
            tracing::info!(username = %user_key.chars().take(64).collect::<String>(), ip = %ip_key, known_device = known_device.is_some(), "failed login");
            Err(Error::WrongCredentials)
        }
    }
}

async fn signup(
    state: &AppState,
    ip: Option<IpAddr>,
    creds: Credentials,
) -> Result<Started, Error> {
    local_only(state)?;
    if !state.accounts.config.signup_open {
        return Err(Error::Forbidden(
            "sign-up is closed here; an administrator can add you with `snakepit user add`".into(),
        ));
    }
    let username = creds.username.trim().to_string();
    session::validate_username(&username)?;
    password::validate(&creds.password)?;
    let ip_key = ip_key(ip);
    // Reserved before the hashing, given back if no account is made.
    let reserved = Reserved::take(vec![(&state.accounts.signup_by_ip, ip_key)])?;
    let made = async {
        let hash = password::hash(creds.password).await?;
        session::create_user(&state.db, &username, &hash).await
    }
    .await;
    let user_id = match made {
        Ok(id) => id,
        Err(e) => {
            reserved.give_back();
            return Err(e);
        }
    };
    tracing::info!(%username, "account created");
    start_session(state, user_id, username).await
}

fn session_cookie(state: &AppState, token: &str, max_age: u64) -> HeaderValue {
    let secure = if state.accounts.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        session::SESSION_COOKIE
    );
    HeaderValue::from_str(&value).expect("tokens are hex")
}

fn with_session(state: &AppState, started: &Started, response: impl IntoResponse) -> Response {
    let cookie = session_cookie(
        state,
        &started.token,
        state.accounts.config.session_ttl.as_secs(),
    );
    let secure = if state.accounts.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let device = state
        .accounts
        .device_token(&started.viewer.username.to_lowercase());
    let device = HeaderValue::from_str(&format!(
        "{DEVICE_COOKIE}={device}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        DEVICE_DAYS * 86_400
    ))
    .expect("tokens are hex");
    let mut response = (
        [
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        response,
    )
        .into_response();
    response.headers_mut().append(header::SET_COOKIE, device);
    response
}

async fn end_session(state: &AppState, auth: &Auth) -> Result<Response, Error> {
    if let Some(hash) = &auth.token_hash {
        session::delete(&state.db, hash).await?;
        state.accounts.forget_session(hash);
    }
    let cookie = session_cookie(state, "", 0);
    Ok(([(header::SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

async fn api_login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(creds): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let device = super::cookie(&headers, DEVICE_COOKIE);
    let started = login(&state, ip, device, creds).await?;
    let me = Me::from(&started.viewer);
    Ok(with_session(&state, &started, Json(me)))
}

async fn api_signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(creds): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let started = signup(&state, ip, creds).await?;
    let me = Me::from(&started.viewer);
    Ok(with_session(
        &state,
        &started,
        (StatusCode::CREATED, Json(me)),
    ))
}

async fn api_logout(
    State(state): State<AppState>,
    _user: ApiUser,
    Extension(auth): Extension<Auth>,
) -> Result<Response, ApiError> {
    Ok(end_session(&state, &auth).await?)
}

async fn api_me(MaybeUser(viewer): MaybeUser) -> Result<Json<Me>, ApiError> {
    let v = viewer.ok_or(Error::Unauthorized)?;
    Ok(Json(Me::from(&*v)))
}

// ---- HTML forms ----

#[derive(Template)]
#[template(path = "accounts/form.html")]
pub struct AccountFormPage<'a> {
    pub layout: &'a Layout,
    /// Where this page lives (see `templates/base.html`): canonical link and link previews.
    pub canonical: String,
    pub signup: bool,
    pub signup_open: bool,
    pub proxy: bool,
    pub error: Option<String>,
    pub username: String,
    pub next: String,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct AccountForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Only same-origin paths: the target is resolved against this site the way a browser
/// resolves it (tabs and newlines dropped, `\\` read as `/`, dot segments...), and kept
/// only if it stays on the site; then it is sent as that resolved path, so what the
/// browser follows is exactly what was checked. Anything else becomes `/`.
pub fn safe_next(next: Option<&str>) -> String {
    const BASE: &str = "http://snakepit.invalid/";
    let Some(next) = next else {
        return "/".into();
    };
    // A browser drops ASCII tabs and newlines anywhere in a URL; a header cannot carry
    // control characters at all.
    if !next.starts_with('/') || next.chars().any(|c| c.is_control()) {
        return "/".into();
    }
    let base = url::Url::parse(BASE).expect("a valid base");
    match base.join(next) {
        Ok(u)
            if u.origin() == base.origin() && u.username().is_empty() && u.password().is_none() =>
        {
            let mut out = u.path().to_string();
            if let Some(q) = u.query() {
                out.push('?');
                out.push_str(q);
            }
            if let Some(f) = u.fragment() {
                out.push('#');
                out.push_str(f);
            }
            if out.starts_with("//") || out.starts_with("/\\") {
                return "/".into();
            }
            out
        }
        _ => "/".into(),
    }
}

fn form_page(
    state: &AppState,
    viewer: Option<&Viewer>,
    signup: bool,
    error: Option<&Error>,
    username: String,
    next: String,
) -> Response {
    let page = AccountFormPage {
        layout: &state.site.layout,
        canonical: state
            .site
            .layout
            .absolute(if signup { "/signup" } else { "/login" }),
        signup,
        signup_open: state.accounts.config.signup_open,
        proxy: state.accounts.is_proxy(),
        error: error.map(|e| e.to_string()),
        username,
        next,
    };
    let status = error.map_or(StatusCode::OK, Error::status);
    let mut response = personal::render_page(&page, viewer);
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    if let Some(Error::TooManyRequests(secs)) = error {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, (*secs).into());
    }
    response
}

async fn show_login(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(q): Query<NextQuery>,
) -> Response {
    form_page(
        &state,
        viewer.as_deref(),
        false,
        None,
        String::new(),
        safe_next(q.next.as_deref()),
    )
}

async fn show_signup(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Query(q): Query<NextQuery>,
) -> Response {
    form_page(
        &state,
        viewer.as_deref(),
        true,
        None,
        String::new(),
        safe_next(q.next.as_deref()),
    )
}

async fn submit_login(
    state: State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    form: Form<AccountForm>,
) -> Response {
    submit_account_form(state, ip, headers, form, false).await
}

async fn submit_signup(
    state: State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    form: Form<AccountForm>,
) -> Response {
    submit_account_form(state, ip, headers, form, true).await
}

/// The login and sign-up forms: start a session and go on, or show the form again with
/// the error and the username kept.
async fn submit_account_form(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
    signing_up: bool,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let username = form.username.clone();
    let credentials = Credentials {
        username: form.username,
        password: form.password,
    };
    let result = if signing_up {
        signup(&state, ip, credentials).await
    } else {
        let device = super::cookie(&headers, DEVICE_COOKIE);
        login(&state, ip, device, credentials).await
    };
    match result {
        Ok(started) => with_session(&state, &started, Redirect::to(&next)),
        Err(e) => form_page(&state, None, signing_up, Some(&e), username, next),
    }
}

async fn submit_logout(
    State(state): State<AppState>,
    _user: User,
    Extension(auth): Extension<Auth>,
) -> Result<Response, Error> {
    let ended = end_session(&state, &auth).await?;
    let (parts, _) = ended.into_parts();
    let mut response = Redirect::to("/").into_response();
    if let Some(cookie) = parts.headers.get(header::SET_COOKIE) {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, cookie.clone());
    }
    Ok(response)
}
