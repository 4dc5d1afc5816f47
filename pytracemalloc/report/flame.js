// The report's flame graphs (issue 25): the tracebacks of one snapshot, and
// the difference between two, built in the page from the report's own
// tables (META.tracebacks, the "traceback" columns of the blob, and the
// functions' names of model.py) and drawn by page.js's call to show().
//
// An icicle: the root (everything) on top, then the oldest frame of each
// traceback (where the calls start), each box's callees below it.  The root
// stays under the controls whatever the depth of the tracebacks, and one
// reads a leak from the top down, from the program's entry to the line
// that allocates.
//
// Drawn on a canvas, not in SVG: 10,000 sites of 25 frames make up to
// 250,000 boxes, and as many SVG elements take seconds to lay out and
// hundreds of MB of DOM; on a canvas the boxes of at least MIN_WIDTH pixels
// (a few thousand: the narrower ones are culled, their bytes are inside
// their parent's width anyway) draw in milliseconds, and the page finds
// the box under the mouse itself, from the layout it keeps.
"use strict";

window.PytracemallocFlame = (function () {
  const ROW = 18;          // px per frame
  const MIN_WIDTH = 1;     // CSS px: narrower boxes are not drawn
  const FONT = "11px ui-monospace, SFMono-Regular, Menlo, monospace";
  const NEUTRAL = [236, 236, 236];
  const GROW = [214, 39, 40];
  const SHRINK = [31, 96, 196];
  const MATCH = "#b64fd8";
  const FADED = "#e6e6e6";
  const ROOT_FILL = "#c9ced6";

  function hash(text) {
    let h = 2166136261;
    for (let i = 0; i < text.length; i++) {
      h = Math.imul(h ^ text.charCodeAt(i), 16777619);
    }
    return h >>> 0;
  }

  function mix(from, to, amount) {
    const c = from.map((v, i) => Math.round(v + (to[i] - v) * amount));
    return "rgb(" + c.join(",") + ")";
  }

  function basename(path) {
    const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
    return slash >= 0 ? path.slice(slash + 1) : path;
  }

  function create(env) {
    const META = env.META;
    const $ = (id) => document.getElementById(id);
    const T = META.tracebacks ? META.tracebacks.length : 0;
    const F = META.functions ? META.functions.length : 0;
    const state = { process: 0, mode: "snapshot", metric: "size", snapshot: 0,
                    old: 0, new: 0, zoom: 0, search: "" };
    const api = { state: state, draws: 0, message: null, culled: 0,
                  timing: { buildMs: 0, layoutMs: 0, drawMs: 0 } };
    const canvas = $("flame");
    const tip = $("flame-tip");

    // --- the tracebacks as paths of named frames ------------------------

    // A named frame is a (frame id, function id) pair, the identity by
    // which boxes merge: two calls of one function from the same place are
    // one box, a lambda on the line of another function is its own box.
    const namedFrame = [], namedFunction = [];
    let paths = null;  // per traceback: named-frame ids, oldest first
    function prepare() {
      if (paths || !T) return;
      const own = new Map();
      for (const [t, functions] of META.traceback_functions || []) {
        own.set(t, functions);
      }
      const usual = META.frame_functions;
      const ids = new Map();
      paths = new Array(T);
      for (let t = 0; t < T; t++) {
        const frames = META.tracebacks[t];
        const functions = own.get(t);
        const n = frames.length;
        const path = new Int32Array(n);
        for (let k = 0; k < n; k++) {
          const frame = frames[n - 1 - k];
          const fn = functions ? functions[n - 1 - k] : usual[frame];
          const key = frame * (F + 1) + fn + 1;
          let id = ids.get(key);
          if (id === undefined) {
            id = namedFrame.length;
            ids.set(key, id);
            namedFrame.push(frame);
            namedFunction.push(fn);
          }
          path[k] = id;
        }
        paths[t] = path;
      }
    }

    // --- a snapshot's tracebacks -----------------------------------------

    let cols = null;
    const valueCache = new Map();
    // Sizes and counts of every traceback at the process's i-th snapshot:
    // the blob holds changes only, replayed from the process's first.
    function valuesAt(processIndex, i) {
      const key = processIndex + "/" + i;
      if (valueCache.has(key)) return valueCache.get(key);
      if (!cols) cols = env.columns("traceback");
      const snaps = META.processes[processIndex].snapshots;
      const size = new Float64Array(T), count = new Float64Array(T);
      for (let j = 0; j <= i; j++) {
        const s = snaps[j];
        for (let k = cols.starts[s]; k < cols.starts[s + 1]; k++) {
          size[cols.ids[k]] = cols.sizes[k];
          count[cols.ids[k]] = cols.counts[k];
        }
      }
      if (valueCache.size >= 4) valueCache.delete(valueCache.keys().next().value);
      const values = { size: size, count: count };
      valueCache.set(key, values);
      return values;
    }

    // --- the tree ---------------------------------------------------------

    // Node 0 is the root.  Each node's figures are inclusive (its own
    // blocks and its callees'): nS/nC of the (new) snapshot, oS/oC of the
    // old one, uS/uC the sum over its tracebacks of max(old, new), the
    // width of a difference graph.
    let tree = null;
    function buildTree(now, before) {
      prepare();
      const parent = [-1], named = [-1], depth = [0];
      const nS = [0], nC = [0], oS = [0], oC = [0], uS = [0], uC = [0];
      const childOf = new Map();
      const N = namedFrame.length + 1;
      let deepest = 0;
      for (let t = 0; t < T; t++) {
        const s1 = now.size[t], c1 = now.count[t];
        const s0 = before ? before.size[t] : 0, c0 = before ? before.count[t] : 0;
        if (!s1 && !c1 && !s0 && !c0) continue;
        const us = Math.max(s0, s1), uc = Math.max(c0, c1);
        const path = paths[t];
        if (path.length > deepest) deepest = path.length;
        let node = 0;
        for (let k = -1; k < path.length; k++) {
          if (k >= 0) {
            const key = node * N + path[k];
            let child = childOf.get(key);
            if (child === undefined) {
              child = parent.length;
              childOf.set(key, child);
              parent.push(node); named.push(path[k]); depth.push(k + 1);
              nS.push(0); nC.push(0); oS.push(0); oC.push(0); uS.push(0); uC.push(0);
            }
            node = child;
          }
          nS[node] += s1; nC[node] += c1; oS[node] += s0; oC[node] += c0;
          uS[node] += us; uC[node] += uc;
        }
      }
      const M = parent.length;
      // Children in one array (compressed rows): kids[start[n]..start[n+1]).
      const start = new Int32Array(M + 1);
      for (let n = 1; n < M; n++) start[parent[n] + 1]++;
      for (let n = 0; n < M; n++) start[n + 1] += start[n];
      const fill = start.slice(0, M);
      const kids = new Int32Array(Math.max(0, M - 1));
      for (let n = 1; n < M; n++) kids[fill[parent[n]]++] = n;
      let maxDepth = 0;
      for (let n = 0; n < M; n++) if (depth[n] > maxDepth) maxDepth = depth[n];
      return {
        size: M, parent: Int32Array.from(parent), named: Int32Array.from(named),
        depth: Int32Array.from(depth), start: start, kids: kids,
        nS: Float64Array.from(nS), nC: Float64Array.from(nC),
        oS: Float64Array.from(oS), oC: Float64Array.from(oC),
        uS: Float64Array.from(uS), uC: Float64Array.from(uC),
        deepest: deepest, maxDepth: maxDepth, diff: !!before,
      };
    }

    function widths() {
      if (tree.diff) return state.metric === "size" ? tree.uS : tree.uC;
      return state.metric === "size" ? tree.nS : tree.nC;
    }
    function delta(n) {
      return state.metric === "size" ? tree.nS[n] - tree.oS[n]
        : tree.nC[n] - tree.oC[n];
    }
    function children(n) {
      return Array.from(tree.kids.subarray(tree.start[n], tree.start[n + 1]));
    }
    function functionName(n) {
      if (n === 0) return "";
      const fn = namedFunction[tree.named[n]];
      return fn >= 0 ? META.functions[fn] : "";
    }
    function frameOf(n) {
      return META.frames[namedFrame[tree.named[n]]];
    }
    function location(n) {
      if (n === 0) return "";
      const frame = frameOf(n);
      return META.filenames[frame[0]] + ":" + frame[1];
    }
    // The function's name; file:line where it is not known (older files,
    // a frame without a name).
    function label(n) {
      if (n === 0) return "all";
      const name = functionName(n);
      if (name) return name;
      const frame = frameOf(n);
      return basename(META.filenames[frame[0]]) + ":" + frame[1];
    }

    // --- colours --------------------------------------------------------

    let maxDelta = 0;
    let matched = null;  // Uint8Array per node while searching
    const fileHues = new Map();
    function fileHue(fileIndex) {
      let hue = fileHues.get(fileIndex);
      if (hue === undefined) {
        // Warm hues, one per file, so that a module's frames look alike.
        hue = 8 + hash(META.filenames[fileIndex]) % 44;
        fileHues.set(fileIndex, hue);
      }
      return hue;
    }
    function kind(n) {
      if (!tree.diff) return "";
      const d = delta(n);
      return d > 0 ? "grow" : d < 0 ? "shrink" : "same";
    }
    // How deep a difference box's colour is, 0 (no change) to 1.
    function tint(n) {
      const d = delta(n);
      if (!d || !maxDelta) return 0;
      // sqrt: a change a hundredth of the largest is still visibly tinted.
      return 0.18 + 0.82 * Math.min(1, Math.sqrt(Math.abs(d) / maxDelta));
    }
    function fillOf(n) {
      if (matched) return matched[n] ? MATCH : FADED;
      if (tree.diff) return mix(NEUTRAL, delta(n) > 0 ? GROW : SHRINK, tint(n));
      if (n === 0) return ROOT_FILL;
      const frame = frameOf(n);
      const light = 58 + hash(label(n)) % 14;
      return "hsl(" + fileHue(frame[0]) + ",72%," + light + "%)";
    }
    function computeMaxDelta() {
      maxDelta = 0;
      if (!tree.diff) return;
      for (let n = 0; n < tree.size; n++) {
        const d = Math.abs(delta(n));
        if (d > maxDelta) maxDelta = d;
      }
    }

    // --- layout and drawing ---------------------------------------------

    let boxes = [];     // {node, x, w, row}, in drawing order
    let rowBoxes = [];  // per row: the boxes' indexes, left to right
    let charWidth = 7;

    function ancestors(n) {
      const chain = [];
      for (; n >= 0; n = tree.parent[n]) chain.unshift(n);
      return chain;
    }

    function layout(width) {
      const values = widths();
      boxes = [];
      rowBoxes = [];
      api.culled = 0;
      const add = (node, x, w, row) => {
        (rowBoxes[row] || (rowBoxes[row] = [])).push(boxes.length);
        boxes.push({ node: node, x: x, w: w, row: row });
      };
      // The zoomed box's callers above it, full width: a click on one of
      // them goes back up.
      const chain = ancestors(state.zoom);
      chain.forEach((n, row) => add(n, 0, width, row));
      const total = values[state.zoom];
      if (!(total > 0)) return;
      const scale = width / total;
      const place = (n, x, row) => {
        const list = children(n).sort((a, b) => values[b] - values[a] || a - b);
        let cx = x;
        for (let i = 0; i < list.length; i++) {
          const c = list[i];
          const w = values[c] * scale;
          if (w < MIN_WIDTH) {
            // Sorted widest first: the rest are narrower still.
            api.culled += list.length - i;
            break;
          }
          add(c, cx, w, row);
          place(c, cx, row + 1);
          cx += w;
        }
      };
      place(state.zoom, 0, chain.length);
    }

    function draw() {
      const started = performance.now();
      const width = Math.max(200, $("flame-wrap").clientWidth);
      const rows = tree.maxDepth + 1;
      const height = rows * ROW;
      const ratio = window.devicePixelRatio || 1;
      canvas.style.width = width + "px";
      canvas.style.height = height + "px";
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      layout(width);
      const laidOut = performance.now();
      const ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, width, height);
      ctx.font = FONT;
      ctx.textBaseline = "middle";
      charWidth = ctx.measureText("M").width || 7;
      const chainLength = ancestors(state.zoom).length;
      for (const box of boxes) {
        const y = box.row * ROW;
        // The callers above a zoomed box, faded: they are not to scale.
        const faded = box.row < chainLength - 1;
        ctx.globalAlpha = faded ? 0.55 : 1;
        ctx.fillStyle = fillOf(box.node);
        ctx.fillRect(box.x, y, Math.max(box.w - 1, 0.5), ROW - 1);
        ctx.globalAlpha = 1;
        const room = Math.floor((box.w - 6) / charWidth);
        if (room >= 2) {
          let text = label(box.node);
          if (text.length > room) text = text.slice(0, room - 1) + "\u2026";
          const dark = matched ? matched[box.node] : tree.diff && tint(box.node) > 0.6;
          ctx.fillStyle = dark && !faded ? "#fff" : "#1d232b";
          ctx.fillText(text, box.x + 3, y + ROW / 2);
        }
      }
      const values = widths();
      canvas.dataset.mode = tree.diff ? "diff" : "snapshot";
      canvas.dataset.metric = state.metric;
      canvas.dataset.zoom = String(state.zoom);
      canvas.dataset.rootValue = String(values[0]);
      $("flame-reset").disabled = state.zoom === 0;
      api.timing.layoutMs = laidOut - started;
      api.timing.drawMs = performance.now() - laidOut;
      api.draws++;
    }

    // --- text -----------------------------------------------------------

    function size(bytes, sign) {
      return env.MARK + env.formatSize(bytes, sign);
    }
    function count(value, sign) {
      return env.MARK + env.formatCount(value, sign);
    }
    function share(part, whole) {
      return whole > 0 ? (100 * part / whole).toFixed(1) + "%" : "0%";
    }
    function describeNode(n) {
      const lines = [label(n)];
      if (n) {
        lines.push("function: " + (functionName(n) || "unknown"));
        lines.push("line: " + location(n));
      }
      const values = widths();
      const whole = values[0];
      if (tree.diff) {
        lines.push("size: " + size(tree.oS[n]) + " \u2192 " + size(tree.nS[n])
          + " (" + size(tree.nS[n] - tree.oS[n], true) + ")");
        lines.push("blocks: " + count(tree.oC[n]) + " \u2192 " + count(tree.nC[n])
          + " (" + count(tree.nC[n] - tree.oC[n], true) + ")");
        lines.push(share(values[n], whole) + " of the width (the larger of old and new)");
      } else {
        lines.push("size: " + size(tree.nS[n]) + " (" + share(tree.nS[n], tree.nS[0])
          + " of the total)");
        lines.push("blocks: " + count(tree.nC[n]) + " (" + share(tree.nC[n], tree.nC[0])
          + " of the total)");
      }
      return lines.join("\n");
    }

    function status() {
      const values = widths();
      const what = state.metric === "size" ? size : count;
      const figures = (n) => (tree.diff
        ? what(delta(n), true) + " (old " + what(state.metric === "size" ? tree.oS[n]
          : tree.oC[n]) + ", new " + what(state.metric === "size" ? tree.nS[n]
          : tree.nC[n]) + ")"
        : what(values[n]));
      let text = (tree.diff ? "Difference: " : "Total: ") + figures(0);
      if (state.zoom) {
        text += "; zoomed on " + label(state.zoom) + ": " + figures(state.zoom)
          + (tree.diff ? "" : " (" + share(values[state.zoom], values[0]) + ")");
      }
      text += "; " + boxes.length.toLocaleString("en-US") + " of "
        + tree.size.toLocaleString("en-US") + " boxes drawn"
        + (api.culled ? " (the others under a pixel wide)" : "");
      if (matched) {
        const m = api.matched;
        text += ". Search: " + m.boxes + " box" + (m.boxes === 1 ? "" : "es")
          + " match, " + what(m.value) + ", " + share(m.value, values[0])
          + " of the total" + (tree.diff ? " (" + what(m.delta, true) + ")" : "");
      }
      $("flame-status").textContent = text + ".";
    }

    // --- search ---------------------------------------------------------

    function search() {
      const text = state.search.trim().toLowerCase();
      if (!text) {
        matched = null;
        api.matched = null;
        return;
      }
      matched = new Uint8Array(tree.size);
      let count = 0;
      for (let n = 1; n < tree.size; n++) {
        if (functionName(n).toLowerCase().includes(text)
            || location(n).toLowerCase().includes(text)) {
          matched[n] = 1;
          count++;
        }
      }
      // The matched share: each matching box counted once, not again
      // inside a matching caller (recursion, a module's nested calls).
      const values = widths();
      let value = 0, change = 0;
      const stack = [0];
      while (stack.length) {
        const n = stack.pop();
        if (matched[n]) {
          value += values[n];
          change += delta(n);
          continue;
        }
        for (let k = tree.start[n]; k < tree.start[n + 1]; k++) stack.push(tree.kids[k]);
      }
      api.matched = { boxes: count, value: value, delta: tree.diff ? change : 0,
                      share: values[0] > 0 ? value / values[0] : 0 };
    }

    // --- putting it together ----------------------------------------------

    function message(text) {
      api.message = text;
      const box = $("flame-message");
      box.hidden = !text;
      box.textContent = text || "";
      $("flame-wrap").hidden = !!text;
      $("flame-status").hidden = !!text;
    }

    const NEEDS_FRAMES = " A flame graph needs more than one frame per traceback:"
      + " trace with --nframe greater than 1, e.g. python -m pytracemalloc run"
      + " --nframe 25 script.py (or PYTRACEMALLOC=25).";

    function rebuild() {
      const snaps = META.processes[state.process].snapshots;
      tree = null;
      if (!T) {
        const traced = snaps.some((s) => META.snapshots[s].traced > 0);
        message(traced ? "These snapshots keep one frame per traceback." + NEEDS_FRAMES
          : "Nothing traced in these snapshots.");
        return;
      }
      const started = performance.now();
      const diff = state.mode === "diff";
      const now = valuesAt(state.process, diff ? state.new : state.snapshot);
      const before = diff ? valuesAt(state.process, state.old) : null;
      tree = buildTree(now, before);
      api.timing.buildMs = performance.now() - started;
      state.zoom = 0;
      if (tree.deepest === 0) {
        message(diff ? "Nothing traced in either snapshot." : "Nothing traced in this snapshot.");
      } else if (tree.deepest === 1) {
        message((diff ? "These snapshots keep" : "This snapshot keeps")
          + " one frame per traceback." + NEEDS_FRAMES);
      } else {
        message(null);
      }
      computeMaxDelta();
      search();
    }

    function redraw() {
      if (!tree || api.message) {
        api.draws++;
        return;
      }
      draw();
      status();
    }

    function fillSelect(select, snaps, chosen) {
      select.replaceChildren(...snaps.map((s, i) => {
        const option = document.createElement("option");
        const entry = META.snapshots[s];
        option.value = String(i);
        option.textContent = "#" + (i + 1) + " " + entry.timestamp + " ("
          + basename(entry.file) + ")";
        return option;
      }));
      select.value = String(chosen);
    }

    function showControls() {
      const diff = state.mode === "diff";
      $("flame-snapshot-label").hidden = diff;
      $("flame-old-label").hidden = !diff;
      $("flame-new-label").hidden = !diff;
      $("flame-title").textContent = diff ? "Flame graph of the difference" : "Flame graph";
      $("flame-mode").value = state.mode;
      $("flame-metric").value = state.metric;
    }

    // Called by page.js whenever it draws its views: a new process starts
    // from its latest snapshot (and its first and latest for a
    // difference); the same process (another grouping) keeps what was
    // chosen here.
    let shown = -1;
    function show(processIndex) {
      if (processIndex === shown) return;
      shown = state.process = processIndex;
      const snaps = META.processes[processIndex].snapshots;
      state.snapshot = state.new = snaps.length - 1;
      state.old = 0;
      fillSelect($("flame-snapshot"), snaps, state.snapshot);
      fillSelect($("flame-old"), snaps, state.old);
      fillSelect($("flame-new"), snaps, state.new);
      showControls();
      rebuild();
      redraw();
    }

    function zoomTo(n) {
      if (!tree || n < 0 || n >= tree.size) return;
      state.zoom = n;
      redraw();
    }

    function boxAt(event) {
      const rect = canvas.getBoundingClientRect();
      const x = event.clientX - rect.left, y = event.clientY - rect.top;
      const list = rowBoxes[Math.floor(y / ROW)] || [];
      for (const b of list) {
        const box = boxes[b];
        if (x >= box.x && x < box.x + box.w) return box;
      }
      return null;
    }

    function listen() {
      const changed = (id, key, numeric, rebuilds) => {
        $(id).addEventListener("change", () => {
          const value = $(id).value;
          state[key] = numeric ? Number(value) : value;
          showControls();
          if (rebuilds) {
            rebuild();
          } else if (tree) {
            computeMaxDelta();
            search();
          }
          redraw();
        });
      };
      changed("flame-mode", "mode", false, true);
      changed("flame-snapshot", "snapshot", true, true);
      changed("flame-old", "old", true, true);
      changed("flame-new", "new", true, true);
      changed("flame-metric", "metric", false, false);
      let timer = null;
      $("flame-search").addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          state.search = $("flame-search").value;
          if (tree) search();
          redraw();
        }, 100);
      });
      $("flame-reset").addEventListener("click", () => zoomTo(0));
      canvas.addEventListener("click", (event) => {
        const box = boxAt(event);
        if (box) zoomTo(box.node);
      });
      canvas.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && tree && state.zoom) zoomTo(tree.parent[state.zoom]);
      });
      canvas.addEventListener("mousemove", (event) => {
        const box = boxAt(event);
        if (!box) {
          tip.hidden = true;
          return;
        }
        tip.textContent = describeNode(box.node);
        tip.hidden = false;
        const wrap = $("flame-wrap").getBoundingClientRect();
        const x = event.clientX - wrap.left, y = event.clientY - wrap.top;
        // Beside the pointer, on the side with room.
        const left = x + 14 + tip.offsetWidth > wrap.width ? x - 14 - tip.offsetWidth : x + 14;
        tip.style.left = Math.max(0, left) + "px";
        tip.style.top = (y + 16) + "px";
      });
      canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
      let resizeTimer = null;
      window.addEventListener("resize", () => {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(redraw, 100);
      });
    }

    // --- what the tests (and a curious user) can read -----------------------

    function node(n) {
      if (!tree || n < 0 || n >= tree.size) return null;
      const values = widths();
      return {
        id: n, parent: tree.parent[n], depth: tree.depth[n], label: label(n),
        function: functionName(n), location: location(n),
        size: tree.nS[n], count: tree.nC[n], oldSize: tree.oS[n], oldCount: tree.oC[n],
        value: values[n], delta: tree.diff ? delta(n) : 0, kind: kind(n),
        fill: fillOf(n), children: children(n), text: describeNode(n),
      };
    }
    api.node = node;
    api.root = () => node(state.zoom);
    api.size = () => (tree ? tree.size : 0);
    api.children = (n) => (tree ? children(n) : []);
    api.find = (text) => {
      const found = [];
      for (let n = 1; tree && n < tree.size; n++) if (label(n) === text) found.push(n);
      return found;
    };
    api.boxes = () => boxes.map((b) => ({ node: b.node, x: b.x, y: b.row * ROW,
                                          w: b.w, h: ROW - 1 }));
    api.zoom = zoomTo;
    // What typing into the search box does, without its pause.
    api.search = (text) => {
      state.search = $("flame-search").value = text;
      if (tree) search();
      redraw();
    };
    api.show = show;
    api.redraw = redraw;

    listen();
    return api;
  }

  return { create: create };
})();
