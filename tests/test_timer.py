"""The allocation-driven timer of 0.9.1, and the tasks that share it."""

import subprocess
import sys
import time

import pytest

import pytracemalloc
from pytracemalloc import tasks


def allocate_until(condition, timeout=10.0):
    """The timer fires at traced allocations: allocate until condition()
    holds or the timeout passes; return whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        junk = [str(i) for i in range(200)]
        del junk
        if condition():
            return True
    return False


def test_fires_with_its_args_and_kwargs(tracing):
    # GIVEN a timer of 0.1 s with arguments
    calls = []
    pytracemalloc.start_timer(0.1, lambda *a, **k: calls.append((a, k)),
                              (1, 2), {"x": 3})
    # WHEN the program allocates for a while
    fired = allocate_until(lambda: len(calls) >= 2)
    pytracemalloc.stop_timer()
    # THEN the callback ran, more than once, with them
    assert fired
    assert calls[0] == ((1, 2), {"x": 3})


def test_stops(tracing):
    calls = []
    pytracemalloc.start_timer(0.05, lambda: calls.append(1))
    assert allocate_until(lambda: calls)
    pytracemalloc.stop_timer()
    count = len(calls)
    allocate_until(lambda: False, timeout=0.3)
    assert len(calls) == count


def test_a_second_timer_replaces_the_first(tracing):
    first, second = [], []
    pytracemalloc.start_timer(0.05, lambda: first.append(1))
    pytracemalloc.start_timer(0.05, lambda: second.append(1))
    assert allocate_until(lambda: len(second) >= 2)
    pytracemalloc.stop_timer()
    assert first == []


def test_survives_an_exception_in_the_callback():
    # GIVEN a program whose timer callback fails every time
    code = """if True:
        import time, pytracemalloc
        pytracemalloc.enable()
        calls = []
        def failing():
            calls.append(1)
            raise RuntimeError("boom in the callback")
        pytracemalloc.start_timer(0.05, failing)
        deadline = time.monotonic() + 10
        while len(calls) < 3 and time.monotonic() < deadline:
            junk = [str(i) for i in range(200)]
        print("calls", len(calls))
    """
    # WHEN it runs
    result = subprocess.run([sys.executable, "-c", code],
                            capture_output=True, text=True, timeout=60)
    # THEN each failure was reported on stderr, the timer kept going and
    # the program ended normally
    assert result.returncode == 0, result.stderr
    assert "calls 3" in result.stdout
    assert result.stderr.count("boom in the callback") >= 2


def test_is_off_while_its_callback_runs(tracing):
    # GIVEN a callback that allocates a lot for longer than the delay
    running = []
    overlaps = []

    def slow():
        if running:
            overlaps.append(1)
        running.append(1)
        allocate_until(lambda: False, timeout=0.2)
        running.pop()

    pytracemalloc.start_timer(0.01, slow)
    allocate_until(lambda: False, timeout=0.6)
    pytracemalloc.stop_timer()
    # THEN it never ran inside itself
    assert overlaps == []


def test_disable_stops_the_timer():
    pytracemalloc.enable()
    calls = []
    pytracemalloc.start_timer(0.01, lambda: calls.append(1))
    pytracemalloc.disable()
    pytracemalloc.enable()
    allocate_until(lambda: False, timeout=0.2)
    pytracemalloc.disable()
    assert calls == []


def test_needs_tracing():
    with pytest.raises(RuntimeError):
        pytracemalloc.start_timer(1, print)


def test_two_tasks_share_the_timer(tracing):
    # GIVEN two periodic tasks of different delays
    fast, slow = [], []

    def fast_task():
        fast.append(1)

    def slow_task():
        slow.append(1)

    tasks.schedule(fast_task, 0.05)
    tasks.schedule(slow_task, 0.2)
    # WHEN the program allocates
    allocate_until(lambda: len(slow) >= 2)
    tasks.unschedule(slow_task)
    tasks.unschedule(fast_task)
    # THEN both ran, the fast one more often
    assert len(slow) >= 2 and len(fast) > len(slow)
