"""The report at scale: 1,000 snapshots of 10,000 lines each.

    python3 bench/report_scale.py [--snapshots 1000] [--lines 10000]
                                  [--churn 0.05] [--nframe 1] [--dir DIR]

1. Writes synthetic snapshot files (once: they are kept in DIR, default
   /tmp/pytracemalloc-report-scale-SNAPSxLINES-CHURN), one a minute of a
   service: most lines steady and changing now and then (a ``--churn``
   fraction of them change between two snapshots), 5% noisy (changing at
   every snapshot), 1% leaking, 4% caches filled and flushed.
2. Times ``python -m pytracemalloc.report DIR/*.ptm -o report.html`` (wall
   time of the whole command, reading the files included).
3. Opens the page in headless Chromium (tests/chromium_cdp.py) and reports
   when it is ready (all charts and the table drawn), the longest task of
   the main thread (what a person feels as a freeze), and the time to sort
   the table and to show a line's history.

With ``--nframe N`` (N > 1) each line is the most recent frame of a
traceback of N frames (``python3 bench/report_scale.py --nframe 25``): the
callers make a tree, each site's stack sharing a random part of an earlier
site's, every frame named; step 3 then also measures the flame graphs (the
latest snapshot's, drawn when the page opens; the difference between the
first and the latest; a zoom, a search).
"""

import argparse
import glob
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

FILES_PER_LINE = 20  # lines per synthetic source file
START = 1_790_000_000.0  # the first snapshot's time (epoch seconds)


def _behaviours(lines, seed):
    rng = random.Random(seed)
    kinds = []
    for _ in range(lines):
        draw = rng.random()
        base = int(math.exp(rng.uniform(math.log(64), math.log(200_000))))
        if draw < 0.01:
            kinds.append(("leak", base, rng.randint(50, 5000)))
        elif draw < 0.06:
            kinds.append(("noisy", base, 0))
        elif draw < 0.10:
            kinds.append(("cache", base, rng.randint(20, 80)))
        else:
            kinds.append(("steady", base, 0))
    return kinds


CALLERS = 2000  # functions that call (the frames above the lines)


def _caller(j):
    """(frame, function name) of the j-th calling function."""
    module = j // FILES_PER_LINE
    return (("/srv/service/caller%03d.py" % module,
             10 + j % FILES_PER_LINE * 9),
            "Caller%03d.function%d" % (module, j))


def _stacks(lines, nframe, seed):
    """For each line, its callers, oldest first (nframe - 1 of them): a
    random tree, each stack the first part of an earlier one continued by
    random callers, as a program's calls share their entry points."""
    rng = random.Random(seed + 2)
    depth = nframe - 1
    stacks = []
    for i in range(lines):
        if stacks:
            shared = stacks[rng.randrange(len(stacks))]
            keep = min(depth, int(rng.triangular(0, depth, depth * 0.7)))
            stack = list(shared[:keep])
        else:
            stack = []
        while len(stack) < depth:
            stack.append(rng.randrange(CALLERS))
        stacks.append(tuple(stack))
    return stacks


def _write_chunk(args):
    from pytracemalloc.snapshot import Snapshot
    folder, first, last, lines, churn, seed, nframe = args
    kinds = _behaviours(lines, seed)
    names = ["/srv/service/module%04d.py" % (i // FILES_PER_LINE)
             for i in range(lines)]
    leaves = [(names[i], 10 + i % FILES_PER_LINE * 7) for i in range(lines)]
    if nframe > 1:
        # Most recent first, as the engine's sites; every frame named.
        tracebacks = []
        for i, stack in enumerate(_stacks(lines, nframe, seed)):
            callers = [_caller(j) for j in reversed(stack)]
            tracebacks.append((
                (leaves[i],) + tuple(frame for frame, _ in callers),
                ("line%d" % i,) + tuple(name for _, name in callers)))
    else:
        tracebacks = [((leaf,), None) for leaf in leaves]
    # Each chunk replays the series from the start so that its snapshots
    # continue the same walk; only its own range is written.
    rng = random.Random(seed + 1)
    sizes = [base for _, base, _ in kinds]
    for index in range(last):
        for i, (kind, base, rate) in enumerate(kinds):
            if kind == "steady":
                if rng.random() < churn:
                    step = rng.randint(-base // 4, base // 4)
                    sizes[i] = max(0, sizes[i] + step)
            elif kind == "noisy":
                sizes[i] = int(base * rng.uniform(0.5, 1.5))
            elif kind == "leak":
                sizes[i] = base + rate * index + rng.randint(0, rate // 2)
            else:
                sizes[i] = base * (1 + index % rate)
        if index < first:
            continue
        sites = [(tracebacks[i][0], size, max(1, size // 64), 0,
                  tracebacks[i][1]) for i, size in enumerate(sizes)]
        traced = sum(sizes)
        snapshot = Snapshot(sites, nframe, pid=4242, time=START + 60 * index,
                            process_memory=traced + 80_000_000,
                            user_data=[("Cache entries", "int", index % 97)])
        snapshot.write(os.path.join(folder, "snapshot-%05d.ptm" % index))


def make_snapshots(folder, count, lines, churn, nframe=1, jobs=2):
    existing = glob.glob(os.path.join(folder, "*.ptm"))
    if len(existing) == count:
        return sorted(existing)
    os.makedirs(folder, exist_ok=True)
    for path in existing:
        os.unlink(path)
    from concurrent.futures import ProcessPoolExecutor
    step = math.ceil(count / jobs)
    chunks = [(folder, start, min(count, start + step), lines, churn, 16,
               nframe) for start in range(0, count, step)]
    started = time.perf_counter()
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(_write_chunk, chunks))
    print("wrote %d snapshots of %d lines (%d frames) in %.0f s into %s"
          % (count, lines, nframe, time.perf_counter() - started, folder))
    return sorted(glob.glob(os.path.join(folder, "*.ptm")))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=10000)
    parser.add_argument("--churn", type=float, default=0.05)
    parser.add_argument("--nframe", type=int, default=1,
                        help="frames per traceback (default: 1)")
    parser.add_argument("--dir")
    options = parser.parse_args()
    folder = options.dir or os.path.join(
        tempfile.gettempdir(), "pytracemalloc-report-scale-%dx%d-%g%s"
        % (options.snapshots, options.lines, options.churn,
           "-%dframes" % options.nframe if options.nframe > 1 else ""))
    files = make_snapshots(folder, options.snapshots, options.lines,
                           options.churn, options.nframe)
    output = os.path.join(folder, "report.html")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep
               + os.environ.get("PYTHONPATH", ""))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytracemalloc.report",
                           "-o", output] + files, check=True, env=env,
                          timeout=600, stderr=subprocess.PIPE, text=True)
    build = time.perf_counter() - started
    # The command's own summary gives the CPU time of all its processes.
    cpu = float(re.search(r"\(([\d.]+) s of CPU\)", done.stderr).group(1))
    size = os.path.getsize(output)
    # The machine's load says how far the wall time is from an idle one.
    print("build: %.1f s wall, %.1f s CPU (its loader processes included; "
          "load average %.1f on %d CPUs) for %d snapshots x %d lines, "
          "%.1f MB page" % (build, cpu, load, os.cpu_count(), len(files),
                            options.lines, size / 1e6))

    from chromium_cdp import Chromium
    with tempfile.TemporaryDirectory(prefix="report-scale-") as profile:
        with Chromium(profile, deadline=300) as browser:
            browser.open(output)
            browser.wait_for("window.report && (window.report.ready"
                             " || window.report.error)", timeout=240)
            error = browser.evaluate("window.report.error")
            if error:
                sys.exit("the page failed: %s" % error)
            ready = browser.evaluate("window.report.readyAt") / 1000
            browser.wait_for("window.report.leakCharts >= document"
                             ".querySelectorAll('.leak').length", timeout=60)
            longest = max(browser.evaluate("window.__longTasks") or [0])
            sort = browser.evaluate(
                "(() => { const t = performance.now();"
                " document.querySelector('th[data-key=first]').click();"
                " return performance.now() - t; })()")
            click = browser.evaluate(
                "(() => { const t = performance.now();"
                " document.querySelector('#table tbody tr').click();"
                " return performance.now() - t; })()")
            flame = _measure_flame(browser) if options.nframe > 1 else None
            errors = browser.console_errors()
    print("open: ready in %.1f s (longest main-thread task %.0f ms); "
          "sort %.0f ms; a line's history %.0f ms; console errors: %d; "
          "load average %.1f" % (ready, longest, sort, click, len(errors),
                                 os.getloadavg()[0]))
    if flame:
        print("flame: latest snapshot %(boxes)d boxes (%(drawn)d drawn): "
              "built in %(build).0f ms, drawn in %(draw).0f ms; the "
              "difference first -> latest %(diff).0f ms; a zoom "
              "%(zoom).0f ms; a search %(search).0f ms" % flame)
    for error in errors:
        print("  " + error)


def _measure_flame(browser):
    """Times of the flame graphs, in the page's own clock (ms)."""
    first = browser.evaluate(
        "(() => { const f = window.report.flame; return {boxes: f.size(),"
        " drawn: f.boxes().length, build: f.timing.buildMs,"
        " draw: f.timing.layoutMs + f.timing.drawMs}; })()")
    if browser.evaluate("window.report.flame.message"):
        sys.exit("no flame graph: %s"
                 % browser.evaluate("window.report.flame.message"))
    first["diff"] = browser.evaluate(
        "(() => { const t = performance.now();"
        " const s = document.getElementById('flame-mode'); s.value = 'diff';"
        " s.dispatchEvent(new Event('change'));"
        " return performance.now() - t; })()")
    first["zoom"] = browser.evaluate(
        "(() => { const f = window.report.flame;"
        " const kids = f.children(0); const t = performance.now();"
        " f.zoom(kids[0]); return performance.now() - t; })()")
    first["search"] = browser.evaluate(
        "(() => { const t = performance.now();"
        " window.report.flame.search('function1');"
        " return performance.now() - t; })()")
    return first


if __name__ == "__main__":
    main()
