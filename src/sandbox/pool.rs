//! The pool: warm workers, a bounded queue with per-client fairness, the
//! background refill, metrics and shutdown.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::metrics::{BUCKETS, Metrics};
use super::setup::{
    check_reachable_by_others, layers_of, prepare_scratch_root, probe_python, remove_stale_scratch,
    self_test, write_runner,
};
use super::worker::{Worker, WorkerEnv, remove_tree};
use super::{Layers, Output, RunError, RunOutcome, RunRequest, SandboxConfig, SandboxError};

/// Worker ids, unique in the process: they name scratch directories, and several
/// pools (one per Python runtime) share the scratch root.
static NEXT_WORKER_ID: AtomicU64 = AtomicU64::new(1);
/// Pools started by this process, for unique runner file names.
static NEXT_POOL: AtomicU64 = AtomicU64::new(0);

/// Consecutive failed worker starts (about 20 s with the back-off) after
/// which the pool counts as broken.
const BROKEN_AFTER: usize = 8;

struct Job {
    req: RunRequest,
    sink: Option<mpsc::Sender<Output>>,
    reply: oneshot::Sender<Result<RunOutcome, RunError>>,
}

#[derive(Default)]
struct State {
    idle: VecDeque<Worker>,
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
    /// Worker starts that failed in a row, and the last reason: past
    /// [`BROKEN_AFTER`] the pool answers `Unavailable` instead of queueing
    /// runs that no worker would ever take.
    start_failures: usize,
    last_failure: String,
    metrics: Metrics,
}

pub(crate) struct Inner {
    pub(crate) cfg: SandboxConfig,
    pub(crate) layers: Layers,
    /// The interpreter's exact version, e.g. `3.14.8`.
    pub(crate) python_version: String,
    env: WorkerEnv,
    state: Mutex<State>,
    closing: AtomicBool,
    /// Worker slots with a process or scratch directory that may exist
    /// (starting, idle, running or being cleaned up): shutdown waits for 0.
    alive: AtomicUsize,
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
        remove_stale_scratch(&scratch_root).await;
        // Names carry our pid: `serve` and `check` may share a data directory.
        let pid = std::process::id();
        let pool = NEXT_POOL.fetch_add(1, Ordering::Relaxed);
        let runner = scratch_root
            .join(format!(".runner-{pid}-{pool}"))
            .join("runner.py");
        let packages = match &cfg.packages {
            Some(dir) => Some(dir.canonicalize().map_err(|e| {
                SandboxError::Config(format!("packages directory {}: {e}", dir.display()))
            })?),
            None => None,
        };
        write_runner(&runner, packages.as_deref())?;
        let probed = probe_python(&cfg.python).await?;
        let (python, mut read_only) = (probed.exe, probed.dirs);
        read_only.extend(packages);
        if is_root {
            check_reachable_by_others(&python).map_err(|msg| SandboxError::Python {
                python: python.display().to_string(),
                msg: format!(
                    "{msg}: the sandboxed runs (which get unprivileged uids) could not \
                     execute it; choose an interpreter outside private directories, \
                     e.g. /usr/bin/python3"
                ),
            })?;
        }
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
            pool_size: cfg.workers,
        };
        let probe = Worker::spawn(&env, 0, NEXT_WORKER_ID.fetch_add(1, Ordering::Relaxed))
            .await
            .map_err(|e| SandboxError::SelfTest(format!("starting a worker: {e}")))?;
        let layers = layers_of(&probe.report, cfg.uid_base);
        let problems = probe.report.problems.join("; ");
        if !layers.meets_minimum() && !cfg.insecure {
            probe.destroy().await;
            return Err(SandboxError::Insecure { layers, problems });
        }
        if !is_root {
            tracing::warn!(
                "sandbox: the server is not root, so runs share its uid: the process \
                 budget is shared and chmod/chown are denied to snippets (the container \
                 image runs this way, with its pids limit as the outer bound); a server \
                 started as root on a host gives every run a uid of its own"
            );
        }
        if layers.meets_minimum() {
            tracing::info!(%layers, "sandbox layers in force");
        } else {
            tracing::warn!(%layers, problems, "INSECURE sandbox: minimum layers missing");
        }
        self_test(probe, &cfg).await?;
        let inner = Arc::new(Inner {
            cfg,
            layers,
            python_version: probed.version,
            env,
            state: Mutex::new(State::default()),
            closing: AtomicBool::new(false),
            alive: AtomicUsize::new(0),
        });
        inner.lock().metrics.pool_size = inner.cfg.workers;
        for slot in 0..inner.cfg.workers {
            inner.clone().refill(slot);
        }
        Ok(inner)
    }

    pub(crate) fn is_ready(&self) -> bool {
        let st = self.lock();
        st.filled_slots.len() >= self.cfg.workers && st.start_failures < BROKEN_AFTER
    }

    /// Starts a fresh worker for `slot` in the background, retrying with
    /// back-off (a transient failure must not shrink the pool for good).
    fn refill(self: Arc<Self>, slot: usize) {
        self.alive.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            while !self.closing.load(Ordering::SeqCst) {
                let id = NEXT_WORKER_ID.fetch_add(1, Ordering::Relaxed);
                match Worker::spawn(&self.env, slot, id).await {
                    Ok(w) => {
                        let layers = layers_of(&w.report, self.cfg.uid_base);
                        if !layers.meets_minimum() && !self.cfg.insecure {
                            // Every worker is checked, not just the first one.
                            tracing::error!(%layers, "sandbox worker below the minimum; not used");
                            self.note_start_failure(format!("worker confined only by {layers}"));
                            w.destroy().await;
                        } else if self.closing.load(Ordering::SeqCst) {
                            w.destroy().await;
                            break;
                        } else {
                            let mut st = self.lock();
                            st.idle.push_back(w);
                            st.filled_slots.insert(slot);
                            st.start_failures = 0;
                            drop(st);
                            self.dispatch();
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(slot, "sandbox worker failed to start: {e}");
                        self.note_start_failure(e);
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            self.alive.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Counts a failed start; once the pool is broken, waiting runs are
    /// answered instead of being left to wait for ever.
    fn note_start_failure(&self, e: String) {
        let jobs: Vec<Job> = {
            let mut st = self.lock();
            st.start_failures += 1;
            st.last_failure = e;
            if st.start_failures < BROKEN_AFTER || !st.idle.is_empty() {
                return;
            }
            st.queued = 0;
            st.queues.drain().flat_map(|(_, q)| q).collect()
        };
        for job in jobs {
            let _ = job.reply.send(Err(self.broken_error()));
        }
    }

    fn broken_error(&self) -> RunError {
        let st = self.lock();
        RunError::Unavailable(format!(
            "sandbox workers fail to start: {}",
            st.last_failure
        ))
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
            if st.start_failures >= BROKEN_AFTER && st.idle.is_empty() {
                drop(st);
                return Err(self.broken_error());
            }
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
        self.replace_dead_idle_workers();
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
                // The longest-waiting worker: certainly warm, and its uid slot rotates.
                let Some(worker) = st.idle.pop_front() else {
                    return;
                };
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
                // The group is already SIGKILLed (`execute` saw the program end):
                // answer first, then reap and remove the scratch directory
                // before the slot (and its uid) is used again.
                inner.finish(&client, &result);
                let _ = reply.send(result);
                worker.destroy().await;
                inner.alive.fetch_sub(1, Ordering::SeqCst);
                inner.clone().refill(slot);
                inner.dispatch();
            });
        }
    }

    /// An idle interpreter can die (OOM killer, an administrator): such
    /// workers are cleaned up and replaced instead of being handed a run.
    fn replace_dead_idle_workers(self: &Arc<Self>) {
        let dead: Vec<Worker> = {
            let mut st = self.lock();
            let (mut alive, mut dead) = (VecDeque::new(), Vec::new());
            for mut w in std::mem::take(&mut st.idle) {
                if w.is_alive() {
                    alive.push_back(w);
                } else {
                    dead.push(w);
                }
            }
            st.idle = alive;
            dead
        };
        for w in dead {
            tracing::warn!(slot = w.slot, "idle sandbox worker died; replacing it");
            let inner = self.clone();
            tokio::spawn(async move {
                let slot = w.slot;
                w.destroy().await;
                inner.alive.fetch_sub(1, Ordering::SeqCst);
                inner.clone().refill(slot);
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
            self.alive.fetch_sub(1, Ordering::SeqCst);
        }
        let give_up = Instant::now() + self.cfg.limits.wall + Duration::from_secs(5);
        while self.alive.load(Ordering::SeqCst) > 0 && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(dir) = self.env.runner.parent() {
            remove_tree(dir).await;
        }
    }
}
