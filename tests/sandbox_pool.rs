//! Pool behaviour: queueing beyond the pool, `Busy` beyond the queue,
//! fairness between clients, cancellation, metrics, readiness and shutdown.
//! Each test has its own small pool (and its own uid range).

#[path = "common/sandbox.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use snakepit::sandbox::{Output, RunError, RunRequest, Sandbox};
use support::*;

async fn pool(name: &str, workers: usize, queue_len: usize, uid_base: u32) -> Sandbox {
    let sb = Sandbox::start(config(name, workers, queue_len, uid_base))
        .await
        .expect("start");
    let t = Instant::now();
    while !sb.is_ready() {
        assert!(t.elapsed() < Duration::from_secs(20), "pool never filled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sb
}

fn req(code: &str, client: &str) -> RunRequest {
    RunRequest {
        code: code.into(),
        client: client.into(),
        merge_stderr: false,
    }
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn runs_beyond_the_pool_size_queue_and_all_complete() {
    rt().block_on(async {
        let sb = pool("queue", 2, 8, UID_BASE).await;
        let t = Instant::now();
        let runs: Vec<_> = (0..5)
            .map(|i| {
                let sb = sb.clone();
                tokio::spawn(async move {
                    sb.run(
                        req(&format!("import time\ntime.sleep(0.3)\nprint({i})"), "q"),
                        None,
                    )
                    .await
                })
            })
            .collect();
        wait_until("a queue", || sb.metrics().queued > 0).await;
        for (i, r) in runs.into_iter().enumerate() {
            let o = r.await.expect("join").expect("run");
            assert_eq!(o.stdout, format!("{i}\n"));
        }
        // Five runs of 0.3 s on two workers need at least three rounds.
        assert!(
            t.elapsed() >= Duration::from_millis(850),
            "{:?}",
            t.elapsed()
        );
        let m = sb.metrics();
        assert_eq!((m.runs, m.rejections, m.pool_size), (5, 0, 2));
        sb.shutdown().await;
    });
}

#[test]
fn beyond_the_queue_the_answer_is_busy() {
    rt().block_on(async {
        let sb = pool("busy", 1, 1, UID_BASE).await;
        let long = "import time\ntime.sleep(1)\n";
        let a = tokio::spawn({
            let sb = sb.clone();
            async move { sb.run(req(long, "a"), None).await }
        });
        wait_until("a running", || sb.metrics().running == 1).await;
        let b = tokio::spawn({
            let sb = sb.clone();
            async move { sb.run(req(long, "b"), None).await }
        });
        wait_until("b queued", || sb.metrics().queued == 1).await;
        match sb.run(req("print(1)", "c"), None).await {
            Err(RunError::Busy { retry_after }) => assert!(retry_after >= Duration::from_secs(1)),
            other => panic!("expected Busy, got {other:?}"),
        }
        assert!(a.await.expect("join").is_ok());
        assert!(b.await.expect("join").is_ok());
        let m = sb.metrics();
        assert_eq!((m.runs, m.rejections), (2, 1));
        sb.shutdown().await;
    });
}

#[test]
fn one_client_cannot_starve_another() {
    rt().block_on(async {
        let sb = pool("fair", 1, 8, UID_BASE).await;
        let done = Arc::new(Mutex::new(Vec::new()));
        let submit = |client: &'static str, i: usize| {
            let (sb, done) = (sb.clone(), done.clone());
            tokio::spawn(async move {
                let r = sb
                    .run(req("import time\ntime.sleep(0.15)", client), None)
                    .await;
                done.lock().expect("lock").push(format!("{client}{i}"));
                r
            })
        };
        let mut handles: Vec<_> = (0..5).map(|i| submit("flood", i)).collect();
        wait_until("flood queued", || sb.metrics().queued == 4).await;
        // A single client may hold at most half the queue.
        match sb.run(req("print(1)", "flood"), None).await {
            Err(RunError::Busy { .. }) => {}
            other => panic!("expected Busy for the flooding client, got {other:?}"),
        }
        handles.push(submit("polite", 0));
        for h in handles {
            assert!(h.await.expect("join").is_ok());
        }
        let order = done.lock().expect("lock").clone();
        let polite = order
            .iter()
            .position(|c| c == "polite0")
            .expect("polite ran");
        assert!(polite <= 2, "polite run waited behind the flood: {order:?}");
        sb.shutdown().await;
    });
}

#[test]
fn dropping_the_run_stops_it_and_frees_the_worker() {
    rt().block_on(async {
        let sb = pool("cancel", 1, 4, UID_BASE).await;
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let run = sb.run(
            req(&format!("{PRELUDE}import time\ntime.sleep(30)"), "c"),
            Some(tx),
        );
        let mut prelude = String::new();
        tokio::select! {
            _ = run => panic!("finished early"),
            _ = async {
                while let Some(Output::Stderr(s)) = rx.recv().await {
                    prelude += &s;
                    if prelude.contains('\n') { break; }
                }
            } => {}
        }
        // The run future is dropped here, like a client pressing Stop.
        let t = Instant::now();
        wait_until("the run to stop", || sb.metrics().running == 0).await;
        assert!(t.elapsed() < Duration::from_secs(2));
        let o = snakepit::sandbox::RunOutcome {
            stderr: prelude,
            ..Default::default()
        };
        let i = info(&o);
        wait_until("cleanup", || {
            processes().iter().all(|p| p.2 != i.pgid) && !i.cwd.exists()
        })
        .await;
        assert_still_works(&sb).await;
        sb.shutdown().await;
    });
}

#[test]
fn metrics_count_runs_timeouts_and_durations() {
    rt().block_on(async {
        let mut cfg = config("metrics", 2, 4, UID_BASE);
        cfg.limits.wall = Duration::from_millis(500);
        let sb = Sandbox::start(cfg).await.expect("start");
        assert!(sb.run(req("print(1)", "m"), None).await.is_ok());
        let o = sb
            .run(req("import time\ntime.sleep(5)", "m"), None)
            .await
            .expect("run");
        assert!(o.timed_out);
        let big = "x".repeat(sb.config().limits.code_bytes + 1);
        assert!(matches!(
            sb.run(req(&big, "m"), None).await,
            Err(RunError::TooLarge { .. })
        ));
        let m = sb.metrics();
        assert_eq!((m.runs, m.timeouts, m.too_large, m.pool_size), (2, 1, 1, 2));
        assert!(m.duration_seconds_sum >= 0.5);
        assert_eq!(m.duration_buckets.last().map(|b| b.1), Some(2));
        let mut out = snakepit::metrics::Exposition::default();
        m.write_to(&mut out);
        let text = out.finish();
        assert!(
            text.contains("# TYPE snakepit_sandbox_runs_total counter\n"),
            "{text}"
        );
        assert!(text.contains("snakepit_sandbox_runs_total 2\n"), "{text}");
        assert!(
            text.contains("snakepit_sandbox_run_duration_seconds_count 2\n"),
            "{text}"
        );
        wait_until("idle workers", || sb.metrics().idle_workers == 2).await;
        sb.shutdown().await;
    });
}

#[test]
fn shutdown_kills_idle_workers_and_removes_scratch() {
    rt().block_on(async {
        let sb = pool("shutdown", 2, 4, UID_BASE).await;
        let base = sb.layers().uid_base;
        let root = scratch_root("shutdown");
        assert!(std::fs::read_dir(&root).expect("root").count() >= 2);
        sb.shutdown().await;
        let left: Vec<_> = std::fs::read_dir(&root)
            .expect("root")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        for uid in base.into_iter().flat_map(|b| [b, b + 1]) {
            assert!(
                processes().iter().all(|p| p.1 != uid),
                "uid {uid} still has processes"
            );
        }
        assert!(matches!(
            sb.run(req("print(1)", "s"), None).await,
            Err(RunError::Unavailable(_))
        ));
    });
}

#[test]
fn an_idle_worker_that_died_is_replaced() {
    rt().block_on(async {
        let sb = pool("dead", 1, 4, UID_BASE).await;
        // The warm worker: the process whose working directory is in this pool's scratch.
        let root = scratch_root("dead").canonicalize().expect("root");
        let victims: Vec<i32> = processes()
            .iter()
            .filter(|p| {
                std::fs::read_link(format!("/proc/{}/cwd", p.0)).is_ok_and(|c| c.starts_with(&root))
            })
            .map(|p| p.0)
            .collect();
        assert_eq!(victims.len(), 1, "one warm worker");
        unsafe { libc::kill(victims[0], libc::SIGKILL) };
        let stat = format!("/proc/{}/stat", victims[0]);
        wait_until("the worker to die", || {
            std::fs::read_to_string(&stat).map_or(true, |s| s.contains(") Z "))
        })
        .await;
        let o = run(&sb, "print('fresh worker')").await;
        assert_eq!(o.stdout, "fresh worker\n");
        sb.shutdown().await;
    });
}

#[test]
fn start_removes_scratch_left_by_a_dead_server() {
    rt().block_on(async {
        let root = scratch_root("stale");
        // Above the kernel's pid_max: certainly not a live process.
        let stale = [
            root.join("run-4194305-7/work"),
            root.join(".runner-4194305"),
        ];
        for dir in &stale {
            std::fs::create_dir_all(dir).expect("stale dir");
        }
        let live = root.join(format!("run-{}-99", std::process::id()));
        std::fs::create_dir_all(&live).expect("live dir");
        let sb = Sandbox::start(config("stale", 1, 1, UID_BASE))
            .await
            .expect("start");
        assert!(!root.join("run-4194305-7").exists() && !stale[1].exists());
        assert!(live.exists(), "a live server's directory was removed");
        std::fs::remove_dir(&live).expect("cleanup");
        sb.shutdown().await;
    });
}
