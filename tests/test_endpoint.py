"""The HTTP endpoint (pytracemalloc.serve, PYTRACEMALLOC_HTTP, run --http)
and snapshots on a signal (PYTRACEMALLOC_SIGNAL): what a scrape returns,
read back by the tools that scrape (go tool pprof, Snapshot.loads), the
errors a hostile or broken client gets, and the traced program going on
unharmed through all of it.

Every process started here has a deadline; every socket a timeout.
"""

import gzip
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request

import pytest

import pytracemalloc
from pytracemalloc import Snapshot, endpoint, metrics
from pytracemalloc import _tracemalloc as engine

from test_export import go_env, needs_go, pprof  # noqa: F401 (a fixture)

TIMEOUT = 60


@pytest.fixture
def tracing():
    engine.enable(1)
    yield
    engine.disable()


@pytest.fixture
def server():
    srv = pytracemalloc.serve("127.0.0.1:0")
    yield srv
    srv.close()


def get(url, headers=None, method="GET"):
    """(status, headers, body) of a request."""
    request = urllib.request.Request(url, headers=headers or {},
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def raw(srv, data, read=True, timeout=TIMEOUT):
    """The bytes answered to `data` sent as is on a new connection."""
    with socket.create_connection(srv.address, timeout=timeout) as sock:
        sock.sendall(data)
        if not read:
            return b""
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def status_of(answer):
    return int(answer.split(b" ", 2)[1])


def parse_metrics(text):
    """{(name, labels): value} of a Prometheus text exposition."""
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        name, _, labels = name_labels.partition("{")
        values[name, labels.rstrip("}")] = float(value)
    return values


def known_line_allocation(n, size):
    blocks = [bytearray(size) for _ in range(n)]  # known-line
    return blocks


KNOWN_LINE = known_line_allocation.__code__.co_firstlineno + 1


# --- what a scrape returns -----------------------------------------------

def test_metrics_are_the_live_figures(tracing, server):
    # GIVEN 2,000 blocks of 1000 bytes at a known line
    keep = known_line_allocation(2000, 1000)
    get(server.url + "/metrics")  # the client's first use imports modules
    before = engine.get_traced_memory()[0]
    # WHEN /metrics is scraped
    status, headers, body = get(server.url + "/metrics")
    after = engine.get_traced_memory()[0]
    # THEN it is Prometheus's text format
    assert status == 200
    assert headers["Content-Type"] == metrics.CONTENT_TYPE
    values = parse_metrics(body.decode())
    # AND the traced bytes are those of the moment of the scrape: what the
    # client's and the endpoint's threads hold meanwhile aside (up to some
    # 150 KiB on 3.14)
    traced = values["pytracemalloc_traced_bytes", ""]
    assert abs(traced - before) <= 256 * 1024 + abs(after - before)
    assert values["pytracemalloc_tracing", ""] == 1
    assert values["pytracemalloc_sample_bytes", ""] == 0
    assert values["pytracemalloc_traced_peak_bytes", ""] >= traced
    assert values["pytracemalloc_tracer_memory_bytes", ""] > 0
    assert values["pytracemalloc_process_resident_bytes", ""] > traced
    # AND the known line is the top line, with its bytes and blocks
    label = 'file="%s",line="%d"' % (__file__, KNOWN_LINE)
    size, count = engine._get_stats()[__file__][KNOWN_LINE]
    assert values["pytracemalloc_line_bytes", label] == size
    assert values["pytracemalloc_line_blocks", label] == count
    assert size >= 2000 * 1000
    lines = [key for key in values if key[0] == "pytracemalloc_line_bytes"]
    assert len(lines) == metrics.DEFAULT_TOP
    assert max(lines, key=values.get) == ("pytracemalloc_line_bytes", label)
    # AND no line of pytracemalloc's own code is in the top
    assert not any(endpoint.__file__ in key[1] for key in lines)
    # AND 5 MB more between two scrapes read as those 5 MB more
    more = known_line_allocation(5000, 1000)
    added = engine._get_stats()[__file__][KNOWN_LINE][0] - size
    grown = parse_metrics(get(server.url + "/metrics")[2].decode())[
        "pytracemalloc_traced_bytes", ""] - traced
    assert added >= 5000 * 1000
    assert abs(grown - added) <= 256 * 1024, (grown, added)
    del keep, more


def test_metrics_top_is_capped_and_labels_are_escaped(tracing, server):
    # GIVEN a line of a file whose name holds a quote, a backslash and a
    # line feed
    name = 'odd "name"\\with\nbreak.py'
    code = compile("keep = [bytearray(5000) for _ in range(100)]", name,
                   "exec")
    scope = {}
    exec(code, scope)
    # WHEN the top 1000 is asked for, and then more than the cap
    status, _, body = get(server.url + "/metrics?top=1000")
    too_many = get(server.url + "/metrics?top=1001")
    none = get(server.url + "/metrics?top=0")
    # THEN the name is escaped as the format says, on one line
    assert status == 200
    text = body.decode()
    escaped = 'odd \\"name\\"\\\\with\\nbreak.py'
    assert ('pytracemalloc_line_bytes{file="%s",line="1"}' % escaped) in text
    assert all(line.count("{") <= 1 for line in text.splitlines())
    # AND the cap is an error, top=0 leaves the lines out
    assert too_many[0] == 400 and b"1000" in too_many[2]
    assert none[0] == 200 and b"pytracemalloc_line_bytes" not in none[2]
    del scope


def test_snapshot_endpoint_is_a_snapshot_file(tracing, server):
    keep = known_line_allocation(1000, 2000)
    status, headers, body = get(server.url + "/snapshot")
    assert status == 200
    snapshot = Snapshot.loads(body)
    top = snapshot.statistics("lineno")[0]
    assert (top.traceback[0].filename, top.traceback[0].lineno) == (
        __file__, KNOWN_LINE)
    assert top.size == engine._get_stats()[__file__][KNOWN_LINE][0]
    assert snapshot.pid == os.getpid()
    del keep


@needs_go
def test_go_tool_pprof_reads_the_heap_endpoint(tracing, server, go_env):
    # GIVEN a known line holding 3 MB
    keep = known_line_allocation(3000, 1000)
    size = engine._get_stats()[__file__][KNOWN_LINE][0]
    # WHEN go tool pprof fetches the endpoint
    out = pprof(go_env, server.url + "/debug/pprof/heap", "-top", "-lines",
                "-unit=B", "-sample_index=inuse_space")
    # THEN its top line is the known line, with its bytes
    rows = [line.split() for line in out.splitlines()
            if line.strip().endswith("test_endpoint.py:%d" % KNOWN_LINE)]
    assert rows, out
    flat = rows[0][0]
    assert flat == "%dB" % size, out
    # AND that line comes first
    first = next(line for line in out.splitlines()
                 if line.strip() and line.split()[0].endswith("B")
                 and "%" in line)
    assert first.strip().endswith("test_endpoint.py:%d" % KNOWN_LINE), out
    del keep


def test_heap_profile_is_gzip_pprof(tracing, server):
    status, headers, body = get(server.url + "/debug/pprof/heap")
    assert status == 200
    assert headers["Content-Type"] == "application/octet-stream"
    assert gzip.decompress(body)  # a gzip stream


def test_not_tracing_is_503_except_metrics(server):
    assert not engine.is_enabled()
    for path in ("/debug/pprof/heap", "/snapshot"):
        status, _, body = get(server.url + path)
        assert status == 503, path
        assert body == b"pytracemalloc is not tracing\n"
    status, _, body = get(server.url + "/metrics")
    assert status == 200
    values = parse_metrics(body.decode())
    assert values["pytracemalloc_tracing", ""] == 0


# --- security and hostile requests -----------------------------------------

def test_only_get_on_the_three_paths(server):
    assert get(server.url + "/")[0] == 404
    assert get(server.url + "/metrics/../snapshot")[0] == 404
    assert get(server.url + "/debug/pprof/profile")[0] == 404
    status, headers, _ = get(server.url + "/metrics", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert get(server.url + "/metrics", method="DELETE")[0] == 405
    status, headers, body = get(server.url + "/metrics", method="HEAD")
    assert status == 200 and body == b""
    assert int(headers["Content-Length"]) > 0


@pytest.mark.parametrize("request_bytes, expected", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /metrics\r\n\r\n", 400),
    (b"GET  /metrics HTTP/1.1\r\n\r\n", 400),
    (b"get /metrics HTTP/1.1\r\n\r\n", 400),
    (b"GET metrics HTTP/1.1\r\n\r\n", 400),
    (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
    (b"GET /metrics FTP/1.0\r\n\r\n", 400),
    (b"GET /met\x01rics HTTP/1.1\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400),
    (b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET /metrics HTTP/1.1\r\n\r\n", 200),
    (b"GET /metrics?top=5&top=6 HTTP/1.0\r\nHost: x\r\n\r\n", 200),
    (b"GET /metrics?top=-1 HTTP/1.1\r\n\r\n", 400),
    (b"\xff\xfe\r\n\r\n", 400),
])
def test_malformed_requests_get_a_4xx(server, request_bytes, expected):
    answer = raw(server, request_bytes)
    assert status_of(answer) == expected, answer[:200]
    assert b"\r\nConnection: close\r\n" in answer


def test_huge_requests_are_refused_with_bounded_memory(server):
    line = b"GET /" + b"a" * (endpoint.MAX_REQUEST_BYTES + 10)
    assert status_of(raw(server, line)) == 414
    headers = b"GET /metrics HTTP/1.1\r\n" + b"X-Pad: %s\r\n" % (
        b"b" * 1000) * 20
    assert status_of(raw(server, headers)) == 431
    # AND a client that sends megabytes gets its answer after the first
    # 8 KiB: the rest is never buffered
    with socket.create_connection(server.address, timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /" + b"c" * 20000)
        answer = sock.recv(65536)
        assert status_of(answer) == 414
        with pytest.raises(OSError):
            for _ in range(1000):
                sock.sendall(b"c" * 65536)


def test_a_slow_request_times_out(monkeypatch):
    monkeypatch.setattr(endpoint, "REQUEST_SECONDS", 0.5)
    with pytracemalloc.serve("127.0.0.1:0") as srv:
        started = time.monotonic()
        answer = raw(srv, b"GET /metrics HTTP/1.1\r\nHost:")
        assert status_of(answer) == 408
        assert time.monotonic() - started < 10


def test_bearer_token(tracing):
    with pytracemalloc.serve("127.0.0.1:0", token="s3cret-token") as srv:
        status, headers, _ = get(srv.url + "/metrics")
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert get(srv.url + "/metrics",
                   {"Authorization": "Bearer wrong"})[0] == 401
        assert get(srv.url + "/metrics",
                   {"Authorization": "Basic s3cret-token"})[0] == 401
        assert get(srv.url + "/snapshot",
                   {"Authorization": "Bearer s3cret-token"})[0] == 200
    with pytest.raises(ValueError):
        pytracemalloc.serve("127.0.0.1:0", token="has space")


def test_token_from_the_environment(monkeypatch):
    monkeypatch.setenv(endpoint.TOKEN_ENV, "from-env")
    with pytracemalloc.serve("127.0.0.1:0") as srv:
        assert get(srv.url + "/metrics")[0] == 401
        assert get(srv.url + "/metrics",
                   {"Authorization": "Bearer from-env"})[0] == 200


def test_loopback_unless_told_and_a_warning_beyond(caplog):
    with pytracemalloc.serve("0") as srv:
        assert srv.address[0] == "127.0.0.1"
    with pytracemalloc.serve(":0") as srv:
        assert srv.address[0] == "127.0.0.1"
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="pytracemalloc"):
        with pytracemalloc.serve("0.0.0.0:0") as srv:
            assert srv.address[0] == "0.0.0.0"
    assert any("beyond loopback" in record.getMessage()
               and "without a token" in record.getMessage()
               for record in caplog.records)


@pytest.mark.parametrize("address", [
    "host:port", "1.2.3.4:99999", "::1:80", "[::1]80", (1, 2, 3), None,
    "127.0.0.1:-1"])
def test_bad_addresses_are_value_errors(address):
    with pytest.raises(ValueError):
        pytracemalloc.serve(address)


def test_a_busy_address_is_an_os_error(server):
    with pytest.raises(OSError):
        pytracemalloc.serve(server.address)


def test_close_stops_the_thread_and_frees_the_port(server):
    address = server.address
    server.close()
    assert not server._thread.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=5).close()
    pytracemalloc.serve(address).close()  # the port can be bound again


def test_a_forked_child_does_not_serve(server):
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its copy of the listener is closed
        try:
            closed = server._listener.fileno() == -1
            os.write(write_end, b"closed" if closed else b"open")
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        assert os.read(read_end, 16) == b"closed"
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert get(server.url + "/metrics")[0] == 200  # the parent still serves


# --- a traced program, from outside ----------------------------------------

PROGRAM = textwrap.dedent("""\
    import os, sys
    import pytracemalloc
    def leak(n):
        return [bytearray(1000) for _ in range(n)]  # leaking line
    kept = [leak(3000)]
    print("http env:", os.environ.get("PYTRACEMALLOC_HTTP"), flush=True)
    for command in sys.stdin:
        command = command.strip()
        if command == "mem":
            print(pytracemalloc.get_traced_memory()[0], flush=True)
        elif command == "more":
            kept.append(leak(1000))
            print("ok", flush=True)
        elif command == "quit":
            break
    print("bye", flush=True)
    sys.exit(3)
    """)
LEAK_LINE = 4


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**extra):
    env = dict(os.environ, PYTRACEMALLOC_QUIET="1")
    for name in ("PYTRACEMALLOC", "PYTRACEMALLOC_HTTP", "PYTRACEMALLOC_SIGNAL",
                 "PYTRACEMALLOC_SAMPLE_BYTES", "PYTRACEMALLOC_RUN_DIR",
                 "PYTRACEMALLOC_NATIVE"):
        env.pop(name, None)
    env.update(extra)
    return env


class Program:
    """The traced program above, driven through its stdin."""

    def __init__(self, tmp_path, argv, env):
        script = tmp_path / "program.py"
        script.write_text(PROGRAM)
        self.script = str(script)
        self.process = subprocess.Popen(
            [sys.executable, *argv, self.script], cwd=str(tmp_path),
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.deadline = time.monotonic() + TIMEOUT
        self.first = self.readline()

    def readline(self):
        result = []
        reader = threading.Thread(
            target=lambda: result.append(self.process.stdout.readline()),
            daemon=True)
        reader.start()
        reader.join(max(0.1, self.deadline - time.monotonic()))
        if not result:
            self.process.kill()
            pytest.fail("the traced program did not answer in %d s: %s"
                        % (TIMEOUT, self.process.stderr.read()))
        return result[0].strip()

    def ask(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.readline()

    def quit(self):
        try:
            out, err = self.process.communicate(
                "quit\n", timeout=max(1, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail("the traced program did not exit in %d s" % TIMEOUT)
        return self.process.returncode, out, err


def wait_for_server(url):
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return get(url + "/metrics")
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail("nothing listens on %s after %d s"
                            % (url, TIMEOUT))
            time.sleep(0.05)


def leak_line_bytes(url, script):
    values = parse_metrics(get(url + "/metrics")[2].decode())
    return values["pytracemalloc_line_bytes",
                  'file="%s",line="%d"' % (script, LEAK_LINE)]


def test_pytracemalloc_http_at_start_up(tmp_path):
    # GIVEN a program started with PYTRACEMALLOC=1 PYTRACEMALLOC_HTTP
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    program = Program(tmp_path, [], child_env(
        PYTRACEMALLOC="1", PYTRACEMALLOC_HTTP="127.0.0.1:%d" % port))
    # THEN the program does not see the variable (its children would try
    # the same port)
    assert program.first == "http env: None"
    wait_for_server(url)
    # AND its leaking line is the endpoint's top line, and grows
    before = leak_line_bytes(url, program.script)
    assert before >= 3000 * 1000
    assert program.ask("more") == "ok"
    assert leak_line_bytes(url, program.script) >= before + 1000 * 1000
    # AND the program ends with its own status and output
    status, out, err = program.quit()
    assert (status, out) == (3, "bye\n"), err
    assert "Traceback" not in err


def test_pytracemalloc_http_bad_address_is_one_line(tmp_path):
    program = Program(tmp_path, [], child_env(
        PYTRACEMALLOC="1", PYTRACEMALLOC_HTTP="nowhere:port"))
    status, out, err = program.quit()
    assert status == 3 and out == "bye\n"
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(
        "pytracemalloc: ignoring PYTRACEMALLOC_HTTP='nowhere:port': ")


def test_run_http(tmp_path):
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    program = Program(tmp_path, ["-m", "pytracemalloc", "run", "--top", "0",
                                 "--http", "127.0.0.1:%d" % port, "-o",
                                 str(tmp_path / "out")], child_env())
    wait_for_server(url)
    assert leak_line_bytes(url, program.script) >= 3000 * 1000
    status, out, err = program.quit()
    assert (status, out) == (3, "bye\n"), err
    assert "serving memory figures on %s" % url in err


def test_run_http_refuses_a_bad_address(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytracemalloc", "run", "--http", "x:y",
         "-c", "pass"], env=child_env(), capture_output=True, text=True,
        timeout=TIMEOUT)
    assert result.returncode == 2
    assert "--http:" in result.stderr


def test_a_hostile_crowd_does_not_harm_the_program(tmp_path):
    # GIVEN a traced program serving on loopback, allocating meanwhile
    port = free_port()
    url = "http://127.0.0.1:%d" % port
    program = Program(tmp_path, [], child_env(
        PYTRACEMALLOC="1", PYTRACEMALLOC_HTTP="127.0.0.1:%d" % port))
    wait_for_server(url)
    address = ("127.0.0.1", port)
    # WHEN 200 slowloris connections each send half a request and wait
    slow = []
    for _ in range(200):
        sock = socket.create_connection(address, timeout=TIMEOUT)
        try:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nX-A: ")
        except OSError:
            pass  # refused with a 503 already: fine
        slow.append(sock)
    # AND the program allocates while they hang
    assert program.ask("more") == "ok"
    # AND 1,000 connections at once, from 20 threads, send garbage,
    # truncated requests and real ones
    answers = []
    lock = threading.Lock()
    payloads = [b"GET /metrics HTTP/1.1\r\n\r\n", b"\x00" * 100 + b"\r\n\r\n",
                b"GET /" + b"z" * 9000, b"POST /snapshot HTTP/1.1\r\n\r\n",
                b"GET /snapshot HTTP/1.1\r\n\r\n", b"G"]

    def crowd(index):
        for j in range(50):
            payload = payloads[(index + j) % len(payloads)]
            try:
                with socket.create_connection(address, timeout=TIMEOUT) as s:
                    s.sendall(payload)
                    if payload == b"G":
                        continue  # hang up at once
                    data = s.recv(64)
            except OSError:
                data = b"(reset)"
            with lock:
                answers.append(data)

    threads = [threading.Thread(target=crowd, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)
    for sock in slow:
        sock.close()
    # THEN every answer was an HTTP status line (or a reset of a
    # connection refused while the crowd was there)
    statuses = [status_of(a) for a in answers if a.startswith(b"HTTP/1.1")]
    assert len(statuses) >= len(answers) * 0.5, answers[:20]
    assert set(statuses) <= {200, 400, 405, 414, 503}, set(statuses)
    # AND the endpoint answers again once it has seen the slow connections
    # close (until then it is full: 503), with the program's figures
    deadline = time.monotonic() + TIMEOUT
    while get(url + "/metrics")[0] == 503:
        assert time.monotonic() < deadline, "still 503 after %d s" % TIMEOUT
        time.sleep(0.05)
    assert leak_line_bytes(url, program.script) >= 4000 * 1000
    # AND the program was never blocked and ends as it would have
    assert program.ask("mem").isdigit()
    status, out, err = program.quit()
    assert (status, out) == (3, "bye\n"), err
    assert "Traceback" not in err and "error" not in err.lower(), err


# --- snapshots on a signal -------------------------------------------------

SIGNALLED = textwrap.dedent("""\
    import os, signal, sys, time
    def leak(n):
        return [bytearray(1000) for _ in range(n)]  # leaking line
    kept = [leak(2000)]
    os.kill(os.getpid(), signal.SIGUSR2)
    kept.append(leak(2000))
    os.kill(os.getpid(), signal.SIGUSR2)
    time.sleep(0.01)
    print("done")
    """)


def test_pytracemalloc_signal_writes_a_snapshot_each_time(tmp_path):
    script = tmp_path / "signalled.py"
    script.write_text(SIGNALLED)
    out_dir = tmp_path / "snaps"
    out_dir.mkdir()
    result = subprocess.run(
        [sys.executable, str(script)], env=child_env(
            PYTRACEMALLOC="1", PYTRACEMALLOC_SIGNAL="USR2",
            PYTRACEMALLOC_SIGNAL_DIR=str(out_dir)),
        capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    files = sorted(out_dir.iterdir())
    pid = int(files[0].name.split("-")[1])
    assert [f.name for f in files] == [
        "tracemalloc-%d-0001.pickle" % pid, "tracemalloc-%d-0002.pickle" % pid]
    sizes = []
    for path in files:
        top = Snapshot.load(str(path)).statistics("lineno")[0]
        frame = top.traceback[0]
        assert (frame.filename, frame.lineno) == (str(script), 3)
        sizes.append(top.size)
    assert sizes[1] >= sizes[0] + 2000 * 1000
    assert result.stderr.count("Write a snapshot of memory allocations") == 2


@pytest.mark.parametrize("value", ["KILL", "SEGV", "NOPE", "9"])
def test_pytracemalloc_signal_refuses_a_signal_it_cannot_use(tmp_path, value):
    result = subprocess.run(
        [sys.executable, "-c", "print('ran')"], env=child_env(
            PYTRACEMALLOC="1", PYTRACEMALLOC_SIGNAL=value),
        capture_output=True, text=True, timeout=TIMEOUT, cwd=str(tmp_path))
    assert result.returncode == 0 and result.stdout == "ran\n"
    assert result.stderr.startswith(
        "pytracemalloc: ignoring PYTRACEMALLOC_SIGNAL=%r: " % value)


def test_snapshot_on_signal_api_chains_the_previous_handler(tmp_path):
    seen = []
    previous = signal.signal(signal.SIGUSR1,
                             lambda signum, frame: seen.append(signum))
    try:
        engine.enable(1)
        pytracemalloc.snapshot_on_signal(tmp_path, "USR1")
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)
        assert seen == [signal.SIGUSR1]
        assert len(list(tmp_path.iterdir())) == 1
        # AND not tracing: no file, one line, the program goes on
        engine.disable()
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)
        assert len(list(tmp_path.iterdir())) == 1
        assert seen == [signal.SIGUSR1] * 2
        with pytest.raises(ValueError):
            pytracemalloc.snapshot_on_signal(tmp_path / "absent", "USR1")
    finally:
        engine.disable()
        signal.signal(signal.SIGUSR1, previous)


def test_importing_pytracemalloc_imports_no_server_modules():
    # GIVEN a fresh interpreter; WHEN it imports pytracemalloc (as the
    # start-up hook does in every traced program)
    code = ("import sys; before = set(sys.modules); import pytracemalloc; "
            "print(sorted((set(sys.modules) - before) & {'threading', "
            "'logging', 'socket', 'selectors', 'signal', "
            "'pytracemalloc.endpoint', 'pytracemalloc.ondemand'}))")
    result = subprocess.run([sys.executable, "-c", code], env=child_env(),
                            capture_output=True, text=True, timeout=TIMEOUT)
    # THEN none of the endpoint's modules came with it: CPython's own
    # test_threading, run traced, checks that threading is not imported,
    # and logging's exit hook changes how a process finalizes
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[]\n"
