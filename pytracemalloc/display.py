"""The top of the lines (or files) holding the most memory: ``DisplayTop``,
in the output formats of pytracemalloc 0.9.1, line for line::

    2013-03-04 01:01:55: Top 10 allocations per file and line (compared to 2013-03-04 01:00:55)
    #1: .../2.7/Lib/linecache.py:128: size=408 KiB (+408 KiB), count=5379 (+5379), average=77 B
    ...
    3023 more: size=1580 KiB (+1138 KiB), count=12635 (+7801), average=128 B
    Total Python memory: size=3682 KiB (+3086 KiB), count=36987 (+29908), average=101 B
    Total process memory: size=10 MiB (+1 MiB) (ignore tracemalloc: 23 KiB)
    Video memory: size=229 KiB (+12 KiB)
    <an empty line>

Every top ends with an empty line, so that tops written one after the
other into a log stay apart.  Without the process memory, the line after
the total is ``Ignore tracemalloc: SIZE``.

numpy's array data (domain 389047, see README.rst) is shown apart from the
Python objects of the same line, marked "[array data]", and totalled under
the total; blocks that other extensions report are marked "[domain N]".
Without such blocks the output is 0.9.1's::

    2026-12-01 20:40:12: Top 10 allocations per file and line
    #1: .../numpy/_core/numeric.py:232 [array data]: size=76 MiB, count=1, average=76 MiB
    #2: .../examples/pipeline.py:12 [array data]: size=38 MiB, count=1, average=38 MiB
    #3: <frozen importlib._bootstrap_external>:729: size=3658 KiB, count=20116, average=186 B
    ...
    Total Python memory: size=121 MiB, count=43001, average=2968 B
      of which array data: size=114 MiB, count=2, average=57 MiB

A sampled snapshot (``sample_bytes`` set) shows estimates: the header
says so and every traced figure gets a ``~``::

    2013-03-04 01:01:55: Top 10 allocations per file (estimates: sampled, one byte in 512 KiB)
    #1: .../2.7/Lib/linecache.py: size=~408 KiB (~+408 KiB), count=~5379 (~+5379), average=~77 B
"""

import os
import sys

from pytracemalloc import tasks
from pytracemalloc.domains import domain_name

# The three ANSI styles of 0.9.1, used only when ``color`` is true: sizes
# are yellow (bold when followed by their difference, which is yellow),
# headers and directories cyan, the snapshot's name bold.
_YELLOW = "\x1b[1;33m%s\x1b[0m"
_BOLD = "\x1b[1m%s\x1b[0m"
_CYAN = "\x1b[36m%s\x1b[0m"


def format_size(size, sign=False):
    """A size in bytes in the largest unit (B, KiB, MiB, GiB, TiB) that
    keeps it under 5 * 1024, truncated toward zero: 5119 B, 5 KiB (for
    6000 B), 10 MiB.  With ``sign``, always a '+' or '-' (a difference)."""
    value = size
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 5 * 1024:
            break
        value /= 1024
    else:
        unit = "TiB"
    return ("%+d %s" if sign else "%d %s") % (int(value), unit)


def _paint(style, text, color):
    return style % text if color else text


def _size_text(size, diff, color, mark=""):
    """The size, then its signed difference in parentheses when ``diff`` is
    not None; ``mark`` ("~" for estimates) before each."""
    if diff is None:
        return mark + _paint(_YELLOW, format_size(size), color)
    return "%s%s (%s%s)" % (mark, _paint(_BOLD, format_size(size), color),
                            mark, _paint(_YELLOW, format_size(diff, True),
                                         color))


def colorize_filename(filename):
    """The directory part cyan, the base name (with its ':line') plain."""
    path, basename = os.path.split(filename)
    if path:
        path += os.path.sep
    return _CYAN % path + basename


def shorten_filename(filename, parts):
    """The last ``parts`` components of a path after '...' when some were
    cut: '.../2.7/Lib/linecache.py' for parts=3.  ``parts`` None, 0 or
    negative: the whole filename."""
    if parts is None or parts <= 0:
        return filename
    components = filename.split(os.path.sep)
    if parts < len(components):
        components = ["..."] + components[-parts:]
    return os.path.sep.join(components)


def output_stream(file):
    """(stream, color): ``file`` or sys.stdout, and whether it is a TTY
    (the default of the ``color`` attributes)."""
    stream = sys.stdout if file is None else file
    try:
        color = bool(stream.isatty())
    except (AttributeError, ValueError):
        color = False
    return stream, color


def _is_estimate(snapshot):
    return getattr(snapshot, "sample_bytes", None) is not None


def sampling_text(sample_bytes):
    """'one byte in 512 KiB': the sampled mode of N = ``sample_bytes``."""
    return "one byte in %s" % format_size(sample_bytes)


def _sampling_note(snapshot, reference):
    """'one byte in 512 KiB', or what each side sampled when they differ."""
    def one(item):
        if not _is_estimate(item):
            return "exact"
        return sampling_text(item.sample_bytes)
    mine = one(snapshot)
    if reference is None or one(reference) == mine:
        return mine
    return "%s, reference %s" % (mine, one(reference))


def _adjusted_process_memory(snapshot):
    """The process memory without pytracemalloc's own, or None."""
    memory = snapshot.process_memory
    if not memory:
        return None
    return memory - (getattr(snapshot, "tracemalloc_memory", None) or 0)


def _sort_key(key):
    filename, lineno, domain, function = key
    return filename, -1 if lineno is None else lineno, domain, function or ""


def _lines_of(snapshot):
    """((filename, lineno), size, count, domain, function) of every site
    of a snapshot, function the most recent frame's name ("" when
    unknown): its sites keep the domain (numpy's array data apart from
    Python objects); a snapshot made from 0.9.1's stats dict has none."""
    sites = getattr(snapshot, "_sites", None)
    if sites is not None:
        for frames, size, blocks, domain, functions in sites:
            yield (frames[0], size, blocks, domain,
                   functions[0] if functions else "")
        return
    for filename, lines in snapshot.stats.items():
        for lineno, (size, blocks) in lines.items():
            yield (filename, lineno), size, blocks, 0, ""


class DisplayTop:
    """Display the ``top_count`` lines (or files) holding the most memory.

    Attributes (0.9.1): ``top_count``, ``stream`` (``file`` or
    sys.stdout), ``color`` (default: the stream is a TTY),
    ``compare_with_previous`` (True: compare with the previous top, False:
    with the first one), ``filename_parts`` (3), ``show_average``,
    ``show_count``, ``show_lineno`` (False: group per file), ``show_size``,
    ``user_data_callback`` (see ``Snapshot.create``).  Ours:
    ``show_function`` (False by default, so the output stays 0.9.1's):
    name each line's function, ``file:line (function)``, or without
    show_lineno group per file and function, ``file (function)``; "?"
    where the snapshot has no names.
    """

    def __init__(self, top_count, file=None):
        self.top_count = top_count
        self.stream, self.color = output_stream(file)
        self.compare_with_previous = True
        self.filename_parts = 3
        self.show_average = True
        self.show_count = True
        self.show_lineno = False
        self.show_function = False
        self.show_size = True
        self.user_data_callback = None
        # (snapshot, name) of the first and of the previous top displayed.
        self._first = None
        self._previous = None

    @property
    def count(self):
        """Older name of ``top_count``."""
        return self.top_count

    @count.setter
    def count(self, value):
        self.top_count = value

    # --- 0.9.1 API -------------------------------------------------------

    def display(self):
        """Take a snapshot now and display its top, compared with the
        previous (or first) one displayed by this object."""
        from pytracemalloc.snapshot import Snapshot
        snapshot = Snapshot.create(self.user_data_callback)
        self.display_snapshot(snapshot)

    def start(self, delay):
        """Display the top every ``delay`` seconds (allocation-driven)."""
        tasks.schedule(self.display, delay)

    def stop(self):
        """Stop the task started by ``start()``."""
        tasks.unschedule(self.display)

    def cleanup_filename(self, filename):
        """``filename`` cut to its last ``filename_parts`` components."""
        return shorten_filename(filename, self.filename_parts)

    # --- snapshots ---------------------------------------------------------

    def display_snapshot(self, snapshot, count=None, file=None,
                         reference=None, reference_name=None,
                         show_pid=False):
        """Display the top of ``snapshot``, then an empty line.  It is
        compared with ``reference`` when given, else with the previous
        snapshot this object displayed (or the first one, when
        compare_with_previous is false); ``reference_name`` names the
        reference in the header (by default the name it was displayed
        with: its timestamp).  ``show_pid`` adds ' [pid N]' to the name."""
        name = snapshot.timestamp
        if show_pid:
            name += " [pid %s]" % snapshot.pid
        if reference is None:
            remembered = (self._previous if self.compare_with_previous
                          else self._first)
            if remembered is not None:
                reference, remembered_name = remembered
                if reference_name is None:
                    reference_name = remembered_name
        elif reference_name is None:
            reference_name = reference.timestamp
        stream = self.stream if file is None else file
        lines = self.format_snapshot(
            snapshot, self.top_count if count is None else count, reference,
            reference_name, name=name)
        stream.write("".join(line + "\n" for line in lines) + "\n")
        stream.flush()
        if self._first is None:
            self._first = (snapshot, name)
        self._previous = (snapshot, name)

    def format_snapshot(self, snapshot, count, reference=None,
                        reference_name=None, name=None):
        """The lines of the top of ``snapshot`` (see the module's doc),
        without the empty line that ends it.  ``name`` starts the header
        (default: the snapshot's timestamp)."""
        color = self.color
        compare = reference is not None
        count = max(count, 0)
        rows = self._rows(snapshot, reference)
        estimate = _is_estimate(snapshot) or (compare
                                              and _is_estimate(reference))

        what = "file and line" if self.show_lineno else "file"
        if self.show_function:
            what = ("file, line and function" if self.show_lineno
                    else "function")
        text = _paint(_CYAN, "Top %s allocations per %s"
                      % (min(count, len(rows)), what), color)
        if compare:
            text += " (compared to %s)" % (
                reference.timestamp if reference_name is None
                else reference_name)
        if estimate:
            text += " (estimates: sampled, %s)" % _sampling_note(
                snapshot, reference)
        if name is None:
            name = snapshot.timestamp
        lines = ["%s: %s" % (_paint(_BOLD, name, color), text)]

        for index, ((filename, lineno, domain, function), trace) in enumerate(
                rows[:count]):
            filename = self.cleanup_filename(filename)
            if self.show_lineno:
                filename = "%s:%s" % (filename,
                                      "?" if lineno is None else lineno)
            if self.show_function:
                filename = "%s (%s)" % (filename, function or "?")
            if color:
                filename = colorize_filename(filename)
            if domain:
                filename += " " + _paint(
                    _YELLOW, "[%s]" % domain_name(domain), color)
            lines.append("#%s: %s: %s" % (
                1 + index, filename,
                self._format_trace(trace, compare, estimate)))
        if len(rows) > count:
            lines.append("%s more: %s" % (
                len(rows) - count,
                self._format_trace(self._sum(rows[count:]), compare,
                                   estimate)))
        lines.append("Total Python memory: %s"
                     % self._format_trace(self._sum(rows), compare, estimate))
        for domain in sorted({key[2] for key, _ in rows if key[2]}):
            lines.append("  of which %s: %s" % (
                domain_name(domain), self._format_trace(
                    self._sum([row for row in rows if row[0][2] == domain]),
                    compare, estimate)))
        lines.append(self._process_line(snapshot, reference, compare))
        lines.extend(self._user_data_lines(snapshot, reference, compare))
        return lines

    def _group(self, snapshot):
        """{(filename, lineno or None per file, domain, function or None):
        (size, count)}."""
        groups = {}
        for (filename, lineno), size, blocks, domain, function in _lines_of(
                snapshot):
            key = (filename, lineno if self.show_lineno else None, domain,
                   function if self.show_function else None)
            old_size, old_blocks = groups.get(key, (0, 0))
            groups[key] = (old_size + size, old_blocks + blocks)
        return groups

    def _rows(self, snapshot, reference):
        """[(key, (size diff, size, count diff, count))], biggest first:
        by that tuple, descending, as 0.9.1; ties by key."""
        groups = self._group(snapshot)
        old = self._group(reference) if reference is not None else None
        rows = []
        for key in sorted(groups, key=_sort_key):
            size, blocks = groups[key]
            if old is None:
                rows.append((key, (0, size, 0, blocks)))
            else:
                old_size, old_blocks = old.pop(key, (0, 0))
                rows.append((key, (size - old_size, size,
                                   blocks - old_blocks, blocks)))
        for key in sorted(old or (), key=_sort_key):
            old_size, old_blocks = old[key]
            rows.append((key, (-old_size, 0, -old_blocks, 0)))
        rows.sort(key=lambda row: row[1], reverse=True)
        return rows

    @staticmethod
    def _sum(rows):
        return tuple(sum(trace[i] for _, trace in rows) for i in range(4))

    def _format_trace(self, trace, show_diff, estimate=False):
        """The values of a row; trace is (size diff, size, count diff,
        count).  Estimates (a sampled snapshot) are marked "~"."""
        mark = "~" if estimate else ""
        size_diff, size, count_diff, count = trace
        diff = size_diff if show_diff else None
        if not self.show_count and not self.show_average:
            return _size_text(size, diff, self.color, mark)
        parts = []
        if self.show_size:
            parts.append("size=%s" % _size_text(size, diff, self.color,
                                                mark))
        if self.show_count and (count or count_diff):
            text = "count=%s%s" % (mark, count)
            if show_diff:
                text += " (%s%+d)" % (mark, count_diff)
            parts.append(text)
        if self.show_average and count > 1:
            parts.append("average=%s%s" % (mark, format_size(size // count)))
        return ", ".join(parts)

    def _process_line(self, snapshot, reference, compare):
        own = format_size(getattr(snapshot, "tracemalloc_memory", None) or 0)
        memory = _adjusted_process_memory(snapshot)
        if memory is None:
            return _paint(_CYAN, "Ignore tracemalloc: %s" % own, self.color)
        diff = 0
        if compare:
            old = _adjusted_process_memory(reference)
            diff = memory - (old or 0)
        text = self._format_trace((diff, memory, 0, 0), compare)
        return "Total process memory: %s%s" % (
            text, _paint(_CYAN, " (ignore tracemalloc: %s)" % own,
                         self.color))

    def _user_data_lines(self, snapshot, reference, compare):
        old_data = (reference.user_data or []) if compare else []
        lines = []
        for index, (title, format_, value) in enumerate(
                snapshot.user_data or ()):
            if format_ == "size":
                diff = 0
                if compare:
                    old = (old_data[index][2] if index < len(old_data)
                           else 0)
                    diff = value - old
                text = self._format_trace((diff, value, 0, 0), compare)
            else:
                text = str(value)
            lines.append("%s: %s" % (title, text))
        return lines
