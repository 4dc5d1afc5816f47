"""Real workloads we did not write (plus one churn microbenchmark), each
about a second untraced on 2 cores.  ``prepare(name)`` does the set-up
that must not be measured (copies, inputs) and returns the callable that
is."""

import io
import json
import os
import shutil
import sysconfig
import tempfile

STDLIB = sysconfig.get_paths()["stdlib"]
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def docutils_html():
    """docutils rendering a large reStructuredText document to HTML."""
    import docutils.core
    texts = []
    for name in ("README.rst", "docs/snapshot-format.rst"):
        path = os.path.join(ROOT, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as file:
                texts.append(file.read())
    seed = os.path.join(ROOT, "..", "shared", "seed", "README-0.9.1.rst")
    if os.path.exists(seed):
        with open(seed, encoding="utf-8") as file:
            texts.append(file.read())
    # Sections of our documents, renumbered so that titles stay unique.
    document = "\n\n".join(
        text.replace("\n====", "\n----") for text in texts) * 8

    def run():
        return docutils.core.publish_string(
            document, writer_name="html",
            settings_overrides={"report_level": 5, "halt_level": 5})
    return run


def compileall_stdlib():
    """compileall forced over a copy of part of the stdlib."""
    import compileall
    folder = tempfile.mkdtemp(prefix="bench-compileall-")
    for package in ("json", "email", "xml", "logging", "http", "asyncio",
                    "unittest", "concurrent", "importlib", "urllib",
                    "multiprocessing", "tomllib", "wsgiref", "sqlite3"):
        shutil.copytree(os.path.join(STDLIB, package),
                        os.path.join(folder, package),
                        ignore=shutil.ignore_patterns("__pycache__"))

    def run():
        ok = compileall.compile_dir(folder, force=True, quiet=2,
                                    legacy=True)
        return ok
    run.cleanup = lambda: shutil.rmtree(folder, ignore_errors=True)
    return run


def json_round_trip():
    """json: dump and load a large document."""
    document = {
        "users": [{"id": i, "name": "user%d" % i, "score": i * 1.5,
                   "tags": ["t%d" % (i % 7), "t%d" % (i % 11)],
                   "address": {"street": "%d Main St" % i, "zip": "%05d" % i}}
                  for i in range(120000)]}

    def run():
        text = json.dumps(document)
        return json.loads(text)
    return run


def cpython_tests():
    """A subset of CPython's own test suite: test_json and test_csv."""
    import unittest
    loader = unittest.TestLoader()

    def run():
        suite = unittest.TestSuite()
        for name in ("test.test_json", "test.test_csv"):
            suite.addTests(loader.loadTestsFromName(name))
        return unittest.TextTestRunner(stream=io.StringIO(),
                                       verbosity=0).run(suite)
    return run


def jsonschema_validate():
    """A third-party package doing real work: jsonschema validating
    documents against a schema."""
    import jsonschema
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "minimum": 0},
            "name": {"type": "string", "pattern": "^user[0-9]+$"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "address": {"type": "object",
                        "properties": {"zip": {"type": "string"}},
                        "required": ["zip"]},
        },
        "required": ["id", "name"],
    }
    documents = [{"id": i, "name": "user%d" % i, "tags": ["a", "b"],
                  "address": {"zip": "%05d" % i}} for i in range(15000)]
    validator = jsonschema.Draft7Validator(schema)

    def run():
        return sum(1 for doc in documents if validator.is_valid(doc))
    return run


def churn():
    """Allocation churn (ours): dicts, strings and lists made and dropped."""
    def run():
        keep = []
        for i in range(1500000):
            keep.append({"a": i, "b": str(i), "c": [i, i + 1]})
            if len(keep) > 1000:
                keep = keep[500:]
        return keep
    return run


def numpy_chain():
    """numpy (ours, issue 14): a chain of array operations over ~100 MB,
    each step a new big buffer, and many small arrays."""
    import numpy
    base = numpy.random.default_rng(0).random(12_500_000)  # 100 MB

    def chain(rounds, small):
        total = 0.0
        for _ in range(rounds):
            scaled = base * 2.0
            mixed = numpy.sqrt(scaled) + base
            halves = mixed[::2].copy()
            joined = numpy.concatenate([halves, halves])
            total += float(numpy.cumsum(joined[::1000]).sum())
            total += sum(float((numpy.arange(i % 64 + 1) * 2).sum())
                         for i in range(small))
        return total

    # The first touch of 100 MB of fresh pages varies tenfold from run to
    # run here: done before the measure.
    chain(1, 0)
    return lambda: chain(4, 40000)


def sqlite_database():
    """The native workloads' in-memory sqlite3 database (libsqlite3's
    malloc): 120,000 rows filled, indexed and queried; (db, rows found)."""
    import sqlite3
    db = sqlite3.connect(":memory:")
    db.execute("create table t (id integer primary key, name text, "
               "payload blob)")
    db.executemany("insert into t (name, payload) values (?, ?)",
                   (("user%d" % i, b"x" * (i % 200)) for i in range(120000)))
    db.execute("create index t_name on t (name)")
    found = sum(1 for _ in db.execute(
        "select id from t where name like 'user1%' order by name"))
    return db, found


def native_heavy():
    """Native memory (issue 24): most of it taken from libc by C libraries,
    out of sight of CPython's allocators: an in-memory sqlite3 database
    (libsqlite3's malloc) filled, indexed and queried, OpenSSL hash objects
    and TLS contexts (libcrypto's malloc).  bench/native.py runs it; it is
    not in WORKLOADS, whose tools do not trace native memory."""
    import hashlib
    import ssl

    def run():
        db, found = sqlite_database()
        digests = [hashlib.sha256(b"%d" % i) for i in range(40000)]
        contexts = [ssl.create_default_context() for _ in range(12)]
        return db, digests, contexts, found
    return run


def native_mix():
    """Native memory (issue 24), the program of the issue's own example:
    an in-memory sqlite3 database (libsqlite3's malloc) filled, indexed and
    queried, as in native_heavy; zlib streams and a bz2 compressor kept
    alive with their state (libz's and libbz2's malloc: deflate windows and
    hash chains, bz2's sorting arrays), and one-shot compressions.  Fewer,
    bigger blocks than native_heavy, whose OpenSSL part makes millions of
    blocks of 60 bytes.  What it keeps is resident (touched), so that its
    traced figures can be set against the RSS growth."""
    import bz2
    import random
    import zlib
    text = b"".join(b"%d,user%d,%s\n" % (i, i, b"x" * (i % 97))
                    for i in range(20000))  # 1.2 MB
    # bz2's block is 900 KB of input after its run-length step, which
    # shrinks the text above to less: noise fills a block.
    noise = random.Random(0).randbytes(1000000)

    def run():
        db, found = sqlite_database()
        streams = []
        for level in (1, 3, 6, 9):
            stream = zlib.compressobj(level)
            stream.compress(text)
            streams.append(stream)
        packed = [zlib.compress(text, level) for level in (1, 6, 9)]
        # Flushed, so that its block is sorted: the compressor's 7 MB of
        # arrays are then touched (resident) and kept until it is freed,
        # and the RSS growth can be compared with the traced figures.
        compressor = bz2.BZ2Compressor(9)
        compressor.compress(noise)
        packed.append(compressor.flush())
        packed.append(bz2.compress(text[:300000], 9))
        return db, streams, compressor, packed, found
    return run


WORKLOADS = {
    "docutils": docutils_html,
    "compileall": compileall_stdlib,
    "json": json_round_trip,
    "cpython-tests": cpython_tests,
    "jsonschema": jsonschema_validate,
    "churn": churn,
    "numpy": numpy_chain,
}
# Ours, not third-party programs: out of the geometric means.
REAL_WORKLOADS = [name for name in WORKLOADS
                  if name not in ("churn", "numpy")]


def prepare(name):
    return WORKLOADS[name]()
