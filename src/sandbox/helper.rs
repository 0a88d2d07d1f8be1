//! The confinement helper. The server never confines anything in `pre_exec`
//! of its multi-threaded tokio process (allocating or taking locks after
//! `fork` there can deadlock); instead it re-runs its own binary as
//! `snakepit __sandbox-exec <spec>`. This single-threaded process confines
//! itself layer by layer, reports what it managed on stdout, and `execve`s
//! the Python runner, which inherits every layer.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, RestrictionStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};
use serde::{Deserialize, Serialize};

use super::seccomp;

/// `argv[1]` that selects the helper mode of the binary.
pub const HELPER_ARG: &str = "__sandbox-exec";
/// Prefix of the one line the helper prints before `execve`; the server reads
/// it as "this worker is confined, here is how".
pub(crate) const READY_PREFIX: &str = "SNAKEPIT-SANDBOX ";

/// Everything the helper needs, passed as one JSON argument (the environment
/// is cleared, and argv is not secret: it holds no credentials).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct HelperSpec {
    pub python: PathBuf,
    pub runner: PathBuf,
    /// The per-run directory: the only writable place.
    pub scratch: PathBuf,
    /// `scratch/work`: cwd, HOME and TMPDIR of the program.
    pub workdir: PathBuf,
    /// Readable (and executable) paths: the Python installation, shared libraries.
    pub read_only: Vec<PathBuf>,
    /// Unprivileged uid (and gid) to switch to when started as root.
    pub uid: Option<u32>,
    /// The server's pid: signals to it are refused by seccomp as a second layer.
    pub server_pid: i32,
    pub cpu_secs: u64,
    pub memory_bytes: u64,
    pub processes: u64,
    /// Runs that can be alive at once (the pool's size): with a shared uid they
    /// share RLIMIT_NPROC, and together they never get more than this many budgets.
    pub pool_size: u64,
    pub file_size_bytes: u64,
    pub open_files: u64,
}

/// What the helper managed to enforce, reported to the server before `execve`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HelperReport {
    /// Landlock ABI of the kernel (0: no Landlock).
    pub landlock_abi: i32,
    pub landlock_fs: bool,
    pub landlock_net: bool,
    pub landlock_scope: bool,
    pub seccomp: bool,
    pub rlimits: bool,
    pub process_group: bool,
    pub no_new_privs: bool,
    pub uid: Option<u32>,
    pub problems: Vec<String>,
}

/// Entry point of the hidden helper mode: confine this process, then become
/// the Python worker. Never returns; exits 126 with a message on stderr when
/// confinement cannot even be attempted, 127 when `execve` fails.
pub fn helper_main() -> ! {
    let spec = std::env::args()
        .nth(2)
        .ok_or_else(|| "missing spec argument".to_string())
        .and_then(|s| serde_json::from_str::<HelperSpec>(&s).map_err(|e| format!("bad spec: {e}")));
    match spec.and_then(|spec| confine_and_exec(&spec)) {
        Ok(never) => match never {},
        Err(msg) => {
            eprintln!("snakepit sandbox helper: {msg}");
            std::process::exit(126)
        }
    }
}

fn confine_and_exec(spec: &HelperSpec) -> Result<std::convert::Infallible, String> {
    // Prepare every allocation-needing value up front.
    let argv = [
        cstring(spec.python.as_os_str().as_bytes())?,
        // Isolated, no site-packages (standard library only; runner.py adds
        // the builtins `site` would), unbuffered so output streams live.
        cstring(b"-I")?,
        cstring(b"-S")?,
        cstring(b"-u")?,
        cstring(spec.runner.as_os_str().as_bytes())?,
    ];
    // HOME and TMPDIR beside the working directory, not in it: as on a real
    // machine, what lands there does not show in the program's `os.listdir()`.
    let home = spec.scratch.join("home");
    let tmp = spec.scratch.join("tmp");
    // getpass.getuser() and friends read these first; the run's uid has a
    // passwd entry only when it is the (non-root) server's own.
    let user = user_name(spec.uid.unwrap_or_else(|| unsafe { libc::getuid() }));
    let env = [
        cstring(&[b"HOME=", home.as_os_str().as_bytes()].concat())?,
        cstring(&[b"TMPDIR=", tmp.as_os_str().as_bytes()].concat())?,
        cstring(&[b"USER=", user.as_bytes()].concat())?,
        cstring(&[b"LOGNAME=", user.as_bytes()].concat())?,
        cstring(b"PATH=/usr/local/bin:/usr/bin:/bin")?,
        cstring(b"LANG=C.UTF-8")?,
        // One malloc arena per thread reserves 64 MiB of address space each;
        // two arenas keep threaded programs under RLIMIT_AS.
        cstring(b"MALLOC_ARENA_MAX=2")?,
    ];
    let mut report = HelperReport::default();

    // fds other than 0-2 may leak from the server (a C library opening files
    // without O_CLOEXEC): close them all.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };

    // A new session and process group: the server kills the whole group at
    // the end of the run, and seccomp then forbids leaving it.
    report.process_group = unsafe { libc::setsid() } != -1;
    if !report.process_group {
        report
            .problems
            .push(format!("setsid: {}", std::io::Error::last_os_error()));
    }
    std::env::set_current_dir(&spec.workdir)
        .map_err(|e| format!("chdir {}: {e}", spec.workdir.display()))?;

    // Should memory run out anyway, the kernel's OOM killer picks a run
    // first, not the server or the database.
    let _ = std::fs::write("/proc/self/oom_score_adj", "1000");

    let is_root = unsafe { libc::geteuid() } == 0;
    let nproc = if is_root && spec.uid.is_some() {
        spec.processes
    } else {
        // Same uid as the server: RLIMIT_NPROC counts every task of the uid, so
        // the budget is on top of what already runs, other runs included (one
        // run's fork bomb does not starve the next). But not on top of other
        // runs' budgets without end: all runs together stay within pool-size
        // budgets plus the uid's tasks outside runs, or fork bombs in successive
        // runs would ratchet the limit up.
        let tasks = count_tasks_of(unsafe { libc::getuid() }, spec.server_pid);
        (spec.processes + tasks.all)
            .min(spec.processes * spec.pool_size.max(1) + tasks.outside_runs)
    };
    report.rlimits = set_rlimits(spec, nproc, &mut report.problems);

    if is_root && let Some(uid) = spec.uid {
        // The server created the stdout and stderr pipes, so they belong to
        // root (mode 0600): the run could write to them but not reopen them
        // through /dev/stdout, /dev/stderr or /proc/self/fd. Give them to it.
        for fd in [1, 2] {
            unsafe { libc::fchown(fd, uid, uid) };
        }
        // setgroups/setresgid/setresuid: the run gets a uid of its own, so
        // RLIMIT_NPROC is per run and DAC keeps it out of other runs' files.
        let ok = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setresgid(uid, uid, uid) == 0
                && libc::setresuid(uid, uid, uid) == 0
        };
        if !ok {
            return Err(format!(
                "dropping to uid {uid}: {}",
                std::io::Error::last_os_error()
            ));
        }
        report.uid = Some(uid);
    }
    // After the credential change (which clears it): die with the server.
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if unsafe { libc::getppid() } != spec.server_pid {
        return Err("server exited during start-up".into());
    }
    report.no_new_privs = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } == 0;

    apply_landlock(spec, &mut report);
    let fd_metadata = report.uid.is_some() || !server_owns_what_runs_read(spec);
    match seccomp::install(spec.server_pid, report.uid.is_none(), fd_metadata) {
        Ok(()) => report.seccomp = true,
        Err(e) => report.problems.push(format!("seccomp: {e}")),
    }

    // Whatever the server was started with (`trap '' INT`, a blocked signal
    // mask from a service manager): the run starts as from a fresh shell,
    // every signal at its default and none blocked. Ignored dispositions and
    // the mask would otherwise survive execve.
    reset_signals();

    let line = format!(
        "{READY_PREFIX}{}\n",
        serde_json::to_string(&report).map_err(|e| e.to_string())?
    );
    write_all_fd(1, line.as_bytes());

    let argv_ptrs: Vec<*const libc::c_char> = argv
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let env_ptrs: Vec<*const libc::c_char> = env
        .iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    unsafe { libc::execve(argv_ptrs[0], argv_ptrs.as_ptr(), env_ptrs.as_ptr()) };
    eprintln!(
        "snakepit sandbox helper: execve {}: {}",
        spec.python.display(),
        std::io::Error::last_os_error()
    );
    std::process::exit(127)
}

/// Whether the interpreter or its library directories belong to this
/// (non-root) process's uid, like an interpreter installed in the user's
/// home: a run sharing the uid could then open them and chmod them through
/// the descriptor, so metadata changes stay refused altogether.
fn server_owns_what_runs_read(spec: &HelperSpec) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = unsafe { libc::getuid() };
    let python = std::fs::canonicalize(&spec.python).unwrap_or_else(|_| spec.python.clone());
    spec.read_only
        .iter()
        .chain([&spec.python, &python])
        .any(|p| match std::fs::metadata(p) {
            Ok(m) => m.uid() == me,
            Err(_) => true,
        })
}

/// Every signal back to its default disposition, and an empty signal mask.
fn reset_signals() {
    unsafe {
        for sig in 1..=libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                // Fails harmlessly for the few signals glibc reserves.
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

/// The login name of `uid` in /etc/passwd, or `snakepit` for a uid with no
/// entry (the per-run uids).
fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let mut f = line.split(':');
                let name = f.next()?;
                let id = f.nth(1)?.parse::<u32>().ok()?;
                (id == uid && !name.is_empty()).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| "snakepit".into())
}

fn cstring(bytes: &[u8]) -> Result<CString, String> {
    CString::new(bytes).map_err(|_| "NUL byte in an argument".to_string())
}

fn write_all_fd(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Sets every resource limit; as root the hard limits may be raised, as a
/// normal user they are clamped to the current hard limit.
fn set_rlimits(spec: &HelperSpec, nproc: u64, problems: &mut Vec<String>) -> bool {
    let limits: [(libc::__rlimit_resource_t, u64, u64, &str); 7] = [
        // Soft CPU limit sends SIGXCPU, the hard one a second later SIGKILL.
        (libc::RLIMIT_CPU, spec.cpu_secs, spec.cpu_secs + 1, "CPU"),
        (libc::RLIMIT_AS, spec.memory_bytes, spec.memory_bytes, "AS"),
        (
            libc::RLIMIT_FSIZE,
            spec.file_size_bytes,
            spec.file_size_bytes,
            "FSIZE",
        ),
        (
            libc::RLIMIT_NOFILE,
            spec.open_files,
            spec.open_files,
            "NOFILE",
        ),
        (libc::RLIMIT_CORE, 0, 0, "CORE"),
        (libc::RLIMIT_NPROC, nproc, nproc, "NPROC"),
        // Thread stacks default to RLIMIT_STACK: keep it finite and modest.
        (libc::RLIMIT_STACK, 8 << 20, 8 << 20, "STACK"),
    ];
    let mut ok = true;
    for (res, soft, hard, name) in limits {
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        unsafe { libc::getrlimit(res, &mut cur) };
        let mut new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        if unsafe { libc::setrlimit(res, &new) } != 0 {
            new.rlim_max = new.rlim_max.min(cur.rlim_max);
            new.rlim_cur = new.rlim_cur.min(new.rlim_max);
            if unsafe { libc::setrlimit(res, &new) } != 0 {
                problems.push(format!(
                    "RLIMIT_{name}: {}",
                    std::io::Error::last_os_error()
                ));
                ok = false;
            }
        }
    }
    ok
}

/// Tasks (threads included) owned by a uid, as RLIMIT_NPROC counts them.
#[derive(Debug, Default)]
struct TaskCount {
    all: u64,
    /// Those not in a run: not in a session whose leader the server started.
    outside_runs: u64,
}

/// The session id of process `pid`, and the parent of that session's leader (if
/// the leader still runs): a run's session leader is its interpreter, a child of
/// the server.
fn session_and_leader_parent(pid: &str) -> Option<(i32, Option<i32>)> {
    let field = |pid: &str, n: usize| -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid pgrp session ...": comm may hold anything.
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_whitespace().nth(n)?.parse().ok()
    };
    let sid = field(pid, 3)?;
    Some((sid, field(&sid.to_string(), 1)))
}

fn count_tasks_of(uid: u32, server_pid: i32) -> TaskCount {
    let mut n = TaskCount::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return n;
    };
    for entry in dir.flatten() {
        if !entry.file_name().as_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let uid_match = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .is_some_and(|u| u == uid.to_string());
        if uid_match {
            let threads = status
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|t| t.trim().parse::<u64>().ok())
                .unwrap_or(1);
            n.all += threads;
            let name = entry.file_name();
            let in_run = name
                .to_str()
                .and_then(session_and_leader_parent)
                .is_some_and(|(sid, leader_parent)| {
                    sid != server_pid && leader_parent == Some(server_pid)
                });
            if !in_run {
                n.outside_runs += threads;
            }
        }
    }
    n
}

/// Kernel Landlock ABI version, 0 when Landlock is missing or disabled.
pub(crate) fn landlock_abi() -> i32 {
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if v < 0 { 0 } else { v as i32 }
}

/// Read-only paths every worker needs besides the interpreter's own prefix.
/// Besides libraries: the harmless, world-readable system files ordinary
/// programs read (users and groups, host and service names, CA
/// certificates), and `/proc`. What in `/proc` belongs to other processes
/// (environment, memory, fds, maps) is guarded by the kernel's ptrace access
/// checks: Landlock denies them across domains, the per-run uid denies them
/// across uids, and the server is not dumpable; see `server_is_protected` in
/// tests/sandbox.rs.
pub(crate) const SYSTEM_READ_ONLY: &[&str] = &[
    "/usr",
    "/lib",
    "/lib64",
    "/lib32",
    "/bin",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/mime.types",
    "/etc/os-release",
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/services",
    "/etc/protocols",
    // /etc/ssl/private is 0700 root: DAC keeps it out of reach.
    "/etc/ssl",
    "/etc/ca-certificates",
    "/proc",
    "/sys/devices/system/cpu",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
];

/// Pseudo-terminals (`os.openpty()`, the `pty` module): only for runs with a
/// uid of their own. Sharing the server's uid, a run could open the
/// terminals of that user's sessions, so then they stay out of reach.
const PTY_PATHS: &[&str] = &["/dev/ptmx", "/dev/pts"];

fn apply_landlock(spec: &HelperSpec, report: &mut HelperReport) {
    let kernel = landlock_abi();
    report.landlock_abi = kernel;
    if kernel <= 0 {
        report
            .problems
            .push("landlock: not supported by the kernel".into());
        return;
    }
    let abi = ABI::from(kernel);
    match build_ruleset(spec, abi) {
        Ok(status) => {
            let enforced = status.ruleset != RulesetStatus::NotEnforced;
            report.landlock_fs = enforced;
            report.landlock_net = enforced && abi >= ABI::V4;
            report.landlock_scope = enforced && abi >= ABI::V6;
            if status.ruleset == RulesetStatus::PartiallyEnforced {
                report.problems.push("landlock: partially enforced".into());
            }
        }
        Err(e) => report.problems.push(format!("landlock: {e}")),
    }
}

fn build_ruleset(spec: &HelperSpec, abi: ABI) -> Result<RestrictionStatus, landlock::RulesetError> {
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?;
    if abi >= ABI::V4 {
        // No NetPort rule at all: every TCP bind and connect is refused.
        ruleset = ruleset.handle_access(AccessNet::from_all(abi))?;
    }
    if abi >= ABI::V6 {
        // No signals to, and no abstract sockets of, processes outside the run.
        ruleset = ruleset.scope(Scope::from_all(abi))?;
    }
    let read_only: Vec<&Path> = spec
        .read_only
        .iter()
        .map(PathBuf::as_path)
        .chain(SYSTEM_READ_ONLY.iter().map(Path::new))
        .chain(std::iter::once(spec.runner.as_path()))
        .collect();
    let ptys: &[&str] = if spec.uid.is_some() { PTY_PATHS } else { &[] };
    let terminal = AccessFs::from_read(abi) | AccessFs::WriteFile | AccessFs::IoctlDev;
    ruleset
        .create()?
        .add_rules(path_beneath_rules(read_only, AccessFs::from_read(abi)))?
        .add_rules(path_beneath_rules([&spec.scratch], AccessFs::from_all(abi)))?
        .add_rules(path_beneath_rules(["/dev/null"], AccessFs::from_all(abi)))?
        .add_rules(path_beneath_rules(ptys, terminal & AccessFs::from_all(abi)))?
        .restrict_self()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    #[test]
    fn tasks_in_runs_are_told_from_the_rest() {
        let me = std::process::id() as i32;
        let uid = unsafe { libc::getuid() };
        // A "run": a child of this process leading a session of its own, with a
        // grandchild in the same session.
        let mut run = std::process::Command::new("/bin/sh");
        run.args(["-c", "sleep 30 & sleep 30"]);
        unsafe {
            run.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let mut run = run.spawn().expect("sh");
        std::thread::sleep(std::time::Duration::from_millis(200));
        let with_run = super::count_tasks_of(uid, me);
        // Seen from another "server", the same processes are not its runs.
        let as_other = super::count_tasks_of(uid, 1);
        run.kill().ok();
        run.wait().ok();
        assert!(with_run.all >= 3, "{with_run:?}");
        let in_runs = with_run.all - with_run.outside_runs;
        assert!(
            in_runs >= 2,
            "sh and its sleep are in the run: {with_run:?}"
        );
        assert!(
            as_other.outside_runs > with_run.outside_runs,
            "{as_other:?}"
        );
    }
}
