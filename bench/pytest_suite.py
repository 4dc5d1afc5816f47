"""make bench: the cost of ``pytest --pytracemalloc`` on a real test suite.

The suite is more-itertools' own (a pure-Python package from PyPI whose
sdist ships its tests: 765 tests, some 21,000 subtests), fetched with
``pip download --no-binary :all: --no-deps`` into build/bench-suite/.  It
runs REPEAT times (BENCH_REPEAT, default 3; BENCH_QUICK=1 for one),
alternating plain pytest and ``--pytracemalloc`` (and pytest-memray's
``--memray`` where it is installed); stdlib tracemalloc (``python -X
tracemalloc``, the reference of the same run, some 12 times slower on this
suite) runs once.  Prints the median wall time and CPU time (user + system,
steadier on a loaded machine) of each mode and their ratios to plain, and
fails when --pytracemalloc changes the suite's outcome (the counts of
passed, failed... tests and the exit status).
"""

import glob
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import time

PACKAGE = "more-itertools"
VERSION = "11.2.1"
HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(os.path.dirname(HERE), "build", "bench-suite")
TIMEOUT = 1800


def fetch_suite():
    """The sdist's unpacked directory (downloaded once)."""
    os.makedirs(WORK, exist_ok=True)
    name = PACKAGE.replace("-", "_")
    tree = os.path.join(WORK, "%s-%s" % (name, VERSION))
    if os.path.isdir(os.path.join(tree, "tests")):
        return tree
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q",
         "--disable-pip-version-check", "--no-binary", ":all:",
         "--no-deps", "-d", WORK, "%s==%s" % (PACKAGE, VERSION)],
        check=True, timeout=600)
    [archive] = glob.glob(os.path.join(WORK, "%s-%s.tar.gz" % (name,
                                                               VERSION)))
    with tarfile.open(archive) as tar:
        tar.extractall(WORK, filter="data")
    return tree


def plugin_args():
    from importlib.metadata import entry_points
    installed = any(ep.value == "pytest_pytracemalloc"
                    for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "pytest_pytracemalloc"]


def have_pytest_memray():
    try:
        import pytest_memray  # noqa: F401
        return True
    except ImportError:
        return False


def modes():
    ours = plugin_args()
    base = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    result = [
        ("plain", base + ["-p", "no:memray"]),
        ("--pytracemalloc", base + ours + ["-p", "no:memray",
                                           "--pytracemalloc"]),
        ("stdlib tracemalloc", ["-X", "tracemalloc=1"] + base
         + ["-p", "no:memray"]),
    ]
    if have_pytest_memray():
        result.append(("pytest-memray --memray",
                       base + ["-p", "no:pytracemalloc", "--memray"]))
    return result


_COUNTS = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|"
                     r"xpassed|subtests passed|subtests failed)")


def run_once(tree, args):
    env = dict(os.environ)
    env.pop("PYTRACEMALLOC", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run([sys.executable] + args + ["tests"], cwd=tree,
                            env=env, capture_output=True, text=True,
                            timeout=TIMEOUT)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime
                                                - before.ru_stime)
    lines = result.stdout.strip().splitlines()
    summary = lines[-1] if lines else ""
    counts = dict((kind, int(n)) for n, kind in _COUNTS.findall(summary))
    if not counts:
        sys.exit("bench: no pytest summary from %s:\n%s\n%s"
                 % (" ".join(args), result.stdout[-2000:],
                    result.stderr[-2000:]))
    return elapsed, cpu, result.returncode, counts


ONCE = ("stdlib tracemalloc",)


def main():
    repeat = 1 if os.environ.get("BENCH_QUICK") else int(
        os.environ.get("BENCH_REPEAT", "3"))
    tree = fetch_suite()
    chosen = modes()
    times = {name: [] for name, _ in chosen}
    outcomes = {}
    for index in range(repeat):
        for name, args in chosen:
            if name in ONCE and index:
                continue
            elapsed, cpu, status, counts = run_once(tree, args)
            times[name].append((elapsed, cpu))
            outcomes.setdefault(name, set()).add(
                (status, tuple(sorted(counts.items()))))
    print("pytest plugin: the test suite of %s %s, median of %d run%s "
          "(stdlib: one run)" % (PACKAGE, VERSION, repeat,
                                 "" if repeat == 1 else "s"))
    print("  %-24s %9s %6s %9s %6s" % ("mode", "wall", "ratio", "cpu",
                                       "ratio"))
    plain_wall = statistics.median(t[0] for t in times["plain"])
    plain_cpu = statistics.median(t[1] for t in times["plain"])
    for name, _ in chosen:
        wall = statistics.median(t[0] for t in times[name])
        cpu = statistics.median(t[1] for t in times[name])
        (status, counts), *more = sorted(outcomes[name])
        print("  %-24s %7.2f s %5.2fx %7.2f s %5.2fx   exit %d, %s%s"
              % (name, wall, wall / plain_wall, cpu, cpu / plain_cpu, status,
                 ", ".join("%d %s" % (n, kind) for kind, n in counts),
                 " (outcomes differ between runs)" if more else ""))
    if outcomes["--pytracemalloc"] != outcomes["plain"]:
        sys.exit("bench: --pytracemalloc changed the suite's outcome: %s "
                 "against %s" % (sorted(outcomes["--pytracemalloc"]),
                                 sorted(outcomes["plain"])))


if __name__ == "__main__":
    main()
