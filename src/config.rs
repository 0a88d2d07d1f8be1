//! Typed configuration: the command line and its `SNAKEPIT_*` environment variables,
//! parsed once at start-up (see CONTRACT.md, "Command line").

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `snakepit [serve] [FLAGS]`, `snakepit check`, …
#[derive(Debug, Parser)]
#[command(name = "snakepit", version, about = "A self-hosted knowledge base of hard-won Python expertise")]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags for `serve`, which is also what runs when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the site (the default).
    Serve(ServeArgs),
    /// Validate all content and report every problem as `file:line: message`.
    Check(CheckArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SNAKEPIT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    #[command(flatten)]
    pub site: SiteArgs,
    /// Directory for the SQLite database and run scratch space.
    #[arg(long, env = "SNAKEPIT_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, env = "SNAKEPIT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// What the site is built from; shared by `serve` and `check`.
#[derive(Debug, Clone, Args)]
pub struct SiteArgs {
    /// Directory of Markdown articles and `sections.toml`.
    #[arg(long, env = "SNAKEPIT_CONTENT", default_value = "./content")]
    pub content: PathBuf,
    /// Directory of static assets (CSS, JavaScript, icons).
    #[arg(long, env = "SNAKEPIT_STATIC", default_value = "./static")]
    pub static_dir: PathBuf,
    /// Public URL of the site, used in canonical and shared links (e.g. https://kb.example.com).
    #[arg(long, env = "SNAKEPIT_BASE_URL")]
    pub base_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Directory of Markdown articles and `sections.toml`.
    #[arg(long, env = "SNAKEPIT_CONTENT", default_value = "./content")]
    pub content: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl SiteArgs {
    /// The base URL without a trailing slash, if one was configured.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref().map(|u| u.trim_end_matches('/'))
    }
}
