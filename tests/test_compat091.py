"""A program written for pytracemalloc 0.9.1, run with ``import
pytracemalloc as tracemalloc``: the 0.9.1 API end to end, as its README and
its users drive it."""

import os
import subprocess
import sys
import textwrap

import pytest

import pytracemalloc as tracemalloc

PROGRAM_091 = textwrap.dedent('''\
    import gc, io, os, sys, time
    import pytracemalloc as tracemalloc

    def here():
        frame = sys._getframe(1)
        return frame.f_code.co_filename, frame.f_lineno + 1

    class Leak:
        def __init__(self):
            self.cycle = self
        def __del__(self):
            pass

    tracemalloc.enable()
    assert isinstance(tracemalloc.__version__, str)

    # _get_stats: {filename: {lineno: (size, count)}}, live
    where = here()
    block = b"x" * 100000
    size, count = tracemalloc._get_stats()[where[0]][where[1]]
    assert size >= 100000 and count >= 1, (size, count)

    # _get_object_trace: (size, filename, lineno) of an object's block
    trace = tracemalloc._get_object_trace(block)
    assert trace[0] >= 100000 and trace[1:] == where, trace
    assert tracemalloc._get_object_trace(1) is None

    # the timer, with args and kwargs: exact to the first event after it
    calls = []
    tracemalloc.start_timer(1, lambda *a, **k: calls.append((a, k)),
                            ("a",), {"k": 1})
    time.sleep(1)
    junk = bytearray(10)
    assert calls == [(("a",), {"k": 1})], calls
    tracemalloc.stop_timer()
    time.sleep(1)
    junk = bytearray(10)
    assert len(calls) == 1

    # a top into a log, started and stopped
    log = io.StringIO()
    top = tracemalloc.DisplayTop(5, file=log)
    top.show_lineno = True
    top.user_data_callback = lambda: [("Video memory", "size", 1024)]
    top.display()
    top.start(1)
    deadline = time.monotonic() + 30
    while log.getvalue().count("Total Python memory") < 2:
        assert time.monotonic() < deadline, "the top did not run"
        junk = [str(i) for i in range(100)]
    top.stop()
    tops = log.getvalue().split("\\n\\n")
    assert tops[-1] == "" and len(tops) >= 3, log.getvalue()
    assert "(compared to " in tops[1] and "Video memory: size=" in tops[1]

    # snapshots: create, write, load, filter, display
    snapshot = tracemalloc.Snapshot.create()
    assert snapshot.pid == os.getpid() and snapshot.stats
    snapshot.write("explicit.pickle")
    loaded = tracemalloc.Snapshot.load("explicit.pickle")
    assert loaded.stats == snapshot.stats
    assert loaded.timestamp == snapshot.timestamp
    loaded.filter_filenames(["*program091.py"], True)
    assert list(loaded.stats) == [where[0]], list(loaded.stats)
    shown = io.StringIO()
    loaded.display(tracemalloc.DisplayTop(3, file=shown), show_pid=True)
    assert shown.getvalue().startswith(
        "%s [pid %s]: Top 1 allocations per file" % (loaded.timestamp,
                                                   os.getpid()))

    # periodic snapshot files, one stderr line each
    take = tracemalloc.TakeSnapshot()
    take.filename_template = "trace-$pid-$counter.pickle"
    snapshot, filename = take.take_snapshot()
    assert filename == "trace-%s-0001.pickle" % os.getpid()
    take.start(1)
    deadline = time.monotonic() + 30
    while not os.path.exists("trace-%s-0002.pickle" % os.getpid()):
        assert time.monotonic() < deadline, "no periodic snapshot"
        junk = [str(i) for i in range(100)]
    take.stop()

    # uncollectable objects
    getter = tracemalloc._GetUncollectable()
    where = here()
    Leak()
    ((obj, source),) = getter.get_new_objects()
    assert type(obj) is Leak and source[1:] == where, source
    garbage = io.StringIO()
    display = tracemalloc.DisplayGarbage(file=garbage)
    Leak()
    display.display()
    line = garbage.getvalue()
    assert line.startswith("UNCOLLECTABLE OBJECT: %s:" % where[0]), line
    assert "Leak object at" in line and line.count("\\n") == 1

    memory = tracemalloc.get_process_memory()
    assert memory is None or memory > 1024 * 1024
    tracemalloc.disable()
    print("0.9.1 program: OK")
''')


def test_a_0_9_1_program_runs_unchanged(tmp_path):
    # GIVEN a program written against the 0.9.1 API
    program = tmp_path / "program091.py"
    program.write_text(PROGRAM_091)
    # WHEN it runs
    result = subprocess.run([sys.executable, str(program)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    # THEN every check of it holds, and TakeSnapshot said what it wrote
    assert result.returncode == 0, result.stderr
    assert result.stdout == "0.9.1 program: OK\n"
    assert "Write a snapshot of memory allocations into trace-" in \
        result.stderr
    # AND the command compares what it wrote, in 0.9.1's format
    files = sorted(str(p) for p in tmp_path.glob("trace-*.pickle"))
    shown = subprocess.run([sys.executable, "-m", "pytracemalloc", *files],
                           capture_output=True, text=True, timeout=120)
    lines = shown.stdout.splitlines()
    assert lines[:2] == ["tracemalloc %s" % tracemalloc.__version__, ""]
    assert lines[-1] == "%d snapshots" % len(files)


NAMES_091 = ("enable", "disable", "start_timer", "stop_timer",
             "get_process_memory", "_get_stats", "_get_object_trace",
             "DisplayTop", "DisplayGarbage", "Snapshot", "TakeSnapshot",
             "_GetUncollectable", "main", "__version__")


def test_the_0_9_1_names_are_at_the_top_level():
    for name in NAMES_091:
        assert hasattr(tracemalloc, name), name


def test_a_star_import_shim_has_them_too():
    # GIVEN a "tracemalloc" shim made of "from pytracemalloc import *"
    shim = {}
    exec("from pytracemalloc import *", shim)
    # THEN it has every 0.9.1 name, and no module of ours
    assert set(NAMES_091) <= set(shim)
    assert not any(type(value) is type(os) for value in shim.values())


def make_block(size):
    """(bytes of ``size`` bytes, the line that allocated it)."""
    count = size - sys.getsizeof(b"")
    return b"y" * count, make_block.__code__.co_firstlineno + 3


def test_stats_grow_with_each_block_of_a_line(tracing):
    # GIVEN five blocks of 1234 bytes made at one line
    blocks = []
    for _ in range(5):
        block, lineno = make_block(1234)
        blocks.append(block)
        # THEN that line's (size, count) counts them all, live
        stats = tracemalloc._get_stats()
        assert stats[__file__][lineno] == (1234 * len(blocks), len(blocks))


@pytest.mark.skipif(tracemalloc.get_free_list_mode() == "untracked",
                    reason="a stock interpreter: free lists are not tracked "
                           "(as 0.9.1 skipped without its patch)")
@pytest.mark.parametrize("build", [tuple, list, dict, set])
def test_free_list_objects_come_and_go_with_their_line(tracing, build):
    # GIVEN a container of 1024 items made at a known line
    keep = bytearray(100)  # this file stays in the stats meanwhile
    items = [(str(i), i) for i in range(1024)]
    lineno = sys._getframe().f_lineno + 1
    data = build(items)
    size, count = tracemalloc._get_stats()[__file__][lineno]
    assert size >= 4 * 1024 and count >= 1
    # WHEN it dies THEN its line is gone
    del data
    assert lineno not in tracemalloc._get_stats()[__file__]
    del keep


def test_enable_while_tracing_changes_nothing():
    # GIVEN tracing with 7 frames (say PYTRACEMALLOC=7)
    tracemalloc.enable(7)
    try:
        kept = bytearray(1000)
        # WHEN a 0.9.1 program calls enable()
        tracemalloc.enable()
        # THEN the depth and the traces stay
        assert tracemalloc.get_traceback_limit() == 7
        assert tracemalloc._get_object_trace(kept) is not None
    finally:
        tracemalloc.disable()
    tracemalloc.enable()
    assert tracemalloc.get_traceback_limit() == 1
    tracemalloc.disable()
