"""DisplayGarbage and _GetUncollectable: uncollectable objects, one 0.9.1
line each, with the line that allocated them."""

import gc
import io
import os
import re
import sys
import weakref

import pytest

import pytracemalloc
from pytracemalloc import DisplayGarbage, _GetUncollectable

LINE = re.compile(r"^UNCOLLECTABLE OBJECT: (.+):(\d+|\?): \[id ([0-9a-f]+)\] "
                  r"(.*) \((\d+ \w+|\?)\)$")


class Finalized:
    """A cycle through itself, with __del__: what the collectors 0.9.1 ran
    on could not free."""

    def __init__(self, name):
        self.name = name
        self.me = self

    def __del__(self):
        pass

    def __repr__(self):
        return "Finalized(%r)" % self.name


class Plain:
    def __init__(self):
        self.me = self


def make_leak(name):
    """A Finalized cycle made garbage; (its id, its allocation line)."""
    leak = Finalized(name)  # allocation line
    return id(leak), make_leak.__code__.co_firstlineno + 2


@pytest.fixture
def clean_garbage():
    """gc.garbage empty before and after; the debug flags restored."""
    gc.collect()
    del gc.garbage[:]
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        del gc.garbage[:]
        gc.collect()


def lines_of(stream):
    return [LINE.match(line) for line in stream.getvalue().splitlines()]


def test_a_cycle_with_del_is_shown_with_its_allocation_line(
        tracing, clean_garbage):
    # GIVEN a display, then a cycle with __del__ made garbage
    stream = io.StringIO()
    display = DisplayGarbage(file=stream)
    leak_id, lineno = make_leak("a")
    # WHEN displayed, without collecting first
    display.display()
    # THEN one line: this file, the line, the id, the repr and the size
    (line,) = lines_of(stream)
    assert line.group(1) == __file__ and line.group(2) == str(lineno)
    assert int(line.group(3), 16) == leak_id
    assert line.group(4) == "Finalized('a')"
    assert re.fullmatch(r"\d+ B", line.group(5))
    # AND the object stays in gc.garbage, as it did for 0.9.1
    assert [id(obj) for obj in gc.garbage] == [leak_id]


def test_cycles_without_del_are_freed_not_shown(tracing, clean_garbage):
    stream = io.StringIO()
    display = DisplayGarbage(file=stream)
    plain = Plain()
    alive = weakref.ref(plain)
    del plain
    display.display()
    assert stream.getvalue() == ""
    assert alive() is None and gc.garbage == []


def test_saveall_shows_every_object_and_the_instance_dict(
        tracing, clean_garbage):
    # GIVEN DEBUG_SAVEALL, and a cycle whose __dict__ was never read
    stream = io.StringIO()
    display = DisplayGarbage(file=stream)
    gc.set_debug(gc.DEBUG_SAVEALL)
    Plain()
    # WHEN displayed
    display.display()
    # THEN the instance, then its __dict__ on a line of its own
    first, second = lines_of(stream)
    assert first.group(4).startswith("<%s.Plain object at " % __name__)
    assert second.group(4).startswith("{'me': <")


@pytest.mark.parametrize("nframe", [1, 5])
def test_a_dict_the_display_had_to_create_takes_the_instance_line(
        clean_garbage, nframe):
    # GIVEN DEBUG_SAVEALL, a cycle made before tracing started, and one
    # made while tracing at a known line, neither __dict__ ever read (3.11+
    # creates it only when read: the display makes it exist)
    stream = io.StringIO()
    gc.set_debug(gc.DEBUG_SAVEALL)
    Plain()
    pytracemalloc.enable(nframe)
    try:
        display = DisplayGarbage(file=stream)
        Plain(); line = sys._getframe().f_lineno  # allocation line
        # WHEN displayed
        display.display()
    finally:
        pytracemalloc.disable()
    # THEN no line names a file of the tracer
    lines = lines_of(stream)
    assert len(lines) == 2 and all(lines), stream.getvalue()
    package = os.path.dirname(pytracemalloc.__file__)
    assert package not in stream.getvalue()
    # AND the traced instance's dict is at the instance's line, with the
    # dict's own size
    instance, attributes = lines[0], lines[1]
    assert (instance.group(1), instance.group(2)) == (__file__, str(line))
    assert (attributes.group(1), attributes.group(2)) == (__file__,
                                                          str(line))
    assert attributes.group(4).startswith("{'me': <")
    assert attributes.group(5) != "?"


def test_the_dict_of_an_untraced_instance_is_shown_as_untraced(
        clean_garbage):
    # GIVEN DEBUG_SAVEALL and an instance made before tracing started, its
    # __dict__ never read, that becomes garbage once the display exists
    stream = io.StringIO()
    gc.set_debug(gc.DEBUG_SAVEALL)
    kept = Plain()
    pytracemalloc.enable(1)
    try:
        display = DisplayGarbage(file=stream)
        del kept
        # WHEN displayed
        display.display()
    finally:
        pytracemalloc.disable()
    # THEN the instance and its dict are both shown untraced
    lines = lines_of(stream)
    assert len(lines) == 2 and all(lines), stream.getvalue()
    assert [(line.group(1), line.group(2), line.group(5))
            for line in lines] == [("???", "?", "?")] * 2


def test_only_new_objects_unless_cumulative(tracing, clean_garbage):
    stream = io.StringIO()
    display = DisplayGarbage(file=stream)
    make_leak("a")
    display.display()
    make_leak("b")
    stream.seek(0)
    stream.truncate()
    display.display()
    assert [line.group(4) for line in lines_of(stream)] == ["Finalized('b')"]
    # cumulative: the earlier objects are shown again, oldest first
    display.cumulative = True
    make_leak("c")
    stream.seek(0)
    stream.truncate()
    display.display()
    assert [line.group(4) for line in lines_of(stream)] == ["Finalized('c')"]
    make_leak("d")
    stream.seek(0)
    stream.truncate()
    display.display()
    assert [line.group(4) for line in lines_of(stream)] == [
        "Finalized('c')", "Finalized('d')"]


def test_garbage_from_before_the_display_is_not_shown(tracing,
                                                      clean_garbage):
    make_leak("old")
    getter = _GetUncollectable()
    assert getter.get_new_objects() == []
    leak_id, lineno = make_leak("new")
    ((obj, source),) = getter.get_new_objects()
    # THEN (obj, (size, filename, lineno)), as in 0.9.1
    assert id(obj) == leak_id
    size, filename, line = source
    assert size > 0 and (filename, line) == (__file__, lineno)


def test_untraced_objects_and_a_custom_format(tracing, clean_garbage):
    # GIVEN a display, and garbage allocated while not tracing
    stream = io.StringIO()
    display = DisplayGarbage(file=stream)
    display.format_object = lambda obj: "<%s>" % type(obj).__name__
    pytracemalloc.disable()
    leak = Finalized("untraced")
    pytracemalloc.enable()
    leak_id = id(leak)
    del leak
    # WHEN displayed
    display.display()
    # THEN '???:?' for the place, '?' for the size, and the formatter's text
    assert stream.getvalue() == \
        "UNCOLLECTABLE OBJECT: ???:?: [id %x] <Finalized> (?)\n" % leak_id


def test_a_getter_enables_tracing(clean_garbage):
    pytracemalloc.disable()
    try:
        _GetUncollectable()
        assert pytracemalloc.is_enabled()
    finally:
        pytracemalloc.disable()


def test_a_broken_repr_does_not_stop_the_display(tracing, clean_garbage):
    class Broken(Finalized):
        def __repr__(self):
            raise ValueError("no repr")

    stream = io.StringIO()
    display = DisplayGarbage(file=stream)
    Broken("x")
    display.display()
    # the default format says so itself; a failing custom one is replaced
    display.format_object = lambda obj: 1 / 0
    Broken("y")
    display.display()
    first, second = lines_of(stream)
    assert first.group(4).startswith("<Broken instance at 0x")
    assert second.group(4) == \
        "<Broken object: repr failed with ZeroDivisionError>"


def test_long_reprs_are_cut(tracing, clean_garbage):
    stream = io.StringIO()
    display = DisplayGarbage(file=stream)
    Finalized("x" * 500)
    display.display()
    (line,) = lines_of(stream)
    assert len(line.group(4)) <= 100 and "..." in line.group(4)
