"""The pytest plugin: ``pytest --pytracemalloc`` (or ini ``pytracemalloc =
true``) traces each test and lists the tests with the highest traced peak;
the markers ``limit_memory("24 MB")`` and ``limit_leaks("1 MB")`` (the names
and size strings of pytest-memray) fail a test over its limit.

Loaded by pytest through the ``pytest11`` entry point; nothing happens, and
nothing of the engine is imported, unless it is turned on.  A top-level
module, not one of the package: importing the package loads the engine,
which an unsupported interpreter (free-threaded CPython) refuses, and a
plugin that failed to load would stop every pytest run there.

What is measured, for the call of each test (its fixtures' setup and
teardown are outside):

- the traced peak: ``reset_peak()`` at the start, the peak of
  ``get_traced_memory()`` at the end, minus what was traced at the start.
  Every thread's allocations count (the engine does not tell threads apart).
- the lines that made the peak: sampled.  While the test runs, a task on
  the engine's allocation-driven timer looks at the traced size every
  5 ms and reads the per-line totals when it is a new high (from
  256 KiB up, then at every quarter more); the lines shown are the growth
  of the highest reading over the test's start (tests with a marker) or
  over its end (the others: what the test allocated and freed).
- the leaks (``limit_leaks``): per-line totals after a ``gc.collect()``,
  before and after the call.

In sampled mode (``--pytracemalloc-sample-bytes N``) all of these are
estimates: the report marks them ``~``, as pytracemalloc.display does, and
a failed limit says that it was compared with an estimate.  With
``--pytracemalloc-native`` the memory that C libraries take from libc
(native memory) counts too.
"""

import os
import re

import pytest

_SIZE = re.compile(r"\s*\+?(\d+(?:\.\d*)?|\.\d+)\s*([KMGTP]i?B|B)\s*\Z",
                   re.IGNORECASE)
_MULTIPLIERS = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3,
                "TB": 1024 ** 4, "PB": 1024 ** 5}

MARKERS = {
    "limit_memory": "limit_memory(limit, *, current_thread_only=False): "
                    "fail when the test's traced peak is over limit, a size "
                    "such as '24 MB' (pytracemalloc, with --pytracemalloc)",
    "limit_leaks": "limit_leaks(location_limit, *, filter_fn=None, "
                   "current_thread_only=False): fail when memory allocated "
                   "by the test on one line and alive after it is over "
                   "location_limit (pytracemalloc, with --pytracemalloc)",
}

# From which growth of a test a sample reads the per-line totals, and by
# what factor a later one must exceed the last one read.
_FIRST_SAMPLE = 256 * 1024
_SAMPLE_GROWTH = 1.25
_SAMPLE_EVERY = 0.005


def parse_size(text):
    """Bytes of a size string as pytest-memray reads it: a number, optional
    spaces and a unit among B, KB, MB, GB, TB, PB (case-insensitive, powers
    of 1024; KiB, MiB... are accepted too).  ValueError otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("invalid memory size %r: negative" % (text,))
        return int(text)
    match = _SIZE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            "invalid memory size %r: expected a number and a unit, B, KB, "
            "MB, GB, TB or PB (powers of 1024), e.g. '24 MB'" % (text,))
    quantity, unit = match.groups()
    return int(float(quantity) * _MULTIPLIERS[unit.upper().replace("I", "")])


def format_size(size):
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            break
        value /= 1024
    if unit == "B":
        return "%d B" % size
    return "%.1f %s" % (value, unit)


def pytest_addoption(parser):
    group = parser.getgroup("pytracemalloc", "memory tracing (pytracemalloc)")
    group.addoption("--pytracemalloc", action="store_true", default=False,
                    help="trace each test's memory; the limit_memory and "
                         "limit_leaks markers are enforced (ini: "
                         "pytracemalloc = true)")
    group.addoption("--pytracemalloc-top", metavar="N", default=None,
                    help="at the end, list the N tests with the highest "
                         "traced peak (default: 5; 0: none)")
    group.addoption("--pytracemalloc-lines", metavar="N", default=None,
                    help="top lines shown for each test (default: 5)")
    group.addoption("--pytracemalloc-group", metavar="WHAT", default=None,
                    choices=("line", "function"),
                    help="what the top lines of a test name: 'line' "
                         "(FILE:LINE, the default) or 'function' (FILE "
                         "(FUNCTION): the lines of one function summed; "
                         "ini: pytracemalloc_group)")
    group.addoption("--pytracemalloc-nframe", metavar="N", default=None,
                    help="frames kept per traceback (default: 1)")
    group.addoption("--pytracemalloc-sample-bytes", metavar="N",
                    default=None,
                    help="trace in sampled mode, one allocated byte in N on "
                         "average (N in bytes, or with a suffix K, M or G: "
                         "512K): peaks, lines and limits are then compared "
                         "as estimates (default: exact mode; ini: "
                         "pytracemalloc_sample_bytes)")
    group.addoption("--pytracemalloc-native", action="store_true",
                    default=None,
                    help="count native memory too: the blocks that "
                         "extension modules and their libraries take from "
                         "libc (malloc, mmap...) go into peaks, lines and "
                         "limits (default: only Python's allocators; ini: "
                         "pytracemalloc_native = true)")
    parser.addini("pytracemalloc", "trace each test's memory (as "
                  "--pytracemalloc)", type="bool", default=False)
    parser.addini("pytracemalloc_limit_memory",
                  "default limit_memory of every test, e.g. 100 MB; a "
                  "limit_memory marker overrides it", default="")
    parser.addini("pytracemalloc_top", "as --pytracemalloc-top", default="")
    parser.addini("pytracemalloc_lines", "as --pytracemalloc-lines",
                  default="")
    parser.addini("pytracemalloc_group", "as --pytracemalloc-group",
                  default="")
    parser.addini("pytracemalloc_sample_bytes",
                  "as --pytracemalloc-sample-bytes", default="")
    parser.addini("pytracemalloc_native", "as --pytracemalloc-native",
                  type="bool", default=False)


def _setting(config, name, ini=True):
    """The text of the option --NAME, else of the ini NAME; None when
    neither is set."""
    value = getattr(config.option, name)
    if (value is None or value == "") and ini:
        value = config.getini(name)
    if value is None or value == "":
        return None
    return value


def _count_setting(config, name, default, ini=True):
    """A whole number >= 0 from the option --NAME, else the ini NAME."""
    value = _setting(config, name, ini)
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise pytest.UsageError("--%s (ini %s): expected a whole number "
                                ">= 0, got %r" % (name.replace("_", "-"),
                                                  name, value))
    return number


def _sample_bytes_setting(config):
    """N of the sampled mode, or None for exact mode."""
    from pytracemalloc._sample_bytes import parse_sample_bytes
    name = "pytracemalloc_sample_bytes"
    value = _setting(config, name)
    if value is None:
        return None
    try:
        return parse_sample_bytes(value)
    except ValueError as exc:
        raise pytest.UsageError("--%s (ini %s): %s"
                                % (name.replace("_", "-"), name, exc))


def _memray_is_active(config):
    manager = config.pluginmanager
    if manager.has_plugin("memray") or manager.has_plugin("memray_manager"):
        return True
    return any(getattr(plugin, "__name__", "").startswith("pytest_memray")
               for plugin in manager.get_plugins())


def pytest_configure(config):
    for line in MARKERS.values():
        config.addinivalue_line("markers", line)
    if not (config.getoption("pytracemalloc") or config.getini(
            "pytracemalloc")):
        return
    if _memray_is_active(config):
        raise pytest.UsageError(
            "pytracemalloc and pytest-memray are both active: both would "
            "enforce the limit_memory and limit_leaks markers.  Turn one "
            "off: -p no:memray, or drop --pytracemalloc (and the ini "
            "setting pytracemalloc = true)")
    native = bool(config.getoption("pytracemalloc_native")
                  or config.getini("pytracemalloc_native"))
    try:
        import pytracemalloc
        if not pytracemalloc.is_enabled():
            # a probe: tracing starts at the first test, in the process
            # that runs it (not in a pytest-xdist controller)
            pytracemalloc.enable(1, native=native)
            pytracemalloc.disable()
    except Exception as exc:
        raise pytest.UsageError("--pytracemalloc%s: pytracemalloc cannot "
                                "trace on this interpreter: %s"
                                % (" --pytracemalloc-native" if native
                                   else "", exc))
    nframe = _count_setting(config, "pytracemalloc_nframe", 1, ini=False)
    if not 1 <= nframe <= pytracemalloc.MAX_NFRAME:
        raise pytest.UsageError("--pytracemalloc-nframe: expected a number "
                                "from 1 to %d" % pytracemalloc.MAX_NFRAME)
    default_limit = config.getini("pytracemalloc_limit_memory").strip()
    if default_limit:
        try:
            default_limit = parse_size(default_limit)
        except ValueError as exc:
            raise pytest.UsageError("pytracemalloc_limit_memory: %s" % exc)
    else:
        default_limit = None
    group = _setting(config, "pytracemalloc_group") or "line"
    if group not in ("line", "function"):
        raise pytest.UsageError("pytracemalloc_group: expected 'line' or "
                                "'function', got %r" % (group,))
    tracer = Tracer(nframe, default_limit,
                    _count_setting(config, "pytracemalloc_top", 5),
                    _count_setting(config, "pytracemalloc_lines", 5),
                    _sample_bytes_setting(config), group, native)
    config.pluginmanager.register(tracer, "pytracemalloc-tracer")


class _Frame:
    """A frame of a leak's stack, as pytest-memray's filter_fn gets it:
    ``function`` is the qualified name of the line's function, ``"???"``
    where the engine has none (as memray writes an unknown one)."""

    __slots__ = ("function", "filename", "lineno")

    def __init__(self, filename, lineno, function=None):
        self.function = function or "???"
        self.filename = filename
        self.lineno = lineno

    def __repr__(self):
        return "%s:%s" % (self.filename, self.lineno)


class _Stack:
    __slots__ = ("frames",)

    def __init__(self, frames):
        self.frames = frames


def _bind_limit_memory(limit, *, current_thread_only=False):
    return parse_size(limit), current_thread_only


def _bind_limit_leaks(location_limit, *, filter_fn=None,
                      current_thread_only=False):
    if filter_fn is not None and not callable(filter_fn):
        raise TypeError("filter_fn must be callable")
    return parse_size(location_limit), filter_fn, current_thread_only


def _growth(new, old):
    """{(filename, lineno): bytes} of the lines that grew from old to new
    (per-line stats {filename: {lineno: (size, count)}})."""
    growth = {}
    for filename, lines in new.items():
        old_lines = old.get(filename, {})
        for lineno, (size, _) in lines.items():
            delta = size - old_lines.get(lineno, (0, 0))[0]
            if delta > 0:
                growth[(filename, lineno)] = delta
    return growth


_HERE = os.path.dirname(os.path.abspath(__file__))
# The files of the plugin's own work while a test runs (the sampler).
_OWN_FILES = frozenset((os.path.abspath(__file__),
                       os.path.join(_HERE, "pytracemalloc", "tasks.py")))


def _by_function(growth, functions):
    """{(filename, function): bytes} of a growth by line: each line counts
    for its function (``functions``: the engine's {(filename, lineno):
    name}; "?" where a line has none)."""
    grouped = {}
    for (filename, lineno), size in growth.items():
        key = (filename, functions.get((filename, lineno)) or "?")
        grouped[key] = grouped.get(key, 0) + size
    return grouped


def _top(growth, count, floor=0):
    """The ``count`` lines that grew most, from ``floor`` bytes up, leaving
    out the plugin's own lines."""
    items = sorted(((key, size) for key, size in growth.items()
                    if size >= floor and key[0] not in _OWN_FILES),
                   key=lambda item: item[1], reverse=True)
    return [[filename, lineno, size]
            for (filename, lineno), size in items[:count]]


def _mark(sample_bytes):
    """The prefix of a figure: "~" for an estimate (sampled mode), as
    pytracemalloc.display marks them."""
    return "" if sample_bytes is None else "~"


def _estimates_note(sample_bytes_seen, what="estimates"):
    """' (estimates: sampled, one byte in 4096 B)' when one of the N of
    ``sample_bytes_seen`` is not None (exact mode), else ''."""
    from pytracemalloc.display import sampling_text
    sampled = sorted(set(sample_bytes_seen) - {None})
    if not sampled:
        return ""
    return " (%s: sampled, %s)" % (what, ", ".join(
        sampling_text(n) for n in sampled))


def _format_lines(lines, root, mark=""):
    from pytracemalloc.display import shorten_filename
    text = []
    for filename, lineno, size in lines:
        try:
            shown = os.path.relpath(filename, root)
        except ValueError:
            shown = filename
        if shown.startswith(".." + os.sep) or shown == filename:
            shown = shorten_filename(filename, 3)
        # A str in place of the line number: a function (group
        # 'function').
        where = ("%s (%s)" if isinstance(lineno, str) else "%s:%s") % (
            shown, lineno)
        text.append("    %10s  %s" % (mark + format_size(size), where))
    return text


class _Sampler:
    """Reads the per-line totals at the highest traced size seen while a
    test runs (see the module's docstring)."""

    def __init__(self, engine, start):
        self.engine = engine
        self.start = start
        self.threshold = start + _FIRST_SAMPLE
        self.stats = None
        self.size = 0

    def __call__(self):
        current = self.engine.get_traced_memory()[0]
        if current >= self.threshold:
            self.stats = self.engine._get_stats()
            self.size = current
            self.threshold = self.start + (current - self.start) \
                * _SAMPLE_GROWTH


class Tracer:
    """Registered when the plugin is on: measures each test's call."""

    def __init__(self, nframe, default_limit, top, lines, sample_bytes=None,
                 group="line", native=False):
        import pytracemalloc
        from pytracemalloc import _tracemalloc, tasks
        self.pytracemalloc = pytracemalloc
        self.engine = _tracemalloc
        self.tasks = tasks
        self.nframe = nframe
        self.sample_bytes = sample_bytes   # None: exact mode
        self.native = native
        self.default_limit = default_limit
        self.top = top
        self.lines = lines
        self.group = group     # 'line' or 'function'
        self.enabled_here = False
        self.results = []      # (peak, nodeid, lines)
        self.rootpath = os.getcwd()
        self.warned_threads = False

    def pytest_report_header(self, config):
        limit = ("; default limit_memory %s" % format_size(self.default_limit)
                 if self.default_limit is not None else "")
        return "pytracemalloc: tracing each test, %d frame%s%s%s%s" % (
            self.nframe, "" if self.nframe == 1 else "s",
            ", native memory too" if self.native else "", limit,
            _estimates_note([self.sample_bytes]))

    def pytest_sessionstart(self, session):
        self.rootpath = str(session.config.rootpath)

    def _limits(self, item):
        """(memory limit or None, leaks (limit, filter_fn) or None,
        explicit): from the markers, else the ini default."""
        memory = leaks = None
        marker = item.get_closest_marker("limit_memory")
        if marker is not None:
            memory, this_thread = _bind_limit_memory(*marker.args,
                                                     **marker.kwargs)
            self._thread_warning(item, this_thread)
        elif self.default_limit is not None:
            memory = self.default_limit
        marker = item.get_closest_marker("limit_leaks")
        if marker is not None:
            limit, filter_fn, this_thread = _bind_limit_leaks(
                *marker.args, **marker.kwargs)
            leaks = (limit, filter_fn)
            self._thread_warning(item, this_thread)
        explicit = any(item.get_closest_marker(name) for name in MARKERS)
        return memory, leaks, explicit

    def _thread_warning(self, item, this_thread):
        if this_thread and not self.warned_threads:
            self.warned_threads = True
            item.warn(pytest.PytestWarning(
                "pytracemalloc: current_thread_only=True is not supported: "
                "the traced memory of every thread counts"))

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_call(self, item):
        item.stash[_RESULT] = None
        try:
            memory_limit, leaks, explicit = self._limits(item)
        except (TypeError, ValueError) as exc:
            item.stash[_RESULT] = {"error": "pytracemalloc: bad marker on "
                                            "this test: %s" % (exc,)}
            yield
            return
        pm = self.pytracemalloc
        engine = self.engine
        if not pm.is_enabled():
            pm.enable(self.nframe, sample_bytes=self.sample_bytes,
                      native=self.native)
            self.enabled_here = True
        import gc
        baseline = None
        if leaks is not None:
            gc.collect()
        if leaks is not None or explicit:
            baseline = engine._get_stats()
        pm.reset_peak()
        start = engine.get_traced_memory()[0]
        sampler = _Sampler(engine, start)
        self.tasks.schedule(sampler, _SAMPLE_EVERY)
        try:
            yield
        finally:
            # also when the test stopped tracing: the task must not outlive
            # its test
            self.tasks.unschedule(sampler)
        if not pm.is_enabled():
            result = {"error": "pytracemalloc: this test stopped tracing: "
                               "its memory was not measured"} \
                if memory_limit is not None or leaks is not None else None
            item.stash[_RESULT] = result
            return
        current, peak = engine.get_traced_memory()
        # the mode the test ran in: tracing started before the session
        # (PYTRACEMALLOC) keeps its own
        result = {"peak": max(peak - start, 0), "lines": [],
                  "sample_bytes": engine.get_sample_bytes()}
        after = None
        if leaks is not None:
            gc.collect()
            after = engine._get_stats()
        if sampler.stats is not None:
            reference = baseline
            if reference is None:
                reference = after if after is not None \
                    else engine._get_stats()
            # the lines worth naming: 1% of the sampled growth or more
            floor = max((sampler.size - start) // 100, 1)
            growth = _growth(sampler.stats, reference)
            if self.group == "function":
                growth = _by_function(growth, engine._get_line_functions())
            result["lines"] = _top(growth, self.lines, floor)
            result["sampled"] = max(sampler.size - start, 0)
        if memory_limit is not None and result["peak"] > memory_limit:
            result["over"] = self._memory_failure(memory_limit, result,
                                                  baseline)
        if leaks is not None:
            failure = self._leak_failure(leaks, _growth(after, baseline),
                                         result["sample_bytes"])
            if failure:
                result["leaked"] = failure
        item.stash[_RESULT] = result

    def _memory_failure(self, limit, result, baseline):
        mark = _mark(result["sample_bytes"])
        text = ["Test was limited to %s but its traced peak was %s%s%s"
                % (format_size(limit), mark, format_size(result["peak"]),
                   _estimates_note([result["sample_bytes"]], "an estimate"))]
        if result["lines"]:
            text.append("Top lines at the highest sample (%s%s over the "
                        "test's start), by growth since %s:"
                        % (mark, format_size(result["sampled"]),
                           "the test's start" if baseline is not None
                           else "the test's end"))
            text.extend(_format_lines(result["lines"], self.rootpath, mark))
        else:
            text.append("(no line sampled: the peak came and went between "
                        "two samples, e.g. one large block freed at once)")
        return "\n".join(text)

    def _leak_failure(self, leaks, growth, sample_bytes):
        limit, filter_fn = leaks
        over = {}
        functions = None
        for (filename, lineno), size in growth.items():
            if size <= limit:
                continue
            if filter_fn is not None:
                if functions is None:
                    functions = self.engine._get_line_functions()
                frame = _Frame(filename, lineno,
                               functions.get((filename, lineno)))
                if not filter_fn(_Stack((frame,))):
                    continue
            over[(filename, lineno)] = size
        if not over:
            return None
        lines = _top(over, len(over))
        text = ["Test was allowed to leak %s per line but %d line%s leaked "
                "more%s:" % (format_size(limit), len(lines),
                             "" if len(lines) == 1 else "s",
                             _estimates_note([sample_bytes]))]
        text.extend(_format_lines(lines, self.rootpath, _mark(sample_bytes)))
        return "\n".join(text)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        if call.when != "call":
            return
        result = item.stash.get(_RESULT, None)
        if result is None:
            return
        failures = [result[key] for key in ("error", "over", "leaked")
                    if key in result]
        if "peak" in result:
            # plain data: travels from a pytest-xdist worker to the
            # controller with the report
            report.pytracemalloc = {"peak": result["peak"],
                                    "lines": result["lines"],
                                    "sample_bytes": result["sample_bytes"]}
        if not failures:
            return
        text = "\n\n".join(failures)
        if report.passed:
            report.outcome = "failed"
            report.longrepr = text
        else:
            report.sections.append(("pytracemalloc", text))

    def pytest_runtest_logreport(self, report):
        measured = getattr(report, "pytracemalloc", None)
        if report.when == "call" and isinstance(measured, dict):
            self.results.append((measured.get("peak", 0), report.nodeid,
                                 measured.get("lines", []),
                                 measured.get("sample_bytes")))

    def pytest_terminal_summary(self, terminalreporter):
        if not self.top or not self.results:
            return
        ranked = sorted(self.results, key=lambda r: r[0], reverse=True)
        ranked = ranked[:self.top]
        writer = terminalreporter
        writer.write_sep("=", "pytracemalloc: %d test%s with the highest "
                              "traced peak%s"
                         % (len(ranked), "" if len(ranked) == 1 else "s",
                            _estimates_note(r[3] for r in ranked)))
        for rank, (peak, nodeid, lines, sample_bytes) in enumerate(ranked,
                                                                   1):
            mark = _mark(sample_bytes)
            writer.write_line("%d. %s: peak %s%s" % (rank, nodeid, mark,
                                                     format_size(peak)))
            for line in _format_lines(lines, self.rootpath, mark):
                writer.write_line(line)

    def pytest_unconfigure(self, config):
        if self.enabled_here and self.pytracemalloc.is_enabled():
            self.pytracemalloc.disable()


_RESULT = pytest.StashKey()
