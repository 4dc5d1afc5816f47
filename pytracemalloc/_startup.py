"""Trace from interpreter start-up when PYTRACEMALLOC is set.

Imported by ``pytracemalloc_startup``, which the one line of
``pytracemalloc-startup.pth`` imports at every start-up where the variable
is set (so start-up costs nothing otherwise).  ``PYTRACEMALLOC=1`` traces with one frame,
``PYTRACEMALLOC=N`` with N frames; ``python -E`` and ``-I`` ignore it, like
every PYTHON* variable.  An invalid value gets one warning line and the
program runs untraced.

The start-up line.  As in 0.9.1, ``tracemalloc enabled`` is written on
stderr, but once per process tree: the first traced process sets
``PYTRACEMALLOC_ANNOUNCED=1`` in its environment, so the children that
inherit the variable trace silently (programs and test suites that check
their children's stderr keep working).  ``PYTRACEMALLOC_QUIET=1`` silences
the first one too.

Only the main interpreter acts: site.py also runs this line in every
subinterpreter, which the main interpreter's tracer already sees.

``PYTRACEMALLOC_SAMPLE_BYTES=N`` (with PYTRACEMALLOC set) traces in sampled
mode, one byte in N on average: a number of bytes, optionally with a
binary suffix K, M or G (KiB, MiB, GiB also accepted), e.g. ``512K``.
Unset or empty: exact mode.  The start-up line then says
``tracemalloc enabled (sampled: one byte in N)``.

``PYTRACEMALLOC_HTTP=HOST:PORT`` (with PYTRACEMALLOC set) serves the live
figures over HTTP (pytracemalloc/endpoint.py; ``PYTRACEMALLOC_HTTP_TOKEN``
for a bearer token), and ``PYTRACEMALLOC_SIGNAL=USR2`` writes a snapshot
file into ``PYTRACEMALLOC_SIGNAL_DIR`` at each signal
(pytracemalloc/ondemand.py).

``PYTRACEMALLOC_NATIVE=1`` (with PYTRACEMALLOC set) traces native memory
too: the blocks that extensions and their libraries take from libc
(``enable(native=True)``); ``0`` or empty: not.  The start-up line then
ends with ``(native)``.
"""

import os
import sys

HTTP_ENV = "PYTRACEMALLOC_HTTP"


def native_from_environment(environ):
    """PYTRACEMALLOC_NATIVE as a bool: "1" on, "0" or empty off; anything
    else is one warning line and off."""
    from pytracemalloc._sample_bytes import NATIVE_ENV
    text = environ.get(NATIVE_ENV, "")
    if text in ("", "0"):
        return False
    if text == "1":
        return True
    sys.stderr.write("pytracemalloc: ignoring %s=%r: expected 1 or 0; "
                     "native memory is not traced\n" % (NATIVE_ENV, text))
    return False


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
    if not _tracemalloc._is_main_interpreter():
        # a legacy subinterpreter: the main interpreter traces it
        return None
    if not 1 <= nframe <= _tracemalloc.MAX_NFRAME:
        sys.stderr.write(
            "pytracemalloc: ignoring PYTRACEMALLOC=%r: expected a number of "
            "frames from 1 to %d; running untraced\n"
            % (value, _tracemalloc.MAX_NFRAME))
        return None
    from pytracemalloc._sample_bytes import (ENV, NATIVE_ENV, SYNTAX,
                                             parse_sample_bytes)
    sample_text = environ.get(ENV, "")
    native = native_from_environment(environ)
    try:
        sample_bytes = parse_sample_bytes(sample_text)
    except ValueError:
        sys.stderr.write(
            "pytracemalloc: ignoring %s=%r: expected %s; running untraced\n"
            % (ENV, sample_text, SYNTAX))
        return None
    import pytracemalloc  # registers the exit hook
    try:
        pytracemalloc.enable(nframe, sample_bytes=sample_bytes, native=native)
    except ValueError as exc:
        # only native=True can be refused here: trace the rest
        sys.stderr.write("pytracemalloc: ignoring %s=1: %s\n"
                         % (NATIVE_ENV, exc))
        native = False
        pytracemalloc.enable(nframe, sample_bytes=sample_bytes)
    serve_from_environment(environ)
    if environ.get("PYTRACEMALLOC_SIGNAL"):
        from pytracemalloc import ondemand
        ondemand.start_from_environment(environ)
    if environ.get("PYTRACEMALLOC_RUN_DIR"):
        # A child of `python -m pytracemalloc run`: it records its own
        # snapshots into its parent's directory, silently.
        from pytracemalloc import run
        run.start_child(environ)
    else:
        announce(environ, sample_bytes, native)
    return nframe


def serve_from_environment(environ):
    """PYTRACEMALLOC_HTTP=ADDRESS: serve the live figures there
    (pytracemalloc/endpoint.py).  The variable is taken out of the
    environment, so that the children this process starts do not try the
    same address.  A bad or busy address is one line on stderr; the
    program runs traced all the same."""
    address = environ.pop(HTTP_ENV, "")
    if not address:
        return None
    from pytracemalloc import endpoint
    try:
        server = endpoint.serve(address)
    except (ValueError, OSError) as exc:
        sys.stderr.write("pytracemalloc: ignoring %s=%r: %s\n"
                         % (HTTP_ENV, address, exc))
        return None
    if not environ.get("PYTRACEMALLOC_QUIET"):
        sys.stderr.write("pytracemalloc: serving memory figures on %s\n"
                         % server.url)
    return server


def announce(environ, sample_bytes=None, native=False):
    """Write the start-up line, once per process tree (see above)."""
    if environ.get("PYTRACEMALLOC_ANNOUNCED") or environ.get(
            "PYTRACEMALLOC_QUIET"):
        return
    environ["PYTRACEMALLOC_ANNOUNCED"] = "1"
    from pytracemalloc._sample_bytes import mode_note
    sys.stderr.write("tracemalloc enabled%s\n"
                     % mode_note(sample_bytes, native))


start_from_environment()
