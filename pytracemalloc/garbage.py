"""``DisplayGarbage``: the objects of ``gc.garbage``, and where each was
allocated.

On Python 3, cycles with ``__del__`` are collected, so ``gc.garbage`` stays
empty unless ``gc.set_debug(gc.DEBUG_SAVEALL)`` keeps every object the
collector frees there.  Each object is shown as::

    0x7f3c2a1b2c40 list: [1, 2, 3] (.../app/models.py:42, size=88 B)
"""

import gc
import reprlib

from pytracemalloc import _tracemalloc
from pytracemalloc.display import (
    _CYAN, _Painter, _YELLOW, format_size, output_stream, shorten_filename)


class DisplayGarbage:
    """Display new objects of ``gc.garbage``.

    Attributes: ``color`` (default: the stream is a TTY), ``cumulative``
    (False: each ``display()`` shows only the objects added since the last
    one; True: all of them), ``format_object`` (default ``reprlib.repr``),
    ``filename_parts`` (3).
    """

    def __init__(self, file=None):
        self.stream, self.color = output_stream(file)
        self.cumulative = False
        self.format_object = reprlib.repr
        self.filename_parts = 3
        self._seen = 0

    def format_garbage(self, obj):
        """One line for one object."""
        paint = _Painter(self.color)
        trace = _tracemalloc._get_object_trace(obj)
        if trace is None:
            where = "not traced"
        else:
            size, filename, lineno = trace
            where = "%s:%s, size=%s" % (
                paint(shorten_filename(filename, self.filename_parts), _CYAN),
                paint(str(lineno), _YELLOW), format_size(size))
        try:
            text = self.format_object(obj)
        except Exception as exc:  # a broken __repr__ must not stop us
            text = "<%s.format_object failed: %s>" % (
                type(self).__name__, type(exc).__name__)
        return "%#x %s: %s (%s)" % (id(obj), type(obj).__name__, text, where)

    def display(self):
        """Display the objects added to gc.garbage since the last call (all
        of them when ``cumulative``)."""
        garbage = gc.garbage
        if self.cumulative or self._seen > len(garbage):
            start = 0
        else:
            start = self._seen
        lines = [self.format_garbage(obj) for obj in garbage[start:]]
        self._seen = len(garbage)
        self.stream.write("".join(line + "\n" for line in lines))
        self.stream.flush()
        return len(lines)
