//! The production image, re-created without a Docker engine and run with crun.
//!
//! The host is Debian 12, the userland of `debian:bookworm-slim` plus `python3`, so the
//! rootfs is the host's `/usr` and `/etc` (read-only) with the binary, content and static
//! files bind-mounted where the Dockerfile's COPY puts them and `/data` owned by the
//! image's uid. The OCI config is generated from the Dockerfile's runtime stage (USER,
//! ENV, WORKDIR, ENTRYPOINT/CMD, EXPOSE, HEALTHCHECK, VOLUME) with what dockerd adds:
//! its default capability bounding set (none effective for a non-root user), masked and
//! read-only /proc paths, pid/ipc/uts/mount namespaces and its default seccomp profile
//! (`tests/container/seccomp-default.json`). The network is the host's, so the test
//! reaches the server on loopback; only the port is overridden. Two variants: plain
//! `docker run IMAGE`, and docker-compose.yml's hardening (read-only root, tmpfs /tmp,
//! `cap_drop: [ALL]`, no-new-privileges). Not covered: cgroup limits (`pids_limit`,
//! `mem_limit`; crun runs without a cgroup manager here), Docker's bridge network, the
//! build stage, and the packages of the real image (the host's stand in for them).
//!
//! Needs root (CI runs as root) and crun (`scripts/test` installs it);
//! `SNAKEPIT_SKIP_CONTAINER=1` skips it.

#[path = "container/image.rs"]
mod image;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::{Compose, DOCKER_DEFAULT_CAPS, Runtime, exe, root};
use serde_json::{Value, json};

/// dockerd's masked and read-only paths (moby `oci/defaults.go`, with the later
/// additions `/proc/interrupts` and `/sys/devices/virtual/powercap`).
const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
/// PATH of the `debian` base image's config, which Docker passes on.
const BASE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How the container is started.
struct Hardening {
    name: &'static str,
    caps: Vec<String>,
    read_only: bool,
    tmpfs: Vec<(String, Vec<String>)>,
    no_new_privs: bool,
}

fn docker_run_defaults() -> Hardening {
    Hardening {
        name: "docker run",
        caps: DOCKER_DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
        read_only: false,
        tmpfs: Vec::new(),
        no_new_privs: false,
    }
}

fn compose_hardening() -> Hardening {
    let compose = Compose::load();
    Hardening {
        name: "docker compose",
        caps: compose.capabilities(),
        read_only: compose.bool("read_only"),
        tmpfs: compose.tmpfs(),
        no_new_privs: compose
            .strings("security_opt")
            .iter()
            .any(|o| o == "no-new-privileges:true" || o == "no-new-privileges"),
    }
}

// ---------------------------------------------------------------------------
// Docker's default seccomp profile, converted the way dockerd does.
// ---------------------------------------------------------------------------

fn kernel_version() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    parse_version(&release)
}

/// Where scripts/ensure-runtimes installed the Python runtimes on this host.
fn host_runtime_dir() -> PathBuf {
    std::env::var_os("SNAKEPIT_RUNTIME_DIR")
        .map_or_else(|| PathBuf::from("/opt/snakepit/runtimes"), PathBuf::from)
}

fn parse_version(v: &str) -> (u32, u32) {
    let mut parts = v
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// moby's `setupSeccomp`: the native architecture and its sub-architectures; each
/// syscall group kept only when its `excludes` do not match and its `includes` all do
/// (architecture by Go name, capabilities against the bounding set, minimum kernel).
fn docker_seccomp(bounding: &[String]) -> Value {
    let text = std::fs::read_to_string(root().join("tests/container/seccomp-default.json"))
        .expect("vendored profile");
    let profile: Value = serde_json::from_str(&text).expect("profile JSON");
    let (go_arch, native) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        other => panic!("no seccomp mapping for {other}"),
    };
    let kernel = kernel_version();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut arches = Vec::new();
    for a in profile["archMap"].as_array().expect("archMap") {
        if a["architecture"] == native {
            arches.push(Value::from(native));
            arches.extend(strings(&a["subArchitectures"]).into_iter().map(Value::from));
        }
    }
    let mut syscalls = Vec::new();
    for call in profile["syscalls"].as_array().expect("syscalls") {
        let (inc, exc) = (&call["includes"], &call["excludes"]);
        let has = |caps: &Value| strings(caps);
        let min_ok = |v: &Value| v.as_str().map(|m| kernel >= parse_version(m));
        if strings(&exc["arches"]).iter().any(|a| a == go_arch)
            || has(&exc["caps"]).iter().any(|c| bounding.contains(c))
            || min_ok(&exc["minKernel"]) == Some(true)
        {
            continue;
        }
        let inc_arches = strings(&inc["arches"]);
        if (!inc_arches.is_empty() && !inc_arches.iter().any(|a| a == go_arch))
            || !has(&inc["caps"]).iter().all(|c| bounding.contains(c))
            || min_ok(&inc["minKernel"]) == Some(false)
        {
            continue;
        }
        let mut s = json!({ "names": call["names"], "action": call["action"] });
        if let Some(e) = call.get("errnoRet") {
            s["errnoRet"] = e.clone();
        }
        if let Some(args) = call["args"].as_array() {
            s["args"] = args
                .iter()
                .map(|a| {
                    json!({
                        "index": a["index"],
                        "value": a["value"],
                        "valueTwo": a.get("valueTwo").cloned().unwrap_or(json!(0)),
                        "op": a["op"],
                    })
                })
                .collect();
        }
        syscalls.push(s);
    }
    json!({
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": profile["defaultErrnoRet"],
        "architectures": arches,
        "syscalls": syscalls,
    })
}

/// True when `name` is allowed unconditionally (no argument filter).
fn allows(seccomp: &Value, name: &str) -> bool {
    seccomp["syscalls"].as_array().unwrap().iter().any(|s| {
        s["action"] == "SCMP_ACT_ALLOW"
            && s.get("args").is_none()
            && s["names"].as_array().unwrap().iter().any(|n| n == name)
    })
}

#[test]
fn docker_default_seccomp_allows_every_syscall_the_sandbox_needs() {
    let hardened = docker_seccomp(&[]);
    let default = docker_seccomp(
        &DOCKER_DEFAULT_CAPS
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>(),
    );
    for profile in [&hardened, &default] {
        // The helper's layers (helper.rs, seccomp.rs) and the pool's process handling.
        for name in [
            "landlock_create_ruleset",
            "landlock_add_rule",
            "landlock_restrict_self",
            "seccomp",
            "prctl",
            "setrlimit",
            "prlimit64",
            "setsid",
            "close_range",
            "kill",
            "wait4",
            "execve",
            "socketpair",
        ] {
            assert!(allows(profile, name), "{name} refused by Docker's profile");
        }
        // What the sandbox could not have used anyway: namespaces, mounts, bpf.
        for name in ["unshare", "setns", "mount", "bpf", "clone3"] {
            assert!(!allows(profile, name), "{name} allowed");
        }
        let clone3 = profile["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["names"].as_array().unwrap().iter().any(|n| n == "clone3"))
            .expect("clone3 rule");
        assert_eq!(
            clone3["errnoRet"], 38,
            "clone3 answers ENOSYS (glibc falls back)"
        );
        assert!(profile["architectures"].as_array().unwrap().len() >= 2);
    }
    // Capability-gated groups follow the bounding set.
    assert!(allows(&default, "chroot") && !allows(&hardened, "chroot"));
}

// ---------------------------------------------------------------------------
// The bundle and crun.
// ---------------------------------------------------------------------------

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn bind(source: &Path, dest: &str, writable: bool) -> Value {
    let mut options = vec!["rbind", "nosuid", "nodev"];
    options.push(if writable { "rw" } else { "ro" });
    json!({ "destination": dest, "type": "bind", "source": source, "options": options })
}

/// The rootfs and config.json of the image's runtime stage.
fn build_bundle(bundle: &Path, rt: &Runtime, h: &Hardening, port: u16) -> Value {
    use std::os::unix::fs::{PermissionsExt, chown, symlink};
    let rootfs = bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("usr/local/bin")).unwrap();
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["rw", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["rw", "nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["rw", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
                           "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["rw", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["rw", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
    ];
    // Debian 12 is merged-/usr: /bin, /lib, ... are symlinks into /usr, as in the image.
    for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(name);
        if let Ok(target) = std::fs::read_link(&host) {
            symlink(target, rootfs.join(name)).unwrap();
        } else if host.is_dir() {
            mounts.push(bind(&host, &format!("/{name}"), false));
        }
    }
    // The host's /usr but /usr/local, which holds only what the Dockerfile puts there.
    for entry in std::fs::read_dir("/usr").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "local" {
            continue;
        }
        if let Ok(target) = std::fs::read_link(entry.path()) {
            symlink(target, rootfs.join("usr").join(&name)).unwrap();
        } else {
            mounts.push(bind(&entry.path(), &format!("/usr/{name}"), false));
        }
    }
    mounts.push(bind(Path::new("/etc"), "/etc", false));
    for copy in &rt.copies {
        let sources: Vec<PathBuf> = match copy.from.as_deref() {
            // The Python runtimes stage's product: what scripts/ensure-runtimes installed
            // on this host (the same script builds it in the image).
            Some("runtimes") => vec![host_runtime_dir()],
            // The build stage's one product: the binary under test.
            Some(_) => vec![exe().to_path_buf()],
            None => copy.sources.iter().map(|s| root().join(s)).collect(),
        };
        assert_eq!(sources.len(), 1, "one source per COPY: {copy:?}");
        mounts.push(bind(&sources[0], &copy.dest, false));
    }
    let tmp = rootfs.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    for (dest, opts) in &h.tmpfs {
        let mut options = vec!["nosuid".to_string(), "nodev".to_string()];
        options.extend(opts.iter().cloned());
        mounts.push(
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                           "options": options}),
        );
    }
    for volume in &rt.volumes {
        // A fresh named volume: Docker copies the image's directory, owned by the user.
        let dir = bundle.join(format!("volume{}", volume.replace('/', "-")));
        std::fs::create_dir(&dir).unwrap();
        chown(&dir, Some(rt.uid), Some(rt.gid)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        mounts.push(bind(&dir, volume, true));
    }
    std::fs::create_dir_all(rootfs.join(rt.workdir.trim_start_matches('/'))).unwrap();

    let mut env = vec![
        format!("PATH={BASE_PATH}"),
        "HOSTNAME=snakepit".to_string(),
        // The image's passwd entry for the user (useradd --home-dir /nonexistent).
        "HOME=/nonexistent".to_string(),
    ];
    for (k, v) in &rt.env {
        let v = if k == "SNAKEPIT_BIND" {
            let (host, _) = v.rsplit_once(':').expect("host:port");
            format!("{host}:{port}")
        } else {
            v.clone()
        };
        env.push(format!("{k}={v}"));
    }
    // containerd's default RLIMIT_NOFILE is 1048576; no higher than this host allows.
    let mut nofile = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut nofile) };
    let nofile = nofile.rlim_max.min(1 << 20);
    let none: [&str; 0] = [];
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": rt.uid, "gid": rt.gid },
            "args": rt.args,
            "env": env,
            "cwd": rt.workdir,
            "capabilities": {
                "bounding": h.caps,
                "effective": none, "permitted": none, "inheritable": none, "ambient": none,
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile }],
            "noNewPrivileges": h.no_new_privs,
        },
        "root": { "path": "rootfs", "readonly": h.read_only },
        "hostname": "snakepit",
        "mounts": mounts,
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": MASKED,
            "readonlyPaths": READ_ONLY,
            "seccomp": docker_seccomp(&h.caps),
        },
    })
}

/// crun with a private state directory. On a cgroup v1/v2 hybrid host crun refuses to
/// start while the v2 hierarchy has controllers; cgroups are not used here, so each
/// call runs in a private mount namespace without that hierarchy.
struct Crun {
    crun: PathBuf,
    state: PathBuf,
    id: String,
    hide_unified: bool,
}

impl Crun {
    fn command(&self) -> Command {
        let mut c = if self.hide_unified {
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg("umount -l /sys/fs/cgroup/unified && exec \"$0\" \"$@\"")
                .arg(&self.crun);
            c
        } else {
            Command::new(&self.crun)
        };
        c.arg("--root")
            .arg(&self.state)
            .arg("--cgroup-manager=disabled");
        c
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("crun")
    }
}

/// A running container; killed and deleted on drop, whatever happened.
struct Container {
    crun: Crun,
    child: Option<Child>,
    logs: Arc<Mutex<Vec<String>>>,
    port: u16,
    bundle: tempfile::TempDir,
}

impl Container {
    fn start(rt: &Runtime, h: &Hardening) -> Container {
        let bundle = tempfile::Builder::new()
            .prefix("snakepit-oci-")
            .tempdir()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = build_bundle(bundle.path(), rt, h, port);
        std::fs::write(
            bundle.path().join("config.json"),
            serde_json::to_vec_pretty(&config).unwrap(),
        )
        .unwrap();
        let state = bundle.path().join("crun-state");
        std::fs::create_dir(&state).unwrap();
        let controllers = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
            .unwrap_or_default();
        let crun = Crun {
            crun: find_on_path("crun").expect("crun on PATH"),
            state,
            id: format!("snakepit-test-{}-{port}", std::process::id()),
            hide_unified: !controllers.trim().is_empty(),
        };
        let mut child = crun
            .command()
            .args(["run", "--bundle"])
            .arg(bundle.path())
            .arg(&crun.id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("crun run");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line);
                }
            });
        }
        Container {
            crun,
            child: Some(child),
            logs,
            port,
            bundle,
        }
    }

    fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    fn log_line(&self, needle: &str) -> Option<String> {
        self.logs().into_iter().find(|l| l.contains(needle))
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// The server's pid on the host.
    fn host_pid(&self) -> i32 {
        let out = self.crun.run(&["state", &self.crun.id]);
        let state: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("crun state: {e}: {}", String::from_utf8_lossy(&out.stderr))
        });
        state["pid"].as_i64().expect("pid") as i32
    }

    /// Processes in the container's pid namespace.
    fn processes(&self) -> usize {
        let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
        let ours = ns(&self.host_pid().to_string()).expect("container pid ns");
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .filter(|n| ns(n).as_ref() == Some(&ours))
            .count()
    }

    fn data_dir(&self) -> PathBuf {
        self.bundle.path().join("volume-data")
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = self.crun.run(&["kill", &self.crun.id, "KILL"]);
                let deadline = Instant::now() + Duration::from_secs(5);
                while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = self.crun.run(&["delete", "--force", &self.crun.id]);
        if std::thread::panicking() {
            eprintln!("--- container log ---\n{}", self.logs().join("\n"));
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP over loopback.
// ---------------------------------------------------------------------------

fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Some((
        status,
        if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        },
    ))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn run_code(port: u16, code: &str) -> Value {
    let body = json!({ "code": code }).to_string();
    let (status, text) = http(port, "POST", "/api/run", Some(&body)).expect("POST /api/run");
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn stdout_of(port: u16, code: &str) -> String {
    let out = run_code(port, code);
    out["stdout"].as_str().unwrap_or_default().to_string()
}

// ---------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------

fn container_test_can_run() -> bool {
    if image::skipped("the container test") {
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "tests/container.rs runs the image with crun and needs root (CI runs as root); \
         run it as root or set SNAKEPIT_SKIP_CONTAINER=1"
    );
    assert!(
        find_on_path("crun").is_some(),
        "crun not found: scripts/test installs it (apt-get install crun), or set \
         SNAKEPIT_SKIP_CONTAINER=1"
    );
    true
}

#[test]
fn image_runs_under_docker_defaults() {
    if container_test_can_run() {
        exercise(&docker_run_defaults());
    }
}

#[test]
fn image_runs_under_the_compose_hardening() {
    if container_test_can_run() {
        exercise(&compose_hardening());
    }
}

fn exercise(h: &Hardening) {
    let rt = Runtime::load();
    let mut c = Container::start(&rt, h);
    let port = c.port;
    eprintln!("[{}] container {} on port {port}", h.name, c.crun.id);

    // Healthy: index loaded and the sandbox pool ready.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = c.exited() {
            panic!("the container exited during start-up: {status}");
        }
        if let Some((200, _)) = http(port, "GET", "/healthz", None) {
            break;
        }
        assert!(Instant::now() < deadline, "/healthz never answered 200");
        std::thread::sleep(Duration::from_millis(200));
    }

    // JSON logs, and the confinement layers in force inside the container.
    let line = c
        .log_line("sandbox layers in force")
        .expect("the start-up line listing the sandbox layers");
    let log: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let layers = log["fields"]["layers"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    eprintln!("[{}] layers: {layers}", h.name);
    for layer in [
        "landlock",
        "fs",
        "seccomp",
        "rlimits",
        "process group",
        "no_new_privs",
    ] {
        assert!(layers.contains(layer), "{layer} missing from {layers:?}");
    }

    // Docker's HEALTHCHECK, run in the container as Docker would: it passes now, and
    // fails against a port nobody listens on.
    let hc = rt.healthcheck.as_ref().expect("HEALTHCHECK");
    let exec = |bind_override: Option<&str>| {
        let mut args: Vec<String> = vec![
            "exec".into(),
            "--user".into(),
            format!("{}:{}", rt.uid, rt.gid),
            "--cwd".into(),
            rt.workdir.clone(),
        ];
        for (k, v) in &rt.env {
            let v = match (k.as_str(), bind_override) {
                ("SNAKEPIT_BIND", Some(b)) => b.to_string(),
                ("SNAKEPIT_BIND", None) => format!("0.0.0.0:{port}"),
                _ => v.clone(),
            };
            args.extend(["--env".into(), format!("{k}={v}")]);
        }
        args.extend(["--env".into(), format!("PATH={BASE_PATH}")]);
        args.push(c.crun.id.clone());
        args.extend(hc.command.iter().cloned());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        c.crun.run(&refs)
    };
    let ok = exec(None);
    assert!(
        ok.status.success(),
        "HEALTHCHECK failed: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        !exec(Some("0.0.0.0:1")).status.success(),
        "HEALTHCHECK cannot fail"
    );

    // A run, and the standard library the articles use.
    let hi = run_code(port, "print(\"hi\")");
    assert_eq!(hi["stdout"], "hi\n", "{hi}");
    assert_eq!(hi["exit_code"], 0, "{hi}");
    let stdlib = stdout_of(
        port,
        // All under the guard: forkserver (3.14's default) imports main.py again in the
        // pool's processes, where top-level prints would run a second time.
        "import asyncio, ctypes, sqlite3, zoneinfo\n\
         from concurrent.futures import ProcessPoolExecutor\n\
         if __name__ == '__main__':\n\
         \x20   print(sqlite3.connect(':memory:').execute('select 6 * 7').fetchone()[0])\n\
         \x20   print(ctypes.c_int(5).value)\n\
         \x20   print(asyncio.run(asyncio.sleep(0, result='async')))\n\
         \x20   print(zoneinfo.ZoneInfo('Europe/Paris').utcoffset(__import__('datetime').datetime(2024, 7, 1)))\n\
         \x20   with ProcessPoolExecutor(2) as ex:\n        print(sum(ex.map(abs, [-1, -2, 3])))\n",
    );
    assert_eq!(stdlib, "42\n5\nasync\n2:00:00\n6\n");

    // Every shipped runtime, with the standard library and its packages.
    for id in ["3.11", "3.13", "3.14", "3.15"] {
        let code = "import sys, sqlite3, zoneinfo, numpy, pandas\n\
                    from concurrent.futures import ProcessPoolExecutor\n\
                    if __name__ == '__main__':\n\
                    \x20   print('%d.%d' % sys.version_info[:2])\n\
                    \x20   print(int(pandas.DataFrame({'a': numpy.arange(4)})['a'].sum()))\n\
                    \x20   with ProcessPoolExecutor(2) as ex:\n        print(sum(ex.map(abs, [-1, -2])))\n";
        let body = json!({ "code": code, "python": id }).to_string();
        let (status, text) = http(port, "POST", "/api/run", Some(&body)).expect("POST /api/run");
        assert_eq!(status, 200, "{id}: {text}");
        let out: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(out["stdout"], format!("{id}\n6\n3\n"), "{id}: {out}");
        assert!(
            out["python"].as_str().unwrap_or_default().starts_with(id),
            "{out}"
        );
    }

    // Containment, inside the container.
    let denied = |code: &str, what: &str| {
        let out = stdout_of(port, code);
        assert!(out.starts_with("denied"), "{what}: {out:?}");
    };
    denied(
        "try:\n    open('/data/snakepit.db', 'rb').read(16)\n    print('READ')\n\
         except OSError as e:\n    print('denied', e.errno)\n",
        "reading the database",
    );
    denied(
        &format!(
            "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n\
             \x20   print('CONNECTED')\nexcept OSError as e:\n    print('denied', e.errno)\n"
        ),
        "connecting to the server",
    );
    for path in ["/app/pwned", "/app/content/pwned.md", "/tmp/pwned"] {
        denied(
            &format!(
                "try:\n    open('{path}', 'w').write('x')\n    print('WROTE')\n\
                 except OSError as e:\n    print('denied', e.errno)\n"
            ),
            path,
        );
    }

    // A fork bomb hits the process limit; pages keep being served meanwhile, and
    // nothing of it is left afterwards.
    let bomb = std::thread::spawn(move || {
        stdout_of(
            port,
            "import os, time\nn = 0\ntry:\n    while n < 100000:\n        if os.fork() == 0:\n\
             \x20           time.sleep(30)\n            os._exit(0)\n        n += 1\n\
             except OSError as e:\n    print('stopped', n, e.errno)\n",
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    let (status, _) = http(port, "GET", "/", None).expect("home page during the fork bomb");
    assert_eq!(status, 200);
    let out = bomb.join().unwrap();
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"stopped"), "{out:?}");
    assert_eq!(words.get(2), Some(&"11"), "EAGAIN expected: {out:?}");
    let forked: u64 = words[1].parse().unwrap();
    assert!(forked < 200, "{forked} processes forked");
    eprintln!("[{}] fork bomb stopped after {forked} forks", h.name);
    // The default runtime's pool, and the other three runtimes' smaller ones.
    let workers: usize = rt
        .env("SNAKEPIT_WORKERS")
        .map(|w| w.parse().unwrap())
        .unwrap_or(4)
        + 3 * rt
            .env("SNAKEPIT_OTHER_WORKERS")
            .map(|w| w.parse().unwrap())
            .unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs(15);
    while c.processes() > 1 + workers + 1 {
        assert!(
            Instant::now() < deadline,
            "{} processes left in the container",
            c.processes()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(stdout_of(port, "print('still here')"), "still here\n");

    // Everything in the volume belongs to the image's user (run scratch directories
    // come and go meanwhile: those that vanish are skipped).
    for entry in walkdir(&c.data_dir()) {
        let Ok(m) = std::fs::symlink_metadata(&entry) else {
            continue;
        };
        assert_eq!(
            (m.uid(), m.gid()),
            (rt.uid, rt.gid),
            "{} is not owned by the image's user",
            entry.display()
        );
    }
    assert!(c.data_dir().join("snakepit.db").is_file());
    // The server really runs as configured: the image's uid, no effective
    // capabilities, Docker's seccomp filter, no_new_privs as the variant says.
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.host_pid())).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(field("Uid"), rt.uid.to_string());
    assert_eq!(field("CapEff"), "0000000000000000");
    assert_eq!(field("Seccomp"), "2", "seccomp filter mode");
    assert_eq!(field("NoNewPrivs"), if h.no_new_privs { "1" } else { "0" });
    eprintln!("[{}] server VmRSS {} kB", h.name, field("VmRSS"));

    // SIGTERM: a clean exit within a few seconds, scratch directories removed.
    let out = c.crun.run(&["kill", &c.crun.id, "TERM"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = c.exited() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit after SIGTERM: {status}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(c.log_line("shut down cleanly").is_some());
    let leftovers: Vec<_> = std::fs::read_dir(c.data_dir().join("runs"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "left in /data/runs: {leftovers:?}");
    // `crun run` removed the container when its process exited.
    let listed = c.crun.run(&["list", "--quiet"]);
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&c.crun.id));
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walkdir(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}
