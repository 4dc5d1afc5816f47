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
