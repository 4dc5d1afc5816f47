"""Which interpreters the engine runs on, and how it refuses the others."""

import importlib.metadata
import subprocess
import sys
import sysconfig

import pytest

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


@pytest.mark.skipif(FREE_THREADED, reason="the engine refuses this build")
def test_the_version_is_the_installed_distributions():
    # GIVEN the installed distribution
    import pytracemalloc
    # THEN the package reports the distribution's version, from one place
    assert pytracemalloc.__version__ == \
        importlib.metadata.version("pytracemalloc")


@pytest.mark.skipif(FREE_THREADED, reason="the engine refuses this build")
def test_the_engine_loads_on_a_supported_interpreter():
    # GIVEN CPython 3.11 to 3.15 with the GIL
    # WHEN the engine is imported
    from pytracemalloc import _tracemalloc
    # THEN it is the compiled engine, with its limits
    assert _tracemalloc.MAX_NFRAME == 65535
    assert _tracemalloc.get_free_list_mode() in {
        "hooks", "reftracer", "disabled", "untracked"}


@pytest.mark.skipif(not FREE_THREADED, reason="needs free-threaded CPython")
def test_free_threaded_cpython_is_refused_with_a_clear_message():
    # GIVEN free-threaded CPython (its MEM and OBJ allocators run without
    # a GIL, which the engine's tables rely on)
    # WHEN pytracemalloc is imported
    result = subprocess.run(
        [sys.executable, "-c", "import pytracemalloc"],
        capture_output=True, text=True, timeout=60)
    # THEN the import fails cleanly, saying why
    assert result.returncode == 1
    assert "ImportError" in result.stderr
    assert "free-threaded" in result.stderr
    assert "Segmentation" not in result.stderr


def _write_snapshot_file(path, pid, when, size):
    """A snapshot file as docs/snapshot-format.rst describes it, written
    without the engine (which a free-threaded build cannot load)."""
    import gzip
    import json
    document = {
        "format": "pytracemalloc-snapshot", "version": 1, "pid": pid,
        "time": when, "timestamp": "2026-12-07 05:00:00",
        "process_memory": None, "tracemalloc_memory": 1000,
        "traceback_limit": 1, "user_data": None,
        "filenames": ["/srv/app/cache.py"], "frames": [[0, 42]],
        "sites": [[size, 10, 0]]}
    with gzip.open(path, "wt", encoding="utf-8") as file:
        json.dump(document, file)


@pytest.mark.skipif(not FREE_THREADED, reason="needs free-threaded CPython")
def test_the_report_runs_where_the_engine_is_refused(tmp_path):
    # GIVEN two snapshot files made elsewhere, on a free-threaded build
    for i, size in enumerate((1000, 5000)):
        _write_snapshot_file(tmp_path / f"s{i}.snap", 7, 1796620000 + i,
                             size)
    # WHEN the report command reads them
    page = tmp_path / "report.html"
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-m", "pytracemalloc", "report",
         str(tmp_path / "s0.snap"), str(tmp_path / "s1.snap"),
         "-o", str(page)],
        capture_output=True, text=True, timeout=120)
    # THEN the page is written, with the file's line in it
    assert result.returncode == 0, result.stderr
    assert "2 snapshots" in result.stderr
    assert "/srv/app/cache.py" in page.read_text(encoding="utf-8")
    # AND the export command writes its folded stacks too
    folded = subprocess.run(
        [sys.executable, "-m", "pytracemalloc", "export",
         str(tmp_path / "s1.snap"), "--format", "collapsed", "-o", "-"],
        capture_output=True, text=True, timeout=120)
    assert folded.returncode == 0, folded.stderr
    assert "cache.py:" in folded.stdout
    # AND anything else still refuses the import, saying why
    display = subprocess.run(
        [sys.executable, "-m", "pytracemalloc", str(tmp_path / "s0.snap")],
        capture_output=True, text=True, timeout=60)
    assert display.returncode == 1
    assert "free-threaded" in display.stderr


@pytest.mark.skipif(not FREE_THREADED, reason="needs free-threaded CPython")
def test_the_plugin_loads_and_says_it_cannot_trace(tmp_path):
    # GIVEN a test file, on a free-threaded build
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               str(tmp_path / "test_one.py")]
    # WHEN pytest runs it with the plugin loaded but not asked to trace
    plain = subprocess.run(command, capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
    # THEN the test runs
    assert plain.returncode == 0, plain.stdout + plain.stderr
    # AND asked to trace, pytest stops with one clear line
    traced = subprocess.run(command + ["--pytracemalloc"], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert traced.returncode != 0
    assert "cannot trace on this interpreter" in traced.stderr
    assert "Traceback" not in traced.stderr


@pytest.mark.skipif(FREE_THREADED, reason="the engine refuses this build")
@pytest.mark.parametrize("orig_argv, expected", [
    (["python", "-m", "pytracemalloc", "report", "a.snap"], True),
    (["python", "-X", "dev", "-W", "error", "-I", "-m", "pytracemalloc",
      "report"], True),
    (["python", "-mpytracemalloc", "report"], True),
    (["python", "-m", "pytracemalloc.report", "a.snap"], True),
    (["python", "-m", "pytracemalloc", "export", "a.snap"], True),
    (["python", "-m", "pytracemalloc.export", "a.snap"], True),
    (["python", "-m", "pytracemalloc", "a.snap"], False),
    (["python", "-m", "pytracemalloc", "run", "report"], False),
    (["python", "-m", "other", "pytracemalloc", "report"], False),
    (["python", "script.py", "-m", "pytracemalloc", "report"], False),
    (["python", "-c", "import pytracemalloc", "report"], False),
])
def test_only_the_report_command_counts_as_reading_files(orig_argv,
                                                          expected):
    from pytracemalloc import _engine
    # GIVEN the command line a process was started with, while runpy
    # imports its -m module's packages (sys.argv[0] is "-m" then)
    # THEN only the report command reads files only
    assert _engine._started_as_report(["-m"] + orig_argv[-1:],
                                      orig_argv) is expected
    # AND nothing counts once the module runs (sys.argv[0] is its path)
    assert not _engine._started_as_report(["/x/__main__.py"], orig_argv)
