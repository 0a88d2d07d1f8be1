//! The subcommands: `serve` (the default), `check`, `user add|passwd`, `backup` and `search`.

use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::accounts::{Accounts, AccountsConfig};
use crate::config::{
    BackupArgs, CheckArgs, Cli, Command, LogFormat, SearchArgs, ServeArgs, UserAction, UserArgs,
};
use crate::runtimes::RuntimeSet;
use crate::sandbox::api::Runner;
use crate::site::{BuildError, Site};
use crate::{AppState, app, check as snippets, content};

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
        Some(Command::Check(args)) => check(&args),
        Some(Command::User(args)) => user(&args),
        Some(Command::Backup(args)) => backup(&args),
        Some(Command::Search(args)) => search(&args),
    }
}

/// Logs go to stderr from a dedicated thread, so request handlers never wait on the write;
/// nothing is dropped (lossless), and the returned guard flushes what is left when dropped.
/// The thread writes through a buffer that it flushes whenever it has drained what was
/// logged: under load one write(2) carries many lines instead of one each, and no line
/// waits longer than it takes to drain the queue.
fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_from_env("SNAKEPIT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("snakepit-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    guard
}

fn serve(args: ServeArgs) -> ExitCode {
    let _log = init_tracing(args.log_format);
    let site = match Site::build(&args.site) {
        Ok(site) => site,
        Err(e) => {
            eprintln!("{e}");
            if matches!(e, BuildError::Content(_)) {
                eprintln!(
                    "snakepit: refusing to start; run `snakepit check` after fixing the content"
                );
            }
            return ExitCode::FAILURE;
        }
    };
    let Some(runtime) = runtime(tokio::runtime::Builder::new_multi_thread()) else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(serve_site(site, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("snakepit: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_site(site: Site, args: &ServeArgs) -> std::io::Result<()> {
    let articles = site.library.articles.len();
    let config = AccountsConfig::from_args(&args.accounts, args.site.base_url())
        .map_err(std::io::Error::other)?;
    let db = crate::db::open(&args.data)
        .await
        .map_err(std::io::Error::other)?;
    let accounts = Accounts::new(config, &db)
        .await
        .map_err(std::io::Error::other)?;
    let listener = TcpListener::bind(args.bind).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", args.bind))
    })?;
    let plans = args.sandbox.plans(&args.data, false);
    let set = RuntimeSet::start(plans, args.sandbox.default_runtime()).await;
    let runner = match set.default_runtime().map(|r| &r.state) {
        Some(Ok(sandbox)) => {
            tracing::info!(layers = %sandbox.layers(), default = %set.default, "snippet sandbox ready");
            Runner::Runtimes(set)
        }
        Some(Err(e)) => {
            tracing::error!("snippets will not run: {e}");
            Runner::Unavailable(e.clone())
        }
        None => {
            tracing::error!("snippets will not run: no Python runtime could be started");
            Runner::Unavailable("no Python runtime could be started".into())
        }
    };
    warn_about_base_url(args.site.base_url());
    tracing::info!(
        articles,
        auth = ?args.accounts.auth,
        database = %crate::db::path(&args.data).display(),
        "listening on http://{}",
        listener.local_addr()?
    );
    let mut state = AppState::new(site, runner.clone(), db.clone(), accounts);
    state.metrics_access = crate::metrics::MetricsAccess {
        token: args
            .metrics_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Into::into),
        separate: args.metrics_bind.is_some(),
    };
    state.http = args.http.limits();
    if let Some(addr) = args.metrics_bind {
        let metrics_listener = TcpListener::bind(addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        tracing::info!(
            "metrics on http://{}/metrics",
            metrics_listener.local_addr()?
        );
        let metrics = crate::metrics_app(state.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics_listener, metrics).await {
                tracing::error!("the metrics listener stopped: {e}");
            }
        });
    }
    crate::http::conn::serve(listener, app(state.clone()), state.http, shutdown_signal()).await?;
    if let Some(set) = runner.runtimes() {
        set.shutdown().await;
    }
    db.close().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Link previews and canonical links need the public URL; say so once, at start-up.
fn warn_about_base_url(base_url: Option<&str>) {
    match base_url {
        None => tracing::warn!(
            "no --base-url (SNAKEPIT_BASE_URL) set: shared links will unfurl without a URL or \
             preview image and canonical links stay relative; set it to the site's public URL, \
             e.g. --base-url https://kb.example.com"
        ),
        Some(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            tracing::warn!(
                base_url = url,
                "--base-url should be an absolute http(s) URL such as https://kb.example.com; \
                 link previews built from it will not resolve"
            )
        }
        Some(_) => {}
    }
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before the server exits.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

fn check(args: &CheckArgs) -> ExitCode {
    let library = match content::load(&args.content) {
        Ok(library) => library,
        Err(errors) => {
            for e in &errors.0 {
                println!("{e}");
            }
            println!("{} problem(s) found", errors.0.len());
            return ExitCode::FAILURE;
        }
    };
    let count: usize = library.articles.iter().map(|a| a.snippets.len()).sum();
    let summary = format!(
        "{} articles in {} sections, {count} runnable snippets",
        library.articles.len(),
        library.sections.len()
    );
    if args.no_run {
        println!("ok: {summary} (not run)");
        return ExitCode::SUCCESS;
    }
    let _log = init_tracing(LogFormat::Text);
    let Some(runtime) = runtime(tokio::runtime::Builder::new_multi_thread()) else {
        return ExitCode::FAILURE;
    };
    let errors = runtime.block_on(async {
        let plans = args.sandbox.plans(&args.data, true);
        let set = RuntimeSet::start(plans, args.sandbox.default_runtime()).await;
        let broken: Vec<String> = set
            .runtimes
            .iter()
            .filter_map(|r| {
                r.state
                    .as_ref()
                    .err()
                    .map(|e| format!("Python {}: {e}", r.id))
            })
            .collect();
        if set.sandboxes().next().is_none() {
            return Err(format!(
                "no Python runtime could be started ({})",
                broken.join("; ")
            ));
        }
        let (problems, tallies) = snippets::run_snippets(&library, &set).await;
        set.shutdown().await;
        Ok::<_, String>((problems, tallies, broken))
    });
    match errors {
        Ok((problems, tallies, broken)) => {
            for e in &problems {
                println!("{e}");
            }
            for t in &tallies {
                println!(
                    "Python {} ({}): {} snippet run(s), {} problem(s)",
                    t.python, t.version, t.runs, t.problems
                );
            }
            for b in &broken {
                println!("not checked: {b}");
            }
            if problems.is_empty() && broken.is_empty() {
                println!("ok: {summary}, every one ran as its output block says");
                ExitCode::SUCCESS
            } else {
                println!("{} problem(s) found", problems.len() + broken.len());
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            println!("snakepit: cannot run snippets: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `work` on a small runtime with the database in `data` open.
fn with_db<F, Fut>(data: &std::path::Path, work: F) -> ExitCode
where
    F: FnOnce(crate::db::Db) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let Some(runtime) = runtime(tokio::runtime::Builder::new_current_thread()) else {
        return ExitCode::FAILURE;
    };
    let result = runtime.block_on(async {
        let db = crate::db::open(data).await.map_err(|e| e.to_string())?;
        let out = work(db.clone()).await;
        db.close().await;
        out
    });
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("snakepit: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The first line of stdin, without its line ending.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    crate::accounts::password::validate(&password).map_err(|e| e.to_string())?;
    Ok(password)
}

fn user(args: &UserArgs) -> ExitCode {
    let action = args.action.clone();
    let password = match read_password() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("snakepit: {e}");
            return ExitCode::FAILURE;
        }
    };
    with_db(&args.data, |db| async move {
        let hash =
            crate::accounts::password::hash_blocking(&password).map_err(|e| e.to_string())?;
        match action {
            UserAction::Add { name } => {
                crate::accounts::validate_username(&name).map_err(|e| e.to_string())?;
                crate::accounts::create_user(&db, &name, &hash)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!("user `{name}` created"))
            }
            UserAction::Passwd { name } => {
                let id = crate::accounts::find_user_id(&db, &name)
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("there is no user `{name}`"))?;
                crate::accounts::set_password(&db, id, &hash)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(format!(
                    "password of `{name}` changed; their sessions have ended"
                ))
            }
        }
    })
}

fn backup(args: &BackupArgs) -> ExitCode {
    if args.file.exists() {
        eprintln!(
            "snakepit: {} exists already; choose a new file name",
            args.file.display()
        );
        return ExitCode::FAILURE;
    }
    if !crate::db::path(&args.data).exists() {
        eprintln!(
            "snakepit: no database at {}",
            crate::db::path(&args.data).display()
        );
        return ExitCode::FAILURE;
    }
    let file = args.file.clone();
    with_db(&args.data, |db| async move {
        crate::db::backup(&db, &file)
            .await
            .map_err(|e| format!("backup failed: {e}"))?;
        Ok(format!("backup written to {}", file.display()))
    })
}

/// Builds an async runtime, or explains on stderr why it cannot.
fn runtime(mut builder: tokio::runtime::Builder) -> Option<tokio::runtime::Runtime> {
    builder
        .enable_all()
        .build()
        .map_err(|e| eprintln!("snakepit: cannot start the async runtime: {e}"))
        .ok()
}

/// `snakepit search [--explain] QUERY`: the hits (and with `--explain`, why) on stdout.
fn search(args: &SearchArgs) -> ExitCode {
    let library = match content::load(&args.content) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let index = match crate::search::SearchIndex::build(&library.articles, &library.vocabulary) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("building the search index: {e}");
            return ExitCode::FAILURE;
        }
    };
    let q = args.query.join(" ");
    let limit = args.limit.clamp(1, crate::search::MAX_LIMIT);
    if args.explain {
        print!("{}", index.explain(&q, limit));
        return ExitCode::SUCCESS;
    }
    let hits = index.search(&q, limit, None);
    if hits.is_empty() {
        let help = index.help(&q, None);
        println!("no results");
        if let Some(d) = &help.did_you_mean {
            println!("did you mean: {d}");
        }
        for h in &help.closest {
            println!("closest ({}): {}  {}", help.closest_reason, h.slug, h.url);
        }
    }
    for (i, h) in hits.iter().enumerate() {
        println!("{}. {:6.2}  {}  {}", i + 1, h.score, h.slug, h.url);
    }
    ExitCode::SUCCESS
}
