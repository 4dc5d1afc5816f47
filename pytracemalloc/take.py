"""``TakeSnapshot``: write snapshot files, on demand or periodically."""

import os
import sys

from pytracemalloc import tasks
from pytracemalloc.snapshot import _get_timestamp


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
        """The file name for ``snapshot`` from the template: each of
        ``$pid``, ``$timestamp`` and ``$counter`` replaced, in that order,
        as 0.9.1 did (no other ``$`` is special)."""
        filename = self.filename_template
        filename = filename.replace("$pid", str(snapshot.pid))
        filename = filename.replace("$timestamp",
                                    snapshot.timestamp.replace(" ", "-"))
        return filename.replace("$counter", "%04i" % self.counter)

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

    def _task(self):
        # 0.9.1's line on stderr for each file.  Never let a failing write
        # kill the program being traced: say it on one line and try again
        # at the next tick.
        try:
            snapshot, filename = self.take_snapshot()
        except Exception as exc:
            sys.stderr.write("%s: Failed to write a snapshot of memory "
                             "allocations: %s\n" % (_get_timestamp(), exc))
        else:
            sys.stderr.write("%s: Write a snapshot of memory allocations "
                             "into %s\n" % (snapshot.timestamp, filename))
        sys.stderr.flush()

    _periodic = _task

    def start(self, delay):
        """Take a snapshot every ``delay`` seconds (allocation-driven)."""
        tasks.schedule(self._task, delay)

    def stop(self):
        """Stop the task started by ``start()``."""
        tasks.unschedule(self._task)

    def __repr__(self):
        return "<TakeSnapshot template=%r counter=%d pid=%d>" % (
            self.filename_template, self.counter, os.getpid())
