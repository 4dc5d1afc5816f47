"""An in-process HTTP endpoint for the live figures: ``serve(ADDRESS)``.

    GET /debug/pprof/heap   the traced memory now, a gzip pprof profile
                            (pytracemalloc/pprof.py's format, encoded by
                            the engine: live.py; go tool pprof, Grafana
                            Pyroscope, Parca)
    GET /metrics            Prometheus's text format (metrics.py);
                            ``?top=N`` lines (default 20, at most 1000)
    GET /snapshot           a snapshot file, as Snapshot.write() makes it
                            (encoded by the engine: live.py;
                            python -m pytracemalloc and report read it)

One daemon thread serves every connection from a selector; it sleeps in
``select`` until a client connects or a deadline falls due, so between
scrapes it costs nothing.  A figure is computed in that thread, with the
GIL, when it is asked for.

The decisions a server exposed to a network needs, all here:

- It binds to loopback unless the address names another host; then it
  says so once on the ``pytracemalloc`` logger (a warning: stderr by
  default).  ``PORT`` or ``:PORT`` alone is 127.0.0.1.
- GET on the three paths only (HEAD answers GET's headers); any other
  method is 405, any other path 404.  A request has no body: a
  Content-Length other than 0 or a Transfer-Encoding is 400.  Every
  response closes its connection.
- Bounded cost: a request line and its headers fit in MAX_REQUEST_BYTES
  (else 431, or 414 for the line alone), arrive within REQUEST_SECONDS of
  the connection (else 408), and a response must be taken within
  RESPONSE_SECONDS (else the connection is dropped).  At most
  MAX_CONNECTIONS are open; a connection beyond is answered 503 at once.
  A slow client holds only its own buffer: no thread waits on it, and the
  traced program never does.
- An optional bearer token (``token=``, ``PYTRACEMALLOC_HTTP_TOKEN``):
  then every request needs ``Authorization: Bearer TOKEN`` (401 without).
- A response that fails to be built is 500 with the error's one line;
  the thread never dies of a request.
- After ``fork`` the child closes the listening sockets it inherited:
  the parent serves, the child does not answer for it.
"""

import errno
import hmac
import http
import ipaddress
import logging
import os
import selectors
import socket
import threading
import time
import urllib.parse
import weakref

__all__ = ["serve", "Server", "parse_address", "TOKEN_ENV"]

TOKEN_ENV = "PYTRACEMALLOC_HTTP_TOKEN"
MAX_REQUEST_BYTES = 8192
MAX_CONNECTIONS = 64
REQUEST_SECONDS = 10.0
RESPONSE_SECONDS = 30.0
_RECV_BYTES = 4096

_log = logging.getLogger("pytracemalloc")



class HTTPError(Exception):
    """A request answered with an error status and a one-line text."""

    def __init__(self, status, text, headers=()):
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = tuple(headers)


# --- addresses -----------------------------------------------------------

def parse_address(address):
    """(host, port) of ``address``: "HOST:PORT", "[IPV6]:PORT", ":PORT" or
    "PORT" (loopback), or a (host, port) tuple.  ValueError otherwise."""
    if isinstance(address, tuple):
        if len(address) != 2:
            raise ValueError("an address tuple is (host, port), not %r"
                             % (address,))
        host, port = address
    elif isinstance(address, int) and not isinstance(address, bool):
        host, port = "", address
    elif isinstance(address, str):
        text = address.strip()
        if text.startswith("["):
            end = text.find("]")
            if end < 0 or text[end + 1:end + 2] != ":":
                raise ValueError("expected [IPV6]:PORT, not %r" % address)
            host, port = text[1:end], text[end + 2:]
        elif text.count(":") == 1:
            host, port = text.split(":")
        elif ":" not in text:
            host, port = "", text
        else:
            raise ValueError("an IPv6 address takes brackets: [%s]:PORT"
                             % text)
        try:
            port = int(port)
        except ValueError:
            raise ValueError("expected HOST:PORT with a port number, not %r"
                             % address) from None
    else:
        raise ValueError("expected an address 'HOST:PORT', not %r"
                         % (address,))
    if not isinstance(port, int) or isinstance(port, bool) or \
            not 0 <= port <= 65535:
        raise ValueError("a port is a number from 0 to 65535, not %r"
                         % (port,))
    if not isinstance(host, str):
        raise ValueError("a host is a string, not %r" % (host,))
    return host or "127.0.0.1", port


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- requests ------------------------------------------------------------

def _parse_request(head):
    """(method, path, query, headers) of the bytes of a request's line and headers
    (without the blank line), with its headers checked.  HTTPError."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes all
        raise HTTPError(400, "undecodable request")
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not all(parts):
        raise HTTPError(400, "malformed request line")
    method, target, version = parts
    if not version.startswith("HTTP/") or version[5:] not in ("1.0", "1.1"):
        if version.startswith("HTTP/"):
            raise HTTPError(505, "HTTP/1.0 or HTTP/1.1 only")
        raise HTTPError(400, "malformed request line")
    if not method.isalpha() or not method.isupper():
        raise HTTPError(400, "malformed method")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or \
                any(c in name for c in " \t()<>@,;\\\"/[]?={}"):
            raise HTTPError(400, "malformed header line")
        headers.setdefault(name.lower(), []).append(value.strip())
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        raise HTTPError(400, "malformed target")
    if not target.startswith("/"):
        raise HTTPError(400, "the target must be a path")
    length = headers.get("content-length")
    if length is not None and length != ["0"]:
        raise HTTPError(400, "a request has no body here")
    if "transfer-encoding" in headers:
        raise HTTPError(400, "a request has no body here")
    path, _, query = target.partition("?")
    return method, urllib.parse.unquote(path), query, headers


def _query(query):
    try:
        return urllib.parse.parse_qs(query, keep_blank_values=True,
                                     strict_parsing=False, max_num_fields=20)
    except ValueError as exc:
        raise HTTPError(400, "bad query: %s" % exc)


def _one_int(params, name, default, low, high):
    values = params.get(name)
    if not values:
        return default
    try:
        value = int(values[-1])
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise HTTPError(400, "%s must be a number from %d to %d"
                        % (name, low, high))
    return value


# --- the figures ---------------------------------------------------------

def _require_tracing():
    from pytracemalloc import _tracemalloc
    if not _tracemalloc.is_enabled():
        raise HTTPError(503, "pytracemalloc is not tracing")


def _metrics(params):
    from pytracemalloc import metrics
    top = _one_int(params, "top", metrics.DEFAULT_TOP, 0, metrics.MAX_TOP)
    return metrics.CONTENT_TYPE, metrics.metrics_text(top).encode("utf-8"), ()


def _pprof_heap(params):
    from pytracemalloc import live
    _require_tracing()
    return ("application/octet-stream", live.pprof_bytes(),
            (("Content-Disposition", 'attachment; filename="heap.pb.gz"'),))


def _snapshot(params):
    from pytracemalloc import live
    _require_tracing()
    return ("application/octet-stream", live.snapshot_bytes(),
            (("Content-Disposition",
              'attachment; filename="tracemalloc-%d.pickle"'
              % os.getpid()),))


ROUTES = {
    "/metrics": _metrics,
    "/debug/pprof/heap": _pprof_heap,
    "/snapshot": _snapshot,
}


def _response(status, content_type, body, headers=(), head_only=False):
    lines = ["HTTP/1.1 %d %s" % (status, http.HTTPStatus(status).phrase),
             "Content-Type: %s" % content_type,
             "Content-Length: %d" % len(body),
             "Cache-Control: no-store",
             "Connection: close"]
    lines.extend("%s: %s" % header for header in headers)
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return data if head_only else data + body


def _error_response(error):
    return _response(error.status, "text/plain; charset=utf-8",
                     (error.text + "\n").encode("utf-8"), error.headers)


# --- the server ----------------------------------------------------------

class _Connection:
    __slots__ = ("sock", "received", "out", "deadline")

    def __init__(self, sock, now):
        self.sock = sock
        self.received = bytearray()
        self.out = None        # memoryview of what is left to send
        self.deadline = now + REQUEST_SECONDS


_servers = weakref.WeakSet()


class Server:
    """A running endpoint (see the module's doc).  ``address`` is the
    (host, port) it listens on (the port chosen by the system when 0 was
    asked); ``close()`` stops it and closes every connection."""

    def __init__(self, address="127.0.0.1:9464", token=None):
        host, port = parse_address(address)
        if token is None:
            token = os.environ.get(TOKEN_ENV) or None
        if token is not None and (not isinstance(token, str) or not token
                                  or any(ord(c) <= 32 or ord(c) >= 127
                                         for c in token)):
            raise ValueError("a token is a non-empty string of printable "
                             "ASCII without spaces")
        self._token = token.encode("ascii") if token else None
        # What the routes need is imported here, not at the first scrape:
        # a scrape then changes the figures it reports by its transient
        # buffers only.
        from pytracemalloc import live, metrics  # noqa: F401
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        except socket.gaierror:
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        family, _, _, _, sockaddr = infos[0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(sockaddr)
            listener.listen(128)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self.address = listener.getsockname()[:2]
        if not _is_loopback(self.address[0]) and not _is_loopback(host):
            _log.warning(
                "pytracemalloc: serving memory figures on %s:%d, beyond "
                "loopback%s", self.address[0], self.address[1],
                "" if self._token else
                " and without a token (PYTRACEMALLOC_HTTP_TOKEN)")
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._closing = False
        self._connections = {}
        self._thread = threading.Thread(
            target=self._run, name="pytracemalloc-http", daemon=True)
        _servers.add(self)
        self._thread.start()

    @property
    def url(self):
        host = self.address[0]
        if ":" in host:
            host = "[%s]" % host
        return "http://%s:%d" % (host, self.address[1])

    def close(self, timeout=5.0):
        """Stop serving: the thread ends, every socket is closed."""
        if self._closing:
            return
        self._closing = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<pytracemalloc.endpoint.Server %s%s>" % (
            self.url, " closed" if self._closing else "")

    # The thread.

    def _run(self):
        selector = selectors.DefaultSelector()
        try:
            selector.register(self._listener, selectors.EVENT_READ, None)
            selector.register(self._wake_r, selectors.EVENT_READ, None)
            while not self._closing:
                try:
                    self._step(selector)
                except Exception as exc:  # never let the thread die
                    _log.warning("pytracemalloc: HTTP endpoint error: %s",
                                 exc)
                    time.sleep(0.01)
        finally:
            for connection in list(self._connections.values()):
                self._drop(selector, connection)
            selector.close()
            for sock in (self._listener, self._wake_r, self._wake_w):
                sock.close()

    def _step(self, selector):
        now = time.monotonic()
        timeout = None
        if self._connections:
            timeout = max(0.0, min(c.deadline for c in
                                   self._connections.values()) - now)
        for key, mask in selector.select(timeout):
            sock = key.fileobj
            if sock is self._listener:
                self._accept(selector)
            elif sock is self._wake_r:
                try:
                    sock.recv(64)
                except OSError:
                    pass
            else:
                connection = self._connections.get(sock)
                if connection is None:
                    continue
                if mask & selectors.EVENT_READ and connection.out is None:
                    self._read(selector, connection)
                elif mask & selectors.EVENT_WRITE:
                    self._write(selector, connection)
        now = time.monotonic()
        for connection in [c for c in self._connections.values()
                           if c.deadline <= now]:
            if connection.out is None:
                self._answer(selector, connection, _error_response(
                    HTTPError(408, "the request took too long")))
            else:
                self._drop(selector, connection)

    def _accept(self, selector):
        for _ in range(MAX_CONNECTIONS):
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS,
                                 errno.ENOMEM):
                    return  # the next select tries again
                raise
            sock.setblocking(False)
            if len(self._connections) >= MAX_CONNECTIONS:
                try:
                    sock.send(_error_response(
                        HTTPError(503, "too many connections")))
                except OSError:
                    pass
                sock.close()
                continue
            connection = _Connection(sock, time.monotonic())
            self._connections[sock] = connection
            selector.register(sock, selectors.EVENT_READ, None)

    def _drop(self, selector, connection):
        self._connections.pop(connection.sock, None)
        try:
            selector.unregister(connection.sock)
        except (KeyError, ValueError):
            pass
        connection.sock.close()

    def _read(self, selector, connection):
        try:
            data = connection.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(selector, connection)
            return
        connection.received += data
        end = connection.received.find(b"\r\n\r\n")
        if end < 0:
            if len(connection.received) > MAX_REQUEST_BYTES:
                line_ends = connection.received.find(b"\r\n")
                error = (HTTPError(414, "request line too long")
                         if line_ends < 0 else
                         HTTPError(431, "request headers too large"))
                self._answer(selector, connection, _error_response(error))
            return
        if end > MAX_REQUEST_BYTES:
            self._answer(selector, connection, _error_response(
                HTTPError(431, "request headers too large")))
            return
        self._answer(selector, connection,
                     self._respond(bytes(connection.received[:end])))

    def _respond(self, head):
        head_only = False
        try:
            method, path, query, headers = _parse_request(head)
            head_only = method == "HEAD"
            route = ROUTES.get(path)
            if route is None:
                raise HTTPError(404, "no such path: GET %s"
                                % " or ".join(sorted(ROUTES)))
            if method not in ("GET", "HEAD"):
                raise HTTPError(405, "GET only", (("Allow", "GET, HEAD"),))
            if self._token is not None:
                given = headers.get("authorization", [""])[-1]
                scheme, _, credential = given.partition(" ")
                if scheme.lower() != "bearer" or not hmac.compare_digest(
                        credential.strip().encode("latin-1"), self._token):
                    raise HTTPError(401, "a bearer token is required",
                                    (("WWW-Authenticate",
                                      'Bearer realm="pytracemalloc"'),))
            content_type, body, extra = route(_query(query))
            return _response(200, content_type, body, extra, head_only)
        except HTTPError as error:
            data = _error_response(error)
        except Exception as exc:
            data = _error_response(HTTPError(
                500, "%s: %s" % (type(exc).__name__, exc)))
        if head_only:
            data = data[:data.index(b"\r\n\r\n") + 4]
        return data

    def _answer(self, selector, connection, data):
        connection.out = memoryview(data)
        connection.deadline = time.monotonic() + RESPONSE_SECONDS
        connection.received = bytearray()
        selector.modify(connection.sock, selectors.EVENT_WRITE, None)
        self._write(selector, connection)

    def _write(self, selector, connection):
        try:
            sent = connection.sock.send(connection.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(selector, connection)
            return
        connection.out = connection.out[sent:]
        if not connection.out:
            try:
                connection.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            self._drop(selector, connection)


def serve(address="127.0.0.1:9464", token=None):
    """Serve the live figures over HTTP at ``address`` (see the module's
    doc) from a daemon thread; return the ``Server`` (``close()`` stops
    it).  Raises ValueError for a bad address or token, OSError when the
    address cannot be bound."""
    return Server(address, token)


def _close_in_child():
    # The thread is not in the child: its sockets are the parent's.
    for server in list(_servers):
        server._closing = True
        for sock in (server._listener, server._wake_r, server._wake_w):
            try:
                sock.close()
            except OSError:
                pass
        for sock in list(server._connections):
            try:
                sock.close()
            except OSError:
                pass
        server._connections.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)
