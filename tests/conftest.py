"""Shared fixtures, and the test helper that makes allocations of known size
and place: every block made here is attributed to the line of this file
that called the engine, which the helper reports with the block."""

import gc

import pytest

try:
    from pytracemalloc import _tracemalloc as engine
    UNSUPPORTED = None
except ImportError as exc:
    # An interpreter the engine refuses (free-threaded CPython): only
    # test_versions.py, which checks that refusal, can run here.
    engine = None
    UNSUPPORTED = str(exc)

HELPER_FILE = __file__


def pytest_ignore_collect(collection_path, config):
    if (UNSUPPORTED and collection_path.name.startswith("test_")
            and collection_path.name != "test_versions.py"):
        return True
    return None


def pytest_report_header(config):
    if UNSUPPORTED:
        return [f"pytracemalloc refuses to import here: {UNSUPPORTED}",
                "only tests/test_versions.py runs on this interpreter"]
    return None


def _marked_line(marker):
    """The line of this file that carries `marker` in a comment: found once
    by reading the source, so that the helper's lines allocate nothing but
    the block (a frame object or an int would land on the same line)."""
    with open(HELPER_FILE, encoding="utf-8") as source:
        for lineno, text in enumerate(source, 1):
            if text.rstrip().endswith("# " + marker):
                return lineno
    raise LookupError(marker)


class KnownBlock:
    """A block of `size` bytes in one allocator domain, allocated (or last
    resized) at line `lineno` of HELPER_FILE.  The engine names it by a
    small-int handle."""

    def __init__(self, domain, size):
        handle = engine._test_malloc(domain, size)  # known-malloc
        self.domain = domain
        self.size = size
        self.handle = handle
        self.lineno = MALLOC_LINE

    @classmethod
    def calloc(cls, domain, nelem, elsize):
        handle = engine._test_calloc(domain, nelem, elsize)  # known-calloc
        block = cls.__new__(cls)
        block.domain = domain
        block.size = nelem * elsize
        block.handle = handle
        block.lineno = CALLOC_LINE
        return block

    @classmethod
    def from_c_thread(cls, size):
        """A RAW block allocated by a C thread that never ran Python."""
        block = cls.__new__(cls)
        block.domain = engine.DOMAIN_RAW
        block.size = size
        block.handle = engine._test_malloc_in_c_thread(size)
        block.lineno = 0
        return block

    def realloc(self, size):
        handle = engine._test_realloc(self.domain, self.handle, size)  # known-realloc
        self.size = size
        self.handle = handle
        self.lineno = REALLOC_LINE

    def free(self):
        if self.handle is not None:
            engine._test_free(self.domain, self.handle)
            self.handle = None


MALLOC_LINE = _marked_line("known-malloc")  # noqa: E305
CALLOC_LINE = _marked_line("known-calloc")
REALLOC_LINE = _marked_line("known-realloc")


def line_stats(filename, lineno):
    """(size, count) held by one line, (0, 0) when it holds nothing."""
    return engine._get_stats().get(filename, {}).get(lineno, (0, 0))


@pytest.fixture
def tracing():
    """Trace with one frame for the duration of a test; always disable."""
    gc.collect()
    engine.enable(1)
    try:
        yield engine
    finally:
        engine.disable()
        engine._test_fail_after(-1)


@pytest.fixture
def deep_tracing():
    """Trace with 25 frames for the duration of a test."""
    gc.collect()
    engine.enable(25)
    try:
        yield engine
    finally:
        engine.disable()
