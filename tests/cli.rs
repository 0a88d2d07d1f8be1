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
        stdout.contains("extra.md:10: output differs from a real run:"),
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

#[test]
fn serve_logs_each_request_and_shuts_down_gracefully_on_sigterm() {
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
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    /// Kills the server if the test fails before it has shut it down.
    struct Reap(u32);
    impl Drop for Reap {
        fn drop(&mut self) {
            // SAFETY: signalling our own child; harmless if it has already exited.
            unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
        }
    }
    let _reap = Reap(child.id());
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let wait_for = |needle: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("the server never logged {needle:?}"),
            }
        }
    };
    wait_for("listening on");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /articles/first-steps HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"));
    let line = wait_for("/articles/first-steps");
    assert!(
        line.contains("status=200")
            && line.contains("route=\"/articles/{slug}\"")
            && line.contains("method=GET"),
        "{line}"
    );

    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_for("shut down cleanly");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
}
