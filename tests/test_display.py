"""DisplayTop and its output formats, line for line those of pytracemalloc
0.9.1."""

import io
import re

import pytest

import pytracemalloc
from pytracemalloc.display import DisplayTop, format_size, shorten_filename
from pytracemalloc.snapshot import Snapshot

MiB = 1024 * 1024
ROW = re.compile(r"^#(\d+): (.+?)(?::(\d+))?: size=(\d+ \w+)(?:, |$)")


def snapshot_of(stats, timestamp="2013-03-04 01:01:55",
                process_memory=10 * MiB, own=23 * 1024, user_data=None):
    snapshot = Snapshot(stats, timestamp, 1234, process_memory, user_data)
    snapshot.tracemalloc_memory = own
    return snapshot


def plain_top(count, **attributes):
    top = DisplayTop(count, file=io.StringIO())
    top.color = False
    for name, value in attributes.items():
        setattr(top, name, value)
    return top


@pytest.mark.parametrize("size, text", [
    (0, "0 B"), (77, "77 B"), (5119, "5119 B"), (5120, "5 KiB"),
    (6000, "5 KiB"), (408 * 1024 + 1000, "408 KiB"),
    (5 * MiB - 1, "5119 KiB"), (10 * MiB - 1, "9 MiB"),
    (10 * MiB + 5, "10 MiB"),
    (5 * 1024 ** 3, "5 GiB"), (7 * 1024 ** 4, "7 TiB"),
    (9000 * 1024 ** 4, "9000 TiB"), (-3 * MiB, "-3072 KiB"),
    (-6000, "-5 KiB")])
def test_sizes_truncate_in_the_unit_that_keeps_them_under_5_times_1024(
        size, text):
    assert format_size(size) == text


def test_differences_always_carry_a_sign():
    assert format_size(408 * 1024, sign=True) == "+408 KiB"
    assert format_size(-2048, sign=True) == "-2048 B"
    assert format_size(0, sign=True) == "+0 B"


def test_filenames_keep_their_last_parts():
    top = DisplayTop(1, file=io.StringIO())
    assert top.cleanup_filename("/usr/lib/python3.11/Lib/linecache.py") == \
        ".../python3.11/Lib/linecache.py"
    top.filename_parts = 1
    assert top.cleanup_filename("/a/b.py") == ".../b.py"
    assert shorten_filename("a/b.py", 3) == "a/b.py"
    assert shorten_filename("<frozen abc>", 3) == "<frozen abc>"
    assert shorten_filename("/a/b/c.py", 0) == "/a/b/c.py"


def test_a_first_top_line_by_line():
    # GIVEN a snapshot of 4 lines with process memory and user data, and a
    # top of 2 per file and line
    snapshot = snapshot_of({
        "/x/y/Lib/linecache.py": {128: (408 * 1024, 5379), 12: (100, 1)},
        "/x/y/Lib/doctest.py": {506: (319 * 1024, 197)},
        "<frozen abc>": {1: (64, 2)}},
        user_data=[("Video memory", "size", 229 * 1024),
                   ("Threads", "int", 4)])
    top = plain_top(2, show_lineno=True)
    # WHEN it is displayed
    top.display_snapshot(snapshot)
    # THEN each line is in 0.9.1's format: biggest first, averages by
    # floor division, the process memory without pytracemalloc's own, a
    # plain value for non-size user data, and an empty line at the end
    assert top.stream.getvalue().split("\n") == [
        "2013-03-04 01:01:55: Top 2 allocations per file and line",
        "#1: .../y/Lib/linecache.py:128: size=408 KiB, count=5379, "
        "average=77 B",
        "#2: .../y/Lib/doctest.py:506: size=319 KiB, count=197, "
        "average=1658 B",
        "2 more: size=164 B, count=3, average=54 B",
        "Total Python memory: size=727 KiB, count=5579, average=133 B",
        "Total process memory: size=9 MiB (ignore tracemalloc: 23 KiB)",
        "Video memory: size=229 KiB",
        "Threads: 4",
        "", ""]


def test_every_top_ends_with_an_empty_line():
    # GIVEN one stream, two tops
    top = plain_top(5)
    # WHEN they are displayed one after the other
    top.display_snapshot(snapshot_of({"a.py": {1: (10, 1)}}))
    top.display_snapshot(snapshot_of({"a.py": {1: (10, 1)}}))
    # THEN an empty line separates them and ends the second
    text = top.stream.getvalue()
    assert text.count("\n\n") == 2 and text.endswith("B)\n\n")
    second = text.split("\n\n")[1]
    assert second.startswith("2013-03-04 01:01:55: Top 1 allocations")


def test_later_tops_show_each_difference_sorted_by_growth():
    # GIVEN two displays of one top, the second after growth, a new line
    # and a freed line
    top = plain_top(10, show_lineno=True)
    top.display_snapshot(snapshot_of(
        {"a.py": {1: (1000, 10), 2: (5000, 1), 3: (100, 1)}},
        user_data=[("Video memory", "size", 10)]))
    first = len(top.stream.getvalue())
    top.display_snapshot(snapshot_of(
        {"a.py": {1: (4000, 90), 2: (5000, 1), 4: (8, 1)}},
        timestamp="2013-03-04 01:02:55", process_memory=11 * MiB,
        user_data=[("Video memory", "size", 30)]))
    # THEN the header names the previous top, rows go by size growth, the
    # freed line shows what left, and the process memory its growth
    assert top.stream.getvalue()[first:].split("\n") == [
        "2013-03-04 01:02:55: Top 4 allocations per file and line "
        "(compared to 2013-03-04 01:01:55)",
        "#1: a.py:1: size=4000 B (+3000 B), count=90 (+80), average=44 B",
        "#2: a.py:4: size=8 B (+8 B), count=1 (+1)",
        "#3: a.py:2: size=5000 B (+0 B), count=1 (+0)",
        "#4: a.py:3: size=0 B (-100 B), count=0 (-1)",
        "Total Python memory: size=8 KiB (+2908 B), count=92 (+80), "
        "average=97 B",
        "Total process memory: size=10 MiB (+1024 KiB) "
        "(ignore tracemalloc: 23 KiB)",
        "Video memory: size=30 B (+20 B)",
        "", ""]


def test_the_header_counts_the_rows_shown():
    top = plain_top(10)
    lines = top.format_snapshot(snapshot_of({"a.py": {1: (1, 1)}}), 10)
    assert lines[0].endswith(": Top 1 allocations per file")
    assert not any(line.endswith(" more: ") for line in lines)


def test_per_file_sums_the_lines_of_each_file():
    top = plain_top(5)
    lines = top.format_snapshot(snapshot_of(
        {"a.py": {1: (100, 1), 2: (200, 1)}, "b.py": {9: (50, 1)}}), 5)
    assert lines[1:3] == ["#1: a.py: size=300 B, count=2, average=150 B",
                          "#2: b.py: size=50 B, count=1"]


def test_hidden_columns():
    # GIVEN count and average hidden: the values are bare sizes
    top = plain_top(5, show_count=False, show_average=False)
    lines = top.format_snapshot(snapshot_of({"a.py": {1: (300, 3)}}), 5)
    assert lines[1] == "#1: a.py: 300 B"
    assert lines[3] == "Total process memory: 9 MiB " \
                       "(ignore tracemalloc: 23 KiB)"
    # GIVEN the size hidden: count and average only
    top = plain_top(5, show_size=False)
    lines = top.format_snapshot(snapshot_of({"a.py": {1: (300, 3)}}), 5)
    assert lines[1] == "#1: a.py: count=3, average=100 B"


def test_without_process_memory_only_the_tracer_size_is_shown():
    top = plain_top(5)
    lines = top.format_snapshot(
        snapshot_of({"a.py": {1: (300, 3)}}, process_memory=None), 5)
    assert lines[-1] == "Ignore tracemalloc: 23 KiB"


def test_colors_are_0_9_1_ansi_styles():
    # GIVEN a colored top compared with a previous one
    top = plain_top(1, color=True, show_lineno=True)
    top.display_snapshot(snapshot_of({"/a/b/c/d.py": {7: (5, 1)}},
                                     process_memory=None))
    start = len(top.stream.getvalue())
    top.display_snapshot(snapshot_of({"/a/b/c/d.py": {7: (6000, 2)}},
                                     process_memory=None))
    lines = top.stream.getvalue()[start:].splitlines()
    # THEN the name is bold, the header cyan, directories cyan, sizes bold
    # with yellow differences, the tracer's size cyan
    assert lines[0] == ("\x1b[1m2013-03-04 01:01:55\x1b[0m: "
                        "\x1b[36mTop 1 allocations per file and line\x1b[0m"
                        " (compared to 2013-03-04 01:01:55)")
    assert lines[1] == ("#1: \x1b[36m.../b/c/\x1b[0md.py:7: "
                        "size=\x1b[1m5 KiB\x1b[0m (\x1b[1;33m+5 KiB\x1b[0m), "
                        "count=2 (+1), average=3000 B")
    assert lines[-2:] == ["\x1b[36mIgnore tracemalloc: 23 KiB\x1b[0m", ""]


def test_defaults_follow_0_9_1():
    top = DisplayTop(25, file=io.StringIO())
    assert (top.top_count, top.color, top.compare_with_previous,
            top.filename_parts, top.show_average, top.show_count,
            top.show_lineno, top.show_size, top.user_data_callback) == \
        (25, False, True, 3, True, True, False, True, None)


def test_display_traces_the_program_and_leaves_ourselves_out(tracing):
    # GIVEN tracing, and data held by this test's file
    data = [bytearray(1000) for _ in range(300)]
    stream = io.StringIO()
    top = DisplayTop(3, file=stream)
    top.show_lineno = True
    # WHEN the top is displayed
    top.display()
    # THEN this file's line is on top, pytracemalloc's own files are
    # nowhere, and the process memory is there
    lines = stream.getvalue().splitlines()
    assert __file__.split("/")[-1] in ROW.match(lines[1]).group(2)
    assert not any("pytracemalloc/" in line for line in lines)
    assert any(line.startswith("Total process memory: size=")
               for line in lines)
    del data


def test_compare_with_the_first(tracing):
    stream = io.StringIO()
    top = DisplayTop(3, file=stream)
    top.compare_with_previous = False
    top.display()
    first_header = stream.getvalue().splitlines()[0]
    top.display()
    top.display()
    headers = [line for line in stream.getvalue().splitlines()
               if " allocations per " in line]
    first_timestamp = first_header.split(": Top")[0]
    assert len(headers) == 3
    assert all(header.endswith("(compared to %s)" % first_timestamp)
               for header in headers[1:])


def test_get_process_memory_reads_the_resident_size():
    memory = pytracemalloc.get_process_memory()
    assert memory is None or 1024 * 1024 < memory < 1024 ** 4
