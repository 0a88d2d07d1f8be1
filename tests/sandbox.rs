//! Hostile-snippet suite: each program is contained, leaves nothing behind
//! (no process in its group, no scratch directory), and the sandbox still
//! runs a normal program afterwards. Runs as root on the development machine
//! (per-run uids) and as a normal user (same uid as the server).

#[path = "common/sandbox.rs"]
mod support;

use snakepit::sandbox::{RunError, RunOutcome, RunRequest, Sandbox};
use support::*;

fn sb() -> &'static Sandbox {
    shared("hostile", UID_BASE)
}

/// Runs `code` (after the prelude), hands the outcome to `check`, then
/// asserts that nothing is left and that the sandbox still works.
fn hostile(code: &str, check: impl FnOnce(&RunOutcome)) {
    let sb = sb();
    rt().block_on(async {
        let o = run(sb, &format!("{PRELUDE}{code}")).await;
        let shown: String = format!("{o:?}").chars().take(600).collect();
        eprintln!("{shown}");
        check(&o);
        assert_nothing_left(&info(&o));
        assert_still_works(sb).await;
    });
}

#[test]
fn layers_meet_the_minimum() {
    let l = sb().layers();
    assert!(l.meets_minimum(), "{l}");
    assert!(l.to_string().contains("seccomp"), "{l}");
}

#[test]
fn fork_bomb_hits_the_process_limit() {
    let code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError as e:\n        print('fork failed', e.errno, flush=True)\n        break\n";
    hostile(code, |o| {
        assert!(o.stdout.contains("fork failed 11"), "{o:?}")
    });
}

#[test]
fn thread_bomb_hits_the_process_limit() {
    let code = "import threading, time\nn = 0\ntry:\n    while True:\n        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n        n += 1\nexcept RuntimeError as e:\n    print('stopped', n < 64, e)\n";
    hostile(code, |o| {
        assert!(
            o.stdout.starts_with("stopped True can't start new thread"),
            "{o:?}"
        )
    });
}

#[test]
fn memory_bomb_gets_memory_error() {
    let code = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))\n";
    hostile(code, |o| assert!(o.stderr.contains("MemoryError"), "{o:?}"));
}

#[test]
fn cpu_loop_is_stopped_by_the_cpu_limit() {
    hostile("while True:\n    pass\n", |o| {
        assert!(o.signal.is_some(), "{o:?}");
        assert!(o.duration_ms < 4_500, "{o:?}");
    });
}

#[test]
fn sleep_is_stopped_by_the_wall_limit() {
    hostile(
        "import time\nprint('sleeping', flush=True)\ntime.sleep(100)\n",
        |o| {
            assert!(o.timed_out, "{o:?}");
            assert_eq!(o.killed_by.as_deref(), Some("wall"));
            assert_eq!(o.signal, Some(9));
            assert_eq!(o.stdout, "sleeping\n");
            assert!((4_000..6_000).contains(&o.duration_ms), "{o:?}");
        },
    );
}

#[test]
fn output_flood_is_truncated() {
    hostile("while True:\n    print('x' * 999)\n", |o| {
        assert!(o.truncated, "{}", o.stdout.len());
        assert_eq!(o.killed_by.as_deref(), Some("output"));
        assert!(o.stdout.len() + o.stderr.len() <= 1 << 20);
        assert!(o.stdout.len() > 1000);
    });
}

#[test]
fn disk_fill_stops_at_the_file_size_limit() {
    let code = "with open('big', 'wb') as f:\n    for _ in range(64):\n        f.write(b'x' * (1 << 20))\n";
    hostile(code, |o| {
        assert!(o.stderr.contains("File too large"), "{o:?}")
    });
}

#[test]
fn fd_exhaustion_stops_at_the_open_files_limit() {
    let code = "import os\nfds = []\ntry:\n    while True:\n        fds.append(os.open('/dev/null', os.O_RDONLY))\nexcept OSError as e:\n    print(e.errno, len(fds) < 256)\n";
    hostile(code, |o| assert_eq!(o.stdout, "24 True\n", "{o:?}"));
}

#[test]
fn double_fork_daemon_cannot_leave_and_is_killed() {
    let code = "import os, time\nif os.fork() == 0:\n    try:\n        os.setsid()\n    except OSError as e:\n        print('setsid', e.errno, flush=True)\n    try:\n        os.setpgid(0, 0)\n    except OSError as e:\n        print('setpgid', e.errno, flush=True)\n    if os.fork() == 0:\n        time.sleep(60)\n    os._exit(0)\ntime.sleep(0.3)\nprint('parent done')\n";
    hostile(code, |o| {
        assert!(o.stdout.contains("setsid 1\nsetpgid 1\n"), "{o:?}");
        assert!(o.stdout.ends_with("parent done\n"), "{o:?}");
        assert!(!o.timed_out);
    });
}

#[test]
fn signals_to_the_server_and_everyone_are_refused() {
    let code = "import os\nfor target in (os.getppid(), -1, -os.getpgid(os.getppid()), 1):\n    try:\n        os.kill(target, 9)\n        print('sent', target)\n    except OSError as e:\n        print('refused', e.errno)\n";
    hostile(code, |o| {
        assert_eq!(o.stdout, "refused 1\n".repeat(4), "{o:?}")
    });
    // The kernel reads kill's pid as a 32-bit int: garbage in the register's upper
    // half must not slip the server's pid past the filter (kill is syscall 62).
    let raw = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nfor target in (os.getppid(), -1):\n    r = libc.syscall(62, ctypes.c_long((7 << 32) | (target & 0xffffffff)), 9)\n    print(r, ctypes.get_errno())\n";
    hostile(raw, |o| assert_eq!(o.stdout, "-1 1\n-1 1\n", "{o:?}"));
}

#[test]
fn ptrace_is_refused() {
    let code = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nfor pid in (os.getppid(), os.getpid()):\n    r = libc.ptrace(16, pid, 0, 0)\n    print(r, ctypes.get_errno())\nr = libc.ptrace(0, 0, 0, 0)\nprint(r, ctypes.get_errno())\n";
    hostile(code, |o| {
        assert_eq!(o.stdout, "-1 1\n-1 1\n-1 1\n", "{o:?}")
    });
}

#[test]
fn network_sockets_are_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let code = format!(
        "import socket\n\
         for fam, typ, proto in ((socket.AF_INET, socket.SOCK_STREAM, 0), (socket.AF_INET, socket.SOCK_DGRAM, 0),\n\
                                 (socket.AF_INET6, socket.SOCK_STREAM, 0), (socket.AF_INET, socket.SOCK_RAW, 1),\n\
                                 (socket.AF_PACKET, socket.SOCK_RAW, 0), (socket.AF_NETLINK, socket.SOCK_RAW, 0)):\n\
         \x20   try:\n\
         \x20       s = socket.socket(fam, typ, proto)\n\
         \x20       s.settimeout(1)\n\
         \x20       s.connect(('127.0.0.1', {port}))\n\
         \x20       print('connected')\n\
         \x20   except OSError as e:\n\
         \x20       print('refused', e.errno)\n\
         try:\n\
         \x20   socket.create_connection(('localhost', {port}), timeout=1)\n\
         except OSError as e:\n\
         \x20   print('refused', type(e).__name__)\n\
         a, b = socket.socketpair()\n\
         a.sendall(b'unix ok'); print(b.recv(10).decode())\n"
    );
    hostile(&code, |o| {
        assert_eq!(o.stdout.matches("refused 1\n").count(), 6, "{o:?}");
        assert!(!o.stdout.contains("connected"), "{o:?}");
        assert!(o.stdout.ends_with("unix ok\n"), "{o:?}");
    });
    assert!(
        listener.accept().is_err(),
        "the sandbox reached the loopback listener"
    );
}

#[test]
fn raw_syscalls_through_ctypes_are_refused() {
    // x86-64 numbers: setsid 112, unshare 272, socket 41, clone3 435,
    // io_uring_setup 425, bpf 321, mount 165; x32 getpid = 0x40000000 | 39.
    let code = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nfor nr, args in ((112, ()), (272, (0x10000000,)), (41, (2, 1, 0)), (435, (0, 0)), (425, (8, 0)), (321, (0, 0, 0)), (165, (0, 0, 0, 0, 0)), (0x40000000 | 39, ())):\n    r = libc.syscall(nr, *args)\n    print(nr, r, ctypes.get_errno())\n";
    hostile(code, |o| {
        let expected = "112 -1 1\n272 -1 1\n41 -1 1\n435 -1 38\n425 -1 1\n321 -1 1\n165 -1 1\n1073741863 -1 38\n";
        if cfg!(target_arch = "x86_64") {
            assert_eq!(o.stdout, expected, "{o:?}");
        }
    });
}

#[test]
fn symlinks_and_hardlinks_do_not_lead_out_of_scratch() {
    let code = "import os\nos.symlink('/etc/hostname', 'p')\nos.symlink('/', 'root')\nfor path in ('p', 'root/etc/hostname'):\n    try:\n        open(path).read()\n        print('read', path)\n    except OSError as e:\n        print('refused', e.errno)\ntry:\n    os.link('/etc/passwd', 'h')\n    print('linked')\nexcept OSError as e:\n    print('link refused')\n";
    hostile(code, |o| {
        assert_eq!(o.stdout, "refused 13\nrefused 13\nlink refused\n", "{o:?}")
    });
}

#[test]
fn server_files_environment_and_database_are_unreadable() {
    let db = scratch_root("db.sqlite");
    std::fs::write(&db, "secret").expect("db file");
    // Another process outside the run, with a secret in its environment.
    let mut other = std::process::Command::new("sleep")
        .arg("60")
        .env("SNAKEPIT_SECRET", "hunter2")
        .spawn()
        .expect("sleep");
    let other_pid = other.id();
    // /proc is readable (the run's own entries, cpuinfo, ...); what the kernel
    // guards with ptrace checks stays out of reach for the server and for
    // every process outside the run: environment, memory, maps, what its fds
    // point to, cwd, root. (The kernel lets a same-uid process list another's
    // fd numbers, not open them; the server's, not dumpable, are root's.)
    let code = format!(
        "import os\nppid = os.getppid()\n\
         for path in ('/etc/shadow', f'/proc/{{ppid}}/environ', f'/proc/{{ppid}}/mem', f'/proc/{{ppid}}/fd/',\n\
         \x20            f'/proc/{{ppid}}/cwd/', f'/proc/{{ppid}}/root/', f'/proc/{{ppid}}/maps', '/proc/{other_pid}/environ',\n\
         \x20            '/proc/{other_pid}/maps', '/proc/{other_pid}/cwd/', '/proc/{other_pid}/fd/0', {db:?}, os.path.dirname(os.getcwd()) + '/../'):\n\
         \x20   try:\n\
         \x20       print('read', len(open(path, 'rb').read(100)) if not path.endswith('/') else os.listdir(path))\n\
         \x20   except OSError as e:\n\
         \x20       print('refused', e.errno)\n\
         args = [a for a in open(f'/proc/{{ppid}}/cmdline', 'rb').read().split(b'\\0') if a]\n\
         print('server arguments shown:', len(args) - 1)\n\
         print(sorted(os.environ))\n"
    );
    hostile(&code, |o| {
        let refused = o.stdout.matches("refused").count();
        assert_eq!(refused, 13, "{o:?}");
        assert!(!o.stdout.contains("hunter2"));
        assert!(o.stdout.contains("server arguments shown: 0\n"), "{o:?}");
        let names = "'HOME', 'LANG', 'LOGNAME', 'MALLOC_ARENA_MAX', 'PATH', 'TMPDIR', 'USER'";
        assert!(
            o.stdout.ends_with(&format!("[{names}]\n"))
                || o.stdout.ends_with(&format!(
                    "[{}]\n",
                    names.replace("'LANG', ", "'LANG', 'LC_CTYPE', ")
                )),
            "{o:?}"
        );
    });
    other.kill().ok();
    other.wait().ok();
}

#[test]
fn writing_outside_scratch_is_refused() {
    let runner = runner_path("hostile");
    let code = format!(
        "import os, tempfile\nfor path in ('/tmp/snakepit-escape', '/dev/shm/snakepit-escape', '/var/tmp/snakepit-escape',\n\
         \x20            os.path.dirname(os.path.dirname(os.getcwd())) + '/escape', {runner:?}):\n\
         \x20   try:\n\
         \x20       open(path, 'a').write('x')\n\
         \x20       print('wrote', path)\n\
         \x20   except OSError as e:\n\
         \x20       print('refused', e.errno)\n\
         with tempfile.NamedTemporaryFile() as f:\n\
         \x20   print(f.name.startswith(os.path.dirname(os.getcwd()) + '/'))\n"
    );
    hostile(&code, |o| {
        assert_eq!(o.stdout, "refused 13\n".repeat(5) + "True\n", "{o:?}")
    });
    assert!(!std::path::Path::new("/dev/shm/snakepit-escape").exists());
    assert!(!std::path::Path::new("/tmp/snakepit-escape").exists());
}

#[test]
fn code_over_the_size_limit_is_rejected() {
    let sb = sb();
    rt().block_on(async {
        let code = "#".repeat(sb.config().limits.code_bytes + 1);
        let req = RunRequest {
            code,
            client: "big".into(),
            merge_stderr: false,
        };
        match sb.run(req, None).await {
            Err(RunError::TooLarge { limit }) => assert_eq!(limit, 64 << 10),
            other => panic!("{other:?}"),
        }
        assert_still_works(sb).await;
    });
}

#[test]
fn killing_its_own_group_only_ends_the_run() {
    hostile(
        "import os\nprint('bye', flush=True)\nos.kill(0, 9)\n",
        |o| {
            assert_eq!(o.stdout, "bye\n");
            assert_eq!(o.signal, Some(9));
            assert!(!o.timed_out);
        },
    );
}

#[test]
fn many_files_filling_the_disk_are_stopped_by_the_watchdog() {
    let code = "import time\nfor i in range(6):\n    with open(f'f{i}', 'wb') as f:\n        f.write(b'x' * (15 << 20))\nprint('written', flush=True)\ntime.sleep(10)\n";
    hostile(code, |o| {
        assert_eq!(o.killed_by.as_deref(), Some("disk"), "{o:?}");
        assert!(!o.timed_out);
    });
    hostile(
        "import os, time\nfor i in range(5000):\n    os.mkdir(f'd{i}')\ntime.sleep(10)\n",
        |o| {
            assert_eq!(o.killed_by.as_deref(), Some("disk"), "{o:?}");
        },
    );
}

#[test]
fn memory_spread_over_processes_is_stopped_by_the_watchdog() {
    let code = "import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n        data = b'x' * (100 << 20)\n        time.sleep(10)\n        os._exit(0)\ntime.sleep(10)\n";
    hostile(code, |o| {
        assert_eq!(o.killed_by.as_deref(), Some("memory"), "{o:?}");
        assert!(!o.timed_out);
    });
}

#[test]
fn privileges_and_limits_cannot_be_raised() {
    let runner = runner_path("hostile");
    let code = format!(
        "import os, resource\n\
         for res in (resource.RLIMIT_NPROC, resource.RLIMIT_AS, resource.RLIMIT_CPU):\n\
         \x20   try:\n\
         \x20       resource.setrlimit(res, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n\
         \x20       print('raised')\n\
         \x20   except (OSError, ValueError) as e:\n\
         \x20       print('refused')\n\
         for call in (lambda: os.setuid(0), lambda: os.chmod({runner:?}, 0), lambda: os.listdir(f'/proc/{{os.getppid()}}/fd'),\n\
         \x20            lambda: os.chmod('/tmp', 0o777), lambda: os.utime({runner:?}),\n\
         \x20            lambda: os.fchmod(os.open({runner:?}, os.O_RDONLY), 0)):\n\
         \x20   try:\n\
         \x20       call()\n\
         \x20       print('allowed')\n\
         \x20   except OSError as e:\n\
         \x20       print('refused')\n"
    );
    hostile(&code, |o| {
        // utime of a file it cannot write is refused by DAC (root) or by
        // ownership rules; the rest by rlimits, capabilities, Landlock, seccomp.
        // The server's runner cannot even be opened: each run reads its own copy.
        assert_eq!(o.stdout, "refused\n".repeat(9), "{o:?}");
    });
    let meta = std::fs::metadata(&runner).expect("runner");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o644);
}

#[test]
fn abstract_unix_sockets_outside_the_run_are_unreachable() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("snakepit-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("addr");
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let code = format!(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('\\0{name}')\n    print('connected')\nexcept OSError as e:\n    print('refused', e.errno)\n"
    );
    hostile(&code, |o| assert_eq!(o.stdout, "refused 1\n", "{o:?}"));
    assert!(listener.accept().is_err());
}
