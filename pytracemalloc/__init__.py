"""pytracemalloc: which file and line holds your memory.

    import pytracemalloc as tracemalloc

The engine (pytracemalloc._tracemalloc) keeps per-line statistics live in
C, so reading them costs O(lines), never O(blocks).  On top of it sit the
pytracemalloc 0.9.1 API (DisplayTop, Snapshot, TakeSnapshot, ...) and the
API of CPython's stdlib tracemalloc (start, take_snapshot, Statistic, ...),
whose names pytracemalloc._public gathers.
"""

from pytracemalloc._version import __version__
from pytracemalloc._engine import FILES_ONLY as _FILES_ONLY

if _FILES_ONLY:
    # python -m pytracemalloc report where the engine cannot load
    # (_engine.py): the report reads files, nothing else is there.
    __all__ = ["__version__"]
else:
    from pytracemalloc._public import *  # noqa: F401,F403
    from pytracemalloc._public import __all__  # noqa: F401
