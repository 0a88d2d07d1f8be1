//! Start-up: the scratch root, the runner file, the interpreter probe and
//! the self-test run, before the pool fills.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::oneshot;

use super::helper::HelperReport;
use super::worker::{Worker, remove_tree};
use super::{Layers, SandboxConfig, SandboxError};

const RUNNER_PY: &str = include_str!("runner.py");

/// The layers a worker reported.
pub(crate) fn layers_of(r: &HelperReport, uid_base: u32) -> Layers {
    Layers {
        landlock_abi: r.landlock_abi,
        landlock_fs: r.landlock_fs,
        landlock_net: r.landlock_net,
        landlock_scope: r.landlock_scope,
        seccomp: r.seccomp,
        rlimits: r.rlimits,
        process_group: r.process_group,
        no_new_privs: r.no_new_privs,
        uid_base: r.uid.map(|_| uid_base),
    }
}

/// Creates the scratch root. When runs get their own uid, it (and every
/// ancestor) must be searchable by others, or absolute paths such as TMPDIR
/// would not resolve for the program.
pub(crate) fn prepare_scratch_root(root: &Path, is_root: bool) -> Result<PathBuf, SandboxError> {
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

/// Every directory above `exe` must be searchable, and `exe` executable, by
/// other users.
pub(crate) fn check_reachable_by_others(exe: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let real = exe.canonicalize().map_err(|e| e.to_string())?;
    for p in real.ancestors() {
        let mode = std::fs::metadata(p)
            .map_err(|e| e.to_string())?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(format!("{} is mode {:o}", p.display(), mode & 0o777));
        }
    }
    Ok(())
}

/// Removes what a previous server (killed before its shutdown) left in the
/// scratch root: `run-<pid>-<n>` and `.runner-<pid>` of processes that are gone.
pub(crate) async fn remove_stale_scratch(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .strip_prefix("run-")
            .and_then(|r| r.split('-').next())
            .or_else(|| {
                name.strip_prefix(".runner-")
                    .and_then(|r| r.split('-').next())
            })
            .and_then(|p| p.parse::<i32>().ok());
        let Some(pid) = pid else { continue };
        let gone = unsafe { libc::kill(pid, 0) } == -1
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if gone {
            tracing::info!(path = %e.path().display(), "removing stale sandbox scratch");
            remove_tree(&e.path()).await;
        }
    }
}

/// Writes runner.py; with `packages`, the runner appends that directory to `sys.path`
/// (after the standard library) before anything else.
pub(crate) fn write_runner(path: &Path, packages: Option<&Path>) -> Result<(), SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |e: std::io::Error| SandboxError::Io(format!("{}: {e}", path.display()));
    let dir = path
        .parent()
        .ok_or_else(|| SandboxError::Io("runner path".into()))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    let text = match packages {
        Some(dir) => {
            let dir = serde_json::to_string(&dir.to_string_lossy())
                .map_err(|e| SandboxError::Io(e.to_string()))?;
            RUNNER_PY.replacen(
                "import sys\n",
                &format!("import sys\nsys.path.append({dir})\n"),
                1,
            )
        }
        None => RUNNER_PY.to_string(),
    };
    std::fs::write(path, text).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(io)
}

/// What the probe learnt about an interpreter.
pub(crate) struct Probed {
    pub exe: PathBuf,
    /// Landlock's read-only rules for it.
    pub dirs: Vec<PathBuf>,
    /// Exact version, e.g. `3.14.8`.
    pub version: String,
}

/// Asks the interpreter (unconfined, trusted code of ours) where it lives:
/// its real executable and the directories its standard library needs, which
/// become Landlock's read-only rules, and its exact version.
pub(crate) async fn probe_python(python: &Path) -> Result<Probed, SandboxError> {
    const PROBE: &str = "import json, os, sys\n\
        exe = sys.executable\n\
        dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,\n\
                os.path.dirname(os.path.realpath(exe))}\n\
        dirs.update(os.path.realpath(p) for p in sys.path if p and os.path.exists(p))\n\
        print(json.dumps({'exe': exe, 'dirs': sorted(dirs), 'version': sys.version.split()[0]}))\n";
    let err = |msg: String| SandboxError::Python {
        python: python.display().to_string(),
        msg,
    };
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(python)
            .args(["-I", "-S", "-c", PROBE])
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
        version: String,
    }
    let p: Probe = serde_json::from_slice(&out.stdout).map_err(|e| err(e.to_string()))?;
    Ok(Probed {
        exe: p.exe,
        dirs: p.dirs,
        version: p.version,
    })
}

/// One real run before declaring the sandbox usable: catches an interpreter
/// the sandbox uid cannot read, a broken runner, a missing library path.
pub(crate) async fn self_test(mut probe: Worker, cfg: &SandboxConfig) -> Result<(), SandboxError> {
    let (mut tx, _rx) = oneshot::channel::<()>();
    let code = "import sys\nprint('ok', sys.version_info[0])\n";
    let o = probe.execute(code, false, &cfg.limits, None, &mut tx).await;
    let uid = probe.uid;
    probe.destroy().await;
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
        uid.map_or("of the server".into(), |u| u.to_string())
    )))
}
