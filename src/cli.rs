//! The subcommands: `serve` (the default) and `check`.

use std::process::ExitCode;

use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::config::{CheckArgs, Cli, Command, LogFormat, ServeArgs, SiteArgs};
use crate::site::{BuildError, Site};
use crate::{AppState, app, content};

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::Serve(args)) => serve(args),
        None => serve(cli.serve),
        Some(Command::Check(args)) => check(&args),
    }
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SNAKEPIT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
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
                eprintln!("snakepit: refusing to start; run `snakepit check` after fixing the content");
            }
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
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
    let listener = TcpListener::bind(args.bind)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", args.bind)))?;
    tracing::info!(articles, "listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(AppState::new(site))).with_graceful_shutdown(shutdown_signal()).await?;
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
    let site = SiteArgs { content: args.content.clone(), static_dir: "./static".into(), base_url: None };
    match content::load(&site.content) {
        Ok(library) => {
            let snippets: usize = library.articles.iter().map(|a| a.snippets.len()).sum();
            println!(
                "ok: {} articles in {} sections, {snippets} runnable snippets",
                library.articles.len(),
                library.sections.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.0 {
                println!("{e}");
            }
            println!("{} problem(s) found", errors.0.len());
            ExitCode::FAILURE
        }
    }
}
