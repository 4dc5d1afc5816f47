"""python -m pytracemalloc: comparing snapshot files, with the options and
messages of 0.9.1's ``python -m tracemalloc``."""

import os
import pickle
import re
import subprocess
import sys

import pytest

import pytracemalloc
from pytracemalloc import Snapshot

BANNER = ["tracemalloc %s" % pytracemalloc.__version__, ""]
HEADER = re.compile(r"^(.+?): Top (\d+) allocations per (file and line|file)"
                    r"(?: \(compared to (.+)\))?$")
ROW = re.compile(r"^#(\d+): (.+?)(?::(\d+))?: size=(-?\d+ \w+)"
                 r"(?: \(([+-]\d+ \w+)\))?, count=(\d+)(?: \(([+-]\d+)\))?"
                 r"(?:, average=\d+ \w+)?$")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pytracemalloc", *args],
                          capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def write_snapshot(path, stats, timestamp, pid=1234):
    snapshot = Snapshot(stats, timestamp, pid, None, None)
    snapshot.tracemalloc_memory = 0
    snapshot.write(str(path))
    return str(path)


GROWING_SCRIPT = """if True:
    import sys, pytracemalloc
    pytracemalloc.enable()
    take = pytracemalloc.TakeSnapshot()
    take.filename_template = sys.argv[1] + "/grow-$counter.pickle"
    data = []
    for round in range(3):
        data.extend(bytearray(1000) for _ in range(1000))  # growing line
        take.take_snapshot()
"""


def test_end_to_end_the_growing_line_tops_each_comparison(tmp_path):
    # GIVEN a script that grows a list at a known line, taking 3 snapshots
    script = tmp_path / "grow.py"
    script.write_text(GROWING_SCRIPT)
    line = 1 + GROWING_SCRIPT.splitlines().index(next(
        text for text in GROWING_SCRIPT.splitlines() if "growing line" in text))
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True,
                   timeout=120)
    files = sorted(str(p) for p in tmp_path.glob("grow-*.pickle"))
    assert len(files) == 3
    # WHEN the CLI compares them by line
    result = run_cli("-l", *files)
    # THEN the banner comes first, that line is on top of every comparison,
    # growing each time, each top ends with an empty line, and the last
    # line counts the snapshots
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == BANNER and lines[-1] == "3 snapshots"
    starts = [i for i, text in enumerate(lines) if HEADER.match(text)]
    assert len(starts) == 3
    assert all(lines[end - 1] == "" for end in starts[1:] + [len(lines) - 1])
    for index, start in enumerate(starts):
        row = ROW.match(lines[start + 1])
        assert row.group(2).endswith("grow.py") and row.group(3) == str(line)
        if index:
            assert row.group(7) == "+2000"  # a bytearray and its buffer
            assert row.group(5).startswith("+")
    headers = [HEADER.match(lines[start]) for start in starts]
    # each compared to the name of the previous top: its timestamp
    assert [h.group(4) for h in headers] == [None] + [
        h.group(1) for h in headers[:-1]]


def test_the_whole_output_line_by_line(tmp_path):
    # GIVEN two snapshots, given newest first and one of them twice
    old = write_snapshot(tmp_path / "old", {"/a/b/c/x.py": {1: (100, 1)}},
                         "2013-06-01 10:00:00")
    new = write_snapshot(tmp_path / "new", {"/a/b/c/x.py": {1: (300, 3)},
                                            "y.py": {2: (6000, 1)}},
                         "2013-06-01 10:01:00")
    # WHEN the CLI shows them per file
    result = run_cli(new, old, new)
    # THEN in the order taken, the duplicate once, in 0.9.1's format
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n") == BANNER + [
        "2013-06-01 10:00:00: Top 1 allocations per file",
        "#1: .../b/c/x.py: size=100 B, count=1",
        "Total Python memory: size=100 B, count=1",
        "Ignore tracemalloc: 0 B",
        "",
        "2013-06-01 10:01:00: Top 2 allocations per file "
        "(compared to 2013-06-01 10:00:00)",
        "#1: y.py: size=5 KiB (+5 KiB), count=1 (+1)",
        "#2: .../b/c/x.py: size=300 B (+200 B), count=3 (+2), average=100 B",
        "Total Python memory: size=6 KiB (+6 KiB), count=4 (+3), "
        "average=1575 B",
        "Ignore tracemalloc: 0 B",
        "",
        "2 snapshots",
        ""]
    assert result.stderr == ""


def test_order_of_taking_first_option_and_number(tmp_path):
    # GIVEN three snapshots given out of order
    a = write_snapshot(tmp_path / "a", {"x.py": {1: (100, 1)}},
                       "2013-06-01 10:00:00")
    b = write_snapshot(tmp_path / "b", {"x.py": {1: (300, 3)}},
                       "2013-06-01 10:00:01")
    c = write_snapshot(tmp_path / "c", {"x.py": {1: (600, 6)},
                                        "y.py": {2: (10, 1)}},
                       "2013-06-01 10:00:02")
    # WHEN compared with the first, one line each
    result = run_cli("--first", "-n", "1", c, a, b)
    # THEN they come in the order taken, all compared to the first
    lines = result.stdout.splitlines()
    headers = [HEADER.match(text) for text in lines if HEADER.match(text)]
    assert [h.group(1) for h in headers] == [
        "2013-06-01 10:00:00", "2013-06-01 10:00:01", "2013-06-01 10:00:02"]
    assert [h.group(4) for h in headers] == [
        None, "2013-06-01 10:00:00", "2013-06-01 10:00:00"]
    assert "1 more: size=10 B (+10 B), count=1 (+1)" in lines
    assert lines[-1] == "3 snapshots"


def test_include_exclude_and_hidden_columns(tmp_path):
    a = write_snapshot(tmp_path / "a", {"/app/x.py": {1: (100, 1)},
                                        "/lib/y.py": {1: (50, 1)},
                                        "/app/z.py": {1: (70, 1)}},
                       "2013-06-01 10:00:00")
    result = run_cli("--include", "/app/*", "--exclude", "*z.py", "-S",
                     "-A", "-P", "1", a)
    rows = [line for line in result.stdout.splitlines()
            if line.startswith("#")]
    assert rows == ["#1: .../x.py: count=1"]
    # -C and -A hidden: bare sizes
    result = run_cli("-C", "-A", "--include", "/lib/*", a)
    assert "#1: /lib/y.py: 50 B" in result.stdout.splitlines()


def test_different_processes_get_a_warning_and_named_tops(tmp_path):
    a = write_snapshot(tmp_path / "a", {"x.py": {1: (1, 1)}},
                       "2013-06-01 10:00:00", pid=20)
    b = write_snapshot(tmp_path / "b", {"x.py": {1: (1, 1)}},
                       "2013-06-01 10:00:01", pid=3)
    result = run_cli(a, b)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[2:4] == [
        "WARNING: Traces generated by different processes: 3, 20", ""]
    assert lines[4] == ("2013-06-01 10:00:00 [pid 20]: Top 1 allocations "
                        "per file")
    assert ("2013-06-01 10:00:01 [pid 3]: Top 1 allocations per file "
            "(compared to 2013-06-01 10:00:00 [pid 20])") in lines


def test_bad_files_are_named_on_stderr_and_every_good_file_is_shown(
        tmp_path):
    # GIVEN a missing file and a file that is no snapshot, named before,
    # between and after two good snapshots
    first = write_snapshot(tmp_path / "first", {"x.py": {1: (1, 1)}},
                           "2013-06-01 10:00:00")
    second = write_snapshot(tmp_path / "second", {"x.py": {1: (2, 2)}},
                            "2013-06-01 10:00:01")
    missing = str(tmp_path / "missing")
    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(200))
    # WHEN the CLI reads them
    result = run_cli(missing, first, str(garbage), second)
    # THEN 0.9.1's error line for each bad file, on stderr, no traceback
    errors = result.stderr.splitlines()
    assert errors[0] == (
        "ERROR: Failed to load %s: [FileNotFoundError] [Errno 2] No such "
        "file or directory: '%s'" % (missing, missing))
    assert errors[1].startswith(
        "ERROR: Failed to load %s: [SnapshotLoadError] " % garbage)
    assert len(errors) == 2 and "Traceback" not in result.stderr
    # AND both good files are shown, nothing of the errors on stdout
    lines = result.stdout.splitlines()
    assert lines[:2] == BANNER
    assert "ERROR" not in result.stdout
    assert lines[2] == "2013-06-01 10:00:00: Top 1 allocations per file"
    assert ("2013-06-01 10:00:01: Top 1 allocations per file (compared to "
            "2013-06-01 10:00:00)") in lines
    assert lines[-1] == "2 snapshots"
    # AND the status is 1, as it is when every file is bad
    assert result.returncode == 1
    result = run_cli(str(garbage))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.splitlines()[-1] == "0 snapshots"


def test_a_0_9_1_pickle_leaves_its_own_module_out(tmp_path):
    # GIVEN a file as 0.9.1 wrote it, with lines of tracemalloc.py
    path = tmp_path / "trace.pickle"
    with open(path, "wb") as file:
        pickle.dump({"format_version": 1, "timestamp": "2013-06-01 10:00:00",
                     "pid": 7, "process_memory": 10 * 1024 * 1024,
                     "stats": {"/x/app.py": {3: (2048, 2)},
                               "/y/tracemalloc.py": {9: (1024, 1)}}}, file)
    # WHEN shown
    lines = run_cli(str(path)).stdout.splitlines()
    # THEN its lines are not in the top, but the process memory is shown
    # without them
    assert lines[2:6] == [
        "2013-06-01 10:00:00: Top 1 allocations per file",
        "#1: /x/app.py: size=2048 B, count=2, average=1024 B",
        "Total Python memory: size=2048 B, count=2, average=1024 B",
        "Total process memory: size=9 MiB (ignore tracemalloc: 1024 B)"]


def test_no_file_prints_the_usage_and_exits_1():
    result = run_cli()
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[:2] == BANNER
    assert lines[2].startswith("Usage: python -m pytracemalloc ")


@pytest.mark.parametrize("args", [["-n", "x", "f"], ["--bogus", "f"],
                                  ["-n", "-1", "f"]])
def test_bad_options_exit_2_with_the_error_on_stderr(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout.splitlines() == BANNER
    assert "error: " in result.stderr.splitlines()[-1]


def test_help_lists_the_0_9_1_options():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("-l", "--line-number", "-n", "--number", "--first",
                   "--include", "--exclude", "-S", "--hide-size", "-C",
                   "--hide-count", "-A", "--hide-average", "-P",
                   "--filename-parts", "--color", "--no-color"):
        assert option in result.stdout
    assert run_cli("--version").stdout.splitlines()[-1] == \
        "pytracemalloc " + pytracemalloc.__version__


def test_colors_on_request_only(tmp_path):
    a = write_snapshot(tmp_path / "a", {"x.py": {1: (1, 1)}},
                       "2013-06-01 10:00:00")
    assert "\x1b[" in run_cli("--color", a).stdout
    assert "\x1b[" in run_cli("--color", "--no-color", a).stdout
    assert "\x1b[" not in run_cli(a).stdout
    assert "\x1b[" not in run_cli("--no-color", a).stdout


def test_main_is_callable_and_returns_the_status(tmp_path, capsys):
    a = write_snapshot(tmp_path / "a", {"x.py": {1: (1, 1)}},
                       "2013-06-01 10:00:00")
    assert pytracemalloc.main([a]) == 0
    assert capsys.readouterr().out.endswith("\n1 snapshots\n")
