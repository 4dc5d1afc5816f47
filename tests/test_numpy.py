"""numpy's array data is traced (issue 14): on the line that made the array,
exact to the byte, in every thread, freed and resized with it, in numpy's
domain (389047), whatever allocation handler is active and whenever numpy
was imported.

Each test runs a script in a fresh interpreter (numpy imported before or
after enable(), handlers installed, ...); the script marks its lines with
"# mark-NAME" comments and prints its findings as JSON on its last line.
"""

import json
import os
import sys
import textwrap

import pytest

from extbuild import ROOT, build_extension, run_script

numpy = pytest.importorskip(
    "numpy", reason="no numpy for this interpreter (tests/requirements.txt "
                    "installs it wherever PyPI has a wheel)")

PRELUDE = '''
import json, sys, threading
import pytracemalloc as tm

ARRAY = 389047
with open(__file__) as _source:
    LINES = {text.rsplit("# mark-", 1)[1].strip(): n
             for n, text in enumerate(_source, 1) if "# mark-" in text}


def at(name, domain=ARRAY, snapshot=None):
    """[size, count] of `domain` on the line marked `name`."""
    snapshot = snapshot or tm.take_snapshot()
    snapshot = snapshot.filter_traces([tm.DomainFilter(True, domain)])
    for stat in snapshot.statistics("lineno"):
        frame = stat.traceback[0]
        if frame.filename == __file__ and frame.lineno == LINES[name]:
            return [stat.size, stat.count]
    return [0, 0]


def array_total():
    return list(tm.take_snapshot().domain_totals().get(ARRAY, (0, 0)))


def done(**results):
    print(json.dumps(results))
'''


def run(tmp_path, body, extra_path=()):
    text = PRELUDE + textwrap.dedent(body)
    out = run_script(tmp_path / "script.py", text, extra_path)
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def user_handler(tmp_path_factory):
    """tests/ext/user_handler.c built against this numpy: a NEP 49 handler
    on libc malloc that counts its calls."""
    out = tmp_path_factory.mktemp("user_handler")
    return build_extension(
        "user_handler", os.path.join(ROOT, "tests", "ext", "user_handler.c"),
        out, [numpy.get_include()])


def test_array_data_is_on_the_line_that_made_it_exact_to_the_byte(tmp_path):
    # GIVEN numpy imported before enable()
    result = run(tmp_path, '''
        import numpy
        tm.enable()
        # WHEN arrays are made by C functions (malloc, calloc) and small
        # ones come from numpy's own cache of small buffers
        a = numpy.empty(1_000_003, dtype=numpy.uint8)  # mark-empty
        z = numpy.zeros((300, 7), dtype=numpy.float32)  # mark-zeros
        small = [numpy.empty(3) for _ in range(50)]  # mark-small
        done(empty=at("empty"), zeros=at("zeros"), small=at("small"),
             nbytes=[a.nbytes, z.nbytes, sum(s.nbytes for s in small)],
             empty_in_domain_0=at("empty", 0)[0],
             total=array_total())
    ''')
    # THEN each line holds exactly its arrays' bytes, in numpy's domain,
    # and the data is not counted a second time in domain 0 (numpy's
    # default handler takes it from PyMem_RawMalloc)
    nbytes = result["nbytes"]
    assert result["empty"] == [nbytes[0], 1]
    assert result["zeros"] == [nbytes[1], 1]
    assert result["small"] == [nbytes[2], 50]
    assert result["empty_in_domain_0"] < 1000
    assert result["total"][0] >= sum(nbytes)


def test_numpy_imported_after_enable_is_seen(tmp_path):
    # GIVEN tracing on before numpy is imported
    result = run(tmp_path, '''
        tm.enable()
        import numpy
        # WHEN an array is made
        a = numpy.arange(250_000, dtype=numpy.int64)  # mark-arange
        done(arange=at("arange"), nbytes=a.nbytes,
             reporters=tm._tracemalloc._get_reporters())
    ''')
    # THEN it is traced, and numpy's core module reports to us
    assert result["arange"] == [result["nbytes"], 1]
    assert any("_multiarray_umath" in name for name in result["reporters"])


def test_importing_pytracemalloc_does_not_import_numpy(tmp_path):
    # GIVEN a process that never imports numpy
    result = run(tmp_path, '''
        tm.enable()
        tm.take_snapshot().statistics("lineno")
        tm.disable()
        # THEN numpy was not imported by pytracemalloc
        done(imported="numpy" in sys.modules)
    ''')
    assert result["imported"] is False


def test_threads_see_their_arrays_on_their_lines(tmp_path):
    # GIVEN numpy's handler, a context variable: a new thread starts with
    # the default one
    result = run(tmp_path, '''
        import numpy
        tm.enable()
        made, summed = [], []

        def work(n):
            made.append(numpy.empty(n, dtype=numpy.uint8))  # mark-thread
            summed.append(numpy.zeros(5 * n, numpy.uint8) + 1)  # mark-sum

        # WHEN four threads make arrays
        threads = [threading.Thread(target=work, args=(100_000 + i,))
                   for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done(thread=at("thread"), sum=at("sum"),
             nbytes=sum(a.nbytes for a in made),
             sum_nbytes=sum(a.nbytes for a in summed))
    ''')
    # THEN each line holds its threads' arrays exactly
    assert result["thread"] == [result["nbytes"], 4]
    assert result["sum"] == [result["sum_nbytes"], 4]


def test_freeing_an_array_takes_it_out_of_every_total(tmp_path):
    result = run(tmp_path, '''
        import numpy
        tm.enable()
        before = tm.get_traced_memory()[0]
        # GIVEN a 10 MB array
        a = numpy.ones(10**7, dtype=numpy.uint8)
        during = tm.get_traced_memory()
        # WHEN it is freed
        del a
        after = tm.get_traced_memory()
        done(before=before, during=during, after=after,
             total=array_total())
    ''')
    # THEN get_traced_memory, the peak and the array domain follow it
    before, (during, _), (after, peak) = (
        result["before"], result["during"], result["after"])
    assert 10**7 <= during - before < 10**7 + 64 * 1024
    assert abs(after - before) < 64 * 1024
    assert peak >= during
    assert result["total"] == [0, 0]


def test_resize_moves_the_data_to_the_resizing_line(tmp_path):
    result = run(tmp_path, '''
        import numpy
        tm.enable()
        # GIVEN an array, resized bigger then smaller (a realloc)
        a = numpy.empty(1000, dtype=numpy.uint8)  # mark-make
        a.resize(2_000_000, refcheck=False)  # mark-grow
        grown = at("grow")
        made = at("make")
        b = numpy.empty(3_000_000, dtype=numpy.uint8)
        b.resize(10, refcheck=False)  # mark-shrink
        done(made=made, grown=grown, shrunk=at("shrink"),
             nbytes=[a.nbytes, b.nbytes], total=array_total())
    ''')
    # THEN the block is on the line that resized it, with its new size, as
    # stdlib tracemalloc does
    assert result["made"] == [0, 0]
    assert result["grown"] == [result["nbytes"][0], 1]
    assert result["shrunk"] == [result["nbytes"][1], 1]


def test_views_share_their_base_data(tmp_path):
    result = run(tmp_path, '''
        import numpy
        tm.enable()
        a = numpy.empty(1_000_000, dtype=numpy.uint8)  # mark-base
        # WHEN views of every kind are taken
        views = [a[::2], a.reshape(1000, 1000), a.reshape(1000, 1000).T,
                 a[10:20], numpy.asarray(a), a.view(numpy.int32)]  # mark-views
        done(base=at("base"), views=at("views"), total=array_total(),
             nbytes=a.nbytes)
    ''')
    # THEN the data is counted once, on the base's line
    assert result["base"] == [result["nbytes"], 1]
    assert result["views"] == [0, 0]
    assert result["total"] == [result["nbytes"], 1]


def test_a_user_handler_keeps_working_and_is_traced(tmp_path, user_handler):
    # GIVEN a NEP 49 handler of the user's, installed before enable()
    result = run(tmp_path, '''
        import numpy
        import user_handler
        old = user_handler.install()
        tm.enable()
        calls = user_handler.calls()
        # WHEN arrays are made, resized and freed through it
        a = numpy.empty(1_234_567, dtype=numpy.uint8)  # mark-user
        z = numpy.zeros(40_000)  # mark-zeros
        t = numpy.empty(10, dtype=numpy.uint8)
        t.resize(400_000, refcheck=False)  # mark-resize
        name = numpy._core.multiarray.get_handler_name()
        used = user_handler.calls() - calls
        found = [at("user"), at("zeros"), at("resize")]
        nbytes = [a.nbytes, z.nbytes, t.nbytes]
        del a, z, t
        after_free = array_total()
        user_handler.restore(old)
        done(found=found, nbytes=nbytes, used=used, name=name,
             after_free=after_free,
             restored=numpy._core.multiarray.get_handler_name())
    ''', extra_path=[user_handler])
    # THEN the user's handler did the work and stayed the handler, and
    # its arrays are traced exactly
    assert result["used"] >= 4
    assert result["name"] == "pytracemalloc_test_handler"
    assert result["restored"] == "default_allocator"
    assert result["found"] == [[n, 1] for n in result["nbytes"]]
    assert result["after_free"] == [0, 0]


def test_enable_and_disable_around_live_arrays(tmp_path):
    result = run(tmp_path, '''
        import numpy
        # GIVEN arrays made before enable()
        early = numpy.empty(1_000_000, dtype=numpy.uint8)
        early_small = [numpy.empty(4) for _ in range(20)]
        grow = numpy.empty(100, dtype=numpy.uint8)
        tm.enable()
        # WHEN they are freed or resized while tracing
        del early, early_small
        grow.resize(500_000, refcheck=False)  # mark-grow
        grown = at("grow")
        # and an array made while tracing is freed after disable()
        late = numpy.empty(2_000_000, dtype=numpy.uint8)
        tm.disable()
        del late, grow
        tm.enable()
        again = numpy.empty(3_000_000, dtype=numpy.uint8)  # mark-again
        again_found = at("again")
        # and an array outlives clear_traces()
        tm.clear_traces()
        del again
        current, peak = tm.get_traced_memory()
        done(grown=grown, again=again_found, total=array_total(),
             current=current, peak=peak)
    ''')
    # THEN nothing crashed and no total went wrong
    assert result["grown"] == [500_000, 1]
    assert result["again"] == [3_000_000, 1]
    assert result["total"] == [0, 0]
    assert 0 <= result["current"] < 10**6
    assert result["peak"] < 10**7


def test_same_array_statistics_as_stdlib(tmp_path):
    # GIVEN one workload, traced once by stdlib tracemalloc, once by us
    workload = '''
        import numpy
        start()
        kept = [numpy.empty(n, dtype=numpy.uint8)  # mark-sizes
                for n in (1, 100, 1023, 1024, 5000, 10**6)]
        kept.append(numpy.zeros((200, 300)))  # mark-zeros
        kept.append(numpy.ones(1000) * 2.5)  # mark-mul
        kept.append(numpy.concatenate([kept[-1], kept[-1]]))  # mark-cat
        r = numpy.empty(10, dtype=numpy.uint8)
        r.resize(70_000, refcheck=False)  # mark-resize
        dropped = numpy.empty(10**5)
        del dropped
        t = threading.Thread(target=lambda: kept.append(
            numpy.empty(77_777, dtype=numpy.uint8)))  # mark-thread
        t.start(); t.join()
        found = {name: at(name, snapshot=take())
                 for name in ("sizes", "zeros", "mul", "cat", "resize",
                              "thread")}
        done(found=found)
    '''
    stdlib = run(tmp_path, '''
        import tracemalloc
        start, take = tracemalloc.start, tracemalloc.take_snapshot
        tm.DomainFilter = tracemalloc.DomainFilter
    ''' + workload)
    ours = run(tmp_path, '''
        start, take = tm.enable, tm.take_snapshot
    ''' + workload)
    # THEN both see the same array data on every line
    assert stdlib["found"]["sizes"][1] == 6
    assert ours["found"] == stdlib["found"]


@pytest.mark.parametrize("stdlib_first", [True, False])
def test_stdlib_tracemalloc_keeps_seeing_arrays_while_we_trace(
        tmp_path, stdlib_first):
    result = run(tmp_path, '''
        import numpy, tracemalloc
        # GIVEN both tracers on, in either order
        if %r:
            tracemalloc.start()
            tm.enable()
        else:
            tm.enable()
            tracemalloc.start()
''' % stdlib_first + '''
        a = numpy.empty(654_321, dtype=numpy.uint8)  # mark-both
        theirs = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.DomainFilter(True, ARRAY)])
        their_size = sum(s.size for s in theirs.statistics("lineno")
                         if s.traceback[0].lineno == LINES["both"])
        tracemalloc.stop()
        done(ours=at("both"), theirs=their_size, nbytes=a.nbytes)
    ''')
    # THEN each sees the array once
    assert result["ours"] == [result["nbytes"], 1]
    assert result["theirs"] == result["nbytes"]


def test_domain_filters_statistics_and_display_tell_arrays_apart(tmp_path):
    result = run(tmp_path, '''
        import io, numpy
        tm.enable()
        a = numpy.empty(3_000_000, dtype=numpy.uint8)  # mark-array
        snapshot = tm.take_snapshot()
        only = snapshot.filter_traces([tm.DomainFilter(True, ARRAY)])
        without = snapshot.filter_traces([tm.DomainFilter(False, ARRAY)])
        out = io.StringIO()
        top = tm.DisplayTop(3, file=out)
        top.show_lineno = True
        top.display_snapshot(snapshot)
        path = sys.argv[0] + ".snap"
        snapshot.dump(path)
        loaded = tm.Snapshot.load(path)
        done(only=sum(s.size for s in only.statistics("filename")),
             without_at=at("array", snapshot=without),
             display=out.getvalue(), nbytes=a.nbytes,
             same=loaded.domain_totals() == snapshot.domain_totals(),
             path=path, line=LINES["array"])
    ''')
    # THEN the filters split array data from Python objects
    assert result["only"] == result["nbytes"]
    assert result["without_at"] == [0, 0]
    # and the display marks the line and totals the array data (sizes
    # truncated to the unit, as 0.9.1 shows them: 2929.7 KiB)
    assert ("script.py:%d [array data]: size=2929 KiB" % result["line"]
            in result["display"])
    assert "  of which array data: size=2929 KiB" in result["display"]
    # and the snapshot file keeps the domain, shown by the CLI
    assert result["same"]
    import subprocess
    cli = subprocess.run(
        [sys.executable, "-m", "pytracemalloc", "-l", result["path"]],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=ROOT))
    assert cli.returncode == 0, cli.stderr
    assert "[array data]" in cli.stdout
    assert "of which array data" in cli.stdout


def test_an_array_of_more_than_4_gib_keeps_its_exact_size(tmp_path):
    # GIVEN an array of 5 GiB (numpy.empty: reserved, never touched)
    result = run(tmp_path, '''
        import numpy
        tm.enable()
        a = numpy.empty(5 * 2**30 + 7, dtype=numpy.uint8)  # mark-big
        found = at("big")
        current = tm.get_traced_memory()[0]
        del a
        done(found=found, current=current, after=array_total())
    ''')
    # THEN its size is exact past 32 bits, and it goes with its free
    assert result["found"] == [5 * 2**30 + 7, 1]
    assert result["current"] >= 5 * 2**30
    assert result["after"] == [0, 0]
