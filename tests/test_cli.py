"""python -m pytracemalloc: comparing snapshot files."""

import os
import re
import subprocess
import sys

import pytest

from pytracemalloc import Snapshot

HEADER = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d: Top (\d+) allocations "
                    r"per (file and line|file)(?: \(compared to (.+)\))?$")
ROW = re.compile(r"^#(\d+): (.+?)(?::(\d+))?: size=(-?\d+ \w+)"
                 r"(?: \(([+-]\d+ \w+)\))?, count=(\d+)(?: \(([+-]\d+)\))?"
                 r"(?:, average=\d+ \w+)?$")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "pytracemalloc", *args],
                          capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def write_snapshot(path, stats, time, pid=1234):
    snapshot = Snapshot([], 1, pid=pid, time=time, process_memory=None)
    snapshot.stats = stats
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
    # THEN that line is on top of every comparison, growing each time, and
    # the last line counts the snapshots
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "3 snapshots"
    tops = [lines[i + 1] for i, text in enumerate(lines) if HEADER.match(text)]
    assert len(tops) == 3
    for index, top in enumerate(tops):
        row = ROW.match(top)
        assert row.group(2).endswith("grow.py") and row.group(3) == str(line)
        if index:
            assert row.group(7) == "+2000"  # a bytearray and its buffer
            assert row.group(5).startswith("+")
    compared = [HEADER.match(text).group(3) for text in lines
                if HEADER.match(text)]
    assert compared == [None, files[0], files[1]]


def test_order_of_taking_first_option_and_number(tmp_path):
    # GIVEN three snapshots given out of order
    a = write_snapshot(tmp_path / "a", {"x.py": {1: (100, 1)}}, 1000.0)
    b = write_snapshot(tmp_path / "b", {"x.py": {1: (300, 3)}}, 1000.5)
    c = write_snapshot(tmp_path / "c", {"x.py": {1: (600, 6)},
                                        "y.py": {2: (10, 1)}}, 1001.0)
    # WHEN compared with the first, one line each
    result = run_cli("--first", "-n", "1", c, a, b)
    # THEN they come in the order taken, all compared to the first
    lines = result.stdout.splitlines()
    compared = [HEADER.match(text).group(3) for text in lines
                if HEADER.match(text)]
    assert compared == [None, a, a]
    assert "1 more: " in result.stdout
    assert lines[-1] == "3 snapshots"


def test_include_exclude_and_hidden_columns(tmp_path):
    a = write_snapshot(tmp_path / "a", {"/app/x.py": {1: (100, 1)},
                                        "/lib/y.py": {1: (50, 1)},
                                        "/app/z.py": {1: (70, 1)}}, 1.0)
    result = run_cli("--include", "/app/*", "--exclude", "*z.py", "-S",
                     "-A", "-P", "1", a)
    rows = [line for line in result.stdout.splitlines()
            if line.startswith("#")]
    assert rows == [".../x.py: count=1".join(["#1: ", ""])]


def test_different_processes_get_a_warning(tmp_path):
    a = write_snapshot(tmp_path / "a", {"x.py": {1: (1, 1)}}, 1.0, pid=1)
    b = write_snapshot(tmp_path / "b", {"x.py": {1: (1, 1)}}, 2.0, pid=2)
    result = run_cli(a, b)
    assert result.returncode == 0
    assert "different processes" in result.stderr


def test_bad_files_one_line_each_good_ones_shown_exit_1(tmp_path):
    # GIVEN a good snapshot, a missing file and a file of garbage
    good = write_snapshot(tmp_path / "good", {"x.py": {1: (1, 1)}}, 1.0)
    garbage = tmp_path / "garbage"
    garbage.write_bytes(os.urandom(200))
    # WHEN the CLI reads them
    result = run_cli(str(tmp_path / "missing"), good, str(garbage))
    # THEN one line per bad file, naming it, no traceback, the good one is
    # shown, and the exit status is 1
    assert result.returncode == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 2
    assert "missing" in errors[0] and "garbage" in errors[1]
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines()[-1] == "1 snapshots"


@pytest.mark.parametrize("args", [[], ["-n", "x", "f"], ["--bogus", "f"]])
def test_usage_errors_exit_2_with_one_line(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_and_version():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("-l", "--line-number", "-n", "--number", "--first",
                   "--include", "--exclude", "-S", "--hide-size", "-C",
                   "--hide-count", "-A", "--hide-average", "-P",
                   "--filename-parts", "--color", "--no-color"):
        assert option in result.stdout
    import pytracemalloc
    assert run_cli("--version").stdout.strip() == \
        "pytracemalloc " + pytracemalloc.__version__


def test_colors_on_request_only(tmp_path):
    a = write_snapshot(tmp_path / "a", {"x.py": {1: (1, 1)}}, 1.0)
    assert "\x1b[" in run_cli("--color", a).stdout
    assert "\x1b[" not in run_cli(a).stdout
    assert "\x1b[" not in run_cli("--no-color", a).stdout
