"""Headless Chromium driven over the DevTools protocol, for the report's
tests (tests/test_report.py) and its scale measure (bench/report_scale.py).

Debian's ``chromium`` package (``make test`` installs it) and the
``websocket-client`` package from PyPI: nothing else.  Every browser gets a
deadline: a watchdog kills it (and the call waiting on it fails) when the
deadline passes, so a hung page fails a test instead of stalling the run.
"""

import base64
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.request

import websocket

__all__ = ["Chromium", "BrowserError", "find_chromium"]

# Debian's name first; the others are the same browser elsewhere.
_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _browser_environment():
    """The test's environment without what makes our own processes run under
    a sanitizer (make test-asan preloads libasan): the browser is not ours,
    and under that preload it crawls."""
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                 "PYTHONMALLOC"):
        env.pop(name, None)
    return env


class BrowserError(RuntimeError):
    pass


def find_chromium():
    """The path of a Chromium executable, or None."""
    for name in _NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


# Recorded from the first script of every page: the main thread's long
# tasks (> 50 ms), the measure of a page that freezes.
_LONG_TASKS = """
window.__longTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      window.__longTasks.push(entry.duration);
    }
  }).observe({ type: "longtask", buffered: true });
} catch (e) {}
"""


class Chromium:
    """One headless Chromium with one page.  Use as a context manager."""

    def __init__(self, profile_dir, deadline=120.0, width=1400, height=1000,
                 executable=None):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise BrowserError("no chromium executable on PATH")
        self.deadline = time.monotonic() + deadline
        self.events = []
        self._next_id = 0
        self._ws = None
        self._expired = False
        self.url = None
        os.makedirs(profile_dir, exist_ok=True)
        try:  # left by an earlier browser of the same profile: stale
            os.unlink(os.path.join(profile_dir, "DevToolsActivePort"))
        except FileNotFoundError:
            pass
        self._stderr = open(os.path.join(profile_dir, "chromium.log"), "wb")
        self.process = subprocess.Popen(
            [self.executable, "--headless=new", "--no-sandbox",
             "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions",
             "--disable-background-networking", "--disable-sync",
             "--mute-audio", "--hide-scrollbars",
             "--remote-debugging-port=0", "--user-data-dir=" + profile_dir,
             "--window-size=%d,%d" % (width, height), "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._stderr, env=_browser_environment())
        self._watchdog = threading.Timer(deadline, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        try:
            port = self._port(profile_dir)
            self._ws = websocket.create_connection(
                self._page_url(port), timeout=self._left(),
                suppress_origin=True)
            for domain in ("Page", "Runtime", "Log", "Network"):
                self.call(domain + ".enable")
            self.call("Page.addScriptToEvaluateOnNewDocument",
                      source=_LONG_TASKS)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _expire(self):
        self._expired = True
        self.process.kill()

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0 or self._expired:
            raise BrowserError("chromium passed its deadline")
        return left

    def _port(self, profile_dir):
        """Chromium writes its DevTools port into the profile directory."""
        path = os.path.join(profile_dir, "DevToolsActivePort")
        while True:
            try:
                with open(path) as file:
                    text = file.read().split()
                if text:
                    return int(text[0])
            except (OSError, ValueError):
                pass
            if self.process.poll() is not None:
                raise BrowserError("chromium exited with status %s"
                                   % self.process.returncode)
            self._left()
            time.sleep(0.05)

    def _page_url(self, port):
        # The loopback, never through a proxy of the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            try:
                with opener.open("http://127.0.0.1:%d/json/list" % port,
                                 timeout=self._left()) as answer:
                    targets = json.load(answer)
                for target in targets:
                    if target.get("type") == "page":
                        return target["webSocketDebuggerUrl"]
            except OSError:
                pass
            self._left()
            time.sleep(0.05)

    # --- protocol ------------------------------------------------------

    def call(self, method, **params):
        """Send one command and return its result; events that arrive
        meanwhile are kept in ``self.events``."""
        self._next_id += 1
        ident = self._next_id
        self._ws.send(json.dumps({"id": ident, "method": method,
                                  "params": params}))
        while True:
            self._ws.settimeout(self._left())
            try:
                message = json.loads(self._ws.recv())
            except websocket.WebSocketTimeoutException:
                raise BrowserError("no answer to %s before the deadline"
                                   % method) from None
            except (websocket.WebSocketException, OSError) as exc:
                raise BrowserError("chromium went away during %s (%s)"
                                   % (method, exc)) from None
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError("%s: %s" % (method, message["error"]))
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression, await_promise=True):
        """The value of a JavaScript expression (JSON-able)."""
        result = self.call("Runtime.evaluate", expression=expression,
                           returnByValue=True, awaitPromise=await_promise)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError("%s: %s" % (
                expression[:80], details.get("exception", {}).get(
                    "description", details.get("text"))))
        return result["result"].get("value")

    def wait_for(self, expression, timeout=30.0, interval=0.05):
        """Poll ``expression`` until it is truthy; return its value."""
        end = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > end:
                raise BrowserError("still false after %.0f s: %s"
                                   % (timeout, expression))
            time.sleep(interval)

    def open(self, path):
        """Load a local file; returns when its load event fired."""
        self.events = []
        url = self.url = "file://" + os.path.abspath(path)
        self.call("Page.navigate", url=url)
        while not any(e["method"] == "Page.loadEventFired"
                      for e in self.events):
            self.call("Runtime.evaluate", expression="1")
            time.sleep(0.02)

    # --- a person's actions --------------------------------------------

    def click(self, selector):
        """A real mouse click (pressed and released) in the middle of the
        first element matching ``selector``, scrolled into view."""
        box = self.evaluate(
            "(() => { const e = document.querySelector(%s);"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
            % json.dumps(selector))
        if box is None:
            raise BrowserError("nothing matches %s" % selector)
        x, y = box
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y,
                      button="left", clickCount=1)

    def type_into(self, selector, text):
        """Focus an input, select what it holds, and type ``text``."""
        self.evaluate("(() => { const e = document.querySelector(%s);"
                      " e.focus(); e.select(); })()" % json.dumps(selector))
        self.call("Input.insertText", text=text)

    def screenshot(self, path):
        """A PNG of the whole page into ``path``, from its top (a sticky
        header stays where it belongs)."""
        self.evaluate("window.scrollTo(0, 0)")
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        result = self.call("Page.captureScreenshot", format="png",
                           captureBeyondViewport=True,
                           clip={"x": 0, "y": 0, "width": size["width"],
                                 "height": size["height"], "scale": 1})
        with open(path, "wb") as file:
            file.write(base64.b64decode(result["data"]))
        return path

    def requests(self):
        """The URLs the page asked for since it was opened, except its own
        file and the data: and blob: URLs it makes itself."""
        return [event["params"]["request"]["url"] for event in self.events
                if event["method"] == "Network.requestWillBeSent"
                and not event["params"]["request"]["url"].startswith(
                    ("data:", "blob:", self.url or "\0"))]

    def console_errors(self):
        """Console errors, uncaught exceptions and error log entries seen
        since the page was opened, one line each."""
        errors = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get(
                    "type") in ("error", "assert"):
                errors.append("console.%s: %s" % (params["type"], " ".join(
                    str(arg.get("value", arg.get("description", "")))
                    for arg in params.get("args", []))))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append("exception: %s" % details.get(
                    "exception", {}).get("description", details.get("text")))
            elif method == "Log.entryAdded" and params.get(
                    "entry", {}).get("level") == "error":
                entry = params["entry"]
                errors.append("log: %s %s" % (entry.get("text"),
                                              entry.get("url", "")))
        return errors

    def close(self):
        self._watchdog.cancel()
        if self._ws is not None:
            try:
                self._ws.settimeout(5)
                self._ws.send(json.dumps({"id": 0, "method": "Browser.close"}))
            except Exception:
                pass
            try:
                self._ws.close()
            except Exception:
                pass
            self._ws = None
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._stderr.close()


def open_report_page(browser, path):
    """Open a report page and wait until it is drawn, or failed: a page
    that failed to load is an assertion error naming its error."""
    browser.open(path)
    browser.wait_for("window.report && (window.report.ready || "
                     "window.report.error)")
    assert browser.evaluate("window.report.error") is None
