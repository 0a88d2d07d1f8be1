//! Snakepit: a self-hosted knowledge base of hard-won Python expertise.
//!
//! The request flow reads top to bottom: [`app`] builds the router from each feature's
//! `router()`, wraps it in the middleware stack ([`http::layers`]) and hands every handler
//! the one [`AppState`]. Content is loaded and rendered once at start-up ([`site::Site`]).

pub mod accounts;
pub mod articles;
pub mod assets;
pub mod bookmarks;
pub mod check;
pub mod cli;
pub mod config;
pub mod content;
pub mod db;
pub mod error;
pub mod extract;
pub mod http;
pub mod layout;
pub mod metrics;
pub mod notes;
pub mod personal;
pub mod runtimes;
pub mod sandbox;
pub mod search;
pub mod shares;
pub mod site;

use std::sync::Arc;

use axum::Router;
use axum::middleware;

pub use error::{ApiError, Error};
pub use site::Site;

/// Everything a handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub site: Arc<Site>,
    /// The snippet sandbox, or why it is not running.
    pub runner: sandbox::api::Runner,
    /// Request, search and process counters for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// The SQLite pool (accounts, sessions, bookmarks, notes, shares).
    pub db: db::Db,
    pub accounts: Arc<accounts::Accounts>,
    /// Shares each client may create per window (see [`shares::default_limiter`]).
    pub share_limiter: Arc<accounts::limit::Limiter>,
}

impl AppState {
    /// `site` may be shared (an `Arc<Site>`), e.g. by tests that build it once.
    pub fn new(
        site: impl Into<Arc<Site>>,
        runner: sandbox::api::Runner,
        db: db::Db,
        accounts: accounts::Accounts,
    ) -> Self {
        Self {
            site: site.into(),
            runner,
            metrics: Arc::default(),
            db,
            accounts: Arc::new(accounts),
            share_limiter: Arc::new(shares::default_limiter()),
        }
    }
}

/// The whole application: every feature's routes behind the middleware stack.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(articles::router())
        .merge(sandbox::api::router())
        .merge(search::router())
        .merge(http::router())
        .merge(metrics::router())
        .merge(accounts::router())
        .merge(bookmarks::router())
        .merge(notes::router())
        .merge(shares::router())
        .fallback(http::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            accounts::authenticate,
        ));
    http::layers(routes.with_state(state.clone()), &state)
}
