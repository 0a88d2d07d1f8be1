//! Accounts: who is reading. Local accounts (argon2id passwords, sign-up, login) or a
//! trusted SSO proxy naming the user in a header; server-side sessions in SQLite; a CSRF
//! token per session, required on every state-changing request made as a user.
//!
//! [`authenticate`] runs on every request: it resolves the session cookie (or the proxy
//! header) into a [`Viewer`] through an in-memory cache, so signed-in page views cost no
//! database round trip, and checks the CSRF token of unsafe requests. Handlers then ask for
//! [`User`] (must be signed in; unsafe methods must have passed the CSRF check) or
//! [`MaybeUser`].

mod handlers;
pub mod limit;
pub mod password;
pub mod proxy;
mod session;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::{AccountArgs, AuthMode, Signup};
use crate::db::Db;
use crate::error::Error;
use crate::personal::Snapshots;
use crate::{AppState, http};

pub use handlers::router;
pub use proxy::Cidr;
pub use session::{SESSION_COOKIE, create_user, find_user_id, set_password, validate_username};

/// The CSRF header of JSON requests (CONTRACT.md).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The CSRF field of HTML forms.
pub const CSRF_FIELD: &str = "csrf_token";
/// How long a cached session is trusted before the database is asked again, so a
/// session ended elsewhere (e.g. `snakepit user passwd`) stops working soon after.
const SESSION_RECHECK: Duration = Duration::from_secs(60);

/// Accounts configuration, parsed once at start-up.
#[derive(Debug, Clone)]
pub struct AccountsConfig {
    pub mode: AuthMode,
    pub proxy_header: HeaderName,
    pub trusted_proxies: Vec<Cidr>,
    pub signup_open: bool,
    /// `Secure` on cookies: set when the base URL is https.
    pub secure_cookies: bool,
    pub session_ttl: Duration,
    /// Failed logins allowed in `login_window` per (username, address) pair, and per
    /// (username, known browser) for browsers that signed in to the account before.
    pub login_failures_per_user: u32,
    /// Failed logins allowed per address (any usernames) in `login_window`.
    pub login_failures_per_ip: u32,
    /// Failed logins allowed per username across all addresses in `login_window`; past it
    /// only browsers that signed in to the account before may still try.
    pub login_failures_per_account: u32,
    pub login_window: Duration,
    /// Sign-ups allowed per address per hour.
    pub signups_per_ip: u32,
}

impl AccountsConfig {
    pub fn from_args(args: &AccountArgs, base_url: Option<&str>) -> Result<Self, String> {
        let proxy_header = HeaderName::try_from(args.auth_proxy_header.trim()).map_err(|_| {
            format!(
                "--auth-proxy-header: `{}` is not a header name",
                args.auth_proxy_header
            )
        })?;
        let trusted_proxies = args
            .auth_trusted_proxies
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.parse::<Cidr>()
                    .map_err(|e| format!("--auth-trusted-proxies: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if args.auth == AuthMode::Proxy && trusted_proxies.is_empty() {
            return Err("--auth proxy needs at least one --auth-trusted-proxies address".into());
        }
        if args.session_days == 0 {
            return Err("--session-days must be at least 1".into());
        }
        Ok(Self {
            mode: args.auth,
            proxy_header,
            trusted_proxies,
            signup_open: args.signup == Signup::Open,
            secure_cookies: base_url.is_some_and(|u| u.starts_with("https://")),
            session_ttl: Duration::from_secs(u64::from(args.session_days) * 86_400),
            login_failures_per_user: 10,
            login_failures_per_ip: 50,
            login_failures_per_account: 100,
            login_window: Duration::from_secs(15 * 60),
            signups_per_ip: 20,
        })
    }
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self::from_args(&AccountArgs::default(), None).expect("the defaults are valid")
    }
}

/// The signed-in reader of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub user_id: i64,
    pub username: String,
    pub csrf_token: String,
}

/// Per-request authentication result, stored in the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub viewer: Option<Arc<Viewer>>,
    /// The request is safe (GET/HEAD/OPTIONS) or carried the viewer's CSRF token.
    pub csrf_ok: bool,
    /// The session token from the cookie, for logout.
    pub(crate) token_hash: Option<String>,
}

/// A cached session: who, when it expires (unix seconds), when last checked.
type CachedSession = (Arc<Viewer>, i64, Instant);

/// Accounts state shared by all requests.
pub struct Accounts {
    pub config: AccountsConfig,
    sessions: RwLock<HashMap<String, CachedSession>>,
    proxy_users: RwLock<HashMap<String, Arc<Viewer>>>,
    proxy_key: [u8; 32],
    /// Failures per (username, address).
    pub(crate) login_by_user: limit::Limiter,
    pub(crate) login_by_ip: limit::Limiter,
    /// Failures per username from browsers not known to the account.
    pub(crate) login_by_account: limit::Limiter,
    /// Failures per (username, known browser).
    pub(crate) login_by_device: limit::Limiter,
    pub(crate) signup_by_ip: limit::Limiter,
    /// Per-user bookmarks and notes, for signed-in page views.
    pub snapshots: Snapshots,
}

impl Accounts {
    /// Loads the server's secret (creating it on first start).
    pub async fn new(config: AccountsConfig, db: &Db) -> Result<Self, sqlx::Error> {
        let proxy_key = session::server_key(db).await?;
        Ok(Self {
            login_by_user: limit::Limiter::new(config.login_failures_per_user, config.login_window),
            login_by_ip: limit::Limiter::new(config.login_failures_per_ip, config.login_window),
            login_by_account: limit::Limiter::new(
                config.login_failures_per_account,
                config.login_window,
            ),
            login_by_device: limit::Limiter::new(
                config.login_failures_per_user,
                config.login_window,
            ),
            signup_by_ip: limit::Limiter::new(config.signups_per_ip, Duration::from_secs(3600)),
            config,
            sessions: RwLock::new(HashMap::new()),
            proxy_users: RwLock::new(HashMap::new()),
            proxy_key,
            snapshots: Snapshots::default(),
        })
    }

    fn device_mac(&self, username: &str, nonce: &str) -> String {
        blake3::keyed_hash(
            &self.proxy_key,
            format!("device:{username}:{nonce}").as_bytes(),
        )
        .to_hex()[..32]
            .to_string()
    }

    /// A known-browser cookie value for `username` (lowercased): a random nonce and its MAC.
    pub(crate) fn device_token(&self, username: &str) -> String {
        let nonce = &session::random_token()[..32];
        format!("{nonce}.{}", self.device_mac(username, nonce))
    }

    /// The nonce of a known-browser cookie, if it was made by this server for `username`.
    pub(crate) fn device_nonce(&self, username: &str, token: &str) -> Option<String> {
        let (nonce, mac) = token.split_once('.')?;
        (nonce.len() == 32 && same_token(mac, &self.device_mac(username, nonce)))
            .then(|| nonce.to_string())
    }

    pub fn is_proxy(&self) -> bool {
        self.config.mode == AuthMode::Proxy
    }

    fn cached_session(&self, token_hash: &str) -> Option<Arc<Viewer>> {
        let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
        let (viewer, expires_at, checked) = sessions.get(token_hash)?;
        (*expires_at > crate::db::now() && checked.elapsed() < SESSION_RECHECK)
            .then(|| viewer.clone())
    }

    fn cache_session(&self, token_hash: String, viewer: Arc<Viewer>, expires_at: i64) {
        let mut sessions = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        if sessions.len() > 50_000 {
            sessions.clear();
        }
        sessions.insert(token_hash, (viewer, expires_at, Instant::now()));
    }

    pub(crate) fn forget_session(&self, token_hash: &str) {
        self.sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(token_hash);
    }

    /// The signed-in user of a session cookie value, if the session is live.
    async fn session_viewer(
        &self,
        db: &Db,
        token: &str,
    ) -> Result<Option<(Arc<Viewer>, String)>, Error> {
        let token_hash = session::hash_token(token);
        if let Some(v) = self.cached_session(&token_hash) {
            return Ok(Some((v, token_hash)));
        }
        let Some((viewer, expires_at)) = session::lookup(db, &token_hash).await? else {
            self.forget_session(&token_hash);
            return Ok(None);
        };
        let viewer = Arc::new(viewer);
        self.cache_session(token_hash.clone(), viewer.clone(), expires_at);
        Ok(Some((viewer, token_hash)))
    }

    /// The user a trusted proxy names, created on first sight.
    async fn proxy_viewer(&self, db: &Db, username: &str) -> Result<Option<Arc<Viewer>>, Error> {
        if session::validate_username(username).is_err() {
            return Ok(None);
        }
        let key = username.to_lowercase();
        if let Some(v) = self
            .proxy_users
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Some(v.clone()));
        }
        let (user_id, username) = session::find_or_create_proxy_user(db, username).await?;
        let csrf_token = blake3::keyed_hash(&self.proxy_key, format!("csrf:{user_id}").as_bytes())
            .to_hex()[..32]
            .to_string();
        let viewer = Arc::new(Viewer {
            user_id,
            username,
            csrf_token,
        });
        self.proxy_users
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, viewer.clone());
        Ok(Some(viewer))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// Constant-time string comparison for tokens.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Middleware: resolves the viewer and checks the CSRF token of unsafe requests.
pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let accounts = &state.accounts;
    let mut auth = Auth::default();
    let resolved = if accounts.is_proxy() {
        let trusted = crate::http::ClientIp::of(request.extensions())
            .0
            .is_some_and(|ip| {
                accounts
                    .config
                    .trusted_proxies
                    .iter()
                    .any(|c| c.contains(ip))
            });
        let mut names = request
            .headers()
            .get_all(&accounts.config.proxy_header)
            .iter();
        match (names.next(), names.next()) {
            // Two identity headers: which one the proxy meant is unknowable; refuse.
            (Some(_), Some(_)) if trusted => {
                let e = Error::BadRequest(format!(
                    "the request names the user in more than one `{}` header",
                    accounts.config.proxy_header
                ));
                return crate::ApiError(e).into_response_for(request.uri().path());
            }
            (Some(name), None) if trusted => match name.to_str() {
                Ok(name) => accounts.proxy_viewer(&state.db, name.trim()).await,
                Err(_) => Ok(None),
            },
            _ => Ok(None),
        }
    } else {
        match cookie(request.headers(), SESSION_COOKIE) {
            Some(token) => accounts
                .session_viewer(&state.db, token)
                .await
                .map(|found| {
                    found.map(|(viewer, hash)| {
                        auth.token_hash = Some(hash);
                        viewer
                    })
                }),
            None => Ok(None),
        }
    };
    match resolved {
        Ok(viewer) => auth.viewer = viewer,
        Err(e) => return crate::ApiError(e).into_response_for(request.uri().path()),
    }
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let mut request = request;
    if safe {
        auth.csrf_ok = true;
    } else if auth.viewer.is_none() && is_cross_site(&request) {
        // No session, so no CSRF token yet: a cross-site form could sign the reader
        // in to an account the attacker controls (login CSRF). Browsers say where a
        // request comes from; refuse what another site sent.
        let e =
            Error::Forbidden("cross-site request refused: submit the form from this site".into());
        return crate::ApiError(e).into_response_for(request.uri().path());
    } else if let Some(viewer) = auth.viewer.clone() {
        let header_token = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok());
        auth.csrf_ok = header_token.is_some_and(|t| same_token(t, &viewer.csrf_token));
        if !auth.csrf_ok && is_form(&request) {
            let (ok, rebuilt) = form_csrf(request, &viewer.csrf_token).await;
            auth.csrf_ok = ok;
            request = match rebuilt {
                Ok(r) => r,
                Err(response) => return response,
            };
        }
        // Every unsafe request made with a session carries its token, whatever the
        // route: signing in again, running code and sharing as much as writing notes.
        if !auth.csrf_ok {
            return crate::ApiError(csrf_error()).into_response_for(request.uri().path());
        }
    }
    let private = is_private(request.uri().path());
    request.extensions_mut().insert(auth);
    let mut response = next.run(request).await;
    if private && !response.headers().contains_key(header::CACHE_CONTROL) {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
    }
    response
}

/// Answers that carry one user's data (or their CSRF token): no cache may keep them.
fn is_private(path: &str) -> bool {
    const PRIVATE: [&str; 8] = [
        "/api/me",
        "/api/notes",
        "/api/bookmarks",
        "/api/export",
        "/export.json",
        "/export.md",
        "/bookmarks",
        "/notes",
    ];
    PRIVATE.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Whether the browser says another site sent this request: `Sec-Fetch-Site`
/// when present (every current browser), else an `Origin` naming another host.
fn is_cross_site(request: &Request) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"cross-site";
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // HTTP/1.1 names the host in `Host`, HTTP/2 in the URI's authority.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let from = origin.split_once("://").map(|(_, authority)| authority);
    !matches!((from, host), (Some(from), Some(host)) if from.eq_ignore_ascii_case(host))
}

fn is_form(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Reads a form body to find its CSRF field, then puts the body back for the handler.
async fn form_csrf(request: Request, expected: &str) -> (bool, Result<Request, Response>) {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, http::BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            let r = Error::PayloadTooLarge("the form is too large".into());
            return (false, Err(axum::response::IntoResponse::into_response(r)));
        }
    };
    let ok = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| fields.into_iter().find(|(k, _)| k == CSRF_FIELD))
        .is_some_and(|(_, v)| same_token(&v, expected));
    (ok, Ok(Request::from_parts(parts, Body::from(bytes))))
}

impl crate::ApiError {
    /// JSON under `/api`, an HTML page elsewhere.
    pub fn into_response_for(self, path: &str) -> Response {
        if path.starts_with("/api/") {
            axum::response::IntoResponse::into_response(self)
        } else {
            axum::response::IntoResponse::into_response(self.0)
        }
    }
}

/// The signed-in user of a page request: signed-out readers are sent to the login page
/// (and come back after); an unsafe request without a valid CSRF token gets 403.
pub struct User(pub Arc<Viewer>);

/// The signed-in user of an `/api` request: 401 JSON when signed out, 403 JSON without CSRF.
pub struct ApiUser(pub Arc<Viewer>);

/// The signed-in user, if any (no CSRF requirement: for pages that only read).
pub struct MaybeUser(pub Option<Arc<Viewer>>);

fn csrf_error() -> Error {
    Error::Forbidden(
        "missing or wrong CSRF token: send the X-CSRF-Token header (or the csrf_token form field) given by /api/me".into(),
    )
}

fn signed_in(parts: &Parts) -> Result<Arc<Viewer>, Error> {
    let auth = parts.extensions.get::<Auth>().cloned().unwrap_or_default();
    let viewer = auth.viewer.ok_or(Error::Unauthorized)?;
    if !auth.csrf_ok {
        return Err(csrf_error());
    }
    Ok(viewer)
}

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match signed_in(parts) {
            Ok(v) => Ok(User(v)),
            Err(Error::Unauthorized) => {
                let back = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                let next = if parts.method == Method::GET {
                    back
                } else {
                    "/"
                };
                let target = format!(
                    "/login?next={}",
                    percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
                );
                Err(axum::response::IntoResponse::into_response(
                    axum::response::Redirect::to(&target),
                ))
            }
            Err(e) => Err(axum::response::IntoResponse::into_response(e)),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiUser {
    type Rejection = crate::ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        signed_in(parts).map(ApiUser).map_err(crate::ApiError)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(
            parts
                .extensions
                .get::<Auth>()
                .and_then(|a| a.viewer.clone()),
        ))
    }
}
