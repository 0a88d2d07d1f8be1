//! Fidelity: ordinary, harmless programs behave in the sandbox as under plain
//! `python3 main.py` (issue #19): thread-shared multiprocessing locks, child
//! interpreters, `/proc` and `/dev/stdout`, system files, the user name,
//! signals, `__main__`, output order, uids, ptys, chmod. Every check runs
//! both as root (per-run uids) and, when scripts/test re-runs this binary as
//! a non-root user, in shared-uid mode.
//!
//! The server (this test process) starts its pool with SIGINT and SIGQUIT
//! ignored and SIGUSR1 blocked, as `trap '' INT QUIT` or a service manager
//! would leave them: runs must not inherit that.

#[path = "common/sandbox.rs"]
mod support;

use snakepit::sandbox::{Limits, Output, RunOutcome, RunRequest, Sandbox};
use support::*;

fn sb() -> &'static Sandbox {
    shared_with(|| {
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGQUIT, libc::SIG_IGN);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        let mut cfg = config("fidelity", 3, 64, UID_BASE);
        cfg.limits = Limits::default();
        cfg
    })
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn check(code: &str) -> RunOutcome {
    let o = rt().block_on(run(sb(), code));
    eprintln!("{o:?}");
    o
}

/// The run's output as the page shows it: chunks in arrival order.
fn transcript(code: &str) -> (Vec<Output>, RunOutcome) {
    let sb = sb();
    rt().block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let req = RunRequest {
            code: code.into(),
            client: "order".into(),
            merge_stderr: false,
        };
        let collect = tokio::spawn(async move {
            let mut chunks = Vec::new();
            while let Some(c) = rx.recv().await {
                chunks.push(c);
            }
            chunks
        });
        let o = sb.run(req, Some(tx)).await.expect("run");
        (collect.await.expect("collector"), o)
    })
}

/// Lines of a transcript, each prefixed with its stream ("o " / "e ").
fn tagged_lines(chunks: &[Output]) -> Vec<String> {
    let (mut lines, mut cur, mut cur_tag) = (Vec::new(), String::new(), ' ');
    for c in chunks {
        let (tag, text) = match c {
            Output::Stdout(t) => ('o', t),
            Output::Stderr(t) => ('e', t),
        };
        for ch in text.chars() {
            if cur.is_empty() {
                cur_tag = tag;
            }
            if ch == '\n' {
                lines.push(format!("{cur_tag} {cur}"));
                cur.clear();
            } else {
                cur.push(ch);
            }
        }
    }
    lines
}

#[test]
fn thread_shared_multiprocessing_locks_do_not_deadlock() {
    let code = "import multiprocessing as mp, threading\n\
        for make in (mp.RLock, mp.Lock, lambda: mp.Semaphore(2)):\n\
        \x20   lock, n = make(), [0]\n\
        \x20   def work():\n\
        \x20       for _ in range(2000):\n\
        \x20           with lock:\n\
        \x20               n[0] += 1\n\
        \x20   ts = [threading.Thread(target=work) for _ in range(3)]\n\
        \x20   [t.start() for t in ts]; [t.join() for t in ts]\n\
        \x20   print(n[0])\n\
        cond, items = mp.Condition(), []\n\
        def consumer():\n\
        \x20   with cond:\n\
        \x20       cond.wait_for(lambda: len(items) == 50, timeout=5)\n\
        \x20       print('got', len(items))\n\
        t = threading.Thread(target=consumer); t.start()\n\
        for i in range(50):\n\
        \x20   with cond:\n\
        \x20       items.append(i); cond.notify_all()\n\
        t.join()\n";
    let o = check(code);
    assert_eq!(o.stdout, "6000\n6000\n6000\ngot 50\n", "{o:?}");
    assert!(!o.timed_out);
}

#[test]
fn multiprocessing_works_in_a_child_interpreter() {
    let child = "import multiprocessing as mp\\nl = mp.Lock()\\nwith l: pass\\nwith mp.Pool(2) as p: print(p.map(abs, [-1, -2]))\\n";
    let code = format!(
        "import subprocess, sys\n\
         r = subprocess.run([sys.executable, '-c', '{child}'], capture_output=True, text=True)\n\
         print(r.returncode, r.stdout.strip(), r.stderr.strip()[-300:])\n"
    );
    let o = check(&code);
    assert_eq!(o.stdout, "0 [1, 2] \n", "{o:?}");
}

#[test]
fn own_proc_entries_and_dev_stdout_work() {
    let code = "import os, subprocess, sys\n\
        print('VmRSS' in open('/proc/self/status').read())\n\
        print(sorted(int(f) for f in os.listdir('/proc/self/fd'))[:3])\n\
        p = subprocess.Popen(['sleep', '5'])\n\
        print(len(os.listdir(f'/proc/{p.pid}/fd')) >= 3)\n\
        p.kill(); p.wait()\n\
        print('processor' in open('/proc/cpuinfo').read(), 'MemTotal' in open('/proc/meminfo').read())\n\
        r, w = os.pipe()\n\
        with open(f'/dev/fd/{w}', 'w') as f: f.write('via /dev/fd')\n\
        os.close(w)\n\
        print(os.read(r, 100).decode())\n\
        with open('/dev/stdout', 'w') as f: f.write('via /dev/stdout\\n')\n\
        with open('/dev/stderr', 'w') as f: f.write('via /dev/stderr\\n')\n";
    let o = check(code);
    // /dev/stdout is fd 1 itself, written below sys.stdout: in order with
    // print() only when not written in the same instant (see the README).
    assert_eq!(
        o.stdout.replace("via /dev/stdout\n", ""),
        "True\n[0, 1, 2]\nTrue\nTrue True\nvia /dev/fd\n",
        "{o:?}"
    );
    assert!(o.stdout.contains("via /dev/stdout\n"), "{o:?}");
    assert_eq!(o.stderr, "via /dev/stderr\n", "{o:?}");
}

#[test]
fn harmless_system_files_and_lookups_work() {
    let code = "import pwd, grp, socket, ssl, getpass, os\n\
        print(pwd.getpwuid(0).pw_name, grp.getgrgid(0).gr_name)\n\
        print(socket.getservbyname('http'), socket.getprotobyname('tcp'))\n\
        print(sorted({a[4][0] for a in socket.getaddrinfo('localhost', 80)}) != [])\n\
        print(ssl.create_default_context().cert_store_stats()['x509_ca'] > 0)\n\
        for f in ('/etc/hosts', '/etc/nsswitch.conf', '/etc/services', '/etc/protocols'):\n\
        \x20   open(f).read()\n\
        print(bool(getpass.getuser()), os.environ['USER'] == os.environ['LOGNAME'])\n\
        print(os.path.expanduser('~') != os.getcwd(), os.listdir('.'))\n";
    let o = check(code);
    assert_eq!(
        o.stdout, "root root\n80 6\nTrue\nTrue\nTrue True\nTrue ['main.py']\n",
        "{o:?}"
    );
}

#[test]
fn runs_start_with_default_signal_handling() {
    let code = "import signal, os, time\n\
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,\n\
        \x20     signal.getsignal(signal.SIGQUIT) == signal.SIG_DFL,\n\
        \x20     signal.pthread_sigmask(signal.SIG_BLOCK, []) == set())\n\
        try:\n\
        \x20   os.kill(os.getpid(), signal.SIGINT)\n\
        \x20   time.sleep(1)\n\
        \x20   print('no interrupt')\n\
        except KeyboardInterrupt:\n\
        \x20   print('KeyboardInterrupt')\n";
    let o = check(code);
    assert_eq!(o.stdout, "True True True\nKeyboardInterrupt\n", "{o:?}");
}

#[test]
fn main_module_is_set_up_as_by_python_main_py() {
    let code = "import os, sys, warnings\n\
        print(__file__, __loader__.path == os.path.join(os.getcwd(), 'main.py'))\n\
        print(type(__loader__).__name__, __spec__, __cached__)\n\
        print(__loader__.get_source('__main__').startswith('import os'))\n";
    let o = check(code);
    assert_eq!(
        o.stdout, "main.py True\nSourceFileLoader None None\nTrue\n",
        "{o:?}"
    );
}

#[test]
fn stdout_and_stderr_arrive_in_the_order_written() {
    let code = "import sys\nfor i in range(300):\n    print('out', i)\n    print('err', i, file=sys.stderr)\nprint('before the error')\n1 / 0\n";
    let (chunks, o) = transcript(code);
    let lines = tagged_lines(&chunks);
    let mut expected: Vec<String> = (0..300)
        .flat_map(|i| [format!("o out {i}"), format!("e err {i}")])
        .collect();
    expected.push("o before the error".into());
    expected.push("e Traceback (most recent call last):".into());
    assert_eq!(lines[..expected.len()], expected[..], "{o:?}");
    assert!(o.stderr.ends_with("ZeroDivisionError: division by zero\n"));
    // Each write is one record, whoever writes it (threads, a forked
    // process): lines written whole never mix.
    let code = "import os, sys, threading\n\
        def w(tag):\n\
        \x20   for i in range(200): (sys.stderr if tag == 'e' else sys.stdout).write(tag * 40 + '\\n')\n\
        ts = [threading.Thread(target=w, args=(t,)) for t in 'ab']\n\
        [t.start() for t in ts]\n\
        if os.fork() == 0:\n\
        \x20   w('c'); os._exit(0)\n\
        w('e'); [t.join() for t in ts]; os.wait()\n";
    let (chunks, o) = transcript(code);
    let lines = tagged_lines(&chunks);
    assert_eq!(lines.len(), 800, "{o:?}");
    for l in &lines {
        let body = &l[2..];
        assert_eq!(body.len(), 40, "{l:?}");
        assert!(
            body.chars()
                .all(|c| c == body.chars().next().unwrap_or('?'))
        );
        assert_eq!(l.starts_with("e "), body.starts_with('e'), "{l:?}");
    }
}

#[test]
fn per_run_uids_fit_in_a_tar_header() {
    let code = "import os, tarfile, io\n\
        open('f', 'w').write('x')\n\
        buf = io.BytesIO()\n\
        with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as t:\n\
        \x20   t.add('f')\n\
        print(os.getuid() <= 2097151, 'ok')\n";
    let o = check(code);
    assert_eq!(o.stdout, "True ok\n", "{o:?}");
    if is_root() {
        let base = sb().layers().uid_base.expect("per-run uids as root");
        assert!(base + 1023 <= 2_097_151);
    }
}

#[test]
fn pseudo_terminals_with_a_uid_of_its_own() {
    let code = "import os, pty\n\
        try:\n\
        \x20   m, s = os.openpty()\n\
        \x20   os.write(s, b'hi\\n'); print(os.read(m, 10)); print(os.isatty(s))\n\
        except OSError as e:\n\
        \x20   print('refused', e.errno)\n";
    let o = check(code);
    if is_root() {
        assert_eq!(o.stdout, "b'hi\\r\\n'\nTrue\n", "{o:?}");
    } else {
        // Shared uid: the server user's own terminals would be in reach.
        assert_eq!(o.stdout, "refused 13\n", "{o:?}");
    }
}

#[test]
fn copying_with_metadata_works_in_both_server_modes() {
    let code = "import shutil, os, pathlib\n\
        open('a', 'w').write('x')\n\
        os.makedirs('d/e'); open('d/e/f', 'w').write('y')\n\
        try:\n\
        \x20   shutil.copy2('a', 'b'); shutil.copytree('d', 'd2'); os.chmod('a', 0o600)\n\
        \x20   print('copied', oct(os.stat('a').st_mode & 0o777), open('d2/e/f').read())\n\
        except PermissionError as e:\n\
        \x20   print('refused:', e.strerror)\n";
    let o = check(code);
    assert_eq!(o.stdout, "copied 0o600 y\n", "{o:?}");
    // Touching a file updates its time; a symlink's own owner cannot be
    // changed through a descriptor, and the error says why.
    let code = "import os, pathlib, time\n\
        p = pathlib.Path('t'); p.write_text('x'); os.utime(p, (1, 1)); p.touch()\n\
        print(time.time() - p.stat().st_mtime < 100)\n\
        os.symlink('t', 'l')\n\
        try:\n\
        \x20   os.lchown('l', os.getuid(), os.getgid()); print('lchown ok')\n\
        except PermissionError as e:\n\
        \x20   print('refused:', e.strerror)\n";
    let o = check(code);
    if is_root() {
        assert_eq!(o.stdout, "True\nlchown ok\n", "{o:?}");
    } else {
        assert!(
            o.stdout
                .starts_with("True\nrefused: Operation not permitted: with a non-root server"),
            "{o:?}"
        );
    }
}
