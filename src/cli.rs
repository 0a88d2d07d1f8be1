//! The subcommands: `serve` (the default) and `check`.

use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::config::{CheckArgs, Cli, Command, LogFormat, ServeArgs};
use crate::sandbox::Sandbox;
use crate::sandbox::api::Runner;
use crate::site::{BuildError, Site};
use crate::{AppState, app, check as snippets, content};

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
        Some(Command::Check(args)) => check(&args),
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SNAKEPIT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    init_tracing(args.log_format);
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("snakepit: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
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
    let listener = TcpListener::bind(args.bind).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", args.bind))
    })?;
    let runner = match Sandbox::start(args.sandbox.config(&args.data)).await {
        Ok(sandbox) => {
            tracing::info!(layers = %sandbox.layers(), workers = args.sandbox.workers, "snippet sandbox ready");
            Runner::Ready(sandbox)
        }
        Err(e) => {
            tracing::error!("snippets will not run: {e}");
            Runner::Unavailable(e.to_string())
        }
    };
    tracing::info!(articles, "listening on http://{}", listener.local_addr()?);
    let app = app(AppState::new(site, runner.clone()))
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    if let Runner::Ready(sandbox) = runner {
        sandbox.shutdown().await;
    }
    tracing::info!("shut down cleanly");
    Ok(())
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
    init_tracing(LogFormat::Text);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("snakepit: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let errors = runtime.block_on(async {
        let sandbox = Sandbox::start(args.sandbox.config(&args.data))
            .await
            .map_err(|e| e.to_string())?;
        let errors = snippets::run_snippets(&library, &sandbox, args.sandbox.workers).await;
        sandbox.shutdown().await;
        Ok::<_, String>(errors)
    });
    match errors {
        Ok(errors) if errors.is_empty() => {
            println!("ok: {summary}, every one ran as its output block says");
            ExitCode::SUCCESS
        }
        Ok(errors) => {
            for e in &errors {
                println!("{e}");
            }
            println!("{} problem(s) found", errors.len());
            ExitCode::FAILURE
        }
        Err(e) => {
            println!("snakepit: cannot run snippets: {e}");
            ExitCode::FAILURE
        }
    }
}
