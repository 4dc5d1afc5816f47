"""Snapshots as other tools read them: pprof's ``profile.proto`` (gzip
compressed: ``go tool pprof``, Grafana Pyroscope, Parca, speedscope) and
Brendan Gregg's folded stacks (``flamegraph.pl``, speedscope).

pprof.  The schema is github.com/google/pprof's proto/profile.proto; the
few messages a heap profile needs are written here by hand (varints,
length-delimited fields, packed repeated ints: some 60 lines of the
encoding below) rather than with the ``protobuf`` package: its wheel is
335 KiB and 2.6 MB installed (protobuf 7.36.2 for CPython 3.11, measured
here), plus the generated code of profile.proto to keep in step.  For
five message types that write-only, the hand-written encoder costs less;
tests/test_export.py checks it against Go's own reader.

What a profile holds:

- two sample types, ``inuse_objects``/``count`` and ``inuse_space``/
  ``bytes`` (the default one: what ``go tool pprof`` shows first), as in
  Go's heap profiles;
- one sample per site of the snapshot (a distinct traceback and domain):
  its location ids leaf first, its count and size; a site of an
  extension's domain (numpy's array data...) carries a ``domain`` label;
- one location per distinct frame (file, line, function) with one line,
  one function per distinct (name, file).  A frame with no name (a
  snapshot file older than names) is a function named ``file:line`` after
  the file's base name, so that ``-top`` still says where;
- a sampled snapshot's figures are its estimates (as Go's heap profiles
  hold scaled values), and its N goes where pprof keeps a sampling rate:
  ``period_type`` space/bytes, ``period`` N.  An exact one has period 1;
- ``time_nanos``, the snapshot's time.

A diff (``diff_samples``) is new minus old per stack, negative values
included, as ``pprof -diff_base`` computes it; stacks only in the old
snapshot are there with negative values.
"""

import gzip
import os

from pytracemalloc.domains import domain_name

__all__ = ["pprof_bytes", "collapsed_text", "SAMPLE_TYPES"]

# (type, unit), in the order of each sample's values.
SAMPLE_TYPES = (("inuse_objects", "count"), ("inuse_space", "bytes"))

_MASK64 = (1 << 64) - 1
_MAPPING_ID = 1


# --- protobuf wire format ------------------------------------------------

def _encode_varint(value):
    """A varint's bytes; negative ints as their 64-bit two's complement, as
    protobuf writes int64."""
    value &= _MASK64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Ids, line numbers, string indexes and field keys are small: one and two
# byte varints are made at once (a profile of 10,000 sites encodes some
# 250,000 varints, and the loop above was most of its cost).
_ONE_BYTE = [bytes((value,)) for value in range(128)]


def _varint_bytes(value):
    if 0 <= value < 128:
        return _ONE_BYTE[value]
    if 0 < value < 16384:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    return _encode_varint(value)


# The keys of the fields the sample loop writes: Profile.sample (2),
# Sample.location_id (1) and Sample.value (2), all length-delimited.
_PROFILE_SAMPLE = _ONE_BYTE[(2 << 3) | 2]
_SAMPLE_LOCATIONS = _ONE_BYTE[(1 << 3) | 2]
_SAMPLE_VALUES = _ONE_BYTE[(2 << 3) | 2]


def _int_field(number, value, out):
    if value:
        out += _ONE_BYTE[number << 3]
        out += _varint_bytes(value)


def _bytes_field(number, data, out):
    out += _ONE_BYTE[(number << 3) | 2]
    out += _varint_bytes(len(data))
    out += data


def _packed_field(number, values, out):
    if values:
        _bytes_field(number, b"".join(map(_varint_bytes, values)), out)


def _message(*fields):
    """The bytes of a message of int fields: (number, value) pairs."""
    out = bytearray()
    for number, value in fields:
        _int_field(number, value, out)
    return out


# --- the model -----------------------------------------------------------

def _has_names(snapshot):
    return any(site[4] is not None for site in snapshot._sites)


def _stacks(snapshot, named):
    """{(frames, functions, domain): [size, count]}: the snapshot's sites,
    frames most recent first, functions a name per frame ("" unknown, and
    all "" when ``named`` is false, so that a snapshot with names and one
    without compare on frames alone)."""
    from pytracemalloc.snapshot import add_up
    return add_up(
        ((frames, functions if named and functions is not None
          else ("",) * len(frames), domain), size, count)
        for frames, size, count, domain, functions in snapshot._sites)


def diff_samples(snapshot, old=None):
    """[(frames, functions, domain, (count, size))] of ``snapshot``, or of
    its growth since ``old`` (new - old per stack, stacks of either),
    biggest size first.  Names take part in a stack's identity only when
    both snapshots have them."""
    named = _has_names(snapshot) and (old is None or _has_names(old))
    new_stacks = _stacks(snapshot, named)
    if old is not None:
        for key, (size, count) in _stacks(old, named).items():
            values = new_stacks.setdefault(key, [0, 0])
            values[0] -= size
            values[1] -= count
    # pprof's order of values: SAMPLE_TYPES, count then size.
    samples = [(frames, functions, domain, (count, size))
               for (frames, functions, domain), (size, count)
               in new_stacks.items()
               if old is None or (size, count) != (0, 0)]
    samples.sort(key=lambda sample: (-abs(sample[3][1]), sample[0]))
    return samples


def frame_label(filename, lineno, function):
    """The function a frame is shown as: its name, else 'file.py:LINE'."""
    return function or "%s:%s" % (os.path.basename(filename) or filename,
                                  lineno)


# --- pprof ---------------------------------------------------------------

class _Strings:
    """The string table: index 0 is "", each string once."""

    def __init__(self):
        self.index = {"": 0}
        self.table = [""]

    def __call__(self, text):
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.table)
            self.table.append(text)
        return found


def pprof_bytes(snapshot, old=None):
    """The gzip-compressed profile.proto of ``snapshot`` (of its growth
    since ``old`` when given)."""
    strings = _Strings()
    functions = {}   # (name, filename) -> id
    locations = {}   # (filename, lineno, name) -> its id, encoded
    out = bytearray()
    for type_, unit in SAMPLE_TYPES:
        _bytes_field(1, _message((1, strings(type_)), (2, strings(unit))),
                     out)
    domain_key = None
    function_records = []
    location_records = []
    for frames, names, domain, values in diff_samples(snapshot, old):
        # Each location's id is kept encoded: a sample's packed ids are
        # then a join, its message a few concatenations (this loop runs
        # once a site, 10,000 times for a scrape at 10,000 lines).
        ids = []
        for (filename, lineno), name in zip(frames, names):
            where = (filename, lineno, name)
            encoded_id = locations.get(where)
            if encoded_id is None:
                label = frame_label(filename, lineno, name)
                function_id = functions.get((label, filename))
                if function_id is None:
                    function_id = functions[label, filename] = \
                        len(functions) + 1
                    # No system_name: pprof demangles a name equal to
                    # its system name, and its demangler empties
                    # "<module>", "<lambda>"...
                    function_records.append(_message(
                        (1, function_id), (2, strings(label)),
                        (4, strings(filename))))
                location_id = len(locations) + 1
                encoded_id = locations[where] = _varint_bytes(location_id)
                line = _message((1, function_id), (2, lineno))
                record = _message((1, location_id), (2, _MAPPING_ID))
                _bytes_field(4, line, record)
                location_records.append(record)
            ids.append(encoded_id)
        packed_ids = b"".join(ids)
        packed_values = _varint_bytes(values[0]) + _varint_bytes(values[1])
        sample = (_SAMPLE_LOCATIONS + _varint_bytes(len(packed_ids))
                  + packed_ids + _SAMPLE_VALUES
                  + _varint_bytes(len(packed_values)) + packed_values)
        if domain:
            if domain_key is None:
                domain_key = strings("domain")
            name = domain_name(domain)
            label_field = bytearray()
            _bytes_field(3, _message((1, domain_key), (2, strings(name))),
                         label_field)
            sample += label_field
        out += _PROFILE_SAMPLE
        out += _varint_bytes(len(sample))
        out += sample
    # One mapping, the interpreter, that says its locations are
    # symbolized already: pprof then looks for no binary to read.
    _bytes_field(3, _message((1, _MAPPING_ID), (5, strings("python")),
                             (7, 1), (8, 1), (9, 1)), out)
    for record in location_records:
        _bytes_field(4, record, out)
    for record in function_records:
        _bytes_field(5, record, out)
    # The last strings, then the table itself.
    period_type = _message((1, strings("space")), (2, strings("bytes")))
    default_type = strings("inuse_space")
    for text in strings.table:
        _bytes_field(6, text.encode("utf-8", "surrogatepass"), out)
    seconds = int(snapshot.time)
    _int_field(9, seconds * 10 ** 9
               + round((snapshot.time - seconds) * 1e9), out)
    _bytes_field(11, period_type, out)
    _int_field(12, snapshot.sample_bytes or 1, out)
    _int_field(14, default_type, out)
    # Level 1: 2% bigger than level 6 at 10,000 sites, 9 ms less.
    return gzip.compress(bytes(out), compresslevel=1, mtime=0)


# --- folded stacks -------------------------------------------------------

def _folded_label(filename, lineno, function):
    """A frame of a folded stack: 'function (file.py:LINE)', or
    'file.py:LINE' with no name; ';' would split it and a line end would
    end the record, so both are replaced."""
    short = "%s:%s" % (os.path.basename(filename) or filename, lineno)
    text = "%s (%s)" % (function, short) if function else short
    return text.replace(";", ",").replace("\n", " ").replace("\r", " ")


def collapsed_text(snapshot, old=None, sample_index="inuse_space"):
    """Folded stacks, one line a stack, oldest frame first: 'a;b;c VALUE'
    with VALUE the bytes (``sample_index`` 'inuse_space') or the blocks
    ('inuse_objects').  With ``old``: 'a;b;c OLD NEW', the two-column form
    that flamegraph.pl draws as a differential flame graph (difffolded.pl's
    output), since folded stacks have no negative values."""
    if sample_index not in ("inuse_space", "inuse_objects"):
        raise ValueError("sample_index must be 'inuse_space' or "
                         "'inuse_objects', not %r" % (sample_index,))
    column = 1 if sample_index == "inuse_space" else 0
    lines = []
    if old is None:
        for frames, names, _, values in diff_samples(snapshot):
            lines.append((_folded_stack(frames, names), values[column]))
        merged = {}
        for stack, value in lines:
            merged[stack] = merged.get(stack, 0) + value
        return "".join("%s %d\n" % item for item in sorted(merged.items()))
    named = _has_names(snapshot) and _has_names(old)
    new_stacks = _stacks(snapshot, named)
    old_stacks = _stacks(old, named)
    pairs = {}
    for stacks, side in ((old_stacks, 0), (new_stacks, 1)):
        for (frames, names, _), (size, count) in stacks.items():
            pair = pairs.setdefault(_folded_stack(frames, names), [0, 0])
            pair[side] += size if column == 1 else count
    return "".join("%s %d %d\n" % (stack, before, after)
                   for stack, (before, after) in sorted(pairs.items()))


def _folded_stack(frames, names):
    return ";".join(_folded_label(filename, lineno, name)
                    for (filename, lineno), name
                    in zip(reversed(frames), reversed(names)))
