"""make bench: pytracemalloc against stdlib tracemalloc and memray.

Each workload (bench/workloads.py) runs in a fresh process per measure:
untraced, pytracemalloc with 1 and 25 frames, stdlib tracemalloc with 1
and 25 frames, memray (its default Tracker).  Runs alternate between the
tools, REPEAT times (BENCH_REPEAT, default 3; BENCH_QUICK=1 for one); the
table shows the median wall time and peak RSS of each tool as a ratio to
the untraced run, geometric means over the real workloads at the bottom,
and is also written as JSON under bench/results/.  Then bench/scale.py.

Sampled mode (issue 17): "sampled/1" is pytracemalloc with one frame and
sample_bytes = 512 KiB (BENCH_SAMPLE_BYTES).  Its targets: geomean time
and peak RSS <= 1.05x, and estimates within 3 standard errors of exact
mode ("ours/1" of the same run), for the traced total and for every line
holding at least 100 N bytes, read at the end of each workload with its
result alive.  The standard error is the square root of the engine's
variance estimate of the sampled figure plus the variance of the exact
figure between the exact runs (0 with one run); where nothing was sampled
(no variance estimate), the bound sqrt(exact bytes * N), marked "*".

BENCH_WORKLOADS=json,churn runs only those workloads (while developing).
"""

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workloads  # noqa: E402

TOOLS = [("none", 1), ("pytracemalloc", 1), ("pytracemalloc", 25),
         ("pytracemalloc-sampled", 1),
         ("tracemalloc", 1), ("tracemalloc", 25), ("memray", 1)]
TARGETS = {("pytracemalloc", 1): 1.3, ("pytracemalloc", 25): 2.0,
           ("pytracemalloc-sampled", 1): 1.05}
SAMPLED_RSS_TARGET = 1.05
SAMPLE_BYTES = int(os.environ.get("BENCH_SAMPLE_BYTES", 512 * 1024))
# Lines checked: those holding at least this many times N in exact mode.
LINE_CHECK_FACTOR = 100
MAX_Z = 3.0


def label(tool, nframe):
    if tool == "none":
        return "untraced"
    if tool == "memray":
        return "memray"
    if tool == "pytracemalloc-sampled":
        return "sampled/%d" % nframe
    short = "ours" if tool == "pytracemalloc" else "stdlib"
    return "%s/%d" % (short, nframe)


def have_memray():
    try:
        import memray  # noqa: F401
        return True
    except ImportError:
        return False


def measure(tool, nframe, workload):
    # From a neutral folder, so that the installed package is imported.
    output = subprocess.run(
        [sys.executable, os.path.join(HERE, "runner.py"), tool, str(nframe),
         workload], check=True, capture_output=True, text=True,
        cwd=os.path.abspath(os.sep)).stdout
    return json.loads(output.strip().splitlines()[-1])


def geomean(values):
    values = [value for value in values if value]
    if not values:
        return float("nan")
    return math.exp(sum(math.log(value) for value in values) / len(values))


def selected_workloads():
    names = [name for name in os.environ.get("BENCH_WORKLOADS", "").split(",")
             if name]
    unknown = [name for name in names if name not in workloads.WORKLOADS]
    if unknown:
        sys.exit("bench: unknown workload(s) %s (known: %s)"
                 % (", ".join(unknown), ", ".join(workloads.WORKLOADS)))
    return names or list(workloads.WORKLOADS)


def estimate_checks(raw, names):
    """Rows (workload, what, exact, estimate, standard error, z) comparing
    every sampled run's estimates with the exact runs' figures."""
    rows = []
    for name in names:
        exact_runs = [r for r in raw.get((name, "ours/1"), []) if "total" in r]
        sampled_runs = [r for r in raw.get((name, "sampled/1"), [])
                        if "total_variance" in r]
        if not exact_runs or not sampled_runs:
            continue

        def reference(values):
            spread = statistics.variance(values) if len(values) > 1 else 0.0
            return statistics.median(values), spread

        exact_total, total_spread = reference([r["total"]
                                               for r in exact_runs])
        line_floor = LINE_CHECK_FACTOR * SAMPLE_BYTES
        big_lines = {}
        for key in {key for r in exact_runs for key in r["lines"]}:
            value, spread = reference([r["lines"].get(key, 0)
                                       for r in exact_runs])
            if value >= line_floor:
                big_lines[key] = (value, spread)
        for run in sampled_runs:
            checks = [("total", exact_total, total_spread, run["total"],
                       run["total_variance"])]
            for key, (value, spread) in sorted(big_lines.items()):
                checks.append((key, value, spread, run["lines"].get(key, 0),
                               run["line_variances"].get(key, 0.0)))
            for what, exact, spread, estimate, variance in checks:
                bound = variance == 0.0 and estimate != exact
                if bound:
                    # Nothing sampled there, so no variance estimate: the
                    # standard error of an estimate of B bytes is at most
                    # sqrt(B * N) (each block's share s^2 (1 - p) / p is
                    # at most s * N).
                    variance = exact * SAMPLE_BYTES
                error = math.sqrt(variance + spread)
                z = ((estimate - exact) / error if error
                     else (0.0 if estimate == exact else math.inf))
                rows.append((name, what + (" *" if bound else ""), exact,
                             estimate, error, z))
    return rows


def shorten(text, width=44):
    return text if len(text) <= width else "..." + text[-(width - 3):]


def main():
    repeat = 1 if os.environ.get("BENCH_QUICK") else int(
        os.environ.get("BENCH_REPEAT", "3"))
    names = selected_workloads()
    tools = [tool for tool in TOOLS if tool[0] != "memray" or have_memray()]
    notes = []
    if len(tools) < len(TOOLS):
        notes.append("memray: not installed, skipped")
    started = time.time()
    raw = {}
    for name in names:
        for _ in range(repeat):
            for tool, nframe in tools:
                key = (name, label(tool, nframe))
                try:
                    result = measure(tool, nframe, name)
                except subprocess.CalledProcessError as exc:
                    notes.append("%s under %s failed: %s" % (
                        name, key[1], (exc.stderr or "").strip()[-200:]))
                    continue
                raw.setdefault(key, []).append(result)
        sys.stderr.write("bench: %s done (%.0f s)\n"
                         % (name, time.time() - started))

    labels = [label(tool, nframe) for tool, nframe in tools]
    table = {}
    for name in names:
        base = raw.get((name, "untraced"))
        if not base:
            continue
        base_time = statistics.median(r["seconds"] for r in base)
        base_rss = statistics.median(r["peak_rss"] for r in base)
        row = {"untraced_seconds": base_time, "untraced_peak_rss": base_rss}
        for tool_label in labels[1:]:
            results = raw.get((name, tool_label))
            if results:
                row[tool_label] = {
                    "time": statistics.median(r["seconds"] for r in results)
                    / base_time,
                    "rss": statistics.median(r["peak_rss"] for r in results)
                    / base_rss}
        table[name] = row

    lines = ["%-14s %9s  %s" % ("workload", "untraced", "  ".join(
        "%14s" % tool_label for tool_label in labels[1:])),
        "%-14s %9s  %s" % ("", "seconds", "  ".join(
            "%14s" % "time  rss" for _ in labels[1:]))]
    for name, row in table.items():
        cells = []
        for tool_label in labels[1:]:
            cell = row.get(tool_label)
            cells.append("%14s" % ("%5.2fx %5.2fx" % (cell["time"],
                                                      cell["rss"])
                                   if cell else "n/a"))
        lines.append("%-14s %9.2f  %s" % (name, row["untraced_seconds"],
                                          "  ".join(cells)))
    means = {}
    for tool_label in labels[1:]:
        rows = [table[name].get(tool_label) for name in
                workloads.REAL_WORKLOADS if name in table]
        rows = [row for row in rows if row]
        means[tool_label] = {"time": geomean([r["time"] for r in rows]),
                             "rss": geomean([r["rss"] for r in rows])}
    lines.append("%-14s %9s  %s" % ("geomean (real)", "", "  ".join(
        "%14s" % ("%5.2fx %5.2fx" % (means[t]["time"], means[t]["rss"]))
        for t in labels[1:])))
    print("\n".join(lines))
    print()
    for (tool, nframe), target in TARGETS.items():
        value = means[label(tool, nframe)]["time"]
        print("target %s geomean time <= %.2fx: %.2fx %s" % (
            label(tool, nframe), target, value,
            "met" if value <= target else "NOT met"))
    churn = table.get("churn", {}).get("ours/1")
    if churn:
        print("target ours/1 churn <= 2.0x: %.2fx %s" % (
            churn["time"], "met" if churn["time"] <= 2.0 else "NOT met"))
    # numpy (issue 14): array data traced, at about stdlib's cost.
    row = table.get("numpy", {})
    if row.get("ours/1") and row.get("stdlib/1"):
        print("numpy: ours/1 %.2fx, stdlib/1 %.2fx of untraced (ours/stdlib "
              "%.2f)" % (row["ours/1"]["time"], row["stdlib/1"]["time"],
                         row["ours/1"]["time"] / row["stdlib/1"]["time"]))
    rss = means["ours/1"]["rss"]
    print("target ours/1 peak RSS <= 1.5x: %.2fx %s" % (
        rss, "met" if rss <= 1.5 else "NOT met"))
    rss = means["sampled/1"]["rss"]
    print("target sampled/1 peak RSS <= %.2fx: %.2fx %s" % (
        SAMPLED_RSS_TARGET, rss,
        "met" if rss <= SAMPLED_RSS_TARGET else "NOT met"))
    checks = estimate_checks(raw, names)
    print()
    print("sampled/1 estimates (N = %d B) against exact mode, at the end of "
          "each workload:" % SAMPLE_BYTES)
    print("%-14s %-44s %12s %12s %8s %11s %6s" % (
        "workload", "what", "exact B", "estimate B", "error", "std error",
        "z"))
    for name, what, exact, estimate, error, z in checks:
        print("%-14s %-44s %12d %12d %+7.2f%% %11.0f %+6.2f" % (
            name, shorten(what), exact, estimate,
            100.0 * (estimate - exact) / exact if exact else 0.0, error, z))
    worst = max((abs(row[5]) for row in checks), default=math.nan)
    print("target sampled/1 estimates within %.0f standard errors of exact "
          "(%d checks, worst |z| %.2f): %s" % (
              MAX_Z, len(checks), worst,
              "met" if checks and worst <= MAX_Z else "NOT met"))
    for note in notes:
        print("note:", note)

    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "bench-%s.json" % time.strftime(
        "%Y%m%d-%H%M%S"))
    with open(path, "w") as file:
        json.dump({"python": platform.python_version(), "repeat": repeat,
                   "table": table, "geomean": means, "notes": notes,
                   "raw": {"%s|%s" % key: value
                           for key, value in raw.items()}}, file, indent=1)
    print("written:", os.path.relpath(path))
    print("wall time of the benchmark: %.0f s" % (time.time() - started))


if __name__ == "__main__":
    main()
