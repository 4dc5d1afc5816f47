"""The live statistics as files, encoded by the engine: what the HTTP
endpoint serves (pytracemalloc/endpoint.py).

``pprof_bytes()`` is ``pprof.pprof_bytes(Snapshot.create())`` and
``snapshot_bytes()`` is ``Snapshot.create()._encode()`` (and
``write_snapshot(filename)`` its ``write(filename)``), but with no
Python object per site: the engine copies its statistics and writes the
profile (src/pprof.c) or the file's tables (src/snapfile.c) in C, and only
the header and the compression are done here (no user data: that is
``Snapshot.create(user_data_callback)``'s).  At 10,000 lines a scrape
then costs a few milliseconds of the traced process's CPU rather than
~100 (bench/scrape.py).  The same sites give the same content as the
Python encoders, which stay the reference for snapshots read from files,
filtered or compared (tests/test_live_encoders.py).
"""

import gzip
import time

from pytracemalloc import _tracemalloc
from pytracemalloc.domains import domain_name
from pytracemalloc.fileio import write_atomically
from pytracemalloc.snapshot import (_PACKAGE_DIR, Snapshot, _now,
                                    require_tracing)
from pytracemalloc.snapshot_format import COMPRESS_LEVEL, encode_with_tables

__all__ = ["pprof_bytes", "snapshot_bytes", "write_snapshot"]

# The engine stores a name's lone surrogates as U+FFFD (src/frames.c): the
# package's directory is compared in the same form.
_OWN_PREFIX = "".join(
    "\ufffd" if 0xD800 <= ord(char) < 0xE000 else char
    for char in _PACKAGE_DIR).encode("utf-8")


def pprof_bytes():
    """The gzip-compressed pprof heap profile of the traced memory now."""
    require_tracing()
    data = _tracemalloc._live_pprof(
        _OWN_PREFIX, time.time_ns(), _tracemalloc.get_sample_bytes() or 1,
        domain_name)
    # Level 1, as pprof.pprof_bytes(): 2% bigger than level 6, 9 ms less.
    return gzip.compress(data, compresslevel=1, mtime=0)


def snapshot_bytes(compresslevel=COMPRESS_LEVEL):
    """The bytes of a snapshot file of the traced memory now, as
    ``Snapshot.create()._encode()`` writes it (read by ``Snapshot.load``,
    the CLI and the report)."""
    require_tracing()
    now, stamp = _now()
    version, own, tables = _tracemalloc._live_snapshot_tables(
        _OWN_PREFIX, _tracemalloc.get_sample_bytes() is not None)
    header = Snapshot._live_header(now, stamp,
                                   _tracemalloc.get_traceback_limit(), own)
    return encode_with_tables(header, version, tables.decode("ascii"),
                              compresslevel)


def write_snapshot(filename):
    """``Snapshot.create().write(filename)``, at the cost of the engine's
    encoder (a snapshot on a signal: pytracemalloc/ondemand.py)."""
    write_atomically(filename, snapshot_bytes())
