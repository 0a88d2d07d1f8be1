//! Shared test fixtures, included by the `tests/sandbox*.rs` files with
//! `#[path = "common/sandbox.rs"] mod support;` (compiled alone it has no tests).
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use snakepit::sandbox::{Limits, RunOutcome, RunRequest, Sandbox, SandboxConfig};

/// One runtime per test binary, so one sandbox pool can serve all its tests.
pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// The interpreter under test: readable by the sandbox uids (not pyenv's under /root).
pub fn python() -> PathBuf {
    std::env::var_os("SNAKEPIT_TEST_PYTHON")
        .map_or_else(|| PathBuf::from("/usr/bin/python3"), PathBuf::from)
}

/// A scratch root other users can traverse (tempdirs are 0700).
pub fn scratch_root(name: &str) -> PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    let base = BASE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("snakepit-test-")
            .tempdir()
            .expect("tempdir")
            .keep();
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755));
        // Statics are never dropped: remove the directory when the test binary exits.
        let _ = CLEANUP.set(dir.clone());
        unsafe { libc::atexit(remove_base) };
        dir
    });
    base.join(name)
}

static CLEANUP: OnceLock<PathBuf> = OnceLock::new();
static SHARED: OnceLock<Sandbox> = OnceLock::new();

extern "C" fn remove_base() {
    if let Some(sb) = SHARED.get() {
        rt().block_on(sb.shutdown());
    }
    if let Some(dir) = CLEANUP.get() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Short limits keep the hostile tests fast.
pub fn test_limits() -> Limits {
    Limits {
        wall: Duration::from_secs(4),
        cpu: Duration::from_secs(2),
        ..Limits::default()
    }
}

pub fn config(name: &str, workers: usize, queue_len: usize, uid_base: u32) -> SandboxConfig {
    SandboxConfig {
        python: python(),
        scratch_root: scratch_root(name),
        workers,
        queue_len,
        limits: test_limits(),
        insecure: false,
        helper: Some(PathBuf::from(env!("CARGO_BIN_EXE_snakepit"))),
        uid_base,
        // The runtime's packages when testing one (scripts/test: SNAKEPIT_TEST_PACKAGES).
        packages: std::env::var_os("SNAKEPIT_TEST_PACKAGES").map(PathBuf::from),
    }
}

pub async fn run(sb: &Sandbox, code: &str) -> RunOutcome {
    run_as(sb, code, "test").await
}

pub async fn run_as(sb: &Sandbox, code: &str, client: &str) -> RunOutcome {
    let req = RunRequest {
        code: code.to_string(),
        client: client.to_string(),
        merge_stderr: false,
    };
    sb.run(req, None).await.expect("run accepted")
}

/// Where a run lived, printed by [`PRELUDE`] as its first stderr line.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub pgid: i32,
    pub uid: u32,
    pub cwd: PathBuf,
}

/// Prepended to hostile programs so the test knows what to check afterwards.
pub const PRELUDE: &str = "import os as _o, sys as _s\n_s.stderr.write(f'@@ {_o.getpgid(0)} {_o.getuid()} {_o.getcwd()}\\n'); _s.stderr.flush()\n";

pub fn info(o: &RunOutcome) -> RunInfo {
    let line = o
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("@@ "))
        .unwrap_or_else(|| panic!("no prelude in {o:?}"));
    let mut it = line.splitn(3, ' ');
    let pgid = it.next().and_then(|s| s.parse().ok()).expect("pgid");
    let uid = it.next().and_then(|s| s.parse().ok()).expect("uid");
    let cwd = PathBuf::from(it.next().expect("cwd"));
    RunInfo { pgid, uid, cwd }
}

/// (pid, uid, pgid) of every process on the machine.
pub fn processes() -> Vec<(i32, u32, i32)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        let pgid = f.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        v.push((pid, uid, pgid));
    }
    v
}

/// Nothing of the run is left: no process in its group, no process of its uid
/// outside a fresh worker's own group, no scratch directory.
/// The sandbox answers first and cleans up right after, so this waits (a
/// little) for the clean-up to happen.
pub fn assert_nothing_left(i: &RunInfo) {
    let scratch = i.cwd.parent().expect("scratch");
    let start = std::time::Instant::now();
    loop {
        // Processes of the run's uid may only be a fresh worker (its own group).
        let leftovers: Vec<_> = processes()
            .into_iter()
            .filter(|&(_, _, pgid)| pgid == i.pgid)
            .collect();
        if leftovers.is_empty() && !scratch.exists() {
            return;
        }
        if start.elapsed() > Duration::from_secs(20) {
            panic!(
                "left behind: processes {leftovers:?}, scratch exists: {}",
                scratch.exists()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// After anything hostile: the sandbox still runs a normal program.
pub async fn assert_still_works(sb: &Sandbox) {
    let o = run(sb, "print('still ok')").await;
    assert_eq!(o.stdout, "still ok\n", "{o:?}");
    assert_eq!(o.exit_code, Some(0));
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// The shared pool of a test binary (3 workers, the short test limits).
pub fn shared(name: &str, uid_base: u32) -> &'static Sandbox {
    shared_with(|| config(name, 3, 64, uid_base))
}

/// The shared pool of a test binary, configured by `cfg` on first use.
pub fn shared_with(cfg: impl FnOnce() -> SandboxConfig) -> &'static Sandbox {
    SHARED.get_or_init(|| {
        rt().block_on(Sandbox::start(cfg()))
            .expect("sandbox starts")
    })
}

/// The runner file a pool wrote into its scratch root.
pub fn runner_path(pool: &str) -> PathBuf {
    scratch_root(pool)
        .join(format!(".runner-{}", std::process::id()))
        .join("runner.py")
}
