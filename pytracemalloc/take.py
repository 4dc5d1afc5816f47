"""``TakeSnapshot``: write snapshot files, on demand or periodically."""

import os
import string
import sys
import time

from pytracemalloc import tasks


class TakeSnapshot:
    """Take snapshots and write them into files.

    ``filename_template`` (default ``tracemalloc-$counter.pickle``) may use
    ``$pid`` (the process), ``$timestamp`` (local date and time, no spaces:
    ``2026-11-24-04:12:05``) and ``$counter`` (4 digits, from 0001).
    ``user_data_callback``: see ``Snapshot.create``.
    """

    def __init__(self):
        self.filename_template = "tracemalloc-$counter.pickle"
        self.user_data_callback = None
        self.counter = 1

    def create_filename(self, snapshot):
        """The file name for ``snapshot`` from the template."""
        timestamp = time.strftime("%Y-%m-%d-%H:%M:%S",
                                  time.localtime(snapshot.time))
        return string.Template(self.filename_template).safe_substitute(
            pid=snapshot.pid, timestamp=timestamp,
            counter="%04d" % self.counter)

    def take_snapshot(self):
        """Take a snapshot and write it: return ``(snapshot, filename)``.
        Raises ``SnapshotWriteError`` (an ``OSError``) when the file cannot
        be written; the counter then stays, so the next try reuses it."""
        from pytracemalloc.snapshot import Snapshot
        snapshot = Snapshot.create(self.user_data_callback)
        filename = self.create_filename(snapshot)
        snapshot.write(filename)
        self.counter += 1
        return snapshot, filename

    def _periodic(self):
        # Never let a failing write kill the program being traced: say it
        # on one line and try again at the next tick.
        try:
            snapshot, filename = self.take_snapshot()
        except Exception as exc:
            sys.stderr.write("pytracemalloc: cannot write a snapshot: %s\n"
                             % (exc,))
        else:
            sys.stderr.write("pytracemalloc: snapshot written into %s "
                             "(%s)\n" % (filename, snapshot.timestamp))
        sys.stderr.flush()

    def start(self, delay):
        """Take a snapshot every ``delay`` seconds (allocation-driven)."""
        tasks.schedule(self._periodic, delay)

    def stop(self):
        """Stop the task started by ``start()``."""
        tasks.unschedule(self._periodic)

    def __repr__(self):
        return "<TakeSnapshot template=%r counter=%d pid=%d>" % (
            self.filename_template, self.counter, os.getpid())
