"""Living beside stdlib tracemalloc.

stdlib's ``tracemalloc.start()`` wraps the allocators installed at that
moment.  When ours runs already, stdlib's hooks land above ours, and
stdlib's own traces and tracebacks would be allocated through our hooks at
the user's line (issue 27: twice the blocks).  So ``start`` is wrapped too:
stdlib starts with this thread's allocations untraced, then the engine puts
a second instance of its hooks above stdlib's and quiets the one below
(src/hooks.c, domain_hook), which makes the chain the one stdlib-first
gives.  A ``start`` called through a reference taken before this module
was imported is caught at the next read-out, which re-joins too.

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


def _wrap_start(stdlib_start):
    @functools.wraps(stdlib_start)
    def start(*args, **kwargs):
        if not _engine.is_enabled():
            return stdlib_start(*args, **kwargs)
        return _engine._call_untraced(
            functools.partial(stdlib_start, *args, **kwargs))

    start._pytracemalloc_wrapped = stdlib_start
    return start


def install():
    # _tracemalloc is built in: importing it costs nothing.  tracemalloc.py
    # takes its names with `from _tracemalloc import *`, so a tracemalloc
    # imported later gets the wrappers too; one imported already is patched.
    import _tracemalloc as stdlib_engine
    stdlib_module = sys.modules.get("tracemalloc")
    for name, wrap in (("start", _wrap_start), ("stop", _wrap_stop)):
        original = getattr(stdlib_engine, name)
        if getattr(original, "_pytracemalloc_wrapped", None) is not None:
            continue
        wrapper = wrap(original)
        setattr(stdlib_engine, name, wrapper)
        if getattr(stdlib_module, name, None) is original:
            setattr(stdlib_module, name, wrapper)
