"""Native memory (issue 24): a cache in an in-memory sqlite3 database.

    python examples/native_memory.py

sqlite3 takes its pages from libc's malloc, out of sight of tracemalloc:
traced without native memory, the cache looks like a few kilobytes of
Python objects.  With ``native=True`` the database's memory is on the line
that filled it, marked ``[native]``.
"""

import sqlite3

import pytracemalloc as tracemalloc


def fill(db, rows):
    db.execute("create table cache (key text primary key, value blob)")
    db.executemany("insert into cache values (?, ?)",
                   (("key%d" % i, b"v" * 100) for i in range(rows)))


def main():
    for native in (False, True):
        tracemalloc.enable(1, native=native)
        db = sqlite3.connect(":memory:")
        fill(db, 100000)
        print("native=%s:" % native)
        top = tracemalloc.DisplayTop(3)
        top.show_lineno = True
        top.display_snapshot(tracemalloc.Snapshot.create())
        db.close()
        tracemalloc.disable()


if __name__ == "__main__":
    main()
