"""Living beside stdlib tracemalloc.

stdlib's ``tracemalloc.stop()`` puts back the allocators it wrapped when it
started.  When ours started after it, our hooks sit above stdlib's, and
that restore cuts them out of the chain: we would see nothing more until
the next read-out re-joins (the engine probes the chain at every read-out).
So ``tracemalloc.stop`` (and ``_tracemalloc.stop``, which it is) is wrapped
to re-join at once.  The wrapper does exactly what stdlib's stop does,
then asks the engine to re-join; it is installed once, at import, in the
main interpreter only.
"""

import functools
import sys

from pytracemalloc import _tracemalloc as _engine


def _wrap_stop(stdlib_stop):
    @functools.wraps(stdlib_stop)
    def stop():
        stdlib_stop()
        if _engine.is_enabled():
            _engine._rejoin()

    stop._pytracemalloc_wrapped = stdlib_stop
    return stop


def install():
    # _tracemalloc is built in: importing it costs nothing.  tracemalloc.py
    # takes its names with `from _tracemalloc import *`, so a tracemalloc
    # imported later gets the wrapper too; one imported already is patched.
    import _tracemalloc as stdlib_engine
    stdlib_stop = stdlib_engine.stop
    if getattr(stdlib_stop, "_pytracemalloc_wrapped", None) is not None:
        return
    stop = _wrap_stop(stdlib_stop)
    stdlib_engine.stop = stop
    stdlib_module = sys.modules.get("tracemalloc")
    if getattr(stdlib_module, "stop", None) is stdlib_stop:
        stdlib_module.stop = stop
