"""What each free-list accounting mode costs.

Runs an allocation-churn workload (dicts, strings, lists) on each
interpreter of the cache that `make test` set up (one virtual environment
per interpreter, with pytracemalloc installed), untraced and traced with one
frame, alternating, and prints the median ratio traced/untraced per mode.

    python3 bench/freelist_modes.py [REPEAT]
"""

import os
import statistics
import subprocess
import sys

CACHE = os.environ.get("PYTRACEMALLOC_CACHE", "/opt/pytracemalloc")
WORKLOAD = r"""
import sys, time
if sys.argv[1] == "traced":
    import pytracemalloc
    pytracemalloc.enable(1)
def churn():
    keep = []
    for i in range(300000):
        keep.append({"a": i, "b": str(i), "c": [i, i + 1], "d": i / 3})
        if len(keep) > 1000:
            keep = keep[500:]
start = time.perf_counter()
churn()
elapsed = time.perf_counter() - start
from pytracemalloc import _tracemalloc
print(elapsed, _tracemalloc.get_free_list_mode())
"""


def run(python, mode):
    # From a neutral folder: `-c` puts the current folder on sys.path, and
    # the source tree's in-place build must not shadow the installed one.
    out = subprocess.run([python, "-c", WORKLOAD, mode], check=True,
                         capture_output=True, text=True,
                         cwd=os.path.abspath(os.sep)).stdout.split()
    return float(out[0]), out[1]


def main():
    repeat = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    interpreters = [("system", sys.executable)]
    for name in sorted(os.listdir(os.path.join(CACHE, "venvs"))
                       if os.path.isdir(os.path.join(CACHE, "venvs"))
                       else []):
        python = os.path.join(CACHE, "venvs", name, "bin", "python")
        if os.path.exists(python):
            interpreters.append((name, python))
    print(f"{'interpreter':24} {'mode':10} {'untraced s':>10} "
          f"{'traced s':>9} {'ratio':>6}")
    for name, python in interpreters:
        try:
            untraced, traced = [], []
            for _ in range(repeat):
                untraced.append(run(python, "untraced")[0])
                seconds, mode = run(python, "traced")
                traced.append(seconds)
        except subprocess.CalledProcessError:
            print(f"{name:24} (pytracemalloc does not run here)")
            continue
        base = statistics.median(untraced)
        with_tracing = statistics.median(traced)
        print(f"{name:24} {mode:10} {base:10.3f} {with_tracing:9.3f} "
              f"{with_tracing / base:6.2f}")


if __name__ == "__main__":
    main()
