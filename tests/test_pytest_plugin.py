"""The pytest plugin (pytest_pytracemalloc), run in pytester's
subprocesses: limits, leaks, the ini default, the summary, threads, xdist,
and its refusal to run beside pytest-memray."""

import os
import sys

import pytest

import pytracemalloc
from pytest_pytracemalloc import format_size, parse_size

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Children import the pytracemalloc this process imported (a source tree
# with its built engine, or site-packages).
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(
    pytracemalloc.__file__)))
TIMEOUT = 120
MiB = 1024 * 1024


def _entry_point_installed():
    from importlib.metadata import entry_points
    return any(ep.value == "pytest_pytracemalloc"
               for ep in entry_points(group="pytest11"))


# Installed (pip install .), pytest loads the plugin by its entry point;
# from a source tree it is named on the command line.
PLUGIN = [] if _entry_point_installed() else ["-p", "pytest_pytracemalloc"]


@pytest.fixture
def pt(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        filter(None, [PACKAGE_PARENT, os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv("PYTRACEMALLOC", raising=False)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return pytester


def run(pytester, *args):
    # pytest-memray, where installed (make bench installs it), would make
    # --pytracemalloc refuse to start: it is off here but in the test of
    # that refusal, which loads a stand-in of it.
    return pytester.runpytest_subprocess(*PLUGIN, "-p", "no:cacheprovider",
                                         "-p", "no:memray", *args,
                                         timeout=TIMEOUT)


TESTS = """\
import threading
import pytest

KEEP = []

@pytest.mark.limit_memory("10 MB")
def test_over():
    data = [bytearray(1000) for _ in range(30000)]   # line 8: ~30 MB

@pytest.mark.limit_memory("100 MB")
def test_under():
    data = [bytearray(1000) for _ in range(30000)]

@pytest.mark.limit_leaks("1 MB")
def test_leaks():
    KEEP.append([bytearray(1000) for _ in range(3000)])   # line 16: 3 MB

@pytest.mark.limit_leaks("1 MB")
def test_frees_what_it_allocates():
    data = [bytearray(1000) for _ in range(5000)]
    del data

@pytest.mark.limit_memory("10 MB")
def test_thread_over():
    held = []
    def work():
        held.append([bytearray(1000) for _ in range(20000)])   # line 27
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
"""


def test_limits_and_leaks_fail_with_the_limit_the_peak_and_the_lines(pt):
    # GIVEN tests over and under their limits, a leaking one, one that
    # starts a thread
    pt.makepyfile(test_limits=TESTS)
    # WHEN they run with the plugin
    result = run(pt, "--pytracemalloc", "-rA")
    # THEN the ones over fail, naming the limit, the peak and the line
    result.assert_outcomes(passed=2, failed=3)
    out = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*_ test_over _*",
        "Test was limited to 10.0 MiB but its traced peak was *MiB",
        "Top lines at the highest sample*",
        "* test_limits.py:8",
    ])
    result.stdout.fnmatch_lines([
        "*_ test_leaks _*",
        "Test was allowed to leak 1.0 MiB per line but 1 line leaked more:",
        "*3.* MiB  test_limits.py:16",
    ])
    result.stdout.fnmatch_lines([
        "*_ test_thread_over _*",
        "Test was limited to 10.0 MiB but its traced peak was *MiB",
        "*",
        "* test_limits.py:27",
    ])
    assert "PASSED test_limits.py::test_under" in out
    assert "PASSED test_limits.py::test_frees_what_it_allocates" in out
    peak = float(out.split("test_over _")[1].split("peak was ")[1].split()[0])
    assert 25 < peak < 40


def test_off_by_default_the_markers_do_nothing(pt):
    pt.makepyfile(test_limits=TESTS)
    result = run(pt, "--strict-markers")
    result.assert_outcomes(passed=5)
    # nothing of the plugin's own (pytest's header may still list the
    # installed plugin by its distribution's name)
    output = result.stdout.str()
    assert "pytracemalloc:" not in output
    assert "with the highest" not in output


def test_the_ini_setting_turns_it_on(pt):
    pt.makepyfile(test_limits=TESTS)
    pt.makeini("[pytest]\npytracemalloc = true\n")
    result = run(pt)
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(["pytracemalloc: tracing each test, 1 frame"])


def test_the_ini_default_limit_applies_to_every_test_and_a_marker_overrides_it(
        pt):
    pt.makepyfile(test_default="""
        import pytest

        def test_big():
            data = [bytearray(1000) for _ in range(30000)]

        def test_small():
            data = [bytearray(1000) for _ in range(1000)]

        @pytest.mark.limit_memory("100 MB")
        def test_big_with_a_higher_limit():
            data = [bytearray(1000) for _ in range(30000)]

        @pytest.mark.limit_memory("100 KB")
        def test_small_with_a_lower_limit():
            data = [bytearray(1000) for _ in range(1000)]
    """)
    pt.makeini("[pytest]\npytracemalloc_limit_memory = 20 MB\n")
    result = run(pt, "--pytracemalloc", "-rA")
    result.assert_outcomes(passed=2, failed=2)
    out = result.stdout.str()
    assert "FAILED test_default.py::test_big " in out
    assert "FAILED test_default.py::test_small_with_a_lower_limit " in out
    assert "Test was limited to 20.0 MiB" in out
    assert "Test was limited to 100.0 KiB" in out
    result.stdout.fnmatch_lines(["*default limit_memory 20.0 MiB*"])


def test_the_summary_lists_the_top_tests_by_peak_with_their_lines(pt):
    pt.makepyfile(test_summary="""
        def test_10mb():
            data = [bytearray(1000) for _ in range(10000)]   # line 2

        def test_20mb():
            data = [bytearray(1000) for _ in range(20000)]   # line 5

        def test_1mb():
            data = [bytearray(1000) for _ in range(1000)]
    """)
    result = run(pt, "--pytracemalloc", "--pytracemalloc-top=2",
                 "--pytracemalloc-lines=1")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([
        "*= pytracemalloc: 2 tests with the highest traced peak =*",
        "1. test_summary.py::test_20mb: peak *MiB",
        "* MiB  test_summary.py:5",
        "2. test_summary.py::test_10mb: peak *MiB",
        "* MiB  test_summary.py:2",
        "*3 passed*",
    ])
    assert "test_1mb: peak" not in result.stdout.str()
    # exact mode: no figure is marked as an estimate
    assert "estimate" not in result.stdout.str()
    assert "~" not in result.stdout.str()


def test_the_summary_can_group_the_lines_by_function(pt):
    # GIVEN a test that allocates on two lines of its own, and one that
    # allocates through a helper
    pt.makepyfile(test_functions="""
        def helper():
            return [bytearray(1000) for _ in range(25000)]

        def test_two_lines():
            a = [bytearray(1000) for _ in range(15000)]
            b = [bytearray(1000) for _ in range(15000)]

        def test_through_a_helper():
            c = helper()
    """)
    # WHEN the summary groups by function
    result = run(pt, "--pytracemalloc", "--pytracemalloc-group=function",
                 "--pytracemalloc-lines=1")
    result.assert_outcomes(passed=2)
    # THEN the test's two lines are one entry under its name, more than
    # one line's 15 MB (on 3.11 a comprehension is a function of its own,
    # which counts for the function of its line), and the helper's lines
    # under the helper's
    result.stdout.fnmatch_lines([
        "1. test_functions.py::test_two_lines: peak *MiB",
        "* [2-3]?.* MiB  test_functions.py (test_two_lines)",
        "2. test_functions.py::test_through_a_helper: peak *MiB",
        "* MiB  test_functions.py (helper)",
    ])
    # AND a bad value is a usage error
    bad = run(pt, "--pytracemalloc", "--pytracemalloc-group=module")
    assert bad.ret != 0
    assert "pytracemalloc-group" in bad.stderr.str()


def test_filter_fn_sees_the_function_of_each_line(pt):
    # GIVEN a leak whose filter keeps only one function's lines
    pt.makepyfile(test_named="""
        import pytest

        KEEP = []

        def leaky_helper():
            KEEP.append(bytearray(3 * 1024 * 1024))

        def only_the_helper(stack):
            return any(frame.function == "leaky_helper"
                       for frame in stack.frames)

        def never(stack):
            return any(frame.function == "???" for frame in stack.frames)

        @pytest.mark.limit_leaks("1 MB", filter_fn=only_the_helper)
        def test_kept():
            leaky_helper()

        @pytest.mark.limit_leaks("1 MB", filter_fn=never)
        def test_dropped():
            leaky_helper()
    """)
    result = run(pt, "--pytracemalloc")
    # THEN the filter that names the function fails the test, and no
    # frame is left unnamed
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_kept*", "*leaked more*"])


def test_top_zero_hides_the_summary(pt):
    pt.makepyfile(test_a="def test_a():\n    x = bytearray(10**6)\n")
    result = run(pt, "--pytracemalloc", "--pytracemalloc-top", "0")
    result.assert_outcomes(passed=1)
    assert "highest traced peak" not in result.stdout.str()


def test_with_xdist_each_worker_traces_its_tests(pt):
    pytest.importorskip("xdist")
    pt.makepyfile(test_limits=TESTS)
    result = run(pt, "--pytracemalloc", "-n", "2")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines([
        "*= pytracemalloc: 5 tests with the highest traced peak =*",
    ])
    out = result.stdout.str()
    assert "[gw" in out
    assert "Test was limited to 10.0 MiB but its traced peak was" in out
    assert "Test was allowed to leak 1.0 MiB per line" in out
    assert "test_limits.py::test_under: peak" in out


def test_filter_fn_drops_the_lines_it_refuses(pt):
    pt.makepyfile(test_filter="""
        import pytest

        KEEP = []

        def not_in_this_file(stack):
            return not any(frame.filename == __file__
                           for frame in stack.frames)

        @pytest.mark.limit_leaks("1 MB", filter_fn=not_in_this_file)
        def test_known_leak():
            KEEP.append([bytearray(1000) for _ in range(3000)])
    """)
    result = run(pt, "--pytracemalloc")
    result.assert_outcomes(passed=1)


def test_a_bad_size_fails_the_test_with_a_clear_message(pt):
    pt.makepyfile(test_bad="""
        import pytest

        @pytest.mark.limit_memory("24 parsecs")
        def test_bad():
            pass
    """)
    result = run(pt, "--pytracemalloc")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*invalid memory size '24 parsecs'*"])


@pytest.mark.parametrize("setting, message", [
    ("pytracemalloc_limit_memory = lots",
     "*pytracemalloc_limit_memory: invalid memory size 'lots'*"),
    ("pytracemalloc_sample_bytes = 1.5M",
     "*pytracemalloc_sample_bytes*expected a number of bytes*'1.5M'*"),
])
def test_a_bad_ini_setting_is_a_usage_error(pt, setting, message):
    pt.makepyfile(test_a="def test_a():\n    pass\n")
    pt.makeini("[pytest]\n%s\n" % setting)
    result = run(pt, "--pytracemalloc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_test_that_stops_tracing_is_reported_not_crashed(pt):
    pt.makepyfile(test_stop="""
        import pytest
        import pytracemalloc

        @pytest.mark.limit_memory("1 MB")
        def test_stops():
            pytracemalloc.disable()

        def test_next_is_traced_again():
            assert pytracemalloc.is_enabled()
    """)
    result = run(pt, "--pytracemalloc")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*this test stopped tracing*"])


def test_beside_pytest_memray_it_refuses_to_start(pt):
    # GIVEN a stand-in for pytest-memray's plugin module, loaded
    pt.mkpydir("pytest_memray")
    pt.path.joinpath("pytest_memray", "plugin.py").write_text(
        "def pytest_configure(config):\n    pass\n")
    pt.makepyfile(test_a="def test_a():\n    pass\n")
    # WHEN both are on
    result = run(pt, "-p", "pytest_memray.plugin", "--pytracemalloc")
    # THEN a usage error says which two and how to turn one off
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pytracemalloc and pytest-memray are both "
                                 "active*-p no:memray*"])
    # and without --pytracemalloc the suite runs as before
    run(pt, "-p", "pytest_memray.plugin").assert_outcomes(passed=1)


@pytest.mark.parametrize("text, size", [
    ("24 MB", 24 * MiB),
    ("24MB", 24 * MiB),
    ("1.5 kb", 1536),
    (".5 GB", 512 * MiB),
    ("+3 B", 3),
    ("100 MiB", 100 * MiB),
    ("2 TB", 2 * 1024 ** 4),
    ("1 PB", 1024 ** 5),
    (1000, 1000),
])
def test_size_strings_as_pytest_memray_reads_them(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["24", "MB", "24 XB", "-1 MB", "", "1 MB x",
                                  None, -5])
def test_bad_size_strings_are_refused(text):
    with pytest.raises(ValueError, match="invalid memory size"):
        parse_size(text)


def test_format_size():
    assert format_size(512) == "512 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(24 * MiB) == "24.0 MiB"


def test_the_entry_point_is_declared():
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11+")
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["entry-points"]["pytest11"] == {
        "pytracemalloc": "pytest_pytracemalloc"}


@pytest.mark.parametrize("option", ["--pytracemalloc-top=many",
                                    "--pytracemalloc-lines=-2",
                                    "--pytracemalloc-nframe=0",
                                    "--pytracemalloc-sample-bytes=0",
                                    "--pytracemalloc-sample-bytes=-4096",
                                    "--pytracemalloc-sample-bytes=lots"])
def test_bad_numbers_are_usage_errors(pt, option):
    pt.makepyfile(test_a="def test_a():\n    pass\n")
    result = run(pt, "--pytracemalloc", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert option.split("=")[0] in result.stderr.str()


def test_more_frames_are_kept_when_asked(pt):
    pt.makepyfile(test_a="""
        import pytracemalloc

        def test_depth():
            assert pytracemalloc.get_traceback_limit() == 4
    """)
    run(pt, "--pytracemalloc", "--pytracemalloc-nframe=4").assert_outcomes(
        passed=1)


# --- sampled mode ----------------------------------------------------------

SAMPLED_TESTS = TESTS + """\

import pytracemalloc

def test_runs_sampled():
    assert pytracemalloc.get_sample_bytes() == 4096
"""


def test_sampled_mode_marks_the_figures_and_the_limits_as_estimates(pt):
    # GIVEN tests over and under their limits, a leaking one, and one that
    # checks the engine's mode
    pt.makepyfile(test_limits=SAMPLED_TESTS)
    # WHEN they run with the plugin in sampled mode, N = 4096
    result = run(pt, "--pytracemalloc", "--pytracemalloc-sample-bytes=4096",
                 "-rA")
    # THEN the tests ran sampled and the limits still hold: the same ones
    # fail (30 MB against 10 MB, 3 MB against 1 MB are far beyond the
    # sampling error), each failure saying it compared an estimate
    result.assert_outcomes(passed=3, failed=3)
    out = result.stdout.str()
    assert "PASSED test_limits.py::test_runs_sampled" in out
    assert "PASSED test_limits.py::test_under" in out
    result.stdout.fnmatch_lines([
        "pytracemalloc: tracing each test, 1 frame (estimates: sampled, one "
        "byte in 4096 B)",
    ])
    result.stdout.fnmatch_lines([
        "*_ test_over _*",
        "Test was limited to 10.0 MiB but its traced peak was ~* MiB (an "
        "estimate: sampled, one byte in 4096 B)",
        "Top lines at the highest sample (~*",
        "*~* MiB  test_limits.py:8",
    ])
    result.stdout.fnmatch_lines([
        "*_ test_leaks _*",
        "Test was allowed to leak 1.0 MiB per line but 1 line leaked more "
        "(estimates: sampled, one byte in 4096 B):",
        "*~* MiB  test_limits.py:16",
    ])
    # AND the summary marks every peak and line as an estimate
    result.stdout.fnmatch_lines([
        "*= pytracemalloc: 5 tests with the highest traced peak (estimates: "
        "sampled, one byte in 4096 B) =*",
        "1. test_limits.py::test_* peak ~*MiB",
    ])
    peaks = [line for line in out.splitlines() if ": peak " in line]
    assert len(peaks) == 5 and all(": peak ~" in p for p in peaks), peaks
    peak = float(out.split("test_over _")[1].split("peak was ~")[1].split()[0])
    assert 25 < peak < 40


def test_the_ini_sample_bytes_applies_and_the_option_overrides_it(
        pt, monkeypatch):
    pt.makepyfile(test_mode="""
        import os
        import pytracemalloc

        def test_mode():
            assert pytracemalloc.get_sample_bytes() == int(
                os.environ["EXPECTED_SAMPLE_BYTES"])
    """)
    pt.makeini("[pytest]\npytracemalloc_sample_bytes = 4K\n")
    # GIVEN the ini setting WHEN run THEN the tests run sampled with its N
    monkeypatch.setenv("EXPECTED_SAMPLE_BYTES", "4096")
    result = run(pt, "--pytracemalloc")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*(estimates: sampled, one byte in "
                                 "4096 B)*"])
    # AND the command line wins over it
    monkeypatch.setenv("EXPECTED_SAMPLE_BYTES", "8192")
    run(pt, "--pytracemalloc",
        "--pytracemalloc-sample-bytes=8K").assert_outcomes(passed=1)
