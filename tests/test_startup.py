"""PYTRACEMALLOC: tracing from interpreter start-up."""

import os
import subprocess
import sys

import pytest

PROGRAM = """
import pytracemalloc
from pytracemalloc import _tracemalloc
data = [bytearray(1000) for _ in range(50)]   # module-level line 4
line4 = _tracemalloc._get_stats().get(__file__, {}).get(4, (0, 0))
print("enabled", pytracemalloc.is_enabled(),
      "depth", pytracemalloc.get_traceback_limit(),
      "line4", line4[0] >= 50000)
"""


def run(tmp_path, value, *options):
    script = tmp_path / "main.py"
    script.write_text(PROGRAM)
    env = {"PATH": "/usr/bin:/bin"}
    # keep a sanitizer run's runtime (make test-asan) in the child
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "PYTHONMALLOC", "PYTHONPATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    if value is not None:
        env["PYTRACEMALLOC"] = value
    return subprocess.run([sys.executable, *options, str(script)], env=env,
                          capture_output=True, text=True, timeout=60)


def test_on_traces_from_start_up_including_the_main_script(tmp_path):
    result = run(tmp_path, "1")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == "tracemalloc enabled"
    assert "enabled True depth 1 line4 True" in result.stdout


def test_a_number_sets_the_traceback_depth(tmp_path):
    result = run(tmp_path, "7")
    assert "enabled True depth 7 line4 True" in result.stdout


@pytest.mark.parametrize("value", [None, "", "0"])
def test_off(tmp_path, value):
    result = run(tmp_path, value)
    assert result.returncode == 0, result.stderr
    assert "enabled False" in result.stdout
    assert "tracemalloc enabled" not in result.stderr


@pytest.mark.parametrize("value", ["yes", "-3", "100000"])
def test_an_invalid_value_warns_once_and_runs_untraced(tmp_path, value):
    result = run(tmp_path, value)
    assert result.returncode == 0, result.stderr
    assert "enabled False" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line]
    assert len(warnings) == 1 and "PYTRACEMALLOC" in warnings[0]


@pytest.mark.parametrize("option", ["-E", "-I"])
def test_ignored_with_E_and_I(tmp_path, option):
    result = run(tmp_path, "1", option)
    assert result.returncode == 0, result.stderr
    assert "enabled False" in result.stdout


# --- sampled mode (issue 17) ---------------------------------------------

SAMPLED_PROGRAM = """
import pytracemalloc
print("sample_bytes", pytracemalloc.get_sample_bytes())
"""


def run_sampled(tmp_path, sample_value):
    script = tmp_path / "sampled.py"
    script.write_text(SAMPLED_PROGRAM)
    env = {"PATH": "/usr/bin:/bin", "PYTRACEMALLOC": "1"}
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "PYTHONMALLOC", "PYTHONPATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    if sample_value is not None:
        env["PYTRACEMALLOC_SAMPLE_BYTES"] = sample_value
    return subprocess.run([sys.executable, str(script)], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("value,expected", [
    ("524288", 524288), ("512K", 524288), ("512KiB", 524288),
    ("1M", 1 << 20), ("2g", 2 << 30)])
def test_sample_bytes_from_the_environment(tmp_path, value, expected):
    # GIVEN PYTRACEMALLOC=1 and PYTRACEMALLOC_SAMPLE_BYTES WHEN starting
    result = run_sampled(tmp_path, value)
    # THEN the program traces in sampled mode with that N, and says so
    assert result.returncode == 0, result.stderr
    assert "sample_bytes %d" % expected in result.stdout
    assert result.stderr.splitlines()[0] == \
        "tracemalloc enabled (sampled: one byte in %d)" % expected


@pytest.mark.parametrize("value", [None, ""])
def test_no_sample_bytes_is_exact_mode(tmp_path, value):
    result = run_sampled(tmp_path, value)
    assert "sample_bytes None" in result.stdout
    assert result.stderr.splitlines()[0] == "tracemalloc enabled"


@pytest.mark.parametrize("value", ["lots", "0", "-5", "12X", "1.5M"])
def test_an_invalid_sample_bytes_warns_once_and_runs_untraced(tmp_path,
                                                             value):
    result = run_sampled(tmp_path, value)
    assert result.returncode == 0, result.stderr
    assert "sample_bytes None" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if line]
    assert len(warnings) == 1
    assert "PYTRACEMALLOC_SAMPLE_BYTES" in warnings[0]
    assert "untraced" in warnings[0]
