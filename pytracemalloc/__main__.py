"""python -m pytracemalloc: subcommands, else the snapshot display.

    python -m pytracemalloc run [options] script.py|-m module|-c code [args]
    python -m pytracemalloc report FILE... -o OUT.html
    python -m pytracemalloc export FILE --format pprof|collapsed -o OUT
    python -m pytracemalloc attach PID [options] / detach PID [-o DIR]
    python -m pytracemalloc [options] FILE...      (pytracemalloc.cli)

A first argument of ``run``, ``report``, ``export``, ``attach`` or
``detach`` is the subcommand,
never a file: a snapshot file of that name is given as ``./run`` (or after
``--``, as in ``python -m pytracemalloc -- run``), which the display reads
as it always did.
"""

import sys

SUBCOMMANDS = """\
subcommands:
  python -m pytracemalloc run [options] script.py|-m module|-c code [args]
                        run a program traced from its first line
                        (run --help for its options)
  python -m pytracemalloc report FILE... -o OUT.html
                        an HTML report of snapshot files
  python -m pytracemalloc export FILE --format pprof|collapsed -o OUT
                        a snapshot as a pprof profile or folded stacks
  python -m pytracemalloc attach PID [options]
                        trace a running CPython process, no restart
                        (attach --help for its options)
  python -m pytracemalloc detach PID [-o DIR]
                        snapshot, stop tracing and free the tracer's memory
  A snapshot file named 'run', 'report' or 'export' is given as ./run or
  after --.
"""


def _report(argv):
    import importlib
    try:
        report = importlib.import_module("pytracemalloc.report")
    except ModuleNotFoundError as exc:
        if exc.name not in ("pytracemalloc.report",):
            raise
        sys.stderr.write("python -m pytracemalloc: error: the report command "
                         "is not available in this version of pytracemalloc "
                         "(no pytracemalloc.report module)\n")
        return 2
    return report.main(argv)


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    argv = list(argv)
    if argv and argv[0] == "run":
        from pytracemalloc import run
        return run.main(argv[1:])
    if argv and argv[0] == "report":
        return _report(argv[1:])
    if argv and argv[0] in ("attach", "detach"):
        from pytracemalloc import attach
        return attach.main(argv[0], argv[1:])
    if argv and argv[0] == "export":
        from pytracemalloc import export
        return export.main(argv[1:])
    from pytracemalloc import cli
    if argv and argv[0] in ("-h", "--help"):
        parser = cli.make_parser()
        parser.print_help()
        sys.stdout.write("\n" + SUBCOMMANDS)
        return 0
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
