"""Snapshot.statistics() and compare_to() group and sort in C (issue 17):
the same answers as stdlib's rules, computed here by a plain oracle, on
sites with ties, deep tracebacks, recursion and shared filenames; and the
general Python path for sites the C path does not take."""

import gc
import random

import pytest

from pytracemalloc import Snapshot, Statistic, StatisticDiff, Traceback

KEY_TYPES = [("lineno", False), ("filename", False), ("traceback", False),
             ("lineno", True), ("filename", True)]


def random_sites(seed, nsite=400):
    rng = random.Random(seed)
    files = ["/src/a.py", "/src/b.py", "/lib/c.py", "/lib/z.py"]
    sites = []
    for _ in range(nsite):
        depth = rng.choice([1, 1, 2, 3, 5])
        frames = tuple((rng.choice(files), rng.randint(1, 12))
                       for _ in range(depth))
        # Few distinct sizes and counts: many ties, decided by the key.
        sites.append((frames, rng.choice([0, 64, 128, 4096]),
                      rng.choice([0, 1, 2])))
    return sites


def oracle_groups(sites, key_type, cumulative):
    """{Traceback: [size, count]} by stdlib's documented rules."""
    groups = {}
    for frames, size, count in sites:
        if key_type == "traceback":
            keys = [Traceback(frames)]
        elif not cumulative:
            frame = frames[0]
            keys = [Traceback([frame if key_type == "lineno"
                               else (frame[0], 0)])]
        else:
            distinct = {frame if key_type == "lineno" else (frame[0], 0)
                        for frame in frames}
            keys = [Traceback([frame]) for frame in distinct]
        for key in keys:
            total = groups.setdefault(key, [0, 0])
            total[0] += size
            total[1] += count
    return groups


def oracle_statistics(sites, key_type, cumulative):
    stats = [Statistic(key, size, count) for key, (size, count)
             in oracle_groups(sites, key_type, cumulative).items()]
    stats.sort(key=lambda s: (s.size, s.count, s.traceback), reverse=True)
    return stats


@pytest.mark.parametrize("key_type,cumulative", KEY_TYPES)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_statistics_match_the_oracle(seed, key_type, cumulative):
    # GIVEN sites with ties, recursion (a frame twice in one traceback) and
    # several depths
    sites = random_sites(seed)
    sites.append(((("/src/a.py", 3), ("/src/a.py", 3), ("/src/a.py", 3)),
                  999, 3))
    snapshot = Snapshot(sites, 5)
    # WHEN statistics are asked
    stats = snapshot.statistics(key_type, cumulative)
    # THEN they are the oracle's, in the same order, with plain int values
    expected = oracle_statistics(sites, key_type, cumulative)
    assert stats == expected
    assert [str(s.traceback) for s in stats] == \
        [str(s.traceback) for s in expected]
    assert all(type(s.size) is int and type(s.count) is int for s in stats)
    assert all(s.traceback.total_nframe is None for s in stats)


@pytest.mark.parametrize("key_type,cumulative", KEY_TYPES)
def test_compare_to_matches_the_oracle(key_type, cumulative):
    # GIVEN two snapshots sharing some keys
    old_sites, new_sites = random_sites(10), random_sites(11)
    old, new = Snapshot(old_sites, 5), Snapshot(new_sites, 5)
    # WHEN they are compared
    diffs = new.compare_to(old, key_type, cumulative)
    # THEN every key of either side is there, in stdlib's order
    new_groups = oracle_groups(new_sites, key_type, cumulative)
    old_groups = oracle_groups(old_sites, key_type, cumulative)
    expected = []
    for key in set(new_groups) | set(old_groups):
        size, count = new_groups.get(key, (0, 0))
        old_size, old_count = old_groups.get(key, (0, 0))
        expected.append(StatisticDiff(key, size, size - old_size, count,
                                      count - old_count))
    expected.sort(key=lambda d: (abs(d.size_diff), d.size,
                                 abs(d.count_diff), d.count, d.traceback),
                  reverse=True)
    assert diffs == expected


def test_sites_beyond_64_bits_take_the_python_path():
    # GIVEN a site whose size does not fit in 64 bits (a hand-made snapshot)
    huge = 1 << 70
    sites = [((("/a.py", 1),), huge, 1), ((("/a.py", 1),), 5, 1),
             ((("/b.py", 2),), 7, 2)]
    # WHEN statistics are asked
    stats = Snapshot(sites).statistics("lineno")
    # THEN the sums are exact Python ints, biggest first
    assert [(str(s.traceback), s.size, s.count) for s in stats] == [
        ("/a.py:1", huge + 5, 2), ("/b.py:2", 7, 2)]


def test_sums_that_overflow_64_bits_take_the_python_path():
    # GIVEN two sites of one line whose sizes fit in 63 bits, not their sum
    big = (1 << 63) - 1
    snapshot = Snapshot([((("/a.py", 1),), big, 1), ((("/a.py", 1),), big, 1)])
    # WHEN grouped THEN the total is exact
    [stat] = snapshot.statistics("lineno")
    assert stat.size == 2 * big and stat.count == 2


def test_statistics_leave_the_collector_as_it_was():
    # GIVEN the cyclic collector switched off by the program
    snapshot = Snapshot(random_sites(4))
    gc.disable()
    try:
        # WHEN statistics are read
        snapshot.statistics("lineno")
        snapshot.compare_to(snapshot, "filename")
        # THEN it is still off
        assert not gc.isenabled()
    finally:
        gc.enable()
    # AND when it was on, it is on again afterwards
    snapshot.statistics("traceback")
    assert gc.isenabled()


def named_sites(seed):
    """random_sites with a function name per frame: a file's lines 1-6 in
    one function, 7-12 in another; some sites have no names."""
    rng = random.Random(seed)
    sites = []
    for frames, size, count in random_sites(seed):
        names = tuple("%s.%s" % (frame[0][-4], "low" if frame[1] <= 6
                                 else "high") for frame in frames)
        sites.append((frames, size, count, 0,
                      None if rng.random() < 0.1 else names))
    return sites


@pytest.mark.parametrize("key_type,cumulative", KEY_TYPES)
@pytest.mark.parametrize("seed", [4, 5])
def test_the_engine_names_frames_as_the_python_path_does(seed, key_type,
                                                         cumulative):
    # GIVEN sites with function names
    snapshot = Snapshot(named_sites(seed), 5)
    # WHEN statistics come from the engine's grouping, and from the
    # Python path (which the engine declines for sizes beyond 64 bits)
    fast = snapshot.statistics(key_type, cumulative)
    rows = [(size, count, key) for key, (size, count)
            in snapshot._group_in_python(key_type, cumulative).items()]
    rows.sort(reverse=True)
    from pytracemalloc.snapshot import _statistics
    slow = _statistics(rows)
    snapshot._name_frames(slow, key_type, cumulative)
    # THEN both give each frame the same function
    assert fast == slow
    assert ([[frame.function for frame in s.traceback] for s in fast]
            == [[frame.function for frame in s.traceback] for s in slow])
    # AND every frame of a file's line names that line's function
    if key_type != "filename":
        for statistic in fast:
            for frame in statistic.traceback:
                assert frame.function in (None, "%s.%s" % (
                    frame.filename[-4],
                    "low" if frame.lineno <= 6 else "high"))
