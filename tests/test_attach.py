"""python -m pytracemalloc attach / detach: tracing a running CPython
process started without tracing, through sys.remote_exec (3.14+) and
through Debian's gdb (every version; ``make gdb``, which ``make test``
runs, installs it), on this interpreter.

The target is a real process: an untraced program that leaks at a known
line.  Every process started here has a deadline.
"""

import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from pytracemalloc import Snapshot

from test_endpoint import child_env, get, parse_metrics

TIMEOUT = 90
GDB = shutil.which("gdb")
REMOTE_EXEC = hasattr(sys, "remote_exec")
METHODS = [pytest.param("gdb", marks=pytest.mark.skipif(
               GDB is None, reason="Debian's gdb is not installed (make gdb, "
                                   "which make test runs, installs it)")),
           pytest.param("remote-exec", marks=pytest.mark.skipif(
               not REMOTE_EXEC, reason="sys.remote_exec is CPython 3.14+"))]

# Leaks at line 4 until it reads "quit" in its ready file's neighbour,
# then prints whether it still traces and the tracer's memory, and exits
# with status 4.
TARGET = textwrap.dedent("""\
    import os, sys, threading, time, gc
    stop = sys.argv[1]
    def leak(n):
        return [bytearray(1000) for _ in range(n)]  # leaking line
    kept = []
    def churn():  # other threads allocate meanwhile, and the collector runs
        while not os.path.exists(stop):
            junk = [{"a": [1.0, 2.0]} for _ in range(200)]
            gc.collect(0)
    threads = [threading.Thread(target=churn) for _ in range(int(sys.argv[2]))]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    while not os.path.exists(stop):
        kept.append(leak(50))
        time.sleep(0.005)
    for thread in threads:
        thread.join()
    tracer = sys.modules.get("pytracemalloc")
    print("tracing", bool(tracer and tracer.is_enabled()),
          tracer.get_tracemalloc_memory() if tracer else 0, flush=True)
    sys.exit(4)
    """)
LEAK_LINE = 4


class Target:
    def __init__(self, tmp_path, threads=2, env=None, code=TARGET):
        self.script = tmp_path / "target.py"
        self.script.write_text(code)
        self.stop_file = tmp_path / "stop"
        self.process = subprocess.Popen(
            [sys.executable, str(self.script), str(self.stop_file),
             str(threads)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env or child_env(), cwd=str(tmp_path))
        self.pid = self.process.pid
        assert self.process.stdout.readline() == "ready\n"

    def finish(self):
        self.stop_file.write_text("")
        try:
            out, err = self.process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail("the target did not finish in %d s" % TIMEOUT)
        return self.process.returncode, out, err

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)


@pytest.fixture
def target(tmp_path):
    made = []

    def make(**options):
        made.append(Target(tmp_path, **options))
        return made[-1]
    yield make
    for one in made:
        one.kill()


def pytracemalloc_command(*args, env=None, timeout=TIMEOUT):
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytracemalloc", *args],
            capture_output=True, text=True, timeout=timeout,
            env=env or child_env())
    except subprocess.TimeoutExpired:
        pytest.fail("python -m pytracemalloc %s did not finish in %d s"
                    % (" ".join(args), timeout))


def leaking_line_first(path, script):
    top = Snapshot.load(str(path)).statistics("lineno")[0]
    frame = top.traceback[0]
    return (frame.filename, frame.lineno) == (str(script), LEAK_LINE), top


@pytest.mark.parametrize("method", METHODS)
def test_attach_for_a_duration_then_detach(tmp_path, target, method):
    # GIVEN an untraced program leaking at a known line, with threads that
    # allocate and run the collector
    program = target(threads=4)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # WHEN attach traces it for one second
    result = pytracemalloc_command(
        "attach", str(program.pid), "--duration", "1", "-o", str(out_dir),
        "--method", method)
    # THEN attach says so and exits 0
    assert result.returncode == 0, result.stderr
    assert ("tracing process %d" % program.pid) in result.stdout
    assert "no longer traced; snapshot: " in result.stdout
    # AND the snapshot it wrote has the leaking line first
    files = list(out_dir.iterdir())
    assert len(files) == 1
    first, top = leaking_line_first(files[0], program.script)
    assert first, top
    assert top.size > 100 * 1000
    # AND the program finishes with its own status and output, no longer
    # tracing, the tracer's tables freed
    status, out, err = program.finish()
    assert status == 4, err
    tracing, memory = out.split()[1:]
    assert tracing == "False"
    assert int(memory) < 1024 * 1024
    assert err == ""


# Leaks native memory (malloc in a C extension) at line 4.
NATIVE_TARGET = textwrap.dedent("""\
    import os, sys, time
    import native_blocks
    def leak():
        return native_blocks.alloc("malloc", 10000)  # leaking line
    kept = []
    print("ready", flush=True)
    while not os.path.exists(sys.argv[1]):
        kept.append(leak())
        time.sleep(0.002)
    sys.exit(4)
    """)


@pytest.mark.parametrize("method", METHODS)
def test_attach_native_sees_a_c_library_leak(tmp_path, target, method):
    # GIVEN an untraced program whose C extension leaks from malloc
    from extbuild import ROOT, build_extension
    ext = build_extension("native_blocks", os.path.join(
        ROOT, "tests", "ext", "native_blocks.c"), tmp_path)
    program = target(threads=0, code=NATIVE_TARGET,
                     env=child_env(PYTHONPATH=ext))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # WHEN attach traces it, native memory too, for one second
    result = pytracemalloc_command(
        "attach", str(program.pid), "--native", "--duration", "1", "-o",
        str(out_dir), "--method", method)
    assert result.returncode == 0, result.stderr
    assert "native memory too" in result.stdout
    # THEN its snapshot is native and has the leaking line first, in the
    # native domain
    (path,) = out_dir.iterdir()
    snapshot = Snapshot.load(str(path))
    assert snapshot.native is True
    first, top = leaking_line_first(path, program.script)
    assert first, top
    assert top.size >= 10 * 10000
    assert 0x4E415456 in snapshot.domain_totals()
    status, _, err = program.finish()
    assert status == 4, err


@pytest.mark.parametrize("method", METHODS)
def test_attach_serves_and_detach_stops(tmp_path, target, method):
    program = target()
    result = pytracemalloc_command("attach", str(program.pid), "--http", "0",
                                   "--nframe", "3", "--method", method)
    assert result.returncode == 0, result.stderr
    url = result.stdout.split("serving on ")[1].split()[0]
    # The endpoint serves the leaking line, and it grows: wait until it
    # holds more than importing pytracemalloc into the target did (some
    # 500 KiB on 3.14), so that it is the snapshot's first line
    label = 'file="%s",line="%d"' % (program.script, LEAK_LINE)
    deadline = time.monotonic() + TIMEOUT
    while True:
        values = parse_metrics(get(url + "/metrics")[2].decode())
        if values.get(("pytracemalloc_line_bytes", label), 0) > 2 * 1000 ** 2:
            break
        assert time.monotonic() < deadline, values
        time.sleep(0.1)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = pytracemalloc_command("detach", str(program.pid), "-o",
                                   str(out_dir), "--method", method)
    assert result.returncode == 0, result.stderr
    (snapshot,) = out_dir.iterdir()
    assert leaking_line_first(snapshot, program.script)[0]
    assert Snapshot.load(str(snapshot)).traceback_limit == 3
    with pytest.raises(OSError):
        get(url + "/metrics")  # the endpoint is closed
    status, out, err = program.finish()
    assert (status, out.split()[1]) == (4, "False"), err


def test_a_blocked_target_is_left_alone(tmp_path):
    # GIVEN a program blocked in a system call, running no Python code
    code = textwrap.dedent("""\
        import sys, time
        print("ready", flush=True)
        time.sleep(float(sys.argv[2]))
        tracer = sys.modules.get("pytracemalloc")
        print("tracing", bool(tracer and tracer.is_enabled()), flush=True)
        sys.exit(5)
        """)
    program = Target(tmp_path, threads=6, code=code)
    try:
        method = "remote-exec" if REMOTE_EXEC else "gdb"
        if method == "gdb" and GDB is None:
            pytest.skip("gdb is not installed")
        # WHEN attach is given 1.5 s
        started = time.monotonic()
        result = pytracemalloc_command("attach", str(program.pid),
                                       "--timeout", "1.5")
        # THEN it fails within its deadline, saying why
        assert result.returncode == 1
        assert time.monotonic() - started < 30
        assert result.stderr.startswith(
            "python -m pytracemalloc attach: error: process %d"
            % program.pid), result.stderr
        # AND the program wakes, finishes as it would have, untraced (a
        # loader that runs after its deadline does nothing)
        out, err = program.process.communicate(timeout=TIMEOUT)
        assert program.process.returncode == 5, err
        assert out == "tracing False\n"
        assert err == ""
    finally:
        program.kill()


def test_a_process_tracing_already_is_refused(tmp_path, target):
    program = target(env=child_env(PYTRACEMALLOC="1"))
    result = pytracemalloc_command("attach", str(program.pid))
    assert result.returncode == 1
    assert "traces already" in result.stderr
    status, out, err = program.finish()
    assert (status, out.split()[1]) == (4, "True"), err


def test_a_process_importing_another_version_is_refused(tmp_path, target):
    code = TARGET.replace(
        "import os, sys, threading, time, gc\n",
        "import os, sys, threading, time, gc, types\n"
        "fake = types.ModuleType('pytracemalloc'); fake.__version__ = '0.1'\n"
        "fake.is_enabled = lambda: False\n"
        "fake.get_tracemalloc_memory = lambda: 0\n"
        "sys.modules['pytracemalloc'] = fake\n", 1)
    program = target(code=code)
    result = pytracemalloc_command("attach", str(program.pid))
    assert result.returncode == 1
    assert "imports pytracemalloc 0.1" in result.stderr, result.stderr
    status, out, err = program.finish()
    assert status == 4 and err == ""


def test_errors_are_one_line_and_a_status(tmp_path):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        cases = [
            (["attach", "999999"], 1, "no process 999999"),
            (["attach", str(sleeper.pid)], 1, "is not a CPython process"),
            (["attach", str(os.getpid()), "--duration", "1"], 2,
             "--duration needs -o DIR"),
            (["attach", "12", "--nframe", "0"], 2, "--nframe"),
            (["detach", "12", "--native"], 2, "unknown option --native"),
            (["attach", "12", "--method", "ptrace"], 2, "--method"),
            (["attach"], 2, "expected one PID"),
            (["detach", "12", "--http", "0"], 2, "unknown option --http"),
        ]
        for args, status, text in cases:
            result = pytracemalloc_command(*args)
            assert result.returncode == status, (args, result.stderr)
            assert text in result.stderr, (args, result.stderr)
            assert result.stderr.startswith(
                "python -m pytracemalloc %s: error: " % args[0])
    finally:
        sleeper.kill()
        sleeper.wait(TIMEOUT)


def test_without_gdb_the_error_says_so(tmp_path, target):
    program = target()
    empty = tmp_path / "empty-path"
    empty.mkdir()
    env = child_env(PATH=str(empty))
    result = pytracemalloc_command("attach", str(program.pid), "--method",
                                   "gdb", env=env)
    assert result.returncode == 1
    assert "needs gdb" in result.stderr
    status, out, err = program.finish()
    assert (status, out.split()[1]) == (4, "False")


def test_help():
    result = pytracemalloc_command("attach", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m pytracemalloc attach")
