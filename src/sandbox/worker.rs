//! One worker: a confined interpreter waiting for a program on stdin (a
//! socket: see [`Channel`]). It is
//! started ahead of time, used for exactly one run, then its whole process
//! group is killed and reaped and its scratch directory removed.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
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
    /// The interpreter's stdin: the program goes in, its Python-level output
    /// comes back in order (see [`Channel`]).
    chan: Arc<Channel>,
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
        // work: the cwd; home, tmp: HOME and TMPDIR; shm: multiprocessing's
        // semaphores and shared memory (runner.py).
        let (workdir, shm) = (scratch.join("work"), scratch.join("shm"));
        let (home, tmp) = (scratch.join("home"), scratch.join("tmp"));
        make_scratch(&scratch, &[&workdir, &shm, &home, &tmp], uid)
            .map_err(|e| format!("scratch: {e}"))?;
        // Each run reads its own copy of the runner: with a shared uid it may
        // change the metadata of files it can open (see seccomp.rs), and the
        // server's copy must not be among them.
        let runner = scratch.join("runner.py");
        if let Err(e) = std::fs::copy(&env.runner, &runner) {
            remove_tree(&scratch).await;
            return Err(format!("runner: {e}"));
        }
        let spec = HelperSpec {
            python: env.python.clone(),
            runner,
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
        let (chan, theirs) = match Channel::pair() {
            Ok(pair) => pair,
            Err(e) => {
                remove_tree(&scratch).await;
                return Err(format!("channel: {e}"));
            }
        };
        let spawned = Command::new(&env.helper)
            .arg(HELPER_ARG)
            .arg(spec)
            .env_clear()
            .stdin(Stdio::from(theirs))
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
        let (Some(stdout), Some(stderr), Some(pid)) =
            (child.stdout.take(), child.stderr.take(), child.id())
        else {
            remove_tree(&scratch).await;
            return Err("helper pipes missing".into());
        };
        let mut worker = Worker {
            slot,
            child,
            pgid: pid as i32,
            chan: Arc::new(chan),
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
        // runner.py's first record: space-separated options.
        let mut header = vec!["run"];
        if merge_stderr {
            header.push("merge_stderr=1");
        }
        let header = header.join(" ").into_bytes();
        // Feed the program from a task: a program larger than the socket
        // buffer is read while its output is already being collected.
        let (chan, code) = (self.chan.clone(), code.as_bytes().to_vec());
        tokio::spawn(async move {
            if chan.send(&header).await.is_ok() {
                for chunk in code.chunks(32 << 10) {
                    if chan.send(chunk).await.is_err() {
                        break;
                    }
                }
            }
            chan.shut_write();
        });
        let (mut out_buf, mut err_buf) = (vec![0u8; 16 << 10], vec![0u8; 16 << 10]);
        let mut chan_buf = vec![0u8; 64 << 10];
        let (mut out_open, mut err_open, mut chan_open) = (true, true, true);
        let mut status = None;
        let mut killed_at: Option<Instant> = None;
        let mut cancelled = false;
        let period = Duration::from_millis(250);
        let mut watch = tokio::time::interval_at(start + period, period);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if !out_open && !err_open && !chan_open && status.is_some() {
                break;
            }
            // Once killed, pipes close within milliseconds; never hang on them.
            if killed_at.is_some_and(|t| t.elapsed() > Duration::from_secs(3)) {
                break;
            }
            // Pipes first: what a process wrote to fd 1 or 2 before another
            // wrote a record (a multiprocessing child's traceback, then the
            // parent's print after join()) is already in the pipe when the
            // record arrives, and is shown first.
            let must_kill = tokio::select! {
                biased;
                r = self.stdout.read(&mut out_buf), if out_open => match r {
                    Ok(n) if n > 0 => run.push(PIPE_OUT, &out_buf[..n]).await,
                    _ => { out_open = false; run.finish(PIPE_OUT).await }
                },
                r = self.stderr.read(&mut err_buf), if err_open => match r {
                    Ok(n) if n > 0 => run.push(PIPE_ERR, &err_buf[..n]).await,
                    _ => { err_open = false; run.finish(PIPE_ERR).await }
                },
                r = self.chan.recv(&mut chan_buf), if chan_open => match r {
                    Ok(n) if n > 0 => {
                        let stream = if chan_buf[0] == b'2' { TAGGED_ERR } else { TAGGED_OUT };
                        run.push(stream, &chan_buf[1..n]).await
                    }
                    _ => {
                        chan_open = false;
                        run.finish(TAGGED_OUT).await || run.finish(TAGGED_ERR).await
                    }
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

/// The four byte streams of a run, each decoded on its own: fds 1 and 2
/// (C-level writes) and the tagged records of sys.stdout and sys.stderr.
const PIPE_OUT: usize = 0;
const PIPE_ERR: usize = 1;
const TAGGED_OUT: usize = 2;
const TAGGED_ERR: usize = 3;

/// Output bookkeeping of one run: cap, decoding, streaming.
#[derive(Default)]
struct RunState {
    sink: Option<mpsc::Sender<Output>>,
    cap: usize,
    deadline: Option<Instant>,
    used: usize,
    decoders: [Utf8Stream; 4],
    outcome: RunOutcome,
}

impl RunState {
    /// Returns true when the run must be killed (output cap reached).
    async fn push(&mut self, stream: usize, bytes: &[u8]) -> bool {
        let text = self.decoders[stream].push(bytes);
        self.emit(stream % 2 == 1, text).await
    }

    async fn finish(&mut self, stream: usize) -> bool {
        let text = self.decoders[stream].finish();
        self.emit(stream % 2 == 1, text).await
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

/// The interpreter's stdin, a `SOCK_SEQPACKET` socket pair: the server sends
/// the options and the program as records, then shuts its sending side
/// (the runner reads to EOF). The runner then sends each write of the
/// program's `sys.stdout` and `sys.stderr` back as one record tagged `1` or
/// `2`: one ordered queue, so output reaches the page in the order it was
/// written, stdout and stderr still told apart. Records keep their bounds,
/// so writes from several threads or forked processes never mix.
struct Channel {
    fd: AsyncFd<OwnedFd>,
}

impl Channel {
    /// The server's end (non-blocking) and the interpreter's.
    fn pair() -> std::io::Result<(Channel, OwnedFd)> {
        let mut fds = [0i32; 2];
        let flags = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
        if unsafe { libc::socketpair(libc::AF_UNIX, flags, 0, fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: socketpair just returned these two descriptors, owned by nobody else.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let fl = unsafe { libc::fcntl(ours.as_raw_fd(), libc::F_GETFL) };
        if fl < 0
            || unsafe { libc::fcntl(ours.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK) } < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the descriptor stays open while registered: the
        // registration owns it and deregisters before closing it.
        let fd = unsafe { AsyncFd::register(ours) }?;
        Ok((Channel { fd }, theirs))
    }

    async fn send(&self, record: &[u8]) -> std::io::Result<()> {
        loop {
            let mut guard = self.fd.writable().await?;
            let sent = guard.try_io(|fd| {
                let n = unsafe {
                    libc::send(
                        fd.as_raw_fd(),
                        record.as_ptr().cast(),
                        record.len(),
                        libc::MSG_NOSIGNAL,
                    )
                };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            if let Ok(result) = sent {
                return result;
            }
        }
    }

    /// One record (0: the other side is gone).
    async fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            let got = guard.try_io(|fd| {
                let n =
                    unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            });
            if let Ok(result) = got {
                return result;
            }
        }
    }

    fn shut_write(&self) {
        unsafe { libc::shutdown(self.fd.get_ref().as_raw_fd(), libc::SHUT_WR) };
    }
}
