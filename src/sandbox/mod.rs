//! Running untrusted Python snippets.
//!
//! Every run gets a fresh, single-use interpreter that was started ahead of
//! time and already confined (see `helper.rs`): no privileges are needed, so
//! this works on a plain Linux host and in an unprivileged Docker container
//! with the default seccomp profile, where namespaces and cgroups are not
//! available. The layers: a process group it cannot leave (seccomp denies
//! setsid/setpgid) and which is SIGKILLed as a whole at the end; rlimits;
//! a per-run uid when the server is root; no_new_privs; Landlock (read-only
//! Python installation, a per-run scratch directory as the only writable
//! place, no TCP, signals and abstract sockets scoped to the run); seccomp
//! (no non-UNIX sockets, ptrace, namespaces, io_uring, ...). The policy is
//! the [`Limits`] struct plus the lists in `helper.rs` and `seccomp.rs`.

pub mod api;
mod helper;
mod metrics;
mod pool;
pub mod python;
mod seccomp;
mod setup;
mod utf8;
mod watchdog;
mod worker;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use helper::{HELPER_ARG, helper_main};
pub use metrics::Metrics;

/// The resource policy of one run. Defaults suit teaching snippets: enough
/// for `ProcessPoolExecutor(4)` (about 20 tasks), far too little for abuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time from delivering the code to killing the run.
    pub wall: Duration,
    /// CPU time per process (RLIMIT_CPU; whole seconds, rounded up).
    pub cpu: Duration,
    /// Address space per process (RLIMIT_AS), and memory (PSS) of all the
    /// run's processes together (watchdog).
    pub memory_bytes: u64,
    /// Tasks (processes and threads) of the run (RLIMIT_NPROC).
    pub processes: u64,
    /// Largest file the run may write (RLIMIT_FSIZE).
    pub file_size_bytes: u64,
    /// All files of the run's scratch directory together (watchdog).
    pub disk_bytes: u64,
    /// Files and directories in the scratch directory (watchdog).
    pub files: u64,
    /// Open file descriptors per process (RLIMIT_NOFILE).
    pub open_files: u64,
    /// stdout plus stderr kept and streamed; beyond it the run is killed.
    pub output_bytes: usize,
    /// Largest program accepted.
    pub code_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            wall: Duration::from_secs(10),
            cpu: Duration::from_secs(5),
            memory_bytes: 256 << 20,
            processes: 64,
            file_size_bytes: 16 << 20,
            disk_bytes: 64 << 20,
            files: 1000,
            open_files: 256,
            output_bytes: 1 << 20,
            code_bytes: 64 << 10,
        }
    }
}

/// How the pool is set up.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The interpreter (`python3` is looked up on PATH); it must be readable
    /// by the sandbox uid (e.g. not under a 0700 /root when running as root).
    pub python: PathBuf,
    /// Third-party packages only this pool's runs see (read-only, appended to
    /// `sys.path`); `None`: the standard library only.
    pub packages: Option<PathBuf>,
    /// Parent of the per-run scratch directories, e.g. `<data>/runs`.
    pub scratch_root: PathBuf,
    /// Pool size: interpreters warm or running at once.
    pub workers: usize,
    /// Runs that may wait for a worker before `Busy` is answered.
    pub queue_len: usize,
    pub limits: Limits,
    /// Run snippets even when the minimum confinement is missing.
    pub insecure: bool,
    /// The binary to re-run as the helper; `None`: the current executable.
    /// Tests set it to the `snakepit` binary since they are not it.
    pub helper: Option<PathBuf>,
    /// First of the uids given to the worker slots when the server is root
    /// (slot i runs as `uid_base + i`).
    pub uid_base: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            python: PathBuf::from("python3"),
            packages: None,
            scratch_root: PathBuf::from("data/runs"),
            workers: 4,
            queue_len: 64,
            limits: Limits::default(),
            insecure: false,
            helper: None,
            uid_base: 6_000_000,
        }
    }
}

/// The confinement layers in force, as reported by a worker at start-up.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Layers {
    /// Kernel Landlock ABI (0: none).
    pub landlock_abi: i32,
    pub landlock_fs: bool,
    pub landlock_net: bool,
    pub landlock_scope: bool,
    pub seccomp: bool,
    pub rlimits: bool,
    pub process_group: bool,
    pub no_new_privs: bool,
    /// First per-run uid when the server runs as root.
    pub uid_base: Option<u32>,
}

impl Layers {
    /// seccomp + rlimits + process group + Landlock filesystem rules: below
    /// that a snippet could read the server's files or escape the kill.
    pub fn meets_minimum(&self) -> bool {
        self.seccomp && self.rlimits && self.process_group && self.landlock_fs
    }
}

impl fmt::Display for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.landlock_fs {
            let mut what = vec!["fs"];
            if self.landlock_net {
                what.push("tcp");
            }
            if self.landlock_scope {
                what.push("signals");
                what.push("abstract sockets");
            }
            parts.push(format!(
                "landlock ABI {} ({})",
                self.landlock_abi,
                what.join(", ")
            ));
        }
        for (on, name) in [
            (self.seccomp, "seccomp"),
            (self.rlimits, "rlimits"),
            (self.process_group, "process group"),
            (self.no_new_privs, "no_new_privs"),
        ] {
            if on {
                parts.push(name.to_string());
            }
        }
        if let Some(base) = self.uid_base {
            parts.push(format!("per-run uid {base}+"));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// One program to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub code: String,
    /// Fairness key (IP address or user name): one client cannot starve others.
    pub client: String,
    /// Send stderr into the stdout stream, in order (for `snakepit check`).
    pub merge_stderr: bool,
}

/// Output as it is printed; chunks are valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout(String),
    Stderr(String),
}

/// The result of a run, serialized as the `/api/run` JSON answer.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RunOutcome {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub truncated: bool,
    pub duration_ms: u64,
    /// The interpreter that ran it, e.g. "3.14.8".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub python: String,
    /// Which limit ended the run early, if any: "wall", "output", "memory",
    /// "disk", "cpu".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killed_by: Option<String>,
}

/// Why a run did not happen; each maps to one HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// 413.
    #[error("code is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 429/503 with `Retry-After`.
    #[error("all sandbox workers are busy; retry in {} s", retry_after.as_secs())]
    Busy { retry_after: Duration },
    /// 503: the sandbox is refusing runs (insecure kernel, shutting down).
    #[error("sandbox unavailable: {0}")]
    Unavailable(String),
    /// 500.
    #[error("sandbox failure: {0}")]
    Internal(String),
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("bad sandbox configuration: {0}")]
    Config(String),
    #[error("sandbox: {0}")]
    Io(String),
    #[error("python interpreter {python}: {msg}")]
    Python { python: String, msg: String },
    #[error(
        "the kernel does not enforce the minimum sandbox (seccomp, rlimits, process group, \
         Landlock filesystem); in force: {layers}; problems: {problems}. Refusing to run \
         snippets; pass --insecure-sandbox to run them anyway"
    )]
    Insecure { layers: Layers, problems: String },
    #[error("sandbox self-test failed: {0}")]
    SelfTest(String),
}

/// The sandbox pool; cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<pool::Inner>,
}

impl Sandbox {
    /// Resolves the interpreter, confines a first worker to learn which
    /// layers the kernel enforces (logged; refused below the minimum unless
    /// `insecure`), runs a self-test program on it, then fills the pool in
    /// the background.
    pub async fn start(cfg: SandboxConfig) -> Result<Sandbox, SandboxError> {
        Ok(Sandbox {
            inner: pool::Inner::start(cfg).await?,
        })
    }

    /// The layers in force.
    pub fn layers(&self) -> &Layers {
        &self.inner.layers
    }

    /// True once every worker slot has produced a warm interpreter.
    pub fn is_ready(&self) -> bool {
        self.inner.is_ready()
    }

    /// Runs one program. Output chunks go to `sink` as printed; the full
    /// (capped) output is in the outcome. Dropping the returned future (a
    /// client pressing Stop or going away) kills the run.
    pub async fn run(
        &self,
        req: RunRequest,
        sink: Option<tokio::sync::mpsc::Sender<Output>>,
    ) -> Result<RunOutcome, RunError> {
        let mut outcome = self.inner.clone().run(req, sink).await?;
        outcome.python.clone_from(&self.inner.python_version);
        Ok(outcome)
    }

    /// Counters for `/metrics`.
    pub fn metrics(&self) -> Metrics {
        self.inner.metrics()
    }

    /// Kills idle workers, answers queued runs `Unavailable`, removes scratch
    /// directories, waits (briefly) for running runs to end.
    pub async fn shutdown(&self) {
        self.inner.clone().shutdown().await
    }

    /// The interpreter's exact version, e.g. `3.14.8`.
    pub fn python_version(&self) -> &str {
        &self.inner.python_version
    }

    /// The configuration in use (limits for documentation pages, etc.).
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_display_and_minimum() {
        let mut l = Layers {
            landlock_abi: 6,
            landlock_fs: true,
            landlock_net: true,
            landlock_scope: true,
            seccomp: true,
            rlimits: true,
            process_group: true,
            no_new_privs: true,
            uid_base: None,
        };
        assert!(l.meets_minimum());
        assert_eq!(
            l.to_string(),
            "landlock ABI 6 (fs, tcp, signals, abstract sockets), seccomp, rlimits, \
             process group, no_new_privs"
        );
        l.landlock_fs = false;
        assert!(!l.meets_minimum());
        assert_eq!(Layers::default().to_string(), "none");
    }

    #[test]
    fn outcome_serializes_as_the_api_contract() {
        let o = RunOutcome {
            stdout: "hi\n".into(),
            exit_code: Some(0),
            ..Default::default()
        };
        let v = serde_json::to_value(&o).expect("json");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "duration_ms",
                "exit_code",
                "signal",
                "stderr",
                "stdout",
                "timed_out",
                "truncated"
            ]
        );
    }
}
