"""TakeSnapshot: file names from a template, counters, periodic writes that
never kill the program."""

import os
import re
import subprocess
import sys

import pytracemalloc
from pytracemalloc import Snapshot, TakeSnapshot


def test_default_template_and_counter(tracing, tmp_path, monkeypatch):
    # GIVEN the default template, in a fresh folder
    monkeypatch.chdir(tmp_path)
    take = TakeSnapshot()
    assert take.filename_template == "tracemalloc-$counter.pickle"
    # WHEN two snapshots are taken
    first, first_name = take.take_snapshot()
    second, second_name = take.take_snapshot()
    # THEN they are numbered from 0001, written, and readable
    assert (first_name, second_name) == ("tracemalloc-0001.pickle",
                                         "tracemalloc-0002.pickle")
    assert Snapshot.load(second_name).time == second.time
    assert first.time <= second.time


def test_pid_timestamp_and_counter_variables(tracing, tmp_path):
    take = TakeSnapshot()
    take.filename_template = str(tmp_path / "t-$pid-$timestamp-$counter.x")
    snapshot, filename = take.take_snapshot()
    name = os.path.basename(filename)
    match = re.fullmatch(r"t-(\d+)-(\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d)-0001\.x",
                         name)
    assert match and int(match.group(1)) == os.getpid()
    assert " " not in name and os.path.exists(filename)
    assert match.group(2) == snapshot.timestamp.replace(" ", "-")


def test_template_variables_are_plain_replacements(tracing, tmp_path):
    # GIVEN a template with '$$', '${counter}' and a variable glued to text
    take = TakeSnapshot()
    take.filename_template = str(tmp_path / "a$$-${counter}-$pidx-$counter")
    # WHEN a snapshot is taken
    _, filename = take.take_snapshot()
    # THEN only $pid, $timestamp and $counter are replaced, as in 0.9.1
    assert os.path.basename(filename) == "a$$-${counter}-%dx-0001" % (
        os.getpid())


def test_user_data_is_kept(tracing, tmp_path):
    take = TakeSnapshot()
    take.filename_template = str(tmp_path / "u-$counter")
    take.user_data_callback = lambda: [("Video memory", "size", 234902)]
    snapshot, filename = take.take_snapshot()
    assert Snapshot.load(filename).user_data == [
        ("Video memory", "size", 234902)]


def run_program(code, tmp_path):
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_periodic_snapshots_write_one_line_each(tmp_path):
    # GIVEN a program taking a snapshot every 0.2 s for 1.5 s
    code = """if True:
        import time, pytracemalloc
        pytracemalloc.enable()
        take = pytracemalloc.TakeSnapshot()
        take.start(0.2)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            junk = [str(i) for i in range(500)]
        take.stop()
    """
    # WHEN it runs
    result = run_program(code, tmp_path)
    # THEN files were written, one stderr line each in 0.9.1's words
    files = sorted(p for p in os.listdir(tmp_path) if p.endswith(".pickle"))
    assert result.returncode == 0, result.stderr
    assert len(files) >= 3
    written = [re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d: Write a "
                            r"snapshot of memory allocations into (\S+)",
                            line) for line in result.stderr.splitlines()]
    assert all(written), result.stderr
    assert sorted(match.group(1) for match in written) == files


def test_a_failing_write_never_kills_the_program(tmp_path):
    # GIVEN a periodic task writing into a folder that does not exist
    code = """if True:
        import time, pytracemalloc
        pytracemalloc.enable()
        take = pytracemalloc.TakeSnapshot()
        take.filename_template = "missing-folder/s-$counter.pickle"
        take.start(0.1)
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            junk = [str(i) for i in range(500)]
        print("still running")
    """
    # WHEN it runs
    result = run_program(code, tmp_path)
    # THEN each failure is one line on stderr and the program goes on
    assert result.returncode == 0, result.stderr
    assert "still running" in result.stdout
    failures = [line for line in result.stderr.splitlines()
                if "Failed to write a snapshot" in line]
    assert len(failures) >= 2
    assert "missing-folder" in failures[0]
    assert "Traceback" not in result.stderr
