"""The report's flame graphs (issue 25): the functions' names in the page's
data, and the graphs themselves in headless Chromium (tests/chromium_cdp.py,
whose deadline fails a test whose page hangs), from hand-made snapshots
whose every figure is known."""

import json

import pytest

from chromium_cdp import Chromium, find_chromium, open_report_page

from pytracemalloc import Snapshot
from pytracemalloc.report import main, model
from pytracemalloc.snapshot import NUMPY_DOMAIN

needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="no chromium on PATH (make test installs Debian's chromium "
           "package with apt-get, and these tests are skipped only where it "
           "cannot be installed)")

PID = 11
MAIN = (("/srv/app/main.py", 10), "main")
SERVE = (("/srv/app/server.py", 20), "Server.serve")
HANDLE = (("/srv/app/server.py", 30), "Server.handle")
REMEMBER = (("/srv/app/cache.py", 40), "Cache.remember")
PARSE = (("/srv/app/parser.py", 50), "parse")
# The same line as PARSE, another function: a box of its own.
LAMBDA = (("/srv/app/parser.py", 50), "<lambda>")
LOAD = (("/srv/app/config.py", 60), "load_config")
# Frames whose names are not known (an older file): shown as file:line.
LEGACY = (("/srv/app/legacy.py", 70), None)
OLD_CALLER = (("/srv/app/old.py", 80), None)

# Tracebacks, OLDEST frame first (as they read in an icicle), with their
# (size, count) in the old and the new snapshot.
STACKS = {
    "leak": ((MAIN, SERVE, HANDLE, REMEMBER), (1000, 10), (5000, 50)),
    "shrunk": ((MAIN, SERVE, HANDLE, PARSE), (2000, 20), (300, 3)),
    "lambda": ((MAIN, SERVE, HANDLE, LAMBDA), (700, 7), (700, 7)),
    "direct": ((MAIN, PARSE), (400, 4), (400, 4)),
    "own": ((MAIN, SERVE, HANDLE), (250, 2), (250, 2)),
    "unnamed": ((OLD_CALLER, LEGACY), (900, 9), (900, 9)),
    "vanished": ((MAIN, LOAD), (1500, 15), (0, 0)),
}
# numpy's array data allocated from the leaking traceback: added to it.
NUMPY_EXTRA = (100, 1)


def site(stack, size, count, domain=0):
    """A snapshot site (most recent frame first) of an oldest-first stack."""
    frames = tuple(frame for frame, _ in reversed(stack))
    names = [name for _, name in reversed(stack)]
    functions = None if None in names else tuple(names)
    return (frames, size, count, domain, functions)


def snapshot_sites(which):
    """The sites of the old (1) or new (2) snapshot."""
    sites = [site(stack[0], *stack[which]) for stack in STACKS.values()
             if stack[which][0]]
    if which == 2:
        sites.append(site(STACKS["leak"][0], *NUMPY_EXTRA,
                          domain=NUMPY_DOMAIN))
    return sites


def expected(which):
    """{stack name: (size, count)} of snapshot 1 (old) or 2 (new)."""
    out = {name: stack[which] for name, stack in STACKS.items()}
    if which == 2:
        size, count = out["leak"]
        out["leak"] = (size + NUMPY_EXTRA[0], count + NUMPY_EXTRA[1])
    return out


def totals(which):
    figures = expected(which).values()
    return sum(f[0] for f in figures), sum(f[1] for f in figures)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flame")
    paths = []
    for which, when in ((1, 1_800_000_000), (2, 1_800_000_060)):
        path = str(folder / ("s%d.ptm" % which))
        Snapshot(snapshot_sites(which), 25, pid=PID, time=when).write(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def flame_page(tmp_path_factory, files):
    output = tmp_path_factory.mktemp("flame-page") / "flame.html"
    assert main(files + ["-o", str(output), "-q"]) == 0
    return str(output)


@pytest.fixture
def browser(tmp_path):
    with Chromium(str(tmp_path / "profile"), deadline=90) as chromium:
        yield chromium




def choose(browser, select_id, value):
    """Pick an option of a <select>, as a person does (a change event)."""
    browser.evaluate(
        "(() => { const s = document.getElementById(%s); s.value = %s;"
        " s.dispatchEvent(new Event('change')); })()"
        % (json.dumps(select_id), json.dumps(str(value))))


# The flame graph's nodes as the page holds them, each with its path of
# labels from the root (labels joined by " > ").
NODES = """(() => {
  const f = window.report.flame, out = {};
  const walk = (n, path) => {
    const node = f.node(n);
    node.path = path;
    out[path] = node;
    for (const c of node.children) walk(c, path + " > " + f.node(c).label);
  };
  walk(0, "all");
  return out;
})()"""


def nodes(browser):
    return browser.evaluate(NODES)


def path_of(stack):
    """The labels from the root to a stack's last frame, as the page
    names them: the function, or file:line where no name is known."""
    labels = ["all"]
    for (filename, lineno), name in stack:
        labels.append(name or "%s:%d" % (filename.rsplit("/", 1)[1],
                                         lineno))
    return " > ".join(labels)


def self_value(node, tree, key):
    return node[key] - sum(tree[c][key] for c in children_paths(node, tree))


def children_paths(node, tree):
    return [p for p in tree if p.startswith(node["path"] + " > ")
            and p.count(" > ") == node["path"].count(" > ") + 1]


def mouse(browser, kind, box):
    """A mouse event of ``kind`` in the middle of a flame graph ``box``."""
    browser.evaluate("document.getElementById('flame').scrollIntoView("
                     "{block: 'center'})")
    left, top = browser.evaluate(
        "(() => { const r = document.getElementById('flame')"
        ".getBoundingClientRect(); return [r.left, r.top]; })()")
    x = left + box["x"] + box["w"] / 2
    y = top + box["y"] + box["h"] / 2
    kinds = ("mouseMoved",) if kind == "move" else (
        "mouseMoved", "mousePressed", "mouseReleased")
    for event in kinds:
        browser.call("Input.dispatchMouseEvent", type=event, x=x, y=y,
                     button="left" if event != "mouseMoved" else "none",
                     clickCount=1)


def box_of(browser, node_id):
    for box in browser.evaluate("window.report.flame.boxes()"):
        if box["node"] == node_id:
            return box
    raise AssertionError("node %d is not drawn" % node_id)


# --- the data ------------------------------------------------------------


def test_functions_names_are_in_the_data_once(files):
    # GIVEN the two hand-made snapshots WHEN the report's data is built
    meta = model.build(model.load_snapshots(files)).meta
    # THEN each name is in the table once
    names = meta["functions"]
    assert sorted(names) == sorted({
        name for stack, _, _ in STACKS.values() for _, name in stack
        if name})
    # AND each frame has its usual function; the parser's line, which has
    # two functions, has the one seen first
    frame_names = {}
    for frame_id, (file_index, lineno) in enumerate(meta["frames"]):
        function = meta["frame_functions"][frame_id]
        frame_names[(meta["filenames"][file_index], lineno)] = (
            names[function] if function >= 0 else None)
    assert frame_names[HANDLE[0]] == "Server.handle"
    assert frame_names[LEGACY[0]] is None
    assert frame_names[PARSE[0]] in ("parse", "<lambda>")
    # AND only the traceback that differs lists its own names: the other
    # function of the parser's line
    others = meta["traceback_functions"]
    assert len(others) == 1
    tb, functions = others[0]
    assert len(functions) == len(meta["tracebacks"][tb])
    assert {names[functions[0]], frame_names[PARSE[0]]} == {"parse",
                                                            "<lambda>"}


def test_one_frame_snapshots_name_their_lines_only(tmp_path):
    # GIVEN a snapshot of one frame per traceback, named
    path = str(tmp_path / "one.ptm")
    Snapshot([site((MAIN,), 10, 1)], 1, pid=3, time=1000.0).write(path)
    meta = model.build(model.load_snapshots([path])).meta
    # THEN no traceback, but its line's function (the "function" grouping)
    assert meta["tracebacks"] is None and meta["traceback_functions"] == []
    assert meta["functions"] == ["main"] and meta["frame_functions"] == [0]


# --- the page ------------------------------------------------------------


@needs_chromium
def test_boxes_add_up_to_the_latest_snapshot(browser, flame_page):
    # WHEN the page is opened
    open_report_page(browser, flame_page)
    # THEN the flame graph is of the latest snapshot, its root is the
    # snapshot's traced size
    assert browser.evaluate("window.report.flame.message") is None
    tree = nodes(browser)
    size, count = totals(2)
    assert tree["all"]["value"] == tree["all"]["size"] == size
    assert browser.evaluate(
        "document.getElementById('flame').dataset.rootValue") == str(size)
    # AND every box holds at least what its callees hold
    for node in tree.values():
        kids = children_paths(node, tree)
        assert sum(tree[p]["value"] for p in kids) <= node["value"]
        assert len(node["children"]) == len(kids)
    # AND each traceback's last box holds the traceback's own bytes (numpy's
    # array data of the leaking one added), the stack that vanished is not
    # there
    want = expected(2)
    for name, (stack, _, _) in STACKS.items():
        path = path_of(stack)
        if not want[name][0]:
            assert path not in tree
            continue
        assert self_value(tree[path], tree, "size") == want[name][0], name
    # AND boxes merge by function, file and line from the same caller: the
    # parser's line is two boxes (two functions) under Server.handle, and
    # parse is a box of its own under main
    handle = tree[path_of(STACKS["own"][0])]
    assert sorted(tree[p]["label"] for p in children_paths(handle, tree)) \
        == ["<lambda>", "Cache.remember", "parse"]
    assert sorted(tree[p]["label"] for p in children_paths(tree["all > main"],
                                                           tree)) \
        == ["Server.serve", "parse"]
    # AND frames without names are labelled file:line
    legacy = tree[path_of(STACKS["unnamed"][0])]
    assert legacy["label"] == "legacy.py:70" and legacy["function"] == ""
    assert legacy["location"] == "/srv/app/legacy.py:70"
    # root, main, serve, handle, its 3 callees, parse under main, 2 unnamed
    assert len(tree) == 10
    assert browser.console_errors() == []


@needs_chromium
def test_tooltip_says_where_how_much_and_what_share(browser, flame_page):
    open_report_page(browser, flame_page)
    tree = nodes(browser)
    leak = tree[path_of(STACKS["leak"][0])]
    # WHEN the mouse is over the leaking line's box
    mouse(browser, "move", box_of(browser, leak["id"]))
    # THEN the tooltip names its function and line, its size, blocks and
    # share of the total
    tip = browser.wait_for(
        "!document.getElementById('flame-tip').hidden && "
        "document.getElementById('flame-tip').textContent")
    size, count = totals(2)
    assert tip.splitlines() == [
        "Cache.remember",
        "function: Cache.remember",
        "line: /srv/app/cache.py:40",
        "size: 5100 B (%.1f%% of the total)" % (100 * 5100 / size),
        "blocks: 51 (%.1f%% of the total)" % (100 * 51 / count),
    ]
    # AND over a frame without a name: the function is unknown
    unnamed = tree[path_of(STACKS["unnamed"][0])]
    mouse(browser, "move", box_of(browser, unnamed["id"]))
    tip = browser.wait_for(
        "document.getElementById('flame-tip').textContent.startsWith("
        "'legacy.py:70') && document.getElementById('flame-tip')"
        ".textContent")
    assert "function: unknown" in tip
    assert browser.console_errors() == []


@needs_chromium
def test_blocks_switch_sizes_boxes_by_count(browser, flame_page):
    open_report_page(browser, flame_page)
    # WHEN the width is switched to blocks
    choose(browser, "flame-metric", "count")
    tree = nodes(browser)
    # THEN the root is the snapshot's block count and each traceback's box
    # its blocks
    assert tree["all"]["value"] == totals(2)[1]
    for name, (size, count) in expected(2).items():
        if count:
            node = tree[path_of(STACKS[name][0])]
            assert self_value(node, tree, "value") == count, name
    assert browser.evaluate(
        "document.getElementById('flame').dataset.metric") == "count"
    assert browser.evaluate(
        "document.getElementById('flame-status').textContent").startswith(
            "Total: %d;" % totals(2)[1])
    assert browser.console_errors() == []


@needs_chromium
def test_click_zooms_and_the_way_back(browser, flame_page):
    open_report_page(browser, flame_page)
    tree = nodes(browser)
    handle = tree[path_of(STACKS["own"][0])]
    before = box_of(browser, handle["id"])
    assert before["w"] < browser.evaluate(
        "document.getElementById('flame').clientWidth") - 1
    # WHEN Server.handle's box is clicked
    mouse(browser, "click", before)
    # THEN it is the root of the view, the full width
    browser.wait_for("window.report.flame.state.zoom === %d" % handle["id"])
    assert browser.evaluate("window.report.flame.root().label") == \
        "Server.handle"
    width = browser.evaluate("document.getElementById('flame').clientWidth")
    assert box_of(browser, handle["id"])["w"] == width
    # AND its callees share that width by their sizes
    leak = tree[path_of(STACKS["leak"][0])]
    assert abs(box_of(browser, leak["id"])["w"]
               - width * leak["value"] / handle["value"]) < 1e-6
    assert not browser.evaluate(
        "document.getElementById('flame-reset').disabled")
    # WHEN its caller above it is clicked THEN the view goes up to it
    serve = tree["all > main > Server.serve"]
    mouse(browser, "click", box_of(browser, serve["id"]))
    browser.wait_for("window.report.flame.state.zoom === %d" % serve["id"])
    # WHEN Escape is pressed THEN one more up; Reset zoom: the whole
    browser.evaluate("document.getElementById('flame').focus()")
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", type=kind, key="Escape",
                     code="Escape", windowsVirtualKeyCode=27)
    browser.wait_for("window.report.flame.state.zoom === %d"
                     % tree["all > main"]["id"])
    browser.click("#flame-reset")
    browser.wait_for("window.report.flame.state.zoom === 0")
    assert browser.evaluate("window.report.flame.root().value") == totals(2)[0]
    assert browser.console_errors() == []


@needs_chromium
def test_search_highlights_and_gives_the_share(browser, flame_page):
    open_report_page(browser, flame_page)
    # WHEN a function's name is searched
    browser.type_into("#flame-search", "remember")
    browser.wait_for("window.report.flame.matched")
    matched = browser.evaluate("window.report.flame.matched")
    # THEN one box matches, with its share of the total
    size = totals(2)[0]
    assert matched["boxes"] == 1 and matched["value"] == 5100
    assert abs(matched["share"] - 5100 / size) < 1e-12
    tree = nodes(browser)
    leak = tree[path_of(STACKS["leak"][0])]
    assert leak["fill"] != tree["all > main"]["fill"]
    status = browser.evaluate(
        "document.getElementById('flame-status').textContent")
    assert "Search: 1 box match, 5100 B, %.1f%% of the total" % (
        100 * 5100 / size) in status
    # WHEN a file name is searched THEN its line's two functions match once
    # each, a box inside a matching box is not counted twice
    browser.type_into("#flame-search", "server.py")
    browser.wait_for("window.report.flame.state.search === 'server.py'")
    matched = browser.evaluate("window.report.flame.matched")
    assert matched["boxes"] == 2
    assert matched["value"] == tree["all > main > Server.serve"]["value"]
    # WHEN the search is emptied THEN nothing is highlighted
    browser.type_into("#flame-search", "")
    browser.wait_for("window.report.flame.state.search === ''")
    assert browser.evaluate("window.report.flame.matched") is None
    assert browser.console_errors() == []


@needs_chromium
def test_difference_is_red_where_it_grew_blue_where_it_shrank(browser,
                                                              flame_page):
    open_report_page(browser, flame_page)
    # WHEN the difference between the first and the latest is shown
    choose(browser, "flame-mode", "diff")
    assert browser.evaluate(
        "[document.getElementById('flame-old').value, "
        "document.getElementById('flame-new').value]") == ["0", "1"]
    tree = nodes(browser)
    # THEN the root's change is the new total minus the old
    old, new = totals(1)[0], totals(2)[0]
    root = tree["all"]
    assert root["delta"] == new - old
    assert root["size"] == new and root["oldSize"] == old
    assert browser.evaluate(
        "document.getElementById('flame').dataset.mode") == "diff"
    # AND the leak is red, the shrunk stack blue, the unchanged neutral
    leak = tree[path_of(STACKS["leak"][0])]
    shrunk = tree[path_of(STACKS["shrunk"][0])]
    same = tree[path_of(STACKS["lambda"][0])]
    assert (leak["kind"], shrunk["kind"], same["kind"]) == (
        "grow", "shrink", "same")

    def rgb(fill):
        return [int(v) for v in fill[4:-1].split(",")]
    red, blue, grey = rgb(leak["fill"]), rgb(shrunk["fill"]), rgb(same["fill"])
    assert red[0] > red[1] + 100 and red[0] > red[2] + 100
    assert blue[2] > blue[0] + 50 and blue[2] > blue[1] + 20
    assert grey[0] == grey[1] == grey[2]
    # AND the vanished stack is there, as wide as it was, shrinking
    vanished = tree[path_of(STACKS["vanished"][0])]
    assert vanished["kind"] == "shrink" and vanished["size"] == 0
    assert vanished["value"] == vanished["oldSize"] == 1500
    assert vanished["delta"] == -1500
    # AND boxes are as wide as the larger of old and new, nesting still
    for node in tree.values():
        assert node["value"] >= max(node["size"], node["oldSize"])
        assert sum(tree[p]["value"] for p in children_paths(node, tree)) \
            <= node["value"]
    assert root["value"] == sum(max(o[0], n[0]) for o, n in zip(
        expected(1).values(), expected(2).values()))
    # WHEN switched to blocks THEN the root's change is in blocks
    choose(browser, "flame-metric", "count")
    assert browser.evaluate("window.report.flame.root().delta") == \
        totals(2)[1] - totals(1)[1]
    # WHEN old and new are swapped THEN the colours are
    choose(browser, "flame-old", 1)
    choose(browser, "flame-new", 0)
    tree = nodes(browser)
    assert tree[path_of(STACKS["leak"][0])]["kind"] == "shrink"
    assert tree[path_of(STACKS["vanished"][0])]["kind"] == "grow"
    assert browser.console_errors() == []


@needs_chromium
def test_one_snapshot_is_chosen_in_the_selector(browser, flame_page):
    open_report_page(browser, flame_page)
    # WHEN the first snapshot is chosen THEN the graph is of it
    choose(browser, "flame-snapshot", 0)
    tree = nodes(browser)
    assert tree["all"]["value"] == totals(1)[0]
    assert path_of(STACKS["vanished"][0]) in tree
    # WHEN the page's other views are grouped otherwise THEN the flame
    # graph stays on the snapshot chosen
    choose(browser, "grouping", "file")
    assert browser.evaluate("window.report.flame.root().value") == \
        totals(1)[0]
    assert browser.evaluate(
        "document.getElementById('flame-snapshot').value") == "0"
    assert browser.console_errors() == []


@needs_chromium
def test_one_frame_per_traceback_says_to_use_nframe(browser, tmp_path):
    # GIVEN snapshots of one frame per traceback (traceback limit 1)
    paths = []
    for i in range(2):
        path = str(tmp_path / ("one%d.ptm" % i))
        Snapshot([site((PARSE,), 100 * (i + 1), 1)], 1, pid=5,
                 time=1_800_000_000 + i).write(path)
        paths.append(path)
    output = tmp_path / "one.html"
    assert main(paths + ["-o", str(output), "-q"]) == 0
    # WHEN opened THEN no graph, a message saying how to have one
    open_report_page(browser, str(output))
    text = browser.evaluate(
        "document.getElementById('flame-message').hidden ? null : "
        "document.getElementById('flame-message').textContent")
    assert text and "--nframe" in text
    assert "python -m pytracemalloc run --nframe 25" in text
    assert browser.evaluate("document.getElementById('flame-wrap').hidden")
    assert browser.console_errors() == []


@needs_chromium
def test_a_one_frame_snapshot_among_deep_ones(browser, tmp_path, files):
    # GIVEN a series whose first snapshot kept one frame per traceback
    first = str(tmp_path / "first.ptm")
    Snapshot([site((PARSE,), 100, 1)], 1, pid=PID,
             time=1_799_999_000).write(first)
    output = tmp_path / "mixed.html"
    assert main([first] + files + ["-o", str(output), "-q"]) == 0
    open_report_page(browser, str(output))
    # THEN the latest has its graph; WHEN the first is chosen THEN the
    # message
    assert browser.evaluate("window.report.flame.message") is None
    choose(browser, "flame-snapshot", 0)
    assert "--nframe" in browser.evaluate("window.report.flame.message")
    choose(browser, "flame-snapshot", 2)
    assert browser.evaluate("window.report.flame.message") is None
    assert browser.evaluate("window.report.flame.root().value") == \
        totals(2)[0]
    assert browser.console_errors() == []


@needs_chromium
def test_sampled_figures_are_marked_estimates(browser, tmp_path):
    # GIVEN a sampled snapshot
    path = str(tmp_path / "sampled.ptm")
    Snapshot([site(STACKS["leak"][0], 8192, 2)], 25, pid=6,
             time=1_800_000_000, sample_bytes=4096).write(path)
    output = tmp_path / "sampled.html"
    assert main([path, "-o", str(output), "-q"]) == 0
    open_report_page(browser, str(output))
    # THEN the flame graph's figures carry "~"
    assert browser.evaluate(
        "document.getElementById('flame-status').textContent").startswith(
            "Total: ~8.0 KiB;")
    tip = browser.evaluate("window.report.flame.root().text")
    assert "size: ~8.0 KiB" in tip and "blocks: ~2" in tip
    assert browser.console_errors() == []
