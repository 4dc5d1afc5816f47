"""The top of the lines (or files) holding the most memory: ``DisplayTop``,
in the output formats of pytracemalloc 0.9.1::

    2013-03-04 01:01:55: Top 10 allocations per file and line (compared to trace1.pickle)
    #1: .../2.7/Lib/linecache.py:128: size=408 KiB (+408 KiB), count=5379 (+5379), average=77 B
    ...
    3023 more: size=1580 KiB (+1138 KiB), count=12635 (+7801), average=128 B
    Total Python memory: size=3682 KiB (+3086 KiB), count=36987 (+29908), average=101 B
    Total process memory: size=10 MiB (+1 MiB) (ignore tracemalloc: 23 KiB)
    Video memory: size=229 KiB (+12 KiB)

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

NUMPY_DOMAIN = 389047

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")

# ANSI colors, used only when DisplayTop.color is true.
_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_CYAN = "\x1b[36m"
_GREEN = "\x1b[32m"
_RED = "\x1b[31m"
_YELLOW = "\x1b[33m"


def format_size(size, sign=False):
    """A size in bytes with the largest unit (B, KiB, MiB, GiB, TiB) that
    keeps the number under 5 * 1024: 5119 B, 5 KiB, 408 KiB, 10 MiB.
    With ``sign``, a '+' or '-' prefix (a difference)."""
    value = float(size)
    for unit in _UNITS[:-1]:
        if abs(value) < 5 * 1024:
            break
        value /= 1024
    else:
        unit = _UNITS[-1]
    text = "%.0f %s" % (abs(value), unit)
    if sign:
        return ("-" if size < 0 else "+") + text
    return ("-" if size < 0 else "") + text


def _domain_marker(domain):
    if domain == NUMPY_DOMAIN:
        return "[array data]"
    return "[domain %s]" % domain


def shorten_filename(filename, parts):
    """The last ``parts`` components of a path, after '.../' when some were
    cut: '.../2.7/Lib/linecache.py' for parts=3."""
    if parts is None or parts <= 0:
        return filename
    components = filename.split(os.sep)
    if len(components) <= parts:
        return filename
    return "..." + os.sep + os.sep.join(components[-parts:])


def output_stream(file):
    """(stream, color): ``file`` or sys.stdout, and whether it is a TTY
    (the default of the ``color`` attributes)."""
    stream = sys.stdout if file is None else file
    try:
        color = stream.isatty()
    except (AttributeError, ValueError):
        color = False
    return stream, color


def _is_estimate(snapshot):
    return getattr(snapshot, "sample_bytes", None) is not None


def _sampling_note(snapshot, reference):
    """'one byte in 512 KiB', or what each side sampled when they differ."""
    def one(item):
        if not _is_estimate(item):
            return "exact"
        return "one byte in %s" % format_size(item.sample_bytes)
    mine = one(snapshot)
    if reference is None or one(reference) == mine:
        return mine
    return "%s, reference %s" % (mine, one(reference))


class _Painter:
    def __init__(self, color):
        self.color = color
        self.estimate = False  # traced figures are estimates: mark them

    def __call__(self, text, code):
        if not self.color:
            return text
        return code + text + _RESET

    def diff(self, text, value):
        if not self.color or value == 0:
            return text
        return (_RED if value > 0 else _GREEN) + text + _RESET


class DisplayTop:
    """Display the ``count`` lines (or files) holding the most memory.

    Attributes (0.9.1): ``color`` (default: the stream is a TTY),
    ``compare_with_previous`` (True: compare with the previous top, False:
    with the first one), ``filename_parts`` (3), ``show_average``,
    ``show_count``, ``show_lineno`` (False: group per file), ``show_size``,
    ``user_data_callback`` (see ``Snapshot.create``).
    """

    def __init__(self, count, file=None):
        self.count = count
        self.stream, self.color = output_stream(file)
        self.compare_with_previous = True
        self.filename_parts = 3
        self.show_average = True
        self.show_count = True
        self.show_lineno = False
        self.show_size = True
        self.user_data_callback = None
        self._first = None
        self._previous = None

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

    # --- snapshots ---------------------------------------------------------

    def display_snapshot(self, snapshot, count=None, file=None,
                         reference=None, reference_name=None):
        """Display the top of ``snapshot``.  It is compared with
        ``reference`` when given, else with the previous snapshot this
        object displayed (or the first one, when compare_with_previous is
        false); ``reference_name`` names the reference in the header (its
        timestamp by default)."""
        if reference is None:
            reference = (self._previous if self.compare_with_previous
                         else self._first)
        if reference is not None and reference_name is None:
            reference_name = reference.timestamp
        stream = self.stream if file is None else file
        lines = self.format_snapshot(
            snapshot, self.count if count is None else count, reference,
            reference_name)
        stream.write("".join(line + "\n" for line in lines))
        stream.flush()
        if self._first is None:
            self._first = snapshot
        self._previous = snapshot

    def format_snapshot(self, snapshot, count, reference=None,
                        reference_name=None):
        """The lines of the top of ``snapshot`` (see the module's doc)."""
        paint = _Painter(self.color)
        compare = reference is not None
        paint.estimate = _is_estimate(snapshot) or (
            compare and _is_estimate(reference))
        groups = self._group(snapshot)
        old_groups = self._group(reference) if compare else {}
        rows = []
        for key, (size, blocks) in groups.items():
            old_size, old_blocks = old_groups.get(key, (0, 0))
            rows.append((key, size, blocks, size - old_size,
                         blocks - old_blocks))
        for key, (old_size, old_blocks) in old_groups.items():
            if key not in groups:
                rows.append((key, 0, 0, -old_size, -old_blocks))
        if compare:
            rows.sort(key=lambda row: (row[3], row[1], row[0]), reverse=True)
        else:
            rows.sort(key=lambda row: (row[1], row[2], row[0]), reverse=True)

        what = "file and line" if self.show_lineno else "file"
        header = "%s: Top %s allocations per %s" % (
            snapshot.timestamp, count, what)
        if compare:
            header += " (compared to %s)" % reference_name
        if paint.estimate:
            header += " (estimates: sampled, %s)" % _sampling_note(
                snapshot, reference)
        lines = [paint(header, _BOLD)]
        shown = rows[:count]
        for rank, (key, size, blocks, size_diff, blocks_diff) in enumerate(
                shown, 1):
            name = paint(shorten_filename(key[0], self.filename_parts), _CYAN)
            if self.show_lineno:
                name += ":" + paint(str(key[1]), _YELLOW)
            if key[2]:
                name += " " + paint(_domain_marker(key[2]), _YELLOW)
            lines.append("#%s: %s: %s" % (
                rank, name, self._format_values(
                    paint, compare, size, size_diff, blocks, blocks_diff)))

        rest = rows[count:]
        if rest:
            lines.append("%s more: %s" % (len(rest), self._format_values(
                paint, compare, *self._sums(rest))))
        lines.append("Total Python memory: %s" % self._format_values(
            paint, compare, *self._sums(rows)))
        lines.extend(self._domain_lines(paint, compare, rows))
        lines.extend(self._process_lines(paint, snapshot, reference))
        lines.extend(self._user_data_lines(paint, snapshot, reference))
        return lines

    def _group(self, snapshot):
        """{(filename, lineno or 0, domain): (size, blocks)}."""
        groups = {}
        for frames, size, blocks, domain in snapshot._sites:
            filename, lineno = frames[0]
            key = (filename, lineno if self.show_lineno else 0, domain)
            old_size, old_blocks = groups.get(key, (0, 0))
            groups[key] = (old_size + size, old_blocks + blocks)
        return groups

    def _domain_lines(self, paint, compare, rows):
        """One total per domain other than CPython's, when there is one."""
        domains = sorted({row[0][2] for row in rows if row[0][2]})
        lines = []
        for domain in domains:
            sums = self._sums([row for row in rows if row[0][2] == domain])
            what = ("array data" if domain == NUMPY_DOMAIN
                    else "domain %s" % domain)
            lines.append("  of which %s: %s" % (
                what, self._format_values(paint, compare, *sums)))
        return lines

    @staticmethod
    def _sums(rows):
        return (sum(row[1] for row in rows), sum(row[3] for row in rows),
                sum(row[2] for row in rows), sum(row[4] for row in rows))

    def _format_values(self, paint, compare, size, size_diff, blocks,
                       blocks_diff):
        mark = "~" if paint.estimate else ""
        parts = []
        if self.show_size:
            text = "size=" + mark + paint(format_size(size), _BOLD)
            if compare:
                text += " (%s%s)" % (mark, paint.diff(
                    format_size(size_diff, True), size_diff))
            parts.append(text)
        if self.show_count:
            text = "count=%s%s" % (mark, blocks)
            if compare:
                text += " (%s%s)" % (mark, paint.diff("%+d" % blocks_diff,
                                                      blocks_diff))
            parts.append(text)
        if self.show_average and blocks:
            parts.append("average=%s%s" % (mark, format_size(size / blocks)))
        return ", ".join(parts)

    @staticmethod
    def _process_lines(paint, snapshot, reference):
        memory = snapshot.process_memory
        if memory is None:
            return []
        text = "Total process memory: size=%s" % paint(format_size(memory),
                                                        _BOLD)
        if reference is not None and reference.process_memory is not None:
            diff = memory - reference.process_memory
            text += " (%s)" % paint.diff(format_size(diff, True), diff)
        tracer = snapshot.tracemalloc_memory
        if tracer is not None:
            text += " (ignore tracemalloc: %s)" % format_size(tracer)
        return [text]

    @staticmethod
    def _user_data_lines(paint, snapshot, reference):
        old_values = {}
        if reference is not None and reference.user_data:
            old_values = {title: value
                          for title, format_, value in reference.user_data}
        lines = []
        for title, format_, value in snapshot.user_data or ():
            if format_ == "size":
                text = "%s: size=%s" % (title, paint(format_size(value),
                                                     _BOLD))
                if title in old_values:
                    diff = value - old_values[title]
                    text += " (%s)" % paint.diff(format_size(diff, True),
                                                 diff)
            else:
                text = "%s: %s" % (title, value)
                if title in old_values and isinstance(value, (int, float)):
                    text += " (%+g)" % (value - old_values[title])
            lines.append(text)
        return lines
