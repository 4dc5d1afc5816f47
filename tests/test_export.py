"""python -m pytracemalloc export: pprof profiles read back by Go's own
reader (Debian's golang-go: ``go tool pprof``), folded stacks, and the
command's errors.

The oracle of a profile is the snapshot's own statistics: every line of
``go tool pprof -top -lines`` must hold exactly the bytes and blocks that
``Snapshot.statistics("lineno")`` gives that line, and the function that
the frame names.
"""

import gzip
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import pytracemalloc
from pytracemalloc import Snapshot, export
from pytracemalloc.pprof import collapsed_text, pprof_bytes

GO = shutil.which("go")
needs_go = pytest.mark.skipif(
    GO is None, reason="Debian's golang-go is not installed (make golang, "
                       "which make test runs, installs it)")
TIMEOUT = 60


@pytest.fixture(scope="module")
def go_env(tmp_path_factory):
    """An environment in which go tool pprof runs offline, its caches in a
    temporary folder."""
    home = tmp_path_factory.mktemp("gohome")
    env = dict(os.environ, HOME=str(home), GOCACHE=str(home / "cache"),
               GOPATH=str(home / "go"), GOTOOLCHAIN="local",
               GOFLAGS="-mod=mod", GOPROXY="off", PPROF_TMPDIR=str(home))
    return env


def pprof(go_env, path, *options):
    """The output of go tool pprof with options on a profile file."""
    try:
        result = subprocess.run([GO, "tool", "pprof", *options, str(path)],
                                capture_output=True, text=True,
                                timeout=TIMEOUT, env=go_env)
    except subprocess.TimeoutExpired:
        pytest.fail("go tool pprof did not finish in %d s" % TIMEOUT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def top_lines(go_env, path, sample_index):
    """{(function, "file:line"): flat value} of go tool pprof -top -lines
    (every node that holds memory of its own, exact bytes)."""
    out = pprof(go_env, path, "-top", "-lines", "-unit=B",
                "-nodefraction=0", "-nodecount=1000000",
                "-sample_index=" + sample_index)
    rows = {}
    started = False
    for line in out.splitlines():
        if line.split()[:1] == ["flat"]:
            started = True
            continue
        if not started or not line.strip():
            continue
        fields = line.split(None, 5)
        flat = int(fields[0].rstrip("B"))
        if flat == 0:
            continue  # a caller only: its memory is its callees' flat
        name, where = fields[5].rsplit(" ", 1)
        rows[name, where] = rows.get((name, where), 0) + flat
    return rows


def by_line(rows):
    """{"file:line": value} of top_lines' rows (a line's functions added)."""
    lines = {}
    for (_, where), value in rows.items():
        lines[where] = lines.get(where, 0) + value
    return lines


PROGRAM = textwrap.dedent('''\
    class Store:
        def fill(self):
            return [bytearray(1000) for _ in range(300)]

    def nested():
        def inner():
            return bytearray(250_000)
        return inner()

    def run(depth):
        if depth:
            return run(depth - 1)
        return Store().fill(), nested(), bytes(70_000)
    ''')


def traced_program(tmp_path, nframe, sample_bytes=None):
    path = tmp_path / "program.py"
    path.write_text(PROGRAM)
    namespace = {}
    exec(compile(PROGRAM, str(path), "exec"), namespace)
    pytracemalloc.start(nframe, sample_bytes=sample_bytes) \
        if sample_bytes else pytracemalloc.start(nframe)
    try:
        kept = namespace["run"](30)
        snapshot = pytracemalloc.take_snapshot()
    finally:
        pytracemalloc.stop()
    del kept
    return snapshot.filter_traces([pytracemalloc.Filter(True, str(path))])


def expected_lines(snapshot):
    """{"file:line": (size, count)} of statistics("lineno")."""
    return {"%s:%s" % (stat.traceback[0].filename, stat.traceback[0].lineno):
            (stat.size, stat.count)
            for stat in snapshot.statistics("lineno")}


@needs_go
@pytest.mark.parametrize("nframe", [1, 25])
def test_go_reads_a_traced_programs_lines_exactly(tmp_path, go_env, nframe):
    # GIVEN a traced program's snapshot (a method, a nested function,
    # recursion 30 deep)
    snapshot = traced_program(tmp_path, nframe)
    path = tmp_path / "heap.pb.gz"
    # WHEN exported as pprof and read by go tool pprof
    assert export.main(
        [_dump(snapshot, tmp_path), "--format", "pprof", "-o",
         str(path)]) == 0
    space = top_lines(go_env, path, "inuse_space")
    objects = top_lines(go_env, path, "inuse_objects")
    # THEN every line has exactly the statistics' bytes and blocks
    expected = expected_lines(snapshot)
    assert by_line(space) == {where: size for where, (size, _)
                              in expected.items()}
    assert by_line(objects) == {where: count for where, (_, count)
                                in expected.items()}
    # AND the lines name their functions
    names = {where: name for name, where in space}
    program = str(tmp_path / "program.py")
    assert names[program + ":7"] == "nested.<locals>.inner"
    assert names[program + ":3"] in ("Store.fill",
                                     "Store.fill.<locals>.<listcomp>")
    # AND the whole stack is there: run() is cumulated 31 times deep
    if nframe > 1:
        out = pprof(go_env, path, "-top", "-unit=B", "-nodefraction=0",
                    "-cum")
        run_line = next(line for line in out.splitlines()
                        if line.endswith(" run"))
        assert int(run_line.split()[3].rstrip("B")) == sum(
            size for size, _ in expected.values())


@needs_go
def test_go_reads_a_sampled_profile_with_its_rate(tmp_path, go_env):
    # GIVEN a sampled snapshot (N = 4 KiB)
    snapshot = traced_program(tmp_path, 5, sample_bytes=4096)
    path = tmp_path / "sampled.pb.gz"
    path.write_bytes(pprof_bytes(snapshot))
    # THEN its figures are the estimates of statistics(), and the
    # sampling rate is the profile's period, in bytes of space
    expected = expected_lines(snapshot)
    assert by_line(top_lines(go_env, path, "inuse_space")) == {
        where: size for where, (size, _) in expected.items()}
    raw = pprof(go_env, path, "-raw")
    assert "PeriodType: space bytes" in raw
    assert "Period: 4096" in raw


@needs_go
def test_go_reads_a_diff_with_negative_values(tmp_path, go_env):
    # GIVEN two snapshots: one stack grew, one shrank, one went, one came
    old = Snapshot([((("/app/a.py", 1),), 1000, 1, 0, ("grows",)),
                    ((("/app/a.py", 2),), 9000, 9, 0, ("shrinks",)),
                    ((("/app/a.py", 3),), 500, 5, 0, ("goes",))], 1, time=1.0)
    new = Snapshot([((("/app/a.py", 1),), 4000, 4, 0, ("grows",)),
                    ((("/app/a.py", 2),), 2000, 2, 0, ("shrinks",)),
                    ((("/app/b.py", 7),), 300, 3, 0, ("comes",))], 1,
                   time=2.0)
    old_file = tmp_path / "old.snap"
    new_file = tmp_path / "new.snap"
    old.dump(old_file)
    new.dump(new_file)
    path = tmp_path / "growth.pb.gz"
    # WHEN exported with --diff
    assert export.main(
        [str(new_file), "--format", "pprof", "--diff", str(old_file), "-o",
         str(path)]) == 0
    # THEN go tool pprof shows new - old per stack, negatives included
    assert top_lines(go_env, path, "inuse_space") == {
        ("grows", "/app/a.py:1"): 3000, ("shrinks", "/app/a.py:2"): -7000,
        ("goes", "/app/a.py:3"): -500, ("comes", "/app/b.py:7"): 300}
    assert by_line(top_lines(go_env, path, "inuse_objects")) == {
        "/app/a.py:1": 3, "/app/a.py:2": -7, "/app/a.py:3": -5,
        "/app/b.py:7": 3}


@needs_go
def test_frames_with_no_name_and_other_filenames(tmp_path, go_env):
    # GIVEN sites of an older file (no names), a non-ASCII filename, a
    # line shared by two functions and numpy's array data
    snapshot = Snapshot([
        ((("/app/old.py", 4),), 700, 7, 0, None),
        ((("/app/café.py", 2),), 800, 8, 0, ("résumé",)),
        ((("/app/two.py", 5),), 100, 1, 0, ("f.<locals>.<lambda>",)),
        ((("/app/two.py", 5),), 200, 2, 0, ("f",)),
        ((("/app/np.py", 9),), 5000, 1, 389047, ("make",))], 1, time=3.0)
    path = tmp_path / "odd.pb.gz"
    path.write_bytes(pprof_bytes(snapshot))
    rows = top_lines(go_env, path, "inuse_space")
    # THEN a frame with no name is named after its file and line, the
    # others keep theirs, whatever their characters, and a shared line
    # shows each function
    assert rows == {("old.py:4", "/app/old.py:4"): 700,
                    ("résumé", "/app/café.py:2"): 800,
                    ("f.<locals>.<lambda>", "/app/two.py:5"): 100,
                    ("f", "/app/two.py:5"): 200,
                    ("make", "/app/np.py:9"): 5000}
    # AND the array data carries its domain as a label
    assert "domain:[array data]" in pprof(go_env, path, "-raw")


# --- a reader of our own: the profile's structure ------------------------

def _varint(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _fields(data):
    """[(number, value)] of a message: ints, or bytes for wire type 2."""
    fields = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at:at + length], at + length
        else:
            raise AssertionError("wire type %d" % wire)
        fields.append((number, value))
    return fields


def _packed(data):
    values, at = [], 0
    while at < len(data):
        value, at = _varint(data, at)
        values.append(value - (1 << 64) if value >= 1 << 63 else value)
    return values


def test_the_profiles_tables_are_consistent():
    # GIVEN a snapshot of three stacks sharing frames
    snapshot = Snapshot([
        ((("/a.py", 1), ("/m.py", 9)), 100, 1, 0, ("f", "<module>")),
        ((("/a.py", 2), ("/m.py", 9)), 200, 2, 0, ("g", "<module>")),
        ((("/a.py", 1),), 50, 1, 0, ("f",))], 2, time=1700000000.25)
    # WHEN encoded
    fields = _fields(gzip.decompress(pprof_bytes(snapshot)))
    strings = [value.decode() for number, value in fields if number == 6]
    samples = [dict((n, _packed(v)) for n, v in _fields(value))
               for number, value in fields if number == 2]
    locations = {dict(_fields(value))[1]: value
                 for number, value in fields if number == 4}
    functions = {dict(_fields(value))[1]: dict(_fields(value))
                 for number, value in fields if number == 5}
    # THEN the string table starts with "", as the format requires
    assert strings[0] == ""
    # AND each sample's locations exist, leaf first, with its values
    by_leaf = {}
    for sample in samples:
        assert all(location in locations for location in sample[1])
        by_leaf.setdefault(len(sample[1]), []).append(sample[2])
    assert sorted(by_leaf[2]) == [[1, 100], [2, 200]]
    assert by_leaf[1] == [[1, 50]]
    # AND every frame is one location, every function one record, each
    # name in the table
    assert len(locations) == 3 and len(functions) == 3
    assert {strings[f[2]] for f in functions.values()} == {"f", "g",
                                                           "<module>"}
    # AND the time is the snapshot's, in nanoseconds
    assert dict(fields)[9] == 1700000000250000000


# --- folded stacks -------------------------------------------------------

def test_folded_stacks_oldest_frame_first():
    snapshot = Snapshot([
        ((("/app/a.py", 1), ("/app/m.py", 9)), 100, 1, 0, ("f", "<module>")),
        ((("/app/a;b.py", 2),), 30, 3, 0, None)], 2)
    # THEN one line a stack, root first, value the bytes (or the blocks);
    # a ';' in a name cannot split a frame
    assert collapsed_text(snapshot) == (
        "<module> (m.py:9);f (a.py:1) 100\n"
        "a,b.py:2 30\n")
    assert collapsed_text(snapshot, sample_index="inuse_objects") == (
        "<module> (m.py:9);f (a.py:1) 1\n"
        "a,b.py:2 3\n")
    with pytest.raises(ValueError):
        collapsed_text(snapshot, sample_index="alloc_space")


def test_folded_diff_is_flamegraphs_two_column_input():
    old = Snapshot([((("/a.py", 1),), 100, 1, 0, ("f",)),
                    ((("/a.py", 2),), 40, 1, 0, ("g",))], 1)
    new = Snapshot([((("/a.py", 1),), 300, 3, 0, ("f",)),
                    ((("/a.py", 3),), 5, 1, 0, ("h",))], 1)
    assert collapsed_text(new, old) == (
        "f (a.py:1) 100 300\n"
        "g (a.py:2) 40 0\n"
        "h (a.py:3) 0 5\n")


# --- the command ---------------------------------------------------------

def _dump(snapshot, folder, name="snap.snap"):
    path = folder / name
    snapshot.dump(path)
    return str(path)


def run_export(*args):
    return subprocess.run([sys.executable, "-m", "pytracemalloc", "export",
                           *args], capture_output=True, timeout=TIMEOUT)


def test_the_command_writes_to_stdout_and_says_what_went_wrong(tmp_path):
    snapshot = Snapshot([((("/app/a.py", 1),), 100, 1, 0, ("f",))], 1)
    good = _dump(snapshot, tmp_path)
    # -o - writes to stdout
    result = run_export(good, "--format", "collapsed", "-o", "-")
    assert result.returncode == 0
    assert result.stdout == b"f (a.py:1) 100\n"
    result = run_export(good, "--format", "pprof", "-o", "-")
    assert result.returncode == 0 and result.stdout[:2] == b"\x1f\x8b"
    # a missing or corrupt snapshot: one line naming it, exit 1
    (tmp_path / "bad.snap").write_bytes(b"not a snapshot")
    for missing in (str(tmp_path / "missing.snap"),
                    str(tmp_path / "bad.snap")):
        result = run_export(missing, "--format", "pprof", "-o",
                            str(tmp_path / "out.pb.gz"))
        assert result.returncode == 1
        lines = result.stderr.decode().splitlines()
        assert len(lines) == 1 and missing in lines[0], lines
        assert not (tmp_path / "out.pb.gz").exists()
    result = run_export(good, "--format", "pprof", "--diff",
                        str(tmp_path / "missing.snap"), "-o",
                        str(tmp_path / "out.pb.gz"))
    assert result.returncode == 1 and b"missing.snap" in result.stderr
    # an unknown format or no output: a usage error, exit 2
    result = run_export(good, "--format", "svg", "-o", "x")
    assert result.returncode == 2 and b"Traceback" not in result.stderr
    result = run_export(good, "--format", "pprof")
    assert result.returncode == 2
    # an output that cannot be written: exit 1, the old file intact
    (tmp_path / "ro").mkdir()
    target = tmp_path / "ro" / "heap.pb.gz"
    target.write_bytes(b"previous")
    os.chmod(tmp_path / "ro", 0o500)
    try:
        if os.access(tmp_path / "ro", os.W_OK):
            # root writes anywhere: a directory in the way instead
            target = tmp_path / "dir.pb.gz"
            target.mkdir()
        result = run_export(good, "--format", "pprof", "-o", str(target))
    finally:
        os.chmod(tmp_path / "ro", 0o700)
    assert result.returncode == 1
    assert b"cannot write" in result.stderr
    assert (tmp_path / "ro" / "heap.pb.gz").read_bytes() == b"previous"
