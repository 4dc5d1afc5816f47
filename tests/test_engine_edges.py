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
