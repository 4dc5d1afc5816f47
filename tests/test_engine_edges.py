"""The engine on the edges: code objects that come and go, odd filenames,
generators and coroutines, deep stacks, switching while threads run."""

import asyncio
import gc
import sys
import threading

import pytest

from conftest import HELPER_FILE, KnownBlock, line_stats
from pytracemalloc import _tracemalloc as engine


def run_generated(i, filename):
    namespace = {}
    exec(compile("def f():\n    return [%d] * 50\n" % i, filename, "exec"),
         namespace)
    return namespace["f"]()


def test_code_objects_created_and_freed_while_tracing(tracing):
    # GIVEN tracing, and the tracer's memory after a warm-up
    run_generated(0, "generated.py")
    gc.collect()
    before = engine._test_cache_count()
    # WHEN 3000 code objects (of the same file and lines, so no new site is
    # interned) are compiled, run, so the tracer caches their lines, and
    # freed
    kept = []
    for i in range(3000):
        kept = kept[-9:] + [run_generated(i, "generated.py")]
    gc.collect()
    # THEN their line was seen, and the per-code caches died with their
    # code objects (the 10 kept lists keep no code object alive)
    assert line_stats("generated.py", 2)[1] >= 10
    assert engine._test_cache_count() - before < 10


def test_each_new_file_is_seen(tracing):
    # GIVEN tracing
    # WHEN code from 300 different files allocates
    results = [run_generated(i, f"gen{i}.py") for i in range(300)]
    # THEN each file's line holds its list
    stats = engine._get_stats()
    assert all(stats[f"gen{i}.py"][2][1] >= 1 for i in range(300))
    del results


@pytest.mark.parametrize("filename", ["caf\u00e9.py", "\u6f22\u5b57.py",
                                      "bad\udcff.py", "<string>"])
def test_filenames_of_any_text_come_back_readable(tracing, filename):
    # GIVEN code whose filename is not plain ASCII (even a lone surrogate)
    code = compile("data = [bytearray(1000) for _ in range(3)]\n",
                   filename, "exec")
    namespace = {}
    # WHEN it allocates
    exec(code, namespace)
    # THEN its line is reported under the same name (a lone surrogate
    # becomes U+FFFD)
    expected = filename.replace("\udcff", "\ufffd")
    assert line_stats(expected, 1)[0] >= 3000


def generate_blocks(count):
    for _ in range(count):
        yield bytearray(500)  # generator line


async def allocate_in_coroutine():
    await asyncio.sleep(0)
    return bytearray(7000)  # coroutine line


def test_generators_and_coroutines_are_attributed_to_their_lines(tracing):
    # GIVEN tracing
    gen_line = generate_blocks.__code__.co_firstlineno + 2
    coro_line = allocate_in_coroutine.__code__.co_firstlineno + 2
    # WHEN a generator and a coroutine allocate
    blocks = list(generate_blocks(10))
    data = asyncio.run(allocate_in_coroutine())
    # THEN their own lines hold the blocks
    assert line_stats(__file__, gen_line)[0] >= 5000
    assert line_stats(__file__, coro_line)[0] >= 7000
    del blocks, data


def recurse(depth):
    if depth == 0:
        return KnownBlock(engine.DOMAIN_MEM, 64)
    return recurse(depth - 1)


def test_the_deepest_traceback_limit_on_a_deep_stack():
    # GIVEN tracing with the largest traceback limit
    engine.enable(engine.MAX_NFRAME)
    try:
        # WHEN a block is allocated 900 frames deep
        block = recurse(900)
        # THEN its traceback holds every frame
        frames = [frames for size, count, frames in engine._get_sites()
                  if frames[0] == (HELPER_FILE, block.lineno)]
        assert frames and len(frames[0]) > 900
        block.free()
    finally:
        engine.disable()


def call_with(function, argument):
    return function(argument)


def call_generated(i, prefix, body, names):
    """Compile and run a function f(size) of file <prefix><i % 7>.py whose
    line 2 + i % 5 is `return <body>`, with size 1000 + i and the globals
    `names`; return its result and that (file, line)."""
    namespace = dict(names)
    # Blank lines move the line and leave the bytecode as it is: a new code
    # object may put the same instructions at the same addresses.
    source = "def f(size):\n" + "\n" * (i % 5) + "    return %s\n" % body
    filename = "%s%d.py" % (prefix, i % 7)
    exec(compile(source, filename, "exec"), namespace)
    # One call deeper than the frame of exec: no other frame takes f's
    # stack slot between two calls.
    result = call_with(namespace["f"], 1000 + i)
    # f and its globals hold each other: break the cycle, so that the code
    # object dies here and the next one may take its memory.
    namespace.clear()
    return result, (filename, 2 + i % 5)


def call_generated_block(i):
    """call_generated allocating a KnownBlock from files caller*.py."""
    return call_generated(i, "caller", "KnownBlock(OBJ, size)",
                          {"KnownBlock": KnownBlock,
                           "OBJ": engine.DOMAIN_OBJ})


def generated_sites():
    """(size, count) by the first two frames of the sites of the blocks
    allocated through call_generated_block."""
    found = {}
    for size, count, frames in engine._get_sites():
        if frames[0][0] == HELPER_FILE and frames[1][0].startswith("caller"):
            old = found.get(frames[1], (0, 0))
            found[frames[1]] = (old[0] + size, old[1] + count)
    return found


def test_deep_tracebacks_stay_right_as_code_objects_come_and_go(
        deep_tracing):
    # GIVEN tracing with 25 frames
    # WHEN 3000 functions are compiled, run and freed, each allocating from
    # its own file and line, one call below the same caller (new code
    # objects take the memory of dead ones, their frames the same stack
    # slots), the last block of each file kept
    kept = {}
    for i in range(3000):
        block, where = call_generated_block(i)
        old = kept.pop(where[0], None)
        if old is not None:
            old[0].free()
        kept[where[0]] = (block, where)
    gc.collect()
    try:
        # THEN each kept block is at its own file and line, and nothing
        # else is left there
        expected = {where: (block.size, 1) for block, where in kept.values()}
        found = {where: figures for where, figures in generated_sites().items()
                 if figures != (0, 0)}
        assert found == expected
    finally:
        for block, _ in kept.values():
            block.free()


def test_lines_stay_right_as_code_objects_come_and_go(tracing):
    # GIVEN tracing with 1 frame
    # WHEN 3000 functions are compiled, run and freed, each allocating a
    # bytearray from its own file and line (the same bytecode, which a new
    # code object may put where a dead one had it), the last of each file
    # kept
    kept = {}
    for i in range(3000):
        data, (filename, line) = call_generated(i, "line", "bytearray(size)",
                                                {})
        kept[filename] = (data, line)
    gc.collect()
    # THEN the lines holding memory in those files are the kept blocks'
    stats = engine._get_stats()
    found = {(filename, line): size for filename, lines in stats.items()
             if filename.startswith("line") and filename.endswith(".py")
             for line, (size, count) in lines.items() if size}
    assert sorted(found) == sorted((name, line)
                                   for name, (_, line) in kept.items())
    for (name, line), size in found.items():
        assert size >= len(kept[name][0])
    del kept


def resume(generator):
    return next(generator)  # resume-line


def resume_elsewhere(generator):
    return next(generator)  # resume-elsewhere-line


def yield_blocks():
    while True:
        yield KnownBlock(engine.DOMAIN_OBJ, 3000)


def test_a_generator_resumed_from_two_callers_has_both_tracebacks(
        deep_tracing):
    # GIVEN tracing with 25 frames, and a generator that allocates a block
    # at each step, from the same instruction
    generator = yield_blocks()
    # WHEN it is resumed alternately from two functions
    blocks = [resume(generator) if n % 2 else resume_elsewhere(generator)
              for n in range(10)]
    try:
        # THEN the frame below the generator's is the caller of each resume
        callers = {}
        for size, count, frames in engine._get_sites():
            if frames[0] == (HELPER_FILE, blocks[0].lineno) and size:
                callers[frames[2]] = callers.get(frames[2], 0) + count
        first = resume.__code__.co_firstlineno
        other = resume_elsewhere.__code__.co_firstlineno
        assert callers == {(__file__, first + 1): 5, (__file__, other + 1): 5}
    finally:
        for block in blocks:
            block.free()


@pytest.mark.parametrize("action", ["clear_traces", "disable-enable",
                                    "change-depth"])
def test_switching_while_threads_allocate(action):
    # GIVEN threads that allocate and free in every domain
    engine.enable(1)
    stop = threading.Event()
    errors = []

    def churn(seed):
        try:
            while not stop.is_set():
                blocks = [KnownBlock(seed % 3, 32 + i) for i in range(50)]
                junk = [str(i) * 3 for i in range(100)]
                for block in blocks:
                    block.free()
                del junk
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(seed,))
               for seed in range(6)]
    for thread in threads:
        thread.start()
    try:
        # WHEN tracing is cleared, switched off and on, or re-depthed, 200
        # times while they run
        for round_ in range(200):
            if action == "clear_traces":
                engine.clear_traces()
            elif action == "disable-enable":
                engine.disable()
                engine.enable(1)
            else:
                engine.enable(1 + round_ % 7)
            engine._get_stats()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        engine.disable()
    # THEN nothing crashed or failed
    assert errors == []


def test_untraced_count_is_zero_when_memory_is_plenty(tracing):
    # GIVEN tracing with memory to spare
    # WHEN the program allocates
    data = [bytes(100) for _ in range(10_000)]
    # THEN every block was recorded
    assert engine.get_untraced_count() == 0
    del data


def test_helper_handles_are_checked():
    # GIVEN no live test block with handle 8191
    # WHEN it is freed, or an unknown domain is asked for
    # THEN a clear error, no crash
    with pytest.raises(ValueError):
        engine._test_free(engine.DOMAIN_RAW, 8191)
    with pytest.raises(ValueError):
        engine._test_malloc(7, 10)


def run_python(code, *options):
    import subprocess
    return subprocess.run([sys.executable, *options, "-c", code],
                          capture_output=True, text=True, timeout=120)


def test_exit_while_tracing_with_threads_still_allocating():
    # GIVEN a program that traces, with daemon threads allocating in every
    # domain when the interpreter exits
    code = """if True:
        import threading
        from pytracemalloc import _tracemalloc as engine
        engine.enable(3)
        def churn():
            while True:
                junk = [str(i) for i in range(100)]
                handle = engine._test_malloc(engine.DOMAIN_RAW, 100)
                engine._test_free(engine.DOMAIN_RAW, handle)
        for _ in range(4):
            threading.Thread(target=churn, daemon=True).start()
        data = [bytes(100) for _ in range(10000)]
        print("traced", engine.is_enabled())
    """
    # WHEN it exits
    result = run_python(code)
    # THEN it exits cleanly
    assert result.returncode == 0, result.stderr
    assert "traced True" in result.stdout


def test_exit_stops_tracing_before_teardown():
    # GIVEN a program that never disables tracing
    code = """if True:
        import atexit
        def report():
            from pytracemalloc import _tracemalloc as engine
            print("at exit, enabled:", engine.is_enabled())
        # registered before pytracemalloc's own hook, so it runs after it
        atexit.register(report)
        import pytracemalloc
        pytracemalloc.enable(1)
    """
    # WHEN the interpreter exits
    result = run_python(code)
    # THEN tracing was stopped by the package's exit hook
    assert result.returncode == 0, result.stderr
    assert "at exit, enabled: False" in result.stdout


@pytest.mark.parametrize("options", [["-X", "dev"],
                                     ["-X", "tracemalloc=5"]],
                         ids=["debug-allocators", "stdlib-from-startup"])
def test_on_top_of_other_allocator_hooks(options):
    # GIVEN an interpreter whose allocators are already wrapped (debug
    # hooks, or stdlib tracemalloc started at start-up)
    code = """if True:
        from pytracemalloc import _tracemalloc as engine
        engine.enable(1)
        data = [bytearray(1000) for _ in range(100)]
        stats = engine._get_stats()["<string>"]
        print("line", max(stats.values())[0] >= 100_000)
        engine.disable()
        more = [bytearray(1000) for _ in range(100)]
        print("ok")
    """
    # WHEN ours wraps them, traces and lets go
    result = run_python(code, *options)
    # THEN the lines are right and nothing breaks
    assert result.returncode == 0, result.stderr
    assert "line True" in result.stdout and "ok" in result.stdout


def test_the_hooks_leave_errno_as_the_allocator_left_it():
    # GIVEN tracing, and four threads making and freeing RAW blocks
    # without the GIL, so that the hooks' table lock is contended (a
    # waiting lock may leave EAGAIN in errno; getpath.py, reading files
    # while an interpreter is created, took it for a failed read)
    import threading
    from pytracemalloc import _tracemalloc as engine
    engine.enable(1)
    try:
        changes = []
        threads = [threading.Thread(
            target=lambda: changes.append(engine._test_errno_changes(200000)))
            for _ in range(4)]
        # WHEN they all run
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        engine.disable()
    # THEN no allocation or free changed errno
    assert changes == [0, 0, 0, 0]
