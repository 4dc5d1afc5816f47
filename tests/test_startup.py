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
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "PYTHONMALLOC"):
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
