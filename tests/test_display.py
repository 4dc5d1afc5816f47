"""DisplayTop and its output formats (pytracemalloc 0.9.1)."""

import io
import re

import pytest

import pytracemalloc
from pytracemalloc.display import DisplayTop, format_size, shorten_filename
from pytracemalloc.snapshot import Snapshot

SIZE = r"-?\d+ (?:B|KiB|MiB|GiB|TiB)"
DIFF = r"[+-]\d+ (?:B|KiB|MiB|GiB|TiB)"
HEADER = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d: Top (\d+) allocations "
                    r"per (file and line|file)( \(compared to .+\))?$")
VALUES = (rf"size=({SIZE})(?: \(({DIFF})\))?, count=(\d+)(?: \(([+-]\d+)\))?"
          rf"(?:, average=({SIZE}))?")
ROW = re.compile(rf"^#(\d+): (.+?)(?::(\d+))?: {VALUES}$")
MORE = re.compile(rf"^(\d+) more: {VALUES}$")
TOTAL = re.compile(rf"^Total Python memory: {VALUES}$")
PROCESS = re.compile(rf"^Total process memory: size=({SIZE})"
                     rf"(?: \(({DIFF})\))? \(ignore tracemalloc: ({SIZE})\)$")
USER = re.compile(rf"^(.+): size=({SIZE})(?: \(({DIFF})\))?$")


def snapshot_of(stats, **attributes):
    snapshot = Snapshot([], 1, process_memory=attributes.get(
        "process_memory", 10 * 1024 * 1024), tracemalloc_memory=23 * 1024,
        user_data=attributes.get("user_data"))
    snapshot.stats = stats
    return snapshot


@pytest.mark.parametrize("size, text", [
    (0, "0 B"), (77, "77 B"), (5119, "5119 B"), (5120, "5 KiB"),
    (408 * 1024 + 100, "408 KiB"), (10 * 1024 ** 2 + 5, "10 MiB"),
    (5 * 1024 ** 3, "5 GiB"), (7 * 1024 ** 4, "7 TiB"),
    (9000 * 1024 ** 4, "9000 TiB"), (-3 * 1024 * 1024, "-3072 KiB")])
def test_sizes_use_a_unit_while_under_5_times_1024_of_it(size, text):
    assert format_size(size) == text


def test_differences_carry_a_sign():
    assert format_size(408 * 1024, sign=True) == "+408 KiB"
    assert format_size(-2048, sign=True) == "-2048 B"
    assert format_size(0, sign=True) == "+0 B"


def test_filenames_keep_their_last_parts():
    assert shorten_filename("/usr/lib/python3.11/Lib/linecache.py", 3) == \
        ".../python3.11/Lib/linecache.py"
    assert shorten_filename("a/b.py", 3) == "a/b.py"
    assert shorten_filename("<frozen abc>", 3) == "<frozen abc>"


def test_a_first_top_in_the_0_9_1_format():
    # GIVEN a snapshot of 4 lines, and a top of 2 per file and line
    snapshot = snapshot_of({
        "/x/y/Lib/linecache.py": {128: (408 * 1024, 5379), 12: (100, 1)},
        "/x/y/Lib/doctest.py": {506: (319 * 1024, 197)},
        "<frozen abc>": {1: (64, 2)}},
        user_data=[("Video memory", "size", 229 * 1024)])
    top = DisplayTop(2, file=io.StringIO())
    top.show_lineno = True
    # WHEN it is displayed
    lines = top.format_snapshot(snapshot, 2)
    # THEN every line has the 0.9.1 format, biggest first
    assert HEADER.match(lines[0]).groups() == ("2", "file and line", None)
    first = ROW.match(lines[1])
    assert first.group(2, 3, 4, 6) == (".../y/Lib/linecache.py", "128",
                                       "408 KiB", "5379")
    assert first.group(5) is None and first.group(7) is None
    assert first.group(8) == "78 B"  # 417792 / 5379, rounded
    assert ROW.match(lines[2]).group(2, 3) == (".../y/Lib/doctest.py", "506")
    assert MORE.match(lines[3]).group(1, 4) == ("2", "3")
    assert TOTAL.match(lines[4]).group(3) == "5579"
    assert PROCESS.match(lines[5]).groups() == ("10 MiB", None, "23 KiB")
    assert USER.match(lines[6]).groups() == ("Video memory", "229 KiB", None)
    assert len(lines) == 7


def test_later_tops_show_the_growth_sorted_by_growth():
    # GIVEN two displays of the same object, the second after growth
    stream = io.StringIO()
    top = DisplayTop(3, file=stream)
    top.color = False
    top.show_lineno = True
    top.display_snapshot(snapshot_of({"a.py": {1: (1000, 10), 2: (5000, 1)}},
                                     user_data=[("Video memory", "size", 10)]))
    top.display_snapshot(snapshot_of({"a.py": {1: (4000, 90), 2: (5000, 1)}},
                                     process_memory=11 * 1024 * 1024,
                                     user_data=[("Video memory", "size", 30)]))
    lines = stream.getvalue().splitlines()
    second = lines[lines.index(next(line for line in lines[1:]
                                    if HEADER.match(line))):]
    # THEN the header names the reference, and each value has its diff
    assert HEADER.match(second[0]).group(3).startswith(" (compared to ")
    row = ROW.match(second[1])
    assert row.group(2, 3, 4, 5, 6, 7) == ("a.py", "1", "4000 B", "+3000 B",
                                           "90", "+80")
    assert ROW.match(second[2]).group(5, 7) == ("+0 B", "+0")
    assert PROCESS.match(second[4]).group(2) == "+1024 KiB"
    assert USER.match(second[5]).group(3) == "+20 B"


def test_per_file_and_hidden_columns():
    # GIVEN a top per file with count and average hidden
    top = DisplayTop(5)
    top.show_count = False
    top.show_average = False
    lines = top.format_snapshot(snapshot_of(
        {"a.py": {1: (100, 1), 2: (200, 1)}}), 5)
    # THEN lines of one file are summed, only the size is shown
    assert HEADER.match(lines[0]).group(2) == "file"
    assert lines[1] == "#1: a.py: size=300 B"


def test_color_only_when_asked():
    top = DisplayTop(1)
    top.color = True
    colored = top.format_snapshot(snapshot_of({"a.py": {1: (5, 1)}}), 1)
    top.color = False
    plain = top.format_snapshot(snapshot_of({"a.py": {1: (5, 1)}}), 1)
    assert any("\x1b[" in line for line in colored)
    assert not any("\x1b[" in line for line in plain)
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored[1]) == plain[1]


def test_defaults_follow_0_9_1():
    top = DisplayTop(25, file=io.StringIO())
    assert (top.color, top.compare_with_previous, top.filename_parts,
            top.show_average, top.show_count, top.show_lineno,
            top.show_size, top.user_data_callback) == \
        (False, True, 3, True, True, False, True, None)


def test_display_traces_the_program_and_leaves_ourselves_out(tracing):
    # GIVEN tracing, and data held by this test's file
    data = [bytearray(1000) for _ in range(300)]
    stream = io.StringIO()
    top = DisplayTop(3, file=stream)
    top.show_lineno = True
    # WHEN the top is displayed
    top.display()
    # THEN this file's line is on top, and pytracemalloc's own files are
    # nowhere in the top
    lines = stream.getvalue().splitlines()
    assert __file__.split("/")[-1] in ROW.match(lines[1]).group(2)
    assert not any("pytracemalloc/" in line for line in lines)
    assert PROCESS.match(next(line for line in lines
                              if line.startswith("Total process")))
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
               if HEADER.match(line)]
    first_timestamp = first_header.split(": Top")[0]
    assert all(header.endswith("(compared to %s)" % first_timestamp)
               for header in headers[1:])


def test_get_process_memory_reads_the_resident_size():
    memory = pytracemalloc.get_process_memory()
    assert memory is None or 1024 * 1024 < memory < 1024 ** 4
