"""The live figures in Prometheus's text exposition format (version 0.0.4),
for ``GET /metrics`` (pytracemalloc/endpoint.py).

Everything is read from the engine's C statistics at the time of the
call: O(lines), no snapshot.  The top lines are labelled gauges, capped at
MAX_TOP, so that a scrape's cardinality stays bounded whatever the program
does.  The lines of pytracemalloc's own code (the endpoint's own work) are
left out of the top, as snapshots leave them out.
"""

import heapq

from pytracemalloc import _tracemalloc
from pytracemalloc.process import get_process_memory
from pytracemalloc.snapshot import _PACKAGE_DIR

__all__ = ["metrics_text", "DEFAULT_TOP", "MAX_TOP", "CONTENT_TYPE"]

DEFAULT_TOP = 20
MAX_TOP = 1000
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"



def _label_value(text):
    """A label value as the format quotes it: backslash, double quote and
    line feed escaped."""
    return (text.replace("\\", "\\\\").replace("\"", "\\\"")
            .replace("\n", "\\n"))


def _gauge(out, name, help_text, value, kind="gauge"):
    out.append("# HELP %s %s\n# TYPE %s %s\n%s %s\n"
               % (name, help_text, name, kind, name, _number(value)))


def _number(value):
    if isinstance(value, float):
        return repr(value) if value == value else "NaN"
    return str(int(value))


def top_lines(limit):
    """[(size, count, filename, lineno)] of the ``limit`` biggest lines by
    size (the engine's per-line statistics, this package's lines left
    out), biggest first.  One compare per line once the first candidates
    set a floor: a scrape at 10,000 lines builds a few hundred tuples, not
    10,000."""
    if limit <= 0:
        return []
    floor = 0
    candidates = []
    for filename, by_line in _tracemalloc._get_stats().items():
        if filename.startswith(_PACKAGE_DIR):
            continue
        for lineno, figures in by_line.items():
            if figures[0] > floor:
                candidates.append((figures[0], figures[1], filename, lineno))
                if len(candidates) >= 4 * limit:
                    candidates = heapq.nlargest(limit, candidates)
                    floor = candidates[-1][0]
    return heapq.nlargest(limit, candidates)


def metrics_text(top=DEFAULT_TOP):
    """The text of a scrape: tracing state, traced and peak bytes, the
    tracer's own memory, the process's resident memory, the sampling rate,
    the lost allocations, and the ``top`` biggest lines (0 to MAX_TOP)."""
    if not 0 <= top <= MAX_TOP:
        raise ValueError("top must be from 0 to %d, not %r" % (MAX_TOP, top))
    out = []
    tracing = _tracemalloc.is_enabled()
    _gauge(out, "pytracemalloc_tracing",
           "1 while pytracemalloc traces Python memory allocations.",
           1 if tracing else 0)
    traced, peak = _tracemalloc.get_traced_memory()
    _gauge(out, "pytracemalloc_traced_bytes",
           "Size of the traced Python memory blocks alive now (an estimate "
           "in sampled mode).", traced)
    _gauge(out, "pytracemalloc_traced_peak_bytes",
           "Peak of pytracemalloc_traced_bytes since tracing started or "
           "its peak was reset.", peak)
    _gauge(out, "pytracemalloc_tracer_memory_bytes",
           "Memory used by the tracer itself.",
           _tracemalloc.get_tracemalloc_memory())
    rss = get_process_memory()
    if rss is not None:
        _gauge(out, "pytracemalloc_process_resident_bytes",
               "Resident memory of the whole process (RSS).", rss)
    _gauge(out, "pytracemalloc_sample_bytes",
           "Mean bytes between two samples in sampled mode; 0 in exact "
           "mode, where every block is traced.",
           (_tracemalloc.get_sample_bytes() or 0) if tracing else 0)
    _gauge(out, "pytracemalloc_untraced_allocations_total",
           "Allocations that the tracer could not record (out of memory).",
           _tracemalloc.get_untraced_count(), kind="counter")
    if tracing and top:
        lines = top_lines(top)
        for name, index, help_text in (
                ("pytracemalloc_line_bytes", 0,
                 "Traced bytes allocated at a line and alive now, for the "
                 "biggest lines (by the most recent frame)."),
                ("pytracemalloc_line_blocks", 1,
                 "Traced blocks allocated at a line and alive now, for the "
                 "same lines as pytracemalloc_line_bytes.")):
            out.append("# HELP %s %s\n# TYPE %s gauge\n"
                       % (name, help_text, name))
            for line in lines:
                out.append('%s{file="%s",line="%d"} %s\n'
                           % (name, _label_value(line[2]), line[3],
                              _number(line[index])))
    return "".join(out)
