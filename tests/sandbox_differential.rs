//! Differential tests: ordinary programs print the same stdout and stderr and
//! exit the same way in the sandbox as under plain `python3 -I main.py`.

#[path = "common/sandbox.rs"]
mod support;

use std::process::Stdio;

use snakepit::sandbox::{Limits, Output, RunRequest, Sandbox};
use support::*;

fn sb() -> &'static Sandbox {
    shared_with(|| {
        let mut cfg = config("differential", 3, 64, UID_BASE);
        cfg.limits = Limits::default();
        cfg
    })
}

/// Runs `code` under plain `python3 -I main.py` in a fresh directory with the
/// sandbox's environment; paths to that directory are normalised away.
async fn plain(code: &str) -> (String, String, Option<i32>) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("main.py"), code).expect("main.py");
    let out = tokio::process::Command::new(python())
        .args(["-I", "main.py"])
        .current_dir(dir.path())
        .env_clear()
        .envs([
            ("HOME", dir.path().as_os_str()),
            ("TMPDIR", dir.path().as_os_str()),
        ])
        .envs([
            ("PATH", "/usr/bin:/bin"),
            ("LANG", "C.UTF-8"),
            ("MALLOC_ARENA_MAX", "2"),
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("plain python");
    let prefix = format!("{}/", dir.path().display());
    let norm = |b: &[u8]| String::from_utf8_lossy(b).replace(&prefix, "");
    (norm(&out.stdout), norm(&out.stderr), out.status.code())
}

fn same(code: &str) {
    let sb = sb();
    rt().block_on(async {
        let (out, err, exit) = plain(code).await;
        let o = run(sb, code).await;
        assert_eq!(
            o.stdout, out,
            "stdout differs; sandbox stderr: {}",
            o.stderr
        );
        assert_eq!(o.stderr, err, "stderr differs");
        assert_eq!(o.exit_code, exit, "exit code differs");
        assert!(!o.timed_out && !o.truncated);
    });
}

#[test]
fn print_and_unicode() {
    same(
        "print('héllo wörld ✓ 😀 日本語')\nprint(sorted({'b', 'a'}), 2 ** 100)\nimport sys\nprint('err ✓', file=sys.stderr)\nprint(sys.argv, __name__)\n",
    );
}

#[test]
fn exceptions_with_tracebacks() {
    same(
        "def inner(x):\n    return 1 / x\n\ndef outer():\n    return inner(0)\n\nprint('before')\nouter()\n",
    );
    same("valeu = 3\nprint(value)\n");
    same("try:\n    {}['k']\nexcept KeyError as e:\n    raise ValueError('wrapped') from e\n");
    same("def f(:\n    pass\n");
}

#[test]
fn exit_codes_and_input_at_eof() {
    same("import sys\nprint('x')\nsys.exit(3)\n");
    same("import sys\nsys.exit('fatal: message')\n");
    same("raise SystemExit(0)\n");
    same("name = input('name? ')\n");
}

#[test]
fn interpreter_shutdown_behaviour() {
    same(
        "import atexit, threading, time, logging\nclass Noisy:\n    def __del__(self):\n        print('deleted', self.__class__.__name__)\nkeep = Noisy()\n_private = Noisy()\natexit.register(print, 'atexit ran')\ndef late():\n    time.sleep(0.1)\n    print('thread done')\nthreading.Thread(target=late).start()\nlogging.basicConfig()\nlogging.getLogger('x').warning('logged')\nprint('main done')\n",
    );
    same("exit('bye via the builtin')\n");
    same(
        "import asyncio\n\nasync def fetch():\n    return 42\n\nasync def handler():\n    return asyncio.run(fetch())\n\nasyncio.run(handler())\n",
    );
    same(
        "class Noisy:\n    def __del__(self):\n        print('deleted at exit')\nn = Noisy()\nraise ValueError('uncaught')\n",
    );
    same(
        "import warnings\nclass W:\n    def __del__(self):\n        warnings.warn('from __del__', stacklevel=2)\nw = W()\n",
    );
    same("import sys\nsys.exit(256 + 7)\n");
    same("print(quit.__class__.__name__, callable(help), str(exit))\n");
}

#[test]
fn threads() {
    same(
        "import threading\nfrom concurrent.futures import ThreadPoolExecutor\nlock = threading.Lock()\ntotal = 0\ndef add(n):\n    global total\n    for _ in range(n):\n        with lock:\n            total += 1\nts = [threading.Thread(target=add, args=(1000,)) for _ in range(8)]\nfor t in ts: t.start()\nfor t in ts: t.join()\nprint(total)\nwith ThreadPoolExecutor(max_workers=16) as ex:\n    print(sum(ex.map(lambda x: x * x, range(100))))\n",
    );
}

#[test]
fn asyncio() {
    same(
        "import asyncio\nasync def work(i):\n    await asyncio.sleep(0.01 * (3 - i))\n    return i * 10\nasync def main():\n    print(await asyncio.gather(*(work(i) for i in range(3))))\n    loop = asyncio.get_running_loop()\n    print(await loop.run_in_executor(None, sum, [1, 2, 3]))\n    q = asyncio.Queue()\n    await q.put('item'); print(await q.get())\nasyncio.run(main())\n",
    );
}

#[test]
fn tempfile_and_files() {
    same(
        "import tempfile, os, pathlib\nwith tempfile.NamedTemporaryFile('w+') as f:\n    f.write('data'); f.seek(0); print(f.read())\nwith tempfile.TemporaryDirectory() as d:\n    p = pathlib.Path(d, 'x.txt'); p.write_text('hi'); print(p.read_text(), sorted(os.listdir(d)))\npathlib.Path('out.txt').write_text('local')\nprint(open('out.txt').read())\n",
    );
}

#[test]
fn multiprocessing_pool_fork() {
    same(
        "from multiprocessing import Pool\ndef sq(x):\n    return x * x\nif __name__ == '__main__':\n    with Pool(4) as p:\n        print(p.map(sq, range(10)))\n",
    );
}

#[test]
fn process_pool_executor() {
    same(
        "from concurrent.futures import ProcessPoolExecutor\ndef cube(x):\n    return x ** 3\nif __name__ == '__main__':\n    with ProcessPoolExecutor(4) as ex:\n        print(list(ex.map(cube, range(8))))\n",
    );
}

#[test]
fn multiprocessing_spawn_and_forkserver() {
    same(
        "import multiprocessing as mp\ndef sq(x):\n    return x * x\ndef put(q, lock):\n    with lock:\n        q.put('from child')\nif __name__ == '__main__':\n    for method in ('spawn', 'forkserver'):\n        ctx = mp.get_context(method)\n        with ctx.Pool(2) as p:\n            print(method, p.map(sq, range(5)))\n        q, lock = ctx.Queue(), ctx.Lock()\n        pr = ctx.Process(target=put, args=(q, lock))\n        pr.start(); print(q.get()); pr.join(); print(pr.exitcode)\n",
    );
}

#[test]
fn multiprocessing_shared_state() {
    same(
        "import multiprocessing as mp\ndef inc(v, a, lock):\n    for _ in range(100):\n        with lock:\n            v.value += 1\n    a[0] += 1\nif __name__ == '__main__':\n    v, a, lock = mp.Value('i', 0), mp.Array('i', 3), mp.RLock()\n    ps = [mp.Process(target=inc, args=(v, a, lock)) for _ in range(4)]\n    [p.start() for p in ps]; [p.join() for p in ps]\n    print(v.value)\n    sem = mp.Semaphore(2)\n    print(sem.acquire(), sem.acquire(), sem.acquire(timeout=0.05))\n    e = mp.Event(); e.set(); print(e.is_set())\n    with mp.Manager() as m:\n        d = m.dict(); d['k'] = 1; print(dict(d))\n",
    );
}

#[test]
fn multiprocessing_shared_memory() {
    same(
        "from multiprocessing import shared_memory, Process, get_context\ndef fill(name):\n    s = shared_memory.SharedMemory(name=name)\n    s.buf[:5] = b'hello'\n    s.close()\nif __name__ == '__main__':\n    shm = shared_memory.SharedMemory(create=True, size=16)\n    for ctx in ('fork', 'spawn'):\n        p = get_context(ctx).Process(target=fill, args=(shm.name,))\n        p.start(); p.join()\n        print(ctx, bytes(shm.buf[:5]))\n    shm.close(); shm.unlink()\n    sl = shared_memory.ShareableList([1, 'two'])\n    print(list(sl)); sl.shm.close(); sl.shm.unlink()\n",
    );
}

#[test]
fn common_standard_library_modules() {
    same(
        r#"import json, re, datetime, zoneinfo, decimal, fractions, random, statistics, hashlib, ssl
import sqlite3, csv, pathlib, collections, itertools, functools, typing, dataclasses, enum, logging
import unittest, doctest, timeit, cProfile, pstats, tracemalloc, gc, weakref, ctypes, struct, array
import pickle, copy, pprint, textwrap, string, difflib, heapq, bisect, contextlib, inspect, dis, ast
import tokenize, io, gzip, zipfile, tarfile, shutil, glob, fnmatch, uuid, base64, hmac, secrets
import urllib.parse, email, html, xml.etree.ElementTree as ET, queue, selectors, signal, calendar
import locale, argparse, platform, sysconfig, importlib, time, os, sys, unicodedata, zlib, bz2, lzma
print(hashlib.sha256(b'x').hexdigest()[:16], hmac.new(b'k', b'm', 'sha256').hexdigest()[:8])
print(ssl.create_default_context().verify_mode, decimal.Decimal('1.1') + decimal.Decimal('2.2'))
print(datetime.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo('Europe/Paris')).utcoffset())
db = sqlite3.connect('t.db'); db.execute('create table t(x)'); db.execute('insert into t values (42)')
print(db.execute('select x from t').fetchone(), sqlite3.connect(':memory:').execute('select 1').fetchone())
random.seed(1); print(random.randint(1, 100), statistics.mean([1, 2, 3, 4]))
with zipfile.ZipFile('a.zip', 'w') as z: z.writestr('f.txt', 'zipped')
print(zipfile.ZipFile('a.zip').read('f.txt'), gzip.decompress(gzip.compress(b'gz')), lzma.decompress(lzma.compress(b'xz')))
print(ET.fromstring('<a><b>x</b></a>').find('b').text, json.dumps({'a': [1, 2]}), unicodedata.name('é'))
print(os.cpu_count() > 0, len(sys.path) > 0, timeit.timeit('1+1', number=10) >= 0, time.localtime().tm_year > 2000)
class T(unittest.TestCase):
    def test_ok(self): self.assertEqual(1 + 1, 2)
r = unittest.TextTestRunner(stream=io.StringIO()).run(unittest.defaultTestLoader.loadTestsFromTestCase(T))
print(r.wasSuccessful(), doctest.testmod().failed)
"#,
    );
}

#[test]
fn subprocesses() {
    same(
        "import subprocess, sys\nr = subprocess.run(['echo', 'hi from echo'], capture_output=True, text=True)\nprint(r.stdout, end='')\nr = subprocess.run([sys.executable, '-c', 'print(6 * 7)'], capture_output=True, text=True)\nprint(r.stdout.strip(), r.returncode)\nprint(subprocess.run(['false']).returncode)\n",
    );
}

#[test]
fn merged_stderr_keeps_the_order_and_streams() {
    let sb = sb();
    rt().block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let code = "import sys, time\nprint('one')\nprint('two', file=sys.stderr)\ntime.sleep(0.2)\nprint('three')\n";
        let req = RunRequest { code: code.into(), client: "merge".into(), merge_stderr: true };
        let o = sb.run(req, Some(tx)).await.expect("run");
        assert_eq!(o.stdout, "one\ntwo\nthree\n");
        assert_eq!(o.stderr, "");
        let mut chunks = Vec::new();
        while let Ok(c) = rx.try_recv() {
            chunks.push(c);
        }
        assert!(chunks.len() >= 2, "streamed in pieces: {chunks:?}");
        assert!(chunks.iter().all(|c| matches!(c, Output::Stdout(_))));
    });
}

#[test]
fn streams_stdout_and_stderr_separately() {
    let sb = sb();
    rt().block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let code = "import sys\nprint('out')\nprint('err', file=sys.stderr)\nprint('é' * 5000)\n";
        let req = RunRequest {
            code: code.into(),
            client: "stream".into(),
            merge_stderr: false,
        };
        let o = sb.run(req, Some(tx)).await.expect("run");
        let (mut out, mut err) = (String::new(), String::new());
        while let Ok(c) = rx.try_recv() {
            match c {
                Output::Stdout(s) => out += &s,
                Output::Stderr(s) => err += &s,
            }
        }
        assert_eq!(out, o.stdout);
        assert_eq!(err, "err\n");
        assert!(!out.contains('\u{fffd}'));
    });
}
