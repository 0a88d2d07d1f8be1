//! The binary as users run it: `check`, `serve` refusing bad content, graceful shutdown.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_snakepit");

/// A copy of the fixture content plus one more article, `basics/extra.md`.
fn broken_content(broken: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = common::root().join("tests/fixtures/content");
    for entry in walk(&src) {
        let rel = entry.strip_prefix(&src).unwrap();
        let dest = dir.path().join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&entry, &dest).unwrap();
    }
    std::fs::write(dir.path().join("basics/extra.md"), broken).unwrap();
    dir
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

const BROKEN: &str = "+++\ntitle = \"Broken\"\nsummary = \"x\"\ncolour = \"red\"\n+++\n\n## Same\n\n## Same\n\n[gone](/articles/nowhere)\n";

#[test]
fn check_reports_every_problem_with_file_and_line() {
    let content = broken_content(BROKEN);
    let out = Command::new(EXE)
        .args(["check", "--no-run", "--content"])
        .arg(content.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let file = content.path().join("basics/extra.md");
    let file = file.display();
    assert!(
        stdout.contains(&format!("{file}:4: front matter: unknown field `colour`")),
        "{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.last(), Some(&"1 problem(s) found"), "{stdout}");
}

#[test]
fn check_reports_links_and_duplicate_ids_together() {
    let content = broken_content(
        "+++\ntitle = \"Broken\"\nsummary = \"x\"\n+++\n\n## Same\n\n## Same\n\n[gone](/articles/nowhere)\n",
    );
    let out = Command::new(EXE)
        .args(["check", "--no-run", "--content"])
        .arg(content.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("extra.md:8: duplicate heading id `same`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("extra.md:10: link to unknown article `nowhere`"),
        "{stdout}"
    );
    assert!(stdout.ends_with("2 problem(s) found\n"), "{stdout}");
}

#[test]
fn check_runs_snippets_and_reports_wrong_output() {
    let good = "+++\ntitle = \"Runs\"\nsummary = \"x\"\n+++\n\n```python\nprint(6 * 7)\n```\n\n```output\n42\n```\n\n```python\nimport time\nprint(f'took {time.perf_counter()}')\n```\n\n```output\ntook <...>\n```\n";
    let content = broken_content(good);
    let out = Command::new(EXE)
        .args(["check", "--content"])
        .arg(content.path())
        .arg("--data")
        .arg(content.path().join("data"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("every one ran as its output block says"),
        "{stdout}"
    );

    let wrong = good.replace("42\n", "41\n");
    let content = broken_content(&wrong);
    let out = Command::new(EXE)
        .args(["check", "--content"])
        .arg(content.path())
        .arg("--data")
        .arg(content.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("extra.md:10 [3.14]: output differs from a real run:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("- 41") && stdout.contains("+ 42"),
        "{stdout}"
    );
}

#[test]
fn serve_refuses_invalid_content_with_the_same_messages() {
    let content = broken_content(BROKEN);
    let out = Command::new(EXE)
        .args(["serve", "--bind", "127.0.0.1:0", "--content"])
        .arg(content.path())
        .arg("--static-dir")
        .arg(common::root().join("static"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("extra.md:4: front matter: unknown field `colour`"),
        "{stderr}"
    );
    assert!(stderr.contains("refusing to start"), "{stderr}");
}

/// A `serve` child on a free port with the fixture content, and its stderr line by line.
struct Server {
    child: std::process::Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<String>,
    _data: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let data = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(EXE)
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--workers",
                "1",
                "--content",
            ])
            .arg(common::root().join("tests/fixtures/content"))
            .arg("--static-dir")
            .arg(common::root().join("static"))
            .arg("--data")
            .arg(data.path())
            .args(extra)
            .env("NO_COLOR", "1")
            .env_remove("SNAKEPIT_BASE_URL")
            .env_remove("SNAKEPIT_LOG_FORMAT")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Server {
            child,
            port,
            lines,
            _data: data,
        }
    }

    /// The first line from now on containing `needle` (every line read is passed to `seen`).
    fn wait_for(&self, needle: &str, mut seen: impl FnMut(&str)) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    seen(&line);
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("the server never logged {needle:?}"),
            }
        }
    }

    /// `GET path` over a real connection; the raw response.
    fn get(&self, path: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }
}

impl Drop for Server {
    /// Kills the server if the test fails before it has shut it down.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: signalling our own child, which has not been reaped yet.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

#[test]
fn serve_logs_each_request_and_shuts_down_gracefully_on_sigterm() {
    let mut server = Server::start(&[]);
    let wait_for = |needle: &str| server.wait_for(needle, |_| {});
    wait_for("listening on");
    let response = server.get("/articles/first-steps");
    assert!(response.starts_with("HTTP/1.1 200"));
    let line = wait_for("/articles/first-steps");
    assert!(
        line.contains("status=200")
            && line.contains("route=\"/articles/{slug}\"")
            && line.contains("method=GET"),
        "{line}"
    );

    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    wait_for("shut down cleanly");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn serve_logs_json_lines_with_the_request_fields_and_warns_without_a_base_url() {
    let server = Server::start(&["--log-format", "json"]);
    let mut lines = Vec::new();
    server.wait_for("listening on", |l| lines.push(l.to_string()));
    let response = server.get("/articles/first-steps?hl=lists");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let response = server.get("/no/such/page");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    server.wait_for("/no/such/page", |l| lines.push(l.to_string()));

    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for e in &events {
        assert!(e["timestamp"].is_string() && e["level"].is_string(), "{e}");
    }
    let warnings: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| {
            e["level"] == "WARN"
                && e["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("--base-url"))
        })
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning about --base-url: {lines:#?}"
    );
    let requests: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["target"] == "snakepit::request")
        .map(|e| &e["fields"])
        .collect();
    assert_eq!(requests.len(), 2, "{lines:#?}");
    let (page, missing) = (requests[0], requests[1]);
    assert_eq!(page["method"], "GET");
    assert_eq!(page["path"], "/articles/first-steps");
    assert_eq!(page["query"], "hl=lists");
    assert_eq!(page["route"], "/articles/{slug}");
    assert_eq!(page["status"], 200);
    assert!(page["duration_us"].as_u64().is_some(), "{page}");
    assert_eq!(missing["path"], "/no/such/page");
    assert_eq!(missing["status"], 404);
    assert!(missing.get("query").is_none(), "{missing}");
}
