"""A small service that leaks slowly: every request caches its response in a
dict that nobody ever empties.

Traced by examples/demo.py: a top every second on stdout, a snapshot file
every second into the folder given as the first argument.

    python examples/leaky.py FOLDER [SECONDS [NFRAME]]

NFRAME (default 1) frames are kept per traceback: more than one gives the
report's flame graphs something to draw.
"""

import sys
import time

import pytracemalloc as tracemalloc

_response_cache = {}


def handle(request_id):
    body = "<html>%s</html>" % ("x" * 200)
    headers = {"id": request_id, "length": len(body)}
    _response_cache[request_id] = (headers, body)  # the leak
    return len(body)


def serve(seconds):
    deadline = time.monotonic() + seconds
    request_id = 0
    while time.monotonic() < deadline:
        for _ in range(200):
            request_id += 1
            handle(request_id)
            scratch = [str(i) for i in range(50)]  # freed at once
            del scratch
        time.sleep(0.01)


def main():
    folder = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 4
    nframe = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    tracemalloc.enable(nframe)
    top = tracemalloc.DisplayTop(5)
    top.show_lineno = True
    top.start(1)
    take = tracemalloc.TakeSnapshot()
    take.filename_template = folder + "/leaky-$counter.pickle"
    take.start(1)
    serve(seconds)
    top.stop()
    take.stop()


if __name__ == "__main__":
    main()
