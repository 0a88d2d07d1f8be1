//! The pool: warm workers, a bounded queue with per-client fairness, the
//! background refill, metrics, start-up probing and shutdown.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::worker::{Worker, WorkerEnv, remove_tree};
use super::{Layers, Output, RunError, RunOutcome, RunRequest, SandboxConfig, SandboxError};

const RUNNER_PY: &str = include_str!("runner.py");
/// Upper bounds (seconds) of the run-duration histogram buckets.
const BUCKETS: [f64; 10] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    /// Runs that reached a worker and finished.
    pub runs: u64,
    pub timeouts: u64,
    pub truncated: u64,
    /// Runs answered `Busy`.
    pub rejections: u64,
    /// Runs answered `TooLarge`.
    pub too_large: u64,
    /// Runs that failed inside the sandbox machinery.
    pub errors: u64,
    pub duration_seconds_sum: f64,
    /// (upper bound in seconds, cumulative count), Prometheus style.
    pub duration_buckets: Vec<(f64, u64)>,
    pub pool_size: usize,
    pub idle_workers: usize,
    pub running: usize,
    pub queued: usize,
}

impl Metrics {
    /// Prometheus text exposition, metric names prefixed `snakepit_sandbox_`.
    pub fn to_prometheus(&self) -> String {
        let mut s = String::new();
        let counters = [
            ("runs_total", self.runs),
            ("timeouts_total", self.timeouts),
            ("truncated_total", self.truncated),
            ("rejections_total", self.rejections),
            ("too_large_total", self.too_large),
            ("errors_total", self.errors),
        ];
        for (name, v) in counters {
            s += &format!("# TYPE snakepit_sandbox_{name} counter\nsnakepit_sandbox_{name} {v}\n");
        }
        for (name, v) in [
            ("pool_size", self.pool_size),
            ("idle_workers", self.idle_workers),
            ("running", self.running),
            ("queued", self.queued),
        ] {
            s += &format!("# TYPE snakepit_sandbox_{name} gauge\nsnakepit_sandbox_{name} {v}\n");
        }
        s += "# TYPE snakepit_sandbox_run_duration_seconds histogram\n";
        for (le, n) in &self.duration_buckets {
            s += &format!("snakepit_sandbox_run_duration_seconds_bucket{{le=\"{le}\"}} {n}\n");
        }
        s += &format!(
            "snakepit_sandbox_run_duration_seconds_bucket{{le=\"+Inf\"}} {}\n\
             snakepit_sandbox_run_duration_seconds_sum {}\n\
             snakepit_sandbox_run_duration_seconds_count {}\n",
            self.runs, self.duration_seconds_sum, self.runs
        );
        s
    }
}

struct Job {
    req: RunRequest,
    sink: Option<mpsc::Sender<Output>>,
    reply: oneshot::Sender<Result<RunOutcome, RunError>>,
}

#[derive(Default)]
struct State {
    idle: Vec<Worker>,
    /// Waiting jobs per client.
    queues: HashMap<String, VecDeque<Job>>,
    /// Runs in progress per client.
    running: HashMap<String, usize>,
    /// When each client (with jobs waiting or running) was last served.
    last_served: HashMap<String, u64>,
    serve_seq: u64,
    queued: usize,
    running_total: usize,
    filled_slots: HashSet<usize>,
    metrics: Metrics,
}

pub(crate) struct Inner {
    pub(crate) cfg: SandboxConfig,
    pub(crate) layers: Layers,
    env: WorkerEnv,
    state: Mutex<State>,
    next_id: AtomicU64,
    closing: AtomicBool,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough counters.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) async fn start(cfg: SandboxConfig) -> Result<Arc<Inner>, SandboxError> {
        if cfg.workers == 0 {
            return Err(SandboxError::Config("workers must be at least 1".into()));
        }
        let is_root = unsafe { libc::geteuid() } == 0;
        let scratch_root = prepare_scratch_root(&cfg.scratch_root, is_root)?;
        let runner = scratch_root.join(".runner").join("runner.py");
        write_runner(&runner)?;
        let (python, read_only) = probe_python(&cfg.python).await?;
        // Orphans of a run (a daemonised child) are re-parented to us, so we
        // can reap them even when the server is PID 1 in a container; and
        // nobody may read our environment through /proc or ptrace us.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        }
        let env = WorkerEnv {
            helper: match &cfg.helper {
                Some(h) => h.clone(),
                None => std::env::current_exe().map_err(|e| SandboxError::Io(e.to_string()))?,
            },
            python,
            runner,
            read_only,
            scratch_root,
            limits: cfg.limits.clone(),
            uid_base: is_root.then_some(cfg.uid_base),
            server_pid: std::process::id() as i32,
        };
        let mut probe = Worker::spawn(&env, 0, 0)
            .await
            .map_err(|e| SandboxError::SelfTest(format!("starting a worker: {e}")))?;
        let r = &probe.report;
        let layers = Layers {
            landlock_abi: r.landlock_abi,
            landlock_fs: r.landlock_fs,
            landlock_net: r.landlock_net,
            landlock_scope: r.landlock_scope,
            seccomp: r.seccomp && super::seccomp::available(),
            rlimits: r.rlimits,
            process_group: r.process_group,
            no_new_privs: r.no_new_privs,
            uid_base: r.uid.map(|_| cfg.uid_base),
        };
        let problems = r.problems.join("; ");
        if !layers.meets_minimum() && !cfg.insecure {
            probe.destroy().await;
            return Err(SandboxError::Insecure { layers, problems });
        }
        if layers.meets_minimum() {
            tracing::info!(%layers, "sandbox layers in force");
        } else {
            tracing::warn!(%layers, problems, "INSECURE sandbox: minimum layers missing");
        }
        self_test(&mut probe, &cfg).await?;
        let inner = Arc::new(Inner {
            cfg,
            layers,
            env,
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
            closing: AtomicBool::new(false),
        });
        inner.lock().metrics.pool_size = inner.cfg.workers;
        for slot in 0..inner.cfg.workers {
            inner.clone().refill(slot);
        }
        Ok(inner)
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.lock().filled_slots.len() >= self.cfg.workers
    }

    /// Starts a fresh worker for `slot` in the background, retrying with
    /// back-off (a transient failure must not shrink the pool for good).
    fn refill(self: Arc<Self>, slot: usize) {
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            while !self.closing.load(Ordering::SeqCst) {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                match Worker::spawn(&self.env, slot, id).await {
                    Ok(w) => {
                        if !w.report.seccomp && !self.cfg.insecure {
                            tracing::error!("worker lost its seccomp layer; not used");
                            w.destroy().await;
                        } else if self.closing.load(Ordering::SeqCst) {
                            w.destroy().await;
                            return;
                        } else {
                            let mut st = self.lock();
                            st.idle.push(w);
                            st.filled_slots.insert(slot);
                            drop(st);
                            self.dispatch();
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(slot, "sandbox worker failed to start: {e}"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    }

    pub(crate) async fn run(
        self: Arc<Self>,
        req: RunRequest,
        sink: Option<mpsc::Sender<Output>>,
    ) -> Result<RunOutcome, RunError> {
        let limit = self.cfg.limits.code_bytes;
        if req.code.len() > limit {
            self.lock().metrics.too_large += 1;
            return Err(RunError::TooLarge { limit });
        }
        if self.closing.load(Ordering::SeqCst) {
            return Err(RunError::Unavailable("shutting down".into()));
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.lock();
            // Waiting jobs beyond the idle workers would have to queue.
            let waiting = (st.queued + 1).saturating_sub(st.idle.len());
            let per_client = self.cfg.queue_len.div_ceil(2).max(1);
            let mine = st.queues.get(&req.client).map_or(0, VecDeque::len);
            if waiting > 0 && (waiting > self.cfg.queue_len || mine >= per_client) {
                st.metrics.rejections += 1;
                let retry_after = self.retry_after(&st);
                return Err(RunError::Busy { retry_after });
            }
            let client = req.client.clone();
            st.queues.entry(client).or_default().push_back(Job {
                req,
                sink,
                reply: tx,
            });
            st.queued += 1;
        }
        self.dispatch();
        rx.await
            .unwrap_or_else(|_| Err(RunError::Internal("run abandoned".into())))
    }

    /// A guess at when a slot frees up: mean run time × queue depth per worker.
    fn retry_after(&self, st: &State) -> Duration {
        let m = &st.metrics;
        let mean = if m.runs > 0 {
            m.duration_seconds_sum / m.runs as f64
        } else {
            1.0
        };
        let secs = mean * (st.queued as f64 / self.cfg.workers as f64 + 1.0);
        Duration::from_secs(secs.ceil().clamp(1.0, 30.0) as u64)
    }

    /// Pairs idle workers with waiting jobs: among clients with waiting jobs,
    /// the one with the fewest runs in progress goes first, ties broken by
    /// who was served longest ago (round-robin), so a client with many jobs
    /// cannot starve one with a single job.
    fn dispatch(self: &Arc<Self>) {
        loop {
            let (mut worker, job) = {
                let mut st = self.lock();
                if st.queued == 0 || st.idle.is_empty() {
                    return;
                }
                let st = &mut *st;
                let Some(client) = st
                    .queues
                    .keys()
                    .min_by_key(|c| {
                        let running = st.running.get(*c).copied().unwrap_or(0);
                        (running, st.last_served.get(*c).copied().unwrap_or(0))
                    })
                    .cloned()
                else {
                    return;
                };
                let Some(queue) = st.queues.get_mut(&client) else {
                    return;
                };
                let Some(job) = queue.pop_front() else { return };
                if queue.is_empty() {
                    st.queues.remove(&client);
                }
                st.queued -= 1;
                if job.reply.is_closed() {
                    self.forget_idle_client(st, &client);
                    continue; // the caller went away while waiting
                }
                let Some(worker) = st.idle.pop() else { return };
                st.serve_seq += 1;
                st.last_served.insert(client.clone(), st.serve_seq);
                *st.running.entry(client).or_default() += 1;
                st.running_total += 1;
                (worker, job)
            };
            let inner = self.clone();
            tokio::spawn(async move {
                let slot = worker.slot;
                let client = job.req.client.clone();
                let Job {
                    req,
                    sink,
                    mut reply,
                } = job;
                let result = if worker.is_alive() {
                    let limits = &inner.cfg.limits;
                    Ok(worker
                        .execute(&req.code, req.merge_stderr, limits, sink, &mut reply)
                        .await)
                } else {
                    Err(RunError::Internal("worker died while idle".into()))
                };
                worker.destroy().await;
                inner.finish(&client, &result);
                let _ = reply.send(result);
                inner.clone().refill(slot);
                inner.dispatch();
            });
        }
    }

    fn finish(&self, client: &str, result: &Result<RunOutcome, RunError>) {
        let mut st = self.lock();
        st.running_total -= 1;
        if let Some(n) = st.running.get_mut(client) {
            *n -= 1;
            if *n == 0 {
                st.running.remove(client);
            }
        }
        self.forget_idle_client(&mut st, client);
        let m = &mut st.metrics;
        match result {
            Ok(o) => {
                m.runs += 1;
                m.timeouts += u64::from(o.timed_out);
                m.truncated += u64::from(o.truncated);
                let secs = o.duration_ms as f64 / 1000.0;
                m.duration_seconds_sum += secs;
                if m.duration_buckets.is_empty() {
                    m.duration_buckets = BUCKETS.iter().map(|&b| (b, 0)).collect();
                }
                for (le, n) in &mut m.duration_buckets {
                    if secs <= *le {
                        *n += 1;
                    }
                }
            }
            Err(_) => m.errors += 1,
        }
    }

    /// Drops the bookkeeping of a client with nothing waiting or running.
    fn forget_idle_client(&self, st: &mut State, client: &str) {
        if !st.queues.contains_key(client) && !st.running.contains_key(client) {
            st.last_served.remove(client);
        }
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let st = self.lock();
        let mut m = st.metrics.clone();
        if m.duration_buckets.is_empty() {
            m.duration_buckets = BUCKETS.iter().map(|&b| (b, 0)).collect();
        }
        m.idle_workers = st.idle.len();
        m.running = st.running_total;
        m.queued = st.queued;
        m
    }

    pub(crate) async fn shutdown(self: Arc<Self>) {
        self.closing.store(true, Ordering::SeqCst);
        let (idle, jobs) = {
            let mut st = self.lock();
            let jobs: Vec<Job> = st.queues.drain().flat_map(|(_, q)| q).collect();
            st.queued = 0;
            (std::mem::take(&mut st.idle), jobs)
        };
        for job in jobs {
            let _ = job
                .reply
                .send(Err(RunError::Unavailable("shutting down".into())));
        }
        for w in idle {
            w.destroy().await;
        }
        let give_up = Instant::now() + self.cfg.limits.wall + Duration::from_secs(2);
        while self.lock().running_total > 0 && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        remove_tree(&self.env.scratch_root.join(".runner")).await;
    }
}

/// Creates the scratch root. When runs get their own uid, it (and every
/// ancestor) must be searchable by others, or absolute paths such as TMPDIR
/// would not resolve for the program.
fn prepare_scratch_root(root: &Path, is_root: bool) -> Result<PathBuf, SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |e: std::io::Error| SandboxError::Io(format!("{}: {e}", root.display()));
    std::fs::create_dir_all(root).map_err(io)?;
    let root = root.canonicalize().map_err(io)?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o711)).map_err(io)?;
    if is_root {
        for dir in root.ancestors().skip(1) {
            let mode = std::fs::metadata(dir).map_err(io)?.permissions().mode();
            if mode & 0o001 == 0 {
                return Err(SandboxError::Config(format!(
                    "{} is not searchable by other users (mode {:o}), so sandboxed runs \
                     (which get their own uid) cannot reach {}; chmod o+x it or choose \
                     another data directory",
                    dir.display(),
                    mode & 0o777,
                    root.display()
                )));
            }
        }
    }
    Ok(root)
}

fn write_runner(path: &Path) -> Result<(), SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |e: std::io::Error| SandboxError::Io(format!("{}: {e}", path.display()));
    let dir = path
        .parent()
        .ok_or_else(|| SandboxError::Io("runner path".into()))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    std::fs::write(path, RUNNER_PY).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(io)
}

/// Asks the interpreter (unconfined, trusted code of ours) where it lives:
/// its real executable and the directories its standard library needs, which
/// become Landlock's read-only rules.
async fn probe_python(python: &Path) -> Result<(PathBuf, Vec<PathBuf>), SandboxError> {
    const PROBE: &str = "import json, os, sys\n\
        exe = sys.executable\n\
        dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,\n\
                os.path.dirname(os.path.realpath(exe))}\n\
        dirs.update(os.path.realpath(p) for p in sys.path if p and os.path.exists(p))\n\
        print(json.dumps({'exe': exe, 'dirs': sorted(dirs)}))\n";
    let err = |msg: String| SandboxError::Python {
        python: python.display().to_string(),
        msg,
    };
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(python)
            .args(["-I", "-c", PROBE])
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| err("did not answer within 30 s".into()))?
    .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        exe: PathBuf,
        dirs: Vec<PathBuf>,
    }
    let p: Probe = serde_json::from_slice(&out.stdout).map_err(|e| err(e.to_string()))?;
    Ok((p.exe, p.dirs))
}

/// One real run before declaring the sandbox usable: catches an interpreter
/// the sandbox uid cannot read, a broken runner, a missing library path.
async fn self_test(probe: &mut Worker, cfg: &SandboxConfig) -> Result<(), SandboxError> {
    let (mut tx, _rx) = oneshot::channel::<()>();
    let code = "import sys\nprint('ok', sys.version_info[0])\n";
    let o = probe.execute(code, false, &cfg.limits, None, &mut tx).await;
    let scratch = probe.scratch.clone();
    remove_tree(&scratch).await;
    if o.stdout == "ok 3\n" && o.exit_code == Some(0) {
        return Ok(());
    }
    Err(SandboxError::SelfTest(format!(
        "`print('ok')` gave exit {:?} signal {:?}, stdout {:?}, stderr {:?} \
         (is {} readable by uid {}?)",
        o.exit_code,
        o.signal,
        o.stdout,
        o.stderr.trim(),
        cfg.python.display(),
        probe.uid.map_or("of the server".into(), |u| u.to_string())
    )))
}
