//! Snippet-run benchmark against the real release binary over HTTP, with references
//! measured in the same run. Prints a Markdown table for the README.
//!
//!   cargo bench --bench sandbox
//!
//! 1. `print("hi")` end to end (POST /api/run, JSON) against bare `python3 -c` start-up.
//! 2. Sustained throughput of short runs with 8 concurrent clients.
//! 3. Article-page latency while runs saturate the pool, against the idle server.
//! 4. Every Python runtime: `print("hi")` end to end against that interpreter's own bare
//!    start-up, an `import pandas` run, and the resident memory of the server with all
//!    its idle pools.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Http = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

const ADDR: &str = "127.0.0.1:18090";

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn run_hi(client: &Http) -> Duration {
    run_on(client, None, "print(\"hi\")", "hi\n").await
}

/// One JSON run of `code` on runtime `python` (`None`: the default), checked to print `expect`.
async fn run_on(client: &Http, python: Option<&str>, code: &str, expect: &str) -> Duration {
    let started = Instant::now();
    let mut body = serde_json::json!({ "code": code });
    if let Some(p) = python {
        body["python"] = p.into();
    }
    let req = hyper::Request::post(format!("http://{ADDR}/api/run"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let res = client.request(req).await.expect("request");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    assert!(status.is_success(), "{status}: {body:?}");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(v["stdout"], expect, "{v}");
    started.elapsed()
}

/// Resident memory (KiB) of `pid` and every process descending from it.
fn tree_rss_kib(pid: u32) -> u64 {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
        if let Some(ppid) = after.split(' ').nth(1).and_then(|p| p.parse().ok()) {
            parents.entry(ppid).or_default().push(child);
        }
    }
    let rss = |p: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{p}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    };
    let (mut total, mut todo) = (0, vec![pid]);
    while let Some(p) = todo.pop() {
        total += rss(p);
        todo.extend(parents.get(&p).into_iter().flatten());
    }
    total
}

async fn get_page(client: &Http, path: &str) -> Duration {
    let started = Instant::now();
    let res = client
        .get(format!("http://{ADDR}{path}").parse().unwrap())
        .await
        .expect("request");
    assert!(res.status().is_success());
    res.into_body().collect().await.expect("body");
    started.elapsed()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let exe = env!("CARGO_BIN_EXE_snakepit");
    let data = tempfile::tempdir().expect("data dir");
    let workers = 4;
    let server = Server(
        Command::new(exe)
            .args([
                "serve",
                "--bind",
                ADDR,
                "--workers",
                &workers.to_string(),
                "--run-queue",
                "256",
            ])
            .arg("--data")
            .arg(data.path())
            .env("SNAKEPIT_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("server starts"),
    );
    let client: Http = Client::builder(TokioExecutor::new()).build_http();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(res) = client
            .get(format!("http://{ADDR}/healthz").parse().unwrap())
            .await
        {
            if res.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "server never became healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let python = snakepit::sandbox::python::find_python(std::path::Path::new("python3"));

    // 1. Latency of one short run, one at a time, against bare interpreter start-up.
    let mut bare = Vec::new();
    for _ in 0..40 {
        let started = Instant::now();
        let out = Command::new(&python)
            .args(["-c", "print('hi')"])
            .output()
            .expect("python3 runs");
        assert_eq!(out.stdout, b"hi\n");
        bare.push(started.elapsed());
    }
    for _ in 0..10 {
        run_hi(&client).await; // warm-up
    }
    let mut runs = Vec::new();
    for _ in 0..200 {
        runs.push(run_hi(&client).await);
        tokio::time::sleep(Duration::from_millis(15)).await; // let the pool refill, as between readers' clicks
    }
    let (bare50, bare99) = (percentile(&mut bare, 0.5), percentile(&mut bare, 0.99));
    let (run50, run99) = (percentile(&mut runs, 0.5), percentile(&mut runs, 0.99));

    // 2. Sustained throughput: 8 clients, back to back, for 10 s.
    let window = Duration::from_secs(10);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            while started.elapsed() < window {
                run_hi(&client).await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let throughput = f64::from(total) / started.elapsed().as_secs_f64();

    // 3. Article pages, idle and while runs keep every worker busy.
    let page = "/articles/mutable-default-arguments";
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(get_page(&client, page).await);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..workers * 2 {
        let (client, stop) = (client.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                run_hi(&client).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut busy = Vec::new();
    for _ in 0..300 {
        busy.push(get_page(&client, page).await);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in load {
        let _ = t.await;
    }
    let (idle50, idle99) = (percentile(&mut idle, 0.5), percentile(&mut idle, 0.99));
    let (busy50, busy99) = (percentile(&mut busy, 0.5), percentile(&mut busy, 0.99));

    // 4. Every runtime: its own bare start-up against a run on it, and `import pandas`.
    let listed = client
        .get(format!("http://{ADDR}/api/runtimes").parse().unwrap())
        .await
        .expect("GET /api/runtimes");
    let listed = listed.into_body().collect().await.unwrap().to_bytes();
    let listed: serde_json::Value = serde_json::from_slice(&listed).unwrap();
    let default = listed["default"].as_str().unwrap_or_default().to_string();
    let runtime_dir =
        std::env::var("SNAKEPIT_RUNTIME_DIR").unwrap_or_else(|_| "/opt/snakepit/runtimes".into());
    let mut per_runtime = Vec::new();
    for r in listed["runtimes"].as_array().into_iter().flatten() {
        let id = r["id"].as_str().unwrap().to_string();
        let interpreter = std::path::Path::new(&runtime_dir).join(format!("bin/python{id}"));
        let mut bare = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let out = Command::new(&interpreter)
                .args(["-c", "print('hi')"])
                .output()
                .expect("the runtime's interpreter runs");
            assert_eq!(out.stdout, b"hi\n");
            bare.push(started.elapsed());
        }
        // Non-default runtimes keep one warm worker: pause as between readers' clicks.
        let pause = Duration::from_millis(if id == default { 15 } else { 150 });
        let mut runs = Vec::new();
        for i in 0..60 {
            let took = run_on(&client, Some(&id), "print(\"hi\")", "hi\n").await;
            if i >= 5 {
                runs.push(took);
            }
            tokio::time::sleep(pause).await;
        }
        let mut pandas = Vec::new();
        for _ in 0..5 {
            let code = "import pandas\nprint('ok')";
            pandas.push(run_on(&client, Some(&id), code, "ok\n").await);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        per_runtime.push((
            r["version"].as_str().unwrap().to_string(),
            percentile(&mut bare, 0.5),
            percentile(&mut runs, 0.5),
            percentile(&mut runs, 0.99),
            percentile(&mut pandas, 0.5),
        ));
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // every pool refilled and idle
    let rss_mib = tree_rss_kib(server.0.id()) as f64 / 1024.0;

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("Sandbox benchmark: {cores} cores, {workers} workers, release build\n");
    println!("| measurement | p50 | p99 | ratio (p50) | target |");
    println!("|---|---:|---:|---:|---|");
    println!(
        "| bare `python3 -c 'print(\"hi\")'` start-up (reference) | {} | {} | 1.00 | |",
        ms(bare50),
        ms(bare99)
    );
    println!(
        "| `print(\"hi\")` over HTTP, end to end | {} | {} | {:.2}× bare python3 | ≤ 0.3× |",
        ms(run50),
        ms(run99),
        run50.as_secs_f64() / bare50.as_secs_f64()
    );
    println!(
        "| article page, idle (reference) | {} | {} | 1.00 | |",
        ms(idle50),
        ms(idle99)
    );
    println!(
        "| article page, pool saturated by runs | {} | {} | {:.2}× idle | ≤ 2× |",
        ms(busy50),
        ms(busy99),
        busy50.as_secs_f64() / idle50.as_secs_f64()
    );
    println!(
        "\nSustained short runs, 8 clients for 10 s: **{throughput:.0} runs/s** (target ≥ 100 runs/s)"
    );
    println!("\nPer runtime (`print(\"hi\")` against the same interpreter's bare start-up):\n");
    println!(
        "| runtime | bare start-up p50 | run p50 | run p99 | ratio (p50) | `import pandas` run p50 |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (version, bare, run50, run99, pandas) in &per_runtime {
        println!(
            "| Python {version} | {} | {} | {} | {:.2}× | {} |",
            ms(*bare),
            ms(*run50),
            ms(*run99),
            run50.as_secs_f64() / bare.as_secs_f64(),
            ms(*pandas)
        );
    }
    println!(
        "\nResident memory of the server and its idle pools ({} runtimes): **{rss_mib:.0} MiB**",
        per_runtime.len()
    );
}
