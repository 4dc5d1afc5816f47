"""The cost of tracing native memory (issue 24).

    python bench/native.py [WORKLOAD...]   (also a step of make bench)

bench/workloads.py's native_mix and native_heavy: workloads whose memory
is mostly taken from libc by C libraries, not by CPython's allocators.
native_mix is issue 24's own example (an in-memory sqlite3 database
filled, indexed and queried; zlib and bz2 compressing, their streams kept
alive); native_heavy swaps zlib and bz2 for OpenSSL hash objects and TLS
contexts, millions of blocks of some 60 bytes (the stress case).  Each tool runs it in a fresh
process; every traced run is flanked by untraced runs (U T U T ... U) and
its ratio is its time over the mean of its two neighbours, as in
bench/run.py.  The figure is the median over BENCH_REPEAT rounds (default
5), with the spread.

Tools: untraced; pytracemalloc exact without and with native=True, and
sampled (sample_bytes 512 KiB) with native=True; stdlib tracemalloc (which
cannot see native memory); memray's Tracker (which always intercepts
malloc, and so sees native memory).  Also printed: the native bytes and
blocks pytracemalloc holds at the end of the workload (live: the database
and the contexts), exact and as the sampled estimate.  Then the json
workload of bench/workloads.py (CPython's allocators, little native
memory) under ours without and with native=True: what turning native on
costs a program that takes little from libc.  "RSS": the traced growth
over the workload as a share of the process's RSS growth (after
malloc_trim, net of the tracer's own memory), median over the rounds;
"top line": the first line of ``statistics('lineno')`` at the end of the
tool's last run (issue 24: the line that made the data).
"""

import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, os.environ["BENCH_DIR"])
import workloads
tool, name = sys.argv[1], sys.argv[2]
workload = (getattr(workloads, name)() if name.startswith("native_")
            else workloads.prepare(name))
if tool.startswith("pytracemalloc"):
    import pytracemalloc
    pytracemalloc.enable(1, native="native" in tool,
                         sample_bytes=512 * 1024 if "sampled" in tool
                         else None)
elif tool == "tracemalloc":
    import tracemalloc
    tracemalloc.start(1)
elif tool == "memray":
    import memray, tempfile
    capture = os.path.join(tempfile.mkdtemp(), "bench.bin")
    tracker = memray.Tracker(capture)
    tracker.__enter__()
import ctypes
trim = ctypes.CDLL(None).malloc_trim


def rss():
    trim(0)  # what libc keeps free is not the program's
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def tracer_figures():
    if not tool.startswith("pytracemalloc"):
        return 0, 0
    return (pytracemalloc.get_traced_memory()[0],
            pytracemalloc.get_tracemalloc_memory())


rss_before, (traced_before, own_before) = rss(), tracer_figures()
start = time.perf_counter()
kept = workload()
seconds = time.perf_counter() - start
rss_after, (traced_after, own_after) = rss(), tracer_figures()
native = None
explained = None
top = None
if tool.startswith("pytracemalloc"):
    from pytracemalloc import NATIVE_DOMAIN
    snapshot = pytracemalloc.take_snapshot()
    totals = snapshot.domain_totals()
    native = totals.get(NATIVE_DOMAIN, (0, 0))
    line = snapshot.statistics("lineno")[0]
    top = "%s:%d" % (os.path.basename(line.traceback[0].filename),
                     line.traceback[0].lineno)
    # The traced growth over the process's, net of the tracer's own
    grown = rss_after - rss_before - (own_after - own_before)
    explained = (traced_after - traced_before) / grown if grown > 0 else None
if tool == "memray":
    tracker.__exit__(None, None, None)
    os.unlink(capture)
print(json.dumps({"seconds": seconds, "native": native,
                  "explained": explained, "top": top}))
"""

TOOLS = ["pytracemalloc", "pytracemalloc-native",
         "pytracemalloc-sampled-native", "tracemalloc", "memray"]
# The workloads: native_mix (issue 24's example: sqlite3, zlib, bz2) and
# native_heavy (sqlite3 and OpenSSL's millions of small blocks) with every
# tool; json (bench/workloads.py: CPython's allocators, little native
# memory) with ours only, for what turning native on costs a program that
# takes little from libc.
WORKLOADS = [("native_mix", TOOLS), ("native_heavy", TOOLS),
             ("json", ["pytracemalloc", "pytracemalloc-native",
                       "pytracemalloc-sampled-native"])]


def measure(tool, workload):
    env = dict(os.environ, PYTHONPATH=ROOT, BENCH_DIR=HERE)
    for name in ("PYTRACEMALLOC", "PYTRACEMALLOC_NATIVE", "PYTHONTRACEMALLOC"):
        env.pop(name, None)
    proc = subprocess.run([sys.executable, "-c", CHILD, tool, workload],
                          capture_output=True, text=True, timeout=600,
                          env=env)
    if proc.returncode != 0:
        raise RuntimeError("%s %s failed:\n%s" % (tool, workload,
                                                  proc.stderr))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_workload(workload, tools, repeat):
    """Ratios of each tool (each run between two untraced ones), the
    native figures of its last run, and the untraced times."""
    ratios = {tool: [] for tool in tools}
    seen = {tool: None for tool in tools}
    tops = {tool: None for tool in tools}
    explained = {tool: [] for tool in tools}
    untraced = []
    for _ in range(repeat):
        before = measure("none", workload)["seconds"]
        untraced.append(before)
        for tool in tools:
            result = measure(tool, workload)
            after = measure("none", workload)["seconds"]
            untraced.append(after)
            ratios[tool].append(result["seconds"] / ((before + after) / 2))
            seen[tool] = result["native"]
            tops[tool] = result["top"]
            if result["explained"] is not None:
                explained[tool].append(result["explained"])
            before = after
    return ratios, seen, untraced, explained, tops


def main():
    try:
        import memray  # noqa: F401
        has_memray = True
    except ImportError:
        print("native: memray is not installed: its column is skipped")
        has_memray = False
    repeat = int(os.environ.get("BENCH_REPEAT", "5"))
    chosen = sys.argv[1:]
    unknown = [name for name in chosen
               if name not in [workload for workload, _ in WORKLOADS]]
    if unknown:
        raise SystemExit("native: no workload %s (there are: %s)" % (
            ", ".join(unknown), ", ".join(w for w, _ in WORKLOADS)))
    results = {"python": sys.version.split()[0], "workloads": {}}
    for workload, tools in WORKLOADS:
        if chosen and workload not in chosen:
            continue
        tools = [tool for tool in tools if has_memray or tool != "memray"]
        ratios, seen, untraced, explained, tops = run_workload(
            workload, tools, repeat)
        results["workloads"][workload] = {
            "ratios": ratios, "native": seen, "untraced": untraced,
            "explained": explained, "top": tops}
        print("%s, %d rounds, untraced %.2f s (median)"
              % (workload, repeat, statistics.median(untraced)))
        print("  %-30s %8s %14s %26s %9s  %s" % (
            "tool", "time", "spread", "native live at the end", "RSS",
            "top line"))
        for tool in tools:
            values = ratios[tool]
            native = seen[tool]
            where = ("-" if native is None else "%.1f MiB in %d blocks"
                     % (native[0] / 2 ** 20, native[1]))
            share = ("%8.0f%%" % (100 * statistics.median(explained[tool]))
                     if explained[tool] else "%9s" % "-")
            print("  %-30s %7.2fx %6.2f-%.2fx %26s %s  %s" % (
                tool, statistics.median(values), min(values), max(values),
                where, share, tops[tool] or "-"))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "native.json"), "w") as out:
        json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
