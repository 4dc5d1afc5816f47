"""The cost of tracing one numpy array allocation (issue 14).

    python bench/numpy_alloc.py

Times ``numpy.empty(n)`` followed by its free, for a small array (numpy's
cache of small buffers) and a 1 MiB one (malloc), untraced, under
pytracemalloc and under stdlib tracemalloc (1 frame), each in a fresh
process; prints nanoseconds per allocation+free, the tracer's extra cost,
and its ratio to stdlib's extra cost.  The best of 7 runs of 200,000
allocations: what the tracer adds, not what the neighbours do.
"""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import json, sys, time
import numpy
tool, nbytes = sys.argv[1], int(sys.argv[2])
if tool == "ours":
    import pytracemalloc
    pytracemalloc.enable()
elif tool == "stdlib":
    import tracemalloc
    tracemalloc.start()
empty, uint8 = numpy.empty, numpy.uint8
n = 200_000
best = float("inf")
for _ in range(7):
    start = time.perf_counter()
    for _ in range(n):
        empty(nbytes, dtype=uint8)
    best = min(best, time.perf_counter() - start)
print(json.dumps(best / n * 1e9))
"""


def measure(tool, nbytes):
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", ROOT)
    out = subprocess.run([sys.executable, "-c", CHILD, tool, str(nbytes)],
                         check=True, capture_output=True, text=True,
                         timeout=600, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("numpy_alloc: numpy is not installed: skipped")
        return
    print("%-12s %10s %10s %10s %12s %12s %8s" % (
        "array", "untraced", "ours", "stdlib", "ours extra", "stdlib extra",
        "ratio"))
    for label, nbytes in (("64 B", 64), ("1 MiB", 1 << 20)):
        none, ours, stdlib = (measure(tool, nbytes)
                              for tool in ("none", "ours", "stdlib"))
        print("%-12s %8.0f ns %8.0f ns %8.0f ns %9.0f ns %9.0f ns %8.2f" % (
            label, none, ours, stdlib, ours - none, stdlib - none,
            (ours - none) / (stdlib - none) if stdlib > none else
            float("nan")))


if __name__ == "__main__":
    main()
