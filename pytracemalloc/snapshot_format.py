"""The snapshot file format (docs/snapshot-format.rst): a snapshot to the
bytes of its file and back, every check that a file's content must pass,
and the reading of 0.9.1's pickles (plain data only: an unpickler that
refuses every global).  No file IO here: ``Snapshot.load`` reads the bytes,
``fileio.write_atomically`` writes them.  The snapshot model
(``snapshot.Snapshot``) is passed in as ``make``, so this module does not
import it.
"""

# json, gzip, pickle... are imported when a file is read or written:
# "import pytracemalloc" runs at start-up with PYTRACEMALLOC=1.
import math
import os
import time as _time
import warnings

FORMAT_NAME = "pytracemalloc-snapshot"
# Version 2 adds the domain of each site; version 3 adds "sample_bytes"
# (sampled mode); version 4, the function of each frame (a "functions"
# table, and a third item in each frame row).  A snapshot is written in the
# oldest version that holds it: 1 with domain 0 only, exact figures and no
# names, which older readers read; a sampled one is version 3 at least,
# which an older reader refuses rather than show its estimates as exact
# figures; one with names is version 4.  "native": true (a snapshot taken
# while native memory was traced, whose lack of native blocks then means
# none were live, not "not looked at") is a field added within a version:
# an older reader that ignores it misreads nothing.
FORMAT_VERSION = 4
SAMPLED_FORMAT_VERSION = 3
FUNCTIONS_FORMAT_VERSION = 4
# The version of the 0.9.1 pickles ({'format_version': 1, 'stats': ...}).
LEGACY_PICKLE_VERSION = 1

UNKNOWN_FRAME = ("<unknown>", 0)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_GZIP_MAGIC = b"\x1f\x8b"


class Invalid(Exception):
    """The content is not a valid snapshot; the message is the reason."""


def time_of_timestamp(timestamp):
    """Epoch seconds of a 'YYYY-MM-DD HH:MM:SS' local time, 0.0 when it is
    not one (such snapshots sort first)."""
    try:
        return _time.mktime(_time.strptime(timestamp, TIMESTAMP_FORMAT))
    except (TypeError, ValueError, OverflowError):
        return 0.0


# gzip level of every snapshot file: at 10,000 lines (bench/scrape.py's
# module, 2026-12-08) level 6 writes 55,354 bytes in 10.6 ms and level 9
# 55,459 bytes in 26.0 ms (live.snapshot_bytes, whole), level 1 66,742 in
# 5.4 ms.
COMPRESS_LEVEL = 6


def encode(snapshot, compresslevel=COMPRESS_LEVEL):
    """The file's bytes: gzip-compressed JSON (docs/snapshot-format.rst).
    Frames and filenames are stored once, in tables, and referenced by
    index."""
    import json
    version, tables = _tables(snapshot)
    text = json.dumps(tables, separators=(",", ":"), allow_nan=False)
    return encode_with_tables(snapshot, version, text[1:-1], compresslevel)


def _tables(snapshot):
    """(version, {"filenames": ..., "frames": ..., ["functions": ...,]
    "sites": ...}) of a snapshot's sites."""
    filenames = {}
    functions = {}
    frames = {}
    frame_table = []
    sites = []
    # The oldest version that holds the data, for older readers.
    if any(site[4] is not None for site in snapshot._sites):
        version = FUNCTIONS_FORMAT_VERSION
    elif snapshot.sample_bytes is not None:
        version = SAMPLED_FORMAT_VERSION
    else:
        version = 2 if any(site[3] for site in snapshot._sites) else 1
    named = version >= FUNCTIONS_FORMAT_VERSION
    for site_frames, size, count, domain, names in snapshot._sites:
        row = [size, count, domain] if version >= 2 else [size, count]
        if names is None:
            names = ("",) * len(site_frames)
        for frame, name in zip(site_frames, names):
            key = (frame, name) if named else frame
            index = frames.get(key)
            if index is None:
                filename = frame[0]
                file_index = filenames.get(filename)
                if file_index is None:
                    file_index = filenames[filename] = len(filenames)
                index = frames[key] = len(frame_table)
                if named:
                    name_index = functions.get(name)
                    if name_index is None:
                        name_index = functions[name] = len(functions)
                    frame_table.append([file_index, frame[1], name_index])
                else:
                    frame_table.append([file_index, frame[1]])
            row.append(index)
        sites.append(row)
    tables = {"filenames": list(filenames), "frames": frame_table}
    if named:
        tables["functions"] = list(functions)
    tables["sites"] = sites
    return version, tables


def encode_with_tables(snapshot, version, tables,
                       compresslevel=COMPRESS_LEVEL):
    """The file's bytes with ``snapshot``'s header (its sites are not
    read) and ``tables``, the JSON text of the tables without braces
    (_tables(), or the engine's encoder of the live statistics:
    pytracemalloc/live.py)."""
    import gzip
    import json
    document = {
        "format": FORMAT_NAME,
        "version": version,
        "pid": snapshot.pid,
        "time": snapshot.time,
        "timestamp": snapshot.timestamp,
        "process_memory": snapshot.process_memory,
        "tracemalloc_memory": snapshot.tracemalloc_memory,
        "traceback_limit": snapshot.traceback_limit,
        "user_data": (None if snapshot.user_data is None
                      else [list(item) for item in snapshot.user_data]),
    }
    if version >= SAMPLED_FORMAT_VERSION:
        document["sample_bytes"] = snapshot.sample_bytes
    if snapshot.native:
        document["native"] = True
    head = json.dumps(document, separators=(",", ":"), allow_nan=False)
    text = head[:-1] + "," + tables + "}"
    return gzip.compress(text.encode("ascii"), compresslevel=compresslevel,
                         mtime=0)


def decode(make, data):
    if not data:
        raise Invalid("empty file, not a snapshot")
    if data[:2] == _GZIP_MAGIC:
        return _from_json(make, _gunzip(data))
    head = data.lstrip()[:1]
    if head == b"{":
        return _from_json(make, data)
    if data[:1] in _PICKLE_STARTS:
        try:
            return _from_legacy(make, _restricted_unpickle(data))
        except Invalid as exc:
            if (str(exc).startswith("refused") or data[:1] not in b"ci"
                    or not _looks_like_text(data)):
                raise
    raise Invalid("not a pytracemalloc snapshot (starts with %r)"
                   % data[:16])


def _from_json(make, data):
    import json
    try:
        document = json.loads(data.decode("utf-8"),
                              parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Invalid("truncated or corrupt JSON (%s)" % exc) from None
    if not isinstance(document, dict):
        raise Invalid("not a pytracemalloc snapshot (JSON %s)"
                       % type(document).__name__)
    if document.get("format") != FORMAT_NAME:
        raise Invalid("not a pytracemalloc snapshot (format %r)"
                       % (document.get("format"),))
    version = document.get("version")
    if not _is_int(version) or version < 1:
        raise Invalid("invalid format version %r" % (version,))
    if version > FORMAT_VERSION:
        raise Invalid("format version %d is newer than this "
                       "pytracemalloc reads (%d): upgrade pytracemalloc"
                       % (version, FORMAT_VERSION))
    return _from_v1(make, document, version)


def _from_v1(make, doc, version=1):
    """Versions 1, 2 (whose site rows hold the domain after the
    count), 3 (2 and "sample_bytes") and 4 (3 and the function of each
    frame); any of them may say "native"."""
    pid = _field(doc, "pid", _is_int)
    when = _field(doc, "time", _is_finite_number)
    timestamp = _field(doc, "timestamp", _is_str)
    process_memory = _field(doc, "process_memory", _is_optional_size)
    own_memory = _field(doc, "tracemalloc_memory", _is_optional_size)
    limit = _field(doc, "traceback_limit", _is_positive_int)
    user_data = _user_data(doc.get("user_data"))
    sample_bytes = None
    if version >= SAMPLED_FORMAT_VERSION:
        sample_bytes = _field(doc, "sample_bytes", _is_optional_positive)
    native = doc.get("native", False)
    if not _is_bool(native):
        raise Invalid("invalid field 'native': %r" % (native,))
    filenames = _field(doc, "filenames", _is_list)
    for name in filenames:
        if not isinstance(name, str):
            raise Invalid("'filenames' holds a %s, not a str"
                           % type(name).__name__)
    named = version >= FUNCTIONS_FORMAT_VERSION
    function_names = _field(doc, "functions", _is_list) if named else ()
    for name in function_names:
        if not isinstance(name, str):
            raise Invalid("'functions' holds a %s, not a str"
                           % type(name).__name__)
    frame_rows = _field(doc, "frames", _is_list)
    # The checks of _is_index/_is_size/_is_domain, inline: a report
    # reads thousands of files of 10,000 sites.  JSON gives no int
    # subclass but bool, which "type(x) is int" refuses as they do.
    frames = []
    frame_functions = []
    nfile = len(filenames)
    nname = len(function_names)
    row_length = 3 if named else 2
    for row in frame_rows:
        if (type(row) is not list or len(row) != row_length
                or type(row[0]) is not int or not 0 <= row[0] < nfile
                or type(row[1]) is not int or row[1] < 0
                or (named and (type(row[2]) is not int
                               or not 0 <= row[2] < nname))):
            raise Invalid("invalid frame %r" % (row,))
        frames.append((filenames[row[0]], row[1]))
        if named:
            frame_functions.append(function_names[row[2]])
    sites = []
    nframe = len(frames)
    first_frame = 3 if version >= 2 else 2
    for row in _field(doc, "sites", _is_list):
        if (type(row) is not list or len(row) < first_frame + 1
                or type(row[0]) is not int or row[0] < 0
                or type(row[1]) is not int or row[1] < 0
                or (version >= 2 and (type(row[2]) is not int
                                      or not 0 <= row[2] < 2 ** 32))):
            raise Invalid("invalid site %.80r" % (row,))
        site_frames = []
        for index in row[first_frame:]:
            if type(index) is not int or not 0 <= index < nframe:
                raise Invalid("invalid frame index %r" % (index,))
            site_frames.append(frames[index])
        names = (tuple([frame_functions[index] for index in row[first_frame:]])
                 if named else None)
        sites.append((tuple(site_frames), row[0], row[1],
                      row[2] if version >= 2 else 0, names))
    snapshot = make((), limit, pid=pid, time=float(when),
                   timestamp=timestamp, process_memory=process_memory,
                   tracemalloc_memory=own_memory, user_data=user_data,
                   sample_bytes=sample_bytes, native=native)
    snapshot._sites = sites  # already normalized: tuples, never empty
    return snapshot


def _from_legacy(make, doc):
    """A 0.9.1 pickle: {'format_version': 1, 'timestamp': str, 'stats':
    {filename: {lineno: (size, count)}}, 'pid': int,
    ['process_memory': int], ['user_data': list]}."""
    if not isinstance(doc, dict) or "format_version" not in doc:
        raise Invalid("not a pytracemalloc snapshot (a pickle of %s)"
                       % type(doc).__name__)
    version = doc["format_version"]
    if version != LEGACY_PICKLE_VERSION:
        raise Invalid("unknown pickle format version %r" % (version,))
    timestamp = _field(doc, "timestamp", _is_str)
    pid = _field(doc, "pid", _is_int)
    process_memory = doc.get("process_memory")
    if not _is_optional_size(process_memory):
        raise Invalid("invalid 'process_memory' %r" % (process_memory,))
    user_data = _user_data(doc.get("user_data"))
    stats = _field(doc, "stats", _is_dict)
    sites = []
    # 0.9.1 left its own module's lines out of every top, and showed
    # them as "ignore tracemalloc": so do we, for its files.
    own_memory = 0
    for filename, lines in stats.items():
        if filename is None:
            filename = UNKNOWN_FRAME[0]
        if not isinstance(filename, str) or not isinstance(lines, dict):
            raise Invalid("invalid stats entry for %.80r" % (filename,))
        own = os.path.basename(filename) == "tracemalloc.py"
        for lineno, value in lines.items():
            if lineno is None:
                lineno = 0
            if (not _is_size(lineno)
                    or not isinstance(value, (tuple, list))
                    or len(value) != 2
                    or not _is_size(value[0]) or not _is_size(value[1])):
                raise Invalid("invalid stats entry %.80r:%.20r"
                               % (filename, lineno))
            if own:
                own_memory += value[0]
            else:
                sites.append((((filename, lineno),), value[0], value[1],
                              0))
    # 0.9.1 wrote no other time than the timestamp.
    when = time_of_timestamp(timestamp)
    return make(sites, 1, pid=pid, time=when, timestamp=timestamp,
               process_memory=process_memory,
               tracemalloc_memory=own_memory, user_data=user_data)


# A snapshot of a million sites is some 50 MB of JSON: more than this is a
# compression bomb, refused before it fills the memory.
MAX_DOCUMENT_BYTES = 1 << 30


def _gunzip(data, limit=None):
    """The content of one gzip member, at most ``limit`` bytes."""
    import zlib
    if limit is None:
        limit = MAX_DOCUMENT_BYTES
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        content = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise Invalid("corrupt compressed file (%s)" % exc) from None
    if len(content) > limit:
        raise Invalid("refused: decompresses to more than %d bytes" % limit)
    if not inflater.eof:
        raise Invalid("truncated compressed file")
    if inflater.unused_data:
        raise Invalid("corrupt compressed file (data after its end)")
    return content


def _refuse_constant(name):
    raise ValueError("%s is not allowed" % name)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_size(value):
    return _is_int(value) and value >= 0


def _is_domain(value):
    return _is_int(value) and 0 <= value < 2 ** 32


def _is_positive_int(value):
    return _is_int(value) and value >= 1


def _is_optional_positive(value):
    return value is None or _is_positive_int(value)


def _is_optional_size(value):
    return value is None or _is_size(value)


def _is_index(value, length):
    return _is_int(value) and 0 <= value < length


def _is_finite_number(value):
    if _is_int(value):
        return abs(value) < 2 ** 63
    return isinstance(value, float) and math.isfinite(value)


def _is_str(value):
    return isinstance(value, str)


def _is_bool(value):
    return isinstance(value, bool)


def _is_list(value):
    return isinstance(value, list)


def _is_dict(value):
    return isinstance(value, dict)


def _field(document, name, check):
    if name not in document:
        raise Invalid("missing field %r" % name)
    value = document[name]
    if not check(value):
        raise Invalid("invalid field %r: %.60r" % (name, value))
    return value


def _user_data(value):
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise Invalid("invalid field 'user_data': %.60r" % (value,))
    items = []
    for item in value:
        if (not isinstance(item, (list, tuple)) or len(item) != 3
                or not _is_str(item[0]) or not _is_str(item[1])
                or not (_is_int(item[2]) or _is_finite_number(item[2]))):
            raise Invalid("invalid user data item %.60r" % (item,))
        items.append(tuple(item))
    return items


# First bytes of a pickle that may be a 0.9.1 snapshot or an attack on one:
# a protocol 2+ header, a protocol 0/1 dict, list or tuple, or a protocol 0
# global or instance (refused, with a clear reason).
_PICKLE_STARTS = frozenset([b"\x80", b"(", b"}", b"]", b")", b"c", b"i"])


def _looks_like_text(data):
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.isprintable() or all(c.isprintable() or c in "\t\r\n"
                                     for c in text)


# Opcodes that name, import or call code, or need out-of-band data: a
# 0.9.1 snapshot (a dict of str, int, tuple, list, None) never has them.
_REFUSED_OPCODES = frozenset([
    "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ",
    "NEWOBJ_EX", "EXT1", "EXT2", "EXT4", "PERSID", "BINPERSID",
    "NEXT_BUFFER", "READONLY_BUFFER", "BYTEARRAY8",
])
_MEMO_OPCODES = frozenset(["PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET",
                           "LONG_BINGET"])


def _scan_pickle(data):
    """Read the opcodes (pure Python, nothing is built nor run) and refuse
    what a plain-data pickle does not need, before the fast unpickler sees
    it.  Also refuses memo indexes and frame sizes bigger than the file,
    which would make the C unpickler allocate gigabytes for a few bytes."""
    import pickletools
    limit = len(data)
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in _REFUSED_OPCODES:
                what = ("%.60s" % arg).replace(" ", ".") if arg else "code"
                raise Invalid("refused: the pickle asks for %s (opcode %s), "
                               "a snapshot file is plain data"
                               % (what, opcode.name))
            if opcode.name in _MEMO_OPCODES or opcode.name == "FRAME":
                if not isinstance(arg, int) or not 0 <= arg <= limit:
                    raise Invalid("truncated or corrupt pickle (%s %r)"
                                   % (opcode.name, arg))
    except Invalid:
        raise
    except Exception as exc:
        raise Invalid("truncated or corrupt pickle (%s)" % exc) from None


def _restricted_unpickle(data):
    # Corrupt protocol 0 strings make the decoders warn about invalid
    # escapes: noise about an input that is refused anyway.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _scan_pickle(data)
        return _unpickle_plain_data(data)


def _unpickle_plain_data(data):
    import io
    import pickle

    class PlainDataUnpickler(pickle.Unpickler):
        """Unpickles plain containers and scalars only: every global
        (class, function) is refused, so no code named by the file can
        run (a second line of defence behind _scan_pickle)."""

        def find_class(self, module, name):
            raise pickle.UnpicklingError(
                "refused: the pickle asks for %.60s.%.60s, a snapshot file "
                "is plain data" % (module, name))

        def persistent_load(self, pid):
            raise pickle.UnpicklingError(
                "refused: persistent id in a snapshot")

    try:
        return PlainDataUnpickler(io.BytesIO(data), encoding="utf-8",
                                   errors="surrogateescape").load()
    except pickle.UnpicklingError as exc:
        if str(exc).startswith("refused"):
            raise Invalid("%s (legacy pickle)" % exc) from None
        raise Invalid("truncated or corrupt pickle (%s)" % exc) from None
    except (RecursionError, MemoryError):
        raise
    except Exception as exc:
        # A corrupt pickle fails in many ways (EOFError, ValueError,
        # KeyError from a bad memo index, struct.error, ...): all of them
        # mean the same thing here.
        raise Invalid("truncated or corrupt pickle (%s: %s)"
                       % (type(exc).__name__, exc)) from None
