"""Snapshots of the traced memory: one ``Snapshot`` class for the 0.9.1 API
(``create``, ``write``, ``stats``, ``filter_filenames``, ``display``) and for
stdlib tracemalloc's API (``take_snapshot``, ``statistics``,
``compare_to``, ``filter_traces``, ``dump``).

A snapshot keeps the engine's per-site data: one entry per distinct
domain and traceback, ``(frames, size, count, domain)`` with ``frames`` a
tuple of ``(filename, lineno)`` MOST RECENT FIRST and ``domain`` 0 for the
blocks of CPython's allocators, another number for blocks reported by an
extension (``NUMPY_DOMAIN``, 389047: numpy's array data).  Everything
else (the 0.9.1 ``stats`` dictionary, stdlib statistics) is computed from
the sites, in O(sites), never per block.

Snapshot files are documented in docs/snapshot-format.rst: gzip-compressed
JSON with a format name and a version, plain data only.  Opening a file
never runs code from it; legacy 0.9.1 pickles are read by an unpickler that
refuses every global.  Every failure of ``Snapshot.load`` is a
``SnapshotLoadError``; every failure of ``write``/``dump`` to write the file
is a ``SnapshotWriteError`` (an ``OSError``) and leaves any previous file of
that name intact.
"""

# json, gzip, pickle, tempfile... are imported when a file is read or
# written: "import pytracemalloc" runs at start-up with PYTRACEMALLOC=1.
import contextlib
import errno
import gc
import math
import os
import time as _time
import warnings

from pytracemalloc import _tracemalloc
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
    "FORMAT_NAME", "FORMAT_VERSION", "NUMPY_DOMAIN",
]

FORMAT_NAME = "pytracemalloc-snapshot"
# Version 2 adds the domain of each site; version 3 adds "sample_bytes"
# (sampled mode).  A snapshot is written in the oldest version that holds
# it: 1 with domain 0 only and exact figures, which older readers read; a
# sampled one is version 3, which an older reader refuses rather than show
# its estimates as exact figures.
FORMAT_VERSION = 3
SAMPLED_FORMAT_VERSION = 3
NUMPY_DOMAIN = 389047
# The version of the 0.9.1 pickles ({'format_version': 1, 'stats': ...}).
LEGACY_PICKLE_VERSION = 1

_UNKNOWN_FRAME = ("<unknown>", 0)
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_GZIP_MAGIC = b"\x1f\x8b"


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


class SnapshotWriteError(OSError):
    """``Snapshot.write``/``dump`` could not write ``filename``: the errno of
    the failure, a message and the path (``OSError(errno, strerror,
    filename)``).  The previous file of that name, if any, is intact and
    no temporary file is left behind."""


class _Invalid(Exception):
    """Internal: the content is not a valid snapshot; the message is the
    reason."""


def _now():
    """(precise epoch seconds, 'YYYY-MM-DD HH:MM:SS' in local time)."""
    now = _time.time()
    return now, _time.strftime(_TIMESTAMP_FORMAT, _time.localtime(now))


def _get_timestamp():
    """The local date and time, 'YYYY-MM-DD HH:MM:SS' (0.9.1's helper)."""
    return _now()[1]


def _time_of_timestamp(timestamp):
    """Epoch seconds of a 'YYYY-MM-DD HH:MM:SS' local time, 0.0 when it is
    not one (such snapshots sort first)."""
    try:
        return _time.mktime(_time.strptime(timestamp, _TIMESTAMP_FORMAT))
    except (TypeError, ValueError, OverflowError):
        return 0.0


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
    """(frames most recent first, size, count, domain) from a 3- or
    4-tuple."""
    site = tuple(site)
    if len(site) == 3:
        frames, size, count = site
        domain = 0
    elif len(site) == 4:
        frames, size, count, domain = site
    else:
        raise TypeError("a site is (frames, size, count[, domain]), got %.80r"
                        % (site,))
    return (tuple(map(tuple, frames)) or (_UNKNOWN_FRAME,), size, count,
            domain)


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
    if key_type not in ("traceback", "filename", "lineno"):
        raise ValueError("unknown key_type: %r" % (key_type,))
    if cumulative and key_type == "traceback":
        raise ValueError("cumulative mode cannot be used with key type "
                         "%r" % (key_type,))
    return _GROUP_MODES[key_type, bool(cumulative)]


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
    counts are then unbiased estimates, marked ``~`` when displayed).

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
                 tracemalloc_memory=None, user_data=None, sample_bytes=None):
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
                        sample_bytes=self.sample_bytes)

    def __repr__(self):
        sampled = ("" if self.sample_bytes is None
                   else " sample_bytes=%d" % self.sample_bytes)
        return "<Snapshot pid=%s timestamp=%r sites=%d%s>" % (
            self.pid, self.timestamp, len(self._sites), sampled)

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
        own += _tracemalloc.get_tracemalloc_memory()
        user_data = user_data_callback() if user_data_callback else None
        snapshot = cls((), limit, pid=os.getpid(), time=now,
                       timestamp=stamp, process_memory=_process_memory(),
                       tracemalloc_memory=own, user_data=user_data,
                       sample_bytes=_tracemalloc.get_sample_bytes())
        snapshot._sites = sites  # the engine's tuples, already normalized
        return snapshot

    @property
    def stats(self):
        """{filename: {lineno: (size, count)}}, by the most recent frame.

        Computed from the sites (and cached); assigning a new dictionary
        replaces the sites by one-frame sites."""
        if self._stats is None:
            stats = {}
            for frames, size, count, _ in self._sites:
                filename, lineno = frames[0]
                lines = stats.setdefault(filename, {})
                old_size, old_count = lines.get(lineno, (0, 0))
                lines[lineno] = (old_size + size, old_count + count)
            self._stats = stats
        return self._stats

    @stats.setter
    def stats(self, stats):
        self._sites = [(((filename, lineno),), size, count, 0)
                       for filename, lines in stats.items()
                       for lineno, (size, count) in lines.items()]
        self._stats = None

    def domain_totals(self):
        """{domain: (size, count)} of the snapshot's blocks: 0 for
        CPython's allocators, ``NUMPY_DOMAIN`` (389047) for numpy's array
        data, other numbers for blocks reported by other extensions."""
        totals = {}
        for _, size, count, domain in self._sites:
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
        _write_atomically(filename, self._encode())

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
        rows = _tracemalloc._group_sites(self._sites, mode)
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
        elif key_type == "lineno":
            # Each distinct frame once per traceback, so recursion does not
            # count a block twice on the same line.
            keys = ([(frame,) for frame in set(site[0])]
                    for site in self._sites)
        else:
            keys = ([((filename, 0),) for filename in {f[0] for f in site[0]}]
                    for site in self._sites)
        groups = {}
        for site_keys, (_, size, count, _) in zip(keys, self._sites):
            for key in site_keys:
                total = groups.get(key)
                if total is None:
                    groups[key] = [size, count]
                else:
                    total[0] += size
                    total[1] += count
        return groups

    def statistics(self, key_type, cumulative=False):
        """Statistics grouped by ``key_type`` ('filename', 'lineno' or
        'traceback'), biggest first (size, then count, then traceback,
        descending, as stdlib).  ``cumulative`` counts the blocks of a
        traceback on every distinct frame (or file) it goes through, not
        only the most recent one ('lineno' and 'filename' only)."""
        with _collector_paused():
            mode = _group_mode(key_type, cumulative)
            kind = EstimatedStatistic if self.is_estimate else Statistic
            statistics = _tracemalloc._statistics(self._sites, mode, kind,
                                                  Traceback)
            if statistics is not None:
                return statistics
            rows = self._rows(key_type, cumulative)
            # Sorted on plain tuples: the order of stdlib's (size, count,
            # traceback) key, since a Traceback orders as its raw frames.
            rows.sort(reverse=True)
            return _statistics(rows, kind)

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
        return _statistic_diffs(
            rows, EstimatedStatisticDiff if estimate else StatisticDiff)

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
        """The file's bytes: gzip-compressed JSON (docs/snapshot-format.rst).
        Frames and filenames are stored once, in tables, and referenced by
        index."""
        import gzip
        import json
        filenames = {}
        frames = {}
        frame_table = []
        sites = []
        # The oldest version that holds the data, for older readers.
        if self.sample_bytes is not None:
            version = SAMPLED_FORMAT_VERSION
        else:
            version = 2 if any(site[3] for site in self._sites) else 1
        for site_frames, size, count, domain in self._sites:
            row = [size, count, domain] if version >= 2 else [size, count]
            for frame in site_frames:
                index = frames.get(frame)
                if index is None:
                    filename = frame[0]
                    file_index = filenames.get(filename)
                    if file_index is None:
                        file_index = filenames[filename] = len(filenames)
                    index = frames[frame] = len(frame_table)
                    frame_table.append([file_index, frame[1]])
                row.append(index)
            sites.append(row)
        document = {
            "format": FORMAT_NAME,
            "version": version,
            "pid": self.pid,
            "time": self.time,
            "timestamp": self.timestamp,
            "process_memory": self.process_memory,
            "tracemalloc_memory": self.tracemalloc_memory,
            "traceback_limit": self.traceback_limit,
            "user_data": (None if self.user_data is None
                          else [list(item) for item in self.user_data]),
            "filenames": list(filenames),
            "frames": frame_table,
            "sites": sites,
        }
        if self.sample_bytes is not None:
            document["sample_bytes"] = self.sample_bytes
        text = json.dumps(document, separators=(",", ":"), allow_nan=False)
        return gzip.compress(text.encode("ascii"), compresslevel=9, mtime=0)

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
        if not data:
            raise _Invalid("empty file, not a snapshot")
        if data[:2] == _GZIP_MAGIC:
            return cls._from_json(_gunzip(data))
        head = data.lstrip()[:1]
        if head == b"{":
            return cls._from_json(data)
        if data[:1] in _PICKLE_STARTS:
            try:
                return cls._from_legacy(_restricted_unpickle(data))
            except _Invalid as exc:
                if (str(exc).startswith("refused") or data[:1] not in b"ci"
                        or not _looks_like_text(data)):
                    raise
        raise _Invalid("not a pytracemalloc snapshot (starts with %r)"
                       % data[:16])

    @classmethod
    def _from_json(cls, data):
        import json
        try:
            document = json.loads(data.decode("utf-8"),
                                  parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Invalid("truncated or corrupt JSON (%s)" % exc) from None
        if not isinstance(document, dict):
            raise _Invalid("not a pytracemalloc snapshot (JSON %s)"
                           % type(document).__name__)
        if document.get("format") != FORMAT_NAME:
            raise _Invalid("not a pytracemalloc snapshot (format %r)"
                           % (document.get("format"),))
        version = document.get("version")
        if not _is_int(version) or version < 1:
            raise _Invalid("invalid format version %r" % (version,))
        if version > FORMAT_VERSION:
            raise _Invalid("format version %d is newer than this "
                           "pytracemalloc reads (%d): upgrade pytracemalloc"
                           % (version, FORMAT_VERSION))
        return cls._from_v1(document, version)

    @classmethod
    def _from_v1(cls, doc, version=1):
        """Versions 1, 2 (whose site rows hold the domain after the
        count) and 3 (2 and "sample_bytes")."""
        pid = _field(doc, "pid", _is_int)
        when = _field(doc, "time", _is_finite_number)
        timestamp = _field(doc, "timestamp", _is_str)
        process_memory = _field(doc, "process_memory", _is_optional_size)
        own_memory = _field(doc, "tracemalloc_memory", _is_optional_size)
        limit = _field(doc, "traceback_limit", _is_positive_int)
        user_data = _user_data(doc.get("user_data"))
        sample_bytes = None
        if version >= SAMPLED_FORMAT_VERSION:
            sample_bytes = _field(doc, "sample_bytes", _is_optional_positive)
        filenames = _field(doc, "filenames", _is_list)
        for name in filenames:
            if not isinstance(name, str):
                raise _Invalid("'filenames' holds a %s, not a str"
                               % type(name).__name__)
        frame_rows = _field(doc, "frames", _is_list)
        # The checks of _is_index/_is_size/_is_domain, inline: a report
        # reads thousands of files of 10,000 sites.  JSON gives no int
        # subclass but bool, which "type(x) is int" refuses as they do.
        frames = []
        nfile = len(filenames)
        for row in frame_rows:
            if (type(row) is not list or len(row) != 2
                    or type(row[0]) is not int or not 0 <= row[0] < nfile
                    or type(row[1]) is not int or row[1] < 0):
                raise _Invalid("invalid frame %r" % (row,))
            frames.append((filenames[row[0]], row[1]))
        sites = []
        nframe = len(frames)
        first_frame = 3 if version >= 2 else 2
        for row in _field(doc, "sites", _is_list):
            if (type(row) is not list or len(row) < first_frame + 1
                    or type(row[0]) is not int or row[0] < 0
                    or type(row[1]) is not int or row[1] < 0
                    or (version >= 2 and (type(row[2]) is not int
                                          or not 0 <= row[2] < 2 ** 32))):
                raise _Invalid("invalid site %.80r" % (row,))
            site_frames = []
            for index in row[first_frame:]:
                if type(index) is not int or not 0 <= index < nframe:
                    raise _Invalid("invalid frame index %r" % (index,))
                site_frames.append(frames[index])
            sites.append((tuple(site_frames), row[0], row[1],
                          row[2] if version >= 2 else 0))
        snapshot = cls((), limit, pid=pid, time=float(when),
                       timestamp=timestamp, process_memory=process_memory,
                       tracemalloc_memory=own_memory, user_data=user_data,
                       sample_bytes=sample_bytes)
        snapshot._sites = sites  # already normalized: tuples, never empty
        return snapshot

    @classmethod
    def _from_legacy(cls, doc):
        """A 0.9.1 pickle: {'format_version': 1, 'timestamp': str, 'stats':
        {filename: {lineno: (size, count)}}, 'pid': int,
        ['process_memory': int], ['user_data': list]}."""
        if not isinstance(doc, dict) or "format_version" not in doc:
            raise _Invalid("not a pytracemalloc snapshot (a pickle of %s)"
                           % type(doc).__name__)
        version = doc["format_version"]
        if version != LEGACY_PICKLE_VERSION:
            raise _Invalid("unknown pickle format version %r" % (version,))
        timestamp = _field(doc, "timestamp", _is_str)
        pid = _field(doc, "pid", _is_int)
        process_memory = doc.get("process_memory")
        if not _is_optional_size(process_memory):
            raise _Invalid("invalid 'process_memory' %r" % (process_memory,))
        user_data = _user_data(doc.get("user_data"))
        stats = _field(doc, "stats", _is_dict)
        sites = []
        # 0.9.1 left its own module's lines out of every top, and showed
        # them as "ignore tracemalloc": so do we, for its files.
        own_memory = 0
        for filename, lines in stats.items():
            if filename is None:
                filename = _UNKNOWN_FRAME[0]
            if not isinstance(filename, str) or not isinstance(lines, dict):
                raise _Invalid("invalid stats entry for %.80r" % (filename,))
            own = os.path.basename(filename) == "tracemalloc.py"
            for lineno, value in lines.items():
                if lineno is None:
                    lineno = 0
                if (not _is_size(lineno)
                        or not isinstance(value, (tuple, list))
                        or len(value) != 2
                        or not _is_size(value[0]) or not _is_size(value[1])):
                    raise _Invalid("invalid stats entry %.80r:%.20r"
                                   % (filename, lineno))
                if own:
                    own_memory += value[0]
                else:
                    sites.append((((filename, lineno),), value[0], value[1],
                                  0))
        # 0.9.1 wrote no other time than the timestamp.
        when = _time_of_timestamp(timestamp)
        return cls(sites, 1, pid=pid, time=when, timestamp=timestamp,
                   process_memory=process_memory,
                   tracemalloc_memory=own_memory, user_data=user_data)


# A snapshot of a million sites is some 50 MB of JSON: more than this is a
# compression bomb, refused before it fills the memory.
MAX_DOCUMENT_BYTES = 1 << 30


def _gunzip(data, limit=None):
    """The content of one gzip member, at most ``limit`` bytes."""
    import zlib
    if limit is None:
        limit = MAX_DOCUMENT_BYTES
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        content = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise _Invalid("corrupt compressed file (%s)" % exc) from None
    if len(content) > limit:
        raise _Invalid("refused: decompresses to more than %d bytes" % limit)
    if not inflater.eof:
        raise _Invalid("truncated compressed file")
    if inflater.unused_data:
        raise _Invalid("corrupt compressed file (data after its end)")
    return content


def _refuse_constant(name):
    raise ValueError("%s is not allowed" % name)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_size(value):
    return _is_int(value) and value >= 0


def _is_domain(value):
    return _is_int(value) and 0 <= value < 2 ** 32


def _is_positive_int(value):
    return _is_int(value) and value >= 1


def _is_optional_positive(value):
    return value is None or _is_positive_int(value)


def _is_optional_size(value):
    return value is None or _is_size(value)


def _is_index(value, length):
    return _is_int(value) and 0 <= value < length


def _is_finite_number(value):
    if _is_int(value):
        return abs(value) < 2 ** 63
    return isinstance(value, float) and math.isfinite(value)


def _is_str(value):
    return isinstance(value, str)


def _is_list(value):
    return isinstance(value, list)


def _is_dict(value):
    return isinstance(value, dict)


def _field(document, name, check):
    if name not in document:
        raise _Invalid("missing field %r" % name)
    value = document[name]
    if not check(value):
        raise _Invalid("invalid field %r: %.60r" % (name, value))
    return value


def _user_data(value):
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise _Invalid("invalid field 'user_data': %.60r" % (value,))
    items = []
    for item in value:
        if (not isinstance(item, (list, tuple)) or len(item) != 3
                or not _is_str(item[0]) or not _is_str(item[1])
                or not (_is_int(item[2]) or _is_finite_number(item[2]))):
            raise _Invalid("invalid user data item %.60r" % (item,))
        items.append(tuple(item))
    return items


# First bytes of a pickle that may be a 0.9.1 snapshot or an attack on one:
# a protocol 2+ header, a protocol 0/1 dict, list or tuple, or a protocol 0
# global or instance (refused, with a clear reason).
_PICKLE_STARTS = frozenset([b"\x80", b"(", b"}", b"]", b")", b"c", b"i"])


def _looks_like_text(data):
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.isprintable() or all(c.isprintable() or c in "\t\r\n"
                                     for c in text)


# Opcodes that name, import or call code, or need out-of-band data: a
# 0.9.1 snapshot (a dict of str, int, tuple, list, None) never has them.
_REFUSED_OPCODES = frozenset([
    "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ",
    "NEWOBJ_EX", "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID",
    "NEXT_BUFFER", "READONLY_BUFFER", "BYTEARRAY8",
])
_MEMO_OPCODES = frozenset(["PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET",
                           "LONG_BINGET"])


def _scan_pickle(data):
    """Read the opcodes (pure Python, nothing is built nor run) and refuse
    what a plain-data pickle does not need, before the fast unpickler sees
    it.  Also refuses memo indexes and frame sizes bigger than the file,
    which would make the C unpickler allocate gigabytes for a few bytes."""
    import pickletools
    limit = len(data)
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in _REFUSED_OPCODES:
                what = ("%.60s" % arg).replace(" ", ".") if arg else "code"
                raise _Invalid("refused: the pickle asks for %s (opcode %s), "
                               "a snapshot file is plain data"
                               % (what, opcode.name))
            if opcode.name in _MEMO_OPCODES or opcode.name == "FRAME":
                if not isinstance(arg, int) or not 0 <= arg <= limit:
                    raise _Invalid("truncated or corrupt pickle (%s %r)"
                                   % (opcode.name, arg))
    except _Invalid:
        raise
    except Exception as exc:
        raise _Invalid("truncated or corrupt pickle (%s)" % exc) from None


def _restricted_unpickle(data):
    # Corrupt protocol 0 strings make the decoders warn about invalid
    # escapes: noise about an input that is refused anyway.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _scan_pickle(data)
        return _unpickle_plain_data(data)


def _unpickle_plain_data(data):
    import io
    import pickle

    class PlainDataUnpickler(pickle.Unpickler):
        """Unpickles plain containers and scalars only: every global
        (class, function) is refused, so no code named by the file can
        run (a second line of defence behind _scan_pickle)."""

        def find_class(self, module, name):
            raise pickle.UnpicklingError(
                "refused: the pickle asks for %.60s.%.60s, a snapshot file "
                "is plain data" % (module, name))

        def persistent_load(self, pid):
            raise pickle.UnpicklingError(
                "refused: persistent id in a snapshot")

    try:
        return PlainDataUnpickler(io.BytesIO(data), encoding="utf-8",
                                   errors="surrogateescape").load()
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refused"):
            raise _Invalid("%s (legacy pickle)" % exc) from None
        raise _Invalid("truncated or corrupt pickle (%s)" % exc) from None
    except (RecursionError, MemoryError):
        raise
    except Exception as exc:
        # A corrupt pickle fails in many ways (EOFError, ValueError,
        # KeyError from a bad memo index, struct.error, ...): all of them
        # mean the same thing here.
        raise _Invalid("truncated or corrupt pickle (%s: %s)"
                       % (type(exc).__name__, exc)) from None


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_atomically(filename, data):
    """Write ``data`` to a temporary file in ``filename``'s directory, flush
    and fsync it, then rename it over ``filename``.  On any failure the
    temporary file is removed and ``SnapshotWriteError`` names the path."""
    import tempfile
    path = os.fspath(filename)
    directory = os.path.dirname(path) or "."
    base = os.path.basename(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp",
                                   dir=directory)
        try:
            os.fchmod(fd, _file_mode(path))
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
        _fsync_directory(directory)
    except OSError as exc:
        raise SnapshotWriteError(
            exc.errno if exc.errno is not None else errno.EIO,
            "cannot write the snapshot: %s" % (exc.strerror or exc),
            path) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _file_mode(path):
    """The mode of the file being replaced, else the one a plain open()
    would give (0666 & ~umask), not the 0600 of a temporary file:
    snapshots are read later, by someone else."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    umask = None
    try:
        # Linux 4.7+: read without changing it (os.umask() sets it, which
        # races with other threads creating files).
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
                    break
    except (OSError, ValueError):
        pass
    if umask is None:
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _fsync_directory(directory):
    """Make the rename durable; not every file system allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def take_snapshot():
    """stdlib ``take_snapshot()``: a ``Snapshot`` of everything traced,
    pytracemalloc's own lines included (filter them with ``Filter(False,
    pytracemalloc.__file__)``-like patterns as with stdlib).  RuntimeError
    when not tracing."""
    if not _tracemalloc.is_enabled():
        raise RuntimeError("the tracemalloc module must be tracing memory "
                           "allocations to take a snapshot")
    now, stamp = _now()
    limit = _tracemalloc.get_traceback_limit()
    with _collector_paused():
        sites = _tracemalloc._get_snapshot_sites()
    snapshot = Snapshot(
        (), limit, pid=os.getpid(), time=now, timestamp=stamp,
        tracemalloc_memory=_tracemalloc.get_tracemalloc_memory(),
        sample_bytes=_tracemalloc.get_sample_bytes())
    snapshot._sites = sites  # the engine's tuples, already normalized
    return snapshot
