"""python -m pytracemalloc report: the data it puts in the page, its errors,
and the page itself, opened in headless Chromium (Debian's ``chromium``,
driven over the DevTools protocol by tests/chromium_cdp.py)."""

import gc
import gzip
import json
import os
import re
import subprocess
import sys
import time
from array import array

import pytest

from conftest import HELPER_FILE, MALLOC_LINE, KnownBlock, engine
from chromium_cdp import Chromium, find_chromium, open_report_page

import pytracemalloc
from pytracemalloc import Snapshot
from pytracemalloc.report import main, model, page

GROWTH = 200_000  # bytes the growing line gains at each snapshot
ROUNDS = 6
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH (make test installs Debian's chromium "
           "package with apt-get, and these tests are skipped only where it "
           "cannot be installed)")


def write_series(folder, rounds=ROUNDS, nframe=1, prefix="s",
                 sample_bytes=None, growth=GROWTH):
    """Snapshot files of this process taken by the real engine, one per
    round; the conftest helper's malloc line holds (round + 1) * growth
    bytes at round ``round``.  Returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    gc.collect()
    engine.enable(nframe, sample_bytes=sample_bytes)
    blocks = []
    paths = []
    try:
        for round_ in range(rounds):
            blocks.append(KnownBlock(engine.DOMAIN_RAW, growth))
            snapshot = Snapshot.create(
                lambda: [("Video memory", "size", 1000 * (round_ + 1)),
                         ("Requests", "int", 3 * round_)])
            path = str(folder / ("%s%02d.ptm" % (prefix, round_)))
            snapshot.write(path)
            paths.append(path)
            time.sleep(0.01)
    finally:
        for block in blocks:
            block.free()
        engine.disable()
    return paths


CHILD = """if True:
    import sys, time, pytracemalloc
    pytracemalloc.enable()
    data = []
    for i in range(3):
        data.append(bytearray(50000 * (i + 1)))
        pytracemalloc.Snapshot.create().write(sys.argv[1] + "/child%d.ptm" % i)
        time.sleep(0.01)
"""


def write_child_series(folder):
    """Three snapshots of another process."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", CHILD, str(folder)], check=True,
                   timeout=120)
    return sorted(str(p) for p in folder.glob("child*.ptm"))


def decode(data):
    """{kind: {pid: {group id: [sizes...]}}} from a ReportData, decoded here
    independently of the page's script."""
    raw = gzip.decompress(data.blob)
    meta = data.meta
    out = {}
    for kind, layout in meta["layout"].items():
        n = layout["entries"]
        code, width = (("I", 4) if layout["sizes_type"] == "uint32"
                       else ("d", 8))
        assert array(code).itemsize == width
        sizes = array(code, raw[layout["sizes"]:layout["sizes"] + width * n])
        ids = array("i", raw[layout["ids"]:layout["ids"] + 4 * n])
        if sys.byteorder != "little":
            sizes.byteswap()
            ids.byteswap()
        starts = [0]
        for length in layout["lengths"]:
            starts.append(starts[-1] + length)
        per_pid = out.setdefault(kind, {})
        for process in meta["processes"]:
            series = {}
            for i, s in enumerate(process["snapshots"]):
                for k in range(starts[s], starts[s + 1]):
                    series.setdefault(ids[k], [None] * i)
                for values in series.values():
                    values.append(values[-1] if values else 0)
                for k in range(starts[s], starts[s + 1]):
                    series[ids[k]][i] = float(sizes[k])
            for values in series.values():
                for i, value in enumerate(values):
                    if value is None:
                        values[i] = 0
            per_pid[process["pid"]] = series
    return out


def frame_id(meta, filename, lineno):
    index = meta["filenames"].index(filename)
    return meta["frames"].index([index, lineno])


def growing_line(paths):
    """The sizes of the conftest helper's malloc line in the files, checked
    to grow by GROWTH at each snapshot (the helper's handle ints add a few
    bytes on the same line)."""
    sizes = [Snapshot.load(p).stats[HELPER_FILE][MALLOC_LINE][0]
             for p in paths]
    assert [b - a for a, b in zip(sizes, sizes[1:])] == \
        [GROWTH] * (len(paths) - 1)
    assert GROWTH <= sizes[0] < GROWTH + 1024
    return sizes


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    return write_series(tmp_path_factory.mktemp("series"))


@pytest.fixture(scope="module")
def deep_series(tmp_path_factory):
    return write_series(tmp_path_factory.mktemp("deep"), nframe=5)


# --- the data ----------------------------------------------------------


def test_growing_line_series_is_in_the_data(series):
    # GIVEN snapshots taken by the engine while one line grows
    # WHEN the report's data is built
    loaded = model.load_snapshots(series)
    data = model.build(loaded)
    meta = data.meta
    # THEN one process, every snapshot in time order, totals of the files
    assert len(meta["processes"]) == 1
    assert meta["processes"][0]["pid"] == os.getpid()
    times = [s["time"] for s in meta["snapshots"]]
    assert times == sorted(times) and len(times) == ROUNDS
    for entry, path in zip(meta["snapshots"], series):
        snapshot = Snapshot.load(path)
        assert entry["file"] == path
        assert entry["traced"] == sum(size for lines in snapshot.stats.values()
                                      for size, _ in lines.values())
        i = series.index(path)
        assert entry["user"] == {"Video memory": 1000 * (i + 1),
                                 "Requests": 3 * i}
    assert meta["user_series"] == [{"title": "Video memory", "format": "size"},
                                   {"title": "Requests", "format": "int"}]
    # AND the growing line's sizes, snapshot after snapshot
    line = frame_id(meta, HELPER_FILE, MALLOC_LINE)
    assert decode(data)["line"][os.getpid()][line] == growing_line(series)
    # AND one frame per traceback: no traceback grouping
    assert meta["tracebacks"] is None and "traceback" not in meta["layout"]


def test_every_line_of_every_snapshot_is_in_the_data(series):
    # GIVEN the same snapshots WHEN built
    data = model.build(model.load_snapshots(series))
    lines = decode(data)["line"][os.getpid()]
    # THEN each snapshot's stats are exactly what the data gives, line by
    # line (lines absent from a snapshot are at 0)
    for i, path in enumerate(series):
        stats = Snapshot.load(path).stats
        want = {frame_id(data.meta, f, n): size
                for f, per_line in stats.items()
                for n, (size, _) in per_line.items() if size}
        got = {g: values[i] for g, values in lines.items() if values[i]}
        assert got == want


def test_only_changes_are_stored(tmp_path):
    # GIVEN three snapshots where one line changes, one stays, one goes away
    def snap(t, stats):
        s = Snapshot([], 1, pid=7, time=t)
        s.stats = stats
        path = str(tmp_path / ("%d.ptm" % t))
        s.write(path)
        return path
    paths = [snap(1000, {"a.py": {1: (10, 1), 2: (50, 5)},
                         "b.py": {3: (7, 1)}}),
             snap(1060, {"a.py": {1: (20, 2), 2: (50, 5)},
                         "b.py": {3: (7, 1)}}),
             snap(1120, {"a.py": {1: (20, 2), 2: (50, 5)}})]
    # WHEN built
    data = model.build(model.load_snapshots(paths))
    # THEN the first snapshot has its 3 lines, the second the one change,
    # the third the line gone (at zero)
    assert data.meta["layout"]["line"]["lengths"] == [3, 1, 1]
    lines = decode(data)["line"][7]
    assert lines[frame_id(data.meta, "a.py", 1)] == [10, 20, 20]
    assert lines[frame_id(data.meta, "a.py", 2)] == [50, 50, 50]
    assert lines[frame_id(data.meta, "b.py", 3)] == [7, 7, 0]


def test_sites_on_the_same_line_add_up(tmp_path):
    # GIVEN a hand-made file with two one-frame sites on the same line
    snapshot = Snapshot([((("a.py", 1),), 10, 1), ((("a.py", 1),), 5, 2),
                         ((("b.py", 2),), 7, 1)], 1, pid=3, time=1000.0)
    path = str(tmp_path / "twice.ptm")
    snapshot.write(path)
    # WHEN built THEN the line holds both
    data = model.build(model.load_snapshots([path]))
    lines = decode(data)["line"][3]
    assert lines[frame_id(data.meta, "a.py", 1)] == [15]
    assert lines[frame_id(data.meta, "b.py", 2)] == [7]


def test_snapshots_are_ordered_by_time_not_by_argument(tmp_path, series):
    # GIVEN the files in reverse order
    data = model.build(model.load_snapshots(series[::-1]))
    # THEN the series is in time order
    assert [s["file"] for s in data.meta["snapshots"]] == series


def test_deep_snapshots_have_traceback_groups(deep_series):
    # GIVEN snapshots with 5 frames per traceback
    data = model.build(model.load_snapshots(deep_series), group_by="traceback")
    meta = data.meta
    # THEN tracebacks are in the data, most recent frame first: the growing
    # line called from write_series in this file
    assert meta["settings"]["group_by"] == "traceback"
    line = frame_id(meta, HELPER_FILE, MALLOC_LINE)
    tracebacks = [i for i, frames in enumerate(meta["tracebacks"])
                  if frames[0] == line]
    assert len(tracebacks) == 1
    frames = meta["tracebacks"][tracebacks[0]]
    caller = meta["frames"][frames[1]]
    assert meta["filenames"][caller[0]] == __file__
    assert decode(data)["traceback"][os.getpid()][tracebacks[0]] == \
        growing_line(deep_series)


def test_processes_are_separate_series(tmp_path, series):
    # GIVEN snapshots of this process and of a child process
    child = write_child_series(tmp_path / "child")
    data = model.build(model.load_snapshots(series + child))
    meta = data.meta
    # THEN two processes, each with its own snapshots
    pids = [p["pid"] for p in meta["processes"]]
    assert len(pids) == 2 and os.getpid() in pids
    for process in meta["processes"]:
        own = [meta["snapshots"][i] for i in process["snapshots"]]
        assert {s["pid"] for s in own} == {process["pid"]}
        assert len(own) == (ROUNDS if process["pid"] == os.getpid() else 3)
    # AND --pid keeps one of them
    other = [p for p in pids if p != os.getpid()][0]
    data = model.build(model.load_snapshots(series + child), pids=[other])
    assert [p["pid"] for p in data.meta["processes"]] == [other]


def test_include_and_exclude_filter_the_lines(series):
    # WHEN only conftest.py is included
    data = model.build(model.load_snapshots(series, include=["*conftest.py"]))
    names = set(data.meta["filenames"])
    # THEN it is the only file, and the traced total is still the whole
    assert names == {HELPER_FILE}
    snapshot = Snapshot.load(series[-1])
    assert data.meta["snapshots"][-1]["traced"] == sum(
        size for lines in snapshot.stats.values()
        for size, _ in lines.values())
    # WHEN conftest.py is excluded THEN it is gone
    data = model.build(model.load_snapshots(series, exclude=["*conftest.py"]))
    assert HELPER_FILE not in data.meta["filenames"]


def test_several_loader_processes_give_the_same_data(tmp_path, series):
    # GIVEN enough files for a pool of loaders
    many = []
    for i in range(3):
        for path in series:
            copy = tmp_path / ("%d-%s" % (i, os.path.basename(path)))
            copy.write_bytes(open(path, "rb").read())
            many.append(str(copy))
    # WHEN read by one and by two processes THEN the same page data
    one = model.build(model.load_snapshots(many, jobs=1))
    two = model.build(model.load_snapshots(many, jobs=2))
    assert one.blob == two.blob
    del one.meta["generated"], two.meta["generated"]
    assert one.meta == two.meta
    assert len(one.meta["snapshots"]) == 3 * ROUNDS


# --- the command line --------------------------------------------------


def test_main_writes_the_page(tmp_path, series, capsys):
    output = tmp_path / "report.html"
    # WHEN main() runs
    status = main(series + ["-o", str(output)])
    # THEN status 0, one summary line, a page with everything inlined
    assert status == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and re.fullmatch(
        r"python -m pytracemalloc report: %d snapshots of 1 process written "
        r"into %s in \d+\.\d s \(\d+\.\d s of CPU\)"
        % (ROUNDS, re.escape(str(output))), err[0])
    html = output.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert page.chart_library() in html
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", html)
    assert "default-src 'none'" in html


def test_bad_files_are_named_on_stderr_and_left_out(tmp_path, series, capsys):
    # GIVEN a corrupt file, a truncated one and a missing one among good ones
    corrupt = tmp_path / "corrupt.ptm"
    corrupt.write_bytes(b"not a snapshot at all")
    truncated = tmp_path / "truncated.ptm"
    truncated.write_bytes(open(series[0], "rb").read()[:100])
    missing = str(tmp_path / "missing.ptm")
    output = tmp_path / "report.html"
    # WHEN the report is made
    status = main([series[0], str(corrupt), series[1], str(truncated),
                   missing, "-o", str(output), "-q"])
    # THEN it is written with the good files; each bad one named on one line
    assert status == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3
    for line, bad in zip(err, [str(corrupt), str(truncated), missing]):
        assert line.startswith(bad + ": ")
    html = output.read_text(encoding="utf-8")
    meta = json.loads(re.search(
        r'<script type="application/json" id="report-meta">(.*?)</script>',
        html, re.S).group(1))
    assert [s["file"] for s in meta["snapshots"]] == series[:2]
    assert meta["left_out"] == err


def test_a_directory_stands_for_its_files(tmp_path, series, capsys):
    # GIVEN a directory of snapshots (and a subdirectory, a hidden file)
    folder = tmp_path / "snapshots"
    (folder / "sub").mkdir(parents=True)
    for path in series:
        (folder / os.path.basename(path)).write_bytes(open(path, "rb").read())
    (folder / ".hidden").write_bytes(b"junk")
    output = tmp_path / "report.html"
    # WHEN it is given THEN its files are the series
    assert main([str(folder), "-o", str(output)]) == 0
    err = capsys.readouterr().err
    assert "%d snapshots of 1 process written" % ROUNDS in err
    assert "files left out" not in err


def test_no_snapshot_at_all_is_an_error(tmp_path, capsys):
    # GIVEN only unreadable files
    corrupt = tmp_path / "corrupt.ptm"
    corrupt.write_bytes(b"\x1f\x8bbroken")
    output = tmp_path / "report.html"
    # WHEN the report is asked for
    status = main([str(corrupt), str(tmp_path / "missing.ptm"),
                   "-o", str(output)])
    # THEN exit status 1, the files and the reason said, no page
    assert status == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(str(corrupt) + ": ")
    assert err[1].startswith(str(tmp_path / "missing.ptm") + ": ")
    assert err[2] == ("python -m pytracemalloc report: error: no snapshot to "
                      "report (2 of 2 files could not be read)")
    assert not output.exists()


def test_no_snapshot_of_the_pid_asked_for(tmp_path, series, capsys):
    status = main(series + ["--pid", "1", "-o", str(tmp_path / "r.html")])
    assert status == 1
    assert capsys.readouterr().err.strip() == (
        "python -m pytracemalloc report: error: no snapshot to report (no "
        "snapshot of the processes 1)")


def test_unwritable_output(tmp_path, series, capsys):
    output = tmp_path / "no-such-dir" / "report.html"
    assert main(series + ["-o", str(output)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(
        "python -m pytracemalloc report: error: cannot write %s" % output)


def test_existing_page_is_replaced_whole(tmp_path, series):
    output = tmp_path / "report.html"
    output.write_text("old")
    assert main(series + ["-o", str(output), "-q"]) == 0
    assert output.read_text(encoding="utf-8").endswith("</html>\n")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_missing_chart_library_is_a_clear_error(tmp_path, series, capsys,
                                                monkeypatch):
    monkeypatch.setattr(page, "CHART_PACKAGE", "no_such_package_here")
    assert main(series + ["-o", str(tmp_path / "r.html")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("python -m pytracemalloc report: error: the report needs "
                   "the JavaScript of the 'no_such_package_here' package, not "
                   "installed here: pip install 'pytracemalloc[report]'")


def test_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--top", "0", "x.ptm"])
    assert exc.value.code == 2
    assert "--top" in capsys.readouterr().err


def test_module_runs_as_a_command(tmp_path, series):
    output = tmp_path / "report.html"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.dirname(pytracemalloc.__file__)))
    done = subprocess.run(
        [sys.executable, "-m", "pytracemalloc.report", *series, "-o",
         str(output)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert output.stat().st_size > len(page.chart_library())


def test_demo_ends_with_its_report(tmp_path):
    # WHEN the demo of make demo runs
    output = tmp_path / "demo.html"
    # the source tree's examples (beside tests/), whatever pytracemalloc
    # is imported from (an installed copy in the interpreters' venvs)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(
        os.path.dirname(pytracemalloc.__file__)))
    done = subprocess.run(
        [sys.executable, os.path.join(root, "examples", "demo.py"),
         str(output)], capture_output=True, text=True, timeout=180, env=env)
    # THEN its last line is the path of the report it wrote
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "report: %s" % output
    html = output.read_text(encoding="utf-8")
    meta = json.loads(re.search(
        r'<script type="application/json" id="report-meta">(.*?)</script>',
        html, re.S).group(1))
    assert len(meta["snapshots"]) >= 2
    assert any(name.endswith(os.path.join("examples", "leaky.py"))
               for name in meta["filenames"])
    # AND its tracebacks are deep enough for the flame graphs
    assert meta["tracebacks"] and max(map(len, meta["tracebacks"])) > 2
    # AND it wrote the pprof profiles it names, beside the report
    for name in ("demo-heap.pb.gz", "demo-growth.pb.gz"):
        assert (tmp_path / name).read_bytes()[:2] == b"\x1f\x8b"
        assert str(tmp_path / name) in done.stdout


def test_script_text_cannot_end_the_script_element():
    text = page._script_text('a = "</script><!-- x"; b = "</SCRIPT >"')
    assert "</script" not in text.lower() and "<!--" not in text
    assert text == 'a = "<\\/script>\\x3C!-- x"; b = "<\\/SCRIPT >"'


# --- the page, in a real browser ----------------------------------------


@pytest.fixture(scope="module")
def report_page(tmp_path_factory, deep_series):
    """A report of the deep series plus a child process's snapshots."""
    folder = tmp_path_factory.mktemp("page")
    child = write_child_series(folder / "child")
    output = folder / "report.html"
    assert main(deep_series + child + ["-o", str(output), "-q",
                                       "--top", "3"]) == 0
    data = model.build(model.load_snapshots(deep_series + child))
    return str(output), data


@pytest.fixture
def browser(tmp_path):
    with Chromium(str(tmp_path / "profile"), deadline=120) as chromium:
        yield chromium


def open_report(browser, path):
    open_report_page(browser, path)
    browser.wait_for("window.report.leakCharts >= "
                     "document.querySelectorAll('.leak').length")


def column(browser, key):
    return browser.evaluate(
        "Array.from(document.querySelectorAll('#table tbody tr'), tr => "
        "tr.cells[Array.from(document.querySelectorAll('#table th'))"
        ".findIndex(th => th.dataset.key === %s)].dataset.value)"
        % json.dumps(key))


def filter_rows(browser, text):
    """Type ``text`` into the filter box; return once the table shows it
    (the page waits for the typing to pause)."""
    browser.type_into("#filter", text)
    browser.wait_for("window.report.state.filter === %s" % json.dumps(text))


@needs_chromium
def test_page_opens_with_its_series_and_no_errors(browser, report_page,
                                                  tmp_path):
    path, data = report_page
    # WHEN the page is opened
    open_report(browser, path)
    # THEN no console error, nothing asked from the network
    assert browser.console_errors() == []
    assert browser.requests() == []
    # AND the memory chart has traced, process memory and the 2 user series
    names = browser.evaluate(
        "document.getElementById('memory').data.map(t => t.name)")
    assert names == ["traced", "process memory", "Video memory", "Requests"]
    # AND the stacked chart the top 3 lines and everything else
    stacked = browser.evaluate(
        "document.getElementById('stacked').data.map(t => t.name)")
    assert len(stacked) == 4 and stacked[-1] == "everything else"
    # AND the process with the most snapshots (this one) is shown first,
    # with a selector for the child
    options = browser.evaluate(
        "Array.from(document.querySelectorAll('#process option'), o => "
        "o.textContent)")
    assert len(options) == 2
    assert browser.evaluate(
        "document.getElementById('memory').data[0].x.length") == ROUNDS
    # AND the flame graph of the latest snapshot holds all its memory, its
    # frames named by the engine (write_series made the growing blocks)
    latest = [s for s in data.meta["snapshots"]
              if s["pid"] == os.getpid()][-1]
    assert browser.evaluate("window.report.flame.root().value") == \
        latest["traced"]
    assert browser.evaluate("window.report.flame.find('write_series')")
    # AND a button puts the memory chart on a log axis
    browser.click("#memory .updatemenu-button:nth-of-type(2)")
    assert browser.wait_for(
        "document.getElementById('memory').layout.yaxis.type === 'log'")
    shot = browser.screenshot(str(tmp_path / "report.png"))
    with open(shot, "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(shot) > 50_000


@needs_chromium
def test_growing_line_tops_the_leak_view(browser, report_page):
    path, data = report_page
    open_report(browser, path)
    first = browser.evaluate(
        "document.querySelector('#leaks .leak .name').textContent")
    assert first == "#1 %s:%d" % (HELPER_FILE, MALLOC_LINE)
    # AND its small chart is drawn, with the line's sizes
    assert browser.evaluate(
        "document.querySelector('#leaks .leak .spark').data[0].y") == \
        growing_line([s["file"] for s in data.meta["snapshots"]
                      if s["pid"] == os.getpid()])


@needs_chromium
def test_table_sorts_on_every_column(browser, report_page):
    path, _ = report_page
    open_report(browser, path)
    # THEN first sorted by size, biggest first
    sizes = [float(v) for v in column(browser, "size")]
    assert len(set(sizes)) >= 5 and sizes == sorted(sizes, reverse=True)
    for key in ("name", "size", "count", "first", "previous", "countFirst"):
        for click in range(2):
            # WHEN a column's header is clicked (again)
            browser.click("#table th[data-key=%s]" % key)
            direction = browser.evaluate(
                "document.querySelector('#table th[data-key=%s]')"
                ".dataset.sort" % key)
            values = column(browser, key)
            if key != "name":
                values = [float(v) for v in values]
            # THEN the rows are in that column's order
            assert values == sorted(values, reverse=direction == "desc"), key
        assert direction in ("asc", "desc")


@needs_chromium
def test_filter_box_keeps_matching_files(browser, report_page):
    path, _ = report_page
    open_report(browser, path)
    total = int(browser.evaluate(
        "document.getElementById('rowcount').dataset.total"))
    # WHEN a pattern is typed
    filter_rows(browser, "*conftest.py")
    # THEN only that file's lines remain, and the count says so
    names = column(browser, "name")
    assert names and all(n.startswith(HELPER_FILE + ":") for n in names)
    assert browser.evaluate(
        "document.getElementById('rowcount').dataset.total") == str(len(names))
    # WHEN it is turned into an exclusion THEN that file is gone, the rest
    # is there
    filter_rows(browser, "-*conftest.py")
    others = column(browser, "name")
    assert browser.evaluate(
        "document.getElementById('rowcount').dataset.total") == str(
            total - len(names))
    assert not any(n.startswith(HELPER_FILE + ":") for n in others)
    # WHEN a pattern matches nothing THEN no row
    filter_rows(browser, "*no-such-file-anywhere*")
    assert column(browser, "name") == []
    # WHEN a word without a wildcard is typed THEN it matches as a part
    filter_rows(browser, "conftest")
    assert column(browser, "name") == names


@needs_chromium
def test_click_on_a_line_shows_its_history_and_traceback(browser,
                                                         report_page):
    path, data = report_page
    open_report(browser, path)
    filter_rows(browser, "*conftest.py")
    name = "%s:%d" % (HELPER_FILE, MALLOC_LINE)
    row = browser.evaluate(
        "Array.from(document.querySelectorAll('#table tbody tr'))"
        ".findIndex(tr => tr.cells[0].textContent === %s)" % json.dumps(name))
    assert row >= 0
    # WHEN the line's row is clicked
    browser.click("#table tbody tr:nth-child(%d)" % (row + 1))
    # THEN its history is shown: the sizes of every snapshot
    assert browser.wait_for(
        "!document.getElementById('history-panel').hidden")
    assert browser.evaluate(
        "document.getElementById('history-title').textContent") == name
    assert browser.evaluate(
        "document.getElementById('history').data[0].y") == growing_line(
            [s["file"] for s in data.meta["snapshots"]
             if s["pid"] == os.getpid()])
    counts = [Snapshot.load(s["file"]).stats[HELPER_FILE][MALLOC_LINE][1]
              for s in data.meta["snapshots"] if s["pid"] == os.getpid()]
    assert [b - a for a, b in zip(counts, counts[1:])] == [1] * (ROUNDS - 1)
    assert browser.evaluate(
        "document.getElementById('history').data[1].y") == counts
    # AND its traceback: the test function that made the blocks
    traceback = browser.evaluate(
        "document.getElementById('traceback').textContent")
    assert name in traceback and __file__ + ":" in traceback
    assert browser.console_errors() == []


@needs_chromium
def test_switches_process_and_grouping(browser, report_page):
    path, data = report_page
    open_report(browser, path)
    # WHEN grouped by file THEN the table lists files
    browser.evaluate("(() => { const s = document.getElementById('grouping');"
                     " s.value = 'file'; s.dispatchEvent(new Event('change'));"
                     " })()")
    names = column(browser, "name")
    assert names and not any(re.search(r":\d+$", n) for n in names)
    assert HELPER_FILE in names
    assert browser.evaluate(
        "document.querySelector('#table th').textContent") == "File"
    # AND a file's size is the sum of its lines at the latest snapshot
    latest = [s["file"] for s in data.meta["snapshots"]
              if s["pid"] == os.getpid()][-1]
    lines = Snapshot.load(latest).stats[HELPER_FILE]
    sizes = dict(zip(names, column(browser, "size")))
    assert float(sizes[HELPER_FILE]) == sum(size for size, _ in lines.values())
    # WHEN grouped by traceback THEN the table's rows are tracebacks
    browser.evaluate("(() => { const s = document.getElementById('grouping');"
                     " s.value = 'traceback'; s.dispatchEvent(new Event("
                     "'change')); })()")
    assert browser.evaluate(
        "document.querySelector('#table th').textContent") == "Traceback"
    names = column(browser, "name")
    assert names and any(re.search(r" \(\+[1-4] frames?\)$", n) for n in names)
    # WHEN the child process is chosen
    child = [i for i, p in enumerate(data.meta["processes"])
             if p["pid"] != os.getpid()][0]
    browser.evaluate("(() => { const s = document.getElementById('process');"
                     " s.value = '%d'; s.dispatchEvent(new Event('change'));"
                     " })()" % child)
    # THEN every view shows its 3 snapshots
    assert browser.evaluate(
        "document.getElementById('memory').data[0].x.length") == 3
    assert "Process %d:" % data.meta["processes"][child]["pid"] in \
        browser.evaluate("document.getElementById('summary').textContent")
    assert browser.console_errors() == []


@needs_chromium
def test_page_of_one_snapshot(browser, tmp_path, series):
    # GIVEN a single snapshot: no growth, no leak, still a page
    output = tmp_path / "one.html"
    assert main([series[0], "-o", str(output), "-q"]) == 0
    open_report(browser, str(output))
    assert browser.console_errors() == []
    assert browser.evaluate(
        "document.querySelectorAll('#leaks .leak').length") == 0
    assert browser.evaluate(
        "document.getElementById('memory').data[0].x.length") == 1


def write_synthetic(folder, series_by_line, pid=99, start=1_800_000_000):
    """One file per snapshot, a minute apart: ``series_by_line`` is
    {(filename, lineno): [size at each snapshot]}."""
    folder.mkdir(parents=True, exist_ok=True)
    rounds = len(next(iter(series_by_line.values())))
    paths = []
    for i in range(rounds):
        stats = {}
        for (filename, lineno), sizes in series_by_line.items():
            if sizes[i]:
                stats.setdefault(filename, {})[lineno] = (sizes[i], 1)
        snapshot = Snapshot([], 1, pid=pid, time=start + 60 * i)
        snapshot.stats = stats
        path = str(folder / ("syn%03d.ptm" % i))
        snapshot.write(path)
        paths.append(path)
    return paths


@needs_chromium
def test_leak_view_ranks_steady_growth_only(browser, tmp_path):
    # GIVEN lines that leak fast, leak slowly, jump once, go up and down,
    # stay flat, and shrink
    n = 20
    lines = {
        ("fast.py", 1): [100_000 + 50_000 * i for i in range(n)],
        ("slow.py", 2): [5_000 + 1_000 * i + (i % 3) * 200 for i in range(n)],
        ("step.py", 3): [1_000 if i < n // 2 else 900_000 for i in range(n)],
        ("saw.py", 4): [(i % 4) * 200_000 + 10 for i in range(n)],
        ("flat.py", 5): [300_000] * n,
        ("shrink.py", 6): [2_000_000 - 50_000 * i for i in range(n)],
    }
    output = tmp_path / "leaks.html"
    assert main(write_synthetic(tmp_path / "syn", lines)
                + ["-o", str(output), "-q"]) == 0
    # WHEN the page is opened
    open_report(browser, str(output))
    # THEN the leak view lists the two steady leaks, the faster first
    names = browser.evaluate(
        "Array.from(document.querySelectorAll('#leaks .leak .name'), "
        "e => e.textContent)")
    assert names == ["#1 fast.py:1", "#2 slow.py:2"]
    # AND its rate is the slope: 50,000 bytes a minute = 2930 KiB an hour
    facts = browser.evaluate(
        "document.querySelector('#leaks .leak .muted').textContent")
    assert facts.startswith("+2930 KiB/hour, R\u00b2 1.00")
    # WHEN a leak is clicked THEN its history is shown
    browser.click("#leaks .leak")
    assert browser.evaluate(
        "document.getElementById('history').data[0].y") == lines[
            ("fast.py", 1)]
    # WHEN the second one gets Enter from the keyboard THEN its history
    browser.evaluate("document.querySelectorAll('#leaks .leak')[1].focus()")
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, key="Enter",
                     code="Enter", windowsVirtualKeyCode=13)
    assert browser.evaluate(
        "document.getElementById('history-title').textContent") == "slow.py:2"
    # AND the stacked chart's top series is the biggest at its peak
    assert browser.evaluate(
        "document.getElementById('stacked').data[0].name") == "shrink.py:6"
    assert browser.console_errors() == []


@needs_chromium
def test_big_table_shows_rows_in_steps(browser, tmp_path):
    # GIVEN 1,200 lines
    lines = {("big%d.py" % (i // 100), i): [1000 + i, 2000 + i]
             for i in range(1200)}
    output = tmp_path / "big.html"
    assert main(write_synthetic(tmp_path / "syn", lines)
                + ["-o", str(output), "-q"]) == 0
    open_report(browser, str(output))
    # THEN the first 500 rows are shown, and the count says so
    assert browser.evaluate(
        "document.querySelectorAll('#table tbody tr').length") == 500
    assert browser.evaluate(
        "document.getElementById('rowcount').textContent") == \
        "1,200 of 1,200 lines (first 500 shown)"
    # WHEN "Show more" is clicked, twice THEN all of them, and no button
    browser.click("#more")
    assert browser.evaluate(
        "document.querySelectorAll('#table tbody tr').length") == 1000
    browser.click("#more")
    assert browser.evaluate(
        "document.querySelectorAll('#table tbody tr').length") == 1200
    assert browser.evaluate("document.getElementById('more').hidden")
    # AND the growth columns are exact: +1000 B since the first
    assert set(column(browser, "first")) == {"1000"}


@needs_chromium
def test_sizes_beyond_4_gib_stay_exact(browser, tmp_path):
    # GIVEN a line holding more than 4 GiB (the page's uint32 arrays
    # cannot hold it: float64 ones are used)
    huge = 6 * 2 ** 30 + 12345
    lines = {("huge.py", 1): [huge, huge + 1], ("small.py", 2): [10, 20]}
    paths = write_synthetic(tmp_path / "syn", lines)
    data = model.build(model.load_snapshots(paths))
    assert data.meta["layout"]["line"]["sizes_type"] == "float64"
    assert decode(data)["line"][99][frame_id(data.meta, "huge.py", 1)] == \
        [huge, huge + 1]
    output = tmp_path / "huge.html"
    assert main(paths + ["-o", str(output), "-q"]) == 0
    # WHEN opened THEN the table shows the exact size
    open_report(browser, str(output))
    assert column(browser, "size") == [str(huge + 1), "20"]
    assert column(browser, "previous") == ["1", "10"]


@needs_chromium
def test_file_names_are_text_not_html(browser, tmp_path):
    # GIVEN a file name that is also HTML, growing so that it is in every
    # view (charts, leak view, table, history)
    name = "<img src=x onerror=\"document.title='owned'\">&amp;.py"
    lines = {(name, 1): [1000 * (i + 1) for i in range(5)],
             ("plain.py", 2): [500] * 5}
    output = tmp_path / "names.html"
    assert main(write_synthetic(tmp_path / "syn", lines)
                + ["-o", str(output), "-q", "--title", "<b>mine</b>"]) == 0
    open_report(browser, str(output))
    browser.click("#table tbody tr")
    # THEN it is shown as it is, nothing of it runs or becomes an element
    assert browser.evaluate("document.title") == "<b>mine</b>"
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert column(browser, "name")[0] == name + ":1"
    assert browser.evaluate(
        "document.querySelector('#leaks .leak .name').textContent") == \
        "#1 " + name + ":1"
    assert browser.console_errors() == []


@needs_chromium
def test_snapshots_with_nothing_traced(browser, tmp_path):
    # GIVEN snapshots of a process that traced nothing
    paths = []
    for i in range(2):
        snapshot = Snapshot([], 1, pid=5, time=1_800_000_000 + i)
        paths.append(str(tmp_path / ("empty%d.ptm" % i)))
        snapshot.write(paths[-1])
    output = tmp_path / "empty.html"
    assert main(paths + ["-o", str(output), "-q"]) == 0
    # THEN the page opens, with empty views and no error
    open_report(browser, str(output))
    assert browser.evaluate(
        "document.getElementById('rowcount').dataset.total") == "0"
    assert browser.evaluate(
        "document.getElementById('memory').data[0].y") == [0, 0]
    assert browser.console_errors() == []


NUMPY_CHILD = """if True:
    import sys, time, pytracemalloc
    pytracemalloc.enable()
    import numpy
    arrays = []
    for i in range(3):
        arrays.append(numpy.ones(1_000_000, dtype=numpy.uint8))
        pytracemalloc.Snapshot.create().write(sys.argv[1] + "/np%d.ptm" % i)
        time.sleep(0.01)
"""


@needs_chromium
def test_numpy_array_data_is_a_series_of_its_own(browser, tmp_path):
    pytest.importorskip("numpy", reason="no numpy for this interpreter "
                        "(tests/requirements.txt installs it wherever PyPI "
                        "has a wheel)")
    # GIVEN a process whose numpy arrays grow by 1 MB a snapshot
    folder = tmp_path / "np"
    folder.mkdir()
    subprocess.run([sys.executable, "-c", NUMPY_CHILD, str(folder)],
                   check=True, timeout=120)
    paths = sorted(str(p) for p in folder.glob("np*.ptm"))
    # WHEN reported
    data = model.build(model.load_snapshots(paths))
    arrays = [s["domains"]["numpy array data"] for s in data.meta["snapshots"]]
    # THEN the array data of each snapshot is there, apart
    assert [b - a for a, b in zip(arrays, arrays[1:])] == [1_000_000] * 2
    assert all(s["traced"] > s["domains"]["numpy array data"]
               for s in data.meta["snapshots"])
    output = tmp_path / "np.html"
    assert main(paths + ["-o", str(output), "-q"]) == 0
    open_report(browser, str(output))
    assert browser.evaluate(
        "document.getElementById('memory').data.map(t => t.name)") == [
            "traced", "process memory", "numpy array data"]
    assert browser.evaluate(
        "document.getElementById('memory').data[2].y") == arrays
    assert browser.console_errors() == []


# --- sampled snapshots (issue 17) -----------------------------------------

def write_sampled_series(folder, rounds=3):
    """Sampled snapshots (N = 4 KiB): blocks of 1 MiB, always sampled, so
    the growing line's figures are exact even as estimates."""
    return write_series(folder, rounds, prefix="sampled", sample_bytes=4096,
                        growth=1 << 20)


def test_sampled_snapshots_carry_n_into_the_data(tmp_path):
    # GIVEN sampled snapshot files WHEN reported
    paths = write_sampled_series(tmp_path / "sampled")
    data = model.build(model.load_snapshots(paths))
    # THEN every snapshot of the data says its N
    assert [s["sample_bytes"] for s in data.meta["snapshots"]] == [4096] * 3
    # AND exact snapshots say None
    exact = model.build(model.load_snapshots(write_series(tmp_path / "x", 2)))
    assert [s["sample_bytes"] for s in exact.meta["snapshots"]] == [None] * 2


@needs_chromium
def test_page_of_sampled_snapshots_marks_estimates(browser, tmp_path):
    # GIVEN a report of sampled snapshots
    paths = write_sampled_series(tmp_path / "sampled")
    output = tmp_path / "sampled.html"
    assert main(paths + ["-o", str(output), "-q"]) == 0
    # WHEN opened
    open_report(browser, str(output))
    # THEN a notice says the figures are estimates, and the table's and the
    # summary's figures carry "~"
    notice = browser.evaluate("document.getElementById('sampled').hidden "
                              "? null : document.getElementById('sampled')"
                              ".textContent")
    assert notice and "sampled mode" in notice and "4096 B" in notice
    assert "traced ~" in browser.evaluate(
        "document.getElementById('summary').textContent")
    cells = browser.evaluate(
        "Array.from(document.querySelectorAll('#table tbody tr td.num'), "
        "td => td.textContent)")
    assert cells and all(cell.startswith("~") for cell in cells)
    assert browser.console_errors() == []


# --- grouping by function -------------------------------------------------

FN_ROUNDS = 16  # enough files for two loader processes (8 files a job)
# (filename, lineno, function or None): sizes at each snapshot.  Line 9 of
# a.py is shared by two functions, "h" first: the line groups under the
# function seen first, though the lambda's site is the bigger.
FN_SITES = [
    (("/app/a.py", 1, "f"), [500 + 1000 * i for i in range(FN_ROUNDS)]),
    (("/app/a.py", 2, "f"), [300] * FN_ROUNDS),
    (("/app/a.py", 3, "g"), [2000 - 100 * i for i in range(FN_ROUNDS)]),
    # The same name in another file: a function of its own.
    (("/app/b.py", 1, "f"), [700 + i % 2 * 50 for i in range(FN_ROUNDS)]),
    (("/app/a.py", 9, "h"), [400] * FN_ROUNDS),
    (("/app/a.py", 9, "<lambda>"), [5000] * FN_ROUNDS),
    # No name known: "?".
    (("/app/c.py", 5, None), [60] * FN_ROUNDS),
]
# The page's groups and the sites each sums.
FN_GROUPS = {
    "/app/a.py (f)": [0, 1],
    "/app/a.py (g)": [2],
    "/app/b.py (f)": [3],
    "/app/a.py (h)": [4, 5],
    "/app/c.py (?)": [6],
}


def fn_expected(name):
    """The sizes of the function group ``name`` at each snapshot."""
    return [sum(FN_SITES[k][1][i] for k in FN_GROUPS[name])
            for i in range(FN_ROUNDS)]


def write_named(folder, pid=77, start=1_800_000_000):
    """Hand-made one-frame snapshots whose sites carry their function's
    name (FN_SITES), a minute apart."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(FN_ROUNDS):
        sites = [(((filename, lineno),), sizes[i], 1, 0,
                  None if function is None else (function,))
                 for (filename, lineno, function), sizes in FN_SITES]
        path = str(folder / ("named%03d.ptm" % i))
        Snapshot(sites, 1, pid=pid, time=start + 60 * i).write(path)
        paths.append(path)
    return paths


def choose_grouping(browser, kind):
    browser.evaluate("(() => { const s = document.getElementById('grouping');"
                     " s.value = %s; s.dispatchEvent(new Event('change'));"
                     " })()" % json.dumps(kind))


def stacked_series(browser):
    return dict(browser.evaluate(
        "document.getElementById('stacked').data.map(t => [t.name, t.y])"))


def test_one_frame_snapshots_carry_each_lines_function(tmp_path):
    # GIVEN one-frame snapshots with names WHEN the data is built, by one
    # loader and by two
    paths = write_named(tmp_path / "named")
    one = model.build(model.load_snapshots(paths, jobs=1))
    two = model.build(model.load_snapshots(paths, jobs=2))
    meta = one.meta
    # THEN each name is stored once, and each line has one function id:
    # the first seen where two share the line, none where none is known
    assert sorted(meta["functions"]) == ["f", "g", "h"]
    named = {}
    for frame, function in zip(meta["frames"], meta["frame_functions"]):
        named[(meta["filenames"][frame[0]], frame[1])] = (
            meta["functions"][function] if function >= 0 else None)
    assert named == {("/app/a.py", 1): "f", ("/app/a.py", 2): "f",
                     ("/app/a.py", 3): "g", ("/app/b.py", 1): "f",
                     ("/app/a.py", 9): "h", ("/app/c.py", 5): None}
    assert meta["tracebacks"] is None and meta["traceback_functions"] == []
    # AND two loader processes give the same data
    del one.meta["generated"], two.meta["generated"]
    assert one.meta == two.meta and one.blob == two.blob


def test_files_without_names_carry_no_function_table(tmp_path):
    # GIVEN files without function names (older formats' content)
    paths = write_synthetic(tmp_path / "old", {("old.py", 1): [10, 20]})
    # THEN no table of ids that would all say "unknown"
    meta = model.build(model.load_snapshots(paths)).meta
    assert meta["frame_functions"] is None and meta["functions"] == []


def test_group_by_function_is_a_choice_of_the_command_line(tmp_path, capsys):
    paths = write_named(tmp_path / "named")
    output = tmp_path / "fn.html"
    assert main(paths + ["-o", str(output), "-q", "--group-by",
                         "function"]) == 0
    assert '"group_by":"function"' in output.read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(paths + ["--group-by", "method"])
    assert exc.value.code == 2
    assert "function" in capsys.readouterr().err


@needs_chromium
def test_function_series_are_the_sums_of_their_lines(browser, tmp_path):
    # GIVEN a page of the named snapshots, grouped by function from the
    # command line
    output = tmp_path / "fn.html"
    assert main(write_named(tmp_path / "named")
                + ["-o", str(output), "-q", "--group-by", "function"]) == 0
    # WHEN opened
    open_report(browser, str(output))
    # THEN the switch says function, the table's first column too
    assert browser.evaluate(
        "document.getElementById('grouping').value") == "function"
    assert browser.evaluate(
        "Array.from(document.querySelectorAll('#grouping option'),"
        " o => o.value)") == ["line", "file", "function"]
    assert browser.evaluate(
        "document.querySelector('#table th').textContent") == "Function"
    # AND each function's series in the top chart is the sum of its lines'
    stacked = stacked_series(browser)
    assert stacked == {name: fn_expected(name) for name in FN_GROUPS}
    # AND the table holds each function at the latest snapshot
    rows = dict(zip(column(browser, "name"), column(browser, "size")))
    assert {name: float(size) for name, size in rows.items()} == {
        name: fn_expected(name)[-1] for name in FN_GROUPS}
    first = dict(zip(column(browser, "name"), column(browser, "first")))
    assert float(first["/app/a.py (f)"]) == 1000 * (FN_ROUNDS - 1)
    # AND the leak view lists the growing function alone
    assert browser.evaluate(
        "Array.from(document.querySelectorAll('#leaks .leak .name'), "
        "e => e.textContent)") == ["#1 /app/a.py (f)"]
    # WHEN its leak card is clicked THEN its history is the sum too
    browser.click("#leaks .leak")
    assert browser.evaluate(
        "document.getElementById('history-title').textContent") == \
        "/app/a.py (f)"
    assert browser.evaluate(
        "document.getElementById('history').data[0].y") == \
        fn_expected("/app/a.py (f)")
    assert browser.evaluate(
        "document.getElementById('history').data[1].y") == [2] * FN_ROUNDS
    # WHEN the table is filtered by file name THEN that file's functions
    filter_rows(browser, "*b.py")
    assert column(browser, "name") == ["/app/b.py (f)"]
    assert browser.console_errors() == []


@needs_chromium
def test_switch_to_function_on_an_engines_series(browser, report_page):
    # GIVEN the page of the engine's deep snapshots (grouped by line)
    path, data = report_page
    open_report(browser, path)
    # WHEN the switch is put on function
    choose_grouping(browser, "function")
    # THEN the rows are "file (function)", the helper's malloc line under
    # its method, of the size the command line's statistics give it
    latest = [s["file"] for s in data.meta["snapshots"]
              if s["pid"] == os.getpid()][-1]
    expected = {(s.traceback[0].filename, s.traceback[0].function): s.size
                for s in Snapshot.load(latest).statistics("function")}
    name = "%s (KnownBlock.__init__)" % HELPER_FILE
    sizes = dict(zip(column(browser, "name"), column(browser, "size")))
    assert float(sizes[name]) == expected[(HELPER_FILE,
                                           "KnownBlock.__init__")]
    assert browser.evaluate(
        "document.querySelector('#table th').textContent") == "Function"
    assert all(re.search(r" \(.+\)$", n) for n in sizes)
    # AND it tops the leak view, as its line does
    assert browser.evaluate(
        "document.querySelector('#leaks .leak .name').textContent") == \
        "#1 " + name
    assert browser.evaluate(
        "document.getElementById('stacked-title').textContent").endswith(
            "functions over time (stacked, by peak size)")
    # WHEN a row is clicked THEN its history, and where to see tracebacks
    filter_rows(browser, "*conftest.py")
    row = column(browser, "name").index(name)
    browser.click("#table tbody tr:nth-child(%d)" % (row + 1))
    assert browser.evaluate(
        "document.getElementById('history-title').textContent") == name
    assert "Group by line or traceback" in browser.evaluate(
        "document.getElementById('traceback').textContent")
    # WHEN switched back to line THEN lines again
    choose_grouping(browser, "line")
    assert browser.evaluate(
        "document.querySelector('#table th').textContent") == "Line"
    assert "%s:%d" % (HELPER_FILE, MALLOC_LINE) in column(browser, "name")
    assert browser.console_errors() == []


@needs_chromium
def test_old_files_group_by_function_under_question_mark(browser, tmp_path):
    # GIVEN files without names, and a series mixing them with named files
    lines = {("old.py", 1): [100, 200, 300], ("old.py", 2): [5, 5, 5],
             ("other.py", 3): [40, 40, 40]}
    old = write_synthetic(tmp_path / "old", lines)
    output = tmp_path / "old.html"
    assert main(old + ["-o", str(output), "-q"]) == 0
    open_report(browser, str(output))
    # WHEN grouped by function THEN each file's lines are "file (?)"
    choose_grouping(browser, "function")
    assert stacked_series(browser) == {"old.py (?)": [105, 205, 305],
                                       "other.py (?)": [40, 40, 40]}
    assert browser.console_errors() == []
    # GIVEN old files then named ones of the same lines: a line keeps the
    # one function a name is known for, in every snapshot
    named = []
    for i in range(2):
        path = str(tmp_path / ("new%d.ptm" % i))
        Snapshot([((("old.py", 1),), 400 + 100 * i, 1, 0, ("grow",)),
                  ((("old.py", 2),), 5, 1, 0, None),
                  ((("other.py", 3),), 40, 1, 0, ("keep",))], 1, pid=99,
                 time=1_800_000_000 + 60 * (3 + i)).write(path)
        named.append(path)
    output = tmp_path / "mixed.html"
    assert main(old + named + ["-o", str(output), "-q", "--group-by",
                               "function"]) == 0
    open_report(browser, str(output))
    assert stacked_series(browser) == {
        "old.py (grow)": [100, 200, 300, 400, 500],
        "old.py (?)": [5] * 5,
        "other.py (keep)": [40] * 5}
    assert browser.console_errors() == []
