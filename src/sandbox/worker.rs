//! One worker: a confined interpreter waiting for a program on stdin. It is
//! started ahead of time, used for exactly one run, then its whole process
//! group is killed and reaped and its scratch directory removed.

use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};

use super::helper::{HELPER_ARG, HelperReport, HelperSpec, READY_PREFIX};
use super::utf8::{Utf8Stream, truncate_at_boundary};
use super::watchdog;
use super::{Limits, Output, RunOutcome};

/// What every worker of a pool shares.
#[derive(Debug, Clone)]
pub(crate) struct WorkerEnv {
    pub helper: PathBuf,
    pub python: PathBuf,
    pub runner: PathBuf,
    pub read_only: Vec<PathBuf>,
    pub scratch_root: PathBuf,
    pub limits: Limits,
    /// Per-slot uids when root.
    pub uid_base: Option<u32>,
    pub server_pid: i32,
    /// The pool's size: how many runs can be alive at once.
    pub pool_size: usize,
}

/// A started, confined interpreter.
pub(crate) struct Worker {
    pub slot: usize,
    child: Child,
    /// Its process group (= its pid, it called setsid).
    pub pgid: i32,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr: ChildStderr,
    pub scratch: PathBuf,
    pub uid: Option<u32>,
    pub report: HelperReport,
}

/// The runner's first line: warm and waiting for a program.
const PYTHON_READY: &str = "SNAKEPIT-READY\n";
/// How long a helper may take to confine itself and report.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

impl Worker {
    /// Starts the helper for `slot` and waits for its confinement report.
    pub(crate) async fn spawn(env: &WorkerEnv, slot: usize, id: u64) -> Result<Worker, String> {
        let uid = env.uid_base.map(|b| b + slot as u32);
        let scratch = env
            .scratch_root
            .join(format!("run-{}-{id}", std::process::id()));
        let (workdir, shm) = (scratch.join("work"), scratch.join("shm"));
        make_scratch(&scratch, &[&workdir, &shm], uid).map_err(|e| format!("scratch: {e}"))?;
        let spec = HelperSpec {
            python: env.python.clone(),
            runner: env.runner.clone(),
            scratch: scratch.clone(),
            workdir,
            read_only: env.read_only.clone(),
            uid,
            server_pid: env.server_pid,
            cpu_secs: env.limits.cpu.as_secs() + u64::from(env.limits.cpu.subsec_nanos() > 0),
            memory_bytes: env.limits.memory_bytes,
            processes: env.limits.processes,
            pool_size: env.pool_size as u64,
            file_size_bytes: env.limits.file_size_bytes,
            open_files: env.limits.open_files,
        };
        let spec = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
        let spawned = Command::new(&env.helper)
            .arg(HELPER_ARG)
            .arg(spec)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                remove_tree(&scratch).await;
                return Err(format!("spawning {}: {e}", env.helper.display()));
            }
        };
        let (Some(stdin), Some(stdout), Some(stderr), Some(pid)) = (
            child.stdin.take(),
            child.stdout.take(),
            child.stderr.take(),
            child.id(),
        ) else {
            remove_tree(&scratch).await;
            return Err("helper pipes missing".into());
        };
        let mut worker = Worker {
            slot,
            child,
            pgid: pid as i32,
            stdin: Some(stdin),
            stdout: BufReader::new(stdout),
            stderr,
            scratch,
            uid,
            report: HelperReport::default(),
        };
        match worker.handshake().await {
            Ok(report) => {
                worker.report = report;
                Ok(worker)
            }
            Err(msg) => {
                let mut err = String::new();
                let _ = timeout(
                    Duration::from_secs(1),
                    (&mut worker.stderr).take(8192).read_to_string(&mut err),
                )
                .await;
                worker.destroy().await;
                Err(format!("{msg}: {}", err.trim()))
            }
        }
    }

    async fn handshake(&mut self) -> Result<HelperReport, String> {
        let mut line = String::new();
        let mut limited = (&mut self.stdout).take(64 << 10);
        match timeout(HANDSHAKE_TIMEOUT, limited.read_line(&mut line)).await {
            Err(_) => return Err("helper did not report in time".into()),
            Ok(Err(e)) => return Err(format!("reading helper report: {e}")),
            Ok(Ok(_)) => {}
        }
        let json = line
            .strip_prefix(READY_PREFIX)
            .ok_or_else(|| "helper exited before confining the worker".to_string())?;
        let report =
            serde_json::from_str(json.trim()).map_err(|e| format!("bad helper report: {e}"))?;
        // Then the interpreter's own line once it has started and warmed up.
        line.clear();
        let mut limited = (&mut self.stdout).take(64);
        match timeout(HANDSHAKE_TIMEOUT, limited.read_line(&mut line)).await {
            Ok(Ok(_)) if line == PYTHON_READY => Ok(report),
            Ok(_) => Err(format!("python did not start (said {line:?})")),
            Err(_) => Err("python did not start in time".into()),
        }
    }

    /// Whether the interpreter is still alive (an idle worker can be killed
    /// by the OOM killer or an administrator).
    pub(crate) fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Runs `code` once; streams output to `sink`; stops at the wall limit,
    /// the output cap, or when `reply` is closed (the caller went away).
    /// When this returns the whole process group has been sent SIGKILL and
    /// the interpreter reaped; [`Worker::destroy`] finishes the clean-up.
    pub(crate) async fn execute<T>(
        &mut self,
        code: &str,
        merge_stderr: bool,
        limits: &Limits,
        sink: Option<mpsc::Sender<Output>>,
        reply: &mut oneshot::Sender<T>,
    ) -> RunOutcome {
        let start = Instant::now();
        let deadline = start + limits.wall;
        let mut run = RunState {
            sink,
            cap: limits.output_bytes,
            deadline: Some(deadline),
            ..RunState::default()
        };
        // runner.py's header line: space-separated options.
        let header = if merge_stderr {
            "merge_stderr=1\n"
        } else {
            "\n"
        };
        let mut input = header.as_bytes().to_vec();
        input.extend_from_slice(code.as_bytes());
        // Feed the program from a task: a program larger than the pipe buffer
        // is read while its output is already being collected.
        if let Some(mut stdin) = self.stdin.take() {
            tokio::spawn(async move {
                let _ = stdin.write_all(&input).await;
            });
        }
        let (mut out_buf, mut err_buf) = (vec![0u8; 16 << 10], vec![0u8; 16 << 10]);
        let (mut out_open, mut err_open) = (true, true);
        let mut status = None;
        let mut killed_at: Option<Instant> = None;
        let mut cancelled = false;
        let period = Duration::from_millis(250);
        let mut watch = tokio::time::interval_at(start + period, period);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if !out_open && !err_open && status.is_some() {
                break;
            }
            // Once killed, pipes close within milliseconds; never hang on them.
            if killed_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
                break;
            }
            let must_kill = tokio::select! {
                r = self.stdout.read(&mut out_buf), if out_open => match r {
                    Ok(n) if n > 0 => run.push(false, &out_buf[..n]).await,
                    _ => { out_open = false; run.finish(false).await }
                },
                r = self.stderr.read(&mut err_buf), if err_open => match r {
                    Ok(n) if n > 0 => run.push(true, &err_buf[..n]).await,
                    _ => { err_open = false; run.finish(true).await }
                },
                s = self.child.wait(), if status.is_none() => {
                    status = Some(s);
                    // The program is over: whatever it left running goes too.
                    true
                }
                _ = sleep_until(deadline), if killed_at.is_none() => {
                    run.outcome.timed_out = true;
                    run.outcome.killed_by = Some("wall".into());
                    true
                }
                _ = watch.tick(), if killed_at.is_none() => {
                    let over = self.over_budget(limits).await;
                    run.outcome.killed_by = over.map(str::to_string);
                    over.is_some()
                }
                _ = reply.closed(), if !cancelled => { cancelled = true; true }
                _ = sleep(Duration::from_millis(50)), if killed_at.is_some() => false,
            };
            if run.outcome.truncated && run.outcome.killed_by.is_none() {
                run.outcome.killed_by = Some("output".into());
            }
            if (must_kill || run.outcome.truncated) && killed_at.is_none() {
                killed_at = Some(Instant::now());
                kill_group(self.pgid);
            }
        }
        run.outcome.duration_ms = start.elapsed().as_millis() as u64;
        if status.is_none() {
            status = Some(self.child.wait().await);
        }
        if let Some(Ok(st)) = status {
            run.outcome.exit_code = st.code();
            run.outcome.signal = st.signal();
        }
        if run.outcome.signal == Some(libc::SIGXCPU) && run.outcome.killed_by.is_none() {
            run.outcome.killed_by = Some("cpu".into());
        }
        run.outcome
    }

    /// The watchdog's verdict: which whole-run budget is exceeded, if any.
    async fn over_budget(&self, limits: &Limits) -> Option<&'static str> {
        let (pgid, scratch, max_files) = (self.pgid, self.scratch.clone(), limits.files);
        let usage = tokio::task::spawn_blocking(move || {
            (
                watchdog::group_memory(pgid),
                watchdog::tree_usage(&scratch, max_files),
            )
        })
        .await
        .ok()?;
        let (memory, (disk, files)) = usage;
        if memory > limits.memory_bytes {
            Some("memory")
        } else if disk > limits.disk_bytes || files > limits.files {
            Some("disk")
        } else {
            None
        }
    }

    /// SIGKILLs the process group until it is gone, reaping the leader and any
    /// orphans re-parented to the server (it is a child subreaper).
    async fn reap(&mut self) {
        kill_group(self.pgid);
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let give_up = Instant::now() + Duration::from_secs(10);
        loop {
            while unsafe { libc::waitpid(-self.pgid, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
            let gone = unsafe { libc::kill(-self.pgid, libc::SIGKILL) } == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
            if gone {
                return;
            }
            if Instant::now() > give_up {
                tracing::error!(pgid = self.pgid, "sandbox process group survives SIGKILL");
                return;
            }
            sleep(Duration::from_millis(2)).await;
        }
    }

    /// Kills, reaps, and removes the scratch directory: nothing is left.
    pub(crate) async fn destroy(mut self) {
        self.reap().await;
        remove_tree(&self.scratch).await;
    }
}

fn kill_group(pgid: i32) {
    if pgid > 1 {
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
}

/// Output bookkeeping of one run: cap, decoding, streaming.
#[derive(Default)]
struct RunState {
    sink: Option<mpsc::Sender<Output>>,
    cap: usize,
    deadline: Option<Instant>,
    used: usize,
    out: Utf8Stream,
    err: Utf8Stream,
    outcome: RunOutcome,
}

impl RunState {
    /// Returns true when the run must be killed (output cap reached).
    async fn push(&mut self, is_err: bool, bytes: &[u8]) -> bool {
        let text = if is_err {
            self.err.push(bytes)
        } else {
            self.out.push(bytes)
        };
        self.emit(is_err, text).await
    }

    async fn finish(&mut self, is_err: bool) -> bool {
        let text = if is_err {
            self.err.finish()
        } else {
            self.out.finish()
        };
        self.emit(is_err, text).await
    }

    async fn emit(&mut self, is_err: bool, text: String) -> bool {
        if text.is_empty() || self.outcome.truncated {
            return self.outcome.truncated;
        }
        let room = self.cap.saturating_sub(self.used);
        let kept = truncate_at_boundary(&text, room);
        if kept.len() < text.len() {
            self.outcome.truncated = true;
        }
        if kept.is_empty() {
            return self.outcome.truncated;
        }
        self.used += kept.len();
        let (buf, chunk) = if is_err {
            (&mut self.outcome.stderr, Output::Stderr(kept.to_string()))
        } else {
            (&mut self.outcome.stdout, Output::Stdout(kept.to_string()))
        };
        buf.push_str(kept);
        if let (Some(sink), Some(deadline)) = (&self.sink, self.deadline) {
            // A slow reader slows the program down (pipes fill) but can
            // never hold the run past its wall limit.
            if !matches!(timeout_at(deadline, sink.send(chunk)).await, Ok(Ok(()))) {
                self.sink = None;
            }
        }
        self.outcome.truncated
    }
}

fn make_scratch(scratch: &Path, subdirs: &[&Path], uid: Option<u32>) -> std::io::Result<()> {
    std::fs::create_dir(scratch)?;
    for dir in std::iter::once(&scratch).chain(subdirs) {
        if *dir != scratch {
            std::fs::create_dir(dir)?;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        if let Some(uid) = uid {
            chown(dir, Some(uid), Some(uid))?;
        }
    }
    Ok(())
}

/// Removes a run's directory whatever the program did to it (a directory
/// chmod 000 stops `remove_dir_all` when the server is not root).
pub(crate) async fn remove_tree(path: &Path) {
    let path = path.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || {
        if std::fs::remove_dir_all(&path).is_err() && path.exists() {
            make_writable(&path);
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), "removing sandbox scratch: {e}");
            }
        }
    })
    .await;
}

fn make_writable(dir: &Path) {
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&e.path());
            }
        }
    }
}
