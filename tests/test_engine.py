"""The tracing engine: hooks, live per-line statistics, read-outs."""

import gc
import os
import sys
import threading
import tracemalloc as stdlib_tracemalloc

import pytest

from conftest import HELPER_FILE, KnownBlock, line_stats
from pytracemalloc import _tracemalloc as engine

DOMAINS = [engine.DOMAIN_RAW, engine.DOMAIN_MEM, engine.DOMAIN_OBJ]
DOMAIN_IDS = ["raw", "mem", "obj"]


@pytest.mark.parametrize("domain", DOMAINS, ids=DOMAIN_IDS)
def test_known_allocation_has_its_exact_size_and_line(tracing, domain):
    # GIVEN tracing, and a line that holds nothing yet
    probe = KnownBlock(domain, 1)
    probe.free()
    before = line_stats(HELPER_FILE, probe.lineno)
    # WHEN a block of a known size is allocated at a known line
    block = KnownBlock(domain, 12345)
    try:
        # THEN that line holds exactly one more block of that size
        size, count = line_stats(HELPER_FILE, block.lineno)
        assert (size - before[0], count - before[1]) == (12345, 1)
    finally:
        block.free()


@pytest.mark.parametrize("domain", DOMAINS, ids=DOMAIN_IDS)
def test_statistics_fall_back_when_the_block_is_freed(tracing, domain):
    # GIVEN a traced block
    block = KnownBlock(domain, 5000)
    held = line_stats(HELPER_FILE, block.lineno)
    current_before = engine.get_traced_memory()[0]
    # WHEN it is freed
    block.free()
    # THEN its line and the traced total give back exactly its size
    size, count = line_stats(HELPER_FILE, block.lineno)
    assert (held[0] - size, held[1] - count) == (5000, 1)
    # (the total also moves by the small ints and tuples of the read-out)
    assert abs(current_before - engine.get_traced_memory()[0] - 5000) < 512


@pytest.mark.parametrize("domain", DOMAINS, ids=DOMAIN_IDS)
def test_realloc_moves_the_block_to_the_line_that_resized_it(tracing,
                                                             domain):
    # GIVEN a block allocated at the helper's malloc line
    block = KnownBlock(domain, 100)
    malloc_line = block.lineno
    malloc_before = line_stats(HELPER_FILE, malloc_line)
    try:
        # WHEN it is resized
        block.realloc(70000)
        # THEN the malloc line lost it and the realloc line holds the new size
        assert block.lineno != malloc_line
        malloc_after = line_stats(HELPER_FILE, malloc_line)
        assert (malloc_before[0] - malloc_after[0],
                malloc_before[1] - malloc_after[1]) == (100, 1)
        assert line_stats(HELPER_FILE, block.lineno) == (70000, 1)
    finally:
        block.free()


@pytest.mark.parametrize("domain", DOMAINS, ids=DOMAIN_IDS)
def test_calloc_counts_nelem_times_elsize(tracing, domain):
    # GIVEN tracing
    # WHEN a zeroed array of 300 elements of 7 bytes is allocated
    block = KnownBlock.calloc(domain, 300, 7)
    try:
        # THEN its line holds 2100 bytes in one block
        assert line_stats(HELPER_FILE, block.lineno) == (2100, 1)
    finally:
        block.free()


def allocate_in_depth(depth, size):
    if depth == 0:
        return KnownBlock(engine.DOMAIN_OBJ, size)
    return allocate_in_depth(depth - 1, size)


def test_deep_traceback_lists_the_callers_most_recent_first(deep_tracing):
    # GIVEN tracing with 25 frames
    # WHEN a block is allocated 3 calls below this test
    call_line = sys._getframe().f_lineno + 1
    block = allocate_in_depth(3, 4242)
    try:
        # THEN its site's traceback starts at the helper's line, then the
        # three recursive calls, then this test
        sites = [(size, count, frames) for size, count, frames
                 in engine._get_sites()
                 if frames[0] == (HELPER_FILE, block.lineno)]
        assert sites, "the helper's line holds no site"
        size, count, frames = max(sites, key=lambda site: len(site[2]))
        assert (size, count) == (4242, 1)
        first = allocate_in_depth.__code__.co_firstlineno
        assert list(frames[1:6]) == [(__file__, first + 2)] \
            + [(__file__, first + 3)] * 3 \
            + [(__file__, call_line)]
        assert len(frames) <= 25
    finally:
        block.free()


def test_traceback_is_cut_at_the_limit():
    # GIVEN tracing with 2 frames
    engine.enable(2)
    try:
        # WHEN a block is allocated 10 calls deep
        block = allocate_in_depth(10, 999)
        # THEN its traceback keeps the 2 most recent frames
        frames = [frames for size, count, frames in engine._get_sites()
                  if frames[0] == (HELPER_FILE, block.lineno)]
        assert frames and all(len(f) == 2 for f in frames)
        block.free()
    finally:
        engine.disable()


def test_enable_twice_is_harmless_and_applies_the_new_depth():
    # GIVEN tracing with one frame and a live block
    engine.enable(1)
    try:
        first = KnownBlock(engine.DOMAIN_MEM, 777)
        # WHEN enable is called again, with another depth
        engine.enable(1)
        engine.enable(5)
        # THEN tracing goes on, the old block is still traced, and new
        # blocks get the new depth
        assert engine.is_enabled()
        assert engine.get_traceback_limit() == 5
        assert line_stats(HELPER_FILE, first.lineno)[0] >= 777
        second = allocate_in_depth(3, 555)
        deep = [frames for size, count, frames in engine._get_sites()
                if frames[0] == (HELPER_FILE, second.lineno) and size == 555]
        assert deep and len(deep[0]) == 5
        first.free()
        second.free()
    finally:
        engine.disable()


@pytest.mark.parametrize("nframe", [0, -1, engine.MAX_NFRAME + 1])
def test_enable_rejects_a_depth_out_of_range(nframe):
    # WHEN enable gets a depth outside [1; MAX_NFRAME]
    # THEN it raises ValueError and does not trace
    with pytest.raises(ValueError):
        engine.enable(nframe)
    assert not engine.is_enabled()


def test_traced_memory_current_peak_and_reset(tracing):
    # GIVEN a baseline
    base_current, _ = engine.get_traced_memory()
    # WHEN a 1 MB block comes and goes
    block = KnownBlock(engine.DOMAIN_RAW, 1_000_000)
    current, peak = engine.get_traced_memory()
    block.free()
    after, peak_after = engine.get_traced_memory()
    # THEN current rose and fell by its size and the peak remembers it
    assert abs(current - base_current - 1_000_000) < 1024
    assert peak >= current and peak_after >= current
    assert after - base_current < 1024
    # AND reset_peak brings the peak down to the current size
    engine.reset_peak()
    now, peak_now = engine.get_traced_memory()
    assert peak_now < peak_after and peak_now - now < 100_000


def test_clear_traces_forgets_everything_but_keeps_tracing(tracing):
    # GIVEN a traced block
    block = KnownBlock(engine.DOMAIN_MEM, 4096)
    # WHEN traces are cleared
    engine.clear_traces()
    # THEN nothing is traced any more, yet new blocks are
    assert line_stats(HELPER_FILE, block.lineno) == (0, 0)
    assert engine.is_enabled()
    block.free()
    again = KnownBlock(engine.DOMAIN_MEM, 4096)
    assert line_stats(HELPER_FILE, again.lineno) == (4096, 1)
    again.free()


def test_disable_stops_recording_and_forgets(tracing):
    # GIVEN a traced block
    block = KnownBlock(engine.DOMAIN_OBJ, 300)
    # WHEN tracing is disabled
    engine.disable()
    # THEN nothing is reported and new blocks are not traced
    assert not engine.is_enabled()
    assert engine._get_stats() == {}
    assert engine.get_traced_memory() == (0, 0)
    other = KnownBlock(engine.DOMAIN_OBJ, 300)
    assert engine._get_stats() == {}
    block.free()
    other.free()


def test_a_thousand_enable_disable_cycles():
    # GIVEN nothing traced
    for cycle in range(1000):
        # WHEN tracing is switched on, used and off again, 1000 times
        engine.enable(1 + cycle % 3)
        block = KnownBlock(DOMAINS[cycle % 3], 64 + cycle)
        stats = line_stats(HELPER_FILE, block.lineno)
        block.free()
        engine.disable()
        # THEN each cycle saw its block
        assert stats[0] >= 64 + cycle
    assert not engine.is_enabled()


def test_tracer_memory_is_reported_and_grows_with_blocks(tracing):
    # GIVEN the tracer's memory now
    before = engine.get_tracemalloc_memory()
    # WHEN 200,000 more blocks are live
    blocks = [object() for _ in range(200_000)]
    after = engine.get_tracemalloc_memory()
    # THEN the tracer reports the tables' growth, bounded per block
    assert before > 0
    assert after > before
    assert (after - before) / len(blocks) < 64
    del blocks


def test_blocks_with_no_python_frame_go_to_unknown(tracing):
    # GIVEN tracing
    # WHEN a C thread that never ran Python allocates 3333 bytes
    block = KnownBlock.from_c_thread(3333)
    try:
        # THEN the block is counted under <unknown>, line 0
        size, count = engine._get_stats()["<unknown>"][0]
        assert size >= 3333 and count >= 1
    finally:
        block.free()


def test_out_of_memory_in_the_tracer_never_fails_the_user(tracing):
    # GIVEN a tracer whose own allocations all fail from now on
    engine._test_fail_after(0)
    try:
        # WHEN the program allocates a lot
        data = [str(i) * 3 for i in range(100_000)]
        blocks = [KnownBlock(domain, 100) for domain in DOMAINS]
    finally:
        engine._test_fail_after(-1)
    # THEN every allocation succeeded, and the blocks the tracer could not
    # record are counted
    assert len(data) == 100_000 and all(b.handle is not None for b in blocks)
    assert engine.get_untraced_count() > 0
    for block in blocks:
        block.free()


def test_threads_allocating_while_another_reads(tracing):
    # GIVEN a baseline of traced memory
    gc.collect()
    stop = threading.Event()
    errors = []
    baseline = engine.get_traced_memory()[0]

    def churn(seed):
        try:
            for round_ in range(30):
                blocks = [KnownBlock(DOMAINS[(seed + i) % 3], 16 + i % 200)
                          for i in range(300)]
                data = [bytes(50 + i) for i in range(200)]
                for block in blocks:
                    block.free()
                del data
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read():
        while not stop.is_set():
            engine._get_stats()
            engine._get_sites()
            engine.get_traced_memory()

    # WHEN 8 threads allocate and free concurrently while another reads
    reader = threading.Thread(target=read)
    reader.start()
    workers = [threading.Thread(target=churn, args=(seed,))
               for seed in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    reader.join()
    del workers, reader
    gc.collect()
    # THEN nothing failed and the helper's lines hold nothing any more
    assert errors == []
    held = engine._get_stats().get(HELPER_FILE, {})
    assert all(size == 0 for size, count in held.values()), held
    # AND the total is back near its baseline (thread objects and caches
    # of the interpreter may keep a few KiB)
    assert engine.get_traced_memory()[0] - baseline < 256 * 1024


def test_raw_allocations_without_the_gil_from_many_threads(tracing):
    # GIVEN tracing
    # WHEN many C threads (no GIL, no Python frame) allocate at once
    blocks = [KnownBlock.from_c_thread(100 + i) for i in range(50)]
    # THEN each block is traced under <unknown>
    size, count = engine._get_stats()["<unknown>"][0]
    assert count >= 50 and size >= sum(100 + i for i in range(50))
    for block in blocks:
        block.free()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_tracing_keeps_working_in_a_forked_child(tracing):
    # GIVEN a traced block in the parent
    block = KnownBlock(engine.DOMAIN_MEM, 1111)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 1
        try:
            # WHEN the child allocates after the fork
            child_block = KnownBlock(engine.DOMAIN_RAW, 2222)
            inherited = line_stats(HELPER_FILE, block.lineno)
            new = line_stats(HELPER_FILE, child_block.lineno)
            ok = (engine.is_enabled() and inherited[0] >= 1111
                  and new[0] >= 2222)
            status = 0 if ok else 2
        finally:
            os.write(write_end, bytes([status]))
            os._exit(0)
    os.close(write_end)
    result = os.read(read_end, 1)
    os.waitpid(pid, 0)
    os.close(read_end)
    block.free()
    # THEN the child saw the inherited block and traced its own
    assert result == bytes([0])


@pytest.mark.parametrize("order", ["stdlib-first", "ours-first"])
def test_runs_beside_stdlib_tracemalloc(order):
    # GIVEN stdlib tracemalloc and ours, started in either order
    if order == "stdlib-first":
        stdlib_tracemalloc.start(1)
        engine.enable(1)
    else:
        engine.enable(1)
        stdlib_tracemalloc.start(1)
    try:
        # WHEN a block is allocated
        data = bytearray(123_456)
        # THEN both see it at this line
        here = sys._getframe().f_lineno - 2
        ours = line_stats(__file__, here)
        theirs = [stat for stat in
                  stdlib_tracemalloc.take_snapshot().statistics("lineno")
                  if stat.traceback[0].filename == __file__
                  and stat.traceback[0].lineno == here]
        assert ours[0] >= 123_456
        assert theirs and theirs[0].size >= 123_456
        del data
    finally:
        # AND stopping in the reverse order puts the allocators back
        if order == "stdlib-first":
            engine.disable()
            stdlib_tracemalloc.stop()
        else:
            stdlib_tracemalloc.stop()
            engine.disable()
    assert not engine.is_enabled() and not stdlib_tracemalloc.is_tracing()
    block = KnownBlock(engine.DOMAIN_OBJ, 10)
    assert engine._get_stats() == {}
    block.free()


def test_stopping_ours_under_stdlib_keeps_stdlib_working():
    # GIVEN ours started first, stdlib wrapped around it
    engine.enable(1)
    stdlib_tracemalloc.start(1)
    try:
        # WHEN ours is stopped first (out of order)
        engine.disable()
        # THEN stdlib still traces new blocks
        data = bytearray(54_321)
        here = sys._getframe().f_lineno - 1
        theirs = [stat for stat in
                  stdlib_tracemalloc.take_snapshot().statistics("lineno")
                  if stat.traceback[0].lineno == here
                  and stat.traceback[0].filename == __file__]
        assert theirs and theirs[0].size >= 54_321
        del data
        # AND ours can start again
        engine.enable(1)
        block = KnownBlock(engine.DOMAIN_MEM, 4321)
        # (stdlib's own tables, allocated through our RAW hook since it
        # wrapped us, land on the line too: at least the block is there)
        assert line_stats(HELPER_FILE, block.lineno)[0] >= 4321
        block.free()
    finally:
        engine.disable()
        stdlib_tracemalloc.stop()


class WithDict:
    def __init__(self):
        self.value = 1


def last_of_many(make):
    """Make more objects than CPython's free lists hold (80 lists, 2000
    tuples of a length), so the last one is a fresh allocation: blocks
    recycled through a free list keep the trace of their first owner."""
    def many():
        return [make() for _ in range(3000)]
    many.alloc_line = make.__code__.co_firstlineno
    return many


@pytest.mark.parametrize("make", [
    lambda: [bytes(range(200)) * 10],
    last_of_many(lambda: [None] * 10),
    last_of_many(lambda: list(range(100))),
    lambda: [WithDict()],
], ids=["bytes", "small-list", "list", "instance-with-dict"])
def test_object_trace_finds_the_block_holding_the_object(tracing, make):
    # GIVEN an object created while tracing, at a known line
    obj = make()[-1]
    make_line = getattr(make, "alloc_line", make.__code__.co_firstlineno)
    # WHEN its trace is looked up
    trace = engine._get_object_trace(obj)
    # THEN it is found, on the line that created it, with at least the
    # object's fixed part and at most its whole size plus pre-headers (and,
    # from 3.13, the inline values of an instance's attributes)
    assert trace is not None
    size, filename, lineno = trace
    assert filename == __file__
    assert type(obj).__basicsize__ <= size <= sys.getsizeof(obj) + 512
    assert lineno == make_line


def test_object_trace_of_an_untraced_object_is_none(tracing):
    # GIVEN an object created before tracing started
    # THEN it has no trace
    assert engine._get_object_trace(sys) is None
    assert engine._get_object_traceback(sys) is None


def test_readouts_have_the_documented_shapes(tracing):
    # GIVEN some traced blocks
    block = KnownBlock(engine.DOMAIN_OBJ, 100)
    # WHEN stats and sites are read
    stats = engine._get_stats()
    sites = engine._get_sites()
    # THEN the shapes are {file: {line: (size, count)}} and
    # [(size, count, ((file, line), ...))]
    for filename, lines in stats.items():
        assert isinstance(filename, str)
        for lineno, (size, count) in lines.items():
            assert isinstance(lineno, int) and size >= 0 and count > 0
    for size, count, frames in sites:
        assert count > 0 and frames
        assert all(isinstance(f, str) and isinstance(n, int)
                   for f, n in frames)
    # AND the two agree on the totals
    assert (sum(s for lines in stats.values() for s, c in lines.values())
            == sum(size for size, count, frames in sites))
    block.free()
