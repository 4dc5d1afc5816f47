"""Periodic tasks on the engine's one allocation-driven timer.

The engine has a single timer (``start_timer``), as 0.9.1 had.  So that a
``DisplayTop`` and a ``TakeSnapshot`` can both run periodically, their
``start()`` registers them here: the timer fires at the shortest delay of
the registered tasks and runs each task whose own delay has passed.
Calling ``start_timer()`` or ``stop_timer()`` directly, or ``disable()``,
ends them all (0.9.1 semantics): a later ``start()`` does not bring them
back.
"""

import time
import weakref

from pytracemalloc import _tracemalloc

# task -> [delay, next run (monotonic seconds)].  Guarded by the GIL.
_tasks = {}


class _Runner:
    """The callback given to the engine's timer, a new one each time: the
    engine drops it when its timer is stopped or replaced, which is how we
    learn that our tasks were ended from outside."""

    __slots__ = ("__weakref__",)

    def __call__(self):
        _run_due_tasks()


_runner = None  # weakref to the _Runner the engine's timer holds


def _forget_ended_tasks():
    if _runner is None or _runner() is None:
        _tasks.clear()


def _run_due_tasks():
    now = time.monotonic()
    for task, schedule in list(_tasks.items()):
        if task not in _tasks or now < schedule[1]:
            continue
        schedule[1] = now + schedule[0]
        task()


def _restart_timer():
    global _runner
    if _tasks:
        delay = min(schedule[0] for schedule in _tasks.values())
        runner = _Runner()
        _tracemalloc.start_timer(delay, runner)
        _runner = weakref.ref(runner)
    else:
        _runner = None
        _tracemalloc.stop_timer()


def schedule(task, delay):
    """Run ``task()`` every ``delay`` seconds (allocation-driven: at the
    first traced allocation or free after that).  Replaces an earlier
    schedule of the same task.  As in 0.9.1 this may come before
    ``enable()``: the task waits for traced events."""
    delay = float(delay)
    if not delay > 0:
        raise ValueError("delay must be greater than 0")
    _forget_ended_tasks()
    _tasks[task] = [delay, time.monotonic() + delay]
    _restart_timer()


def unschedule(task):
    """Stop running ``task``; nothing happens if it is not scheduled."""
    _forget_ended_tasks()
    if _tasks.pop(task, None) is not None:
        _restart_timer()
