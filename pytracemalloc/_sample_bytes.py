"""The syntax of a sampled mode's N, shared by PYTRACEMALLOC_SAMPLE_BYTES
(pytracemalloc._startup), ``run --sample-bytes`` and the pytest plugin's
``--pytracemalloc-sample-bytes``: a number of bytes, optionally with a
binary suffix K, M or G (KiB, MiB, GiB also accepted), e.g. ``512K``.
Also the variable of native tracing and the words that name a mode, which
the start-up line and ``run`` print alike.

A module of its own: importing pytracemalloc._startup starts tracing when
PYTRACEMALLOC is set, which the tools must not do by reading an option.
"""

from pytracemalloc._tracemalloc import MAX_SAMPLE_BYTES

# The variable that carries N to every traced process.
ENV = "PYTRACEMALLOC_SAMPLE_BYTES"
# The one that carries native tracing ("1" on, "0" or empty off).
NATIVE_ENV = "PYTRACEMALLOC_NATIVE"

SYNTAX = "a number of bytes such as 524288 or 512K"

_SUFFIXES = {"": 1, "K": 1 << 10, "KIB": 1 << 10, "M": 1 << 20,
             "MIB": 1 << 20, "G": 1 << 30, "GIB": 1 << 30}


def parse_sample_bytes(text):
    """'512K' -> 524288, '4096' -> 4096; None for an empty value;
    ValueError, whose message says what is expected, for anything else."""
    text = text.strip()
    if not text:
        return None
    digits = text.rstrip("KMGIBkmgib")
    suffix = text[len(digits):].upper()
    if not digits.isdigit() or suffix not in _SUFFIXES:
        raise ValueError("expected %s, got %r" % (SYNTAX, text))
    value = int(digits) * _SUFFIXES[suffix]
    if not 1 <= value <= MAX_SAMPLE_BYTES:
        raise ValueError("expected %s, from 1 to %d, got %r"
                         % (SYNTAX, MAX_SAMPLE_BYTES, text))
    return value


def mode_note(sample_bytes, native):
    """' (sampled: one byte in N, native)', or the part that applies, or
    '' for exact mode without native memory."""
    notes = []
    if sample_bytes is not None:
        notes.append("sampled: one byte in %d" % sample_bytes)
    if native:
        notes.append("native")
    return " (%s)" % ", ".join(notes) if notes else ""
