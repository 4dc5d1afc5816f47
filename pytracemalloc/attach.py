"""``python -m pytracemalloc attach PID`` and ``detach PID``: trace a
running CPython process that was started without tracing, no restart.

What attach does, step by step:

1. Checks the target: /proc/PID exists and may be signalled by us, and its
   executable or its libpython says CPython 3.11 or later with the GIL.
2. Writes, into a private directory of its own (handed to the target's
   user when we are root), a request (numbers and paths checked here) and
   a loader: a fixed text of this module with the request as a JSON
   literal.  No user-supplied code ever reaches the target.
3. Makes the target's main thread run the loader at a safe point:
   - CPython 3.14+, same version as ours: ``sys.remote_exec``;
   - otherwise Debian's ``gdb``: it stops the target at the entry of one of
     CPython's allocation functions (a thread there holds no allocator
     lock and is not inside libc's malloc), copies the loader's one-line
     call into a block of the target's own malloc, queues it with
     ``Py_AddPendingCall`` and detaches.  The call runs at the next check
     of the eval breaker, between two bytecodes, like a signal handler.
     If the target allocates nothing within the deadline (blocked in a
     system call), gdb is interrupted, removes its breakpoints and
     detaches: nothing was queued, and attach says so.
4. The loader imports this package (the target's own, else this very tree
   by its path, without touching sys.path), checks that its version is
   ours, and runs ``pytracemalloc._attached``: enable, serve if asked, and
   with ``--duration`` a timer thread that writes the snapshot, stops
   tracing and frees the tracer's memory.  It writes a status file at each
   step.  A loader that runs after its deadline (a target that was blocked
   for longer) does nothing.
5. Waits for the status file (deadline: ``--timeout``), prints one line and
   exits 0; any failure is one ``error:`` line and a non-zero status, the
   target unharmed.

``detach PID [-o DIR]`` injects the same way a loader that takes the
snapshot (into DIR when given), stops tracing and closes the endpoint.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from pytracemalloc.run import (UsageError, _http_option, _int_option,
                               _sample_bytes_option, _seconds_option,
                               take_option)

USAGE = """\
usage: python -m pytracemalloc attach PID [options]
       python -m pytracemalloc detach PID [-o DIR] [--method M] [--timeout S]

Start tracing inside a running CPython process (3.11+), without a restart.

options:
  --nframe N          frames kept per traceback (default: 1)
  --sample-bytes N    sampled mode, one allocated byte in N on average
                      (512K, 1M...; default: exact mode)
  --http ADDR         serve the live figures there (HOST:PORT, PORT alone:
                      127.0.0.1): /metrics, /debug/pprof/heap, /snapshot
  --duration S        after S seconds, write a snapshot into -o DIR, stop
                      tracing and free the tracer's memory
  -o, --output DIR    where --duration and detach write the snapshot
  --method M          auto (default), remote-exec (CPython 3.14+, the same
                      version as this one) or gdb (Debian's gdb)
  --timeout S         deadline of each step (default: 30)
  --native            trace native memory too: the blocks that extension
                      modules and their libraries take from libc
  -h, --help          show this help and exit
"""

PROG = "python -m pytracemalloc"
_EXE = re.compile(r"python(\d+)\.(\d+)(t?)$")
_LIB = re.compile(r"libpython(\d+)\.(\d+)(t?)\.so")
MIN_VERSION = (3, 11)
MAX_VERSION = (3, 15)


class AttachError(Exception):
    """One line for the user; the command exits 1."""


class Options:
    nframe = 1
    sample_bytes = None
    native = False
    http = None
    duration = None
    output = None
    method = "auto"
    timeout = 30.0
    pid = None


def parse_args(command, argv):
    options = Options()
    with_value = {"--nframe", "--sample-bytes", "--http", "--duration", "-o",
                  "--output", "--method", "--timeout"}
    if command == "detach":
        with_value = {"-o", "--output", "--method", "--timeout"}
    args = list(argv)
    positional = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help"):
            return None
        if arg == "--native" and command == "attach":
            options.native = True
            i += 1
            continue
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            i += 1
            continue
        name, value, i = take_option(args, i, with_value)
        if name == "--nframe":
            from pytracemalloc._tracemalloc import MAX_NFRAME
            options.nframe = _int_option(name, value, 1, MAX_NFRAME)
        elif name == "--sample-bytes":
            options.sample_bytes = _sample_bytes_option(name, value)
        elif name == "--http":
            options.http = _http_option(value)
        elif name == "--duration":
            options.duration = _seconds_option(name, value)
        elif name in ("-o", "--output"):
            if not value:
                raise UsageError("%s: empty directory name" % name)
            options.output = os.path.abspath(value)
        elif name == "--method":
            if value not in ("auto", "remote-exec", "gdb"):
                raise UsageError("--method: auto, remote-exec or gdb, not %r"
                                 % value)
            options.method = value
        else:
            options.timeout = _seconds_option(name, value)
    if len(positional) != 1:
        raise UsageError("expected one PID")
    options.pid = _int_option("PID", positional[0], 1, 2 ** 22)
    if options.duration is not None and options.output is None:
        raise UsageError("--duration needs -o DIR, where the snapshot goes")
    if options.output is not None and not os.path.isdir(options.output):
        raise UsageError("no such directory: %s" % options.output)
    return options


# --- the target ----------------------------------------------------------

def target_version(pid):
    """(major, minor, free_threaded) of the CPython that process ``pid``
    runs; AttachError when it is not one."""
    if pid == os.getpid():
        raise AttachError("PID %d is this process" % pid)
    if not os.path.isdir("/proc/%d" % pid):
        raise AttachError("no process %d" % pid)
    try:
        os.kill(pid, 0)
    except PermissionError:
        raise AttachError("no permission to attach to process %d (run as "
                          "its user or as root)" % pid) from None
    except ProcessLookupError:
        raise AttachError("no process %d" % pid) from None
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError as exc:
        raise AttachError("cannot read process %d: %s"
                          % (pid, exc.strerror)) from None
    found = _EXE.search(os.path.basename(exe))
    if found is None:
        try:
            with open("/proc/%d/maps" % pid) as maps:
                found = _LIB.search(maps.read())
        except OSError:
            found = None
    if found is None:
        raise AttachError("process %d (%s) is not a CPython process"
                          % (pid, exe))
    major, minor, free = int(found[1]), int(found[2]), bool(found[3])
    if not MIN_VERSION <= (major, minor) <= MAX_VERSION:
        raise AttachError("process %d runs CPython %d.%d: pytracemalloc "
                          "attaches to CPython 3.11 to 3.15"
                          % (pid, major, minor))
    if free:
        raise AttachError("process %d runs a free-threaded CPython %d.%d, "
                          "which pytracemalloc cannot trace yet"
                          % (pid, major, minor))
    return major, minor, free


def _target_owner(pid):
    status = os.stat("/proc/%d" % pid)
    return status.st_uid, status.st_gid


# --- the loader ----------------------------------------------------------

# Run in the target's __main__ namespace: one function, deleted after.
LOADER = r'''
def _pytracemalloc_attach(request):
    import json, os, sys, time
    def say(document):
        temporary = request["status"] + ".%d.tmp" % os.getpid()
        with open(temporary, "w") as file:
            json.dump(document, file)
        os.replace(temporary, request["status"])
    if time.time() > request["deadline"]:
        return
    try:
        try:
            import pytracemalloc
        except ImportError:
            import importlib.util
            spec = importlib.util.spec_from_file_location(
                "pytracemalloc", os.path.join(request["package"],
                                              "__init__.py"),
                submodule_search_locations=[request["package"]])
            module = importlib.util.module_from_spec(spec)
            sys.modules["pytracemalloc"] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules["pytracemalloc"]
                raise
            pytracemalloc = module
        version = getattr(pytracemalloc, "__version__", "?")
        if version != request["version"]:
            say({"ok": False, "error": "the process imports pytracemalloc "
                 "%s (%s), not %s" % (version,
                                      getattr(pytracemalloc, "__file__", "?"),
                                      request["version"])})
            return
        from pytracemalloc import _attached
        getattr(_attached, request["action"])(request, say)
    except BaseException as exc:
        say({"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})
_pytracemalloc_attach(json.loads(%s))
del _pytracemalloc_attach
'''


def write_loader(directory, request):
    # json is imported by the text itself: the literal is a JSON string.
    text = "import json as _pytracemalloc_json\n" + LOADER.replace(
        "json.loads(%s)", "_pytracemalloc_json.loads(%r)"
        % json.dumps(request)) + "del _pytracemalloc_json\n"
    path = os.path.join(directory, "loader-%s.py" % request["action"])
    with open(path, "w") as file:
        file.write(text)
    return path


# --- injection -----------------------------------------------------------

GDB_COMMANDS = r"""
set pagination off
set confirm off
set unwindonsignal on
set auto-load off
break PyObject_Malloc
break PyObject_Free
break PyMem_Malloc
break PyMem_Free
commands 1-4
  disable breakpoints
  set $pytracemalloc_text = (char *)malloc(%(size)d)
  call (void)strcpy($pytracemalloc_text, "%(text)s")
  p "PYTRACEMALLOC: queue"
  p (int)Py_AddPendingCall((int (*)(void *))PyRun_SimpleString, (void *)$pytracemalloc_text)
  delete breakpoints
  detach
  quit
end
continue
delete breakpoints
p "PYTRACEMALLOC: nothing ran"
detach
quit
"""


def inject_with_gdb(pid, loader, timeout):
    gdb = shutil.which("gdb")
    if gdb is None:
        raise AttachError("attaching to this process needs gdb, which is "
                          "not installed (apt-get install gdb)")
    # One statement, no new name in the target's __main__: a loader file
    # that is gone by then is skipped, not a traceback on its stderr.
    statement = ("__import__('os').path.exists(%r) and "
                 "exec(open(%r).read())" % (loader, loader))
    if "\"" in statement or "\\" in statement:
        raise AttachError("the attach directory's path cannot be passed to "
                          "gdb: %s" % loader)
    commands = GDB_COMMANDS % {"size": len(statement) + 1, "text": statement}
    script = os.path.join(os.path.dirname(loader), "inject.gdb")
    with open(script, "w") as file:
        file.write(commands)
    # gdb runs without the preloads meant for Python programs (a sanitizer
    # runtime, an allocator): under libasan it never stops the target in
    # time.
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    process = subprocess.Popen(
        [gdb, "-q", "-batch", "-nx", "-p", str(pid), "-x", script],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Interrupt the wait: gdb then removes its breakpoints and detaches
        # (the commands after "continue").
        process.send_signal(signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
            raise AttachError("gdb did not detach from process %d in time"
                              % pid) from None
    if "ptrace: Operation not permitted" in out:
        raise AttachError("no permission to attach to process %d (ptrace: "
                          "Operation not permitted)" % pid)
    if "PYTRACEMALLOC: nothing ran" in out or "PYTRACEMALLOC: queue" not in \
            out:
        if "No symbol" in out or "not defined" in out:
            raise AttachError("process %d has no CPython symbols for gdb"
                              % pid)
        raise AttachError("process %d ran no Python code within %g s "
                          "(blocked in a system call?): nothing was done"
                          % (pid, timeout))
    if re.search(r"\$\d+ = 0\s*$", out.split("PYTRACEMALLOC: queue", 1)[1],
                 re.M) is None:
        raise AttachError("process %d refused the pending call" % pid)


def inject_with_remote_exec(pid, loader):
    try:
        sys.remote_exec(pid, loader)
    except PermissionError as exc:
        raise AttachError("no permission to attach to process %d: %s"
                          % (pid, exc)) from None
    except (RuntimeError, OSError, ValueError) as exc:
        raise AttachError("sys.remote_exec(%d) failed: %s" % (pid, exc)) \
            from None


def inject(options, version, loader):
    same = tuple(version[:2]) == sys.version_info[:2]
    can_remote = hasattr(sys, "remote_exec") and same
    method = options.method
    if method == "auto":
        method = "remote-exec" if can_remote else "gdb"
    if method == "remote-exec":
        if not can_remote:
            raise AttachError(
                "--method remote-exec needs CPython 3.14+ on both sides, of "
                "the same version (this is %d.%d, the process %d.%d)"
                % (sys.version_info[0], sys.version_info[1], version[0],
                   version[1]))
        inject_with_remote_exec(options.pid, loader)
    else:
        inject_with_gdb(options.pid, loader, options.timeout)
    return method


def wait_for_status(path, pid, deadline, states):
    while True:
        try:
            with open(path) as file:
                document = json.load(file)
        except (OSError, ValueError):
            document = None
        if document is not None and (not document.get("ok")
                                     or document.get("state") in states):
            return document
        if not os.path.isdir("/proc/%d" % pid):
            raise AttachError("process %d ended" % pid)
        if time.monotonic() > deadline:
            raise AttachError("process %d did not answer in time (blocked, "
                              "or its main thread runs no Python code)"
                              % pid)
        time.sleep(0.05)


def run(command, options):
    import pytracemalloc
    version = target_version(options.pid)
    directory = tempfile.mkdtemp(prefix="pytracemalloc-%s-" % command)
    done = False
    try:
        if os.geteuid() == 0:
            uid, gid = _target_owner(options.pid)
            if uid != 0:
                os.chown(directory, uid, gid)
        status = os.path.join(directory, "status.json")
        request = {
            "action": "start" if command == "attach" else "detach",
            "status": status,
            "deadline": time.time() + options.timeout,
            "package": os.path.dirname(os.path.abspath(
                pytracemalloc.__file__)),
            "version": pytracemalloc.__version__,
            "nframe": options.nframe,
            "sample_bytes": options.sample_bytes,
            "native": options.native,
            "http": list(options.http) if options.http else None,
            "duration": options.duration if command == "attach" else None,
            # The target writes its snapshot here, into a directory it
            # owns; it is moved into -o DIR afterwards, by us.
            "output": directory if options.output is not None else None,
        }
        loader = write_loader(directory, request)
        os.chmod(loader, 0o644)
        os.chmod(directory, 0o755 if os.geteuid() == 0 else 0o700)
        deadline = time.monotonic() + options.timeout
        method = inject(options, version, loader)
        wanted = {"tracing"} if command == "attach" else {"detached"}
        document = wait_for_status(status, options.pid, deadline, wanted)
        if not document.get("ok"):
            raise AttachError("process %d: %s" % (options.pid,
                                                  document.get("error")))
        if command == "attach":
            line = ("pytracemalloc: tracing process %d (CPython %d.%d, "
                    "through %s), nframe %d%s"
                    % (options.pid, version[0], version[1], method,
                       options.nframe,
                       "" if options.sample_bytes is None else
                       ", sampled: one byte in %d" % options.sample_bytes)
                    + (", native memory too" if options.native else ""))
            if document.get("url"):
                line += "; serving on %s" % document["url"]
            print(line, flush=True)
            if options.duration is not None:
                document = wait_for_status(
                    status, options.pid, time.monotonic() + options.duration
                    + options.timeout, {"detached"})
                if not document.get("ok"):
                    raise AttachError("process %d: %s"
                                      % (options.pid, document.get("error")))
        if document.get("state") == "detached":
            snapshot = document.get("snapshot")
            if snapshot:
                # The name comes from the target: only a plain file of our
                # own directory is taken.
                inside = os.path.dirname(os.path.abspath(snapshot)) == \
                    os.path.abspath(directory)
                if not inside or os.path.islink(snapshot) or \
                        not os.path.isfile(snapshot):
                    raise AttachError("process %d named a snapshot outside "
                                      "its directory: %r"
                                      % (options.pid, snapshot))
                moved = os.path.join(options.output,
                                     os.path.basename(snapshot))
                shutil.move(snapshot, moved)
                snapshot = moved
            print("pytracemalloc: process %d no longer traced%s"
                  % (options.pid, "; snapshot: %s" % snapshot
                     if snapshot else ""), flush=True)
        done = True
    finally:
        # A loader that did not run stays, so that a late pending call
        # finds it and does nothing (its deadline passed).
        if done:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


def main(command, argv):
    try:
        options = parse_args(command, argv)
    except UsageError as exc:
        sys.stderr.write("%s %s: error: %s\n(%s %s --help for the options)\n"
                         % (PROG, command, exc, PROG, command))
        return 2
    if options is None:
        sys.stdout.write(USAGE)
        return 0
    try:
        return run(command, options)
    except AttachError as exc:
        sys.stderr.write("%s %s: error: %s\n" % (PROG, command, exc))
        return 1
