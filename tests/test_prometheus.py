"""A real Prometheus server (Debian's ``prometheus``, installed by ``make
prometheus``, which ``make test`` runs) scrapes a traced program's
``/metrics``, and the figures read back through Prometheus's own HTTP
query API are the program's.

Both processes are started here on 127.0.0.1 and stopped here, each with a
deadline.
"""

import json
import shutil
import subprocess
import time
import urllib.parse

import pytest

from test_endpoint import (LEAK_LINE, TIMEOUT, Program, child_env, free_port,
                           get, parse_metrics, wait_for_server)

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="Debian's prometheus is not installed (make "
                               "prometheus, which make test runs, installs it)")

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: traced
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:%d"]
"""


class PrometheusServer:
    def __init__(self, tmp_path, target_port):
        config = tmp_path / "prometheus.yml"
        config.write_text(CONFIG % target_port)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(tmp_path / "prometheus.log", "w+")
        self.process = subprocess.Popen(
            [PROMETHEUS, "--config.file=%s" % config,
             "--storage.tsdb.path=%s" % (tmp_path / "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=str(tmp_path))

    def query(self, expression):
        status, _, body = get("%s/api/v1/query?query=%s" % (
            self.url, urllib.parse.quote(expression)))
        assert status == 200, body
        document = json.loads(body)
        assert document["status"] == "success", document
        return document["data"]["result"]

    def wait_for_samples(self, expression, count):
        """The samples of ``expression[30s]`` once there are ``count``."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                result = self.query("%s[30s]" % expression)
            except OSError:
                result = []
            if result and len(result[0]["values"]) >= count:
                return [float(value) for _, value in result[0]["values"]]
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.log.seek(0)
                pytest.fail("prometheus had no %d samples of %s in %d s:\n%s"
                            % (count, expression, TIMEOUT,
                               self.log.read()[-3000:]))
            time.sleep(0.2)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(TIMEOUT)
        self.log.close()


def test_prometheus_scrapes_the_traced_figures(tmp_path):
    # GIVEN a traced program serving /metrics, idle once it has leaked
    port = free_port()
    program = Program(tmp_path, [], child_env(
        PYTRACEMALLOC="1", PYTRACEMALLOC_HTTP="127.0.0.1:%d" % port))
    wait_for_server("http://127.0.0.1:%d" % port)
    # AND a Prometheus server scraping it every second
    prometheus = PrometheusServer(tmp_path, port)
    try:
        # WHEN Prometheus holds three scrapes
        samples = prometheus.wait_for_samples("pytracemalloc_traced_bytes", 3)
        # THEN its latest value is the program's get_traced_memory(), within
        # the change between two scrapes (plus the endpoint's own transient
        # buffers, a few KiB)
        traced = int(program.ask("mem"))
        latest = float(prometheus.query("pytracemalloc_traced_bytes")[0]
                       ["value"][1])
        change = max(abs(b - a) for a, b in zip(samples, samples[1:]))
        assert abs(latest - traced) <= change + 64 * 1024, (
            latest, traced, samples)
        # AND the leaking line is there with its labels, the same bytes as
        # the endpoint serves directly
        series = prometheus.query(
            'pytracemalloc_line_bytes{line="%d"}' % LEAK_LINE)
        assert [s["metric"]["file"] for s in series] == [program.script]
        direct = parse_metrics(get("http://127.0.0.1:%d/metrics" % port)[2]
                               .decode())
        assert float(series[0]["value"][1]) == direct[
            "pytracemalloc_line_bytes",
            'file="%s",line="%d"' % (program.script, LEAK_LINE)]
        # AND Prometheus saw the target up
        assert prometheus.query('up{job="traced"}')[0]["value"][1] == "1"
    finally:
        prometheus.stop()
    status, out, err = program.quit()
    assert (status, out) == (3, "bye\n"), err
