//! The real binary: every acknowledged write survives `kill -9`; `snakepit backup` copies a
//! live database; `snakepit user add|passwd` manage local accounts.

use std::io::Write;
use std::net::TcpListener as StdListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn snakepit(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_snakepit"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SNAKEPIT_DATA", data)
        .env("SNAKEPIT_CONTENT", root().join("tests/fixtures/content"))
        .env("SNAKEPIT_STATIC", root().join("static"))
        .env("SNAKEPIT_WORKERS", "1")
        .env("SNAKEPIT_LOG", "warn");
    cmd
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(data: &Path, client: &HttpClient) -> Server {
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = snakepit(data)
        .arg("serve")
        .arg("--bind")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("server starts");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // Up and serving (the sandbox may still be warming up: /healthz would say 503).
        if let Ok((401, _, _)) = call(
            client,
            "GET",
            &format!("{}/api/me", server.base),
            None,
            None,
        )
        .await
        {
            return server;
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `(status, set-cookie, JSON body)`.
async fn call(
    client: &HttpClient,
    method: &str,
    url: &str,
    session: Option<&(String, String)>,
    body: Option<Value>,
) -> Result<(u16, String, Value), String> {
    let mut b = axum::http::Request::builder().method(method).uri(url);
    if let Some((cookie, csrf)) = session {
        b = b.header("cookie", cookie).header("x-csrf-token", csrf);
    }
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Full::new(Bytes::from(v.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let res = client
        .request(b.body(body).unwrap())
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((
        status,
        cookie,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

async fn login(
    client: &HttpClient,
    base: &str,
    path: &str,
    name: &str,
    password: &str,
) -> (String, String) {
    let (status, cookie, body) = call(
        client,
        "POST",
        &format!("{base}{path}"),
        None,
        Some(json!({"username": name, "password": password})),
    )
    .await
    .unwrap();
    assert!(
        status == 200 || status == 201,
        "{path} gave {status}: {body}"
    );
    (cookie, body["csrf_token"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let server = start(data.path(), &client).await;
    let session = login(&client, &server.base, "/api/signup", "ada", "correct horse").await;

    // Four writers stream notes and bookmarks; the server is killed while they run.
    let acked: Arc<Mutex<Vec<(i64, String)>>> = Arc::default();
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, base, session, acked) = (
            client.clone(),
            server.base.clone(),
            session.clone(),
            acked.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            loop {
                let body = format!("writer {w} note {i}");
                let res = call(
                    &client,
                    "POST",
                    &format!("{base}/api/notes"),
                    Some(&session),
                    Some(json!({"article": "first-steps", "body": body})),
                )
                .await;
                match res {
                    Ok((201, _, note)) => acked
                        .lock()
                        .unwrap()
                        .push((note["id"].as_i64().unwrap(), body)),
                    Ok((status, _, b)) => panic!("unexpected {status}: {b}"),
                    Err(_) => return, // the server is gone
                }
                i += 1;
                if Instant::now() > stop_at + Duration::from_secs(5) {
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(stop_at - Instant::now()).await;
    let mut server = server;
    server.child.kill().expect("kill -9"); // SIGKILL: no chance to flush anything
    server.child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 10,
        "only {} writes were acknowledged",
        acked.len()
    );

    let server = start(data.path(), &client).await;
    let session = login(&client, &server.base, "/api/login", "ada", "correct horse").await;
    let (_, _, notes) = call(
        &client,
        "GET",
        &format!("{}/api/notes", server.base),
        Some(&session),
        None,
    )
    .await
    .unwrap();
    let stored: std::collections::HashMap<i64, String> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_i64().unwrap(),
                n["body"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (id, body) in &acked {
        assert_eq!(
            stored.get(id),
            Some(body),
            "acknowledged note {id} was lost"
        );
    }

    // A backup of the live database holds the same notes.
    let copy = data.path().join("copy.db");
    let out = snakepit(data.path())
        .arg("backup")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = snakepit(data.path())
        .arg("backup")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing file is not overwritten"
    );
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&copy, restored.path().join("snakepit.db")).unwrap();
    drop(server);
    let server = start(restored.path(), &client).await;
    let session = login(&client, &server.base, "/api/login", "ada", "correct horse").await;
    let (_, _, notes) = call(
        &client,
        "GET",
        &format!("{}/api/notes", server.base),
        Some(&session),
        None,
    )
    .await
    .unwrap();
    assert_eq!(notes.as_array().unwrap().len(), stored.len());
}

fn user_command(data: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = snakepit(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_add_users_and_reset_passwords() {
    let data = tempfile::tempdir().unwrap();
    let out = user_command(data.path(), &["user", "add", "grace"], "first password\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dup = user_command(data.path(), &["user", "add", "Grace"], "other password\n");
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("taken"));
    let short = user_command(data.path(), &["user", "add", "bob"], "short\n");
    assert!(!short.status.success());
    let missing = user_command(data.path(), &["user", "passwd", "nobody"], "long enough\n");
    assert!(!missing.status.success());

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let server = start(data.path(), &client).await;
    login(
        &client,
        &server.base,
        "/api/login",
        "grace",
        "first password",
    )
    .await;
    drop(server);
    let out = user_command(
        data.path(),
        &["user", "passwd", "grace"],
        "second password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = start(data.path(), &client).await;
    let (status, _, _) = call(
        &client,
        "POST",
        &format!("{}/api/login", server.base),
        None,
        Some(json!({"username": "grace", "password": "first password"})),
    )
    .await
    .unwrap();
    assert_eq!(status, 401);
    login(
        &client,
        &server.base,
        "/api/login",
        "grace",
        "second password",
    )
    .await;
}
