"""The target's side of ``python -m pytracemalloc attach`` (attach.py).

The attacher makes a running CPython import this package and call
``start(request, say)``, or ``detach(request, say)`` later, in that
process's main thread at a safe point (sys.remote_exec or a pending call
injected by gdb).  ``request`` holds only validated numbers and paths of
the attacher's own; ``say(document)`` writes the status file the attacher
waits for.  Nothing here raises into the target: the loader in attach.py
catches everything and says it.
"""

import os
import threading

from pytracemalloc import _tracemalloc

# The session started by an attach in this process (main thread only):
# its HTTP server and the timer of --duration.
_session = {}


def start(request, say):
    if _tracemalloc.is_enabled():
        say({"ok": False, "error": "the process traces already (nframe %d)"
             % _tracemalloc.get_traceback_limit()})
        return
    import pytracemalloc
    try:
        # "native" is absent from the requests of an older attach
        pytracemalloc.enable(request["nframe"],
                             sample_bytes=request["sample_bytes"],
                             native=bool(request.get("native")))
    except ValueError as exc:
        say({"ok": False, "error": str(exc)})
        return
    _session.clear()
    url = None
    if request["http"] is not None:
        try:
            server = pytracemalloc.serve(tuple(request["http"]))
        except (OSError, ValueError) as exc:
            pytracemalloc.disable()
            say({"ok": False, "error": "cannot serve on %s:%d: %s"
                 % (request["http"][0], request["http"][1],
                    getattr(exc, "strerror", None) or exc)})
            return
        _session["server"] = server
        url = server.url
    document = {"ok": True, "state": "tracing", "pid": os.getpid(),
                "url": url, "version": pytracemalloc.__version__}
    if request["duration"] is not None:
        timer = threading.Timer(request["duration"], _finish_safely,
                                (request, say))
        timer.daemon = True
        timer.name = "pytracemalloc-attach"
        _session["timer"] = timer
        timer.start()
    say(document)


def _finish_safely(request, say):
    try:
        finish(request, say)
    except BaseException as exc:
        say({"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})


def finish(request, say):
    """Take the snapshot (into request["output"] when given), stop tracing,
    free the tracer's memory, close the endpoint."""
    from pytracemalloc.snapshot import Snapshot
    timer = _session.pop("timer", None)
    if timer is not None and timer is not threading.current_thread():
        timer.cancel()
    filename = None
    if not _tracemalloc.is_enabled():
        _close_server()
        say({"ok": False, "error": "the process was not tracing"})
        return
    if request["output"] is not None:
        snapshot = Snapshot.create()
        filename = os.path.join(request["output"], "tracemalloc-%d-%s.pickle"
                                % (os.getpid(), snapshot.timestamp.replace(
                                    " ", "-").replace(":", "")))
        snapshot.write(filename)
    _close_server()
    _tracemalloc.disable()
    say({"ok": True, "state": "detached", "pid": os.getpid(),
         "snapshot": filename})


def detach(request, say):
    finish(request, say)


def _close_server():
    server = _session.pop("server", None)
    if server is not None:
        server.close()
