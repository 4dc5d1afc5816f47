"""``python -m pytracemalloc report FILE... -o report.html``: one
self-contained HTML page of a series of snapshot files.

The page shows the memory over time (traced, process memory, user data),
the top lines (or files, functions, tracebacks) as stacked series, the
lines that grow steadily (a leak view), flame graphs of a snapshot's tracebacks and
of the difference between two, and a sortable, filterable table of the
latest snapshot whose rows open a line's history and tracebacks; one
process at a time, with a selector when the files come from several.

model.py reads the files and builds the data; page.py, page.html, page.js
and flame.js make the page.  The charts are plotly.js, read from the installed
``plotly`` package (``pip install 'pytracemalloc[report]'``) and inlined.
"""

import argparse
import os
import sys
import time


__all__ = ["main", "make_parser", "write_report"]

_GROUPINGS = ("line", "file", "function", "traceback")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, exit 2: the usage errors of a command-line tool.
        self.exit(2, "%s: error: %s\n" % (self.prog, message))


def _count(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text)
    if value < 1:
        raise argparse.ArgumentTypeError("%r is not a positive number"
                                         % text)
    return value


def make_parser():
    parser = _Parser(
        prog="python -m pytracemalloc report",
        description="Write one self-contained HTML page showing a series "
                    "of snapshot files: memory over time, top lines, "
                    "leaks, the latest snapshot.  Opens offline.")
    parser.add_argument("files", metavar="FILE", nargs="+",
                        help="snapshot files (Snapshot.write, TakeSnapshot, "
                             "Snapshot.dump), in any order; a directory "
                             "stands for the files in it")
    parser.add_argument("-o", "--output", metavar="HTML",
                        default="report.html",
                        help="the page to write (default: report.html)")
    parser.add_argument("-n", "--top", type=_count, default=10,
                        help="series stacked in the top chart (default: 10; "
                             "changeable on the page)")
    parser.add_argument("--leaks", type=_count, default=10,
                        help="lines shown in the leak view (default: 10; "
                             "changeable on the page)")
    parser.add_argument("--group-by", choices=_GROUPINGS, default="line",
                        help="what the page groups by first: line, file, "
                             "function (the lines of one function of one "
                             "file) or traceback (a switch on the page)")
    parser.add_argument("--include", metavar="MATCH", action="append",
                        default=[],
                        help="only filenames matching MATCH (fnmatch); "
                             "repeatable, as python -m pytracemalloc")
    parser.add_argument("--exclude", metavar="MATCH", action="append",
                        default=[],
                        help="no filenames matching MATCH; repeatable")
    parser.add_argument("--pid", type=int, action="append", default=[],
                        help="only the snapshots of this process; "
                             "repeatable (default: every process, chosen "
                             "on the page)")
    parser.add_argument("--title", help="the page's title")
    parser.add_argument("-j", "--jobs", type=_count, default=None,
                        help="processes reading the files (default: one "
                             "per CPU)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no summary line on stderr")
    return parser


def write_report(files, output, *, include=(), exclude=(), pids=(),
                 title=None, top=10, leaks=10, group_by="line", jobs=None,
                 errors=None):
    """Read ``files`` and write the page to ``output``.  Returns the
    ``ReportData``.  Unreadable files are left out, their one-line reasons
    appended to ``errors`` (or written to stderr).  Raises
    ``NoSnapshotError`` (a ``ValueError``) when no snapshot is left,
    ``ChartLibraryMissing`` without plotly, ``OSError`` when ``output``
    cannot be written (an existing file of that name is then left
    intact).  A directory in ``files`` stands for the files in it."""
    from pytracemalloc.report import model, page
    library = page.chart_library()  # before the long part: fail early
    if errors is None:
        errors = []
        report_errors = True
    else:
        report_errors = False
    start = len(errors)
    loaded = model.load_snapshots(_expand(files), include, exclude, jobs,
                                  errors)
    if report_errors:
        for error in errors[start:]:
            sys.stderr.write(error + "\n")
    data = model.build(loaded, pids=pids, title=title, top=top,
                       leaks=leaks, group_by=group_by,
                       left_out=errors[start:])
    _write_atomically(output, page.render(data, library).encode("utf-8"))
    return data


def _expand(paths):
    """``paths`` with each directory replaced by the files in it (not its
    subdirectories, nor hidden files): a week of snapshots is more names
    than a command line holds."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            with os.scandir(path) as entries:
                files.extend(sorted(
                    entry.path for entry in entries
                    if not entry.name.startswith(".")
                    and entry.is_file()))
        else:
            files.append(path)
    return files


def _write_atomically(path, data):
    import tempfile
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            os.unlink(tmp)


def main(argv=None):
    """The command line; returns the exit status: 0 when the page was
    written, 1 when there is no snapshot to show or the page cannot be
    written, 2 for a usage error."""
    from pytracemalloc.report.model import NoSnapshotError
    from pytracemalloc.report.page import ChartLibraryMissing
    prog = "python -m pytracemalloc report"
    options = make_parser().parse_args(argv)
    started = time.perf_counter()
    cpu_started = time.process_time()
    errors = []

    def warn(message):
        sys.stderr.write("%s: %s\n" % (prog, message))

    try:
        data = write_report(
            options.files, options.output, include=options.include,
            exclude=options.exclude, pids=options.pid, title=options.title,
            top=options.top, leaks=options.leaks, group_by=options.group_by,
            jobs=options.jobs, errors=errors)
    except ChartLibraryMissing as exc:
        warn("error: %s" % exc)
        return 1
    except NoSnapshotError:
        for error in errors:
            sys.stderr.write(error + "\n")
        if errors:
            why = "%d of %d files could not be read" % (
                len(errors), len(options.files))
        else:
            why = "no snapshot of the processes %s" % ", ".join(
                map(str, options.pid))
        warn("error: no snapshot to report (%s)" % why)
        return 1
    except OSError as exc:
        for error in errors:
            sys.stderr.write(error + "\n")
        warn("error: cannot write %s: %s"
             % (options.output, exc.strerror or exc))
        return 1
    for error in errors:
        sys.stderr.write(error + "\n")
    if not options.quiet:
        meta = data.meta
        cpu = time.process_time() - cpu_started + data.loader_cpu
        warn("%d snapshot%s of %d process%s%s written into %s in %.1f s "
             "(%.1f s of CPU)"
             % (len(meta["snapshots"]),
                "" if len(meta["snapshots"]) == 1 else "s",
                len(meta["processes"]),
                "" if len(meta["processes"]) == 1 else "es",
                " (%d files left out)" % len(errors) if errors else "",
                options.output, time.perf_counter() - started, cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
