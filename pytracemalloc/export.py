"""``python -m pytracemalloc export FILE --format pprof|collapsed -o OUT``:
a snapshot file in another tool's format (pytracemalloc/pprof.py says
what each holds).

    export FILE --format pprof -o heap.pb.gz      go tool pprof -top heap.pb.gz
    export FILE --format pprof --diff OLD -o growth.pb.gz
    export FILE --format collapsed -o heap.folded  flamegraph.pl heap.folded
    export FILE --format collapsed --diff OLD -o growth.folded

``-o -`` writes to stdout.  Exit status 0 when the file was written, 1
when a snapshot cannot be read or the output cannot be written (one line
on stderr naming the file and why), 2 for a usage error.  The output is
written atomically: a failed export leaves any previous file intact.
"""

import argparse
import sys

PROG = "python -m pytracemalloc export"
FORMATS = ("pprof", "collapsed")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, exit 2: the usage errors of a command-line tool.
        self.exit(2, "%s: error: %s\n" % (self.prog, message))


def make_parser():
    parser = _Parser(
        prog=PROG,
        description="Write a snapshot file (Snapshot.dump, TakeSnapshot, "
                    "run -o) as a pprof profile (gzip-compressed "
                    "profile.proto: go tool pprof, Pyroscope, Parca, "
                    "speedscope) or as folded stacks (flamegraph.pl, "
                    "speedscope).")
    parser.add_argument("file", metavar="FILE", help="the snapshot file")
    parser.add_argument("--format", "-f", required=True, choices=FORMATS,
                        help="pprof or collapsed")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="the file to write ('-': stdout)")
    parser.add_argument("--diff", metavar="OLD",
                        help="write the growth since the snapshot file OLD "
                             "(pprof: new - old per stack, negative values "
                             "included, as pprof -diff_base; collapsed: "
                             "'STACK OLD NEW' lines, flamegraph.pl's "
                             "differential input)")
    parser.add_argument("--sample-index", default="inuse_space",
                        choices=("inuse_space", "inuse_objects"),
                        help="collapsed: the value of a stack, bytes "
                             "(inuse_space, the default) or blocks "
                             "(inuse_objects); a pprof profile holds both")
    return parser


def _load(path):
    from pytracemalloc.snapshot import Snapshot, SnapshotLoadError
    try:
        return Snapshot.load(path), None
    except SnapshotLoadError as exc:
        return None, str(exc)


def main(argv=None):
    options = make_parser().parse_args(argv)
    from pytracemalloc import pprof

    def fail(message):
        sys.stderr.write("%s: error: %s\n" % (PROG, message))
        return 1

    snapshot, error = _load(options.file)
    if error:
        return fail(error)
    old = None
    if options.diff is not None:
        old, error = _load(options.diff)
        if error:
            return fail(error)
    if options.format == "pprof":
        data = pprof.pprof_bytes(snapshot, old)
    else:
        data = pprof.collapsed_text(snapshot, old, options.sample_index)
        data = data.encode("utf-8", "surrogateescape")
    if options.output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    from pytracemalloc.fileio import SnapshotWriteError, write_atomically
    try:
        write_atomically(options.output, data)
    except SnapshotWriteError as exc:
        return fail("cannot write %s: %s" % (options.output,
                                             exc.strerror or exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
