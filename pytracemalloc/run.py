"""``python -m pytracemalloc run [options] (script.py | -m module | -c code)
[args...]``: run a program traced from before its first line.

The program runs as ``python script.py`` would run it (``sys.argv``,
``__main__``, ``sys.path[0]``, ``__file__``, ``-m`` as ``runpy`` gives it)
and the command exits with the program's own status.  Snapshots go into one
directory: ``PID-NNNN.snapshot`` every ``--snapshot-every`` seconds and
``PID-final.snapshot`` at exit, for this process and for every Python child
(``subprocess`` children through the environment and the start-up hook,
``multiprocessing`` fork children through ``os.register_at_fork``, spawn and
forkserver children as fresh processes started with that environment).
"""

import atexit
import os
import signal
import sys

USAGE = """\
usage: python -m pytracemalloc run [options] script.py [args...]
       python -m pytracemalloc run [options] -m module [args...]
       python -m pytracemalloc run [options] -c code [args...]

Run a Python program traced from its first line; exit with its status.

options:
  --nframe N          frames kept per traceback (default: 1)
  --sample-bytes N    sampled mode, one allocated byte in N on average (N in
                      bytes, or with a suffix K, M or G: 512K), here and in
                      the children; the figures are estimates, marked ~
                      (default: exact mode)
  --native            trace native memory too: the blocks that extension
                      modules and their libraries take from libc (malloc,
                      mmap...), in the "native" domain, here and in the
                      children (default: only Python's allocators, the
                      figures of stdlib tracemalloc)
  --snapshot-every S  also write a snapshot every S seconds (default: only
                      one at exit)
  -o, --output DIR    directory of the snapshot files (default: a new
                      directory pytracemalloc-PROGRAM-PID, printed on stderr)
  --top N             print the top N lines on stderr at exit (default: 10;
                      0 for none)
  --html FILE         write the HTML report of all the snapshots at exit
                      (needs the report command)
  --http ADDR         serve the live figures over HTTP while the program
                      runs (HOST:PORT, PORT alone: 127.0.0.1): GET /metrics,
                      /debug/pprof/heap, /snapshot (this process only)
  -h, --help          show this help and exit

Python children (subprocess, multiprocessing fork/spawn/forkserver) are
traced too; each process writes its own PID-*.snapshot files.  Display them
with: python -m pytracemalloc -l DIR/*.snapshot
"""

# The environment that makes a child Python process record like its parent
# (read by pytracemalloc._startup through pytracemalloc-startup.pth).
ENV_NFRAME = "PYTRACEMALLOC"
ENV_DIR = "PYTRACEMALLOC_RUN_DIR"
ENV_EVERY = "PYTRACEMALLOC_RUN_EVERY"
# (and pytracemalloc._sample_bytes.ENV, the N of the sampled mode, and
# NATIVE_ENV)

PROG = "python -m pytracemalloc run"

# Signals whose default action kills Python without running atexit: the
# snapshot is written first, then the process dies of the same signal.
_FATAL_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                       if hasattr(signal, name))


class UsageError(Exception):
    pass


class Options:
    nframe = 1
    sample_bytes = None   # exact mode
    native = False
    every = None
    output = None
    top = 10
    html = None
    http = None      # (host, port)
    kind = None      # "script", "module" or "code"
    target = None
    args = ()


def _int_option(name, text, low, high=None):
    try:
        value = int(text)
    except ValueError:
        raise UsageError("%s: %r is not a whole number" % (name, text))
    if value < low or (high is not None and value > high):
        bound = ("from %d to %d" % (low, high) if high is not None
                 else "at least %d" % low)
        raise UsageError("%s: expected a number %s, got %s"
                         % (name, bound, text))
    return value


def _seconds_option(name, text):
    try:
        value = float(text)
    except ValueError:
        raise UsageError("%s: %r is not a number of seconds" % (name, text))
    if not value > 0 or value == float("inf"):
        raise UsageError("%s: expected a positive number of seconds, got %s"
                         % (name, text))
    return value


def _http_option(text):
    from pytracemalloc.endpoint import parse_address
    try:
        return parse_address(text)
    except ValueError as exc:
        raise UsageError("--http: %s" % exc) from None


def take_option(argv, i, with_value):
    """(name, value, index of the next argument) of the option at
    ``argv[i]``, given as NAME=VALUE or NAME VALUE; UsageError for a name
    not in ``with_value`` or a missing value."""
    name, equals, value = argv[i].partition("=")
    if name not in with_value:
        raise UsageError("unknown option %s" % name)
    if not equals:
        if i + 1 >= len(argv):
            raise UsageError("argument %s: expected one argument" % name)
        i += 1
        value = argv[i]
    return name, value, i + 1


def _sample_bytes_option(name, text):
    from pytracemalloc._sample_bytes import SYNTAX, parse_sample_bytes
    try:
        value = parse_sample_bytes(text)
    except ValueError as exc:
        raise UsageError("%s: %s" % (name, exc))
    if value is None:
        # empty means exact mode in the environment, but an option given
        # without a value is a mistake
        raise UsageError("%s: expected %s, got %r" % (name, SYNTAX, text))
    return value


def parse_args(argv):
    """Options from ``argv`` (after ``run``).  Options stop at the script,
    at ``-m MODULE`` or ``-c CODE``: what follows is the program's."""
    try:
        from pytracemalloc._tracemalloc import MAX_NFRAME
    except ImportError:
        MAX_NFRAME = 2 ** 31 - 1   # main() says why it cannot trace
    options = Options()
    argv = list(argv)
    i = 0
    with_value = {"--nframe", "--sample-bytes", "--snapshot-every", "-o",
                  "--output", "--top", "--html", "--http"}
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            options.kind = "help"
            return options
        if arg == "--":
            i += 1
            break
        if arg in ("-m", "-c"):
            if i + 1 >= len(argv):
                raise UsageError("argument %s: expected one argument" % arg)
            options.kind = "module" if arg == "-m" else "code"
            options.target = argv[i + 1]
            options.args = argv[i + 2:]
            return options
        if arg.startswith("-m") and len(arg) > 2 or (
                arg.startswith("-c") and len(arg) > 2):
            # python accepts -mMODULE and -cCODE: so do we
            options.kind = "module" if arg[1] == "m" else "code"
            options.target = arg[2:]
            options.args = argv[i + 1:]
            return options
        if not arg.startswith("-") or arg == "-":
            break
        if arg == "--native":
            options.native = True
            i += 1
            continue
        if arg.startswith("--native="):
            raise UsageError("--native takes no value")
        name, value, i = take_option(argv, i, with_value)
        if name == "--nframe":
            options.nframe = _int_option(name, value, 1, MAX_NFRAME)
        elif name == "--sample-bytes":
            options.sample_bytes = _sample_bytes_option(name, value)
        elif name == "--snapshot-every":
            options.every = _seconds_option(name, value)
        elif name in ("-o", "--output"):
            if not value:
                raise UsageError("%s: empty directory name" % name)
            options.output = value
        elif name == "--top":
            options.top = _int_option(name, value, 0)
        elif name == "--http":
            options.http = _http_option(value)
        else:
            if not value:
                raise UsageError("--html: empty file name")
            options.html = value
    if i >= len(argv):
        raise UsageError("no program to run: give a script, -m MODULE or "
                         "-c CODE")
    options.kind = "script"
    options.target = argv[i]
    options.args = argv[i + 1:]
    return options


def _program_name(options):
    if options.kind == "script":
        base = os.path.basename(os.path.normpath(options.target))
        name = base[:-3] if base.endswith(".py") else base
    elif options.kind == "module":
        name = options.target
    else:
        name = "c"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) \
        or "program"


def _startup_hook_installed():
    """Whether pytracemalloc-startup.pth is in a directory that site.py
    reads: without it, subprocess children cannot be traced."""
    import site
    directories = list(getattr(site, "getsitepackages", lambda: [])())
    if site.ENABLE_USER_SITE:
        directories.append(site.getusersitepackages())
    return any(os.path.exists(os.path.join(d, "pytracemalloc-startup.pth"))
               for d in directories)


# --- recording, in every traced process ------------------------------------

class Recorder:
    """Writes this process's snapshots: periodic ones, and one at exit
    (normal exit, a multiprocessing child's exit, a fatal signal).  The
    files are named after the process that writes them, so one recorder
    serves a process and its fork children."""

    def __init__(self, directory, every):
        self.directory = directory
        self.every = every
        self.is_main = False
        self._final_pid = None
        self._taker = None
        self.final = None   # (snapshot, filename) once written
        self.active = True

    def start(self):
        from pytracemalloc.take import TakeSnapshot
        self._taker = TakeSnapshot()
        self._taker.filename_template = os.path.join(
            self.directory, "$pid-$counter.snapshot")
        if self.every:
            self._taker.start(self.every)
        atexit.register(self.finish)
        os.register_at_fork(after_in_child=self._after_fork_in_child)
        for signum in _FATAL_SIGNALS:
            # Only where the default would kill us: a handler the program
            # inherited or installs later is the program's business.
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, _on_fatal_signal)

    def _after_fork_in_child(self):
        if not self.active:
            return
        self.is_main = False
        self.final = None
        self._final_pid = None
        if self._taker is not None:
            self._taker.counter = 1
        # A multiprocessing child leaves through os._exit(), not atexit:
        # its own exit function runs the finalizers registered after its
        # bootstrap cleared the inherited ones.
        mp_util = sys.modules.get("multiprocessing.util")
        if mp_util is not None:
            mp_util.register_after_fork(self, _register_mp_finalizer)

    def write_final(self):
        """Write this process's final snapshot once; return it or None."""
        if not self.active or self._final_pid == os.getpid():
            return self.final
        self._final_pid = os.getpid()
        import pytracemalloc
        from pytracemalloc.snapshot import Snapshot
        if self._taker is not None:
            self._taker.stop()
        if not pytracemalloc.is_enabled():
            sys.stderr.write("pytracemalloc: tracing was stopped by the "
                             "program: no final snapshot for pid %d\n"
                             % os.getpid())
            return None
        filename = os.path.join(self.directory,
                                "%d-final.snapshot" % os.getpid())
        try:
            snapshot = Snapshot.create()
            snapshot.write(filename)
        except Exception as exc:
            sys.stderr.write("pytracemalloc: cannot write the final "
                             "snapshot: %s\n" % (exc,))
            return None
        self.final = (snapshot, filename)
        return self.final

    def finish(self):
        """The end of this process: final snapshot, and in the process that
        ran the command, the top lines and the HTML report."""
        final = self.write_final()
        if self.is_main and self.active:
            # once: a fatal signal may come during the exit functions
            self.is_main = False
            _report(final)


def _on_fatal_signal(signum, frame):
    try:
        for recorder in _recorders:
            recorder.finish()
    finally:
        signal.signal(signum, signal.SIG_DFL)
        _flush_std_streams()
        os.kill(os.getpid(), signum)


def _register_mp_finalizer(recorder):
    import multiprocessing.util
    multiprocessing.util.Finalize(None, recorder.write_final,
                                  exitpriority=-1000)


def _flush_std_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


# Set by main() for the process that ran the command.
_main_options = None


def _report(final):
    options = _main_options
    if options is None:
        return
    if final is not None:
        snapshot, filename = final
        sys.stderr.write("pytracemalloc: final snapshot written into %s\n"
                         % filename)
        if options.top:
            from pytracemalloc.display import DisplayTop
            top = DisplayTop(options.top, file=sys.stderr)
            top.show_lineno = True
            top.display_snapshot(snapshot)
    if options.html:
        _write_html(options)
    _flush_std_streams()


def _write_html(options):
    import glob
    import importlib
    report = importlib.import_module("pytracemalloc.report")
    files = sorted(glob.glob(os.path.join(options.output, "*.snapshot")))
    if not files:
        sys.stderr.write("pytracemalloc: no snapshot to report: %s not "
                         "written\n" % options.html)
        return
    try:
        status = report.main(files + ["-o", options.html])
    except SystemExit as exc:
        status = exc.code
    except Exception as exc:
        sys.stderr.write("pytracemalloc: the HTML report failed: %s\n"
                         % (exc,))
        return
    if status in (0, None):
        sys.stderr.write("pytracemalloc: HTML report written into %s\n"
                         % options.html)
    else:
        sys.stderr.write("pytracemalloc: the HTML report failed (status "
                         "%s)\n" % (status,))


def start_child(environ=os.environ):
    """In a child process started by a traced program (called by
    pytracemalloc._startup once tracing is on): record like the parent."""
    directory = environ.get(ENV_DIR)
    every = environ.get(ENV_EVERY) or None
    try:
        every = float(every) if every else None
    except ValueError:
        every = None
    recorder = Recorder(directory, every)
    recorder.start()
    _recorders.append(recorder)
    return recorder


# The recorders of this process: one, but a `run` started by a traced
# program has the one of its start-up (replaced, see main()) too.
_recorders = []


# --- running the program ---------------------------------------------------

def _strip_own_frames(tb):
    """The traceback from the program's first frame: the frames of this
    module and of runpy are ours, not the program's."""
    import runpy
    own = {os.path.normcase(os.path.abspath(__file__)),
           os.path.normcase(os.path.abspath(runpy.__file__)), "<frozen runpy>"}
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith("<"):
            filename = os.path.normcase(os.path.abspath(filename))
        if filename not in own:
            break
        tb = tb.tb_next
    return tb


def _fresh_main_module():
    """A new ``__main__`` module, in sys.modules for good, as the program's
    own would be (pickle and multiprocessing's spawn look it up there)."""
    import builtins
    import types
    module = types.ModuleType("__main__")
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = module
    return module


def _run_script(path):
    import importlib.machinery
    import runpy
    if os.path.isdir(path) or not path.endswith(".py") and _is_zipfile(path):
        # a directory or zip file with a __main__.py: runpy's business
        runpy.run_path(path, run_name="__main__")
        return
    filename = os.path.abspath(path)
    with open(filename, "rb") as source_file:
        source = source_file.read()
    module = _fresh_main_module()
    module.__file__ = filename
    module.__cached__ = None
    module.__loader__ = importlib.machinery.SourceFileLoader("__main__",
                                                             filename)
    code = compile(source, filename, "exec", dont_inherit=True)
    exec(code, module.__dict__)


def _is_zipfile(path):
    import zipfile
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def _run_program(options):
    if options.kind == "script":
        sys.argv = [options.target] + list(options.args)
        sys.path[0] = os.path.dirname(os.path.realpath(options.target))
        _run_script(options.target)
    elif options.kind == "module":
        import runpy
        sys.argv = [options.target] + list(options.args)
        sys.path[0] = os.getcwd()
        _fresh_main_module()
        # What the interpreter itself calls for `python -m`: the module's
        # search, its error message and sys.argv[0] exactly as there.
        runpy._run_module_as_main(options.target, alter_argv=True)
    else:
        sys.argv = ["-c"] + list(options.args)
        sys.path[0] = ""
        module = _fresh_main_module()
        exec(compile(options.target, "<string>", "exec", dont_inherit=True),
             module.__dict__)
    return 0


def _die_of_sigint():
    # Registered before the recorder's exit function, so it runs after it
    # (atexit is last in, first out): python itself dies of SIGINT after an
    # uncaught KeyboardInterrupt, once finalized.
    _flush_std_streams()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)


def main(argv=None):
    global _main_options
    if argv is None:
        argv = sys.argv[2:]
    try:
        options = parse_args(argv)
    except UsageError as exc:
        sys.stderr.write("%s: error: %s\n(%s --help for the options)\n"
                         % (PROG, exc, PROG))
        return 2
    if options.kind == "help":
        sys.stdout.write(USAGE)
        return 0
    if options.kind == "script" and not os.path.exists(options.target):
        hint = ""
        if os.path.isfile("run"):
            hint = ("\n(to display the snapshot file named 'run', use: "
                    "python -m pytracemalloc ./run ...)")
        sys.stderr.write("%s: error: can't open file %r: no such file%s\n"
                         % (PROG, os.path.abspath(options.target), hint))
        return 2
    if options.html:
        import importlib
        try:
            importlib.import_module("pytracemalloc.report")
        except ImportError as exc:
            sys.stderr.write("%s: error: --html needs the report command, "
                             "which cannot be loaded here: %s\n"
                             % (PROG, exc))
            return 2
        options.html = os.path.abspath(options.html)
    if options.output is None:
        options.output = "pytracemalloc-%s-%d" % (_program_name(options),
                                                  os.getpid())
    options.output = os.path.abspath(options.output)
    try:
        os.makedirs(options.output, exist_ok=True)
    except OSError as exc:
        sys.stderr.write("%s: error: cannot create the output directory "
                         "%s: %s\n" % (PROG, options.output, exc.strerror))
        return 2
    if not os.access(options.output, os.W_OK):
        sys.stderr.write("%s: error: cannot write into %s\n"
                         % (PROG, options.output))
        return 2

    try:
        import pytracemalloc
    except ImportError as exc:
        sys.stderr.write("%s: error: pytracemalloc cannot trace on this "
                         "interpreter: %s\n" % (PROG, exc))
        return 2
    for inherited in _recorders:
        # This `run` was started by a traced program: its own directory
        # and options replace the ones of the environment.
        inherited.active = False
        if inherited._taker is not None:
            inherited._taker.stop()
    if pytracemalloc.is_enabled():
        # Started with PYTRACEMALLOC set: restart at the depth asked here.
        pytracemalloc.disable()
    os.environ[ENV_NFRAME] = str(options.nframe)
    from pytracemalloc._sample_bytes import ENV as ENV_SAMPLE_BYTES
    from pytracemalloc._sample_bytes import NATIVE_ENV, mode_note
    if options.sample_bytes is None:
        # exact mode, whatever the environment this run was started with
        os.environ.pop(ENV_SAMPLE_BYTES, None)
    else:
        os.environ[ENV_SAMPLE_BYTES] = str(options.sample_bytes)
    os.environ[NATIVE_ENV] = "1" if options.native else "0"
    os.environ[ENV_DIR] = options.output
    os.environ[ENV_EVERY] = repr(options.every) if options.every else ""
    sys.stderr.write("pytracemalloc: writing snapshots into %s%s\n"
                     % (options.output,
                        mode_note(options.sample_bytes, options.native)))
    if not _startup_hook_installed():
        sys.stderr.write("pytracemalloc: warning: pytracemalloc-startup.pth "
                         "is not installed in site-packages: children that "
                         "start a new interpreter (subprocess, "
                         "multiprocessing spawn and forkserver) will not be "
                         "traced\n")
    sys.stderr.flush()

    atexit.register(_die_of_sigint_if_needed)
    _main_options = options
    recorder = Recorder(options.output, options.every)
    recorder.is_main = True
    try:
        pytracemalloc.enable(options.nframe,
                             sample_bytes=options.sample_bytes,
                             native=options.native)
    except Exception as exc:
        sys.stderr.write("%s: error: cannot start tracing: %s\n"
                         % (PROG, exc))
        return 2
    # The endpoint serves this process; its children do not inherit one.
    os.environ.pop("PYTRACEMALLOC_HTTP", None)
    if options.http is not None:
        from pytracemalloc import endpoint
        try:
            server = endpoint.serve(options.http)
        except (OSError, ValueError) as exc:
            pytracemalloc.disable()
            sys.stderr.write("%s: error: --http %s:%d: %s\n"
                             % (PROG, options.http[0], options.http[1],
                                getattr(exc, "strerror", None) or exc))
            return 2
        sys.stderr.write("pytracemalloc: serving memory figures on %s\n"
                         % server.url)
        sys.stderr.flush()
    recorder.start()
    _recorders.append(recorder)
    try:
        return _run_program(options)
    except SystemExit:
        raise
    except BaseException as exc:
        # As the interpreter does with an uncaught exception: the hook
        # prints it (from the program's first frame), the status is 1, or
        # death by SIGINT after finalization for a KeyboardInterrupt.
        tb = _strip_own_frames(exc.__traceback__)
        exc.__traceback__ = tb
        sys.excepthook(type(exc), exc, tb)
        if isinstance(exc, KeyboardInterrupt):
            global _interrupted
            _interrupted = True
            return 128 + signal.SIGINT
        return 1


_interrupted = False


def _die_of_sigint_if_needed():
    if _interrupted:
        _die_of_sigint()
