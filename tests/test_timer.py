"""The allocation-driven timer of 0.9.1, exact to the first traced event
after its delay, and the tasks that share it."""

import os
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


def test_can_be_started_before_tracing():
    # GIVEN a timer started while not tracing (0.9.1 allowed it)
    pytracemalloc.disable()
    calls = []
    pytracemalloc.start_timer(0.05, lambda: calls.append(1))
    try:
        # WHEN tracing starts and the program allocates
        pytracemalloc.enable()
        fired = allocate_until(lambda: calls)
    finally:
        pytracemalloc.disable()
    # THEN it fires
    assert fired


def allocate_once():
    """One traced allocation at least; the pending call runs when this
    call returns."""
    return bytearray(64)


@pytest.fixture
def sampled_tracing():
    """Sampled mode with an N so large that nothing of these tests is
    sampled: every event takes the unsampled fast paths."""
    import gc
    gc.collect()
    pytracemalloc.enable(1, sample_bytes=1 << 40)
    try:
        yield
    finally:
        pytracemalloc.disable()


@pytest.fixture(params=["exact", "sampled"])
def either_mode(request):
    """Exact mode, or sampled mode where nothing is sampled: 0.9.1's timer
    counts every allocation and free either way."""
    if request.param == "exact":
        yield request.getfixturevalue("tracing")
    else:
        yield request.getfixturevalue("sampled_tracing")


def test_the_first_allocation_after_the_delay_fires_it(either_mode):
    # GIVEN a timer, and a program quiet for longer than its delay
    calls = []
    pytracemalloc.start_timer(0.2, lambda: calls.append(1))
    time.sleep(0.3)
    # WHEN it allocates once
    allocate_once()
    fired = len(calls)
    pytracemalloc.stop_timer()
    # THEN the callback has run: no waiting for more allocations
    assert fired == 1


def test_a_free_alone_fires_it(either_mode):
    # GIVEN blocks (traced, or unsampled), a timer, and a quiet program
    blocks = [bytearray(64) for _ in range(100)]
    calls = []
    pytracemalloc.start_timer(0.2, lambda: calls.append(1))
    time.sleep(0.3)
    # WHEN the program only frees (list.clear allocates nothing)
    blocks.clear()
    fired = len(calls)
    pytracemalloc.stop_timer()
    # THEN that free fired the timer
    assert fired == 1


def test_never_before_the_delay(tracing):
    # GIVEN a timer of 0.3 s, and a program allocating all the time
    started = time.monotonic()
    times = []
    pytracemalloc.start_timer(0.3, lambda: times.append(time.monotonic()))
    # WHEN it fires twice
    allocate_until(lambda: len(times) >= 2)
    pytracemalloc.stop_timer()
    # THEN each call came at least the delay after the timer started or
    # after the previous call
    assert len(times) == 2
    assert times[0] - started >= 0.3
    assert times[1] - times[0] >= 0.3


@pytest.mark.parametrize("args, error, message", [
    ((0, print), ValueError, "delay must be greater than 0"),
    ((-1, print), ValueError, "delay must be greater than 0"),
    ((1, 42), TypeError, "callback must be a callable object, not int"),
    ((1, print, [1]), TypeError, "argument list must be a tuple"),
    ((1, print, (), [1]), TypeError, "keyword list must be a dictionary"),
])
def test_bad_arguments_get_0_9_1_errors(args, error, message):
    with pytest.raises(error) as raised:
        pytracemalloc.start_timer(*args)
    assert str(raised.value) == message


def test_keeps_firing_in_a_forked_child():
    # GIVEN a timer armed before fork: the child has no helper thread
    code = """if True:
        import os, time, pytracemalloc
        pytracemalloc.enable()
        calls = []
        pytracemalloc.start_timer(0.2, lambda: calls.append(1))
        # The helper thread that start_timer starts is let finish starting
        # first.  Under make test-asan, GCC 12's ASan does not lock its
        # allocator around fork: a thread starting at that moment left the
        # allocator's lock held in the child, whose threads then waited on
        # it forever (gdb: SizeClassAllocator64::GetFromAllocator in
        # both), a deadlock of the sanitizer's runtime, not of ours.
        time.sleep(0.05)
        pid = os.fork()
        if pid == 0:
            # 0.6 s: three times the delay, so that a loaded machine (make
            # test-asan) still has the child quiet past it
            time.sleep(0.6)
            junk = bytearray(64)
            first = len(calls)
            # Re-armed by that call, with a helper thread of the child's
            # own, which a loaded machine may wake late: allocate until
            # the second call comes (10 s at most).
            deadline = time.monotonic() + 10
            while len(calls) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
                junk = bytearray(64)
            os._exit(10 * first + len(calls))
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
    """
    # WHEN the child is quiet past the delay, then allocates, twice
    result = subprocess.run([sys.executable, "-c", code],
                            capture_output=True, text=True, timeout=60)
    # THEN it fired at once with no helper (1 call), then again once
    # re-armed in the child (2 calls)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["child", "12"]


def counting_task():
    """(the list of its calls, a new task function appending to it)."""
    calls = []

    def task():
        calls.append(1)

    return calls, task


def test_two_tasks_share_the_timer(tracing):
    # GIVEN two periodic tasks of different delays
    fast, fast_task = counting_task()
    slow, slow_task = counting_task()
    tasks.schedule(fast_task, 0.05)
    tasks.schedule(slow_task, 0.2)
    # WHEN the program allocates
    allocate_until(lambda: len(slow) >= 2)
    tasks.unschedule(slow_task)
    tasks.unschedule(fast_task)
    # THEN both ran, the fast one more often
    assert len(slow) >= 2 and len(fast) > len(slow)


@pytest.mark.parametrize("end", ["stop_timer", "disable"])
def test_tasks_ended_from_outside_stay_ended(tracing, end):
    # GIVEN a periodic task, ended by stop_timer() or disable() (0.9.1:
    # both stop the one timer)
    old, old_task = counting_task()
    new, new_task = counting_task()
    tasks.schedule(old_task, 0.05)
    getattr(pytracemalloc, end)()
    pytracemalloc.enable()
    # WHEN another task starts
    tasks.schedule(new_task, 0.05)
    allocate_until(lambda: len(new) >= 3)
    tasks.unschedule(new_task)
    # THEN only the new one runs
    assert len(new) >= 3 and old == []


def test_stopping_a_task_leaves_a_direct_timer_alone(tracing):
    # GIVEN a task replaced by a direct start_timer()
    calls = []
    tasks.schedule(print, 60)
    pytracemalloc.start_timer(0.05, lambda: calls.append(1))
    # WHEN the task is stopped
    tasks.unschedule(print)
    # THEN the direct timer still fires
    assert allocate_until(lambda: calls)
    pytracemalloc.stop_timer()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"),
                    reason="counts the threads in /proc (Linux)")
def test_no_thread_is_left_behind_by_a_stopped_timer():
    # GIVEN a program counting its threads around a timer that ran once,
    # then was stopped
    code = """if True:
        import time, pytracemalloc

        def threads():
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("Threads:"):
                        return int(line.split()[1])

        pytracemalloc.enable()
        before = threads()
        calls = []
        pytracemalloc.start_timer(0.05, lambda: calls.append(1))
        while not calls:
            junk = [str(i) for i in range(100)]
        running = threads()
        pytracemalloc.stop_timer()
        deadline = time.monotonic() + 10
        while threads() > before and time.monotonic() < deadline:
            time.sleep(0.01)
        print(running - before, threads() - before)
    """
    # WHEN it runs
    result = subprocess.run([sys.executable, "-c", code],
                            capture_output=True, text=True, timeout=60)
    # THEN the timer had one helper thread, gone once stopped
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "0"]


def test_sampled_mode_fires_repeatedly_while_allocating(sampled_tracing):
    # GIVEN sampled mode and a timer of 0.05 s
    calls = []
    pytracemalloc.start_timer(0.05, lambda: calls.append(1))
    # WHEN the program allocates for a while
    fired = allocate_until(lambda: len(calls) >= 3)
    pytracemalloc.stop_timer()
    # THEN the callback ran again and again
    assert fired
