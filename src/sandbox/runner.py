# Snakepit's snippet runner. The sandbox starts `python3 -I -u` on this file
# ahead of time; it waits on stdin for one program (UTF-8, ended by EOF), writes
# it to main.py in the run's scratch directory and runs it as __main__, so
# tracebacks, multiprocessing (fork and spawn) and `if __name__ == "__main__"`
# behave as under `python3 main.py`. Runner frames never show in tracebacks.
import sys


def _run():
    import builtins
    import os
    import types

    # The program arrives on stdin; once it is read, stdin stays at EOF for the program.
    source = sys.stdin.buffer.read().decode("utf-8")
    with open("main.py", "w", encoding="utf-8") as f:
        f.write(source)
    sys.argv = ["main.py"]
    sys.path.insert(0, os.getcwd())
    main = types.ModuleType("__main__")
    main.__file__ = "main.py"
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    try:
        code = compile(source, "main.py", "exec")
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:  # report like the interpreter's own hook
        tb = exc.__traceback__
        # Drop this runner's frame; keep the program's own frames.
        if tb is not None and tb.tb_frame.f_code is _run.__code__:
            tb = tb.tb_next
        sys.stdout.flush()
        # The interpreter's own hook, so 3.11's "Did you mean" hints appear as they do
        # under `python3 main.py` (and a hook the program installed is honoured).
        # The hook prints the exception's own __traceback__, so trim that too.
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        sys.stderr.flush()
        sys.exit(1)


_run()
