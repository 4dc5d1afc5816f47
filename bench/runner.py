"""Run one workload once, under one tracer, in this fresh process; print
a JSON line {"seconds": wall time of the workload, "peak_rss": bytes}.

    python bench/runner.py TOOL NFRAME WORKLOAD

TOOL: none, pytracemalloc, tracemalloc (stdlib), memray.
"""

import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workloads  # noqa: E402


def main():
    tool, nframe, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    run = workloads.prepare(name)
    capture = None
    if tool == "pytracemalloc":
        import pytracemalloc
        pytracemalloc.enable(nframe)
    elif tool == "tracemalloc":
        import tracemalloc
        tracemalloc.start(nframe)
    elif tool == "memray":
        import memray
        capture = tempfile.mktemp(prefix="bench-memray-", suffix=".bin")
        tracker = memray.Tracker(capture)
        tracker.__enter__()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    capture_size = None
    if tool == "memray":
        tracker.__exit__(None, None, None)
        capture_size = os.path.getsize(capture)
        os.unlink(capture)
    cleanup = getattr(run, "cleanup", None)
    if cleanup:
        cleanup()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_rss": peak_rss,
                      "capture_size": capture_size}))


if __name__ == "__main__":
    main()
