"""pytracemalloc beside stdlib tracemalloc: every order of starting and
stopping them, from code or from start-up, over real code (imports of many
stdlib modules, compile(), json, threads).  Each run is a child process
under a deadline: a hang (issue 12: one tracer waiting, inside the other's
hook, for a lock it already holds) fails with a message instead of
stalling CI."""

import os
import subprocess
import sys
import textwrap

import pytest

DEADLINE = 120

# The child: `actions` is a sequence of start/stop steps run in order, then
# the workload, then a check that every tracer still running sees the
# workload's known line.
CHILD = textwrap.dedent('''
    import sys, threading, tracemalloc
    import pytracemalloc

    def step(action):
        name, _, arg = action.partition("=")
        if name == "ours":
            pytracemalloc.enable(int(arg))
        elif name == "stdlib":
            tracemalloc.start(int(arg))
        elif name == "stop-ours":
            pytracemalloc.disable()
        elif name == "stop-stdlib":
            tracemalloc.stop()
        else:
            raise SystemExit("unknown step " + action)

    def workload():
        # modules not imported yet: their code objects' first allocations
        # happen inside whichever tracer is on top
        import json, email.parser, decimal, asyncio, xml.dom.minidom
        import http.client, csv, fractions, difflib, statistics
        compile("x = [i * 2 for i in range(100)]\\n" * 200, "<gen>", "exec")
        json.loads(json.dumps([{"k": str(i)} for i in range(2000)]))
        def churn():
            kept = []
            for i in range(20000):
                kept.append((str(i), i))
                if len(kept) > 500:
                    del kept[:400]
        threads = [threading.Thread(target=churn) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    for action in sys.argv[1:]:
        step(action)
    workload()
    KNOWN = [bytearray(1000) for _ in range(300)]  # the known line
    known_line = KNOWN_LINE
    report = []
    if pytracemalloc.is_enabled():
        stats = pytracemalloc._tracemalloc._get_stats().get(__file__, {})
        size, count = stats.get(known_line, (0, 0))
        report.append("ours %d" % (size >= 300000))
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot()
        size = sum(s.size for s in snapshot.statistics("lineno")
                   if s.traceback[0].filename == __file__
                   and s.traceback[0].lineno == known_line)
        report.append("stdlib %d" % (size >= 300000))
    print("done", *report)
''')
KNOWN_LINE = CHILD.splitlines().index(
    "KNOWN = [bytearray(1000) for _ in range(300)]  # the known line") + 1
CHILD = CHILD.replace("KNOWN_LINE", str(KNOWN_LINE))


def run_child(tmp_path, actions, env_extra=None, options=()):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ)
    for name in ("PYTRACEMALLOC", "PYTHONTRACEMALLOC"):
        env.pop(name, None)
    env.update(env_extra or {})
    try:
        return subprocess.run(
            [sys.executable, *options, str(script), *actions], env=env,
            capture_output=True, text=True, timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hang: {actions} {env_extra or ''} {options} did not "
                    f"finish within {DEADLINE} s")


def expect(result, *tracers):
    assert result.returncode == 0, result.stderr[-3000:]
    words = result.stdout.split()
    assert words[0] == "done", result.stdout
    for tracer in tracers:
        assert f"{tracer} 1" in result.stdout, (
            f"{tracer} lost the known line: {result.stdout}")


ORDERS = [
    # (steps, tracers still running at the end)
    (["ours=1", "stdlib=1"], ["ours", "stdlib"]),
    (["ours=25", "stdlib=25"], ["ours", "stdlib"]),
    (["stdlib=1", "ours=1"], ["ours", "stdlib"]),
    (["stdlib=10", "ours=10"], ["ours", "stdlib"]),
    (["ours=1", "stdlib=1", "stop-ours"], ["stdlib"]),
    (["ours=1", "stdlib=1", "stop-stdlib"], ["ours"]),
    (["stdlib=1", "ours=1", "stop-ours"], ["stdlib"]),
    (["stdlib=1", "ours=1", "stop-stdlib"], ["ours"]),
    (["ours=5", "stdlib=5", "stop-ours", "ours=5"], ["ours", "stdlib"]),
    (["stdlib=5", "ours=5", "stop-stdlib", "stdlib=5"], ["ours", "stdlib"]),
    (["ours=1", "stdlib=1", "stop-stdlib", "stop-ours"], []),
    (["stdlib=1", "ours=1", "stop-stdlib", "stop-ours", "stdlib=3"],
     ["stdlib"]),
]


@pytest.mark.parametrize("steps,running", ORDERS,
                         ids=[" ".join(s) for s, _ in ORDERS])
def test_both_tracers_in_any_order_finish_and_keep_reporting(
        tmp_path, steps, running):
    # GIVEN both tracers started and stopped in this order
    # WHEN the child imports many modules, compiles, runs json and threads
    result = run_child(tmp_path, steps)
    # THEN it finishes, and each tracer still running sees the known line
    expect(result, *running)


STARTUPS = [
    ({"PYTRACEMALLOC": "1"}, (), ["stdlib=1"], ["ours", "stdlib"]),
    ({"PYTRACEMALLOC": "25"}, (), ["stdlib=25"], ["ours", "stdlib"]),
    ({"PYTRACEMALLOC": "25"}, (), ["stdlib=5", "stop-ours"], ["stdlib"]),
    ({}, ("-X", "tracemalloc=5"), ["ours=5"], ["ours", "stdlib"]),
    ({}, ("-X", "tracemalloc=1"), ["ours=1", "stop-stdlib"], ["ours"]),
    ({"PYTHONTRACEMALLOC": "3", "PYTRACEMALLOC": "3"}, (), [],
     ["ours", "stdlib"]),
    ({"PYTHONTRACEMALLOC": "1", "PYTRACEMALLOC": "1"}, (),
     ["stop-stdlib"], ["ours"]),
]


@pytest.mark.parametrize(
    "env,options,steps,running", STARTUPS,
    ids=[f"{env} {' '.join(options)} {' '.join(steps)}"
         for env, options, steps, _ in STARTUPS])
def test_tracers_started_at_start_up_coexist(tmp_path, env, options, steps,
                                             running):
    # GIVEN one or both tracers started by the interpreter's start-up
    # WHEN the program starts, stops the other and runs real code
    result = run_child(tmp_path, steps, env, options)
    # THEN it finishes and both keep reporting
    expect(result, *running)


def test_the_start_up_line_is_written_once_per_process_tree(tmp_path):
    # GIVEN a traced program that starts a Python child inheriting
    # PYTRACEMALLOC and checks the child's stderr (as test_json does)
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent('''
        import subprocess, sys
        child = subprocess.run([sys.executable, "-c", "print('hi')"],
                               capture_output=True, text=True, timeout=60)
        import pytracemalloc
        print("child stderr", repr(child.stderr),
              "child traced", "PYTRACEMALLOC" in __import__("os").environ)
    '''))
    env = dict(os.environ, PYTRACEMALLOC="1")
    env.pop("PYTRACEMALLOC_ANNOUNCED", None)
    env.pop("PYTRACEMALLOC_QUIET", None)
    result = subprocess.run([sys.executable, str(script)], env=env,
                            capture_output=True, text=True, timeout=DEADLINE)
    # THEN the parent announces tracing, the child traces silently
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == "tracemalloc enabled"
    assert "child stderr ''" in result.stdout


def test_quiet_silences_the_start_up_line(tmp_path):
    # GIVEN PYTRACEMALLOC_QUIET=1
    env = dict(os.environ, PYTRACEMALLOC="1", PYTRACEMALLOC_QUIET="1")
    env.pop("PYTRACEMALLOC_ANNOUNCED", None)
    # WHEN a traced program runs
    result = subprocess.run(
        [sys.executable, "-c",
         "import pytracemalloc; print(pytracemalloc.is_enabled())"],
        env=env, capture_output=True, text=True, timeout=DEADLINE)
    # THEN it is traced and says nothing on stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert result.stderr == ""


def test_a_tracer_that_cut_ours_out_of_the_chain_is_rejoined(tmp_path):
    # GIVEN stdlib started first, ours on top, then stdlib stopped: stdlib
    # puts back the allocator it wrapped, which lies below our hook
    script = tmp_path / "cut.py"
    script.write_text(textwrap.dedent('''
        import sys, tracemalloc, pytracemalloc
        from pytracemalloc import _tracemalloc
        line = lambda: sys._getframe(1).f_lineno
        tracemalloc.start()
        pytracemalloc.enable()
        _tracemalloc_stdlib_stop = tracemalloc.stop._pytracemalloc_wrapped
        _tracemalloc_stdlib_stop()  # stdlib's own stop, unwrapped
        # WHEN we look: the three domains are re-joined
        print("rejoined", _tracemalloc._rejoin())
        data = [bytearray(100) for _ in range(1000)]; here = line()
        stats = _tracemalloc._get_stats()[__file__]
        print("seen", stats[here][0] >= 100000)
        print("again", _tracemalloc._rejoin())
    '''))
    result = subprocess.run([sys.executable, str(script)],
                            capture_output=True, text=True, timeout=DEADLINE)
    # THEN ours is back in the chain once, and sees new allocations
    assert result.returncode == 0, result.stderr
    assert "rejoined 3" in result.stdout
    assert "seen True" in result.stdout
    assert "again 0" in result.stdout


# The child of the figures test: both tracers on, in the order given, over
# real code; then each tracer's size and count at the known line and over
# every line of the process, stdlib's own files left out of both.
FIGURES_CHILD = textwrap.dedent('''
    import json, os, sys, tracemalloc
    import pytracemalloc
    from pytracemalloc import _tracemalloc

    nframe = int(sys.argv[2])
    for name in sys.argv[1].split(","):
        if name == "ours":
            pytracemalloc.enable(nframe)
        else:
            tracemalloc.start(nframe)

    compile("x = [i * 2 for i in range(100)]\\n" * 300, "<gen>", "exec")
    DOCS = json.loads(json.dumps([{"k": str(i), "v": [i] * 3}
                                  for i in range(3000)]))
    KNOWN = [bytearray(1000) for _ in range(10000)]; KNOWN_LINE = 0

    own = (tracemalloc.__file__, os.path.dirname(pytracemalloc.__file__))
    def counted(filename):
        return not filename.startswith(own)
    ours = _tracemalloc._get_stats()
    snapshot = tracemalloc.take_snapshot()
    stdlib = {}
    for stat in snapshot.statistics("lineno"):
        frame = stat.traceback[0]
        stdlib.setdefault(frame.filename, {})[frame.lineno] = (
            stat.size, stat.count)
    def totals(stats):
        size = count = 0
        for filename, lines in stats.items():
            if counted(filename):
                for line_size, line_count in lines.values():
                    size += line_size
                    count += line_count
        return size, count
    known = [stats.get(__file__, {}).get(KNOWN_LINE, (0, 0))
             for stats in (ours, stdlib)]
    print(json.dumps({"known": known, "totals": [totals(ours),
                                                 totals(stdlib)]}))
''')
FIGURES_CHILD = FIGURES_CHILD.replace("KNOWN_LINE = 0", "KNOWN_LINE = %d" % (
    FIGURES_CHILD.splitlines().index(next(
        line for line in FIGURES_CHILD.splitlines()
        if line.startswith("KNOWN = "))) + 1))


@pytest.mark.parametrize("order", ["ours,stdlib", "stdlib,ours"])
@pytest.mark.parametrize("nframe", [1, 25])
def test_our_figures_do_not_count_the_other_tracers_bookkeeping(
        tmp_path, order, nframe):
    # GIVEN both tracers running, started in this order (issue 27: ours
    # first, stdlib's traces and tracebacks were counted at the user's
    # line: 40,006 blocks where stdlib saw 20,002)
    script = tmp_path / "figures.py"
    script.write_text(FIGURES_CHILD)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTRACEMALLOC", "PYTHONTRACEMALLOC")}
    try:
        result = subprocess.run(
            [sys.executable, str(script), order, str(nframe)], env=env,
            capture_output=True, text=True, timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hang: {order} did not finish within {DEADLINE} s")
    assert result.returncode == 0, result.stderr[-3000:]
    import json
    figures = json.loads(result.stdout)
    # WHEN 10,000 bytearray(1000) are made at one line, beside compile()
    # and json
    (our_size, our_count), (std_size, std_count) = figures["known"]
    # THEN at that line ours and stdlib agree within 1%, and so do the
    # totals over every line of the process
    assert std_count >= 10000, figures
    assert abs(our_count - std_count) <= 0.01 * std_count, figures
    assert abs(our_size - std_size) <= 0.01 * std_size, figures
    (our_size, our_count), (std_size, std_count) = figures["totals"]
    assert abs(our_count - std_count) <= 0.01 * std_count, figures
    assert abs(our_size - std_size) <= 0.01 * std_size, figures
