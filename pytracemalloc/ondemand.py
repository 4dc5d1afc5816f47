"""Snapshots on demand, without a network: a signal writes one.

``snapshot_on_signal(directory, signum=signal.SIGUSR2)`` (or, at start-up,
``PYTRACEMALLOC_SIGNAL=USR2`` with ``PYTRACEMALLOC_SIGNAL_DIR=DIR``,
default the current directory) installs a handler that writes a snapshot
file into the directory each time the signal arrives:
``tracemalloc-PID-COUNTER.pickle``, COUNTER from 0001, the file format of
``Snapshot.write`` (atomic: a reader never sees half a file).

The handler is a Python signal handler: CPython runs it in the main thread
at the next safe point between two bytecodes, never inside the allocator
nor inside the tracer.  A handler that was there before (a Python
callable) still runs, after ours.  A failure (not tracing, a full disk)
is one line on stderr: the program goes on, the handler stays.
"""

import os
import signal
import sys

from pytracemalloc.snapshot import _get_timestamp

__all__ = ["snapshot_on_signal", "parse_signal", "SIGNAL_ENV", "DIR_ENV"]

SIGNAL_ENV = "PYTRACEMALLOC_SIGNAL"
DIR_ENV = "PYTRACEMALLOC_SIGNAL_DIR"

# Signals whose default action a program rarely relies on.
_ALLOWED = ("SIGUSR1", "SIGUSR2", "SIGHUP", "SIGWINCH", "SIGURG")


def parse_signal(value):
    """The signal number of "USR2", "SIGUSR2" or "12".  ValueError for a
    signal that could not carry a snapshot (SIGKILL, SIGSEGV...)."""
    text = str(value).strip().upper()
    if text.isdigit():
        try:
            name = signal.Signals(int(text)).name
        except ValueError:
            raise ValueError("no signal numbered %s" % text) from None
    else:
        name = text if text.startswith("SIG") else "SIG" + text
    if name not in _ALLOWED or not hasattr(signal, name):
        raise ValueError("a snapshot signal is one of %s, not %r"
                         % (", ".join(n[3:] for n in _ALLOWED
                                      if hasattr(signal, n)), value))
    return int(getattr(signal, name))


class _Handler:
    def __init__(self, directory, signum, previous):
        self.directory = directory
        self.signum = signum
        self.previous = previous
        self.counter = 1

    def __call__(self, signum, frame):
        try:
            self.write()
        except BaseException as exc:  # a handler must not raise into
            # whatever the program was running
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            _say("Failed to write a snapshot of memory allocations: %s"
                 % exc)
        if callable(self.previous):
            self.previous(signum, frame)

    def write(self):
        from pytracemalloc import _tracemalloc, live
        if not _tracemalloc.is_enabled():
            _say("%s received, but pytracemalloc is not tracing: no "
                 "snapshot" % signal.Signals(self.signum).name)
            return None
        filename = os.path.join(self.directory, "tracemalloc-%d-%04d.pickle"
                                % (os.getpid(), self.counter))
        live.write_snapshot(filename)
        self.counter += 1
        _say("Write a snapshot of memory allocations into %s" % filename)
        return filename


def _say(text):
    try:
        sys.stderr.write("%s: %s\n" % (_get_timestamp(), text))
        sys.stderr.flush()
    except Exception:
        pass


def snapshot_on_signal(directory=".", signum=signal.SIGUSR2):
    """Write a snapshot file into ``directory`` each time ``signum``
    arrives (see the module's doc).  Call from the main thread.  Returns
    the previous handler.  ValueError for a directory that does not exist
    or a signal that cannot be used."""
    if isinstance(signum, str):
        signum = parse_signal(signum)
    else:
        signum = parse_signal(int(signum))
    directory = os.path.abspath(os.fspath(directory))
    if not os.path.isdir(directory):
        raise ValueError("no such directory: %s" % directory)
    previous = signal.getsignal(signum)
    if isinstance(previous, _Handler):
        previous = previous.previous
    signal.signal(signum, _Handler(directory, signum, previous))
    return previous


def start_from_environment(environ):
    """PYTRACEMALLOC_SIGNAL at start-up: install the handler, or say in
    one line why not."""
    value = environ.get(SIGNAL_ENV, "")
    if not value:
        return None
    directory = environ.get(DIR_ENV) or os.getcwd()
    try:
        return snapshot_on_signal(directory, value)
    except (ValueError, OSError) as exc:
        sys.stderr.write("pytracemalloc: ignoring %s=%r: %s\n"
                         % (SIGNAL_ENV, value, exc))
        return None
