"""python -m pytracemalloc run: a program traced from its first line, its
exit status, its children, and the dispatch of the subcommands."""

import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import pytracemalloc
from pytracemalloc.snapshot import Snapshot

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Children import the pytracemalloc this process imported (a source tree
# with its built engine, or site-packages).
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(
    pytracemalloc.__file__)))
TIMEOUT = 60


def child_env():
    env = dict(os.environ)
    # the children import this tree, not an installed copy
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [PACKAGE_PARENT, os.environ.get("PYTHONPATH")]))
    for name in ("PYTRACEMALLOC", "PYTRACEMALLOC_RUN_DIR",
                 "PYTRACEMALLOC_RUN_EVERY", "PYTRACEMALLOC_SAMPLE_BYTES"):
        env.pop(name, None)
    return env


def run(tmp_path, *args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "pytracemalloc", *args], cwd=tmp_path,
        env=child_env(), capture_output=True, text=True, timeout=TIMEOUT,
        **kwargs)


def write(tmp_path, name, source):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def snapshots(directory, pattern="*.snapshot"):
    return sorted(glob.glob(os.path.join(str(directory), pattern)))


def line_size(snapshot, filename, lineno):
    return snapshot.stats.get(str(filename), {}).get(lineno, (0, 0))[0]


# A module-level line that keeps 400 blocks of 1000 bytes until exit.
HOLDER = """\
import sys
KEEP = [bytearray(1000) for _ in range(400)]   # line 2
"""


def test_a_script_runs_as_python_runs_it_and_its_first_lines_are_traced(
        tmp_path):
    # GIVEN a script that reports what python gives a script, and holds
    # memory on its second line
    script = write(tmp_path, "sub/prog.py", HOLDER + """\
import os
print(repr(sys.argv), __name__, __file__, sys.path[0], type(__builtins__).__name__,
      __spec__ is None, sep="|")
""")
    # WHEN it runs under `run` with arguments
    result = run(tmp_path, "run", "--top", "0", "-o", "out", "sub/prog.py",
                 "a b", "--top", "-c")
    # THEN it saw what python gives, and its final snapshot holds line 2
    assert result.returncode == 0, result.stderr
    argv, name, file, path0, builtins, spec_none = \
        result.stdout.strip().split("|")
    assert builtins == "module"
    assert argv == repr(["sub/prog.py", "a b", "--top", "-c"])
    assert name == "__main__"
    assert file == str(script)
    assert path0 == str(script.parent)
    assert spec_none == "True"
    [final] = snapshots(tmp_path / "out")
    snapshot = Snapshot.load(final)
    assert os.path.basename(final) == "%d-final.snapshot" % snapshot.pid
    assert line_size(snapshot, script, 2) >= 400 * 1000
    assert "final snapshot written into %s" % final in result.stderr


def test_the_default_directory_is_named_after_the_program_and_printed(
        tmp_path):
    write(tmp_path, "prog.py", HOLDER)
    result = run(tmp_path, "run", "--top", "0", "prog.py")
    assert result.returncode == 0, result.stderr
    [directory] = glob.glob(str(tmp_path / "pytracemalloc-prog-*"))
    assert "writing snapshots into %s" % directory in result.stderr
    assert len(snapshots(directory)) == 1


def test_the_top_lines_are_printed_on_stderr_at_exit(tmp_path):
    write(tmp_path, "prog.py", HOLDER)
    result = run(tmp_path, "run", "--top", "2", "-o", "out", "prog.py")
    assert result.returncode == 0, result.stderr
    assert "Top 2 allocations per file and line" in result.stderr
    first = [line for line in result.stderr.splitlines()
             if line.startswith("#1:")]
    assert first and "prog.py:2:" in first[0]
    assert result.stdout == ""


def test_a_module_runs_with_m_semantics(tmp_path):
    write(tmp_path, "pkg/__init__.py", "")
    module = write(tmp_path, "pkg/tool.py", HOLDER + """\
print(repr(sys.argv), __name__, __spec__.name, sys.path[0], sep="|")
""")
    result = run(tmp_path, "run", "--top=0", "-o", "out", "-m", "pkg.tool",
                 "x", "-m")
    assert result.returncode == 0, result.stderr
    argv, name, spec, path0 = result.stdout.strip().split("|")
    assert argv == repr([str(module), "x", "-m"])
    assert (name, spec, path0) == ("__main__", "pkg.tool", str(tmp_path))
    snapshot = Snapshot.load(snapshots(tmp_path / "out")[0])
    assert line_size(snapshot, module, 2) >= 400 * 1000


def test_a_missing_module_fails_as_python_does(tmp_path):
    result = run(tmp_path, "run", "--top=0", "-o", "out", "-m", "no_such_mod")
    assert result.returncode == 1
    assert "No module named no_such_mod" in result.stderr


def test_code_runs_with_c_semantics(tmp_path):
    result = run(tmp_path, "run", "--top=0", "-o", "out", "-c",
                 "import sys; keep = [bytearray(1000) for _ in range(400)]; "
                 "print(sys.argv, __name__, repr(sys.path[0]))", "arg")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['-c', 'arg'] __main__ ''\n"
    snapshot = Snapshot.load(snapshots(tmp_path / "out")[0])
    assert line_size(snapshot, "<string>", 1) >= 400 * 1000


@pytest.mark.parametrize("code, status", [
    ("sys.exit(7)", 7),
    ("sys.exit(0)", 0),
    ("sys.exit()", 0),
    ("raise SystemExit(None)", 0),
])
def test_the_exit_status_is_the_programs(tmp_path, code, status):
    write(tmp_path, "prog.py", HOLDER + code + "\n")
    result = run(tmp_path, "run", "--top=0", "-o", "out", "prog.py")
    assert result.returncode == status, result.stderr
    assert len(snapshots(tmp_path / "out")) == 1


def test_sys_exit_with_a_message_prints_it_and_exits_1(tmp_path):
    write(tmp_path, "prog.py", HOLDER + "sys.exit('it went wrong')\n")
    result = run(tmp_path, "run", "--top=0", "-o", "out", "prog.py")
    assert result.returncode == 1
    assert "it went wrong" in result.stderr


def test_an_uncaught_exception_prints_the_programs_traceback_only(tmp_path):
    script = write(tmp_path, "prog.py", HOLDER + """\
def fail():
    raise ValueError("boom")
fail()
""")
    result = run(tmp_path, "run", "--top=0", "-o", "out", "prog.py")
    assert result.returncode == 1
    traceback = result.stderr[result.stderr.index("Traceback"):]
    assert 'File "%s", line 5, in <module>' % script in traceback
    assert "ValueError: boom" in traceback
    # none of our frames: the first frame is the program's
    assert "run.py" not in traceback and "runpy" not in traceback
    assert len(snapshots(tmp_path / "out")) == 1


def test_a_syntax_error_is_reported_as_python_reports_it(tmp_path):
    write(tmp_path, "prog.py", "x = (\n")
    result = run(tmp_path, "run", "--top=0", "-o", "out", "prog.py")
    assert result.returncode == 1
    assert "SyntaxError" in result.stderr
    assert "prog.py" in result.stderr


def test_the_programs_atexit_handlers_and_threads_run_before_the_final(
        tmp_path):
    # GIVEN a program whose non-daemon thread and atexit handler allocate
    # after its last line
    script = write(tmp_path, "prog.py", """\
import atexit, threading, time
late = []
def worker():
    time.sleep(0.2)
    late.append([bytearray(1000) for _ in range(300)])    # line 5
atexit.register(lambda: late.append([bytearray(1000) for _ in range(200)]))
threading.Thread(target=worker).start()
""")
    result = run(tmp_path, "run", "--top=0", "-o", "out", "prog.py")
    assert result.returncode == 0, result.stderr
    snapshot = Snapshot.load(snapshots(tmp_path / "out")[0])
    # THEN the final snapshot holds both
    assert line_size(snapshot, script, 5) >= 300 * 1000
    assert line_size(snapshot, script, 6) >= 200 * 1000


def test_periodic_snapshots(tmp_path):
    write(tmp_path, "prog.py", """\
import time
keep = []
end = time.monotonic() + 1.0
while time.monotonic() < end:
    keep.append(bytearray(1000))
    time.sleep(0.001)
""")
    result = run(tmp_path, "run", "--top=0", "--snapshot-every", "0.1",
                 "-o", "out", "prog.py")
    assert result.returncode == 0, result.stderr
    periodic = snapshots(tmp_path / "out", "*-0*.snapshot")
    assert len(periodic) >= 3, result.stderr
    sizes = [sum(size for lines in Snapshot.load(p).stats.values()
                 for size, _ in lines.values()) for p in periodic]
    assert sizes[-1] > sizes[0]   # the program's list grows between them
    assert len(snapshots(tmp_path / "out", "*-final.snapshot")) == 1


def wait_for(path, process):
    deadline = time.monotonic() + TIMEOUT
    while not os.path.exists(path):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate(timeout=TIMEOUT)
            pytest.fail("the program never got ready: %s" % err)
        time.sleep(0.02)


SLEEPER = HOLDER + """\
import time
open("ready", "w").close()
time.sleep(60)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_writes_the_snapshot_then_kills_as_python_would(
        tmp_path, signum):
    # GIVEN a traced program that holds memory and sleeps
    script = write(tmp_path, "prog.py", SLEEPER)
    # (SIGINT as a terminal gives it: a test run started in the background
    # of a shell without job control would hand the child an ignored one)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytracemalloc", "run", "--top=1", "-o", "out",
         "prog.py"], cwd=tmp_path, env=child_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for(tmp_path / "ready", process)
    # WHEN it gets the signal
    process.send_signal(signum)
    out, err = process.communicate(timeout=TIMEOUT)
    # THEN it died of that signal, as python would, after the snapshot
    assert process.returncode == -signum, err
    if signum == signal.SIGINT:
        assert "KeyboardInterrupt" in err
    [final] = snapshots(tmp_path / "out")
    assert line_size(Snapshot.load(final), script, 2) >= 400 * 1000
    assert "Top 1 allocations" in err


CHILDREN = HOLDER + """\
import multiprocessing, os, subprocess

def child():
    global KEPT
    KEPT = [bytearray(1000) for _ in range(500)]          # line 7

if __name__ == "__main__":
    method = sys.argv[1]
    if method == "subprocess":
        subprocess.run([sys.executable, __file__, "child"], check=True,
                       timeout=60)
    elif method == "child":
        child()
    else:
        process = multiprocessing.get_context(method).Process(target=child)
        process.start()
        process.join(60)
        assert process.exitcode == 0, process.exitcode
        print(process.pid)
    print(os.getpid())
"""


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver",
                                    "subprocess"])
def test_each_python_child_writes_its_own_snapshot(tmp_path, method):
    from pytracemalloc import run as run_module
    if method != "fork" and not run_module._startup_hook_installed():
        pytest.skip("pytracemalloc-startup.pth is not in site-packages: "
                    "children that start a new interpreter are not traced")
    # GIVEN a program whose child holds memory on line 7 until it exits
    script = write(tmp_path, "prog.py", CHILDREN)
    # WHEN it runs under `run`
    result = run(tmp_path, "run", "--top=0", "-o", "out", "prog.py", method)
    assert result.returncode == 0, result.stderr
    pids = [int(line) for line in result.stdout.split()]
    parent = pids[-1]
    # THEN the child wrote its own final snapshot, tagged with its pid,
    # holding its line 7, and the parent's has no such line
    loaded = {}
    deadline = time.monotonic() + TIMEOUT
    while True:
        loaded = {Snapshot.load(p).pid: Snapshot.load(p)
                  for p in snapshots(tmp_path / "out", "*-final.snapshot")}
        children = [pid for pid, s in loaded.items()
                    if pid != parent and line_size(s, script, 7)]
        if children or time.monotonic() > deadline:
            break
        time.sleep(0.1)   # a forkserver child may outlive its join()
    assert parent in loaded
    assert len(children) == 1, sorted(loaded)
    [child] = children
    if method != "subprocess":
        assert child == pids[0]
    assert line_size(loaded[child], script, 7) >= 500 * 1000
    assert line_size(loaded[parent], script, 7) == 0
    assert os.path.exists(tmp_path / "out" / ("%d-final.snapshot" % child))
    assert "tracemalloc enabled" not in result.stderr


def test_the_html_report_is_written_at_exit_when_the_command_exists(
        tmp_path):
    write(tmp_path, "prog.py", HOLDER)
    result = run(tmp_path, "run", "--top=0", "-o", "out", "--html",
                 "report.html", "prog.py")
    try:
        import pytracemalloc.report  # noqa: F401
    except ImportError:
        assert result.returncode == 2
        assert "--html needs the report command" in result.stderr
        assert not os.path.exists(tmp_path / "out")
        return
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report.html").stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    ([], "no program to run"),
    (["--nframe", "0", "x.py"], "--nframe: expected a number from 1"),
    (["--nframe", "many", "x.py"], "not a whole number"),
    (["--top", "-1", "x.py"], "--top: expected a number at least 0"),
    (["--snapshot-every", "0", "x.py"], "positive number of seconds"),
    (["--bogus", "x.py"], "unknown option --bogus"),
    (["-m"], "expected one argument"),
    (["missing.py"], "can't open file"),
    (["--sample-bytes", "0", "x.py"], "--sample-bytes: expected a number of "
                                      "bytes"),
    (["--sample-bytes", "-4096", "x.py"], "--sample-bytes: expected"),
    (["--sample-bytes", "lots", "x.py"], "--sample-bytes: expected"),
    (["--sample-bytes", "1.5M", "x.py"], "--sample-bytes: expected"),
    (["--sample-bytes=", "x.py"], "--sample-bytes: expected"),
    (["--sample-bytes", "300000G", "x.py"], "from 1 to 281474976710656"),
    (["--sample-bytes"], "argument --sample-bytes: expected one argument"),
])
def test_bad_usage_is_one_clear_line_and_status_2(tmp_path, args, message):
    result = run(tmp_path, "run", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_help(tmp_path):
    result = run(tmp_path, "run", "--help")
    assert result.returncode == 0
    assert "--snapshot-every" in result.stdout
    assert "--sample-bytes N" in result.stdout
    top = run(tmp_path, "--help")
    assert top.returncode == 0
    assert "run [options]" in top.stdout and "FILE" in top.stdout


def test_a_snapshot_file_named_run_is_displayed_given_as_dot_slash_or_after_dashes(
        tmp_path):
    # GIVEN a snapshot file named `run`
    pytracemalloc.enable(1)
    try:
        keep = [bytearray(1000) for _ in range(100)]
        pytracemalloc.Snapshot.create().write(str(tmp_path / "run"))
        del keep
    finally:
        pytracemalloc.disable()
    # THEN ./run and `-- run` display it as before `run` was a command
    for args in (["./run"], ["--", "run"], ["-n", "3", "run"]):
        result = run(tmp_path, *args)
        assert result.returncode == 0, (args, result.stderr)
        assert "1 snapshots" in result.stdout
    # and `run` alone is the command, whose error says how to display it
    result = run(tmp_path, "run")
    assert result.returncode == 2
    bare = run(tmp_path, "run", "other")
    assert "python -m pytracemalloc ./run" in bare.stderr


def test_report_dispatches_to_the_report_command_or_says_it_is_missing(
        tmp_path):
    result = run(tmp_path, "report", "--help")
    try:
        import pytracemalloc.report  # noqa: F401
    except ImportError:
        assert result.returncode == 2
        assert "report command is not available" in result.stderr
    else:
        assert result.returncode == 0, result.stderr


def test_nframe_sets_the_depth_of_the_snapshots(tmp_path):
    write(tmp_path, "prog.py", HOLDER)
    result = run(tmp_path, "run", "--top=0", "--nframe", "5", "-o", "out",
                 "prog.py")
    assert result.returncode == 0, result.stderr
    assert Snapshot.load(snapshots(tmp_path / "out")[0]).traceback_limit == 5


def test_a_run_inside_a_traced_program_writes_into_its_own_directory(
        tmp_path):
    from pytracemalloc import run as run_module
    if not run_module._startup_hook_installed():
        pytest.skip("pytracemalloc-startup.pth is not in site-packages: "
                    "children that start a new interpreter are not traced")
    # GIVEN a traced program that runs another program under `run`
    write(tmp_path, "inner.py", HOLDER)
    write(tmp_path, "outer.py", """\
import subprocess, sys
subprocess.run([sys.executable, "-m", "pytracemalloc", "run", "--top=0",
                "-o", "inner-out", "inner.py"], check=True, timeout=60)
""")
    result = run(tmp_path, "run", "--top=0", "-o", "outer-out", "outer.py")
    assert result.returncode == 0, result.stderr
    # THEN each directory has the snapshot of its own program only
    [outer] = snapshots(tmp_path / "outer-out")
    [inner] = snapshots(tmp_path / "inner-out")
    assert line_size(Snapshot.load(inner), tmp_path / "inner.py", 2) > 0
    assert line_size(Snapshot.load(outer), tmp_path / "inner.py", 2) == 0


# --- sampled mode ----------------------------------------------------------

# 20000 blocks of about 1000 bytes held on line 2, about 20 MB: with
# N = 4096 a block is kept with probability 0.22, so the line's estimate
# rests on some 4000 samples (a relative error near 1.5 %).  With "child" the
# program runs itself once more in a subprocess, which holds the same.
SAMPLED = """\
import subprocess, sys
KEEP = [bytes(1000) for _ in range(20000)]   # line 2
if sys.argv[1:] == ["parent"]:
    subprocess.run([sys.executable, __file__, "child"], check=True,
                   timeout=60)
    print(__import__("os").getpid())
"""
SAMPLED_TRUTH = 20000 * 1000


def final_snapshots(directory):
    return {s.pid: s for s in map(Snapshot.load,
                                  snapshots(directory, "*-final.snapshot"))}


def test_sample_bytes_samples_the_program_and_its_children(tmp_path):
    from pytracemalloc import run as run_module
    if not run_module._startup_hook_installed():
        pytest.skip("pytracemalloc-startup.pth is not in site-packages: "
                    "children that start a new interpreter are not traced")
    # GIVEN a program holding about 20 MB on line 2, whose subprocess child
    # holds as much
    script = write(tmp_path, "prog.py", SAMPLED)
    # WHEN it runs under `run --sample-bytes 4096`, with the top line and
    # the HTML report
    result = run(tmp_path, "run", "--sample-bytes", "4096", "--top", "1",
                 "-o", "out", "--html", "report.html", "prog.py", "parent")
    assert result.returncode == 0, result.stderr
    parent = int(result.stdout.split()[-1])
    # THEN both processes wrote a final snapshot that records N
    loaded = final_snapshots(tmp_path / "out")
    assert parent in loaded and len(loaded) == 2, sorted(loaded)
    assert [s.sample_bytes for s in loaded.values()] == [4096, 4096]
    # AND each one's estimate of line 2 is near the truth (15 %: about
    # 10 standard errors)
    for pid, snapshot in loaded.items():
        estimate = line_size(snapshot, script, 2)
        assert abs(estimate - SAMPLED_TRUTH) <= 0.15 * SAMPLED_TRUTH, \
            (pid, estimate)
    # AND the top lines on stderr are marked as estimates
    assert "(sampled: one byte in 4096)" in result.stderr
    assert ("Top 1 allocations per file and line (estimates: sampled, one "
            "byte in 4096 B)") in result.stderr
    [first] = [line for line in result.stderr.splitlines()
               if line.startswith("#1:")]
    assert "prog.py:2: size=~" in first
    # AND the HTML report got N for every snapshot (its page marks the
    # figures "~" from it: test_report.py)
    html = (tmp_path / "report.html").read_text()
    meta = html.split('<script type="application/json" id="report-meta">'
                      )[1].split("</script>")[0]
    assert [s["sample_bytes"] for s in json.loads(meta)["snapshots"]] == \
        [4096, 4096]


def test_without_sample_bytes_run_is_exact_even_in_a_sampled_environment(
        tmp_path):
    from pytracemalloc import run as run_module
    if not run_module._startup_hook_installed():
        pytest.skip("pytracemalloc-startup.pth is not in site-packages: "
                    "children that start a new interpreter are not traced")
    # GIVEN the same program, and PYTRACEMALLOC_SAMPLE_BYTES in the
    # environment `run` starts in (a run inside a sampled program)
    script = write(tmp_path, "prog.py", SAMPLED)
    env = child_env()
    env["PYTRACEMALLOC_SAMPLE_BYTES"] = "4096"
    # WHEN it runs under `run` without --sample-bytes
    result = subprocess.run(
        [sys.executable, "-m", "pytracemalloc", "run", "--top", "0", "-o",
         "out", "prog.py", "parent"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    # THEN the program and its child trace in exact mode
    loaded = final_snapshots(tmp_path / "out")
    assert len(loaded) == 2, sorted(loaded)
    assert [s.sample_bytes for s in loaded.values()] == [None, None]
    assert all(line_size(s, script, 2) >= SAMPLED_TRUTH
               for s in loaded.values())
    assert "sampled" not in result.stderr
