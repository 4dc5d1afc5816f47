"""Snapshot, the 0.9.1 vocabulary (issue 3): create, stats, pid, timestamp,
time, process_memory, tracemalloc_memory, user_data, filter_filenames,
display, write/load; and one class serving both APIs."""

import os
import re
import sys
import time

import pytest

import pytracemalloc
from pytracemalloc import Snapshot
from pytracemalloc import _tracemalloc as engine
from pytracemalloc.snapshot import take_snapshot

from conftest import KnownBlock, MALLOC_LINE, HELPER_FILE


@pytest.fixture
def stopped():
    engine.disable()
    yield
    engine.disable()


def test_create_holds_a_known_block_on_its_line(tracing):
    # GIVEN a block of exactly 123456 bytes made at a known line
    block = KnownBlock(engine.DOMAIN_RAW, 123456)
    # WHEN a 0.9.1 snapshot is created
    snapshot = Snapshot.create()
    # THEN stats hold it on that line: {filename: {lineno: (size, count)}}
    size, count = snapshot.stats[HELPER_FILE][MALLOC_LINE]
    assert size >= 123456 and count >= 1
    assert isinstance(snapshot.stats, dict)
    # AND the stats are the engine's (by the most recent frame)
    block.free()
    after = Snapshot.create()
    assert after.stats.get(HELPER_FILE, {}).get(MALLOC_LINE, (0, 0))[0] \
        == size - 123456


def test_create_attributes(tracing):
    # GIVEN a callback of user data
    calls = []

    def user_data():
        calls.append(1)
        return [("Video memory", "size", 234902)]

    before = time.time()
    # WHEN a snapshot is created with it
    snapshot = Snapshot.create(user_data)
    after = time.time()
    # THEN the attributes of 0.9.1 are there, with the right types
    assert snapshot.pid == os.getpid()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", snapshot.timestamp)
    assert snapshot.timestamp == time.strftime("%Y-%m-%d %H:%M:%S",
                                               time.localtime(snapshot.time))
    assert before <= snapshot.time <= after
    assert snapshot.user_data == [("Video memory", "size", 234902)]
    assert calls == [1]
    assert Snapshot.create().user_data is None
    getter = getattr(pytracemalloc, "get_process_memory", None)
    if getter is None:
        assert snapshot.process_memory is None
    else:
        assert snapshot.process_memory is None or snapshot.process_memory > 0
    assert snapshot.traceback_limit == 1


def test_create_leaves_out_pytracemalloc_own_lines(tracing):
    # GIVEN tracing, and pytracemalloc's own code allocating (a snapshot
    # kept alive holds blocks made by snapshot.py)
    keep = take_snapshot()
    package = os.path.dirname(pytracemalloc.__file__)
    assert any(f.startswith(package) for f in take_snapshot().stats)
    own_lines = sum(size for f, lines in take_snapshot().stats.items()
                    if f.startswith(package) for size, _ in lines.values())
    tables = engine.get_tracemalloc_memory()
    # WHEN a 0.9.1 snapshot is created
    snapshot = Snapshot.create()
    # THEN no line of the package is in its stats, and the memory used by
    # pytracemalloc (C tables + own lines) is in tracemalloc_memory
    assert not any(f.startswith(package) for f in snapshot.stats)
    assert snapshot.tracemalloc_memory >= tables + own_lines // 2
    assert own_lines > 0 and tables > 0
    del keep


def test_take_snapshot_keeps_everything_like_stdlib(tracing):
    keep = take_snapshot()
    snapshot = take_snapshot()
    package = os.path.dirname(pytracemalloc.__file__)
    assert any(f.startswith(package) for f in snapshot.stats)
    assert snapshot.tracemalloc_memory > 0
    del keep


def test_snapshots_within_one_second_sort_in_order(tracing):
    # GIVEN snapshots taken in quick succession (same second, mostly)
    snapshots = [Snapshot.create() for _ in range(20)]
    # WHEN sorted by their precise time (shuffled first)
    shuffled = snapshots[::-1]
    # THEN they come back in the order they were taken
    assert sorted(shuffled, key=lambda s: s.time) == snapshots
    assert len({s.time for s in snapshots}) == 20


def test_create_without_tracing_is_empty(stopped):
    snapshot = Snapshot.create()
    assert snapshot.stats == {}
    assert snapshot.statistics("lineno") == []


def make_snapshot():
    sites = [
        ((("/app/main.py", 10),), 1000, 10),
        ((("/app/main.py", 10), ("/app/run.py", 3)), 500, 5),
        ((("/app/main.py", 11),), 300, 3),
        ((("/usr/lib/python3/json/decoder.py", 5), ("/app/main.py", 20)),
         4000, 40),
        ((("<unknown>", 0),), 7, 1),
    ]
    return Snapshot(sites, 2, pid=1234, time=1_700_000_000.25)


def test_stats_are_grouped_by_the_most_recent_frame():
    snapshot = make_snapshot()
    assert snapshot.stats == {
        "/app/main.py": {10: (1500, 15), 11: (300, 3)},
        "/usr/lib/python3/json/decoder.py": {5: (4000, 40)},
        "<unknown>": {0: (7, 1)},
    }


def test_assigning_stats_replaces_the_sites():
    # GIVEN a snapshot WHEN stats are assigned (as 0.9.1 code may do)
    snapshot = make_snapshot()
    snapshot.stats = {"x.py": {1: (10, 1), 2: (20, 2)}}
    # THEN both vocabularies see the new data
    assert snapshot.stats == {"x.py": {1: (10, 1), 2: (20, 2)}}
    assert [(str(s.traceback), s.size) for s in
            snapshot.statistics("lineno")] == [("x.py:2", 20), ("x.py:1", 10)]


@pytest.mark.parametrize("patterns,include,expected", [
    ("/app/*", True, {"/app/main.py"}),
    (["/app/*"], False, {"/usr/lib/python3/json/decoder.py", "<unknown>"}),
    (["*json*", "<*"], True, {"/usr/lib/python3/json/decoder.py",
                              "<unknown>"}),
    ("nothing", True, set()),
    ("nothing", False, {"/app/main.py", "/usr/lib/python3/json/decoder.py",
                        "<unknown>"}),
    ("*main.py", False, {"/usr/lib/python3/json/decoder.py", "<unknown>"}),
])
def test_filter_filenames(patterns, include, expected):
    # GIVEN a snapshot WHEN filter_filenames(patterns, include)
    snapshot = make_snapshot()
    result = snapshot.filter_filenames(patterns, include)
    # THEN it is modified in place (0.9.1), keeping the matching files
    assert result is None
    assert set(snapshot.stats) == expected
    # AND the stdlib view agrees, deeper tracebacks kept
    files = {s.traceback[-1].filename
             for s in snapshot.statistics("traceback")}
    assert files == expected


def test_display_delegates_to_display_top():
    # GIVEN a stand-in DisplayTop recording its calls
    class FakeTop:
        def __init__(self):
            self.calls = []

        def display_snapshot(self, snapshot, count=None, file=None):
            self.calls.append((snapshot, count, file))
            return "shown"

    top = FakeTop()
    snapshot = make_snapshot()
    # WHEN displayed THEN display_snapshot(snapshot) is called
    assert snapshot.display(top) == "shown"
    assert top.calls == [(snapshot, None, None)]
    snapshot.display(top, count=3)
    assert top.calls[-1] == (snapshot, 3, None)


def test_display_with_the_pid_names_the_top_with_it():
    # GIVEN a snapshot of pid 42 and a top writing into a buffer
    import io
    from pytracemalloc.display import DisplayTop
    stream = io.StringIO()
    snapshot = Snapshot({"a.py": {1: (10, 1)}}, "2013-06-01 19:08:16", 42,
                        None, None)
    # WHEN displayed with show_pid (0.9.1)
    snapshot.display(DisplayTop(3, file=stream), show_pid=True)
    # THEN the header is named 'TIMESTAMP [pid PID]'
    assert stream.getvalue().startswith(
        "2013-06-01 19:08:16 [pid 42]: Top 1 allocations per file\n")


def test_the_0_9_1_constructor():
    # GIVEN the five arguments of 0.9.1's Snapshot
    stats = {"a.py": {1: (100, 2)}, "b.py": {None: (5, 1)}}
    user_data = [("Video memory", "size", 2048)]
    # WHEN built with them, positionally or by name
    snapshot = Snapshot(stats, "2013-06-01 19:08:16", 1234, 10 ** 6,
                        user_data)
    named = Snapshot(stats, timestamp="2013-06-01 19:08:16", pid=1234,
                     process_memory=None, user_data=None)
    # THEN every attribute is as given, and the time follows the timestamp
    assert snapshot.stats == {"a.py": {1: (100, 2)}, "b.py": {None: (5, 1)}}
    assert (snapshot.timestamp, snapshot.pid, snapshot.process_memory,
            snapshot.user_data) == ("2013-06-01 19:08:16", 1234, 10 ** 6,
                                    user_data)
    assert snapshot.time == named.time > 0
    assert named.stats == snapshot.stats and named.user_data is None
    assert Snapshot.FORMAT_VERSION == 1
    with pytest.raises(TypeError):
        Snapshot(stats, "2013-06-01 19:08:16", 1, None, None, "extra")


def test_display_with_the_real_display_top_if_present(tracing, capsys):
    display = pytest.importorskip("pytracemalloc.display")
    top = display.DisplayTop(3, file=sys.stdout)
    snapshot = Snapshot.create()
    snapshot.display(top)
    assert "Top 3 allocations" in capsys.readouterr().out


def test_write_load_round_trip_keeps_everything(tmp_path):
    # GIVEN a snapshot with every attribute set
    snapshot = Snapshot(make_snapshot()._sites, 2, pid=1234,
                        time=1_700_000_000.25, process_memory=10**9,
                        tracemalloc_memory=4096,
                        user_data=[("Video memory", "size", 234902)])
    path = tmp_path / "snap.pickle"
    # WHEN written and loaded back
    snapshot.write(path)
    loaded = Snapshot.load(path)
    # THEN nothing is lost
    for name in ("pid", "time", "timestamp", "process_memory",
                 "tracemalloc_memory", "user_data", "traceback_limit",
                 "stats"):
        assert getattr(loaded, name) == getattr(snapshot, name), name
    assert loaded.statistics("traceback") == snapshot.statistics("traceback")
    # AND dump() is the same file format
    snapshot.dump(tmp_path / "snap2")
    assert (tmp_path / "snap2").read_bytes() == path.read_bytes()


def test_real_snapshot_round_trip(tmp_path, deep_tracing):
    # GIVEN a real snapshot 25 frames deep, odd filenames included
    block = KnownBlock(engine.DOMAIN_MEM, 77777)
    snapshot = take_snapshot()
    snapshot.user_data = [("é ünïcode \udcff", "size", 1)]
    # WHEN dumped and loaded
    snapshot.dump(tmp_path / "real.snap")
    loaded = Snapshot.load(tmp_path / "real.snap")
    # THEN the same statistics, to the byte
    assert loaded.statistics("traceback") == snapshot.statistics("traceback")
    assert loaded.stats[HELPER_FILE][MALLOC_LINE][0] >= 77777
    assert loaded.traceback_limit == 25
    assert loaded.user_data == snapshot.user_data
    block.free()


def test_one_class_for_both_vocabularies(tracing):
    created = Snapshot.create()
    taken = pytracemalloc.take_snapshot()
    assert type(created) is type(taken) is pytracemalloc.Snapshot
    for snapshot in (created, taken):
        assert snapshot.statistics("filename") is not None
        assert isinstance(snapshot.stats, dict)


def test_user_data_must_be_triples(tracing):
    with pytest.raises(TypeError):
        Snapshot.create(lambda: [("only", "two")])


def test_repr():
    assert repr(make_snapshot()).startswith("<Snapshot pid=1234 ")
