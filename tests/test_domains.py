"""Domains (issue 14): every site is a domain and a traceback.  Blocks that
extensions report (numpy's array data in domain 389047, our C API) are
filtered, grouped, displayed and saved as stdlib tracemalloc does; these
tests need no numpy (tests/test_numpy.py has numpy's)."""

import gzip
import io
import json
import os
import random
import textwrap
import tracemalloc as stdlib

import pytest

import pytracemalloc as tracemalloc
from pytracemalloc import DisplayTop, Snapshot, SnapshotLoadError
from pytracemalloc import _tracemalloc as engine

from extbuild import ROOT, build_extension, run_script

ARRAY = 389047
FILES = ["/app/main.py", "/app/lib/util.py", "<unknown>"]


def random_traces(rng, ntraces=300):
    """stdlib per-block traces over a few tracebacks and three domains."""
    tracebacks = [tuple((rng.choice(FILES), rng.randint(0, 4))
                        for _ in range(rng.randint(1, 3)))
                  for _ in range(12)]
    return [(rng.choice([0, 0, ARRAY, 7]),
             rng.choice([8, 100, 4096, rng.randint(1, 10**6)]),
             rng.choice(tracebacks), None) for _ in range(ntraces)]


def as_sites(traces):
    sites = {}
    for domain, size, frames, _ in traces:
        total = sites.setdefault((frames, domain), [0, 0])
        total[0] += size
        total[1] += 1
    return [(frames, size, count, domain)
            for (frames, domain), (size, count) in sites.items()]


def flat(stats):
    return [(tuple((f.filename, f.lineno) for f in s.traceback),
             s.size, s.count) for s in stats]


def filter_sets():
    return [
        [],
        [("D", True, ARRAY)],
        [("D", False, ARRAY)],
        [("D", True, 7)],
        [("F", True, "/app/*", ARRAY)],
        [("F", False, "/app/*", ARRAY)],
        [("D", False, 0), ("F", False, "<*", None)],
    ]


def make_filters(module, spec):
    filters = []
    for item in spec:
        if item[0] == "D":
            filters.append(module.DomainFilter(item[1], item[2]))
        else:
            filters.append(module.Filter(item[1], item[2], domain=item[3]))
    return filters


@pytest.mark.parametrize("index", range(len(filter_sets())))
@pytest.mark.parametrize("key_type", ["lineno", "filename", "traceback"])
def test_domain_filters_and_statistics_equal_stdlib(index, key_type):
    # GIVEN the same blocks, in three domains, in both snapshot kinds
    traces = random_traces(random.Random(index))
    ours = Snapshot(as_sites(traces), 3)
    theirs = stdlib.Snapshot(traces, 3)
    spec = filter_sets()[index]
    # WHEN filtered then grouped
    ours = ours.filter_traces(make_filters(tracemalloc, spec))
    theirs = theirs.filter_traces(make_filters(stdlib, spec))
    # THEN the statistics are stdlib's: domains filtered first, then every
    # domain of a key grouped together
    assert flat(ours.statistics(key_type)) == flat(
        theirs.statistics(key_type))


def test_same_traceback_in_two_domains_is_one_statistic():
    frames = (("/app/main.py", 3),)
    snapshot = Snapshot([(frames, 100, 2, 0), (frames, 5000, 1, ARRAY)])
    (stat,) = snapshot.statistics("lineno")
    assert (stat.size, stat.count) == (5100, 3)
    assert snapshot.domain_totals() == {0: (100, 2), ARRAY: (5000, 1)}


def test_snapshot_file_keeps_domains_and_old_files_load_as_domain_0(tmp_path):
    # GIVEN a snapshot with array data
    sites = [((("/app/main.py", 3),), 100, 2, 0),
             ((("/app/main.py", 3),), 5000, 1, ARRAY),
             ((("/app/util.py", 9), ("/app/main.py", 4)), 77, 1, 7)]
    path = tmp_path / "arrays.snapshot"
    Snapshot(sites, 2, pid=1, time=1.5).write(path)
    # THEN it is written as version 2 and read back with its domains
    doc = json.loads(gzip.decompress(path.read_bytes()))
    assert doc["version"] == 2
    assert (sorted(site[:4] for site in Snapshot.load(path)._sites)
            == sorted(sites))
    # AND a snapshot of domain 0 only is written as version 1, which
    # earlier pytracemalloc reads
    plain = tmp_path / "plain.snapshot"
    Snapshot([site for site in sites if not site[3]], 2, pid=1).write(plain)
    doc = json.loads(gzip.decompress(plain.read_bytes()))
    assert doc["version"] == 1 and all(len(row) == 3 for row in doc["sites"])
    # AND version 1 files load as domain 0
    assert Snapshot.load(plain).domain_totals() == {0: (100, 2)}


@pytest.mark.parametrize("domain", [-1, "389047", 2 ** 32, 1.5, None])
def test_invalid_domain_in_a_file_is_refused(tmp_path, domain):
    path = tmp_path / "bad.snapshot"
    Snapshot([((("/a.py", 1),), 1, 1, ARRAY)], pid=1).write(path)
    doc = json.loads(gzip.decompress(path.read_bytes()))
    doc["sites"][0][2] = domain
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    with pytest.raises(SnapshotLoadError) as info:
        Snapshot.load(path)
    assert "invalid site" in info.value.reason


def test_bad_site_tuples_are_refused():
    with pytest.raises(TypeError):
        Snapshot([((("/a.py", 1),), 1)])


def test_display_marks_array_data_and_totals_it():
    # GIVEN a line with both Python objects and array data
    frames = (("/app/main.py", 3),)
    snapshot = Snapshot([(frames, 2048, 4, 0), (frames, 10 * 2**20, 1, ARRAY),
                         ((("/app/x.py", 1),), 64, 1, 7)], 1)
    out = io.StringIO()
    top = DisplayTop(10, file=out)
    top.show_lineno = True
    top.color = False
    # WHEN displayed
    top.display_snapshot(snapshot)
    lines = out.getvalue().splitlines()
    # THEN the array data is a row of its own, marked, and totalled apart
    # (0.9.1 shows an average only where the count is above 1)
    assert "#1: /app/main.py:3 [array data]: size=10 MiB, count=1" in lines
    assert "#2: /app/main.py:3: size=2048 B, count=4, average=512 B" in lines
    assert "#3: /app/x.py:1 [domain 7]: size=64 B, count=1" in lines
    assert "  of which array data: size=10 MiB, count=1" in lines
    assert "  of which domain 7: size=64 B, count=1" in lines
    # AND without such blocks the 0.9.1 output has no extra line
    out = io.StringIO()
    DisplayTop(10, file=out).display_snapshot(
        Snapshot([(frames, 2048, 4, 0)], 1))
    assert "of which" not in out.getvalue()


def test_engine_sites_carry_their_domain():
    # GIVEN tracing and a RAW block of a known size
    engine.enable()
    try:
        handle = engine._test_malloc(engine.DOMAIN_RAW, 123457)
        sites = engine._get_sites(True)
        engine._test_free(engine.DOMAIN_RAW, handle)
    finally:
        engine.disable()
    # THEN every site has a domain, 0 for CPython's allocators
    assert all(len(site) == 4 for site in sites)
    assert any(site[0] == 123457 and site[3] == 0 for site in sites)
    assert all(len(site) == 3 for site in engine._get_sites())


def build_example(tmp_path_factory, hardened=False):
    out = tmp_path_factory.mktemp("capi")
    return build_extension(
        "tracked_buffers",
        os.path.join(ROOT, "examples", "capi", "tracked_buffers.c"), out,
        [tracemalloc.get_include()], hardened=hardened)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """examples/capi/tracked_buffers.c, built as a user would (with
    pytracemalloc.get_include())."""
    return build_example(tmp_path_factory)


@pytest.fixture(scope="module", params=["plain", "hardened"])
def any_build(request, tmp_path_factory):
    """The example built plainly (calls through the PLT, lazy binding) and
    hardened (calls through the GOT, GOT read-only after relocation)."""
    return build_example(tmp_path_factory, request.param == "hardened")


def test_c_api_example_reports_its_buffers(tmp_path, example):
    script = textwrap.dedent('''
        import json, threading
        import pytracemalloc as tm
        import tracked_buffers as tb

        def at(line, domain):
            snap = tm.take_snapshot().filter_traces(
                [tm.DomainFilter(True, domain)])
            return [[s.traceback[0].filename, s.traceback[0].lineno,
                     s.size, s.count] for s in snap.statistics("lineno")]

        off = tb.probe()                    # tracing off: nothing done
        early = tb.alloc(1000)              # before enable(): untracked
        tm.enable()
        on = tb.probe()
        before = tm.get_traced_memory()[0]
        handle = tb.alloc(12345)            # line 17
        c_thread = tb.alloc_without_gil(777)
        results = []
        t = threading.Thread(target=lambda: results.append(tb.alloc(4321)))
        t.start(); t.join()                 # (the lambda is line 20)
        during = tm.get_traced_memory()[0]
        seen = at(17, tb.DOMAIN)
        tb.free(early)
        tb.free(handle); tb.free(c_thread); tb.free(results[0])
        after = at(17, tb.DOMAIN)
        tm.disable()
        late = tb.probe()
        print(json.dumps(dict(off=off, on=on, seen=seen, after=after,
                              grew=during - before, late=late)))
    ''')
    out = run_script(tmp_path / "script.py", script, [example])
    result = json.loads(out.strip().splitlines()[-1])
    path = str(tmp_path / "script.py")
    # THEN the C API answers -2 when not tracing, 0 when tracing
    assert result["off"] == [-2, -2] and result["late"] == [-2, -2]
    assert result["on"] == [0, 0]
    # AND the buffers are on the lines that made them, in the example's
    # domain, the C thread's on "<unknown>" (it never ran Python code)
    assert sorted(map(tuple, result["seen"])) == sorted([
        (path, 17, 12345, 1), (path, 20, 4321, 1), ("<unknown>", 0, 777, 1)])
    assert result["grew"] >= 12345 + 777 + 4321
    # AND freeing (even a buffer made before enable()) leaves nothing
    assert result["after"] == []


def test_an_extension_reporting_to_stdlib_is_seen_too(tmp_path, any_build):
    # GIVEN an extension that reports its buffers with PyTraceMalloc_Track,
    # imported after enable(), and both tracers on
    script = textwrap.dedent('''
        import json, tracemalloc
        import pytracemalloc as tm
        tracemalloc.start()
        tm.enable()
        import tracked_buffers as tb
        handle = tb.alloc_stdlib_way(99991)  # line 7
        ours = [(s.traceback[0].lineno, s.size, s.count) for s in
                tm.take_snapshot().filter_traces([tm.DomainFilter(
                    True, tb.STDLIB_WAY_DOMAIN)]).statistics("lineno")]
        theirs = [(s.traceback[0].lineno, s.size, s.count) for s in
                  tracemalloc.take_snapshot().filter_traces(
                      [tracemalloc.DomainFilter(True, tb.STDLIB_WAY_DOMAIN)]
                  ).statistics("lineno")]
        tb.free_stdlib_way(handle)
        left = tm.take_snapshot().domain_totals().get(tb.STDLIB_WAY_DOMAIN)
        reporters = tm._tracemalloc._get_reporters()
        print(json.dumps(dict(ours=ours, theirs=theirs, left=left,
                              reporters=reporters)))
    ''')
    out = run_script(tmp_path / "script.py", script, [any_build])
    result = json.loads(out.strip().splitlines()[-1])
    # THEN both tracers see the block on its line, and its free
    assert result["ours"] == [[7, 99991, 1]] == result["theirs"]
    assert result["left"] is None
    assert any("tracked_buffers" in name for name in result["reporters"])


def test_capsule_is_reachable_without_linking():
    capsule = engine._C_API
    assert type(capsule).__name__ == "PyCapsule"
    assert "pytracemalloc._tracemalloc._C_API" in repr(capsule)
    header = os.path.join(tracemalloc.get_include(), "pytracemalloc_capi.h")
    assert os.path.exists(header)
