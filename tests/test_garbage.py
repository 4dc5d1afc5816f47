"""DisplayGarbage: objects of gc.garbage and where they were allocated."""

import gc
import io
import re

import pytest

from pytracemalloc import DisplayGarbage

LINE = re.compile(r"^0x[0-9a-f]+ (\w+): (.*) \((.+?):(\d+), size=(\d+ \w+)\)$")


class Node:
    def __init__(self, name):
        self.name = name
        self.other = None

    def __repr__(self):
        return "Node(%r)" % self.name


def make_cycle(name):
    first, second = Node(name + "1"), Node(name + "2")  # allocation line
    first.other, second.other = second, first


@pytest.fixture
def saved_garbage():
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    del gc.garbage[:]
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        del gc.garbage[:]


def test_new_garbage_with_its_allocation_line(tracing, saved_garbage):
    # GIVEN a garbage cycle made while tracing
    stream = io.StringIO()
    display = DisplayGarbage(file=stream)
    make_cycle("a")
    gc.collect()
    # WHEN the garbage is displayed
    shown = display.display()
    # THEN each Node is shown with the line that allocated it
    lines = [LINE.match(line) for line in stream.getvalue().splitlines()]
    nodes = [match for match in lines if match and match.group(1) == "Node"]
    assert shown == len(lines) and len(nodes) == 2
    assert {match.group(2) for match in nodes} == {"Node('a1')", "Node('a2')"}
    assert all(match.group(4) == str(make_cycle.__code__.co_firstlineno + 1)
               for match in nodes)


def test_only_new_objects_unless_cumulative(tracing, saved_garbage):
    stream = io.StringIO()
    display = DisplayGarbage(file=stream)
    make_cycle("a")
    gc.collect()
    first = display.display()
    make_cycle("b")
    gc.collect()
    second_start = len(stream.getvalue())
    second = display.display()
    assert first > 0 and second > 0
    assert "Node('a1')" not in stream.getvalue()[second_start:]
    display.cumulative = True
    cumulative_start = len(stream.getvalue())
    everything = display.display()
    assert everything == first + second
    assert "Node('a1')" in stream.getvalue()[cumulative_start:]


def test_format_object_and_untraced_objects(saved_garbage):
    # GIVEN garbage made while not tracing, and a custom formatter
    stream = io.StringIO()
    display = DisplayGarbage(file=stream)
    display.format_object = lambda obj: "<%s>" % type(obj).__name__
    make_cycle("c")
    gc.collect()
    display.display()
    # THEN the formatter is used and the lines say "not traced"
    assert "<Node> (not traced)" in stream.getvalue()
