//! Typed configuration: the command line and its `SNAKEPIT_*` environment variables,
//! parsed once at start-up (see CONTRACT.md, "Command line").

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `snakepit [serve] [FLAGS]`, `snakepit check`, …
#[derive(Debug, Parser)]
#[command(
    name = "snakepit",
    version,
    about = "A self-hosted knowledge base of hard-won Python expertise"
)]
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
    /// Manage local accounts: `user add NAME`, `user passwd NAME` (password on stdin).
    User(UserArgs),
    /// Write a consistent copy of the live database to FILE (safe while serving).
    Backup(BackupArgs),
    /// Search the content from the command line; `--explain` shows why each hit ranks.
    Search(SearchArgs),
}

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Directory of Markdown articles, `sections.toml` and `search-vocabulary.toml`.
    #[arg(long, env = "SNAKEPIT_CONTENT", default_value = "./content")]
    pub content: PathBuf,
    /// Show how the query is read (vocabulary, words, weights) and what scored per hit.
    #[arg(long)]
    pub explain: bool,
    /// Most hits shown.
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    /// The query (several words are one query).
    #[arg(required = true)]
    pub query: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct UserArgs {
    #[command(subcommand)]
    pub action: UserAction,
    /// Directory holding the SQLite database.
    #[arg(long, env = "SNAKEPIT_DATA", default_value = "./data", global = true)]
    pub data: PathBuf,
}

#[derive(Debug, Clone, Subcommand)]
pub enum UserAction {
    /// Create a local account; the password is read from the first line of stdin.
    Add { name: String },
    /// Set a new password (first line of stdin) and end the user's sessions.
    Passwd { name: String },
}

#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where to write the copy; must not exist yet.
    pub file: PathBuf,
    /// Directory holding the SQLite database.
    #[arg(long, env = "SNAKEPIT_DATA", default_value = "./data")]
    pub data: PathBuf,
}

/// How readers are identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Local accounts with passwords, sign-up and login pages.
    Local,
    /// A trusted reverse proxy names the user in a header (SSO setups).
    Proxy,
}

/// Whether anyone may create an account on the sign-up page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Signup {
    Open,
    Closed,
}

/// Accounts and sessions (see CONTRACT.md, "Accounts").
#[derive(Debug, Clone, Args)]
pub struct AccountArgs {
    /// `local` accounts with passwords, or `proxy`: trust a header set by an SSO proxy.
    #[arg(long, env = "SNAKEPIT_AUTH", value_enum, default_value_t = AuthMode::Local)]
    pub auth: AuthMode,
    /// Header naming the user in proxy mode.
    #[arg(
        long,
        env = "SNAKEPIT_AUTH_PROXY_HEADER",
        default_value = "X-Forwarded-User"
    )]
    pub auth_proxy_header: String,
    /// Addresses (CIDR, comma-separated) whose proxy header is believed; from anyone else it is ignored.
    #[arg(
        long,
        env = "SNAKEPIT_AUTH_TRUSTED_PROXIES",
        value_delimiter = ',',
        default_value = "127.0.0.1/32,::1/128"
    )]
    pub auth_trusted_proxies: Vec<String>,
    /// Whether the sign-up page accepts new accounts (`closed`: only `snakepit user add`).
    #[arg(long, env = "SNAKEPIT_SIGNUP", value_enum, default_value_t = Signup::Open)]
    pub signup: Signup,
    /// How long a session lasts after sign-in, in days.
    #[arg(long, env = "SNAKEPIT_SESSION_DAYS", default_value_t = 30)]
    pub session_days: u32,
}

impl Default for AccountArgs {
    fn default() -> Self {
        Self {
            auth: AuthMode::Local,
            auth_proxy_header: "X-Forwarded-User".into(),
            auth_trusted_proxies: vec!["127.0.0.1/32".into(), "::1/128".into()],
            signup: Signup::Open,
            session_days: 30,
        }
    }
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
    #[command(flatten)]
    pub sandbox: SandboxArgs,
    #[command(flatten)]
    pub accounts: AccountArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, env = "SNAKEPIT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Bearer token `/metrics` requires (`Authorization: Bearer TOKEN`); unset, it is public.
    #[arg(long, env = "SNAKEPIT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Serve `/metrics` only on this separate address (e.g. 127.0.0.1:9100), not on `--bind`.
    #[arg(long, env = "SNAKEPIT_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
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
    /// Directory for run scratch space.
    #[arg(long, env = "SNAKEPIT_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// Only validate the content; do not run the snippets.
    #[arg(long)]
    pub no_run: bool,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// The snippet sandbox: interpreter, pool size and the limits of every run.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Only this runtime: a version among `--runtimes` (`3.13`), or an interpreter
    /// (a path, or a name looked up on PATH) used alone, without packages.
    #[arg(long, env = "SNAKEPIT_PYTHON")]
    pub python: Option<String>,
    /// The Python runtimes snippets run on, each with its own pool.
    #[arg(
        long,
        env = "SNAKEPIT_RUNTIMES",
        value_delimiter = ',',
        default_value = "3.11,3.13,3.14,3.15"
    )]
    pub runtimes: Vec<crate::runtimes::Minor>,
    /// The runtime a run uses when none is asked for, and pages show first.
    #[arg(long, env = "SNAKEPIT_DEFAULT_PYTHON", default_value = "3.14")]
    pub default_python: crate::runtimes::Minor,
    /// Where `scripts/ensure-runtimes` installed the runtimes (`bin/python3.X`,
    /// `packages/3.X`); a version not found there is looked up on PATH.
    #[arg(
        long,
        env = "SNAKEPIT_RUNTIME_DIR",
        default_value = "/opt/snakepit/runtimes"
    )]
    pub runtime_dir: PathBuf,
    /// Sandbox pool size of the default runtime: interpreters kept warm and running at once.
    #[arg(long, env = "SNAKEPIT_WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// Pool size of every other runtime.
    #[arg(long, env = "SNAKEPIT_OTHER_WORKERS", default_value_t = 1)]
    pub other_workers: usize,
    /// Runs that may wait for a free worker before new ones are refused (429).
    #[arg(long, env = "SNAKEPIT_RUN_QUEUE", default_value_t = 64)]
    pub run_queue: usize,
    /// Seconds a run may wait in the queue for a worker (then 503 with Retry-After).
    #[arg(long, env = "SNAKEPIT_RUN_QUEUE_SECS", default_value_t = 30)]
    pub run_queue_secs: u64,
    /// Run snippets even when the kernel cannot enforce the minimum confinement.
    #[arg(long, env = "SNAKEPIT_INSECURE_SANDBOX")]
    pub insecure_sandbox: bool,
    /// Wall-clock seconds a run may take.
    #[arg(long, env = "SNAKEPIT_RUN_WALL_SECS", default_value_t = 10)]
    pub run_wall_secs: u64,
    /// CPU seconds per process of a run.
    #[arg(long, env = "SNAKEPIT_RUN_CPU_SECS", default_value_t = 5)]
    pub run_cpu_secs: u64,
    /// Address space per process of a run, in MiB.
    #[arg(long, env = "SNAKEPIT_RUN_MEMORY_MIB", default_value_t = 256)]
    pub run_memory_mib: u64,
    /// Processes and threads a run may have at once.
    #[arg(long, env = "SNAKEPIT_RUN_PROCESSES", default_value_t = 64)]
    pub run_processes: u64,
    /// Largest file a run may write, in MiB.
    #[arg(long, env = "SNAKEPIT_RUN_FILE_MIB", default_value_t = 16)]
    pub run_file_mib: u64,
    /// Open files per process of a run.
    #[arg(long, env = "SNAKEPIT_RUN_OPEN_FILES", default_value_t = 256)]
    pub run_open_files: u64,
    /// Output (stdout and stderr) kept per run, in KiB; beyond it the run is stopped.
    #[arg(long, env = "SNAKEPIT_RUN_OUTPUT_KIB", default_value_t = 1024)]
    pub run_output_kib: usize,
    /// Largest program accepted, in KiB.
    #[arg(long, env = "SNAKEPIT_RUN_CODE_KIB", default_value_t = 64)]
    pub run_code_kib: usize,
    /// Disk space all of a run's files may take together, in MiB.
    #[arg(long, env = "SNAKEPIT_RUN_DISK_MIB", default_value_t = 64)]
    pub run_disk_mib: u64,
    /// Files and directories a run may create.
    #[arg(long, env = "SNAKEPIT_RUN_FILES", default_value_t = 1000)]
    pub run_files: u64,
}

impl SandboxArgs {
    /// The runtimes to start: every one of `--runtimes` (or the one `--python` names),
    /// the default with `--workers` workers and the others with `--other-workers`.
    /// `check` shares `--workers` among the runtimes (at least 2 each), all running at once.
    pub fn plans(&self, data: &std::path::Path, for_check: bool) -> Vec<crate::runtimes::Plan> {
        use crate::runtimes::{Manifest, Minor, Plan, locate};
        let one = self.python.as_deref().map(str::trim);
        if let Some(path) = one.filter(|p| p.parse::<Minor>().is_err()) {
            let mut cfg = self.config(data);
            cfg.python = crate::sandbox::python::find_python(std::path::Path::new(path));
            return vec![Plan {
                id: None,
                sandbox: cfg,
                manifest: Manifest::default(),
            }];
        }
        let only: Option<Minor> = one.and_then(|p| p.parse().ok());
        let mut ids: Vec<Minor> = match only {
            Some(v) => vec![v],
            None => self.runtimes.clone(),
        };
        ids.sort();
        ids.dedup();
        let check_workers = self.workers.div_ceil(ids.len().max(1)).max(2);
        ids.into_iter()
            .enumerate()
            .map(|(k, id)| {
                let (python, packages, manifest) = locate(&self.runtime_dir, id);
                let mut cfg = self.config(data);
                cfg.python = python;
                cfg.packages = packages;
                if for_check {
                    cfg.workers = check_workers;
                } else if id != self.default_python && only.is_none() {
                    cfg.workers = self.other_workers.max(1);
                }
                // Per-run uids (server as root) must not collide between pools.
                cfg.uid_base += k as u32 * 10_000;
                Plan {
                    id: Some(id),
                    sandbox: cfg,
                    manifest,
                }
            })
            .collect()
    }

    /// The default runtime: `--python 3.X` when it names one, else `--default-python`.
    pub fn default_runtime(&self) -> crate::runtimes::Minor {
        self.python
            .as_deref()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(self.default_python)
    }

    /// The sandbox configuration these flags describe for one pool; scratch space goes
    /// under `data/runs`.
    pub fn config(&self, data: &std::path::Path) -> crate::sandbox::SandboxConfig {
        use std::time::Duration;
        crate::sandbox::SandboxConfig {
            python: crate::sandbox::python::find_python(std::path::Path::new("python3")),
            scratch_root: data.join("runs"),
            workers: self.workers.max(1),
            queue_len: self.run_queue,
            queue_wait: Duration::from_secs(self.run_queue_secs.max(1)),
            limits: crate::sandbox::Limits {
                wall: Duration::from_secs(self.run_wall_secs),
                cpu: Duration::from_secs(self.run_cpu_secs),
                memory_bytes: self.run_memory_mib << 20,
                processes: self.run_processes,
                file_size_bytes: self.run_file_mib << 20,
                open_files: self.run_open_files,
                output_bytes: self.run_output_kib << 10,
                code_bytes: self.run_code_kib << 10,
                disk_bytes: self.run_disk_mib << 20,
                files: self.run_files,
            },
            insecure: self.insecure_sandbox,
            ..crate::sandbox::SandboxConfig::default()
        }
    }
}

/// Connection and request limits: how long clients may take, how many connections each may hold.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Seconds a client has to send a complete request head once it has started one.
    #[arg(long, env = "SNAKEPIT_HTTP_HEADER_SECS", default_value_t = 10)]
    pub http_header_secs: u64,
    /// Seconds an idle keep-alive connection (no request in progress) stays open; also how
    /// long a client may stall reading a response.
    #[arg(long, env = "SNAKEPIT_HTTP_IDLE_SECS", default_value_t = 60)]
    pub http_idle_secs: u64,
    /// Seconds a client has to send a request body (then 408).
    #[arg(long, env = "SNAKEPIT_HTTP_BODY_SECS", default_value_t = 20)]
    pub http_body_secs: u64,
    /// Seconds a handler has to produce a response's head (then 503); runs get their queue
    /// wait plus their wall-clock limit instead.
    #[arg(long, env = "SNAKEPIT_HTTP_REQUEST_SECS", default_value_t = 30)]
    pub http_request_secs: u64,
    /// Open connections one client address (an IPv6 /64) may hold; 0: no limit.
    #[arg(long, env = "SNAKEPIT_HTTP_CONNS_PER_CLIENT", default_value_t = 128)]
    pub http_conns_per_client: usize,
}

impl HttpArgs {
    pub fn limits(&self) -> crate::http::Limits {
        use std::time::Duration;
        crate::http::Limits {
            header: Duration::from_secs(self.http_header_secs.max(1)),
            idle: Duration::from_secs(self.http_idle_secs.max(1)),
            body: Duration::from_secs(self.http_body_secs.max(1)),
            request: Duration::from_secs(self.http_request_secs.max(1)),
            conns_per_client: self.http_conns_per_client,
        }
    }
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
