"""Native memory (issue 24): with ``enable(native=True)`` the blocks that
extension modules and the libraries they load take from libc (malloc and
its family, anonymous mmap) are traced on the Python line that called in,
in the native domain, exact to the byte, and forgotten when freed.

Each test runs a script in a fresh interpreter (with a deadline) that
calls tests/ext/native_blocks.c, an extension that takes known sizes
straight from libc.  A line marked ``# L:NAME`` in a script is found by
its marker, so the expected line numbers are never written by hand."""

import errno
import gzip
import io
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

import pytracemalloc as tracemalloc
from pytracemalloc import _tracemalloc as engine
from pytracemalloc import domains

from extbuild import ROOT, build_extension, package_parent

NATIVE = domains.NATIVE_DOMAIN
PAGE = os.sysconf("SC_PAGE_SIZE")

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="native tracing patches ELF GOTs: Linux only")


@pytest.fixture(scope="module", params=[False, True],
                ids=["plt", "hardened"])
def ext(request, tmp_path_factory):
    """native_blocks built as distributions build (calls through the PLT,
    lazy binding), and hardened (-fno-plt, full RELRO: every call through
    a GOT entry bound at load and then read-only)."""
    out = tmp_path_factory.mktemp("native_ext")
    return build_extension("native_blocks",
                           os.path.join(ROOT, "tests", "ext",
                                        "native_blocks.c"),
                           out, hardened=request.param)


@pytest.fixture(scope="module")
def plain_ext(tmp_path_factory):
    out = tmp_path_factory.mktemp("native_plain")
    return build_extension("native_blocks",
                           os.path.join(ROOT, "tests", "ext",
                                        "native_blocks.c"), out)


PRELUDE = '''\
import json, os, sys
import pytracemalloc as tracemalloc

def native_lines(domain=tracemalloc.NATIVE_DOMAIN):
    """[lineno, size, count] of this script's lines in `domain`."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.DomainFilter(True, domain)])
    return sorted([stat.traceback[0].lineno, stat.size, stat.count]
                  for stat in snapshot.statistics("lineno")
                  if stat.traceback[0].filename == __file__)

def unknown_size():
    """Native bytes on the site of threads with no Python frame."""
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.DomainFilter(True, tracemalloc.NATIVE_DOMAIN)])
    return sum(stat.size for stat in snapshot.statistics("lineno")
               if stat.traceback[0].filename == "<unknown>")

def say(**values):
    print(json.dumps(values), flush=True)
'''


def lines_of(script):
    """{NAME: line number} of the ``# L:NAME`` markers of a script (its
    text after PRELUDE)."""
    marks = {}
    for lineno, text in enumerate((PRELUDE + script).splitlines(), 1):
        match = re.search(r"# L:(\w+)\s*$", text)
        if match:
            marks[match.group(1)] = lineno
    return marks


def child_env(extra_path=(), **overrides):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [package_parent(), *map(str, extra_path)]))
    for name in ("PYTRACEMALLOC", "PYTRACEMALLOC_NATIVE",
                 "PYTRACEMALLOC_SAMPLE_BYTES", "PYTHONTRACEMALLOC"):
        env.pop(name, None)
    # Under `make test-asan` the children run under ASan too: the failed
    # allocations the tests make on purpose must return NULL there as well.
    if env.get("ASAN_OPTIONS"):
        env["ASAN_OPTIONS"] += ":allocator_may_return_null=1"
    env.update(overrides)
    return env


def run(tmp_path, script, ext_dir, env=None, args=(), timeout=120):
    """Run PRELUDE + script; return (the JSON lines it said, the markers,
    stderr)."""
    path = tmp_path / "script.py"
    path.write_text(PRELUDE + textwrap.dedent(script))
    proc = subprocess.run([sys.executable, *args, str(path)],
                          capture_output=True, text=True, timeout=timeout,
                          env=env or child_env([ext_dir]))
    assert proc.returncode == 0, "script failed (%s):\n%s%s" % (
        proc.returncode, proc.stdout, proc.stderr)
    said = [json.loads(line) for line in proc.stdout.splitlines()
            if line.startswith("{")]
    return said, lines_of(textwrap.dedent(script)), proc.stderr


def test_native_domain_is_the_engines():
    assert engine.NATIVE_DOMAIN == NATIVE == tracemalloc.NATIVE_DOMAIN
    assert NATIVE.to_bytes(4, "big") == b"NATV"
    assert domains.domain_name(NATIVE) == "native"


def test_every_function_of_the_family_lands_on_its_line(tmp_path, ext):
    # GIVEN an extension imported before tracing starts
    said, at, _ = run(tmp_path, '''
        import native_blocks as nb
        tracemalloc.enable(1, native=True)
        say(on=tracemalloc.is_native_traced())
        blocks = []
        blocks.append(nb.alloc("malloc", 1000))  # L:malloc
        blocks.append(nb.alloc("calloc", 4096))  # L:calloc
        blocks.append(nb.alloc("realloc", 3000))  # L:realloc
        blocks.append(nb.alloc("reallocarray", 800))  # L:reallocarray
        blocks.append(nb.alloc("posix_memalign", 2000))  # L:posix_memalign
        blocks.append(nb.alloc("aligned_alloc", 1024))  # L:aligned_alloc
        blocks.append(nb.alloc("memalign", 700))  # L:memalign
        blocks.append(nb.alloc("valloc", 5000))  # L:valloc
        blocks.append(nb.alloc("pvalloc", 5000))  # L:pvalloc
        mapping = nb.alloc("mmap", 10000)  # L:mmap
        say(live=native_lines(), domain0=native_lines(0))
        for block in blocks:
            nb.release(block)
        nb.release(mapping, 10000)
        say(freed=native_lines())
    ''', ext)
    # WHEN each takes a known size on its own line
    pages = -(-5000 // PAGE) * PAGE
    expected = sorted([
        [at["malloc"], 1000, 1], [at["calloc"], 4096, 1],
        [at["realloc"], 3000, 1], [at["reallocarray"], 800, 1],
        [at["posix_memalign"], 2000, 1], [at["aligned_alloc"], 1024, 1],
        [at["memalign"], 700, 1], [at["valloc"], 5000, 1],
        # pvalloc hands out whole pages, mmap maps whole pages
        [at["pvalloc"], pages, 1], [at["mmap"], -(-10000 // PAGE) * PAGE, 1],
    ])
    # THEN each block is on its line, exact, in the native domain
    assert said[0] == {"on": True}
    assert said[1]["live"] == expected
    # AND none of them is counted in domain 0 too
    assert all(size < 1000 for _, size, _ in said[1]["domain0"])
    # AND freeing them (free, munmap) leaves nothing
    assert said[2] == {"freed": []}


def test_thread_without_python_frame_is_unknown(tmp_path, plain_ext):
    # GIVEN a C thread that never ran Python code
    said, _, _ = run(tmp_path, '''
        import native_blocks as nb
        tracemalloc.enable(1, native=True)
        before = unknown_size()
        block = nb.alloc_in_thread(54321)
        say(grew=unknown_size() - before, lines=native_lines())
        nb.release(block)
        say(after=unknown_size() - before)
    ''', plain_ext)
    # THEN its block is on the "<unknown>" site, not on the caller's line
    assert said[0] == {"grew": 54321, "lines": []}
    assert said[1] == {"after": 0}


def test_realloc_moves_the_trace_and_a_failed_one_keeps_it(tmp_path, ext):
    said, at, _ = run(tmp_path, '''
        import native_blocks as nb
        tracemalloc.enable(1, native=True)
        block = nb.alloc("malloc", 100)  # L:first
        block, moved = nb.resize(block, 1 << 20)  # L:grown
        say(moved=moved, grown=native_lines())
        block, _ = nb.resize(block, 50)  # L:shrunk
        failed = nb.resize_fails(block)  # L:failed
        say(failed=failed, kept=native_lines())
        nb.release(block)
        say(freed=native_lines())
    ''', ext)
    # THEN a realloc is on the line of the realloc, with its new size
    assert said[0] == {"moved": True, "grown": [[at["grown"], 1 << 20, 1]]}
    # AND a failed realloc leaves the block where it was
    assert said[1] == {"failed": True, "kept": [[at["shrunk"], 50, 1]]}
    assert said[2] == {"freed": []}


def test_mappings_unmapped_in_parts(tmp_path, plain_ext):
    said, at, _ = run(tmp_path, '''
        import tempfile
        import native_blocks as nb
        PAGE = os.sysconf("SC_PAGE_SIZE")
        tracemalloc.enable(1, native=True)
        whole = nb.alloc("mmap", 4 * PAGE)  # L:whole
        nb.unmap_part(whole, PAGE, PAGE)
        say(holed=native_lines())
        over = nb.map_over(whole, 3 * PAGE, PAGE)  # L:over
        say(over=native_lines())
        small = nb.alloc("mmap", PAGE)  # L:small
        grown = nb.remap(small, PAGE, 3 * PAGE)  # L:grown
        with tempfile.TemporaryFile() as file:
            file.write(b"x" * PAGE)
            file.flush()
            view = nb.map_file(file.fileno(), PAGE)  # L:file
            say(remapped=native_lines())
            nb.release(view, PAGE)
        nb.release(whole, PAGE)
        nb.release(whole + 2 * PAGE, PAGE)
        nb.release(over, PAGE)
        nb.release(grown, 3 * PAGE)
        say(freed=native_lines())
    ''', plain_ext)
    page = PAGE
    # THEN unmapping a page in the middle leaves two pieces on the line
    assert said[0] == {"holed": [[at["whole"], 3 * page, 2]]}
    # AND a MAP_FIXED mapping over a traced page replaces it
    assert said[1] == {"over": [[at["whole"], 2 * page, 2],
                                [at["over"], page, 1]]}
    # AND mremap moves the mapping to its line; a file mapping is not
    # allocated memory
    assert said[2] == {"remapped": sorted([
        [at["whole"], 2 * page, 2], [at["over"], page, 1],
        [at["grown"], 3 * page, 1]])}
    assert said[3] == {"freed": []}


def test_a_mapping_over_pages_unmapped_unseen_replaces_them(tmp_path,
                                                            plain_ext):
    # GIVEN a traced mapping that is then unmapped where no wrapper sees
    # it (a raw system call), and trace forgotten by clear_traces() meanwhile
    said, at, _ = run(tmp_path, '''
        import native_blocks as nb
        PAGE = os.sysconf("SC_PAGE_SIZE")
        tracemalloc.enable(1, native=True)
        first = nb.alloc("mmap", 3 * PAGE)  # L:first
        nb.unmap_unseen(first, 3 * PAGE)
        # WHEN a new mapping takes some of those pages
        again = nb.map_at(first + PAGE, PAGE)  # L:again
        say(same=again == first + PAGE, lines=native_lines())
        nb.release(again, PAGE)
        nb.release(first, PAGE)  # what is left of the old trace: unmapped
        nb.release(first + 2 * PAGE, PAGE)  # pages, harmless to munmap
        stale = nb.alloc("mmap", PAGE)
        tracemalloc.clear_traces()
        nb.unmap_unseen(stale, PAGE)
        last = nb.map_at(stale, PAGE)  # L:last
        say(same=last == stale, lines=native_lines())
        nb.release(last, PAGE)
        say(freed=native_lines())
    ''', plain_ext)
    # THEN the new mapping replaces the old trace on its pages: no page is
    # counted twice (the old trace keeps the pages it was not told about)
    assert said[0] == {"same": True, "lines": [[at["first"], 2 * PAGE, 2],
                                               [at["again"], PAGE, 1]]}
    assert said[1] == {"same": True, "lines": [[at["last"], PAGE, 1]]}
    assert said[2] == {"freed": []}


def test_libraries_loaded_after_enable(tmp_path, plain_ext):
    # GIVEN tracing started before the extension is imported, and before
    # a library (a second copy of it, not loaded yet) is opened with ctypes
    (library,) = [name for name in os.listdir(plain_ext)
                  if name.startswith("native_blocks") and name.endswith(".so")]
    copy = tmp_path / "copy.so"
    copy.write_bytes(open(os.path.join(plain_ext, library), "rb").read())
    said, at, _ = run(tmp_path, '''
        import ctypes
        tracemalloc.enable(1, native=True)
        import native_blocks as nb
        block = nb.alloc("malloc", 1111)  # L:imported
        lib = ctypes.CDLL(COPY)
        lib.nb_malloc.restype = ctypes.c_void_p
        lib.nb_malloc.argtypes = [ctypes.c_size_t]
        lib.nb_free.argtypes = [ctypes.c_void_p]
        other = lib.nb_malloc(2222)  # L:ctypes
        say(live=native_lines())
        lib.nb_free(other)
        nb.release(block)
        say(freed=native_lines())
    '''.replace("COPY", repr(str(copy))), plain_ext)
    # THEN both libraries' blocks are on their lines
    assert said[0] == {"live": [[at["imported"], 1111, 1],
                                [at["ctypes"], 2222, 1]]}
    assert said[1] == {"freed": []}


def test_numpy_array_data_is_counted_once(tmp_path):
    pytest.importorskip("numpy", reason="no numpy for this interpreter")
    said, at, _ = run(tmp_path, '''
        import numpy
        tracemalloc.enable(1, native=True)
        array = numpy.empty(10 ** 6)  # L:array
        say(native=native_lines(), data=native_lines(389047))
        del array
        say(native=native_lines(), data=native_lines(389047))
    ''', tmp_path)
    # THEN numpy's data (malloc'ed by numpy, then reported to tracemalloc)
    # is in numpy's domain only
    assert said[0]["data"] == [[at["array"], 8 * 10 ** 6, 1]]
    assert sum(size for _, size, _ in said[0]["native"]) < 8 * 10 ** 6
    assert said[1] == {"native": [], "data": []}


def test_turning_native_off_and_on_with_live_blocks(tmp_path, plain_ext):
    said, at, _ = run(tmp_path, '''
        import native_blocks as nb
        early = nb.alloc("malloc", 999)
        tracemalloc.enable(1, native=True)
        nb.release(early)  # freeing an untraced block is harmless
        first = nb.alloc("malloc", 1000)  # L:first
        say(on=native_lines())
        tracemalloc.enable(1, native=False)  # still tracing, not native
        say(off=native_lines(), traced=tracemalloc.is_native_traced(),
            enabled=tracemalloc.is_enabled())
        nb.release(first)
        untraced = nb.alloc("malloc", 1000)
        tracemalloc.enable(1, native=True)
        second = nb.alloc("malloc", 3000)  # L:second
        nb.release(untraced)
        say(again=native_lines())
        tracemalloc.disable()
        say(disabled=tracemalloc.is_native_traced())
        nb.release(second)
        tracemalloc.enable(1)  # native not asked: off
        third = nb.alloc("malloc", 4000)
        say(plain=native_lines(), traced=tracemalloc.is_native_traced())
        nb.release(third)
        tracemalloc.enable(1, native=True)
        fourth = nb.alloc("malloc", 5000)  # L:fourth
        tracemalloc.enable(2)  # native not asked while tracing: kept
        say(kept=tracemalloc.is_native_traced(), lines=native_lines())
        nb.release(fourth)
        say(freed=native_lines())
    ''', plain_ext)
    assert said[0] == {"on": [[at["first"], 1000, 1]]}
    assert said[1] == {"off": [], "traced": False, "enabled": True}
    assert said[2] == {"again": [[at["second"], 3000, 1]]}
    assert said[3] == {"disabled": False}
    assert said[4] == {"plain": [], "traced": False}
    assert said[5] == {"kept": True, "lines": [[at["fourth"], 5000, 1]]}
    assert said[6] == {"freed": []}


def test_enable_checks_native_argument():
    was = tracemalloc.is_enabled()
    try:
        for value in ("yes", 1, None):
            with pytest.raises(TypeError, match="native must be a bool"):
                tracemalloc.enable(1, native=value)
    finally:
        if not was and tracemalloc.is_enabled():
            tracemalloc.disable()


def test_errno_is_left_as_libc_set_it(tmp_path, plain_ext):
    said, _, _ = run(tmp_path, '''
        import native_blocks as nb
        say(untraced=nb.errno_after())
        tracemalloc.enable(1, native=True)
        say(traced=nb.errno_after())
    ''', plain_ext)
    assert said[0]["untraced"] == said[1]["traced"]
    assert said[1]["traced"] == [4242, 4343, errno.ENOMEM]


def test_fork_child_keeps_tracing_native(tmp_path, plain_ext):
    said, at, _ = run(tmp_path, '''
        import native_blocks as nb
        tracemalloc.enable(1, native=True)
        block = nb.alloc("malloc", 1234)  # L:parent
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            mine = nb.alloc("malloc", 4321)  # L:child
            seen = native_lines()
            nb.release(mine)
            nb.release(block)
            seen_after = native_lines()
            os.write(write, json.dumps([seen, seen_after]).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            child = json.loads(pipe.read())
        os.waitpid(pid, 0)
        say(child=child, parent=native_lines())
        nb.release(block)
    ''', plain_ext)
    (result,) = said
    assert result["child"] == [
        sorted([[at["parent"], 1234, 1], [at["child"], 4321, 1]]), []]
    assert result["parent"] == [[at["parent"], 1234, 1]]


def test_environment_turns_native_on(tmp_path, plain_ext):
    script = '''
        import native_blocks as nb
        block = nb.alloc("malloc", 777)  # L:block
        say(on=tracemalloc.is_native_traced(), lines=native_lines())
        nb.release(block)
    '''
    said, at, err = run(tmp_path, script, plain_ext, env=child_env(
        [plain_ext], PYTRACEMALLOC="1", PYTRACEMALLOC_NATIVE="1"))
    assert said == [{"on": True, "lines": [[at["block"], 777, 1]]}]
    assert "tracemalloc enabled (native)" in err
    said, _, err = run(tmp_path, script, plain_ext, env=child_env(
        [plain_ext], PYTRACEMALLOC="1", PYTRACEMALLOC_NATIVE="yes"))
    assert said == [{"on": False, "lines": []}]
    assert "ignoring PYTRACEMALLOC_NATIVE='yes'" in err
    said, _, err = run(tmp_path, script, plain_ext, env=child_env(
        [plain_ext], PYTRACEMALLOC="1", PYTRACEMALLOC_NATIVE="0"))
    assert said == [{"on": False, "lines": []}]


def test_snapshot_says_native_and_its_file_keeps_it(tmp_path, plain_ext):
    said, at, _ = run(tmp_path, '''
        import native_blocks as nb
        tracemalloc.enable(1, native=True)
        block = nb.alloc("malloc", 4444)  # L:block
        snapshot = tracemalloc.take_snapshot()
        path = os.path.join(os.path.dirname(__file__), "native.snapshot")
        tracemalloc.Snapshot.create().write(path)
        say(native=snapshot.native, repr=repr(snapshot))
        tracemalloc.enable(1, native=False)
        say(native=tracemalloc.take_snapshot().native)
    ''', plain_ext)
    assert said[0]["native"] is True and " native>" in said[0]["repr"]
    assert said[1] == {"native": False}
    path = tmp_path / "native.snapshot"
    document = json.loads(gzip.decompress(path.read_bytes()))
    # THEN the file says native, in the version that holds its other data
    # (an added field: older readers ignore it)
    assert document["native"] is True
    assert document["version"] == 4
    loaded = tracemalloc.Snapshot.load(path)
    assert loaded.native is True
    native = loaded.filter_traces([tracemalloc.DomainFilter(True, NATIVE)])
    assert [(s.traceback[0].lineno, s.size) for s in native.statistics(
        "lineno") if s.traceback[0].filename.endswith("script.py")] == [
        (at["block"], 4444)]
    # AND a file without the field is not native; a bad value is refused
    del document["native"]
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    assert tracemalloc.Snapshot.load(path).native is False
    document["native"] = "yes"
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    with pytest.raises(tracemalloc.SnapshotLoadError, match="native"):
        tracemalloc.Snapshot.load(path)


def test_snapshot_native_must_be_bool():
    with pytest.raises(TypeError, match="native must be a bool"):
        tracemalloc.Snapshot([], 1, native=1)
    snapshot = tracemalloc.Snapshot([], 1, native=True)
    assert snapshot.native is True


def test_display_top_names_native_memory():
    frames = (("/app/main.py", 3),)
    snapshot = tracemalloc.Snapshot(
        [(frames, 100, 2, 0), ((("/app/db.py", 8),), 50000, 3, NATIVE)],
        native=True)
    out = io.StringIO()
    tracemalloc.DisplayTop(5, file=out).display_snapshot(snapshot)
    text = out.getvalue()
    assert "#1: /app/db.py [native]: size=48 KiB, count=3" in text, text
    assert "  of which native: size=48 KiB, count=3" in text, text


def test_run_native_option(tmp_path, plain_ext):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent('''\
        import native_blocks as nb
        block = nb.alloc("malloc", 3 * 1024 * 1024)
    '''))
    for native in (True, False):
        out = tmp_path / ("out-native" if native else "out-plain")
        args = ["--native"] if native else []
        proc = subprocess.run(
            [sys.executable, "-m", "pytracemalloc", "run", *args, "-o",
             str(out), "--top", "3", str(script)],
            capture_output=True, text=True, timeout=120,
            env=child_env([plain_ext]))
        assert proc.returncode == 0, proc.stderr
        (final,) = [name for name in os.listdir(out)
                    if name.endswith("-final.snapshot")]
        snapshot = tracemalloc.Snapshot.load(out / final)
        assert snapshot.native is native
        sizes = snapshot.domain_totals().get(NATIVE, (0, 0))[0]
        if native:
            assert "(native)" in proc.stderr
            assert sizes >= 3 * 1024 * 1024
            assert "prog.py:2 [native]" in proc.stderr
        else:
            assert sizes == 0
    proc = subprocess.run(
        [sys.executable, "-m", "pytracemalloc", "run", "--native=1",
         str(script)], capture_output=True, text=True, timeout=120,
        env=child_env([plain_ext]))
    assert proc.returncode == 2 and "--native takes no value" in proc.stderr


def test_pytest_plugin_native_option(tmp_path, plain_ext):
    (tmp_path / "test_big.py").write_text(textwrap.dedent('''\
        import pytest
        import native_blocks as nb

        @pytest.mark.limit_memory("10 MB")
        def test_native_peak():
            block = nb.alloc("malloc", 30 * 1024 * 1024)
            nb.release(block)
    '''))
    results = {}
    for args in ([], ["--pytracemalloc-native"]):
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
             "-p", "no:xdist", "--pytracemalloc", *args, str(tmp_path)],
            capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
            env=child_env([plain_ext]))
        results[bool(args)] = proc
    # THEN only native tracing sees the 30 MB of the C library
    assert results[False].returncode == 0, results[False].stdout
    assert results[True].returncode == 1, results[True].stdout
    assert "native memory too" in results[True].stdout
    assert "test_big.py:6" in results[True].stdout


def _allocator(name):
    import sysconfig
    directory = os.path.join("/usr/lib", sysconfig.get_config_var(
        "MULTIARCH") or "")
    return os.path.join(directory, name)


@pytest.mark.parametrize("library", ["libjemalloc.so.2",
                                     "libtcmalloc_minimal.so.4"])
def test_beside_a_preloaded_allocator(tmp_path, plain_ext, library):
    path = _allocator(library)
    if not os.path.exists(path):
        pytest.skip("%s is not installed (make allocators, which make test "
                    "runs, installs it)" % path)
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("under make test-asan the sanitizer is the allocator")
    # GIVEN a process whose malloc is a preloaded allocator's
    said, at, _ = run(tmp_path, '''
        import native_blocks as nb
        early = nb.alloc("malloc", 5000)  # made before tracing, freed after
        tracemalloc.enable(1, native=True)
        block = nb.alloc("malloc", 6000)  # L:block
        grown, _ = nb.resize(block, 1 << 20)  # L:grown
        say(live=native_lines(), preloaded=LIBRARY in open(
            "/proc/self/maps").read())
        kept = nb.alloc("malloc", 8000)  # L:kept
        nb.release(early)
        nb.release(grown)
        say(freed=native_lines())
        tracemalloc.disable()
        nb.release(kept)
        late = nb.alloc("malloc", 7000)  # traced by nobody, freed by it
        nb.release(late)
        say(done=True)
    '''.replace("LIBRARY", repr(library)), plain_ext,
        env=child_env([plain_ext], LD_PRELOAD=path))
    # THEN its blocks are traced and freed by it, in any order
    assert said[0] == {"live": [[at["grown"], 1 << 20, 1]],
                       "preloaded": True}
    assert said[1]["freed"] == [[at["kept"], 8000, 1]]
    assert said[2] == {"done": True}


def test_exit_while_tracing_native_with_threads(tmp_path, plain_ext):
    # GIVEN native tracing on, C threads allocating and live blocks of a C
    # library (sqlite3, when this interpreter has it) at interpreter exit
    said, _, _ = run(tmp_path, '''
        import threading
        import native_blocks as nb
        try:
            import sqlite3
        except ImportError:
            sqlite3 = None
        tracemalloc.enable(5, native=True)
        if sqlite3 is not None:
            db = sqlite3.connect(":memory:")
            db.execute("create table t (a text)")
            db.executemany("insert into t values (?)",
                           (("x" * 100,) for _ in range(5000)))
        blocks = [nb.alloc("malloc", 100 + i) for i in range(1000)]
        stop = False
        def churn():
            while not stop:
                nb.release(nb.alloc_in_thread(4096))
        threads = [threading.Thread(target=churn, daemon=True)
                   for _ in range(3)]
        for thread in threads:
            thread.start()
        say(live=sum(size for _, size, _ in native_lines()) > 100000)
        # WHEN the interpreter exits with all of it alive (daemon threads
        # still running)
    ''', plain_ext)
    # THEN it exits normally
    assert said == [{"live": True}]
