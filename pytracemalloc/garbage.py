"""Uncollectable objects and where they were allocated: ``DisplayGarbage``
and the getter behind it, ``_GetUncollectable`` (pytracemalloc 0.9.1).

Each call collects first, then reports the objects of ``gc.garbage`` not
reported before, one line each::

    UNCOLLECTABLE OBJECT: /app/models.py:42: [id 7f3c2a1b2c40] <models.Node object at 0x7f3c2a1b2c40> (56 B)
    UNCOLLECTABLE OBJECT: ???:?: [id 7f3c2a1b2d00] [1, 2, 3] (?)

(``???``, ``?`` and ``?``: the object's block is not traced.)

0.9.1 ran on interpreters where a reference cycle holding an object with a
``__del__`` method could not be collected: the collector left such objects
in ``gc.garbage``.  Since Python 3.4 (PEP 442) those cycles are collected.
So that a leak 0.9.1 reported is still reported, the collection made here
keeps what that older collector kept: the unreachable objects whose class
defines ``__del__`` stay in ``gc.garbage`` (their ``__del__`` has run, as
PEP 442 runs it before looking at the cycle); everything else unreachable
is freed as usual.  With ``gc.set_debug(gc.DEBUG_SAVEALL)`` every
unreachable object is kept and reported, and an instance's ``__dict__`` is
reported on its own line, right after the instance, as on those older
interpreters where every instance had one.  Where the interpreter creates
an instance's ``__dict__`` only when it is read (3.11+), the dictionary we
had to create is shown at the instance's line (``???`` when the instance is
not traced), never at a line of this package.
"""

import gc
import os
import reprlib

from pytracemalloc import _tracemalloc
from pytracemalloc.display import _YELLOW, colorize_filename, format_size

_HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class defined by Python code
_SLOT_WRAPPER = type(object.__init__)


def _has_finalizer(obj):
    """Whether obj's class defines ``__del__`` in Python: the objects the
    pre-PEP 442 collector refused to collect."""
    for klass in type(obj).__mro__:
        method = vars(klass).get("__del__")
        if method is not None:
            return not isinstance(method, _SLOT_WRAPPER)
    return False


def _instance_dict(obj):
    """The ``__dict__`` of an instance of a Python class, if it can hold
    references (the collector tracks it), else None.  Reading it makes the
    dictionary exist on interpreters that create it lazily."""
    if not type(obj).__flags__ & _HEAP_TYPE:
        return None
    try:
        attributes = object.__getattribute__(obj, "__dict__")
    except Exception:
        return None
    if type(attributes) is not dict or not gc.is_tracked(attributes):
        return None
    return attributes


def _collect():
    """A full collection that leaves in gc.garbage what 0.9.1 expects
    there (see the module's doc)."""
    debug = gc.get_debug()
    if debug & gc.DEBUG_SAVEALL:
        gc.collect()
        return
    start = len(gc.garbage)
    gc.set_debug(debug | gc.DEBUG_SAVEALL)
    try:
        gc.collect()
    finally:
        gc.set_debug(debug)
    saved = gc.garbage[start:]
    del gc.garbage[start:]
    gc.garbage.extend(obj for obj in saved if _has_finalizer(obj))
    del saved
    # Frees the rest now; objects with a C-level legacy finalizer land in
    # gc.garbage by themselves, as always.
    gc.collect()


class _GetUncollectable:
    """Collect, then list the objects of gc.garbage not listed before.

    Creating one enables tracing (when it is off) and takes the garbage
    already there as seen."""

    def __init__(self):
        if not _tracemalloc.is_enabled():
            _tracemalloc.enable()
        self._gc = gc
        self.seen = set()
        self._new_garbage()

    def _new_garbage(self):
        """[(obj, instance)]: instance is the object whose ``__dict__`` obj
        is, else None."""
        _collect()
        saveall = gc.get_debug() & gc.DEBUG_SAVEALL
        objects = []
        for obj in tuple(gc.garbage):
            if id(obj) in self.seen:
                continue
            self.seen.add(id(obj))
            objects.append((obj, None))
            attributes = _instance_dict(obj) if saveall else None
            if attributes is not None and id(attributes) not in self.seen:
                self.seen.add(id(attributes))
                objects.append((attributes, obj))
        return objects

    def get_new_objects(self):
        """[(obj, source)]: source is (size, filename, lineno) of the block
        holding obj, or None when it is not traced."""
        return [(obj, _source(obj, instance))
                for obj, instance in self._new_garbage()]


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _is_own_file(filename):
    return os.path.dirname(os.path.abspath(filename)) == _PACKAGE_DIR


def _source(obj, instance):
    """obj's source as get_new_objects gives it.  A block allocated at a
    line of this package is one we made: an instance's ``__dict__`` that
    only existed once _instance_dict read it (interpreters that create it
    lazily).  It takes its instance's line, or none; the tracer's own file
    is never shown as an allocation site."""
    source = _tracemalloc._get_object_trace(obj)
    if source is None or not _is_own_file(source[1]):
        return source
    owner = (_tracemalloc._get_object_trace(instance)
             if instance is not None else None)
    if owner is None:
        return None
    return (source[0],) + tuple(owner[1:])


class DisplayGarbage:
    """Display the uncollectable objects (see the module's doc) found since
    the last ``display()``.

    Attributes (0.9.1): ``stream`` (``file`` or sys.stdout), ``color``
    (default: the stream is a TTY), ``cumulative`` (False: each
    ``display()`` shows only the objects found since the last one; True:
    all of them), ``format_object`` (default: a ``reprlib`` repr limited
    to 100 characters and one level).
    """

    def __init__(self, file=None):
        from pytracemalloc.display import output_stream
        self.stream, self.color = output_stream(file)
        self.cumulative = False
        self._getter = _GetUncollectable()
        self._objects = []
        short = reprlib.Repr()
        short.maxstring = 100
        short.maxother = 100
        short.maxlevel = 1
        self.format_object = short.repr

    def format_garbage(self, obj, source):
        """The line of one object; source as ``get_new_objects`` gives."""
        try:
            text = self.format_object(obj)
        except Exception as exc:  # a broken __repr__ must not stop us
            text = "<%s object: repr failed with %s>" % (
                type(obj).__name__, type(exc).__name__)
        text = "[id %x] %s" % (id(obj), text)
        if source is None:
            filename, lineno, size = "???", "?", "?"
        else:
            size, filename, lineno = source
            if lineno is None:
                lineno = "?"
            if self.color:
                filename = colorize_filename(filename)
            size = format_size(size)
            if self.color:
                size = _YELLOW % size
        return "UNCOLLECTABLE OBJECT: %s:%s: %s (%s)" % (filename, lineno,
                                                        text, size)

    def display(self):
        """Collect, then write one line per object found since the last
        call (every object found so far when ``cumulative``)."""
        objects = self._getter.get_new_objects()
        if self.cumulative:
            self._objects.extend(objects)
            objects = self._objects
        self.stream.write("".join(self.format_garbage(obj, source) + "\n"
                                  for obj, source in objects))
        self.stream.flush()
