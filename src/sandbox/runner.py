# Snakepit's snippet runner. The sandbox starts `python3 -I -S -u` on this
# file ahead of time; it waits on stdin (a SOCK_SEQPACKET socket) for one
# record of options and then the program (UTF-8, ended by EOF), writes it to
# main.py in the run's working directory and runs it as __main__, so
# tracebacks, multiprocessing (fork, spawn and forkserver) and `if __name__
# == "__main__"` behave as under `python3 main.py`. Runner frames never show
# in tracebacks. sys.stdout and sys.stderr then write tagged records back
# through the same socket, so their order is kept (see _tagged_streams).
#
# Multiprocessing needs POSIX semaphores, which glibc keeps in /dev/shm; the
# sandbox forbids writing there (it is shared by every process on the host).
# _install_hooks() replaces _multiprocessing.SemLock with one whose sem_t lives
# in a file of the run's private shm directory, and makes interpreters that
# multiprocessing starts (spawn, forkserver, resource tracker) install it too.
import sys


def _patch_semlock(_multiprocessing, shm):
    import os
    import threading
    import time

    sem_size = 32  # sizeof(sem_t) on 64-bit glibc
    lib = []

    def libc():
        if not lib:
            import ctypes

            c = ctypes.CDLL(None, use_errno=True)
            vp, ip = ctypes.c_void_p, ctypes.c_int
            for fn, args in (("sem_init", (vp, ip, ctypes.c_uint)), ("sem_wait", (vp,)),
                             ("sem_trywait", (vp,)), ("sem_post", (vp,)),
                             ("sem_getvalue", (vp, ctypes.POINTER(ip))),
                             ("sem_timedwait", (vp, vp))):
                getattr(c, fn).argtypes = args
                getattr(c, fn).restype = ip
            lib.append((ctypes, c))
        return lib[0]

    def path(name):
        return os.path.join(shm, "sem." + name.lstrip("/"))

    def fail():
        ctypes, _ = libc()
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))

    def mapping(fd):
        import mmap

        ctypes, _ = libc()
        mm = mmap.mmap(fd, sem_size)
        return mm, ctypes.addressof(ctypes.c_char.from_buffer(mm))

    class SemLock:
        SEM_VALUE_MAX = _multiprocessing.SemLock.SEM_VALUE_MAX

        def __init__(self, kind, value, maxvalue, name, unlink):
            if kind not in (0, 1):
                raise ValueError("unrecognized kind")
            _, c = libc()
            fd = os.open(path(name), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.ftruncate(fd, sem_size)
                mm, addr = mapping(fd)
            finally:
                os.close(fd)
            if c.sem_init(addr, 1, value) < 0:
                fail()
            if unlink:
                os.unlink(path(name))
                name = None
            self._setup(mm, addr, kind, maxvalue, name)

        def _setup(self, mm, addr, kind, maxvalue, name):
            self._mm, self.handle, self.kind = mm, addr, kind
            self.maxvalue, self.name = maxvalue, name
            self._n, self._tid = 0, 0

        @classmethod
        def _rebuild(cls, handle, kind, maxvalue, name):
            self = cls.__new__(cls)
            mm = None
            if name is not None:
                fd = os.open(path(name), os.O_RDWR)
                try:
                    mm, handle = mapping(fd)
                finally:
                    os.close(fd)
            self._setup(mm, handle, kind, maxvalue, name)
            return self

        def _is_mine(self):
            return self._n > 0 and self._tid == threading.get_ident()

        def acquire(self, block=True, timeout=None):
            if self.kind == 0 and self._is_mine():
                self._n += 1
                return True
            ctypes, c = libc()
            if c.sem_trywait(self.handle) < 0:
                if not block:
                    return False
                deadline = None if timeout is None else time.time() + max(timeout, 0)
                while True:
                    if deadline is None:
                        r = c.sem_wait(self.handle)
                    else:
                        ts = (ctypes.c_long * 2)(int(deadline), int((deadline % 1) * 1e9))
                        r = c.sem_timedwait(self.handle, ctypes.addressof(ts))
                    if r == 0:
                        break
                    e = ctypes.get_errno()
                    if e == 110:  # ETIMEDOUT
                        return False
                    if e != 4:  # EINTR: signal handlers run, then retry
                        fail()
            # The owner first, then the count: a thread asking _is_mine() in
            # between sees a count of 0, never a stale owner with a count.
            self._tid = threading.get_ident()
            self._n += 1
            return True

        def release(self):
            if self.kind == 0:
                if not self._is_mine():
                    raise AssertionError("attempt to release recursive lock not owned by thread")
                if self._n > 1:
                    self._n -= 1
                    return
            elif self._get_value() >= self.maxvalue:
                raise ValueError("semaphore or lock released too many times")
            # The bookkeeping before the post: sem_post through ctypes drops
            # the GIL, and a thread waiting in acquire() runs at once (the C
            # original does both under the GIL). Undone should the post fail.
            self._n -= 1
            if libc()[1].sem_post(self.handle) < 0:
                self._n += 1
                fail()

        __enter__ = acquire

        def __exit__(self, *args):
            self.release()

        def _count(self):
            return self._n

        def _get_value(self):
            ctypes, c = libc()
            v = ctypes.c_int()
            if c.sem_getvalue(self.handle, ctypes.byref(v)) < 0:
                fail()
            return v.value

        def _is_zero(self):
            return self._get_value() == 0

        def _after_fork(self):
            self._n = 0

    def sem_unlink(name):
        os.unlink(path(name))

    _multiprocessing.SemLock = SemLock
    _multiprocessing.sem_unlink = sem_unlink


def _read_expr(path):
    # An expression reading `path` as bytes (the source's own encoding, not
    # the locale's) and closing it (no ResourceWarning under -W), binding no
    # name: it runs in other modules' namespaces.
    return "(lambda f: (f.read(), f.close())[0])(open(%r, 'rb'))" % path


def _patch_util(util, shm, runner):
    # Interpreters multiprocessing starts get `-c BOOT` ahead of their own
    # `-c PROG`: BOOT re-runs this file in child mode, which installs the
    # same hooks and then runs PROG as the real `-c` program.
    boot = ("import sys; exec(compile(%s, %r, 'exec'), "
            "{'__name__': '__snakepit_child__', '__file__': %r, 'SHM': %r})"
            ) % (_read_expr(runner), runner, runner, shm)
    flags = util._args_from_interpreter_flags
    util._args_from_interpreter_flags = lambda: flags() + ["-c", boot]


def _patch_posixshmem(m, shm):
    # multiprocessing.shared_memory: the segments become files in `shm`.
    import os

    def path(name):
        return os.path.join(shm, "shm." + name.lstrip("/"))

    m.shm_open = lambda name, flags, mode=0o777: os.open(path(name), flags, mode)
    m.shm_unlink = lambda name: os.unlink(path(name))


def _patch_forkserver(m):
    # The forkserver chmods its socket (already in a private directory);
    # when the server is not root the sandbox refuses chmod altogether.
    import os

    class Os:
        def __getattr__(self, name):
            return getattr(os, name)

        @staticmethod
        def chmod(*args, **kwargs):
            try:
                os.chmod(*args, **kwargs)
            except PermissionError:
                pass

    m.os = Os()


def _install_hooks(shm, runner):
    """Patches multiprocessing's modules as they are first imported, so a
    program that never uses multiprocessing pays nothing for it."""
    hooks = {
        "_multiprocessing": lambda m: _patch_semlock(m, shm),
        "multiprocessing.util": lambda m: _patch_util(m, shm, runner),
        # Value/Array arenas would also go to /dev/shm.
        "multiprocessing.heap": lambda m: setattr(m.Arena, "_dir_candidates", [shm]),
        "_posixshmem": lambda m: _patch_posixshmem(m, shm),
        "multiprocessing.forkserver": _patch_forkserver,
    }

    class Loader:
        def __init__(self, loader, hook):
            self.loader, self.hook = loader, hook

        def create_module(self, spec):
            return self.loader.create_module(spec)

        def exec_module(self, module):
            self.loader.exec_module(module)
            self.hook(module)

    class Finder:
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            hook = hooks.get(name)
            if hook is None:
                return None
            for finder in sys.meta_path:
                if finder is not cls and hasattr(finder, "find_spec"):
                    spec = finder.find_spec(name, path, target)
                    if spec is not None:
                        spec.loader = Loader(spec.loader, hook)
                        return spec
            return None

    sys.meta_path.insert(0, Finder)


def _site_builtins():
    # The interpreter runs with -S (no site-packages: the standard library
    # only, and a faster start); these are the builtins `site` would add.
    import _sitebuiltins
    import builtins

    eof = "Ctrl-D (i.e. EOF)"
    builtins.exit = _sitebuiltins.Quitter("exit", eof)
    builtins.quit = _sitebuiltins.Quitter("quit", eof)
    builtins.copyright = _sitebuiltins._Printer("copyright", sys.copyright)
    builtins.credits = _sitebuiltins._Printer(
        "credits", "    Thanks to CWI, CNRI, BeOpen.com, Zope Corporation and a cast of thousands\n"
        "    for supporting Python development.  See www.python.org for more information.")
    builtins.license = _sitebuiltins._Printer("license", "See https://www.python.org/psf/license/")
    builtins.help = _sitebuiltins._Helper()


def _exit_status(exc):
    # As the interpreter treats an uncaught SystemExit.
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stdout.flush()
    print(code, file=sys.stderr)
    return 1


def _finish(status):
    # What interpreter shutdown does that a program can observe, in the
    # order Py_FinalizeEx does it: wait for non-daemon threads, run atexit
    # handlers (multiprocessing and logging clean up there), drop sys.path,
    # sys.last_* (the uncaught exception's traceback) and the import
    # machinery, drop __main__ (reachable only from sys.modules by now) and
    # collect: __del__ methods and "never awaited" warnings appear as they
    # would. Then flush and skip the slow teardown of every module: the
    # process is single-use, and this halves the time a short run takes.
    #
    # The steps run as one line of code named as CPython names the frameless
    # place of a real shutdown, so warnings raised there read the same:
    # "sys:1: ..." up to 3.12, "<sys>:0: ..." in current 3.13 releases and 3.14+.
    import atexit
    import gc
    import os

    steps = compile(
        "t is None or t._shutdown(); a._run_exitfuncs(); "
        "[setattr(s, n, None) for n in S if hasattr(s, n)]; "
        "s.modules['__main__'] = None; g.collect()",
        "sys" if sys.version_info < (3, 13) else "<sys>",
        "exec",
    )
    if sys.version_info >= (3, 13):
        steps = steps.replace(co_firstlineno=0)
    special = ("path", "argv", "ps1", "ps2", "last_exc", "last_type", "last_value",
               "last_traceback", "path_hooks", "path_importer_cache", "meta_path")
    names = {"t": sys.modules.get("threading"), "a": atexit, "g": gc, "s": sys, "S": special}
    try:
        exec(steps, names)
    except BaseException:  # e.g. KeyboardInterrupt while joining threads
        pass
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(status)


def _child():
    # argv: ['-c', '-c', PROG, ...args] → run PROG with argv ['-c', ...args].
    _site_builtins()
    _install_hooks(SHM, __file__)  # noqa: F821 (given by BOOT)
    _metadata_through_fds(__file__)
    prog = sys.argv[2]
    sys.argv[:] = ["-c"] + sys.argv[3:]
    main = sys.modules["__main__"]
    exec(compile(prog, "<string>", "exec"), main.__dict__)


def _user_site_hook(shm, runner):
    # Interpreters the program starts itself (`subprocess.run([sys.executable,
    # ...])`) run `site`, which reads *.pth files in the user's site-packages
    # under HOME (the run's own, beside its working directory). One line
    # there installs the same hooks, so multiprocessing works in them too.
    # An interpreter started with -I, -s or -S skips it (see the README).
    import os
    import sysconfig

    scheme = "posix_user" if os.name == "posix" else "nt_user"
    try:
        site_dir = sysconfig.get_path("purelib", scheme)
        os.makedirs(site_dir, exist_ok=True)
        line = ("import sys; exec(compile(%s, %r, 'exec'), "
                "{'__name__': '__snakepit_site__', '__file__': %r, 'SHM': %r})\n"
                ) % (_read_expr(runner), runner, runner, shm)
        with open(os.path.join(site_dir, "_snakepit_run.pth"), "w") as f:
            f.write(line)
    except OSError:
        pass


def _tagged_streams(chan, merge):
    # The program's sys.stdout and sys.stderr write through one ordered
    # channel to the server (the SOCK_SEQPACKET socket that brought the
    # code): every write is one record tagged b"1" (stdout) or b"2" (stderr),
    # so the page shows them in the order written while keeping them apart.
    # What is written at the C level (os.write(1, ...), other programs) still
    # goes to the plain pipes of fds 1 and 2, which fileno() names.
    import io
    import os

    class Tagged(io.RawIOBase):
        def __init__(self, tag, fd, name):
            self._tag, self._fd, self.name, self.mode = tag, fd, name, "wb"

        def write(self, b):
            data = memoryview(b).cast("B")
            for i in range(0, len(data), 32768):
                os.write(chan, self._tag + data[i:i + 32768].tobytes())
            return len(data)

        def fileno(self):
            return self._fd

        def writable(self):
            return True

    streams = []
    for tag, fd, name, errors in ((b"1", 1, "<stdout>", sys.stdout.errors),
                                  (b"1" if merge else b"2", 2, "<stderr>", sys.stderr.errors)):
        streams.append(io.TextIOWrapper(Tagged(tag, fd, name), encoding=sys.stdout.encoding,
                                        errors=errors, line_buffering=False, write_through=True))
    return streams


def _metadata_through_fds(runner):
    # When the server is not root, runs share its uid, and seccomp refuses
    # chmod, chown and utime by path: Landlock does not govern them, and they
    # could reach the server's own files. Through a descriptor they are
    # allowed (unless the interpreter itself belongs to that uid): the file
    # must be opened first, and Landlock decides what opens. So calls by path
    # refused with EPERM are retried on a descriptor; what cannot be opened
    # (a symlink itself, a file without read permission) gets an error that
    # says why.
    import errno
    import os

    if os.stat(runner).st_uid != os.getuid():
        return  # a uid of its own: nothing is refused
    why = ("Operation not permitted: with a non-root server, runs share its uid and the "
           "sandbox allows chmod, chown and utime only on files the run can open")

    def wrap(fn, by_fd):
        def call(path, *args, dir_fd=None, follow_symlinks=True, **kwargs):
            kw = dict(kwargs)
            if dir_fd is not None:
                kw["dir_fd"] = dir_fd
            if not follow_symlinks:
                kw["follow_symlinks"] = False
            try:
                return fn(path, *args, **kw)
            except PermissionError as e:
                if e.errno != errno.EPERM or isinstance(path, int):
                    raise
                if dir_fd is not None or (not follow_symlinks and os.path.islink(path)):
                    raise PermissionError(errno.EPERM, why, path) from None
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError:
                    raise PermissionError(errno.EPERM, why, path) from None
                try:
                    return by_fd(fd, *args, **kwargs)
                finally:
                    os.close(fd)
        call.__name__, call.__qualname__, call.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        call.__module__ = fn.__module__
        return call

    os.chmod = wrap(os.chmod, os.fchmod)
    os.chown = wrap(os.chown, os.fchown)
    os.utime = wrap(os.utime, os.utime)
    lchown = os.lchown

    def lchown_(path, *args):
        try:
            return lchown(path, *args)
        except PermissionError as e:
            if e.errno != errno.EPERM:
                raise
            raise PermissionError(errno.EPERM, why, path) from None
    lchown_.__name__, lchown_.__qualname__, lchown_.__doc__ = "lchown", "lchown", lchown.__doc__
    os.lchown = lchown_


def _run():
    import builtins
    import os

    # Warm-up, before the program arrives: the run's private shm directory
    # sits beside the working directory.
    _site_builtins()
    runner = os.path.abspath(__file__)
    shm = os.path.join(os.path.dirname(os.getcwd()), "shm")
    if os.path.isdir(shm):
        _install_hooks(shm, runner)
        _user_site_hook(shm, runner)
    # Pay now for what every run would pay first: the parser's first use
    # (~0.5 ms), creating main.py, and a full collection of the runner's own
    # objects, frozen so the collection at the end scans only the program's.
    import gc

    compile("pass\n", "main.py", "exec")
    main_path = os.path.join(os.getcwd(), "main.py")
    main_file = open(main_path, "w", encoding="utf-8")
    from importlib.machinery import SourceFileLoader

    chan = _private_fd(0)
    gc.collect()
    gc.freeze()
    # Tell the server this interpreter is warm: it hands out warm ones only.
    sys.stdout.buffer.write(b"SNAKEPIT-READY\n")
    sys.stdout.buffer.flush()
    # stdin is a SOCK_SEQPACKET socket: one record of options
    # ("merge_stderr=1 same_uid=1"), then the program in records, then EOF.
    # It stays the output channel; the program's stdin is at EOF, as before.
    records = []
    while True:
        r = os.read(chan, 1 << 16)
        if not r:
            break
        records.append(r)
    options = records[0].decode("utf-8", "replace").split() if records else []
    source = b"".join(records[1:]).decode("utf-8")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    merge = "merge_stderr=1" in options
    if merge:
        os.dup2(1, 2)  # C-level writes: one pipe, in order
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__ = _tagged_streams(chan, merge)
    _metadata_through_fds(runner)
    del options, shm, gc, records, null, merge
    with main_file:
        main_file.write(source)
    del main_file
    sys.argv = ["main.py"]
    sys.path.insert(0, os.getcwd())
    # As `python3 main.py` sets up __main__, but __file__ and tracebacks keep
    # the short name: an absolute one would show the server's paths on the
    # page (doctest reports, programs printing __file__).
    main = type(sys)("__main__")
    main.__file__ = "main.py"
    main.__cached__ = None
    main.__loader__ = SourceFileLoader("__main__", main_path)
    main.__spec__ = None
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    del main_path, SourceFileLoader, runner, chan
    status, code = 0, None
    try:
        code = compile(source, "main.py", "exec")
        exec(code, main.__dict__)
    except SystemExit as exc:
        status = _exit_status(exc)
    except BaseException as exc:  # report like the interpreter's own hook
        tb = exc.__traceback__
        # Drop this runner's frame; keep the program's own frames.
        if tb is not None and tb.tb_frame.f_code is _run.__code__:
            tb = tb.tb_next
        sys.stdout.flush()
        # As the interpreter does: the exception stays reachable from sys.last_*
        # until shutdown (what it keeps alive is finalized late).
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
        if sys.version_info >= (3, 12):
            sys.last_exc = exc
        # The interpreter's own hook, so 3.11's "Did you mean" hints appear as they do
        # under `python3 main.py` (and a hook the program installed is honoured).
        # The hook prints the exception's own __traceback__, so trim that too.
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        sys.stderr.flush()
        status = 1
        del exc, tb
    # Returning drops this frame's references: __main__ is then reachable
    # from sys.modules only, as at the end of `python3 main.py`.
    return status


def _private_fd(fd):
    # Moves `fd` out of the program's way: to the highest number the open
    # files limit allows, so the program's own files get the numbers they
    # would under plain python; not inherited by programs it executes.
    import fcntl
    import os

    top = os.sysconf("SC_OPEN_MAX") - 1
    try:
        new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, max(top, 3))
    except OSError:
        new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    return new


if __name__ == "__snakepit_child__":
    _child()
elif __name__ == "__snakepit_site__":
    _install_hooks(SHM, __file__)  # noqa: F821 (given by the .pth line)
    _metadata_through_fds(__file__)
else:
    _finish(_run())
