"""The domains of traced blocks, and their names in every read-out.

Domain 0 holds the blocks of CPython's allocators, as in stdlib
tracemalloc.  The others hold blocks that something else reported or that
the engine saw outside CPython's allocators:

- ``NUMPY_DOMAIN`` (389047): numpy's array data, reported by numpy with
  ``PyTraceMalloc_Track`` (numpy's NPY_TRACE_DOMAIN).
- ``NATIVE_DOMAIN`` (0x4E415456, "NATV" in ASCII): native memory, the
  blocks and anonymous mappings that extension modules and the libraries
  they load take from libc, traced with ``enable(native=True)``
  (src/native.h; the engine exports the same value).
- any other: an extension's own, through pytracemalloc's C API.

No import here: the files-only tools (report, export) use it with no
engine.
"""

NUMPY_DOMAIN = 389047
NATIVE_DOMAIN = 0x4E415456

# Short names, as DisplayTop, the CLI and pprof print them.
DOMAIN_NAMES = {NUMPY_DOMAIN: "array data", NATIVE_DOMAIN: "native"}
# Names for a legend (the HTML report).
DOMAIN_TITLES = {NUMPY_DOMAIN: "numpy array data",
                 NATIVE_DOMAIN: "native memory"}


def domain_name(domain):
    """The short name of a domain other than 0: "array data", "native",
    else "domain N"."""
    return DOMAIN_NAMES.get(domain, "domain %d" % domain)


def domain_title(domain):
    """The name of a domain other than 0 in a legend."""
    return DOMAIN_TITLES.get(domain, "domain %d" % domain)
