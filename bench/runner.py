"""Run one workload once, under one tracer, in this fresh process; print
a JSON line {"seconds": wall time of the workload, "peak_rss": bytes}.

    python bench/runner.py TOOL NFRAME WORKLOAD

TOOL: none, pytracemalloc, pytracemalloc-sampled (sample_bytes =
BENCH_SAMPLE_BYTES, default 512 KiB), tracemalloc (stdlib), memray.

Under pytracemalloc with one frame, once the time is taken and with the
workload's result still alive, the JSON also holds what the tracer says
then: "total" (traced bytes), "lines" ({"file:line": bytes} for the lines
holding at least 1 MiB) and, sampled, "total_variance" and
"line_variances" (variances of those estimates), for run.py's check of
the estimates against exact mode.
"""

import gc
import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads  # noqa: E402

SAMPLE_BYTES = int(os.environ.get("BENCH_SAMPLE_BYTES", 512 * 1024))
LINE_FLOOR = 1 << 20


def tracer_figures(sampled):
    from pytracemalloc import _tracemalloc
    stats = _tracemalloc._get_stats()
    figures = {"total": _tracemalloc.get_traced_memory()[0], "lines": {}}
    variances = _tracemalloc._get_line_variances() if sampled else {}
    if sampled:
        figures["total_variance"] = variances[None]
        figures["line_variances"] = {}
    for filename, lines in stats.items():
        for lineno, (size, _) in lines.items():
            if size >= LINE_FLOOR:
                key = "%s:%s" % (filename, lineno)
                figures["lines"][key] = size
                if sampled:
                    figures["line_variances"][key] = variances.get(
                        (filename, lineno), 0.0)
    return figures


def main():
    tool, nframe, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    run = workloads.prepare(name)
    capture = None
    if tool == "pytracemalloc":
        import pytracemalloc
        pytracemalloc.enable(nframe)
    elif tool == "pytracemalloc-sampled":
        import pytracemalloc
        pytracemalloc.enable(nframe, sample_bytes=SAMPLE_BYTES)
    elif tool == "tracemalloc":
        import tracemalloc
        tracemalloc.start(nframe)
    elif tool == "memray":
        import memray
        capture = tempfile.mktemp(prefix="bench-memray-", suffix=".bin")
        tracker = memray.Tracker(capture)
        tracker.__enter__()
    # Every tool starts the workload from the same collector state: the
    # objects a tool's import makes shift the generations' counts, and on
    # 3.12 that alone moved a full collection of json's 90 MB document
    # into the timed run (0.475 s against 0.377 s, untraced, with
    # pytracemalloc merely imported; 2026-12-08).
    gc.collect()
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    figures = {}
    if tool.startswith("pytracemalloc") and nframe == 1:
        figures = tracer_figures(tool == "pytracemalloc-sampled")
    del result
    capture_size = None
    if tool == "memray":
        tracker.__exit__(None, None, None)
        capture_size = os.path.getsize(capture)
        os.unlink(capture)
    cleanup = getattr(run, "cleanup", None)
    if cleanup:
        cleanup()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(dict(figures, seconds=seconds, peak_rss=peak_rss,
                          capture_size=capture_size)))


if __name__ == "__main__":
    main()
