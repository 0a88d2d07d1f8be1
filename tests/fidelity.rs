//! The fidelity test (issue #19): a fixed selection of CPython's own test
//! modules, run plain and in the sandbox. It fails when a test passes plain
//! but not in the sandbox, unless that test is on the short, commented
//! [`CONTAINED`] list (what the sandbox refuses on purpose).
//!
//! Interpreters: `SNAKEPIT_FIDELITY_PYTHONS` (space-separated paths), by
//! default `/usr/bin/python3` (Debian's test modules: the
//! `libpython3.X-testsuite` package, installed by `scripts/ensure-deps
//! --tests`). An interpreter without its test modules is skipped with a
//! message unless it is the default one.
//!
//! Server modes: run as root, the sandbox gives each run a uid of its own,
//! and "plain" runs as an unprivileged uid without a passwd entry (as the
//! runs do); run as a normal user (scripts/test re-runs this binary under
//! `setpriv`), runs and plain share that uid. Either way plain runs as
//! `python3 -I -S -u main.py` (the sandbox's flags) with the sandbox's
//! environment, in a fresh directory, and the figure printed at the end is
//! the one in the README.

#[path = "common/sandbox.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use snakepit::sandbox::{Limits, RunRequest, Sandbox};
use support::*;

/// Modules chosen for what snippets do (files, processes, threads, locks,
/// signals, terminals, users, archives, warnings, tracebacks, `__main__`)
/// and for running in seconds.
const MODULES: &[&str] = &[
    "test_fileio",
    "test_fcntl",
    "test_getopt",
    "test_getpass",
    "test_glob",
    "test_grp",
    "test_inspect",
    "test_json",
    "test_mailbox",
    "test_mmap",
    "test_openpty",
    "test_os",
    "test_pathlib",
    "test_platform",
    "test_posix",
    "test_pty",
    "test_pwd",
    "test_resource",
    "test_select",
    "test_selectors",
    "test_shutil",
    "test_stat",
    "test_sys",
    "test_sysconfig",
    "test_tarfile",
    "test_tempfile",
    "test_threading",
    "test_traceback",
    "test_warnings",
];

/// Tests that pass plain but fail in the sandbox on purpose: (test id
/// prefix, whether only with a non-root server, why). Every entry is a
/// refusal the README names.
const CONTAINED: &[(&str, bool, &str)] = &[
    // Limits: files over the file-size limit, CPU limits above the hard limit.
    (
        "test.test_mmap.LargeMmapTests.",
        false,
        "files of 2-4 GiB: the file-size limit",
    ),
    (
        "test.test_resource.ResourceTest.test_fsize_ismax",
        false,
        "the file-size limit is finite",
    ),
    (
        "test.test_resource.ResourceTest.test_setrusage_refcount",
        false,
        "raises RLIMIT_CPU past the hard limit",
    ),
    // The process group a run cannot leave (it is killed as a whole).
    (
        "test.test_posix.TestPosixSpawn.test_setpgroup",
        false,
        "setpgid is refused",
    ),
    (
        "test.test_posix.TestPosixSpawn.test_setsid",
        false,
        "setsid is refused",
    ),
    (
        "test.test_posix.TestPosixSpawnP.test_setpgroup",
        false,
        "setpgid is refused",
    ),
    (
        "test.test_posix.TestPosixSpawnP.test_setsid",
        false,
        "setsid is refused",
    ),
    (
        "test.test_pty.PtyTest.test_fork",
        false,
        "pty.fork() calls setsid",
    ),
    // No network.
    (
        "test.test_os.TestSendfile.",
        false,
        "sends over a TCP connection",
    ),
    // The file system outside the Python installation, system libraries and
    // the run's own directory is out of sight.
    ("test.test_os.Pep383Tests.test_listdir", false, "lists /"),
    // Non-root server, runs share its uid: no ptys (the user's terminals).
    ("test.test_pty.", true, "ptys are refused with a shared uid"),
    (
        "test.test_openpty.",
        true,
        "ptys are refused with a shared uid",
    ),
    (
        "test.test_os.FDInheritanceTests.test_openpty",
        true,
        "ptys are refused with a shared uid",
    ),
    // Non-root server: chmod/chown/utime only through a descriptor, so not on
    // a symlink itself, not on a file its owner cannot read (mode 0), not
    // relative to a directory fd. test_os and test_pathlib chmod a directory
    // to 0 and cannot restore it, so every later test of theirs fails too.
    (
        "test.test_os.",
        true,
        "leaves a mode-0 directory it cannot chmod back",
    ),
    (
        "test.test_pathlib.",
        true,
        "leaves a mode-0 directory it cannot chmod back",
    ),
    (
        "test.test_posix.PosixTester.test_chown",
        true,
        "chown to another group, of a mode-0 file",
    ),
    (
        "test.test_posix.PosixTester.test_lchown",
        true,
        "lchown: a symlink itself",
    ),
    (
        "test.test_posix.PosixTester.test_utime",
        true,
        "utime on a symlink / by dir_fd",
    ),
    (
        "test.test_posix.TestPosixDirFd.",
        true,
        "chmod/chown/utime by dir_fd",
    ),
    (
        "test.test_shutil.TestCopy.test_copymode_follow_symlinks",
        true,
        "chmod of a symlink itself",
    ),
    (
        "test.test_shutil.TestWhich",
        true,
        "chmod of a file to mode 0 and back",
    ),
    (
        "test.test_stat.TestFilemode",
        true,
        "chmod of a file to mode 0 and back",
    ),
    (
        "test.test_tempfile.TestTemporaryDirectory.test_",
        true,
        "chmod of a mode-0 file",
    ),
];

/// Runs one module with unittest and prints every test's outcome as JSON on
/// the last line.
const HARNESS: &str = r#"
import io, json, sys, unittest
results = {}
class R(unittest.TextTestResult):
    def startTest(self, t):
        super().startTest(t); results.setdefault(t.id(), 'ok')
    def addError(self, t, e):
        super().addError(t, e); results[t.id()] = 'fail'
    def addFailure(self, t, e):
        super().addFailure(t, e); results[t.id()] = 'fail'
    def addSkip(self, t, r):
        super().addSkip(t, r); results[t.id()] = 'skip'
    def addUnexpectedSuccess(self, t):
        super().addUnexpectedSuccess(t); results[t.id()] = 'fail'
    def addSubTest(self, t, s, e):
        super().addSubTest(t, s, e)
        if e is not None: results[t.id()] = 'fail'
out = sys.stdout
suite = unittest.defaultTestLoader.loadTestsFromName('test.MODULE')
unittest.TextTestRunner(stream=io.StringIO(), resultclass=R, verbosity=0).run(suite)
out.write('\n@@RESULTS@@' + json.dumps(results) + '\n'); out.flush()
"#;

/// Uid of "plain" when this test runs as root: unprivileged, no passwd entry.
const PLAIN_UID: u32 = 1_048_575;

type Results = BTreeMap<String, String>;

fn parse(stdout: &str) -> Option<Results> {
    let json = stdout.rsplit_once("@@RESULTS@@")?.1.lines().next()?;
    serde_json::from_str(json).ok()
}

fn limits() -> Limits {
    Limits {
        wall: Duration::from_secs(240),
        cpu: Duration::from_secs(240),
        memory_bytes: 1 << 30,
        processes: 256,
        file_size_bytes: 256 << 20,
        disk_bytes: 1 << 30,
        files: 100_000,
        open_files: 1024,
        output_bytes: 64 << 20,
        code_bytes: 64 << 10,
    }
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// `python -I -S -u main.py` in a fresh directory laid out as a run's scratch.
async fn plain(python: &Path, code: &str) -> Option<Results> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix("snakepit-plain-")
        .tempdir()
        .expect("tempdir");
    let sub = |n: &str| dir.path().join(n);
    for d in ["work", "home", "tmp"] {
        std::fs::create_dir(sub(d)).expect("mkdir");
    }
    std::fs::write(sub("work/main.py"), code).expect("main.py");
    let mut cmd = if is_root() {
        for p in [
            dir.path().to_path_buf(),
            sub("work"),
            sub("home"),
            sub("tmp"),
        ] {
            std::os::unix::fs::chown(&p, Some(PLAIN_UID), Some(PLAIN_UID)).expect("chown");
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).ok();
        let mut c = tokio::process::Command::new("setpriv");
        c.args([
            format!("--reuid={PLAIN_UID}"),
            format!("--regid={PLAIN_UID}"),
            "--clear-groups".into(),
            "--".into(),
        ]);
        c.arg(python);
        c
    } else {
        tokio::process::Command::new(python)
    };
    let user = if is_root() { "snakepit" } else { "plain" };
    let out = cmd
        .args(["-I", "-S", "-u", "main.py"])
        .current_dir(sub("work"))
        .env_clear()
        .env("HOME", sub("home"))
        .env("TMPDIR", sub("tmp"))
        .envs([
            ("USER", user),
            ("LOGNAME", user),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("LANG", "C.UTF-8"),
            ("MALLOC_ARENA_MAX", "2"),
        ])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), out)
        .await
        .ok()?
        .ok()?;
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn has_test_suite(python: &Path) -> bool {
    std::process::Command::new(python)
        .args(["-I", "-S", "-c", "import test.test_os"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn contained(id: &str) -> Option<&'static str> {
    CONTAINED
        .iter()
        .find(|(prefix, non_root_only, _)| id.starts_with(prefix) && (!non_root_only || !is_root()))
        .map(|(_, _, why)| *why)
}

fn fidelity_of(python: &Path) {
    let mode = if is_root() {
        "root server (per-run uids)"
    } else {
        "non-root server (shared uid)"
    };
    let sb = rt().block_on(async {
        let mut cfg = config(
            &format!("fidelity-{}", python.display()).replace('/', "_"),
            3,
            64,
            UID_BASE,
        );
        cfg.python = python.to_path_buf();
        cfg.limits = limits();
        Arc::new(Sandbox::start(cfg).await.expect("sandbox starts"))
    });
    let per_module: Vec<(String, Option<Results>, Option<Results>, String)> =
        rt().block_on(async {
            let gate = Arc::new(tokio::sync::Semaphore::new(3));
            let mut tasks = Vec::new();
            for module in MODULES {
                let code = HARNESS.replace("MODULE", module);
                let (sb, gate, python) = (sb.clone(), gate.clone(), python.to_path_buf());
                tasks.push(tokio::spawn(async move {
                    let _permit = gate.acquire_owned().await.expect("gate");
                    let req = RunRequest {
                        code: code.clone(),
                        client: module.to_string(),
                        merge_stderr: false,
                    };
                    let (p, s) = tokio::join!(plain(&python, &code), sb.run(req, None));
                    let s = s.expect("run accepted");
                    let tail: String = s.stderr.chars().rev().take(800).collect();
                    let tail: String = tail.chars().rev().collect();
                    (module.to_string(), p, parse(&s.stdout), tail)
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.expect("task"));
            }
            out
        });
    rt().block_on(sb.shutdown());
    let (mut passing, mut kept, mut held) = (0usize, 0usize, 0usize);
    let mut lost = Vec::new();
    for (module, plain, sandboxed, tail) in &per_module {
        let Some(plain) = plain else {
            eprintln!(
                "{module}: does not run plain on {}; left out",
                python.display()
            );
            continue;
        };
        let empty = Results::new();
        let sandboxed = sandboxed.as_ref().unwrap_or(&empty);
        if sandboxed.is_empty() {
            eprintln!("{module}: no results in the sandbox; stderr ends: {tail}");
        }
        for (id, outcome) in plain {
            if outcome != "ok" {
                continue;
            }
            passing += 1;
            match sandboxed.get(id).map(String::as_str) {
                Some("ok") => kept += 1,
                other => match contained(id) {
                    Some(_) => held += 1,
                    None => lost.push(format!("{id}: {}", other.unwrap_or("missing"))),
                },
            }
        }
    }
    let pct = |n: usize| 100.0 * n as f64 / passing.max(1) as f64;
    println!(
        "FIDELITY {} [{mode}]: {kept} of {passing} plain-passing tests pass in the sandbox \
         ({:.1} %); {held} contained on purpose; {} unexpected",
        python.display(),
        pct(kept),
        lost.len()
    );
    assert!(passing > 1000, "too few tests ran plain: {passing}");
    assert!(
        lost.is_empty(),
        "pass plain but not in the sandbox ({} tests):\n{}",
        lost.len(),
        lost.join("\n")
    );
}

#[test]
fn cpython_test_modules_pass_in_the_sandbox_as_plain() {
    let list = std::env::var("SNAKEPIT_FIDELITY_PYTHONS").ok();
    let pythons: Vec<PathBuf> = match &list {
        Some(l) => l.split_whitespace().map(PathBuf::from).collect(),
        None => vec![python()],
    };
    for py in &pythons {
        if !has_test_suite(py) {
            assert!(
                list.is_some(),
                "{} has no test modules: install Debian's libpython3.X-testsuite \
                 (scripts/ensure-deps --tests does)",
                py.display()
            );
            eprintln!("{}: no test modules; skipped", py.display());
            continue;
        }
        fidelity_of(py);
    }
}
