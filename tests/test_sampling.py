"""Sampled mode (issue 17): enable(sample_bytes=N) records a block of s
bytes with probability 1 - exp(-s/N) and weighs it so that every figure is
an unbiased estimate.

Statistical tests run over fixed seeds (``_set_sample_seed``), so they give
the same answer every run; their bounds are 4 standard errors of the mean,
wide enough that even unseeded runs would fail about once in 15,000."""

import gc
import io
import math
import statistics
import sys
import threading

import pytest

import pytracemalloc
from pytracemalloc import DisplayTop, Snapshot
from pytracemalloc import _tracemalloc as engine
from pytracemalloc.snapshot import take_snapshot

from conftest import HELPER_FILE, KnownBlock, MALLOC_LINE, line_stats

KIB = 1024


@pytest.fixture(autouse=True)
def off():
    engine.disable()
    yield
    engine.disable()


def mean_and_error(values):
    """Mean and standard error of the mean."""
    return (statistics.fmean(values),
            statistics.stdev(values) / math.sqrt(len(values)))


def assert_unbiased(estimates, truth, what):
    mean, error = mean_and_error(estimates)
    assert error > 0, "%s: the estimates never vary: nothing was sampled" \
        % what
    assert abs(mean - truth) <= 4 * error, (
        "%s: mean of %d estimates %.1f, exact %d, standard error %.1f"
        % (what, len(estimates), mean, truth, error))


# --- the estimator ----------------------------------------------------------

SIZES = [16] * 20000 + [600] * 3000 + [40 * KIB] * 50 + [3 << 20] * 2


def test_sampler_estimates_are_unbiased_for_sizes_and_counts():
    # GIVEN blocks of very different sizes (most far below N, some above)
    n = 256 * KIB
    sizes, counts, sampled = [], [], []
    # WHEN the sampler runs on them with 300 seeds
    for seed in range(300):
        engine._set_sample_seed(seed)
        size, count, hits = engine._test_sample_sizes(SIZES, n)
        sizes.append(size)
        counts.append(count)
        sampled.append(hits)
    # THEN the mean estimate converges to the exact total size and count
    assert_unbiased(sizes, sum(SIZES), "total size")
    assert_unbiased(counts, len(SIZES), "block count")
    # AND a few blocks only were kept: about one per N bytes, plus the big
    # ones that always are
    expected_hits = sum(-math.expm1(-s / n) for s in SIZES)
    assert abs(statistics.fmean(sampled) - expected_hits) < 0.1 * expected_hits
    assert max(sampled) < len(SIZES) / 50


def test_same_seed_same_sample():
    # GIVEN a seed WHEN the sampler runs twice on the same blocks
    engine._set_sample_seed(1234)
    first = engine._test_sample_sizes(SIZES, 64 * KIB)
    engine._set_sample_seed(1234)
    second = engine._test_sample_sizes(SIZES, 64 * KIB)
    engine._set_sample_seed(4321)
    other = engine._test_sample_sizes(SIZES, 64 * KIB)
    # THEN it keeps the same blocks; another seed keeps others
    assert first == second
    assert other != first


def test_blocks_much_bigger_than_n_are_always_kept_at_their_size():
    # GIVEN blocks of 10 MiB and N = 4 KiB: p = 1 - exp(-2560) = 1
    engine._set_sample_seed(7)
    size, count, hits = engine._test_sample_sizes([10 << 20] * 5, 4 * KIB)
    # THEN they are all kept, each counted once at its size
    assert (size, count, hits) == (50 << 20, 5.0, 5)


# --- through the hooks ------------------------------------------------------

def line_figures(nblock, block_size, domain=None, **mode):
    """Trace nblock RAW blocks at MALLOC_LINE: the line's (size, count)
    (the blocks, and the ints of the handles above 256 made on that line),
    the number of traced blocks, and the line's figures once they are
    freed."""
    seed = mode.pop("seed", None)
    engine.enable(1, **mode)
    if seed is not None:
        engine._set_sample_seed(seed)
    domain = engine.DOMAIN_RAW if domain is None else domain
    blocks = [KnownBlock(domain, block_size) for _ in range(nblock)]
    size, count = line_stats(HELPER_FILE, MALLOC_LINE)
    variance = engine._get_line_variances().get((HELPER_FILE, MALLOC_LINE),
                                                0.0)
    traced = engine._get_traced_blocks()
    for block in blocks:
        block.free()
    after = line_stats(HELPER_FILE, MALLOC_LINE)
    engine.disable()
    line_figures.variance = variance
    return size, count, traced, after


@pytest.mark.parametrize("domain", ["DOMAIN_RAW", "DOMAIN_MEM",
                                    "DOMAIN_OBJ"])
def test_line_estimates_through_the_hooks_are_unbiased(domain):
    # GIVEN 1500 blocks of 3000 bytes on one line and N = 64 KiB (p ~ 4.5 %:
    # about 68 sampled a run), and the line's exact figures.  In the MEM
    # and OBJ domains pymalloc hands such blocks to PyMem_RawMalloc, a
    # nested call that must not give them a second chance as RAW blocks.
    domain = getattr(engine, domain)
    n, nblock, block_size = 64 * KIB, 1500, 3000
    exact_size, exact_count, _, _ = line_figures(nblock, block_size, domain)
    assert exact_size >= nblock * block_size and exact_count >= nblock
    assert line_figures.variance == 0.0  # exact mode: no error
    sizes, counts, variances, sampled_blocks = [], [], [], []
    # WHEN the line is read in sampled mode, over 120 seeds
    for seed in range(120):
        size, count, traced, after = line_figures(
            nblock, block_size, domain, seed=seed, sample_bytes=n)
        sizes.append(size)
        counts.append(count)
        variances.append(line_figures.variance)
        # AND after freeing them the line holds nothing (every sampled
        # block was found and removed with the weight it was added with)
        assert after == (0, 0)
        sampled_blocks.append(traced)
    # THEN the estimates converge to the exact figures (the standard error
    # of the mean is about 1.1 % of the size: a bias of 5 % would fail)
    assert_unbiased(sizes, exact_size, "line size")
    assert_unbiased(counts, exact_count, "line count")
    assert mean_and_error(sizes)[1] < 0.02 * exact_size
    # AND the engine's variance estimate matches the spread of the
    # estimates (the standard errors the bench shows)
    ratio = statistics.variance(sizes) / statistics.fmean(variances)
    assert 0.5 < ratio < 2.0, ratio
    # AND each block had one chance of being sampled: about p * 1500 = 68
    # in the tables, not twice that
    assert statistics.fmean(sampled_blocks) < 2 * 68


def floats_recycled_at_the_next_line(**mode):
    """1500 floats kept at the line after the one that allocates them: each
    is made at line X, dies when the loop rebinds x (its block goes to the
    float free list) and is handed out again by the next line.  Returns
    that line's count."""
    seed = mode.pop("seed", None)
    engine.enable(1, **mode)
    if seed is not None:
        engine._set_sample_seed(seed)
    keep = []
    x = 0.25
    for i in range(1500):
        x = x + 1.0  # line X: a new float; the old x dies
        keep.append(x * 2.0); line = sys._getframe().f_lineno
    count = line_stats(__file__, line)[1]
    engine.disable()
    return count


def test_blocks_a_free_list_hands_out_again_are_estimated_without_bias():
    # GIVEN floats whose blocks a free list recycles from one line to the
    # next (3.14 does the same with ints), and the exact count of the line
    # that takes them: on 3.13+ the reference tracer moves each to it
    exact = floats_recycled_at_the_next_line()
    if engine.get_free_list_mode() == "reftracer":
        assert exact >= 1400, exact
    # WHEN the line is read in sampled mode, N = 1 KiB (a float is sampled
    # with p ~ 2.4 %), over 60 seeds
    counts = [floats_recycled_at_the_next_line(sample_bytes=KIB, seed=seed)
              for seed in range(60)]
    # THEN the estimates converge to the exact count: a recycled block is
    # moved even when it was the last block recorded (it was, in sampled
    # mode, and reads as freshly allocated unless its death is noted)
    if exact:
        assert_unbiased(counts, exact, "recycled floats")
    else:
        assert counts == [0] * len(counts)


def test_unsampled_blocks_are_not_in_the_table_and_free_cleanly():
    # GIVEN 5000 small live blocks in sampled mode, N = 256 KiB
    gc.collect()
    size, count, traced, after = line_figures(5000, 100, seed=99,
                                              sample_bytes=256 * KIB)
    # THEN the table holds the sampled blocks only (about 2, not 5000)
    assert traced < 200
    # AND freeing the unsampled ones (a lookup that misses) changes
    # nothing, the sampled ones leave the line empty
    assert after == (0, 0)


def test_tracer_memory_follows_the_sampled_blocks():
    # GIVEN 200,000 live small objects
    def tracer_memory(**mode):
        gc.collect()
        engine.enable(1, **mode)
        before = engine.get_tracemalloc_memory()
        keep = [bytearray(64) for _ in range(200000)]
        grown = engine.get_tracemalloc_memory() - before
        blocks = engine._get_traced_blocks()
        del keep
        engine.disable()
        return grown, blocks
    exact_memory, exact_blocks = tracer_memory()
    sampled_memory, sampled_blocks = tracer_memory(sample_bytes=512 * KIB)
    # THEN sampled mode keeps a few hundred blocks, not 400,000, and its
    # tables barely grow
    assert exact_blocks >= 200000
    assert sampled_blocks < exact_blocks / 100
    assert sampled_memory < exact_memory / 20


def test_traced_memory_is_an_estimate_that_keeps_big_blocks_exact():
    # GIVEN sampled mode with N = 4 KiB and a block of 8 MiB (always kept)
    engine.enable(1, sample_bytes=4 * KIB)
    before, _ = engine.get_traced_memory()
    block = KnownBlock(engine.DOMAIN_RAW, 8 << 20)
    current, peak = engine.get_traced_memory()
    # THEN the traced memory grew by the block's exact size, and its line
    # holds it once
    assert current - before == 8 << 20
    assert peak >= current
    assert line_stats(HELPER_FILE, MALLOC_LINE) == (8 << 20, 1)
    # AND realloc moves it to its new size, free takes it out
    block.realloc(16 << 20)
    assert engine.get_traced_memory()[0] - before == 16 << 20
    block.free()
    assert engine.get_traced_memory()[0] == before


def test_sampling_in_threads():
    # GIVEN sampled mode and threads allocating blocks bigger than N
    engine.enable(1, sample_bytes=4 * KIB)
    held = []

    def work():
        held.append([bytearray(1 << 20) for _ in range(4)])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # THEN their blocks are all traced, at their sizes
    current, _ = engine.get_traced_memory()
    assert current >= 16 << 20
    del held[:]
    engine.disable()


# --- API: modes -------------------------------------------------------------

def test_mode_and_n_can_be_asked():
    assert pytracemalloc.get_sample_bytes() is None  # not tracing
    pytracemalloc.enable(1)
    assert pytracemalloc.get_sample_bytes() is None  # exact mode
    pytracemalloc.disable()
    pytracemalloc.enable(1, sample_bytes=512 * KIB)
    assert pytracemalloc.get_sample_bytes() == 512 * KIB
    pytracemalloc.disable()
    pytracemalloc.start(3, sample_bytes=4096)
    assert pytracemalloc.get_sample_bytes() == 4096
    assert pytracemalloc.get_traceback_limit() == 3


def test_switching_modes_needs_disable():
    # GIVEN exact tracing
    pytracemalloc.enable(1)
    # WHEN sampled mode is asked THEN a clear error, and exact mode goes on
    with pytest.raises(RuntimeError, match="disable"):
        pytracemalloc.enable(1, sample_bytes=4096)
    assert pytracemalloc.get_sample_bytes() is None
    # AND the same mode may be re-enabled (a new depth)
    pytracemalloc.enable(2)
    assert pytracemalloc.get_traceback_limit() == 2
    # WHEN disabled THEN sampled mode starts, and back again
    pytracemalloc.disable()
    pytracemalloc.enable(1, sample_bytes=4096)
    with pytest.raises(RuntimeError, match="disable"):
        pytracemalloc.enable(1, sample_bytes=8192)
    with pytest.raises(RuntimeError, match="disable"):
        pytracemalloc.start(1, sample_bytes=None)
    # AND a call that does not name a mode keeps the running one (0.9.1
    # code calling enable() under PYTRACEMALLOC_SAMPLE_BYTES)
    pytracemalloc.enable(3)
    pytracemalloc.enable()
    pytracemalloc.start(3)
    assert pytracemalloc.get_sample_bytes() == 4096
    assert pytracemalloc.get_traceback_limit() == 3
    pytracemalloc.disable()
    pytracemalloc.enable(1)
    # THEN exact mode counts every block exactly once again
    block = KnownBlock(engine.DOMAIN_RAW, 1000)
    assert line_stats(HELPER_FILE, MALLOC_LINE) == (1000, 1)
    block.free()


@pytest.mark.parametrize("value,error", [
    (0, ValueError), (-1, ValueError), (1 << 60, ValueError),
    (1.5, TypeError), ("512K", TypeError), (True, TypeError)])
def test_invalid_sample_bytes(value, error):
    with pytest.raises(error):
        pytracemalloc.enable(1, sample_bytes=value)
    with pytest.raises(error):
        pytracemalloc.start(1, sample_bytes=value)
    assert not pytracemalloc.is_enabled()


def test_sample_bytes_is_keyword_only():
    with pytest.raises(TypeError):
        pytracemalloc.enable(1, 4096)


def test_sample_bytes_alone_starts_with_one_frame():
    pytracemalloc.enable(sample_bytes=8192)
    assert pytracemalloc.get_sample_bytes() == 8192
    assert pytracemalloc.get_traceback_limit() == 1


# --- read-outs: snapshots, files, displays ----------------------------------

def sampled_snapshot():
    engine.enable(1, sample_bytes=4 * KIB)
    block = KnownBlock(engine.DOMAIN_RAW, 1 << 20)
    snapshot = take_snapshot()
    created = Snapshot.create()
    block.free()
    engine.disable()
    return snapshot, created


def test_snapshots_record_n_and_give_estimated_statistics():
    snapshot, created = sampled_snapshot()
    assert snapshot.sample_bytes == created.sample_bytes == 4 * KIB
    assert snapshot.is_estimate
    stats = snapshot.statistics("lineno")
    assert all(isinstance(s, pytracemalloc.EstimatedStatistic)
               for s in stats)
    assert all(isinstance(s, pytracemalloc.Statistic) for s in stats)
    [line] = [s for s in stats if s.traceback[0].lineno == MALLOC_LINE
              and s.traceback[0].filename == HELPER_FILE]
    assert (line.size, line.count) == (1 << 20, 1)
    assert "size=~1024 KiB, count=~1" in str(line)
    # filter_traces keeps N; compare_to gives estimated differences
    assert snapshot.filter_traces([]).sample_bytes == 4 * KIB
    diffs = snapshot.compare_to(snapshot, "filename")
    assert all(isinstance(d, pytracemalloc.EstimatedStatisticDiff)
               for d in diffs)
    assert "(~+0 B)" in str(diffs[0])


def test_exact_snapshots_are_not_marked():
    engine.enable(1)
    snapshot = take_snapshot()
    engine.disable()
    assert snapshot.sample_bytes is None and not snapshot.is_estimate
    stat = snapshot.statistics("lineno")[0]
    assert type(stat) is pytracemalloc.Statistic and "~" not in str(stat)


def test_files_record_n(tmp_path):
    import gzip
    import json
    snapshot, _ = sampled_snapshot()
    path = tmp_path / "sampled.snapshot"
    # WHEN a sampled snapshot is written
    snapshot.dump(path)
    document = json.loads(gzip.decompress(path.read_bytes()))
    # THEN the file is version 3 or later (4: the engine names functions)
    # and holds N; it loads back with N
    assert document["version"] >= 3
    assert document["sample_bytes"] == 4 * KIB
    loaded = Snapshot.load(path)
    assert loaded.sample_bytes == 4 * KIB
    assert loaded.statistics("lineno") == snapshot.statistics("lineno")
    # AND an invalid N is refused like any invalid field
    document["sample_bytes"] = -3
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    with pytest.raises(pytracemalloc.SnapshotLoadError, match="sample_bytes"):
        Snapshot.load(path)
    # AND a version 1 file has no N: exact
    document["version"] = 1
    document["frames"] = [row[:2] for row in document["frames"]]
    document["sample_bytes"] = 4096  # unknown to version 1: ignored
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    assert Snapshot.load(path).sample_bytes is None


def test_display_top_marks_estimates():
    # GIVEN two sampled snapshots (N = 4 KiB) of the same lines
    def snapshot(when, size):
        return Snapshot([((("/app/a.py", 3),), size, 4),
                         ((("/app/b.py", 9),), 8192, 2)], time=when,
                        sample_bytes=4 * KIB)
    stream = io.StringIO()
    top = DisplayTop(3, file=stream)
    top.show_lineno = True
    # WHEN displayed one after the other
    top.display_snapshot(snapshot(1, 40960))
    top.display_snapshot(snapshot(2, 81920))
    text = stream.getvalue()
    # THEN the headers say these are estimates, every traced figure has
    # its "~", differences included
    headers = [line for line in text.splitlines() if "Top " in line]
    assert len(headers) == 2
    assert all("(estimates: sampled, one byte in 4096 B)" in line
               for line in headers)
    assert "#1: /app/a.py:3: size=~40 KiB, count=~4, average=~10 KiB" in text
    assert ("#1: /app/a.py:3: size=~80 KiB (~+40 KiB), count=~4 (~+0), "
            "average=~20 KiB") in text
    assert "Total Python memory: size=~" in text
    # AND an exact snapshot has none
    exact = io.StringIO()
    DisplayTop(3, file=exact).display_snapshot(
        Snapshot([((("/app/a.py", 3),), 40960, 4)], time=1))
    assert "~" not in exact.getvalue()
    assert "estimates" not in exact.getvalue()


def test_cli_marks_estimates(tmp_path):
    import subprocess
    import sys
    import os
    snapshot, _ = sampled_snapshot()
    path = tmp_path / "s.snapshot"
    snapshot.write(path)
    result = subprocess.run(
        [sys.executable, "-m", "pytracemalloc", "-l", str(path)],
        capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTRACEMALLOC=""))
    assert result.returncode == 0, result.stderr
    assert "estimates: sampled, one byte in 4096 B" in result.stdout
    assert "size=~" in result.stdout
