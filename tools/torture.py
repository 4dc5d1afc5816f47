#!/usr/bin/env python3
"""The torture run: CPython's own regression tests under PYTRACEMALLOC=25
must give the same results as untraced, with no crash and no hang.

    tools/torture.py [--quick] PYTHON [NAME]

PYTHON is an interpreter on which pytracemalloc is installed.  Both runs use
`python -m test -j2` with a per-test timeout (a hung test is killed and
reported, so a hang is a failure, not a stuck CI) and an outer deadline.
Prints one line per interpreter and exits 1 when the traced run's set of
failing tests differs from the untraced one's, or either run crashed.  The
untraced run is made only when the traced one has failures (to tell ours
from the interpreter's own), and its outcome is kept per interpreter under
PYTRACEMALLOC_CACHE (torture/), since it does not depend on pytracemalloc.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys

# Chosen for what a tracer meets: threads, the collector, weak references,
# stdlib's own tracer, children checking stderr, asyncio, subinterpreters.
TESTS = ["test_threading", "test_gc", "test_weakref", "test_tracemalloc",
         "test_json", "test_functools", "test_contextlib", "test_dict",
         "test_set", "test_generators", "test_asyncio.test_tasks",
         "test_asyncio.test_locks"]
TESTS_312 = ["test__xxsubinterpreters", "test__xxinterpchannels"]
TESTS_313 = ["test_interpreters", "test__interpreters"]
PER_TEST_TIMEOUT = 600
# Bumped when run() changes how the tests run (2: SIGINT reset to its
# default), so that no baseline of the old way is compared with the new.
METHOD = 2
DEADLINE = 1800

HEADER = re.compile(r"^(\d+) tests? (failed|crashed|altered the execution "
                    r"environment|failed again|run no tests|timed out)")


def outcome(output):
    """{category: set of test names} from regrtest's summary."""
    found = {}
    lines = output.splitlines()
    for i, line in enumerate(lines):
        match = HEADER.match(line.strip())
        if not match:
            continue
        names = set()
        for following in lines[i + 1:]:
            if not following.startswith("    "):
                break
            names.update(following.split())
        found.setdefault(match.group(2), set()).update(names)
    return found


def default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(python, tests, traced):
    env = dict(os.environ)
    for name in ("PYTRACEMALLOC", "PYTRACEMALLOC_ANNOUNCED",
                 "PYTHONTRACEMALLOC"):
        env.pop(name, None)
    if traced:
        env["PYTRACEMALLOC"] = "25"
    command = [python, "-m", "test", "-j2", "--timeout",
               str(PER_TEST_TIMEOUT), *tests]
    try:
        # SIGINT as an interactive shell gives it: started in the background
        # of a shell without job control, it would be ignored, and the tests
        # that interrupt themselves (test_generators, test_threading) fail.
        result = subprocess.run(command, env=env, capture_output=True,
                                text=True, timeout=DEADLINE,
                                stdin=subprocess.DEVNULL,
                                preexec_fn=default_sigint)
    except subprocess.TimeoutExpired:
        return None, f"no result within {DEADLINE} s"
    return result, outcome(result.stdout)


# --quick: for the patched variants of an interpreter already tortured in
# full, the modules that exercise the hooks most.
QUICK = ["test_threading", "test_gc", "test_weakref", "test_tracemalloc",
         "test_json"]


def baseline(python, tests):
    """The untraced run's outcome: CPython's own tests on an interpreter do
    not depend on pytracemalloc, so it is kept (under PYTRACEMALLOC_CACHE,
    keyed by the interpreter's version and path, the test list and the way
    the tests are run, METHOD) and computed again only when one of those
    changes.  Returns (result or
    None, outcome or message)."""
    cache = os.environ.get("PYTRACEMALLOC_CACHE", "/opt/pytracemalloc")
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version, sys.executable)"],
        capture_output=True, text=True, timeout=60).stdout
    key = hashlib.sha256(
        json.dumps([version, tests, METHOD]).encode()).hexdigest()
    path = os.path.join(cache, "torture", key[:16] + ".json")
    try:
        with open(path, encoding="utf-8") as file:
            saved = json.load(file)
        return True, {name: set(tests) for name, tests in saved.items()}
    except (OSError, ValueError):
        pass
    result, found = run(python, tests, traced=False)
    if result is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w", encoding="utf-8") as file:
            json.dump({name: sorted(tests) for name, tests in found.items()},
                      file)
        os.replace(path + ".tmp", path)
    return result, found


def main(argv):
    quick = "--quick" in argv
    argv = [a for a in argv if a != "--quick"]
    if len(argv) < 2:
        sys.exit(__doc__)
    python = argv[1]
    name = argv[2] if len(argv) > 2 else python
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, timeout=60).stdout.strip()
    # The subinterpreter modules of each version (3.12: interpreters with
    # their own GIL, through _xxsubinterpreters).
    subinterpreters = {"3.11": [], "3.12": TESTS_312}.get(version, TESTS_313)
    tests = QUICK if quick else TESTS + subinterpreters
    traced, under = run(python, tests, traced=True)
    # The untraced run is needed only to tell a failure of ours from one
    # the interpreter has without us: a traced run with no failure needs
    # none (a fresh machine saves one run of the tests per interpreter),
    # nor does a traced run that gave no result.
    if traced is None or not under.get("failed"):
        untraced, plain = True, {}
    else:
        untraced, plain = baseline(python, tests)
    problems = []
    if traced is None or untraced is None:
        problems.append(under if traced is None else plain)
    else:
        if "tracemalloc enabled" not in traced.stderr.splitlines()[:1]:
            problems.append("the traced run did not trace (no start-up line)")
        for category in ("crashed", "timed out"):
            if under.get(category):
                problems.append(f"{category}: {sorted(under[category])}")
        if under.get("failed", set()) != plain.get("failed", set()):
            problems.append(
                f"failed traced {sorted(under.get('failed', ()))} vs "
                f"untraced {sorted(plain.get('failed', ()))}")
    verdict = "ok" if not problems else "FAILED: " + "; ".join(problems)
    print(f"torture {name}: {len(tests)} test modules, {verdict}")
    if problems and traced is not None:
        sys.stdout.write(traced.stdout[-4000:])
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
