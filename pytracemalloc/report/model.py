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

Each frame has its usual function, the first name seen for it (files in
the order given, sites in a file's order): ``meta["functions"]`` holds
each name once, ``meta["frame_functions"]`` one function id per frame (-1
where none is known; None when no snapshot names any frame, as files of
format version 3 or older).  The page's "function" grouping sums each line
into the usual function of its frame, with one frame per traceback too.

A traceback is also told apart by its functions' names (two functions on
one line, a lambda, make two tracebacks with the same frames), for the
flame graphs, which merge frames by (function, file, line):
``meta["traceback_functions"]`` lists only the tracebacks that differ from
their frames' usual functions, as ``[traceback id, [function id or -1 per
frame]]`` pairs (nearly always none).
"""

import gzip
import itertools
import operator
import os
import sys
import time
from array import array

from pytracemalloc.domains import domain_title
from pytracemalloc.snapshot import (
    Snapshot,
    SnapshotLoadError,
    add_up,
)

__all__ = ["LoadedSnapshot", "NoSnapshotError", "ReportData", "Series",
           "load_snapshots", "build"]

# Below this many files a pool of processes costs more than it saves.
_MIN_FILES_PER_JOB = 8


class NoSnapshotError(ValueError):
    """Nothing to report: no file could be read, or none is of the
    processes asked for."""


class _LocalTable:
    """A loader's frames and tracebacks, each numbered when first seen and
    sent to the parent once: the files of a series repeat the same 10,000
    lines, which would cost more to pickle than the sizes themselves."""

    def __init__(self, session):
        self.session = session
        self.frames = {}
        self.functions = {}
        self.tracebacks = {}
        # {local frame id: local function id}: the frames whose name this
        # loader has sent (the first it saw, as the series keeps).
        self.frame_functions = {}

    def frame(self, frame, new):
        local = self.frames.get(frame)
        if local is None:
            local = self.frames[frame] = len(self.frames)
            new.append(frame)
        return local

    def function(self, name, new):
        if not name:
            return -1  # a frame without a name: shown as file:line
        local = self.functions.get(name)
        if local is None:
            local = self.functions[name] = len(self.functions)
            new.append(name)
        return local

    def name_lines(self, ids, sites, new_functions, new):
        """Note the function of each site's most recent frame (local id in
        ``ids``) that this loader has not named yet; ``new`` gets the
        (frame, function) pairs to send."""
        known = self.frame_functions
        if len(known) == len(self.frames):
            # Every line already named: the snapshots after the first of
            # a series cost nothing more.
            return
        for ident, site in zip(ids, sites):
            functions = site[4]
            if functions and functions[0] and ident not in known:
                known[ident] = function = self.function(functions[0],
                                                        new_functions)
                new.append((ident, function))

    def traceback(self, key, new_frames, new_functions, new):
        """The local id of ``key``, (frames most recent first, functions
        or None)."""
        local = self.tracebacks.get(key)
        if local is None:
            local = self.tracebacks[key] = len(self.tracebacks)
            frames, functions = key
            new.append((tuple(self.frame(f, new_frames) for f in frames),
                        None if functions is None else tuple(
                            self.function(name, new_functions)
                            for name in functions)))
        return local


_LOCAL_TABLE = None


def _local_table(session):
    global _LOCAL_TABLE
    if _LOCAL_TABLE is None or _LOCAL_TABLE.session != session:
        _LOCAL_TABLE = _LocalTable(session)
    return _LOCAL_TABLE


def _columns(totals, local_id):
    """(ids, sizes, counts) arrays of {key: [size, count]}, the ids given
    by ``local_id(key)``."""
    ids = array("i", [local_id(key) for key in totals])
    sizes = array("d", [value[0] for value in totals.values()])
    counts = array("d", [value[1] for value in totals.values()])
    return ids, sizes, counts


class LoadedSnapshot:
    """What the report keeps of one snapshot file: its totals, and its
    per-line (and per-traceback) sizes and counts as compact arrays
    ``(ids, sizes, counts)``, ids numbering frames (and tracebacks).
    Made in a loader process and handed back to the parent, which renumbers
    the ids into the series' own tables (``Series``)."""

    __slots__ = ("path", "pid", "time", "timestamp", "process_memory",
                 "tracemalloc_memory", "user_data", "sample_bytes",
                 "traced_size",
                 "traced_count", "domains", "source", "new_frames",
                 "new_functions", "new_frame_functions", "new_tracebacks",
                 "lines", "tracebacks", "cpu")

    def __init__(self, path, snapshot, table, include=(), exclude=()):
        self.path = path
        self.pid = snapshot.pid
        self.time = snapshot.time
        self.timestamp = snapshot.timestamp
        self.process_memory = snapshot.process_memory
        self.tracemalloc_memory = snapshot.tracemalloc_memory
        self.user_data = snapshot.user_data or []
        # N of a sampled snapshot (its figures are estimates), else None.
        self.sample_bytes = getattr(snapshot, "sample_bytes", None)
        self.source = (os.getpid(), table.session)
        self.cpu = 0.0  # seconds of CPU its loader spent on it
        sites = snapshot._sites  # (frames most recent first, size, count)
        sizes = [site[1] for site in sites]
        counts = [site[2] for site in sites]
        self.traced_size = sum(sizes)
        self.traced_count = sum(counts)
        # Blocks that extensions report in their own domain (numpy's array
        # data...): {name: size}, besides CPython's allocators (domain 0).
        self.domains = {}
        for site in sites:
            if len(site) > 3 and site[3]:
                name = domain_title(site[3])
                self.domains[name] = self.domains.get(name, 0) + site[1]
        if include or exclude:
            if include:
                snapshot.filter_filenames(include, True)
            if exclude:
                snapshot.filter_filenames(exclude, False)
            sites = snapshot._sites
            sizes = [site[1] for site in sites]
            counts = [site[2] for site in sites]
        new_frames = self.new_frames = []
        new_functions = self.new_functions = []
        self.new_frame_functions = []
        tracebacks = [site[0] for site in sites]
        deep = bool(tracebacks) and max(map(len, tracebacks)) > 1
        ids = None
        if not deep:
            # One frame per site: the sites are the lines, unless a line
            # has several sites (only a hand-made file can have that).
            lines = [frames[0] for frames in tracebacks]
            ids = list(map(table.frames.get, lines))
            if None in ids:
                ids = [table.frame(frame, new_frames) for frame in lines]
            # Deep tracebacks carry their frames' names (new_tracebacks);
            # here each line takes the name of its first site.
            table.name_lines(ids, sites, new_functions,
                             self.new_frame_functions)
            if len(set(ids)) != len(ids):
                ids = None
        if ids is not None:
            self.lines = (array("i", ids), array("d", sizes),
                          array("d", counts))
        else:
            self.lines = _columns(snapshot._group("lineno", False),
                                  lambda key: table.frame(key[0], new_frames))
        self.tracebacks = self.new_tracebacks = None
        if deep:
            new = self.new_tracebacks = []
            self.tracebacks = _traceback_columns(
                sites, sizes, counts,
                lambda key: table.traceback(key, new_frames, new_functions,
                                            new))


def _traceback_columns(sites, sizes, counts, local_id):
    """(ids, sizes, counts) arrays of the sites per traceback and its
    functions' names (the id ``local_id((frames, functions or None))``).
    Not the engine's grouping by traceback, which knows no names: the flame
    graphs tell two functions on one line apart."""
    ids = [local_id((frames, functions if functions is not None
                     and any(functions) else None))
           for frames, _, _, _, functions in sites]
    if len(set(ids)) == len(ids):
        # One site per traceback (every domain 0: the usual case).
        return array("i", ids), array("d", sizes), array("d", counts)
    return _columns(add_up(zip(ids, sizes, counts)), lambda ident: ident)


def _load_one(task):
    """(LoadedSnapshot, None) or (None, one-line error) for one file."""
    path, include, exclude, session = task
    started = time.process_time()
    try:
        snapshot = Snapshot.load(path)
    except SnapshotLoadError as exc:
        return None, str(exc)
    loaded = LoadedSnapshot(path, snapshot, _local_table(session), include,
                            exclude)
    loaded.cpu = time.process_time() - started
    return loaded, None


def _number(numbers, items, item):
    """The number of ``item`` in ``items``, appended when new."""
    number = numbers.get(item)
    if number is None:
        number = numbers[item] = len(items)
        items.append(item)
    return number


class Series:
    """The snapshots read, with the series' tables: ``frames`` (list of
    (filename, lineno)), ``functions`` (list of names),
    ``frame_functions`` (the function id of each frame named by a
    one-frame snapshot, -1 where none; deep snapshots name their frames in
    ``tracebacks``) and ``tracebacks`` (list of (tuple of frame ids, most
    recent first; tuple of function ids, -1 where unnamed, or None where no
    name is known)); the snapshots' ids index them."""

    def __init__(self):
        self.snapshots = []
        # Seconds of CPU spent in loader processes (not in this one).
        self.loader_cpu = 0.0
        self.frames = []
        self.functions = []
        self.frame_functions = []
        self.tracebacks = []
        self._frame_ids = {}
        self._function_ids = {}
        self._traceback_ids = {}
        self._renumber = {}

    def frame_id(self, frame):
        return _number(self._frame_ids, self.frames, frame)

    def function_id(self, name):
        return _number(self._function_ids, self.functions, name)

    def traceback_id(self, frame_ids, function_ids=None):
        return _number(self._traceback_ids, self.tracebacks,
                       (frame_ids, function_ids))

    def add(self, loaded):
        """Take ``loaded`` into the series: its ids renumbered from its
        loader's tables to the series' tables."""
        frames, functions, tracebacks = self._renumber.setdefault(
            loaded.source, ([], [], []))
        frames.extend(self.frame_id(f) for f in loaded.new_frames)
        functions.extend(self.function_id(name)
                         for name in loaded.new_functions)
        usual = self.frame_functions
        usual.extend([-1] * (len(self.frames) - len(usual)))
        for frame, function in loaded.new_frame_functions:
            frame = frames[frame]
            if usual[frame] < 0:  # the first name seen stays
                usual[frame] = functions[function]
        ids, sizes, counts = loaded.lines
        loaded.lines = (array("i", map(frames.__getitem__, ids)), sizes,
                        counts)
        if loaded.tracebacks is not None:
            tracebacks.extend(
                self.traceback_id(
                    tuple(frames[f] for f in local_frames),
                    None if local_functions is None else tuple(
                        -1 if f < 0 else functions[f]
                        for f in local_functions))
                for local_frames, local_functions in loaded.new_tracebacks)
            ids, sizes, counts = loaded.tracebacks
            loaded.tracebacks = (array("i", map(tracebacks.__getitem__, ids)),
                                 sizes, counts)
        loaded.new_frames = loaded.new_functions = None
        loaded.new_frame_functions = loaded.new_tracebacks = None
        self.snapshots.append(loaded)
        if loaded.source[0] != os.getpid():
            self.loader_cpu += loaded.cpu


def load_snapshots(paths, include=(), exclude=(), jobs=None, errors=None):
    """Read the snapshot files ``paths`` into a ``Series``: the snapshots
    that could be read, in the order of ``paths``.  Each file that cannot
    be read is left out and its one-line reason (``"FILE: REASON"``)
    appended to ``errors`` (a list) or, without one, written to stderr.

    ``jobs`` processes read the files (default: one per CPU); reading is
    the slow part of a report of thousands of files."""
    include = tuple(include)
    exclude = tuple(exclude)
    session = "%d-%d" % (os.getpid(), next(_SESSIONS))
    tasks = [(path, include, exclude, session) for path in paths]
    if jobs is None:
        jobs = os.cpu_count() or 1
    jobs = max(1, min(jobs, len(tasks) // _MIN_FILES_PER_JOB))
    series = Series()
    if jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        # Not fork: the caller may have threads (a timer, a test's
        # watchdog), and a forked child can deadlock on a lock they held.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn")
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
        chunksize = max(1, min(16, len(tasks) // (4 * jobs)))
        results = pool.map(_load_one, tasks, chunksize=chunksize)
    else:
        pool = None
        results = map(_load_one, tasks)
    try:
        # Taken in as they come: the parent renumbers while loaders read.
        for loaded, error in results:
            if error is not None:
                if errors is None:
                    sys.stderr.write(error + "\n")
                else:
                    errors.append(error)
            else:
                series.add(loaded)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return series


_SESSIONS = itertools.count()


class _Columns:
    """The changes of one grouping (lines or tracebacks), snapshot after
    snapshot: group ids, sizes and counts, plus how many entries each
    snapshot has."""

    def __init__(self):
        self.ids = array("i")
        self.sizes = array("d")
        self.counts = array("d")
        self.lengths = []

    def add(self, current, previous):
        """Append the entries of ``current`` ((ids, sizes, counts) arrays)
        that differ from ``previous`` (the same process's last snapshot,
        or None), and a zero entry for each id gone since."""
        ids, sizes, counts = current
        if previous is None:
            rows = list(zip(ids, sizes, counts))
        elif previous[0] == ids:
            # The same lines in the same order (the usual case: a site
            # table changes little between two snapshots): compare the
            # arrays side by side, in C.
            changed = itertools.compress(range(len(ids)), map(
                operator.or_, map(operator.ne, sizes, previous[1]),
                map(operator.ne, counts, previous[2])))
            rows = [(ids[i], sizes[i], counts[i]) for i in changed]
        else:
            rows = list(set(zip(ids, sizes, counts))
                        - set(zip(*previous)))
            rows.extend((ident, 0.0, 0.0)
                        for ident in set(previous[0]).difference(ids))
        rows.sort()  # the same page for the same files
        self.ids.extend([row[0] for row in rows])
        self.sizes.extend([row[1] for row in rows])
        self.counts.extend([row[2] for row in rows])
        self.lengths.append(len(rows))
        return current

    def segments(self):
        return [self.sizes, self.counts, self.ids]


class ReportData:
    """Everything the page shows, as ``meta`` (JSON-able) and ``blob``
    (bytes)."""

    def __init__(self, meta, blob, loader_cpu=0.0):
        self.meta = meta
        self.blob = blob
        self.loader_cpu = loader_cpu


def _local_time(when):
    """'YYYY-MM-DD HH:MM:SS.mmm' in local time: what the chart axes show
    (they read dates as wall-clock time, with no time zone)."""
    seconds = int(when // 1)
    millis = min(999, int(round((when - seconds) * 1000)))
    return "%s.%03d" % (time.strftime("%Y-%m-%d %H:%M:%S",
                                      time.localtime(seconds)), millis)


def build(series, pids=None, title=None, top=10, leaks=10,
          group_by="line", left_out=()):
    """The ``ReportData`` of ``series`` (a ``Series``; its snapshots in any
    order): per process (pid), in time order.  ``pids``, when given, keeps
    those processes only.  ``top``, ``leaks`` and ``group_by`` are the
    page's initial settings; ``left_out`` lists the files that could not
    be read (one-line reasons), shown on the page."""
    snapshots = series.snapshots
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
    lines = _Columns()
    tracebacks = _Columns() if deep else None
    user_titles = {}
    entries = [None] * len(snapshots)
    for pid, indexes in processes.items():
        previous_lines = previous_tracebacks = None
        for index in indexes:
            snapshot = snapshots[index]
            previous_lines = lines.add(snapshot.lines, previous_lines)
            if deep:
                current = snapshot.tracebacks
                if current is None:
                    # One frame per traceback next to deeper snapshots (the
                    # traceback limit changed): its lines are its
                    # tracebacks.
                    ids, sizes, counts = snapshot.lines
                    current = (array("i", [series.traceback_id((ident,))
                                           for ident in ids]), sizes, counts)
                previous_tracebacks = tracebacks.add(current,
                                                     previous_tracebacks)
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
                "domains": snapshot.domains,
                "user": user,
                "sample_bytes": snapshot.sample_bytes,
            }

    filenames = {}
    frames = []
    for filename, lineno in series.frames:
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
        "tracebacks": ([list(frames) for frames, _ in series.tracebacks]
                       if deep else None),
        "snapshots": entries,
        "processes": [{"pid": pid, "snapshots": indexes}
                      for pid, indexes in processes.items()],
        "user_series": [{"title": name, "format": fmt}
                        for name, fmt in user_titles.items()],
        "layout": layout,
    }
    meta.update(_function_tables(series, deep))
    return ReportData(meta, blob, series.loader_cpu)


def _function_tables(series, deep):
    """The functions' names (see the module's docstring): each frame's
    usual function (the first seen: one-frame snapshots', then the
    tracebacks'), for the "function" grouping and the flame graphs, and
    the tracebacks that differ from it."""
    usual = series.frame_functions + [-1] * (len(series.frames)
                                             - len(series.frame_functions))
    if not deep:
        if max(usual, default=-1) < 0:
            # No name at all (older files): not 10,000 "-1"s in the page.
            return {"functions": [], "frame_functions": None,
                    "traceback_functions": []}
        return {"functions": series.functions, "frame_functions": usual,
                "traceback_functions": []}
    for frames, functions in series.tracebacks:
        if functions is not None:
            for frame, function in zip(frames, functions):
                if usual[frame] < 0:
                    usual[frame] = function
    others = []
    for index, (frames, functions) in enumerate(series.tracebacks):
        if functions is None:
            if any(usual[frame] >= 0 for frame in frames):
                others.append([index, [-1] * len(frames)])
        elif any(usual[frame] != function
                 for frame, function in zip(frames, functions)):
            others.append([index, list(functions)])
    return {"functions": series.functions, "frame_functions": usual,
            "traceback_functions": others}


def _pack(groupings):
    """One gzip-compressed little-endian buffer with every array of
    ``groupings`` ({name: _Columns or None}), each 8-byte aligned, and the
    layout telling the page where each array starts and its type: sizes
    and counts as uint32 when they all fit (they nearly always do: 4 bytes
    an entry instead of 8), else float64 (exact to 2**53)."""
    parts = []
    layout = {}
    offset = 0
    for name, columns in groupings.items():
        if columns is None:
            continue
        entry = {"lengths": columns.lengths, "entries": len(columns.ids)}
        for label, values in zip(("sizes", "counts", "ids"),
                                 columns.segments()):
            if values.typecode == "d":
                if _UINT32 and (not values or max(values) < 2 ** 32):
                    values = array(_UINT32, map(int, values))
                    entry[label + "_type"] = "uint32"
                else:
                    entry[label + "_type"] = "float64"
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
        layout[name] = entry
    # Level 1: level 6 makes it 12% smaller in 9 times the time.
    return gzip.compress(b"".join(parts), compresslevel=1, mtime=0), layout


# The array typecode of a 32-bit unsigned int here, if any.
_UINT32 = next((code for code in "IL" if array(code).itemsize == 4), None)
