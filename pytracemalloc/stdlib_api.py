"""The vocabulary of CPython's stdlib ``tracemalloc`` (3.11+), on our engine.

``import pytracemalloc as tracemalloc`` gives the names of the stdlib
module: ``start``/``stop``/``is_tracing``, ``get_object_traceback``, and the
value classes ``Frame``, ``Traceback``, ``Statistic``, ``StatisticDiff``,
``Filter`` and ``DomainFilter``.  ``Snapshot`` and ``take_snapshot`` live in
pytracemalloc.snapshot (one ``Snapshot`` class serves this API and the
0.9.1 one).

The semantics follow the stdlib documentation; the implementation is ours.
A "site" of the engine (one distinct traceback with the total size and
number of the live blocks allocated there) plays the role of the stdlib's
per-block traces: every block of a site shares its traceback and its domain
(0 for CPython's allocators, 389047 for numpy's array data, or the domain
an extension reported its blocks in), so filtering and grouping sites gives
the same answers as doing it per block, in O(sites).
"""

import functools
import os
from collections.abc import Iterable, Sequence

from pytracemalloc._engine import engine as _tracemalloc

__all__ = [
    "Frame", "Traceback", "Statistic", "StatisticDiff",
    "EstimatedStatistic", "EstimatedStatisticDiff",
    "BaseFilter", "Filter", "DomainFilter",
    "start", "stop", "is_tracing", "get_object_traceback",
]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def _format_size(size, sign):
    """A size the way stdlib tracemalloc prints it: 3 significant digits
    ("12.3 KiB") below 100 of a unit other than bytes, else a whole number
    while under 10 * 1024 of the unit; ``sign`` adds "+" to positive
    values."""
    value = size
    for unit in _UNITS:
        last = unit == _UNITS[-1]
        if unit != "B" and abs(value) < 100:
            return ("%+.1f %s" if sign else "%.1f %s") % (value, unit)
        if abs(value) < 10 * 1024 or last:
            return ("%+.0f %s" if sign else "%.0f %s") % (value, unit)
        value /= 1024
    raise AssertionError("unreachable")


@functools.total_ordering
class Frame:
    """One frame of a traceback: ``filename`` (str), ``lineno`` (int) and
    ``function``, the qualified name of its function (``co_qualname``:
    ``"Class.method"``, ``"outer.<locals>.inner"``), or None when unknown
    (a snapshot file of format version 3 or older, a frame of no code).

    ``Frame((filename, lineno))`` as in the stdlib; ``Frame(filename,
    lineno)`` and ``Frame(frame, function=name)`` are accepted too.  As in
    the stdlib, frames compare, sort and hash by (filename, lineno) only:
    the name rides along.  The frames of ``statistics("function")`` are
    the exception: they stand for a whole function, so their identity is
    (filename, 0, function) and their ``lineno`` is 0."""

    __slots__ = ("_frame", "_function")

    def __init__(self, frame, lineno=None, function=None):
        if lineno is not None:
            frame = (frame, lineno)
        self._frame = tuple(frame)
        if function is None and len(self._frame) > 2:
            function = self._frame[2]
        self._function = function or None

    @property
    def filename(self):
        return self._frame[0]

    @property
    def lineno(self):
        return self._frame[1]

    @property
    def function(self):
        return self._function

    def __eq__(self, other):
        if not isinstance(other, Frame):
            return NotImplemented
        return self._frame == other._frame

    def __lt__(self, other):
        if not isinstance(other, Frame):
            return NotImplemented
        return self._frame < other._frame

    def __hash__(self):
        return hash(self._frame)

    def __str__(self):
        if len(self._frame) > 2:
            return "%s (%s)" % (self._frame[0], self._function or "?")
        return "%s:%s" % self._frame

    def __repr__(self):
        if len(self._frame) > 2:
            return "<Frame filename=%r function=%r>" % (self._frame[0],
                                                        self._function)
        return "<Frame filename=%r lineno=%r>" % self._frame


@functools.total_ordering
class Traceback(Sequence):
    """A sequence of ``Frame``, ordered from the oldest call to the most
    recent one (the stdlib order since Python 3.7).

    The constructor takes raw ``(filename, lineno)`` tuples MOST RECENT
    FIRST, as the engine and the stdlib constructor do.  ``total_nframe``
    is the depth of the stack before it was cut to the traceback limit, or
    None when unknown (our engine does not count it).  ``functions``, when
    given, names the function of each frame (same order as ``frames``,
    "" or None where unknown): it gives the frames their ``function`` and
    takes no part in equality, hashing or order."""

    __slots__ = ("_frames", "_total_nframe", "_functions")

    def __init__(self, frames, total_nframe=None, functions=None):
        # Stored oldest first, so indexing is the sequence order.
        self._frames = tuple(tuple(frame) for frame in reversed(tuple(frames)))
        self._total_nframe = total_nframe
        if functions is not None:
            functions = tuple(reversed(tuple(functions)))
            if len(functions) != len(self._frames):
                raise ValueError("one function name per frame: %d frames, "
                                 "%d names" % (len(self._frames),
                                               len(functions)))
        self._functions = functions

    @classmethod
    def _from_oldest_first(cls, raw_frames, total_nframe=None):
        traceback = cls.__new__(cls)
        traceback._frames = raw_frames
        traceback._total_nframe = total_nframe
        return traceback

    @property
    def total_nframe(self):
        return self._total_nframe

    def __len__(self):
        return len(self._frames)

    def __getitem__(self, index):
        # Tracebacks made by statistics() may have no _functions slot set:
        # the names are filled in only where the snapshot has them.
        functions = getattr(self, "_functions", None)
        if isinstance(index, slice):
            if functions is None:
                return tuple(Frame(frame) for frame in self._frames[index])
            return tuple(Frame(frame, function=name) for frame, name
                         in zip(self._frames[index], functions[index]))
        if functions is None:
            return Frame(self._frames[index])
        return Frame(self._frames[index], function=functions[index])

    def __contains__(self, frame):
        return isinstance(frame, Frame) and frame._frame in self._frames

    def __hash__(self):
        return hash(self._frames)

    def __eq__(self, other):
        if not isinstance(other, Traceback):
            return NotImplemented
        return self._frames == other._frames

    def __lt__(self, other):
        if not isinstance(other, Traceback):
            return NotImplemented
        return self._frames < other._frames

    def __str__(self):
        return str(self[0])

    def __repr__(self):
        text = "<Traceback %r" % (tuple(self),)
        if self._total_nframe is None:
            return text + ">"
        return text + " total_nframe=%s>" % self._total_nframe

    def format(self, limit=None, most_recent_first=False):
        """Lines like the ``traceback`` module's: '  File "f", line n' and
        the source line when linecache finds it.  ``limit`` > 0 keeps the
        ``limit`` most recent frames, < 0 the ``-limit`` oldest ones."""
        frames = self._frames
        if limit is not None:
            frames = frames[-limit:] if limit > 0 else frames[:limit]
        if most_recent_first:
            frames = frames[::-1]
        import linecache
        lines = []
        for frame in frames:
            filename, lineno = frame[0], frame[1]
            lines.append('  File "%s", line %s' % (filename, lineno))
            source = linecache.getline(filename, lineno).strip()
            if source:
                lines.append("    " + source)
        return lines


class Statistic:
    """Memory held by the blocks grouped under one ``traceback`` key:
    ``size`` in bytes and ``count`` blocks."""

    __slots__ = ("traceback", "size", "count")

    def __init__(self, traceback, size, count):
        self.traceback = traceback
        self.size = size
        self.count = count

    def __hash__(self):
        return hash((self.traceback, self.size, self.count))

    def __eq__(self, other):
        if not isinstance(other, Statistic):
            return NotImplemented
        return (self.traceback == other.traceback
                and self.size == other.size and self.count == other.count)

    def __str__(self):
        text = "%s: size=%s, count=%i" % (
            self.traceback, _format_size(self.size, False), self.count)
        if self.count:
            text += ", average=%s" % _format_size(self.size / self.count,
                                                  False)
        return text

    def __repr__(self):
        return "<Statistic traceback=%r size=%i count=%i>" % (
            self.traceback, self.size, self.count)

    def _sort_key(self):
        return (self.size, self.count, self.traceback)


class StatisticDiff:
    """A key's statistic in a new snapshot and its difference with an old
    one: ``size``, ``size_diff``, ``count``, ``count_diff``,
    ``traceback``."""

    __slots__ = ("traceback", "size", "size_diff", "count", "count_diff")

    def __init__(self, traceback, size, size_diff, count, count_diff):
        self.traceback = traceback
        self.size = size
        self.size_diff = size_diff
        self.count = count
        self.count_diff = count_diff

    def _values(self):
        return (self.traceback, self.size, self.size_diff, self.count,
                self.count_diff)

    def __hash__(self):
        return hash(self._values())

    def __eq__(self, other):
        if not isinstance(other, StatisticDiff):
            return NotImplemented
        return self._values() == other._values()

    def __str__(self):
        text = "%s: size=%s (%s), count=%i (%+i)" % (
            self.traceback, _format_size(self.size, False),
            _format_size(self.size_diff, True), self.count, self.count_diff)
        if self.count:
            text += ", average=%s" % _format_size(self.size / self.count,
                                                  False)
        return text

    def __repr__(self):
        return ("<StatisticDiff traceback=%r size=%i (%+i) count=%i (%+i)>"
                % (self.traceback, self.size, self.size_diff, self.count,
                   self.count_diff))

    def _sort_key(self):
        return (abs(self.size_diff), self.size, abs(self.count_diff),
                self.count, self.traceback)


def _estimated(statistic, text):
    """'~' before every figure of a formatted statistic: 'a.py:3:
    size=~12.3 KiB (~+1.0 KiB), count=~5 (~+1), average=~2.5 KiB'.  The
    traceback at the start (a filename may hold anything) is kept as is."""
    import re
    head = str(statistic.traceback)
    return head + re.sub(r"(=|\()(?=[-+]?\d)", r"\1~", text[len(head):])


class EstimatedStatistic(Statistic):
    """A ``Statistic`` of a sampled snapshot: ``size`` and ``count`` are
    unbiased estimates (ints), shown with ``~``."""

    __slots__ = ()

    def __str__(self):
        return _estimated(self, super().__str__())

    def __repr__(self):
        return "<EstimatedStatistic traceback=%r size=~%i count=~%i>" % (
            self.traceback, self.size, self.count)


class EstimatedStatisticDiff(StatisticDiff):
    """A ``StatisticDiff`` where either snapshot is sampled: estimates,
    shown with ``~``."""

    __slots__ = ()

    def __str__(self):
        return _estimated(self, super().__str__())

    def __repr__(self):
        return ("<EstimatedStatisticDiff traceback=%r size=~%i (~%+i) "
                "count=~%i (~%+i)>"
                % (self.traceback, self.size, self.size_diff, self.count,
                   self.count_diff))


class BaseFilter:
    """What every filter has: ``inclusive`` (True: keep what matches,
    False: drop what matches)."""

    def __init__(self, inclusive):
        self.inclusive = inclusive

    def _match(self, raw_frames, domain):
        raise NotImplementedError


def _normalize_filename(filename):
    filename = os.path.normcase(filename)
    if filename.endswith(".pyc"):
        filename = filename[:-1]
    return filename


class Filter(BaseFilter):
    """Filter on the filename (fnmatch pattern) and optionally the line
    number of the most recent frame, or of any frame with ``all_frames``,
    and optionally on the domain (0: CPython's allocators; 389047: numpy's
    array data)."""

    def __init__(self, inclusive, filename_pattern, lineno=None,
                 all_frames=False, domain=None):
        super().__init__(inclusive)
        self._filename_pattern = _normalize_filename(filename_pattern)
        self.lineno = lineno
        self.all_frames = all_frames
        self.domain = domain

    @property
    def filename_pattern(self):
        return self._filename_pattern

    def _frame_matches(self, frame):
        from fnmatch import fnmatch  # imported when first used
        filename, lineno = frame
        if not fnmatch(filename, self._filename_pattern):
            return False
        return self.lineno is None or lineno == self.lineno

    def _match(self, raw_frames, domain):
        """Whether the blocks of one site (raw frames, most recent first)
        pass this filter."""
        if self.all_frames:
            found = any(self._frame_matches(frame) for frame in raw_frames)
        else:
            found = bool(raw_frames) and self._frame_matches(raw_frames[0])
        passes = found if self.inclusive else not found
        if self.domain is None:
            return passes
        if self.inclusive:
            return passes and domain == self.domain
        return passes or domain != self.domain


class DomainFilter(BaseFilter):
    """Keep (``inclusive``) or drop the blocks of one allocator domain:
    ``DomainFilter(True, 389047)`` keeps numpy's array data only,
    ``DomainFilter(False, 389047)`` drops it."""

    def __init__(self, inclusive, domain):
        super().__init__(inclusive)
        self._domain = domain

    @property
    def domain(self):
        return self._domain

    def _match(self, raw_frames, domain):
        return (domain == self._domain) == bool(self.inclusive)


def _check_filters(filters):
    if not isinstance(filters, Iterable):
        raise TypeError("filters must be a list of filters, not %s"
                        % type(filters).__name__)
    filters = list(filters)
    for item in filters:
        if not isinstance(item, BaseFilter):
            raise TypeError("expected a Filter or DomainFilter, not %s"
                            % type(item).__name__)
    return filters


def _site_passes(include, exclude, raw_frames, domain=0):
    """stdlib rule: kept when it matches at least one inclusive filter (if
    there is any) and passes every exclusive one."""
    if include and not any(f._match(raw_frames, domain) for f in include):
        return False
    return all(f._match(raw_frames, domain) for f in exclude)


class _ModeKept:
    def __repr__(self):
        return "<the running mode>"


_MODE_KEPT = _ModeKept()


def start(nframe=1, *, sample_bytes=_MODE_KEPT, native=_MODE_KEPT):
    """Start tracing with tracebacks of at most ``nframe`` frames
    (1..MAX_NFRAME, else ValueError).  Same switch as ``enable()``:
    ``sample_bytes=N`` traces in sampled mode (one byte in N on average,
    every figure an unbiased estimate), None exactly; not given, exact
    mode when starting and the running mode while tracing.  Asking for
    another mode while tracing is a RuntimeError: disable() first.
    ``native=True`` traces native memory too (the blocks extensions and
    their libraries take from libc, in ``NATIVE_DOMAIN``); not given, off
    when starting and unchanged while tracing."""
    if isinstance(nframe, bool) or not isinstance(nframe, int):
        raise TypeError("nframe must be an int, not %s"
                        % type(nframe).__name__)
    if not 1 <= nframe <= _tracemalloc.MAX_NFRAME:
        raise ValueError("the number of frames must be in range [1; %d]"
                         % _tracemalloc.MAX_NFRAME)
    options = {}
    if sample_bytes is not _MODE_KEPT:
        options["sample_bytes"] = sample_bytes
    if native is not _MODE_KEPT:
        options["native"] = native
    _tracemalloc.enable(nframe, **options)


def stop():
    """Stop tracing and forget the traces.  Same switch as ``disable()``."""
    _tracemalloc.disable()


def is_tracing():
    """True while memory allocations are traced.  Same as
    ``is_enabled()``."""
    return _tracemalloc.is_enabled()


def get_object_traceback(obj):
    """The ``Traceback`` where ``obj`` was allocated, or None when it was
    not traced."""
    named = _tracemalloc._get_object_named_traceback(obj)
    if named is None:
        return None
    frames, functions = named
    return Traceback(frames, functions=functions)
