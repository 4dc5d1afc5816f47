"""The stdlib tracemalloc vocabulary on our engine (issue 7).

Value classes and Snapshot queries are checked against CPython's own
tracemalloc: the stdlib Snapshot can be built from raw traces, so the same
synthetic data goes through both and the answers must be identical.  The
last test runs one real workload script twice, under stdlib tracemalloc and
under pytracemalloc, and compares the statistics line by line."""

import json
import os
import random
import subprocess
import sys
import tracemalloc as stdlib

import pytest

import pytracemalloc as tracemalloc
from pytracemalloc import _tracemalloc as engine


@pytest.fixture
def stopped():
    """Tracing off before and after the test."""
    engine.disable()
    yield
    engine.disable()


# --- functions -------------------------------------------------------------

def test_start_stop_is_tracing_are_the_engine_switches(stopped):
    # GIVEN tracing off
    assert not tracemalloc.is_tracing()
    # WHEN start(3)
    tracemalloc.start(3)
    # THEN both vocabularies see it on, with 3 frames
    assert tracemalloc.is_tracing() and tracemalloc.is_enabled()
    assert tracemalloc.get_traceback_limit() == 3
    # WHEN stop()
    tracemalloc.stop()
    # THEN it is off for both
    assert not tracemalloc.is_tracing() and not tracemalloc.is_enabled()
    # AND enable()/disable() are the same switch seen by is_tracing()
    tracemalloc.enable()
    assert tracemalloc.is_tracing()
    tracemalloc.disable()
    assert not tracemalloc.is_tracing()


@pytest.mark.parametrize("nframe", [0, -1, tracemalloc.MAX_NFRAME + 1])
def test_start_refuses_nframe_out_of_range(stopped, nframe):
    # WHEN start() gets a depth outside 1..MAX_NFRAME THEN ValueError, off
    with pytest.raises(ValueError):
        tracemalloc.start(nframe)
    assert not tracemalloc.is_tracing()


def test_start_accepts_the_maximum_depth(stopped):
    tracemalloc.start(tracemalloc.MAX_NFRAME)
    assert tracemalloc.get_traceback_limit() == tracemalloc.MAX_NFRAME == 65535


def test_take_snapshot_requires_tracing(stopped):
    # GIVEN tracing off WHEN take_snapshot() THEN RuntimeError, like stdlib
    with pytest.raises(RuntimeError):
        tracemalloc.take_snapshot()


def _allocate_here():
    return bytearray(50_000), sys._getframe().f_lineno  # one line


def test_get_object_traceback_oldest_first(stopped):
    # GIVEN tracing with 5 frames and an object allocated in a helper
    tracemalloc.start(5)
    obj, line = _allocate_here()
    caller_line = sys._getframe().f_lineno - 1
    # WHEN its traceback is asked for
    traceback = tracemalloc.get_object_traceback(obj)
    # THEN the last frame is the allocating line, the one before the caller
    assert isinstance(traceback, tracemalloc.Traceback)
    assert (traceback[-1].filename, traceback[-1].lineno) == (__file__, line)
    assert (traceback[-2].filename, traceback[-2].lineno) == (__file__,
                                                              caller_line)
    assert len(traceback) <= 5


def test_get_object_traceback_none_for_untraced(stopped):
    # GIVEN an object made before tracing started
    obj = bytearray(10_000)
    tracemalloc.start(1)
    # THEN it has no traceback
    assert tracemalloc.get_object_traceback(obj) is None


def test_reexported_engine_functions():
    # The stdlib names that come straight from the engine are there.
    for name in ("clear_traces", "get_traceback_limit", "get_traced_memory",
                 "reset_peak", "get_tracemalloc_memory", "take_snapshot",
                 "Snapshot", "Filter", "DomainFilter", "Frame", "Traceback",
                 "Statistic", "StatisticDiff", "get_object_traceback"):
        assert callable(getattr(tracemalloc, name)), name


# --- value classes -----------------------------------------------------------

def test_frame():
    frame = tracemalloc.Frame(("a.py", 3))
    assert (frame.filename, frame.lineno) == ("a.py", 3)
    assert frame == tracemalloc.Frame("a.py", 3)
    assert hash(frame) == hash(tracemalloc.Frame(("a.py", 3)))
    assert frame < tracemalloc.Frame(("a.py", 4)) < tracemalloc.Frame(("b.py", 1))
    assert str(frame) == str(stdlib.Frame(("a.py", 3))) == "a.py:3"
    assert repr(frame) == repr(stdlib.Frame(("a.py", 3)))


RAW = (("inner.py", 30), ("middle.py", 20), ("outer.py", 10))  # most recent first


def test_traceback_is_a_sequence_oldest_first():
    traceback = tracemalloc.Traceback(RAW, total_nframe=7)
    assert len(traceback) == 3
    assert [str(frame) for frame in traceback] == [
        "outer.py:10", "middle.py:20", "inner.py:30"]
    assert traceback[0] == tracemalloc.Frame(("outer.py", 10))
    assert traceback[-1] == tracemalloc.Frame(("inner.py", 30))
    assert traceback[1:] == (tracemalloc.Frame(("middle.py", 20)),
                             tracemalloc.Frame(("inner.py", 30)))
    assert tracemalloc.Frame(("middle.py", 20)) in traceback
    assert traceback.total_nframe == 7
    assert tracemalloc.Traceback(RAW).total_nframe is None
    # equality and hash ignore total_nframe, as stdlib
    assert traceback == tracemalloc.Traceback(RAW)
    assert hash(traceback) == hash(tracemalloc.Traceback(RAW))
    # str and repr are stdlib's
    ours, theirs = tracemalloc.Traceback(RAW, 7), stdlib.Traceback(RAW, 7)
    assert str(ours) == str(theirs) == "outer.py:10"
    assert repr(ours) == repr(theirs)
    assert repr(tracemalloc.Traceback(RAW)) == repr(stdlib.Traceback(RAW))


def test_traceback_ordering_is_stdlib_ordering():
    rng = random.Random(5)
    raws = [tuple((rng.choice("abc") + ".py", rng.randint(1, 3))
                  for _ in range(rng.randint(1, 3))) for _ in range(60)]
    ours = sorted(range(len(raws)),
                  key=lambda i: tracemalloc.Traceback(raws[i]))
    theirs = sorted(range(len(raws)), key=lambda i: stdlib.Traceback(raws[i]))
    assert [raws[i] for i in ours] == [raws[i] for i in theirs]


@pytest.mark.parametrize("limit", [None, 1, 2, 5, -1, -2])
@pytest.mark.parametrize("most_recent_first", [False, True])
def test_traceback_format_is_stdlib_format(limit, most_recent_first):
    # GIVEN a traceback through real lines of this file
    here = sys._getframe().f_lineno
    raw = ((__file__, here), (__file__, here - 1), ("<no source>", 4))
    # WHEN formatted THEN the same lines as stdlib, source lines included
    ours = tracemalloc.Traceback(raw).format(limit, most_recent_first)
    theirs = stdlib.Traceback(raw).format(limit, most_recent_first)
    assert ours == theirs
    if limit is None:
        assert "    here = sys._getframe().f_lineno" in ours


SIZES = [0, 1, 99, 100, 1023, 1024, 10 * 1024 - 1, 10 * 1024, 99 * 1024,
         100 * 1024, 5 * 1024 ** 2, 123 * 1024 ** 3, 7 * 1024 ** 4,
         50_000 * 1024 ** 4]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("count", [0, 1, 3])
def test_statistic_str_and_repr_are_stdlib(size, count):
    tb_ours, tb_theirs = tracemalloc.Traceback(RAW), stdlib.Traceback(RAW)
    ours = tracemalloc.Statistic(tb_ours, size, count)
    theirs = stdlib.Statistic(tb_theirs, size, count)
    assert str(ours) == str(theirs)
    assert repr(ours) == repr(theirs)
    assert ours == tracemalloc.Statistic(tracemalloc.Traceback(RAW), size,
                                         count)
    for diff in (size, -size, 0):
        d_ours = tracemalloc.StatisticDiff(tb_ours, size, diff, count,
                                           -count)
        d_theirs = stdlib.StatisticDiff(tb_theirs, size, diff, count, -count)
        assert str(d_ours) == str(d_theirs)
        assert (d_ours.size, d_ours.size_diff, d_ours.count,
                d_ours.count_diff) == (size, diff, count, -count)


def test_statistic_str_example():
    stat = tracemalloc.Statistic(tracemalloc.Traceback((("f.py", 7),)),
                                 3 * 1024 * 1024, 3)
    assert str(stat) == "f.py:7: size=3072 KiB, count=3, average=1024 KiB"


def test_filter_and_domain_filter_attributes():
    f = tracemalloc.Filter(True, "x/*.pyc", lineno=3, all_frames=True,
                           domain=0)
    assert (f.inclusive, f.filename_pattern, f.lineno, f.all_frames,
            f.domain) == (True, "x/*.py", 3, True, 0)
    d = tracemalloc.DomainFilter(False, 0)
    assert (d.inclusive, d.domain) == (False, 0)


# --- Snapshot queries against stdlib's Snapshot on the same data -----------

FILES = ["/app/main.py", "/app/lib/util.py", "/usr/lib/python3/json/x.py",
         "<frozen importlib._bootstrap>", "<unknown>"]


def random_traces(rng, distinct_files=False, ntraces=400):
    """Per-block stdlib traces (domain 0) over a few tracebacks."""
    tracebacks = []
    for _ in range(40):
        depth = rng.randint(1, 4)
        if distinct_files:
            files = rng.sample(FILES, depth)
            frames = tuple((f, rng.randint(0, 6)) for f in files)
        else:
            frames = tuple((rng.choice(FILES), rng.randint(0, 6))
                           for _ in range(depth))
        tracebacks.append(frames)
    return [(0, rng.choice([8, 16, 64, 100, 4096, rng.randint(1, 10**6)]),
             rng.choice(tracebacks), None) for _ in range(ntraces)]


def as_sites(traces):
    sites = {}
    for _, size, frames, _ in traces:
        total = sites.setdefault(frames, [0, 0])
        total[0] += size
        total[1] += 1
    return [(frames, size, count) for frames, (size, count) in sites.items()]


def both(traces, limit=4):
    return (tracemalloc.Snapshot(as_sites(traces), limit),
            stdlib.Snapshot(traces, limit))


def flat(stats):
    return [(tuple((f.filename, f.lineno) for f in s.traceback),) +
            tuple(getattr(s, name) for name in
                  ("size", "size_diff", "count", "count_diff")
                  if hasattr(s, name)) for s in stats]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("key_type", ["filename", "lineno", "traceback"])
def test_statistics_equal_stdlib_on_same_data(seed, key_type):
    # GIVEN the same blocks as stdlib traces and as our per-site totals
    ours, theirs = both(random_traces(random.Random(seed)))
    # THEN statistics are identical, in the same order
    assert flat(ours.statistics(key_type)) == flat(theirs.statistics(key_type))
    assert str(ours.statistics(key_type)[0]) == str(
        theirs.statistics(key_type)[0])


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("key_type", ["filename", "lineno"])
def test_cumulative_statistics_equal_stdlib_without_recursion(seed,
                                                              key_type):
    # GIVEN tracebacks whose frames are in distinct files (so no frame and
    # no file repeats in one traceback, where stdlib counts a block twice)
    ours, theirs = both(random_traces(random.Random(seed),
                                      distinct_files=True))
    # THEN cumulative statistics are identical
    assert (flat(ours.statistics(key_type, cumulative=True))
            == flat(theirs.statistics(key_type, cumulative=True)))


def test_cumulative_counts_a_frame_once_per_traceback():
    # GIVEN a recursive traceback going twice through f.py:2, and g.py:1
    sites = [((("f.py", 2), ("g.py", 1), ("f.py", 2)), 100, 1)]
    snapshot = tracemalloc.Snapshot(sites, 3)
    # THEN cumulative 'lineno' counts the block once on each distinct line
    by_line = {str(s.traceback): (s.size, s.count)
               for s in snapshot.statistics("lineno", cumulative=True)}
    assert by_line == {"f.py:2": (100, 1), "g.py:1": (100, 1)}
    # AND once per file for 'filename'
    by_file = {str(s.traceback): (s.size, s.count)
               for s in snapshot.statistics("filename", cumulative=True)}
    assert by_file == {"f.py:0": (100, 1), "g.py:0": (100, 1)}
    # AND not cumulative: only the most recent frame
    assert [(str(s.traceback), s.size) for s in
            snapshot.statistics("lineno")] == [("f.py:2", 100)]


def test_statistics_key_errors():
    snapshot = tracemalloc.Snapshot([((("a.py", 1),), 1, 1)])
    with pytest.raises(ValueError):
        snapshot.statistics("func")
    with pytest.raises(ValueError):
        snapshot.statistics("traceback", cumulative=True)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("key_type,cumulative", [
    ("filename", False), ("lineno", False), ("traceback", False),
    ("lineno", True)])
def test_compare_to_equals_stdlib(seed, key_type, cumulative):
    # GIVEN two snapshots of overlapping random data
    rng = random.Random(100 + seed)
    old_traces = random_traces(rng, distinct_files=cumulative)
    new_traces = old_traces[:200] + random_traces(rng,
                                                  distinct_files=cumulative)
    new_ours, new_theirs = both(new_traces)
    old_ours, old_theirs = both(old_traces)
    # WHEN compared THEN the same diffs in the same order as stdlib
    ours = new_ours.compare_to(old_ours, key_type, cumulative)
    theirs = new_theirs.compare_to(old_theirs, key_type, cumulative)
    assert flat(ours) == flat(theirs)
    assert [str(d) for d in ours[:5]] == [str(d) for d in theirs[:5]]
    # AND keys only in the old snapshot show up with size 0
    assert any(d.size == 0 and d.size_diff < 0 for d in ours) == any(
        d.size == 0 and d.size_diff < 0 for d in theirs)


def filter_sets():
    F, D = tracemalloc.Filter, tracemalloc.DomainFilter
    return [
        [],
        [F(True, "/app/*")],
        [F(False, "/app/*")],
        [F(True, "*/util.py", lineno=3)],
        [F(False, "*", lineno=0)],
        [F(True, "/app/main.py", all_frames=True)],
        [F(False, "/app/main.py", all_frames=True)],
        [F(False, "/app/main.py", lineno=2, all_frames=True)],
        [F(True, "/app/*"), F(True, "<*"), F(False, "*", lineno=5)],
        [F(True, "*", domain=0)],
        [F(True, "*", domain=1)],
        [F(False, "/app/*", domain=1)],
        [F(False, "/app/*", domain=0)],
        [D(True, 0)],
        [D(False, 0)],
        [D(True, 1), F(False, "*")],
        [F(True, "*.pyc")],
    ]


@pytest.mark.parametrize("index", range(len(filter_sets())))
def test_filter_traces_equals_stdlib(index):
    # GIVEN the same data in both snapshot kinds
    ours, theirs = both(random_traces(random.Random(index)))
    ours_filters = filter_sets()[index]
    theirs_filters = [
        stdlib.DomainFilter(f.inclusive, f.domain)
        if isinstance(f, tracemalloc.DomainFilter) else
        stdlib.Filter(f.inclusive, f.filename_pattern, f.lineno,
                      f.all_frames, f.domain) for f in ours_filters]
    # WHEN filtered
    kept_ours = ours.filter_traces(ours_filters)
    kept_theirs = theirs.filter_traces(theirs_filters)
    # THEN a new snapshot, the original untouched, same result as stdlib
    assert kept_ours is not ours
    assert isinstance(kept_ours, tracemalloc.Snapshot)
    assert flat(ours.statistics("traceback")) == flat(
        theirs.statistics("traceback"))
    assert flat(kept_ours.statistics("traceback")) == flat(
        kept_theirs.statistics("traceback"))


def test_filter_traces_checks_its_argument():
    snapshot = tracemalloc.Snapshot([((("a.py", 1),), 1, 1)])
    with pytest.raises(TypeError):
        snapshot.filter_traces(tracemalloc.Filter(True, "*"))
    with pytest.raises(TypeError):
        snapshot.filter_traces(["*"])


def test_filter_traces_keeps_metadata():
    snapshot = tracemalloc.Snapshot([((("a.py", 1),), 1, 1),
                                     ((("b.py", 1),), 2, 1)], 7, pid=42,
                                    time=1e9, process_memory=5,
                                    tracemalloc_memory=9,
                                    user_data=[("t", "size", 1)])
    kept = snapshot.filter_traces([tracemalloc.Filter(True, "b.py")])
    assert (kept.pid, kept.time, kept.timestamp, kept.traceback_limit,
            kept.process_memory, kept.tracemalloc_memory, kept.user_data) == (
        42, 1e9, snapshot.timestamp, 7, 5, 9, [("t", "size", 1)])
    assert kept.stats == {"b.py": {1: (2, 1)}}


def test_traces_attribute_is_documented_absent():
    snapshot = tracemalloc.Snapshot([((("a.py", 1),), 1, 1)])
    assert not hasattr(snapshot, "traces")
    with pytest.raises(AttributeError, match="per-site"):
        snapshot.traces


def test_snapshot_on_the_engine(stopped):
    # GIVEN a block of known size made at a known line, 5 frames deep
    tracemalloc.start(5)
    before = tracemalloc.take_snapshot()
    block, line = _allocate_here()
    caller = sys._getframe().f_lineno - 1
    after = tracemalloc.take_snapshot()
    # THEN statistics('lineno') holds it on its line, with traceback_limit
    assert after.traceback_limit == 5
    stats = {(s.traceback[0].filename, s.traceback[0].lineno): s
             for s in after.statistics("lineno")}
    assert stats[(__file__, line)].size >= 50_000
    # AND compare_to shows the growth on that line
    diffs = {str(d.traceback): d for d in after.compare_to(before, "lineno")}
    grown = diffs["%s:%d" % (__file__, line)]
    assert 50_000 <= grown.size_diff < 51_000
    # AND 'traceback' statistics end at that line with the caller before it
    tb_stats = [s for s in after.statistics("traceback")
                if s.traceback[-1] == tracemalloc.Frame((__file__, line))]
    assert tb_stats and len(tb_stats[0].traceback) >= 2
    # AND a cumulative statistic counts it on the caller's line too
    cumulative = {(s.traceback[0].filename, s.traceback[0].lineno): s.size
                  for s in after.statistics("lineno", cumulative=True)}
    assert cumulative[(__file__, caller)] >= 50_000
    del block


# --- the same script under stdlib tracemalloc and under pytracemalloc -------

WORKLOAD = r'''
import ast, difflib, gc, importlib.util, json, sys, textwrap
import pytracemalloc, tracemalloc as stdlib_tracemalloc  # same modules loaded
if sys.argv[1] == "stdlib":
    import tracemalloc
else:
    import pytracemalloc as tracemalloc

MODULES = ["argparse", "inspect", "typing", "dataclasses", "json.decoder",
           "email.message", "pathlib", "tarfile", "logging",
           "unittest.case"]


def read(name):
    with open(importlib.util.find_spec(name).origin,
              encoding="utf-8") as source:
        return source.read()


def work():
    texts = [read(name) for name in MODULES]
    kept = [ast.parse(text, name) for name, text in zip(MODULES, texts)]
    kept += [compile(text, name, "exec") for name, text in zip(MODULES, texts)]
    kept += [textwrap.wrap(text, 60) for text in texts]
    changed = texts[0].replace("self", "me").splitlines()
    kept.append(list(difflib.unified_diff(texts[0].splitlines(), changed)))
    return kept


tracemalloc.start(5)
kept = work()
gc.collect()  # a full collection empties the free lists: see below
snapshot = tracemalloc.take_snapshot()
tracemalloc.stop()
print(json.dumps({key: [[[[f.filename, f.lineno] for f in s.traceback],
                         s.size, s.count]
                        for s in snapshot.statistics(key)]
                  for key in ("lineno", "traceback")}))
'''


DOCUTILS_WORKLOAD = r'''
import gc, json, sys
import pytracemalloc, tracemalloc as stdlib_tracemalloc  # same modules loaded
import docutils.core, docutils.parsers.rst, docutils.writers.html5_polyglot
if sys.argv[1] == "stdlib":
    import tracemalloc
else:
    import pytracemalloc as tracemalloc

SECTION = """
Section {0}
===========

A paragraph with *emphasis*, **strong** text, ``literals`` and a
`link <https://example.org/{0}>`_, long enough to wrap once or twice in
the output of the writer.

* item one of {0}
* item two, with a nested list:

  - nested a
  - nested b

::

    def f{0}(x):
        return x * {0}

=====  =====
 a      b
=====  =====
 {0}    {0}
=====  =====
"""
text = "".join(SECTION.format(i) for i in range(30))
tracemalloc.start(5)
kept = [docutils.core.publish_doctree(text), docutils.core.publish_string(
    text, writer_name="html5", settings_overrides={"output_encoding": "unicode"})]
gc.collect()
snapshot = tracemalloc.take_snapshot()
tracemalloc.stop()
print(json.dumps({key: [[[[f.filename, f.lineno] for f in s.traceback],
                         s.size, s.count]
                        for s in snapshot.statistics(key)]
                  for key in ("lineno", "traceback")}))
'''


def run_workload(tmp_path, which, workload=WORKLOAD):
    script = tmp_path / "workload.py"
    script.write_text(workload)
    out = subprocess.run([sys.executable, str(script), which], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return json.loads(out)


def is_tracer_frame(frame):
    filename = frame[0]
    return (filename == stdlib.__file__
            or filename.startswith(os.path.dirname(tracemalloc.__file__)))


@pytest.mark.parametrize("key_type", ["lineno", "traceback"])
def test_same_script_same_statistics_as_stdlib(tmp_path, key_type):
    """What is fair to compare: CPython recycles some objects from free
    lists without calling the allocator, and only stdlib tracemalloc has
    the private hook that moves their trace to the line that reuses them
    (see tests/test_oracle.py).  So lines holding a few recycled objects
    may differ by a few hundred bytes; and with the free-list hooks of
    patches/ or on 3.13 (exact modes) dead blocks parked in a free list
    leave our statistics while stdlib keeps them on their first line.  A
    full collection empties the free lists before the snapshot, so both
    tracers see the parked blocks freed.  The workload is real code we did
    not write that builds its objects fresh (ast, compile, textwrap,
    difflib on stdlib sources); the lines holding at least 0.1% of the
    memory must be the same and within 1%, and at least 99% of all bytes
    must be on the same keys with the same sizes.  The tracers' own lines
    (taking the snapshot) are left out."""
    # GIVEN the statistics of the same script under both tracers
    theirs = {tuple(map(tuple, frames)): size for frames, size, _ in
              run_workload(tmp_path, "stdlib")[key_type]
              if not is_tracer_frame(frames[-1])}
    ours = {tuple(map(tuple, frames)): size for frames, size, _ in
            run_workload(tmp_path, "ours")[key_type]
            if not is_tracer_frame(frames[-1])}
    total = sum(theirs.values())
    assert total > 10 * 1024 * 1024
    # THEN every big key is in both, within 1%
    big = {key: size for key, size in theirs.items() if size >= total / 1000}
    assert len(big) >= 5
    for key, size in big.items():
        assert key in ours, key
        assert abs(ours[key] - size) <= size / 100, (key, size, ours[key])
    # AND at least 99% of the bytes agree, key by key
    agreeing = sum(min(size, ours.get(key, 0)) for key, size in theirs.items())
    assert agreeing >= 0.99 * total
    # AND the big keys come in the same order
    order_theirs = [k for k in sorted(theirs, key=theirs.get, reverse=True)
                    if k in big]
    order_ours = [k for k in sorted(ours, key=ours.get, reverse=True)
                  if k in big]
    assert order_ours[:3] == order_theirs[:3]


@pytest.mark.skipif(
    engine.get_free_list_mode() not in ("reftracer", "disabled"),
    reason="docutils recycles many objects through free lists: only the "
    "exact free-list modes of 3.13+ and --without-freelists agree with "
    "stdlib on it (README, free lists)")
@pytest.mark.parametrize("key_type", ["lineno", "traceback"])
def test_docutils_same_statistics_as_stdlib_in_exact_modes(tmp_path,
                                                           key_type):
    """docutils parsing and writing a document: hundreds of lines.  In the
    exact modes recycled objects move like in stdlib, except raw-memory
    caches that are not objects (the keys tables of small dicts on 3.13,
    README): a line that builds small dicts may differ, so the rule is on
    bytes: the big keys are in both, and 99.5% of all bytes (99% on 3.13+,
    see below) and 95% of the bytes of big keys agree within 1%."""
    theirs = {tuple(map(tuple, frames)): size for frames, size, _ in
              run_workload(tmp_path, "stdlib", DOCUTILS_WORKLOAD)[key_type]
              if not is_tracer_frame(frames[-1])}
    ours = {tuple(map(tuple, frames)): size for frames, size, _ in
            run_workload(tmp_path, "ours", DOCUTILS_WORKLOAD)[key_type]
            if not is_tracer_frame(frames[-1])}
    total = sum(theirs.values())
    big = {key: size for key, size in theirs.items() if size >= total / 1000}
    assert len(big) >= 50
    assert all(key in ours for key in big)
    close = sum(size for key, size in big.items()
                if abs(ours[key] - size) <= size / 100)
    assert close >= 0.95 * sum(big.values())
    agreeing = sum(min(size, ours.get(key, 0)) for key, size in theirs.items())
    # Each tracer runs docutils in a process of its own, and two runs of
    # the same tracer already differ this much: on 3.14 stdlib against
    # stdlib agreed on 99.58% of the bytes at worst in 6 runs, ours against
    # stdlib on 99.47% at worst in 10; on 3.13 stdlib against stdlib on
    # 99.67% at worst in 6, ours against stdlib on 99.52% in the same 6 and
    # 99.48% in a make test of 2026-12-08.  Hence 99% on 3.13+ (the
    # --without-freelists row of 3.11 keeps 99.5%).
    assert agreeing >= (0.99 if sys.version_info >= (3, 13) else 0.995) * total


def test_code_written_for_stdlib_runs_unchanged(stopped):
    # GIVEN code in the style of the stdlib documentation's examples
    import pytracemalloc as tracemalloc  # the drop-in import

    tracemalloc.start(10)
    first = tracemalloc.take_snapshot()
    data = [bytearray(1000) for _ in range(300)]  # the allocating line
    line = sys._getframe().f_lineno - 1
    second = tracemalloc.take_snapshot().filter_traces((
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<unknown>"),
        tracemalloc.Filter(False, tracemalloc.__file__.rsplit("/", 1)[0]
                           + "/*"),
    ))
    # WHEN the usual reports are made
    top = second.statistics("lineno")
    report = [str(stat) for stat in top[:10]]
    growth = [str(stat) for stat in second.compare_to(first, "lineno")[:10]]
    biggest = second.statistics("traceback")[0]
    formatted = biggest.traceback.format()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # THEN they name the allocating line, with its source
    where = "%s:%d: " % (__file__, line)
    assert report[0].startswith(where) and "count=" in report[0]
    assert growth[0].startswith(where) and "(+" in growth[0]
    assert formatted[-1].strip().startswith("data = [bytearray(1000)")
    assert biggest.size >= 300_000
    assert peak >= current >= 300_000
    del data
