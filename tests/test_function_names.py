"""Function names: every frame carries its function's qualified name
(co_qualname), in the engine, the stdlib-style API, DisplayTop, the CLI
and snapshot files.

The oracle is the interpreter itself: a program of known shapes (a method,
a nested function, a lambda, a comprehension, a generator, a generator
expression, a nested class) allocates a known size on known lines, and
each line's function is the co_qualname of the code that runs there, read
with sys._getframe() on that same line.  So the test holds on 3.11, where a
comprehension is a function of its own ("f.<locals>.<listcomp>"), and on
3.12+, where it is inlined into its function (PEP 709).
"""

import gzip
import io
import json
import os
import subprocess
import sys
import textwrap

import pytest

import pytracemalloc
from pytracemalloc import DisplayTop, Snapshot
from pytracemalloc import _tracemalloc as engine

SIZE = 200_000  # well above anything else a line of the program allocates

PROGRAM = textwrap.dedent('''\
    import sys

    def here():
        return sys._getframe(1).f_code.co_qualname

    class Shape:
        def method(self):
            return bytearray(SIZE * 1), here()

        class Inner:
            @staticmethod
            def deep():
                return bytearray(SIZE * 2), here()

    def outer():
        def inner():
            return bytearray(SIZE * 3), here()
        return inner()

    lam = lambda: (bytearray(SIZE * 4), here())

    def comprehension():
        return [(bytearray(SIZE * 5), here()) for _ in range(1)][0]

    def generator():
        yield bytearray(SIZE * 6), here()

    def generator_expression():
        return list((bytearray(SIZE * 7), here()) for _ in range(1))[0]

    def run():
        kept = [Shape().method(), Shape.Inner.deep(), outer(), lam(),
                comprehension(), next(generator()), generator_expression()]
        return kept
    ''').replace("SIZE", str(SIZE))


def line_of(multiple):
    """The program's line that allocates SIZE * multiple."""
    marker = "bytearray(%d * %d)" % (SIZE, multiple)
    for number, text in enumerate(PROGRAM.splitlines(), 1):
        if marker in text:
            return number
    raise AssertionError(marker)


@pytest.fixture
def program(tmp_path):
    """The program as a module of its own file: (module, filename)."""
    path = tmp_path / "shapes.py"
    path.write_text(PROGRAM)
    namespace = {"__name__": "shapes"}
    exec(compile(PROGRAM, str(path), "exec"), namespace)
    return namespace, str(path)


def traced_run(program, nframe):
    """Run the program traced: (snapshot of its file, {multiple: the
    qualname the interpreter gave that line})."""
    namespace, filename = program
    pytracemalloc.start(nframe)
    try:
        kept = namespace["run"]()
        snapshot = pytracemalloc.take_snapshot()
    finally:
        pytracemalloc.stop()
    expected = {multiple: name for multiple, (_, name)
                in enumerate(kept, 1)}
    return snapshot.filter_traces(
        [pytracemalloc.Filter(True, filename)]), expected


def test_each_line_names_the_function_the_interpreter_runs(program):
    # GIVEN the program, run traced with one frame
    snapshot, expected = traced_run(program, 1)
    by_line = {stat.traceback[0].lineno: stat
               for stat in snapshot.statistics("lineno")}
    # THEN each allocating line holds its size and names the function that
    # the interpreter says runs there
    for multiple, name in expected.items():
        stat = by_line[line_of(multiple)]
        assert stat.size >= SIZE * multiple
        assert stat.traceback[0].function == name
    # AND the names are the expected shapes on this version
    assert expected[1] == "Shape.method"
    assert expected[2] == "Shape.Inner.deep"
    assert expected[3] == "outer.<locals>.inner"
    assert expected[4] == "<lambda>"
    assert expected[5] == ("comprehension" if sys.version_info >= (3, 12)
                           else "comprehension.<locals>.<listcomp>")
    assert expected[6] == "generator"
    assert expected[7] == "generator_expression.<locals>.<genexpr>"


def test_tracebacks_name_every_frame(program):
    # GIVEN the program, run traced with 5 frames
    snapshot, expected = traced_run(program, 5)
    namespace, filename = program
    # WHEN the traceback of the nested function's line is read
    stat = next(stat for stat in snapshot.statistics("traceback")
                if stat.traceback[-1].lineno == line_of(3))
    frames = [frame for frame in stat.traceback if frame.filename == filename]
    # THEN its frames, oldest first, are run -> outer -> outer's inner
    assert [frame.function for frame in frames] == [
        "run", "outer", "outer.<locals>.inner"]
    # AND equality stays stdlib's: a frame equals a frame of the same
    # filename and line, whatever its name
    assert frames[-1] == pytracemalloc.Frame((filename, line_of(3)))
    assert hash(frames[-1]) == hash(pytracemalloc.Frame(
        (filename, line_of(3))))


def test_function_statistics_add_up_the_lines_of_a_function(tmp_path):
    # GIVEN a function allocating on two lines, and another one
    path = tmp_path / "two.py"
    path.write_text(textwrap.dedent('''\
        def two_lines():
            a = bytearray(300_000)
            b = bytearray(500_000)
            return a, b

        def other():
            return bytearray(700_000)
        '''))
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    pytracemalloc.start(3)
    try:
        kept = namespace["two_lines"](), namespace["other"]()
        snapshot = pytracemalloc.take_snapshot().filter_traces(
            [pytracemalloc.Filter(True, str(path))])
    finally:
        pytracemalloc.stop()
    del kept
    # WHEN grouped by function
    stats = {stat.traceback[0].function: stat
             for stat in snapshot.statistics("function")}
    lines = {stat.traceback[0].lineno: stat.size
             for stat in snapshot.statistics("lineno")}
    # THEN a function's size is the sum of its lines' (lines 1-4: its
    # returned tuple is a fresh block of line 4 where there are no free
    # lists)
    def lines_of(first, last):
        return sum(size for lineno, size in lines.items()
                   if first <= lineno <= last)
    assert lines[2] >= 300_000 and lines[3] >= 500_000
    assert stats["two_lines"].size == lines_of(1, 4)
    assert stats["other"].size == lines_of(6, 7)
    assert stats["two_lines"].traceback[0].lineno == 0
    assert str(stats["other"].traceback) == "%s (other)" % path
    # AND compare_to by function finds the function that went
    empty = Snapshot([], 3)
    diffs = {diff.traceback[0].function: diff
             for diff in snapshot.compare_to(empty, "function")}
    assert diffs["other"].size_diff == lines_of(6, 7)
    gone = {diff.traceback[0].function: diff
            for diff in empty.compare_to(snapshot, "function")}
    assert gone["two_lines"].size_diff == -lines_of(1, 4)


def test_object_tracebacks_name_their_functions(program):
    # GIVEN an object allocated in the nested function, traced with 5 frames
    namespace, filename = program
    pytracemalloc.start(5)
    try:
        obj, _ = namespace["outer"]()
        traceback = pytracemalloc.get_object_traceback(obj)
    finally:
        pytracemalloc.stop()
    # THEN its traceback names each frame's function, oldest first
    frames = [frame for frame in traceback if frame.filename == filename]
    assert [frame.function for frame in frames] == ["outer",
                                                    "outer.<locals>.inner"]
    assert frames[-1].lineno == line_of(3)


def test_cumulative_function_statistics_count_a_block_once_per_function():
    # GIVEN a recursive function's traceback (f -> f -> g)
    snapshot = Snapshot([((("m.py", 9), ("m.py", 3), ("m.py", 3)), 100, 1, 0,
                          ("g", "f", "f"))], 5)
    # WHEN grouped by function, cumulatively
    stats = {stat.traceback[0].function: stat.size
             for stat in snapshot.statistics("function", cumulative=True)}
    # THEN each function holds the block once
    assert stats == {"f": 100, "g": 100}


def test_names_round_trip_and_older_files_have_none(tmp_path):
    # GIVEN a snapshot whose sites have names, two functions sharing a line
    sites = [((("a.py", 1), ("a.py", 5)), 10, 1, 0, ("f.<locals>.<lambda>",
                                                      "f")),
             ((("a.py", 1),), 20, 2, 0, ("f",)),
             ((("b.py", 2),), 30, 3, 0, ("",))]
    path = tmp_path / "named.snapshot"
    Snapshot(sites, 2, pid=1, time=1.0).write(path)
    # THEN the file is version 4 with a table of names
    document = json.loads(gzip.decompress(path.read_bytes()))
    assert document["version"] == 4
    assert set(document["functions"]) == {"f.<locals>.<lambda>", "f", ""}
    # AND every site reads back with its names
    loaded = Snapshot.load(path)
    assert sorted(loaded._sites) == sorted(sites)
    # AND a frame with no name has function None
    stat = next(stat for stat in loaded.statistics("lineno")
                if stat.traceback[0].filename == "b.py")
    assert stat.traceback[0].function is None
    # AND a version 3 file of the same sites reads, with no names
    document["version"] = 3
    document["frames"] = [row[:2] for row in document["frames"]]
    del document["functions"]
    old = tmp_path / "old.snapshot"
    old.write_bytes(gzip.compress(json.dumps(document).encode()))
    old_sites = Snapshot.load(old)._sites
    assert all(site[4] is None for site in old_sites)
    assert sorted(site[:4] for site in old_sites) == sorted(
        site[:4] for site in sites)
    # AND a version 4 file whose frame names a missing function is refused
    document["version"] = 4
    document["frames"] = [row + [7] for row in document["frames"]]
    document["functions"] = ["f"]
    bad = tmp_path / "bad.snapshot"
    bad.write_bytes(gzip.compress(json.dumps(document).encode()))
    with pytest.raises(pytracemalloc.SnapshotLoadError, match="invalid frame"):
        Snapshot.load(bad)


def test_sites_refuse_names_that_do_not_match_their_frames():
    with pytest.raises(TypeError, match="functions"):
        Snapshot([((("a.py", 1),), 1, 1, 0, ("f", "g"))])
    with pytest.raises(TypeError, match="functions"):
        Snapshot([((("a.py", 1),), 1, 1, 0, (3,))])


def test_display_top_names_functions_behind_an_option():
    # GIVEN a snapshot of two functions of one file, one line each
    snapshot = Snapshot([((("/app/m.py", 3),), 4000, 2, 0, ("Cls.method",)),
                         ((("/app/m.py", 9),), 1000, 1, 0, ("helper",)),
                         ((("/app/n.py", 1),), 500, 1, 0, None)], 1,
                        timestamp="2026-12-07 10:00:00")
    stream = io.StringIO()
    top = DisplayTop(5, file=stream)
    top.show_lineno = True
    # WHEN shown as 0.9.1 does, then with show_function
    top.display_snapshot(snapshot)
    plain = stream.getvalue()
    stream.truncate(0)
    stream.seek(0)
    top.show_function = True
    top.display_snapshot(snapshot, reference=snapshot)
    named = stream.getvalue()
    # THEN the default output has no names, the option adds them
    assert "method" not in plain and "/app/m.py:3: size=" in plain
    assert "/app/m.py:3 (Cls.method): size=" in named
    assert "/app/n.py:1 (?): size=" in named
    assert "per file, line and function" in named
    # AND without show_lineno it groups per function
    stream.truncate(0)
    stream.seek(0)
    top.show_lineno = False
    top.display_snapshot(snapshot)
    per_function = stream.getvalue()
    assert "#1: /app/m.py (Cls.method): size=4000 B" in per_function
    assert "#2: /app/m.py (helper): size=1000 B" in per_function


def test_cli_function_option(tmp_path):
    # GIVEN a snapshot file with names
    path = tmp_path / "one.snapshot"
    Snapshot([((("/app/m.py", 3),), 4000, 2, 0, ("Cls.method",))], 1,
             pid=5, time=1.0).write(path)
    # WHEN the CLI shows it with -l -f
    result = subprocess.run(
        [sys.executable, "-m", "pytracemalloc", "-l", "-f", str(path)],
        capture_output=True, text=True, timeout=60)
    # THEN the line names its function
    assert result.returncode == 0, result.stderr
    assert "/app/m.py:3 (Cls.method): size=4000 B" in result.stdout


def test_engine_names_need_no_call_into_the_allocator_chain(program):
    # GIVEN many code objects seen for the first time while tracing (each
    # interns its filename and name from inside a hook)
    namespace, filename = program
    sources = ["def f%d():\n    return bytearray(%d)\n" % (i, 1000 + i)
               for i in range(200)]
    pytracemalloc.start(2)
    try:
        kept = []
        for i, source in enumerate(sources):
            scope = {}
            exec(compile(source, filename, "exec"), scope)
            kept.append(scope["f%d" % i]())
        snapshot = pytracemalloc.take_snapshot()
    finally:
        pytracemalloc.stop()
    # THEN each is named, and nothing was lost
    names = {site[4][0] for site in snapshot._sites
             if site[0][0][0] == filename and site[4]}
    assert {"f%d" % i for i in range(200)} <= names
    assert engine.get_untraced_count() == 0
