"""The public names of pytracemalloc (the package re-exports them all):
the engine's functions, the 0.9.1 API and the stdlib tracemalloc API.
"""

import atexit

from pytracemalloc._version import __version__
from pytracemalloc import _tracemalloc
from pytracemalloc._tracemalloc import (
    MAX_NFRAME,
    clear_traces,
    disable,
    enable,
    get_sample_bytes,
    get_traceback_limit,
    get_traced_memory,
    get_tracemalloc_memory,
    get_untraced_count,
    is_enabled,
    is_native_traced,
    reset_peak,
    start_timer,
    stop_timer,
    # The semi-public readers 0.9.1 exported at the top level.
    _get_object_trace,
    _get_stats,
)

# --- Snapshot and the stdlib-compatible API (snapshot.py, stdlib_api.py;
# the file format in snapshot_format.py, the atomic write in fileio.py) ---
from pytracemalloc.stdlib_api import (
    BaseFilter,
    DomainFilter,
    EstimatedStatistic,
    EstimatedStatisticDiff,
    Filter,
    Frame,
    Statistic,
    StatisticDiff,
    Traceback,
    get_object_traceback,
    is_tracing,
    start,
    stop,
)
from pytracemalloc.snapshot import (
    Snapshot,
    SnapshotLoadError,
    SnapshotWriteError,
    take_snapshot,
)

# --- 0.9.1 tasks, display and process memory (display.py, tasks.py, ...) ---
from pytracemalloc.display import DisplayTop
from pytracemalloc.garbage import DisplayGarbage, _GetUncollectable
from pytracemalloc.process import get_process_memory
from pytracemalloc.take import TakeSnapshot
from pytracemalloc._tracemalloc import get_free_list_mode
from pytracemalloc.cli import main
from pytracemalloc.snapshot import _get_timestamp

# --- in production: the HTTP endpoint, snapshots on a signal (issue 26).
# Imported when called: importing pytracemalloc must not import threading,
# logging or sockets into every traced program (CPython's test_threading
# checks that a bare interpreter has not imported threading). ---


def serve(address="127.0.0.1:9464", token=None):
    """Serve the live figures over HTTP at ``address``: see
    ``pytracemalloc.endpoint.serve``.  Returns the running ``Server``."""
    from pytracemalloc import endpoint
    return endpoint.serve(address, token)


def snapshot_on_signal(directory=".", signum="USR2"):
    """Write a snapshot file into ``directory`` at each ``signum``: see
    ``pytracemalloc.ondemand.snapshot_on_signal``."""
    from pytracemalloc import ondemand
    return ondemand.snapshot_on_signal(directory, signum)

# --- extensions' blocks: numpy's array data, the C API (issue 14) ---
from pytracemalloc._tracemalloc import NUMPY_DOMAIN

# --- native memory: what extensions and their libraries take from libc
# (issue 24, src/native.h) ---
from pytracemalloc._tracemalloc import NATIVE_DOMAIN


def get_include():
    """The directory of pytracemalloc_capi.h, the header of the C API that
    lets an extension report its buffers (README.rst, "numpy arrays and
    extensions' buffers")."""
    import os
    return os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "include")


# Tracing stops cleanly at interpreter exit, before modules are torn down:
# the main interpreter's exit.  A legacy subinterpreter importing this
# package shares the engine, and its end must not stop the process's
# tracing.
if _tracemalloc._is_main_interpreter():
    atexit.register(_tracemalloc.disable)
    from pytracemalloc import _coexist
    _coexist.install()

# What "from pytracemalloc import *" gives: the public names, and the
# semi-public ones of 0.9.1, so that a shim "tracemalloc" module made of a
# star import has them too.
__all__ = sorted(
    [name for name, value in globals().items()
     if not name.startswith("_") and not isinstance(value, type(atexit))]
    + ["__version__", "_get_stats", "_get_object_trace", "_GetUncollectable",
       "_get_timestamp"])
