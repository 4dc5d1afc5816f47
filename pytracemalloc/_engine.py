"""The engine as the snapshot model sees it (snapshot.py, stdlib_api.py).

Where the compiled engine loads, this is it.  Where it cannot (an
interpreter it refuses: a free-threaded build), importing pytracemalloc
raises its ImportError, with one exception: a process started as
``python -m pytracemalloc report ...`` only reads snapshot files and
writes a page, which needs no engine.  There FILES_ONLY is true, the
package holds nothing but its version, and ``engine`` is a stand-in whose
grouping helpers decline (the model's Python paths take over) and whose
every other name raises the engine's ImportError.
"""

import sys

# The interpreter's options whose value is the next argument.
_OPTIONS_WITH_A_VALUE = {"-X", "-W", "--check-hash-based-pycs"}


def _started_as_report(argv, orig_argv):
    """Whether this process is ``python -m pytracemalloc report`` or
    ``export`` (or ``-m pytracemalloc.report``/``.export``), commands that
    read snapshot files only, and is importing that module now: while runpy
    imports the packages of a -m module, sys.argv[0] is "-m"."""
    if not argv or argv[0] != "-m":
        return False
    args = iter(enumerate(orig_argv[1:], 1))
    for i, arg in args:
        if arg == "-m":
            rest = orig_argv[i + 1:]
        elif arg.startswith("-m"):
            rest = [arg[2:]] + orig_argv[i + 1:]
        elif arg in _OPTIONS_WITH_A_VALUE:
            next(args, None)
            continue
        elif arg.startswith("-") and arg not in ("-", "--"):
            continue
        else:
            return False
        return rest[:2] in (["pytracemalloc", "report"],
                            ["pytracemalloc", "export"]) or \
            rest[:1] in (["pytracemalloc.report"], ["pytracemalloc.export"])
    return False


class _FilesOnly:
    """The stand-in engine of a files-only process."""

    def __init__(self, error):
        self._error = error

    @staticmethod
    def _group_sites(sites, mode):
        return None

    @staticmethod
    def _statistics(sites, mode, kind, traceback_type):
        return None

    def __getattr__(self, name):
        raise ImportError(str(self._error)) from self._error


try:
    from pytracemalloc import _tracemalloc as engine
    FILES_ONLY = False
except ImportError as error:
    if not _started_as_report(sys.argv, getattr(sys, "orig_argv", [])):
        raise
    engine = _FilesOnly(error)
    FILES_ONLY = True
