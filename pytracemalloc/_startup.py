"""Trace from interpreter start-up when PYTRACEMALLOC is set.

Imported by the one line of ``pytracemalloc-startup.pth``, which site.py
runs at every start-up, and only when the variable is set (so start-up
costs nothing otherwise).  ``PYTRACEMALLOC=1`` traces with one frame,
``PYTRACEMALLOC=N`` with N frames; ``python -E`` and ``-I`` ignore it, like
every PYTHON* variable.  An invalid value gets one warning line and the
program runs untraced.
"""

import os
import sys


def start_from_environment(environ=os.environ):
    """Enable tracing as PYTRACEMALLOC says; return the depth used, or
    None when not tracing."""
    value = environ.get("PYTRACEMALLOC", "")
    if not value or sys.flags.ignore_environment:
        return None
    try:
        nframe = int(value)
    except ValueError:
        nframe = -1
    if nframe == 0:
        return None
    from pytracemalloc import _tracemalloc
    if not 1 <= nframe <= _tracemalloc.MAX_NFRAME:
        sys.stderr.write(
            "pytracemalloc: ignoring PYTRACEMALLOC=%r: expected a number of "
            "frames from 1 to %d; running untraced\n"
            % (value, _tracemalloc.MAX_NFRAME))
        return None
    import pytracemalloc  # registers the exit hook
    pytracemalloc.enable(nframe)
    if environ.get("PYTRACEMALLOC_RUN_DIR"):
        # A child of `python -m pytracemalloc run`: it records its own
        # snapshots into its parent's directory, silently.
        from pytracemalloc import run
        run.start_child(environ)
    else:
        sys.stderr.write("tracemalloc enabled\n")
    return nframe


start_from_environment()
