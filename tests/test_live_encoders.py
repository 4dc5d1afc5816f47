"""The engine's encoders of the live statistics (src/pprof.c and
src/snapfile.c, through pytracemalloc/live.py), which the HTTP endpoint
serves, against the Python reference encoders (pytracemalloc/pprof.py and
snapshot_format.py): given the very same statistics, the very same bytes.

The engine hands back the sites it encoded (with_sites), so that both
encoders read one copy of the statistics: the process keeps allocating
between two read-outs, so two separate copies would differ.
"""

import gzip
import json
import os
import sys

import pytest

import pytracemalloc
from pytracemalloc import _tracemalloc as engine
from pytracemalloc import live, pprof, snapshot_format
from pytracemalloc.domains import domain_name
from pytracemalloc.snapshot import Snapshot

from conftest import KnownBlock
from test_domains import example  # noqa: F401 (a fixture)
from test_export import _fields, _packed

# A time whose nanoseconds are exact in a float, as the reference encoder
# computes them from Snapshot.time.
TIME = 1765000000.25
TIME_NANOS = 1765000000250000000

# Filenames that the JSON and protobuf encoders must carry unchanged:
# non-ASCII, a character above U+FFFF, quotes, backslashes, controls,
# DEL, and a name with no directory.
ODD_FILENAMES = [
    "/tmp/caf\u00e9 \"quoted\" back\\slash.py",
    "/tmp/tab\there\nnewline\x7f\x01 \U0001F600.py",
    "no_directory.py",
]

PROGRAM = '''
def leaf(keep, size):
    keep.append(bytearray(size))   # the leaf line


def middle(keep, size):
    leaf(keep, size)
    keep.append([None] * (size // 64))
    keep.append((lambda n: bytes(n))(size // 2))


class Holder:
    def fill(self, keep, size):
        middle(keep, size)
'''


def load_programs(keep):
    """Run PROGRAM under each odd filename and at one more ordinary path,
    allocating a known size per file; return their namespaces."""
    namespaces = []
    for index, filename in enumerate(ODD_FILENAMES + [__file__ + "-prog"]):
        namespace = {}
        exec(compile(PROGRAM, filename, "exec"), namespace)
        namespace["Holder"]().fill(keep, 1000 * (index + 1))
        namespace["middle"](keep, 333)
        namespaces.append(namespace)
    return namespaces


@pytest.fixture(params=[1, 5], ids=["nframe1", "nframe5"])
def traced(request):
    """Tracing, with the sites of load_programs(), known blocks of each
    allocator domain (tests/conftest.py) and one of a C thread, whose
    frame ("<unknown>", 0) has no function name."""
    engine.enable(request.param)
    keep = []
    load_programs(keep)
    blocks = [KnownBlock(domain, 5000 + domain) for domain in
              (engine.DOMAIN_RAW, engine.DOMAIN_MEM, engine.DOMAIN_OBJ)]
    blocks.append(KnownBlock.from_c_thread(7777))
    yield request.param, keep
    for block in blocks:
        block.free()
    engine.disable()


def reference_snapshot(sites, sample_bytes=None):
    return Snapshot(sites, engine.get_traceback_limit(), time=TIME,
                    sample_bytes=sample_bytes)


def live_pprof_pair(period=1):
    return engine._live_pprof(live._OWN_PREFIX, TIME_NANOS, period,
                              domain_name, True)


def test_live_pprof_is_the_reference_profile_byte_for_byte(traced):
    # GIVEN tracing, with sites in files of odd names, in functions,
    # methods and lambdas
    # WHEN the engine encodes the live statistics
    data, sites = live_pprof_pair()
    # THEN the Python encoder writes the same bytes for the same sites
    assert len(sites) > 20
    assert any(site[0][0] == ("<unknown>", 0) for site in sites)
    expected = gzip.decompress(pprof.pprof_bytes(reference_snapshot(sites)))
    assert data == expected


def test_live_pprof_with_domains_and_a_sampled_rate(example):
    # GIVEN blocks of an extension's own domain and of PyTraceMalloc_Track
    # (tests/test_domains.py's example), in sampled mode
    sys.path.insert(0, example)
    try:
        import tracked_buffers as tb
        engine.enable(3, sample_bytes=4096)
        handles = [tb.alloc(50000), tb.alloc_stdlib_way(70000)]
        keep = []
        load_programs(keep)
        # WHEN the engine encodes them, with the sampling rate as period
        data, sites = live_pprof_pair(period=engine.get_sample_bytes())
        expected = gzip.decompress(pprof.pprof_bytes(
            reference_snapshot(sites, engine.get_sample_bytes())))
        tb.free(handles[0])
        tb.free_stdlib_way(handles[1])
    finally:
        engine.disable()
        sys.path.remove(example)
    # THEN the reference encoder agrees byte for byte, and the sites of
    # other domains carry their label
    assert data == expected
    assert len({site[3] for site in sites}) >= 2
    fields = list(_fields(data))
    strings = [value.decode() for number, value in fields if number == 6]
    labelled = [value for number, value in fields
                if number == 2 and any(n == 3 for n, _ in _fields(value))]
    assert labelled and "domain" in strings
    assert dict(fields)[12] == 4096  # period


def test_live_snapshot_tables_are_the_reference_tables(traced):
    # GIVEN tracing, with sites in files of odd names
    # WHEN the engine writes a snapshot file's tables
    (version, own, tables), sites = engine._live_snapshot_tables(
        live._OWN_PREFIX, False, True)
    # THEN they are the text json.dumps writes for the same sites
    ref_version, ref_tables = snapshot_format._tables(
        reference_snapshot(sites))
    assert version == ref_version == snapshot_format.FORMAT_VERSION
    assert tables.decode("ascii") == json.dumps(
        ref_tables, separators=(",", ":"))[1:-1]
    # AND the odd filenames survive the round trip
    names = json.loads("{%s}" % tables.decode("ascii"))["filenames"]
    assert set(ODD_FILENAMES) <= set(names)
    assert own >= 0


def test_sampled_live_snapshot_is_version_4_with_its_rate():
    # GIVEN sampled mode
    engine.enable(1, sample_bytes=8192)
    try:
        keep = []
        load_programs(keep)
        (version, _, tables), sites = engine._live_snapshot_tables(
            live._OWN_PREFIX, True, True)
        data = live.snapshot_bytes()
    finally:
        engine.disable()
    ref_version, ref_tables = snapshot_format._tables(
        reference_snapshot(sites, 8192))
    # THEN tables and version are the reference's, and the file says its
    # rate
    assert version == ref_version
    assert tables.decode("ascii") == json.dumps(
        ref_tables, separators=(",", ":"))[1:-1]
    assert Snapshot.loads(data).sample_bytes == 8192


def known_blocks(n, size):
    """n blocks of size bytes (and a bytes object's header) at one line."""
    keep = [None] * n
    for index in range(n):
        keep[index] = bytes(size)  # known line
    return keep


KNOWN_LINE = known_blocks.__code__.co_firstlineno + 4


def test_live_snapshot_file_reads_back_exactly(tmp_path):
    # GIVEN 100 blocks of 10,000 bytes at a known line
    engine.enable(1)
    try:
        keep = known_blocks(100, 10000)
        # WHEN the live snapshot file is written and read back
        data = live.snapshot_bytes()
        created = Snapshot.create()
    finally:
        engine.disable()
    snapshot = Snapshot.loads(data)
    lines = {(s.traceback[0].filename, s.traceback[0].lineno): s
             for s in snapshot.statistics("lineno")}
    # THEN the known line is exact (a bytes object's header included, as
    # the engine counts it)
    known = lines[(__file__, KNOWN_LINE)]
    assert known.count == 100
    assert known.size == 100 * sys.getsizeof(bytes(10000))
    # AND the header is that of Snapshot.create(): this process, the
    # tracer's memory, no user data, exact figures
    assert snapshot.pid == os.getpid()
    assert snapshot.traceback_limit == 1
    assert snapshot.user_data is None and snapshot.sample_bytes is None
    assert snapshot.native is False
    assert snapshot.tracemalloc_memory >= 0
    assert abs(snapshot.time - created.time) < 60
    # AND pytracemalloc's own code is left out of the sites, as in
    # Snapshot.create()
    package = os.path.dirname(pytracemalloc.__file__) + os.sep
    assert not [key for key in lines if key[0].startswith(package)]


def test_live_pprof_reads_back_the_known_line():
    # GIVEN 50 blocks of 20,000 bytes at a known line
    engine.enable(1)
    try:
        keep = known_blocks(50, 20000)
        data = gzip.decompress(live.pprof_bytes())
    finally:
        engine.disable()
    # THEN the profile holds the line with its count and size
    fields = list(_fields(data))
    strings = [value.decode() for number, value in fields if number == 6]
    functions = {}
    for number, value in fields:
        if number == 5:
            record = dict(_fields(value))
            functions[record[1]] = strings[record.get(2, 0)]
    locations = {}
    for number, value in fields:
        if number == 4:
            record = dict(_fields(value))
            line = dict(_fields(record[4]))
            locations[record[1]] = (functions[line[1]], line.get(2, 0))
    found = []
    for number, value in fields:
        if number == 2:
            sample = dict(_fields(value))
            ids = _packed(sample[1])
            if locations[ids[0]] == ("known_blocks", KNOWN_LINE):
                found.append(_packed(sample[2]))
    assert len(found) == 1
    count, size = found[0]
    assert (count, size) == (50, 50 * sys.getsizeof(bytes(20000)))
    assert dict(fields)[12] == 1  # period: exact figures


def test_live_encoders_refuse_when_not_tracing():
    # GIVEN no tracing
    assert not engine.is_enabled()
    # THEN both say why, as Snapshot.create() does
    with pytest.raises(RuntimeError, match="must be tracing"):
        live.pprof_bytes()
    with pytest.raises(RuntimeError, match="must be tracing"):
        live.snapshot_bytes()


def test_live_encoders_say_memory_error_and_keep_tracing():
    # GIVEN tracing, with sites at odd filenames
    engine.enable(5)
    try:
        keep = []
        load_programs(keep)
        expected = gzip.decompress(live.pprof_bytes())
        outcomes = set()
        # WHEN the tracer's own memory fails after 0, 1, 2... allocations
        # during a scrape (every error path of src/pprof.c, snapfile.c and
        # bytebuf.c in turn)
        for after in range(0, 60, 3):
            for encode in (live.pprof_bytes, live.snapshot_bytes):
                engine._test_fail_after(after)
                try:
                    encode()
                    outcomes.add("whole")
                except MemoryError:
                    outcomes.add("MemoryError")
                finally:
                    engine._test_fail_after(-1)
        # THEN each scrape either succeeded or raised MemoryError, and the
        # next ones are whole
        assert outcomes == {"whole", "MemoryError"}
        again = gzip.decompress(live.pprof_bytes())
        Snapshot.loads(live.snapshot_bytes())
    finally:
        engine.disable()
    assert len(again) > len(expected) // 2


def test_live_encoders_give_back_their_memory():
    # GIVEN tracing
    engine.enable(5)
    try:
        keep = []
        load_programs(keep)
        # WHEN scrape after scrape runs (the first ones intern the sites
        # of this loop's own lines)
        readings = []
        for _ in range(10):
            live.pprof_bytes()
            live.snapshot_bytes()
            readings.append(engine.get_tracemalloc_memory())
    finally:
        engine.disable()
    # THEN the encoders' tables go back to the tracer's memory count
    # (rawmem), to the byte: the last scrapes leave it unchanged
    assert len(set(readings[-5:])) == 1, readings
