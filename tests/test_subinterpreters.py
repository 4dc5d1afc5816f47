"""Subinterpreters while tracing: legacy ones (one GIL, 3.11+) and isolated
ones with their own GIL (3.12+), created and destroyed from several threads
at once.  Each scenario runs in a child process under a deadline, so a
crash or a hang is a failure with a message."""

import os
import subprocess
import sys
import textwrap

import pytest

DEADLINE = 180

# What a test can create here: 3.11 has legacy ones only (_xxsubinterpreters);
# 3.12's _xxsubinterpreters.create(isolated=True), its default, gives an
# interpreter its own GIL (isolated=False a legacy one); 3.13+ names the
# module _interpreters and takes a config.
HAS_LEGACY = sys.version_info >= (3, 11)
HAS_ISOLATED = sys.version_info >= (3, 12)

PRELUDE = textwrap.dedent('''
    import sys, threading
    import pytracemalloc
    try:
        import _interpreters as interpreters
        def create(kind):
            return interpreters.create(interpreters.new_config(kind))
        def run(iid, code):
            failure = interpreters.exec(iid, code)
            if failure is not None:
                raise SystemExit("subinterpreter failed: %r" % (failure,))
    except ImportError:
        import _xxsubinterpreters as interpreters
        def create(kind):
            if sys.version_info < (3, 12):
                assert kind == "legacy"
                return interpreters.create()
            return interpreters.create(isolated=kind == "isolated")
        def run(iid, code):
            interpreters.run_string(iid, code)
    destroy = interpreters.destroy
''')


def run_child(tmp_path, body, *args):
    script = tmp_path / "child.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    env = dict(os.environ)
    env.pop("PYTRACEMALLOC", None)
    try:
        result = subprocess.run([sys.executable, str(script), *args],
                                env=env, capture_output=True, text=True,
                                timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hang: {body[:60]!r} {args} did not finish within "
                    f"{DEADLINE} s")
    assert result.returncode == 0, (
        f"exit status {result.returncode}\n{result.stderr[-3000:]}")
    return result.stdout


STRESS = '''
kind, nframe = sys.argv[1], int(sys.argv[2])
pytracemalloc.enable(nframe)
CODE = """
data = []
for i in range(20000):
    data.append(str(i) * 5)
    if len(data) > 500:
        del data[:250]
import json
json.dumps([{"a": i} for i in range(1000)])
"""
# _decimal in interpreters with their own GIL, created from threads, makes
# CPython 3.12.0 abort ("double free or corruption"), traced or not.
if sys.version_info[:2] != (3, 12) or kind != "isolated":
    CODE += "import decimal\\n"
errors = []
def interpreter_worker():
    try:
        for _ in range(4):
            iid = create(kind)
            run(iid, CODE)
            destroy(iid)
    except BaseException as exc:
        errors.append(exc)
def main_worker():
    kept = []
    for i in range(50000):
        kept.append([i] * 3)
        if len(kept) > 1000:
            kept.clear()
threads = [threading.Thread(target=interpreter_worker) for _ in range(3)]
threads += [threading.Thread(target=main_worker) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors
snapshot = pytracemalloc.take_snapshot()
print("ok", len(snapshot.statistics("lineno")) > 0)
'''


def kinds():
    found = ["legacy"] if HAS_LEGACY else []
    if HAS_ISOLATED:
        found.append("isolated")
    return found


@pytest.mark.parametrize("nframe", [1, 10])
@pytest.mark.parametrize("kind", kinds())
def test_interpreters_created_in_threads_while_main_allocates(
        tmp_path, kind, nframe):
    # GIVEN tracing on, three threads each creating, running and destroying
    # interpreters of this kind while two main-interpreter threads allocate
    # WHEN they all finish
    out = run_child(tmp_path, STRESS, kind, str(nframe))
    # THEN no crash, no hang, and a snapshot can be taken
    assert "ok True" in out


ATTRIBUTION = '''
kind = sys.argv[1]
pytracemalloc.enable(1)
iid = create(kind)
# the subinterpreter keeps 500 blocks of 1000 bytes alive in its
# __main__, made at line 2 of its own code (compiled as "<string>" here:
# 3.14 names a script run in an interpreter "<script>")
run(iid, "exec(compile('x = 1\\\\nkept = [bytearray(1000) for _ in "
         "range(500)]\\\\n', '<string>', 'exec'))")
def held_by(stats, filename, lineno):
    return sum(s.size for s in stats if s.traceback[0].filename ==
               filename and s.traceback[0].lineno == lineno)
before = pytracemalloc.take_snapshot().statistics("lineno")
destroy(iid)
after = pytracemalloc.take_snapshot().statistics("lineno")
print("while alive", held_by(before, "<string>", 2) >= 500000)
print("after destroy", held_by(after, "<string>", 2))
'''


@pytest.mark.parametrize("kind", kinds())
def test_a_subinterpreters_blocks_are_on_its_own_lines_and_die_with_it(
        tmp_path, kind):
    # GIVEN a subinterpreter holding 500 KB made at line 2 of its code
    out = run_child(tmp_path, ATTRIBUTION, kind)
    # THEN the main interpreter's snapshot shows them on that line
    assert "while alive True" in out, out
    # AND once the interpreter is destroyed they are gone from statistics
    assert "after destroy 0" in out, out


REFUSED = '''
iid = create("isolated")
run(iid, """
try:
    import pytracemalloc
    print("imported")
except ImportError as exc:
    print("refused:", exc)
""")
print("main still fine", pytracemalloc.is_enabled() in (True, False))
'''


@pytest.mark.skipif(not HAS_ISOLATED, reason="needs CPython 3.12+ "
                    "for interpreters with their own GIL")
def test_importing_pytracemalloc_in_an_isolated_interpreter_is_refused(
        tmp_path):
    # GIVEN an interpreter with its own GIL
    out = run_child(tmp_path, REFUSED)
    # THEN it refuses cleanly (its read-outs need the main GIL), and the
    # main interpreter goes on
    assert "main still fine True" in out


def test_a_legacy_subinterpreter_importing_pytracemalloc_does_not_stop_tracing(
        tmp_path):
    # GIVEN tracing on, and a legacy subinterpreter that imports the
    # package (site.py does so under PYTRACEMALLOC) and then ends
    out = run_child(tmp_path, '''
        pytracemalloc.enable(1)
        iid = create("legacy")
        run(iid, "import pytracemalloc\\nassert pytracemalloc.is_enabled()")
        destroy(iid)
        print("still tracing", pytracemalloc.is_enabled())
    ''')
    # THEN the subinterpreter's exit does not disable the process's tracing
    assert "still tracing True" in out


SHARED_FUNCTION = '''
from concurrent import interpreters
nframe = int(sys.argv[1])
pytracemalloc.enable(nframe)
def make_rows(n):
    return [str(i) * 3 for i in range(n)]
# run (and allocate) in the main interpreter first: its code is cached
for _ in range(3):
    make_rows(1000)
interp = interpreters.create()
print("shared", len(interp.call(make_rows, 500)))
interp.close()
stats = pytracemalloc._get_stats().get(__file__, {})
print("still traced", sum(size for size, count in stats.values()) > 0)
'''


@pytest.mark.skipif(sys.version_info < (3, 14),
                    reason="concurrent.interpreters is 3.14+")
@pytest.mark.parametrize("nframe", [1, 25])
def test_a_traced_function_can_still_be_called_in_another_interpreter(
        tmp_path, nframe):
    # GIVEN tracing on and a function that ran and allocated in the main
    # interpreter (3.14 shares a function only when its code carries no
    # co_extra: the engine's per-code cache must not live there)
    # WHEN another interpreter calls it
    out = run_child(tmp_path, SHARED_FUNCTION, str(nframe))
    # THEN the call works, and tracing goes on
    assert "shared 500" in out, out
    assert "still traced True" in out, out
