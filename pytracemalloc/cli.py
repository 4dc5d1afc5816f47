"""``python -m pytracemalloc [options] FILE...``: display snapshot files,
in the order they were taken, each compared with the previous one."""

import argparse
import sys

import pytracemalloc
from pytracemalloc.display import DisplayTop


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, exit 2: the usage errors of a command-line tool.
        self.exit(2, "%s: error: %s\n" % (self.prog, message))


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    if value < 0:
        raise argparse.ArgumentTypeError("%r is negative" % text)
    return value


def add_filename_filters(parser):
    """--include/--exclude, for every command that reads snapshot files."""
    parser.add_argument("--include", metavar="MATCH", action="append",
                        default=[],
                        help="only filenames matching MATCH (fnmatch); "
                             "repeatable")
    parser.add_argument("--exclude", metavar="MATCH", action="append",
                        default=[],
                        help="no filenames matching MATCH; repeatable")


def make_parser():
    parser = _Parser(
        prog="python -m pytracemalloc",
        description="Display pytracemalloc snapshot files, each compared "
                    "with the previous one.")
    parser.add_argument("files", metavar="FILE", nargs="+",
                        help="snapshot files (Snapshot.write, "
                             "TakeSnapshot, Snapshot.dump)")
    parser.add_argument("-l", "--line-number", action="store_true",
                        help="group by file and line, not only by file")
    parser.add_argument("-n", "--number", type=_positive_int, default=10,
                        help="number of lines shown (default: 10)")
    parser.add_argument("--first", action="store_true",
                        help="compare with the first snapshot, not with "
                             "the previous one")
    add_filename_filters(parser)
    parser.add_argument("-S", "--hide-size", action="store_true",
                        help="hide the size")
    parser.add_argument("-C", "--hide-count", action="store_true",
                        help="hide the number of blocks")
    parser.add_argument("-A", "--hide-average", action="store_true",
                        help="hide the average block size")
    parser.add_argument("-P", "--filename-parts", type=_positive_int,
                        default=3, help="number of filename parts shown "
                                        "(default: 3)")
    parser.add_argument("--color", dest="color", action="store_true",
                        default=None, help="use colors")
    parser.add_argument("--no-color", dest="color", action="store_false",
                        help="no colors (default when stdout is not a TTY)")
    parser.add_argument("--version", action="version",
                        version="pytracemalloc %s" % pytracemalloc.__version__)
    return parser


def main(argv=None):
    from pytracemalloc.snapshot import Snapshot, SnapshotLoadError
    options = make_parser().parse_args(argv)
    status = 0
    loaded = []
    for filename in options.files:
        try:
            snapshot = Snapshot.load(filename)
        except SnapshotLoadError as exc:
            sys.stderr.write("%s\n" % (exc,))
            status = 1
            continue
        if options.include:
            snapshot.filter_filenames(options.include, True)
        if options.exclude:
            snapshot.filter_filenames(options.exclude, False)
        loaded.append((snapshot.time, len(loaded), filename, snapshot))
    loaded.sort()

    pids = {snapshot.pid for _, _, _, snapshot in loaded}
    if len(pids) > 1:
        sys.stderr.write("WARNING: the snapshots come from %s different "
                         "processes (pids %s)\n"
                         % (len(pids), ", ".join(map(str, sorted(pids)))))

    top = DisplayTop(options.number, file=sys.stdout)
    if options.color is not None:
        top.color = options.color
    top.show_lineno = options.line_number
    top.show_size = not options.hide_size
    top.show_count = not options.hide_count
    top.show_average = not options.hide_average
    top.filename_parts = options.filename_parts
    reference = reference_name = None
    for index, (_, _, filename, snapshot) in enumerate(loaded):
        if index:
            sys.stdout.write("\n")
        top.display_snapshot(snapshot, reference=reference,
                             reference_name=reference_name)
        if reference is None or not options.first:
            reference, reference_name = snapshot, filename
    sys.stdout.write("\n%s snapshots\n" % len(loaded))
    sys.stdout.flush()
    return status
