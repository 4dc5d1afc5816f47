"""The start-up hook of pytracemalloc, run by pytracemalloc-startup.pth.

site.py runs the .pth line at the start of every interpreter, the
subinterpreters included, and only when PYTRACEMALLOC is set does the line
import this module.  It lives outside the package because importing the
package loads the engine, which an interpreter with its own GIL refuses:
there the hook does nothing (the main interpreter already traces it),
instead of making site.py print a traceback.  Elsewhere an engine that
cannot load is one line on stderr, and the program runs untraced.
"""

import sys


def _in_subinterpreter():
    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        return module.get_current() != module.get_main()
    return False


def _start():
    try:
        import pytracemalloc._startup  # noqa: F401 (it starts tracing)
    except ImportError as exc:
        if not _in_subinterpreter():
            sys.stderr.write("pytracemalloc: PYTRACEMALLOC is set but "
                             "tracing cannot start: %s\n" % exc)


_start()
