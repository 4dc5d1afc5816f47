"""Snapshots of the traced memory: one ``Snapshot`` class for the 0.9.1 API
(``create``, ``write``, ``stats``, ``filter_filenames``, ``display``) and for
stdlib tracemalloc's API (``take_snapshot``, ``statistics``,
``compare_to``, ``filter_traces``, ``dump``).

A snapshot keeps the engine's per-site data: one entry per distinct
domain and traceback, ``(frames, size, count, domain, functions)`` with
``frames`` a tuple of ``(filename, lineno)`` MOST RECENT FIRST, ``domain``
0 for the blocks of CPython's allocators, another number for blocks
reported by an extension (``NUMPY_DOMAIN``, 389047: numpy's array data),
and ``functions`` the qualified name of each frame's function (a tuple of
str as long as ``frames``, "" where a frame has none) or None where the
names are not known (0.9.1 stats, files of format version 3 or older).
Frames stay ``(filename, lineno)`` so that keys, equality and hashing are
stdlib's; the names ride beside them, and two functions on one line (a
comprehension on 3.11, a lambda) are two sites with the same frames.  Everything
else (the 0.9.1 ``stats`` dictionary, stdlib statistics) is computed from
the sites, in O(sites), never per block.

The model only: the file format (docs/snapshot-format.rst: gzip-compressed
JSON with a format name and a version, plain data only) is
snapshot_format.py, the atomic write fileio.py.  Opening a file
never runs code from it; legacy 0.9.1 pickles are read by an unpickler that
refuses every global.  Every failure of ``Snapshot.load`` is a
``SnapshotLoadError``; every failure of ``write``/``dump`` to write the file
is a ``SnapshotWriteError`` (an ``OSError``) and leaves any previous file of
that name intact.
"""

# json, gzip, pickle, tempfile... are imported when a file is read or
# written: "import pytracemalloc" runs at start-up with PYTRACEMALLOC=1.
import contextlib
import gc
import os
import time as _time

from pytracemalloc import snapshot_format
from pytracemalloc.domains import NATIVE_DOMAIN, NUMPY_DOMAIN
from pytracemalloc._engine import engine as _tracemalloc
from pytracemalloc.fileio import SnapshotWriteError, write_atomically
from pytracemalloc.snapshot_format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    TIMESTAMP_FORMAT,
    UNKNOWN_FRAME,
    Invalid as _Invalid,
    _is_int,
    time_of_timestamp as _time_of_timestamp,
)
from pytracemalloc.stdlib_api import (
    EstimatedStatistic,
    EstimatedStatisticDiff,
    Statistic,
    StatisticDiff,
    Traceback,
    _check_filters,
    _site_passes,
)

__all__ = [
    "Snapshot", "SnapshotLoadError", "SnapshotWriteError", "take_snapshot",
    "FORMAT_NAME", "FORMAT_VERSION", "NUMPY_DOMAIN", "NATIVE_DOMAIN",
]


_UNKNOWN_FRAME = UNKNOWN_FRAME
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_TIMESTAMP_FORMAT = TIMESTAMP_FORMAT


class SnapshotLoadError(ValueError):
    """``Snapshot.load`` could not read a snapshot from ``filename``.

    The one exception ``Snapshot.load`` raises, whatever the problem: a
    missing file, a directory, an unreadable, empty, truncated or corrupt
    file, something that is not a snapshot, a refused pickle, an unknown
    newer format version, or fields of the wrong type.  ``filename`` is the
    path, ``reason`` a one-line explanation; ``str()`` is
    ``"FILENAME: REASON"``.  When the cause was an ``OSError`` it is
    chained as ``__cause__`` and its errno is ``errno`` (else None)."""

    def __init__(self, filename, reason, errno=None):
        reason = " ".join(str(reason).split())
        super().__init__(filename, reason)
        self.filename = filename
        self.reason = reason
        self.errno = errno

    def __str__(self):
        return "%s: %s" % (self.filename, self.reason)


def _now():
    """(precise epoch seconds, 'YYYY-MM-DD HH:MM:SS' in local time)."""
    now = _time.time()
    return now, _time.strftime(_TIMESTAMP_FORMAT, _time.localtime(now))


def _get_timestamp():
    """The local date and time, 'YYYY-MM-DD HH:MM:SS' (0.9.1's helper)."""
    return _now()[1]


def _process_memory():
    """pytracemalloc.get_process_memory() when the package has it."""
    import pytracemalloc
    getter = getattr(pytracemalloc, "get_process_memory", None)
    if getter is None:
        try:
            from pytracemalloc.process import get_process_memory as getter
        except ImportError:
            return None
    return getter()


def _normalize_user_data(user_data):
    if user_data is None:
        return None
    items = []
    for item in user_data:
        item = tuple(item)
        if len(item) != 3:
            raise TypeError("user data items are (title, format, value), "
                            "got %r" % (item,))
        items.append(item)
    return items


def _normalize_site(site):
    """(frames most recent first, size, count, domain, functions) from a
    3-, 4- or 5-tuple."""
    site = tuple(site)
    functions = None
    if len(site) == 3:
        frames, size, count = site
        domain = 0
    elif len(site) == 4:
        frames, size, count, domain = site
    elif len(site) == 5:
        frames, size, count, domain, functions = site
    else:
        raise TypeError("a site is (frames, size, count[, domain[, "
                        "functions]]), got %.80r" % (site,))
    frames = tuple(map(tuple, frames))
    if functions is not None:
        functions = tuple(functions)
        if (len(functions) != len(frames)
                or not all(isinstance(name, str) for name in functions)):
            raise TypeError("a site's functions are None or one str per "
                            "frame, got %.80r" % (functions,))
    if not frames:
        frames, functions = (_UNKNOWN_FRAME,), None
    return (frames, size, count, domain, functions)


@contextlib.contextmanager
def _collector_paused():
    """Build a read-out's objects without the cyclic garbage collector.

    A read-out makes tens of thousands of small acyclic objects in one
    burst; under the collector's default thresholds that burst sets off a
    full collection, which walks the whole program's heap (60 ms with 3
    million live objects) to find nothing of ours.  The collector is
    switched back on (if it was on) as soon as the objects are built."""
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_GROUP_MODES = {
    ("traceback", False): 0,
    ("lineno", False): 1,
    ("filename", False): 2,
    ("lineno", True): 3,
    ("filename", True): 4,
}


def _group_mode(key_type, cumulative):
    """The engine's grouping mode, None for "function" (grouped in
    Python: the engine groups by frames, which hold no name)."""
    if key_type not in ("traceback", "filename", "lineno", "function"):
        raise ValueError("unknown key_type: %r" % (key_type,))
    if cumulative and key_type == "traceback":
        raise ValueError("cumulative mode cannot be used with key type "
                         "%r" % (key_type,))
    return _GROUP_MODES.get((key_type, bool(cumulative)))


def add_up(rows):
    """{key: [size, count]} of (key, size, count) rows, the sizes and
    counts of a key added up: every grouping of sites in Python."""
    totals = {}
    for key, size, count in rows:
        total = totals.get(key)
        if total is None:
            totals[key] = [size, count]
        else:
            total[0] += size
            total[1] += count
    return totals


def _function_key(filename, name):
    """The raw frame of a "function" statistic: (filename, 0, name), so
    that two functions of one file are two keys."""
    return (filename, 0, name or "")


def _statistics(rows, kind=Statistic):
    """[kind] of sorted (size, count, raw key) rows, filled in as the
    engine's _statistics() does."""
    new_traceback = Traceback.__new__
    new_statistic = kind.__new__
    result = []
    append = result.append
    for size, count, key in rows:
        traceback = new_traceback(Traceback)
        traceback._frames = key
        traceback._total_nframe = None
        statistic = new_statistic(kind)
        statistic.traceback = traceback
        statistic.size = size
        statistic.count = count
        append(statistic)
    return result


def _statistic_diffs(rows, kind=StatisticDiff):
    """[kind] of sorted compare_to rows."""
    new_traceback = Traceback.__new__
    result = []
    append = result.append
    for _, size, _, count, key, size_diff, count_diff in rows:
        traceback = new_traceback(Traceback)
        traceback._frames = key
        traceback._total_nframe = None
        append(kind(traceback, size, size_diff, count, count_diff))
    return result


class Snapshot:
    """Memory held at one moment, per site (distinct traceback).

    0.9.1 attributes: ``pid``, ``stats`` ({filename: {lineno: (size,
    count)}}, grouped by the most recent frame), ``timestamp`` (local time,
    'YYYY-MM-DD HH:MM:SS'), ``process_memory`` (bytes or None),
    ``user_data`` (list of (title, format, value) or None).  Also ``time``,
    the creation time in epoch seconds (a float: snapshots taken within the
    same second sort by it in the order they were taken),
    ``tracemalloc_memory`` (bytes used by pytracemalloc itself, or None),
    ``traceback_limit`` (frames per traceback when it was taken) and
    ``sample_bytes``: None for exact figures, else N, the mean number of
    bytes between two samples of the sampled mode that took it (sizes and
    counts are then unbiased estimates, marked ``~`` when displayed), and
    ``native``: True when it was taken while native memory was traced
    (``enable(native=True)``: its native blocks are in ``NATIVE_DOMAIN``).

    stdlib's ``Snapshot.traces`` (one entry per live block) does not exist
    here: the engine keeps per-site totals, not per-block traces.

    The constructor takes sites, an iterable of ``(frames, size, count)``
    or ``(frames, size, count, domain)`` with frames most recent first
    (domain 0 when not given); use ``create()``, ``take_snapshot()`` or
    ``load()`` rather than calling it.  The constructor of 0.9.1,
    ``Snapshot(stats, timestamp, pid, process_memory, user_data)`` with
    ``stats`` a dictionary, works too.
    """

    # 0.9.1's value (the version of its pickles), for code written for it;
    # our JSON files carry their own, up to the module's FORMAT_VERSION.
    FORMAT_VERSION = 1

    def __init__(self, sites=(), traceback_limit=1, *legacy, pid=None,
                 time=None, timestamp=None, process_memory=None,
                 tracemalloc_memory=None, user_data=None, sample_bytes=None,
                 native=False):
        if isinstance(sites, dict):
            # 0.9.1: Snapshot(stats, timestamp, pid, process_memory,
            # user_data), positional or by name.
            stats, sites = sites, ()
            if isinstance(traceback_limit, str):
                timestamp, traceback_limit = traceback_limit, 1
            if len(legacy) > 3:
                raise TypeError("Snapshot(stats, timestamp, pid, "
                                "process_memory, user_data): too many "
                                "arguments")
            legacy = legacy + (None,) * (3 - len(legacy))
            pid = legacy[0] if pid is None else pid
            process_memory = (legacy[1] if process_memory is None
                              else process_memory)
            user_data = legacy[2] if user_data is None else user_data
            if time is None and timestamp is not None:
                time = _time_of_timestamp(timestamp)
        elif legacy:
            raise TypeError("Snapshot(sites, traceback_limit, *, ...) takes "
                            "2 positional arguments")
        else:
            stats = None
        if time is None:
            time, stamp = _now()
            timestamp = timestamp or stamp
        elif timestamp is None:
            timestamp = _time.strftime(_TIMESTAMP_FORMAT,
                                       _time.localtime(time))
        self._sites = [_normalize_site(site) for site in sites]
        self._stats = None
        self.traceback_limit = traceback_limit
        self.pid = os.getpid() if pid is None else pid
        self.time = time
        self.timestamp = timestamp
        self.process_memory = process_memory
        self.tracemalloc_memory = tracemalloc_memory
        self.user_data = _normalize_user_data(user_data)
        if sample_bytes is not None and (not _is_int(sample_bytes)
                                         or sample_bytes < 1):
            raise ValueError("sample_bytes must be None or a positive int, "
                             "not %r" % (sample_bytes,))
        self.sample_bytes = sample_bytes
        if not isinstance(native, bool):
            raise TypeError("native must be a bool, not %s"
                            % type(native).__name__)
        self.native = native
        if stats is not None:
            self.stats = stats

    @property
    def is_estimate(self):
        """True when the figures are estimates (a sampled snapshot)."""
        return self.sample_bytes is not None

    def _copy_with_sites(self, sites):
        return Snapshot(sites, self.traceback_limit, pid=self.pid,
                        time=self.time, timestamp=self.timestamp,
                        process_memory=self.process_memory,
                        tracemalloc_memory=self.tracemalloc_memory,
                        user_data=self.user_data,
                        sample_bytes=self.sample_bytes, native=self.native)

    def __repr__(self):
        sampled = ("" if self.sample_bytes is None
                   else " sample_bytes=%d" % self.sample_bytes)
        native = " native" if self.native else ""
        return "<Snapshot pid=%s timestamp=%r sites=%d%s%s>" % (
            self.pid, self.timestamp, len(self._sites), sampled, native)

    # --- 0.9.1 API -------------------------------------------------------

    @classmethod
    def create(cls, user_data_callback=None):
        """Take a snapshot of the traced memory (0.9.1).

        The allocations of pytracemalloc's own Python code are left out of
        the snapshot and counted, with the engine's C tables, in
        ``tracemalloc_memory``.  ``user_data_callback()``, when given,
        returns a list of (title, format, value), e.g. [('Video memory',
        'size', 234902)]."""
        now, stamp = _now()
        limit = _tracemalloc.get_traceback_limit()
        sites = []
        own = 0
        own_files = {}  # filename -> in this package: one test a file
        append = sites.append
        with _collector_paused():
            for site in _tracemalloc._get_snapshot_sites():
                filename = site[0][0][0]
                mine = own_files.get(filename)
                if mine is None:
                    mine = own_files[filename] = filename.startswith(
                        _PACKAGE_DIR)
                if mine:
                    own += site[1]
                else:
                    append(site)
        user_data = user_data_callback() if user_data_callback else None
        snapshot = cls._live_header(now, stamp, limit, own, user_data)
        snapshot._sites = sites  # the engine's tuples, already normalized
        return snapshot

    @classmethod
    def _live_header(cls, now, stamp, limit, own, user_data=None):
        """A snapshot with no site and the header of the live statistics
        taken at ``now``: ``own``, the bytes of pytracemalloc's own code
        left out of its sites, counts with the engine's tables."""
        return cls((), limit, pid=os.getpid(), time=now, timestamp=stamp,
                   process_memory=_process_memory(),
                   tracemalloc_memory=(
                       own + _tracemalloc.get_tracemalloc_memory()),
                   user_data=user_data,
                   sample_bytes=_tracemalloc.get_sample_bytes(),
                   native=_tracemalloc.is_native_traced())

    @property
    def stats(self):
        """{filename: {lineno: (size, count)}}, by the most recent frame.

        Computed from the sites (and cached); assigning a new dictionary
        replaces the sites by one-frame sites."""
        if self._stats is None:
            stats = {}
            for frames, size, count, _, _ in self._sites:
                filename, lineno = frames[0]
                lines = stats.setdefault(filename, {})
                old_size, old_count = lines.get(lineno, (0, 0))
                lines[lineno] = (old_size + size, old_count + count)
            self._stats = stats
        return self._stats

    @stats.setter
    def stats(self, stats):
        self._sites = [(((filename, lineno),), size, count, 0, None)
                       for filename, lines in stats.items()
                       for lineno, (size, count) in lines.items()]
        self._stats = None

    def domain_totals(self):
        """{domain: (size, count)} of the snapshot's blocks: 0 for
        CPython's allocators, ``NUMPY_DOMAIN`` (389047) for numpy's array
        data, other numbers for blocks reported by other extensions."""
        totals = {}
        for _, size, count, domain, _ in self._sites:
            old_size, old_count = totals.get(domain, (0, 0))
            totals[domain] = (old_size + size, old_count + count)
        return totals

    def filter_filenames(self, patterns, include):
        """Keep (``include`` true) or drop the sites whose most recent
        frame's filename matches one of the fnmatch ``patterns`` (a string
        or a list of strings).  Modifies the snapshot, as in 0.9.1."""
        import fnmatch
        if isinstance(patterns, str):
            patterns = (patterns,)
        patterns = tuple(patterns)
        matches = {}
        kept = []
        for site in self._sites:
            filename = site[0][0][0]
            try:
                hit = matches[filename]
            except KeyError:
                hit = matches[filename] = any(
                    fnmatch.fnmatch(filename, pattern)
                    for pattern in patterns)
            if hit == bool(include):
                kept.append(site)
        self._sites = kept
        self._stats = None

    def display(self, display_top, show_pid=False, **options):
        """Show this snapshot with a ``DisplayTop``: delegates to
        ``display_top.display_snapshot(self, **options)``.  ``show_pid``
        (0.9.1) names the top 'TIMESTAMP [pid PID]'."""
        if show_pid:
            options["show_pid"] = True
        return display_top.display_snapshot(self, **options)

    def write(self, filename):
        """Write the snapshot to ``filename`` atomically (see
        docs/snapshot-format.rst).  Raises ``SnapshotWriteError``."""
        write_atomically(filename, self._encode())

    # --- stdlib API ------------------------------------------------------

    def dump(self, filename):
        """stdlib name of ``write()``: the same file format."""
        self.write(filename)

    @property
    def traces(self):
        raise AttributeError(
            "pytracemalloc snapshots have no 'traces': the engine keeps "
            "per-site totals, not one trace per block; use statistics()")

    def _rows(self, key_type, cumulative):
        """[(size, count, raw key)] per stdlib key, raw keys being frames
        oldest first; in C when the sites allow it, else in Python."""
        mode = _group_mode(key_type, cumulative)
        rows = (None if mode is None
                else _tracemalloc._group_sites(self._sites, mode))
        if rows is None:
            rows = [(size, count, key) for key, (size, count)
                    in self._group_in_python(key_type, cumulative).items()]
        return rows

    def _group(self, key_type, cumulative):
        """{raw key (frames oldest first): [size, count]} per stdlib key
        (the report's input)."""
        return {key: [size, count]
                for size, count, key in self._rows(key_type, cumulative)}

    def _group_in_python(self, key_type, cumulative):
        """{raw key: [size, count]}: the general path of _rows, for sites
        the C one does not take (sizes beyond 64 bits, odd types)."""
        if key_type == "traceback":
            keys = ((site[0][::-1],) for site in self._sites)
        elif key_type == "lineno" and not cumulative:
            keys = ((site[0][:1],) for site in self._sites)
        elif key_type == "filename" and not cumulative:
            keys = ((((site[0][0][0], 0),),) for site in self._sites)
        elif key_type == "function" and not cumulative:
            keys = (((_function_key(site[0][0][0],
                                    site[4] and site[4][0]),),)
                    for site in self._sites)
        elif key_type == "function":
            # Each distinct function once per traceback (recursion).
            keys = ([(_function_key(filename, name),) for filename, name
                     in {(frame[0], name) for frame, name
                         in zip(site[0], site[4] or ("",) * len(site[0]))}]
                    for site in self._sites)
        elif key_type == "lineno":
            # Each distinct frame once per traceback, so recursion does not
            # count a block twice on the same line.
            keys = ([(frame,) for frame in set(site[0])]
                    for site in self._sites)
        else:
            keys = ([((filename, 0),) for filename in {f[0] for f in site[0]}]
                    for site in self._sites)
        return add_up((key, site[1], site[2])
                      for site_keys, site in zip(keys, self._sites)
                      for key in site_keys)

    def statistics(self, key_type, cumulative=False):
        """Statistics grouped by ``key_type`` ('filename', 'lineno' or
        'traceback', as stdlib, or 'function': the lines of one function
        summed, its frame (filename, 0) with ``function`` its name),
        biggest first (size, then count, then traceback, descending, as
        stdlib).  ``cumulative`` counts the blocks of a traceback on every
        distinct frame (file, function) it goes through, not only the most
        recent one (not with 'traceback').  Frames carry their function's
        name where the snapshot has names."""
        with _collector_paused():
            mode = _group_mode(key_type, cumulative)
            kind = EstimatedStatistic if self.is_estimate else Statistic
            statistics = (None if mode is None else _tracemalloc._statistics(
                self._sites, mode, kind, Traceback))
            if statistics is not None:
                return statistics  # named by the engine, as below
            rows = self._rows(key_type, cumulative)
            # Sorted on plain tuples: the order of stdlib's (size, count,
            # traceback) key, since a Traceback orders as its raw frames.
            rows.sort(reverse=True)
            statistics = _statistics(rows, kind)
            self._name_frames(statistics, key_type, cumulative)
            return statistics

    def _function_names(self, key_type, cumulative):
        """{raw key: function names oldest first} of the sites that have
        names, for the keys of ``key_type``; None when no site has any
        (or the key holds none: "filename", and "function", whose keys
        carry their name).  Where one key gathers sites of different
        functions (two functions on one line: a generator expression and
        the call that consumes it) the key takes the names of its biggest
        site."""
        if key_type in ("filename", "function"):
            return None
        best = {}
        if key_type == "traceback":
            pairs = ((site[0][::-1], site[4][::-1], site[1])
                     for site in self._sites if site[4] is not None)
        elif not cumulative:
            pairs = ((site[0][:1], site[4][:1], site[1])
                     for site in self._sites if site[4] is not None)
        else:
            pairs = (((frame,), (name,), site[1])
                     for site in self._sites if site[4] is not None
                     for frame, name in zip(site[0], site[4]))
        for key, names, size in pairs:
            seen = best.get(key)
            if seen is None or size > seen[1]:
                best[key] = (names, size)
        if not best:
            return None
        return {key: names for key, (names, _) in best.items()}

    def _name_frames(self, statistics, key_type, cumulative):
        """Give the frames of statistics (or diffs) their functions."""
        names = self._function_names(key_type, cumulative)
        if not names:
            return
        get = names.get
        for statistic in statistics:
            traceback = statistic.traceback
            traceback._functions = get(traceback._frames)

    def compare_to(self, old_snapshot, key_type, cumulative=False):
        """``StatisticDiff`` per key of either snapshot, sorted as stdlib:
        by absolute size difference, size, absolute count difference,
        count, then traceback, descending."""
        with _collector_paused():
            return self._compare_to(old_snapshot, key_type, cumulative)

    def _compare_to(self, old_snapshot, key_type, cumulative):
        old = {key: (size, count) for size, count, key
               in old_snapshot._rows(key_type, cumulative)}
        rows = []
        for size, count, key in self._rows(key_type, cumulative):
            old_size, old_count = old.pop(key, (0, 0))
            size_diff = size - old_size
            count_diff = count - old_count
            rows.append((abs(size_diff), size, abs(count_diff), count, key,
                         size_diff, count_diff))
        for key, (old_size, old_count) in old.items():
            rows.append((old_size, 0, old_count, 0, key, -old_size,
                         -old_count))
        # The first five items are stdlib's sort key (keys are distinct, so
        # the last two never decide).
        rows.sort(reverse=True)
        estimate = self.is_estimate or old_snapshot.is_estimate
        diffs = _statistic_diffs(
            rows, EstimatedStatisticDiff if estimate else StatisticDiff)
        # The names of keys gone since the old snapshot are the old one's.
        old_snapshot._name_frames(diffs, key_type, cumulative)
        self._name_frames(diffs, key_type, cumulative)
        return diffs

    def filter_traces(self, filters):
        """A new snapshot with the sites that pass ``filters`` (a list of
        ``Filter``/``DomainFilter``): kept when matching at least one
        inclusive filter, if any, and every exclusive one.  An empty list
        gives a copy."""
        filters = _check_filters(filters)
        include = [f for f in filters if f.inclusive]
        exclude = [f for f in filters if not f.inclusive]
        return self._copy_with_sites(
            site for site in self._sites
            if _site_passes(include, exclude, site[0], site[3]))

    # --- files -----------------------------------------------------------

    def _encode(self):
        """The file's bytes (snapshot_format.encode)."""
        return snapshot_format.encode(self)

    @classmethod
    def load(cls, filename):
        """Read a snapshot file written by ``write``/``dump`` (any format
        version up to FORMAT_VERSION, compressed or plain JSON) or a 0.9.1
        pickle (plain data only).  Raises ``SnapshotLoadError``, and
        nothing else, for any file it cannot read."""
        try:
            with open(filename, "rb") as file:
                data = file.read()
        except OSError as exc:
            raise SnapshotLoadError(
                filename, "cannot read: %s" % (exc.strerror or exc),
                exc.errno) from exc
        return cls.loads(data, filename)

    @classmethod
    def loads(cls, data, filename="<bytes>"):
        """``load()`` from the bytes of a file already read; ``filename``
        names them in the ``SnapshotLoadError``."""
        try:
            return cls._decode(bytes(data))
        except _Invalid as exc:
            raise SnapshotLoadError(filename, str(exc)) from None
        except (RecursionError, MemoryError) as exc:
            raise SnapshotLoadError(
                filename, "corrupt file (%s)" % type(exc).__name__) from None

    @classmethod
    def _decode(cls, data):
        return snapshot_format.decode(cls, data)


def require_tracing():
    """RuntimeError, in stdlib's words, when nothing is traced."""
    if not _tracemalloc.is_enabled():
        raise RuntimeError("the tracemalloc module must be tracing memory "
                           "allocations to take a snapshot")


def take_snapshot():
    """stdlib ``take_snapshot()``: a ``Snapshot`` of everything traced,
    pytracemalloc's own lines included (filter them with ``Filter(False,
    pytracemalloc.__file__)``-like patterns as with stdlib).  RuntimeError
    when not tracing."""
    require_tracing()
    now, stamp = _now()
    limit = _tracemalloc.get_traceback_limit()
    with _collector_paused():
        sites = _tracemalloc._get_snapshot_sites()
    snapshot = Snapshot(
        (), limit, pid=os.getpid(), time=now, timestamp=stamp,
        tracemalloc_memory=_tracemalloc.get_tracemalloc_memory(),
        sample_bytes=_tracemalloc.get_sample_bytes(),
        native=_tracemalloc.is_native_traced())
    snapshot._sites = sites  # the engine's tuples, already normalized
    return snapshot
