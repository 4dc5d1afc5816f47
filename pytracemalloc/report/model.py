"""The data of a report: snapshot files read, grouped per process, in time
order, and turned into compact tables for the page.

No HTML here (see page.py).  The page gets:

- ``meta``: plain JSON (filenames, frames, tracebacks, one entry per
  snapshot with its totals, the processes);
- ``blob``: the per-line (and per-traceback) sizes and counts of every
  snapshot, as little-endian binary arrays, gzip-compressed.  Each snapshot
  holds only what changed since the previous snapshot of the same process
  (a week of a stable service is mostly unchanged lines), so the page's
  size follows the number of changes, not lines x snapshots.

Line groups are frames: the id of the line ``file.py:12`` is the index of
the frame ``("file.py", 12)`` in ``meta["frames"]``; tracebacks are lists
of frame ids, most recent first.
"""

import fnmatch
import gzip
import os
import sys
import time
from array import array

from pytracemalloc.snapshot import Snapshot, SnapshotLoadError

__all__ = ["LoadedSnapshot", "NoSnapshotError", "ReportData", "load_snapshots",
           "build"]

# Below this many files a pool of processes costs more than it saves.
_MIN_FILES_PER_JOB = 8


class NoSnapshotError(ValueError):
    """Nothing to report: no file could be read, or none is of the
    processes asked for."""


class LoadedSnapshot:
    """What the report keeps of one snapshot file: its totals and its
    per-line (and per-traceback) sizes and counts, already aggregated.
    Picklable and small, so loader processes can hand it back."""

    __slots__ = ("path", "pid", "time", "timestamp", "process_memory",
                 "tracemalloc_memory", "user_data", "traced_size",
                 "traced_count", "lines", "tracebacks")

    def __init__(self, path, snapshot, include=(), exclude=()):
        self.path = path
        self.pid = snapshot.pid
        self.time = snapshot.time
        self.timestamp = snapshot.timestamp
        self.process_memory = snapshot.process_memory
        self.tracemalloc_memory = snapshot.tracemalloc_memory
        self.user_data = snapshot.user_data or []
        # Sites are (frames most recent first, size, count): the snapshot's
        # own representation, read here rather than through statistics()
        # objects, which would cost an object per site.
        sites = snapshot._sites
        self.traced_size = sum(site[1] for site in sites)
        self.traced_count = sum(site[2] for site in sites)
        if include or exclude:
            sites = _filter_sites(sites, include, exclude)
        lines = {}
        deep = False
        for frames, size, count in sites:
            if len(frames) > 1:
                deep = True
            key = frames[0]
            old = lines.get(key)
            lines[key] = (size, count) if old is None else (
                old[0] + size, old[1] + count)
        self.lines = lines
        self.tracebacks = None
        if deep:
            tracebacks = {}
            for frames, size, count in sites:
                old = tracebacks.get(frames)
                tracebacks[frames] = (size, count) if old is None else (
                    old[0] + size, old[1] + count)
            self.tracebacks = tracebacks


def _filter_sites(sites, include, exclude):
    """The sites whose most recent frame's filename matches one of the
    ``include`` patterns (when there are some) and none of ``exclude``: the
    rules of ``python -m pytracemalloc --include/--exclude``."""
    verdicts = {}
    kept = []
    for site in sites:
        filename = site[0][0][0]
        keep = verdicts.get(filename)
        if keep is None:
            keep = verdicts[filename] = (
                (not include or any(fnmatch.fnmatch(filename, pattern)
                                    for pattern in include))
                and not any(fnmatch.fnmatch(filename, pattern)
                            for pattern in exclude))
        if keep:
            kept.append(site)
    return kept


def _load_one(task):
    """(LoadedSnapshot, None) or (None, one-line error) for one file."""
    path, include, exclude = task
    try:
        snapshot = Snapshot.load(path)
    except SnapshotLoadError as exc:
        return None, str(exc)
    return LoadedSnapshot(path, snapshot, include, exclude), None


def load_snapshots(paths, include=(), exclude=(), jobs=None, errors=None):
    """Read the snapshot files ``paths``: the list of ``LoadedSnapshot``
    that could be read, in the order of ``paths``.  Each file that cannot
    be read is left out and its one-line reason (``"FILE: REASON"``)
    appended to ``errors`` (a list) or, without one, written to stderr.

    ``jobs`` processes read the files (default: one per CPU); reading is
    the slow part of a report of thousands of files."""
    include = tuple(include)
    exclude = tuple(exclude)
    tasks = [(path, include, exclude) for path in paths]
    if jobs is None:
        jobs = os.cpu_count() or 1
    jobs = max(1, min(jobs, len(tasks) // _MIN_FILES_PER_JOB))
    if jobs > 1:
        results = _load_in_pool(tasks, jobs)
    else:
        results = map(_load_one, tasks)
    loaded = []
    for snapshot, error in results:
        if error is not None:
            if errors is None:
                sys.stderr.write(error + "\n")
            else:
                errors.append(error)
        else:
            loaded.append(snapshot)
    return loaded


def _load_in_pool(tasks, jobs):
    from concurrent.futures import ProcessPoolExecutor
    chunksize = max(1, min(32, len(tasks) // (4 * jobs)))
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(_load_one, tasks, chunksize=chunksize))


class _Columns:
    """The changes of one grouping (lines or tracebacks), snapshot after
    snapshot: group ids, sizes and counts, plus how many entries each
    snapshot has."""

    def __init__(self):
        self.ids = array("i")
        self.sizes = array("d")
        self.counts = array("d")
        self.lengths = []

    def add(self, current, previous, ids_of):
        """Append the entries of ``current`` ({key: (size, count)}) that
        differ from ``previous`` (the same process's last snapshot, or
        None), and a zero entry for each key gone since."""
        if previous is None:
            changed = current.items()
            gone = ()
        else:
            # Set operations on the dictionaries' views: in C, where a
            # snapshot of 10,000 lines mostly equals the previous one.
            changed = current.items() - previous.items()
            gone = previous.keys() - current.keys()
        rows = [(ids_of(key), size, count) for key, (size, count) in changed]
        rows.extend((ids_of(key), 0, 0) for key in gone)
        rows.sort()  # the same page for the same files
        start = len(self.ids)
        for ident, size, count in rows:
            self.ids.append(ident)
            self.sizes.append(size)
            self.counts.append(count)
        self.lengths.append(len(self.ids) - start)

    def segments(self):
        return [self.sizes, self.counts, self.ids]


class ReportData:
    """Everything the page shows, as ``meta`` (JSON-able) and ``blob``
    (bytes)."""

    def __init__(self, meta, blob):
        self.meta = meta
        self.blob = blob


def _local_time(when):
    """'YYYY-MM-DD HH:MM:SS.mmm' in local time: what the chart axes show
    (they read dates as wall-clock time, with no time zone)."""
    seconds = int(when // 1)
    millis = min(999, int(round((when - seconds) * 1000)))
    return "%s.%03d" % (time.strftime("%Y-%m-%d %H:%M:%S",
                                      time.localtime(seconds)), millis)


def build(snapshots, pids=None, title=None, top=10, leaks=10,
          group_by="line", left_out=()):
    """The ``ReportData`` of ``snapshots`` (``LoadedSnapshot`` objects, any
    order): per process (pid), in time order.  ``pids``, when given, keeps
    those processes only.  ``top``, ``leaks`` and ``group_by`` are the
    page's initial settings; ``left_out`` lists the files that could not
    be read (one-line reasons), shown on the page."""
    if pids:
        wanted = set(pids)
        snapshots = [s for s in snapshots if s.pid in wanted]
    if not snapshots:
        raise NoSnapshotError("no snapshot to report")
    # Stable: snapshots taken at the same time keep the order of the files.
    order = sorted(range(len(snapshots)),
                   key=lambda i: (snapshots[i].time, i))
    snapshots = [snapshots[i] for i in order]
    # Processes in the order of their first snapshot.
    processes = {}
    for index, snapshot in enumerate(snapshots):
        processes.setdefault(snapshot.pid, []).append(index)

    deep = any(s.tracebacks is not None for s in snapshots)
    frame_ids = {}
    traceback_ids = {}

    def frame_id(frame):
        return frame_ids.setdefault(frame, len(frame_ids))

    def traceback_id(frames):
        found = traceback_ids.get(frames)
        if found is None:
            for frame in frames:
                frame_id(frame)
            found = traceback_ids[frames] = len(traceback_ids)
        return found

    lines = _Columns()
    tracebacks = _Columns() if deep else None
    user_titles = {}
    entries = [None] * len(snapshots)
    for pid, indexes in processes.items():
        previous = None
        for index in indexes:
            snapshot = snapshots[index]
            lines.add(snapshot.lines, previous and previous.lines, frame_id)
            if deep:
                # A snapshot of one frame per traceback next to deeper ones
                # (traceback limit changed): its lines are its tracebacks.
                current = snapshot.tracebacks
                if current is None:
                    current = {(key,): value
                               for key, value in snapshot.lines.items()}
                    snapshot.tracebacks = current
                tracebacks.add(current, previous and previous.tracebacks,
                               traceback_id)
            previous = snapshot
            user = {}
            for name, fmt, value in snapshot.user_data:
                user_titles.setdefault(name, fmt)
                user[name] = value
            entries[index] = {
                "file": snapshot.path,
                "pid": snapshot.pid,
                "time": snapshot.time,
                "date": _local_time(snapshot.time),
                "timestamp": snapshot.timestamp,
                "traced": snapshot.traced_size,
                "blocks": snapshot.traced_count,
                "process_memory": snapshot.process_memory,
                "tracemalloc_memory": snapshot.tracemalloc_memory,
                "user": user,
            }

    filenames = {}
    frames = []
    for (filename, lineno) in frame_ids:
        file_index = filenames.setdefault(filename, len(filenames))
        frames.append([file_index, lineno])
    blob, layout = _pack({"line": lines, "traceback": tracebacks})
    meta = {
        "title": title or "pytracemalloc report",
        "generated": _local_time(time.time()),
        "settings": {"top": top, "leaks": leaks,
                     "group_by": group_by if deep or group_by != "traceback"
                     else "line"},
        "left_out": list(left_out),
        "filenames": list(filenames),
        "frames": frames,
        "tracebacks": ([[frame_ids[f] for f in key] for key in traceback_ids]
                       if deep else None),
        "snapshots": entries,
        "processes": [{"pid": pid, "snapshots": indexes}
                      for pid, indexes in processes.items()],
        "user_series": [{"title": name, "format": fmt}
                        for name, fmt in user_titles.items()],
        "layout": layout,
    }
    return ReportData(meta, blob)


def _pack(groupings):
    """One gzip-compressed little-endian buffer with every array of
    ``groupings`` ({name: _Columns or None}), each 8-byte aligned, and the
    layout telling the page where each array starts."""
    parts = []
    layout = {}
    offset = 0
    for name, columns in groupings.items():
        if columns is None:
            continue
        entry = {"lengths": columns.lengths}
        for label, values in zip(("sizes", "counts", "ids"),
                                 columns.segments()):
            if sys.byteorder != "little":
                values = array(values.typecode, values)
                values.byteswap()
            data = values.tobytes()
            entry[label] = offset
            parts.append(data)
            offset += len(data)
            padding = -offset % 8
            if padding:
                parts.append(b"\0" * padding)
                offset += padding
        entry["entries"] = len(columns.ids)
        layout[name] = entry
    # Level 1: the page opens the same; level 6 takes ~5x longer for a
    # tenth less.
    return gzip.compress(b"".join(parts), compresslevel=1, mtime=0), layout
