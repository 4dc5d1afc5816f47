// The report page: decodes the data inlined by pytracemalloc.report, then
// draws it with plotly.js (inlined before this script).  Nothing is fetched.
//
// The data (see model.py): META (JSON) and a gzip-compressed binary blob
// holding, per snapshot, the lines (and tracebacks) that changed since the
// previous snapshot of the same process.  A process's series are rebuilt
// here into dense arrays, group-major: size[g * n + i] is the size of group
// g at the process's i-th snapshot.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const META = JSON.parse($("report-meta").textContent);
  const LEAK_MIN_R2 = 0.8;
  const LEAK_MIN_UP = 0.5;
  const ROWS_STEP = 500;
  const state = {
    process: 0,
    grouping: META.settings.group_by,
    top: META.settings.top,
    leaks: META.settings.leaks,
    sortKey: "size",
    sortDir: "desc",
    filter: "",
    shown: ROWS_STEP,
    selected: null,
  };
  // What the tests (and a curious user, in the console) can look at.
  const report = { ready: false, error: null, state: state, leakCharts: 0,
                   scriptAt: performance.now() };
  window.report = report;
  let BUFFER = null;
  const denseCache = new Map();
  const viewCache = new Map();

  // --- formatting -------------------------------------------------------

  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
  function formatSize(bytes, sign) {
    let value = Math.abs(bytes);
    let unit = 0;
    while (value >= 5 * 1024 && unit < UNITS.length - 1) {
      value /= 1024;
      unit++;
    }
    const text = (unit ? value.toFixed(value < 100 ? 1 : 0) : value.toFixed(0))
      + " " + UNITS[unit];
    if (bytes < 0) return "-" + text;
    return (sign && bytes > 0 ? "+" : "") + text;
  }
  // Sampled snapshots (issue 17): their sizes and counts are estimates,
  // marked "~" in the text (the charts plot the estimates as they are).
  const SAMPLE_BYTES = [...new Set(META.snapshots.map((s) => s.sample_bytes)
    .filter((n) => n))].sort((a, b) => a - b);
  const MARK = SAMPLE_BYTES.length ? "~" : "";
  function formatCount(value, sign) {
    const text = Math.abs(value).toLocaleString("en-US");
    if (value < 0) return "-" + text;
    return (sign && value > 0 ? "+" : "") + text;
  }
  // Plotly reads names and hover texts as a little HTML.
  function plotText(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;")
      .replace(/>/g, "&gt;");
  }
  function frameName(frameId) {
    const frame = META.frames[frameId];
    return META.filenames[frame[0]] + ":" + frame[1];
  }

  // --- data -------------------------------------------------------------

  async function decodeBlob() {
    const text = $("report-blob").textContent.trim();
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    return await new Response(stream).arrayBuffer();
  }

  function numbers(layout, label) {
    const type = layout[label + "_type"] === "uint32" ? Uint32Array : Float64Array;
    return new type(BUFFER, layout[label], layout.entries);
  }

  function columns(kind) {
    const layout = META.layout[kind];
    const entries = layout.entries;
    const starts = new Int32Array(layout.lengths.length + 1);
    for (let s = 0; s < layout.lengths.length; s++) {
      starts[s + 1] = starts[s] + layout.lengths[s];
    }
    return {
      sizes: numbers(layout, "sizes"),
      counts: numbers(layout, "counts"),
      ids: new Int32Array(BUFFER, layout.ids, entries),
      starts: starts,
    };
  }

  // Dense series of one process for "line" or "traceback" groups.
  function baseDense(processIndex, kind) {
    const key = processIndex + "/" + kind;
    if (denseCache.has(key)) return denseCache.get(key);
    const cols = columns(kind);
    const snaps = META.processes[processIndex].snapshots;
    const n = snaps.length;
    const universe = kind === "line" ? META.frames.length : META.tracebacks.length;
    const local = new Int32Array(universe).fill(-1);
    const groups = [];
    for (const s of snaps) {
      for (let k = cols.starts[s]; k < cols.starts[s + 1]; k++) {
        const g = cols.ids[k];
        if (local[g] < 0) {
          local[g] = groups.length;
          groups.push(g);
        }
      }
    }
    const G = groups.length;
    const size = new Float64Array(G * n).fill(NaN);
    const count = new Float64Array(G * n);
    for (let i = 0; i < n; i++) {
      const s = snaps[i];
      for (let k = cols.starts[s]; k < cols.starts[s + 1]; k++) {
        const o = local[cols.ids[k]] * n + i;
        size[o] = cols.sizes[k];
        count[o] = cols.counts[k];
      }
    }
    // A snapshot lists only what changed: carry the rest forward.
    for (let j = 0; j < G; j++) {
      let lastSize = 0, lastCount = 0;
      for (let o = j * n, end = o + n; o < end; o++) {
        if (size[o] !== size[o]) {
          size[o] = lastSize;
          count[o] = lastCount;
        } else {
          lastSize = size[o];
          lastCount = count[o];
        }
      }
    }
    const dense = { kind: kind, n: n, groups: groups, size: size, count: count };
    denseCache.set(key, dense);
    return dense;
  }

  // The "function" groups: (file index, function id or -1), numbered
  // once for the whole page, and the group of each frame (line).
  let FUNCTION_GROUPS = null;
  function functionGroups() {
    if (FUNCTION_GROUPS) return FUNCTION_GROUPS;
    const usual = META.frame_functions;
    const numbers = new Map();
    const groups = [];
    const ofFrame = new Int32Array(META.frames.length);
    META.frames.forEach((frame, f) => {
      const fn = usual ? usual[f] : -1;
      const key = frame[0] + "/" + fn;
      let g = numbers.get(key);
      if (g === undefined) {
        g = groups.length;
        numbers.set(key, g);
        groups.push([frame[0], fn]);
      }
      ofFrame[f] = g;
    });
    FUNCTION_GROUPS = { groups: groups, ofFrame: ofFrame };
    return FUNCTION_GROUPS;
  }

  // Dense series of one process for groups of lines: "file", or
  // "function" (the lines of one function of one file).
  function summedDense(processIndex, kind) {
    const key = processIndex + "/" + kind;
    if (denseCache.has(key)) return denseCache.get(key);
    const lines = baseDense(processIndex, "line");
    const n = lines.n;
    const groupOf = kind === "file" ? (frameId) => META.frames[frameId][0]
      : ((ofFrame) => (frameId) => ofFrame[frameId])(functionGroups().ofFrame);
    const universe = kind === "file" ? META.filenames.length
      : functionGroups().groups.length;
    const local = new Int32Array(universe).fill(-1);
    const groups = [];
    const owner = new Int32Array(lines.groups.length);
    lines.groups.forEach((frameId, j) => {
      const g = groupOf(frameId);
      if (local[g] < 0) {
        local[g] = groups.length;
        groups.push(g);
      }
      owner[j] = local[g];
    });
    const size = new Float64Array(groups.length * n);
    const count = new Float64Array(groups.length * n);
    for (let j = 0; j < lines.groups.length; j++) {
      const from = j * n, to = owner[j] * n;
      for (let i = 0; i < n; i++) {
        size[to + i] += lines.size[from + i];
        count[to + i] += lines.count[from + i];
      }
    }
    const dense = { kind: kind, n: n, groups: groups, size: size, count: count };
    denseCache.set(key, dense);
    return dense;
  }

  function dense(processIndex, grouping) {
    return grouping === "file" || grouping === "function"
      ? summedDense(processIndex, grouping) : baseDense(processIndex, grouping);
  }

  function groupFilename(kind, g) {
    if (kind === "file") return META.filenames[g];
    if (kind === "function") return META.filenames[functionGroups().groups[g][0]];
    const frameId = kind === "line" ? g : META.tracebacks[g][0];
    return META.filenames[META.frames[frameId][0]];
  }
  function groupName(kind, g) {
    if (kind === "file") return META.filenames[g];
    if (kind === "function") {
      // As the command line prints it: "file (function)", "?" if unknown.
      const [file, fn] = functionGroups().groups[g];
      return META.filenames[file] + " (" + (fn >= 0 ? META.functions[fn] : "?") + ")";
    }
    if (kind === "line") return frameName(g);
    const frames = META.tracebacks[g];
    return frameName(frames[0]) + (frames.length > 1
      ? " (+" + (frames.length - 1) + " frame" + (frames.length > 2 ? "s" : "") + ")"
      : "");
  }

  function processTimes(processIndex) {
    const snaps = META.processes[processIndex].snapshots;
    return {
      dates: snaps.map((s) => META.snapshots[s].date),
      seconds: snaps.map((s) => META.snapshots[s].time - META.snapshots[snaps[0]].time),
    };
  }

  // Per group: peak size, and the leak measures (see the page's text).
  function view(processIndex, grouping) {
    const key = processIndex + "/" + grouping;
    if (viewCache.has(key)) return viewCache.get(key);
    const d = dense(processIndex, grouping);
    const n = d.n, G = d.groups.length;
    const times = processTimes(processIndex);
    let t = times.seconds;
    if (t[n - 1] <= t[0]) t = t.map((_, i) => i);  // all at the same second
    let tMean = 0;
    for (let i = 0; i < n; i++) tMean += t[i];
    tMean /= n;
    let sxx = 0;
    for (let i = 0; i < n; i++) sxx += (t[i] - tMean) * (t[i] - tMean);
    const peak = new Float64Array(G);
    const slope = new Float64Array(G);
    const r2 = new Float64Array(G);
    const up = new Float64Array(G);
    const total = new Float64Array(n);
    for (let j = 0; j < G; j++) {
      const o = j * n;
      let max = 0, mean = 0, ups = 0;
      for (let i = 0; i < n; i++) {
        const y = d.size[o + i];
        total[i] += y;
        if (y > max) max = y;
        mean += y;
        if (i && y > d.size[o + i - 1]) ups++;
      }
      peak[j] = max;
      if (n < 3 || sxx === 0) continue;
      mean /= n;
      let sxy = 0, syy = 0;
      for (let i = 0; i < n; i++) {
        const dy = d.size[o + i] - mean;
        sxy += (t[i] - tMean) * dy;
        syy += dy * dy;
      }
      slope[j] = sxy / sxx;
      r2[j] = syy > 0 ? (sxy * sxy) / (sxx * syy) : 0;
      up[j] = ups / (n - 1);
    }
    const byPeak = Array.from({ length: G }, (_, j) => j)
      .sort((a, b) => peak[b] - peak[a] || a - b);
    const leaks = [];
    for (let j = 0; j < G; j++) {
      const o = j * n;
      if (slope[j] > 0 && r2[j] >= LEAK_MIN_R2 && up[j] >= LEAK_MIN_UP
          && d.size[o + n - 1] > d.size[o]) {
        leaks.push(j);
      }
    }
    leaks.sort((a, b) => slope[b] - slope[a] || a - b);
    const v = { dense: d, times: times, peak: peak, slope: slope, r2: r2,
                up: up, byPeak: byPeak, leaks: leaks, total: total };
    viewCache.set(key, v);
    return v;
  }

  function series(d, j, which) {
    return Array.from((which === "count" ? d.count : d.size).subarray(j * d.n, (j + 1) * d.n));
  }

  // --- charts -----------------------------------------------------------

  const PLOT_CONFIG = { displaylogo: false, responsive: true };
  const SIZE_AXIS = { title: { text: "bytes" }, tickformat: ".3~s", ticksuffix: "B",
                      rangemode: "tozero" };
  function baseLayout(extra) {
    return Object.assign({
      margin: { l: 70, r: 30, t: 10, b: 40 },
      xaxis: { type: "date" },
      yaxis: SIZE_AXIS,
      legend: { orientation: "h", y: -0.15 },
      hovermode: "x unified",
    }, extra || {});
  }
  function sizeTrace(name, x, y, extra) {
    return Object.assign({
      type: x.length > 5000 ? "scattergl" : "scatter", mode: "lines",
      name: plotText(name), x: x, y: y,
      hovertemplate: "%{y:.4~s}B",
    }, extra || {});
  }

  function drawMemory(processIndex) {
    const snaps = META.processes[processIndex].snapshots.map((s) => META.snapshots[s]);
    const x = snaps.map((s) => s.date);
    const traces = [sizeTrace("traced", x, snaps.map((s) => s.traced))];
    if (snaps.some((s) => s.process_memory !== null)) {
      traces.push(sizeTrace("process memory", x, snaps.map((s) => s.process_memory)));
    }
    const domains = [];
    for (const s of snaps) {
      for (const name in s.domains) if (!domains.includes(name)) domains.push(name);
    }
    for (const name of domains) {
      traces.push(sizeTrace(name, x, snaps.map((s) => s.domains[name] || 0)));
    }
    let other = false;
    for (const user of META.user_series) {
      if (!snaps.some((s) => user.title in s.user)) continue;
      const y = snaps.map((s) => (user.title in s.user ? s.user[user.title] : null));
      if (user.format === "size") {
        traces.push(sizeTrace(user.title, x, y));
      } else {
        other = true;
        traces.push(sizeTrace(user.title, x, y, { yaxis: "y2", hovertemplate: "%{y}",
                                                   line: { dash: "dot" } }));
      }
    }
    const layout = baseLayout({
      // Process memory often dwarfs what Python holds: a log axis shows both.
      updatemenus: [{
        type: "buttons", direction: "left", showactive: true, active: 0,
        x: 0, xanchor: "left", y: 1.12, yanchor: "bottom", pad: { r: 4, t: 0 },
        buttons: [
          { label: "linear", method: "relayout", args: [{ "yaxis.type": "linear" }] },
          { label: "log", method: "relayout", args: [{ "yaxis.type": "log" }] },
        ],
      }],
    });
    layout.margin = Object.assign({}, layout.margin, { t: 34 });
    if (other) {
      layout.yaxis2 = { overlaying: "y", side: "right", title: { text: "value" },
                        rangemode: "tozero" };
    }
    Plotly.react("memory", traces, layout, PLOT_CONFIG);
  }

  const GROUP_WORDS = { line: "lines", file: "files", function: "functions",
                        traceback: "tracebacks" };

  function drawStacked(processIndex, grouping) {
    const v = view(processIndex, grouping);
    const d = v.dense;
    const x = v.times.dates;
    const top = v.byPeak.slice(0, state.top).filter((j) => v.peak[j] > 0);
    $("stacked-title").textContent = "Top " + top.length + " " + GROUP_WORDS[grouping]
      + " over time (stacked, by peak size)";
    const rest = Array.from(v.total);
    const traces = top.map((j) => {
      const y = series(d, j, "size");
      for (let i = 0; i < d.n; i++) rest[i] -= y[i];
      return sizeTrace(groupName(d.kind, d.groups[j]), x, y,
                       { type: "scatter", stackgroup: "top", line: { width: 0.5 } });
    });
    if (rest.some((value) => value > 0.5)) {
      traces.push(sizeTrace("everything else", x, rest.map((value) => Math.max(0, value)),
                            { type: "scatter", stackgroup: "top", line: { width: 0.5 },
                              fillcolor: "rgba(160,160,160,0.4)" }));
    }
    Plotly.react("stacked", traces, baseLayout({ showlegend: true }), PLOT_CONFIG);
  }

  let leakRun = 0;
  function drawLeaks(processIndex, grouping) {
    const v = view(processIndex, grouping);
    const d = v.dense;
    const box = $("leaks");
    for (const chart of box.querySelectorAll(".spark")) Plotly.purge(chart);
    box.textContent = "";
    const chosen = v.leaks.slice(0, state.leaks);
    report.leakCharts = 0;
    if (!chosen.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = "No " + GROUP_WORDS[grouping].replace(/s$/, "")
        + " grows steadily in this series.";
      box.appendChild(p);
      return;
    }
    const cards = chosen.map((j, rank) => {
      const card = document.createElement("div");
      card.className = "leak";
      card.dataset.group = String(j);
      const name = document.createElement("div");
      name.className = "name";
      name.textContent = "#" + (rank + 1) + " " + groupName(d.kind, d.groups[j]);
      const facts = document.createElement("div");
      facts.className = "muted";
      const o = j * d.n;
      facts.textContent = MARK + formatSize(v.slope[j] * 3600, true) + "/hour, R\u00b2 "
        + v.r2[j].toFixed(2) + ", " + MARK + formatSize(d.size[o], false) + " \u2192 "
        + MARK + formatSize(d.size[o + d.n - 1], false);
      const spark = document.createElement("div");
      spark.className = "spark";
      card.append(name, facts, spark);
      card.tabIndex = 0;
      card.addEventListener("click", () => select(j));
      card.addEventListener("keydown", (event) => {
        if (event.key === "Enter") select(j);
      });
      box.appendChild(card);
      return { j: j, spark: spark };
    });
    // One small chart per task: the page stays responsive while they draw.
    const run = ++leakRun;
    let next = 0;
    function drawOne() {
      if (run !== leakRun || next >= cards.length) return;
      const card = cards[next++];
      Plotly.newPlot(card.spark, [{
        type: "scatter", mode: "lines", x: v.times.dates, y: series(d, card.j, "size"),
        fill: "tozeroy", line: { width: 1.5, color: "#c0392b" },
      }], {
        margin: { l: 50, r: 8, t: 4, b: 20 }, showlegend: false,
        xaxis: { type: "date", nticks: 3 },
        yaxis: { tickformat: ".2~s", ticksuffix: "B", rangemode: "tozero", nticks: 3 },
      }, { staticPlot: true }).then(() => {
        report.leakCharts++;
        setTimeout(drawOne, 0);
      });
    }
    drawOne();
  }

  // --- table ------------------------------------------------------------

  function globToRegExp(pattern) {
    let out = "";
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i];
      if (c === "*") out += ".*";
      else if (c === "?") out += ".";
      else if (c === "[") {
        const end = pattern.indexOf("]", i + 2);
        if (end < 0) { out += "\\["; continue; }
        let body = pattern.slice(i + 1, end);
        if (body[0] === "!") body = "^" + body.slice(1);
        out += "[" + body.replace(/\\/g, "\\\\") + "]";
        i = end;
      } else out += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
    }
    return new RegExp("^" + out + "$", "s");
  }
  // fnmatch patterns; one without a wildcard matches as a substring.
  function makeMatcher(text) {
    const include = [], exclude = [];
    for (const word of text.split(/\s+/)) {
      if (!word || word === "-") continue;
      const negative = word[0] === "-";
      const pattern = negative ? word.slice(1) : word;
      const test = /[*?[]/.test(pattern)
        ? ((re) => (name) => re.test(name))(globToRegExp(pattern))
        : (name) => name.includes(pattern);
      (negative ? exclude : include).push(test);
    }
    return (name) => (!include.length || include.some((t) => t(name)))
      && !exclude.some((t) => t(name));
  }

  function tableRows(processIndex, grouping) {
    const v = view(processIndex, grouping);
    const d = v.dense, n = d.n;
    const rows = [];
    for (let j = 0; j < d.groups.length; j++) {
      const o = j * n;
      const last = d.size[o + n - 1], first = d.size[o];
      const previous = n > 1 ? d.size[o + n - 2] : last;
      if (!last && !first && !previous) continue;
      rows.push({
        j: j,
        name: groupName(d.kind, d.groups[j]),
        filename: groupFilename(d.kind, d.groups[j]),
        size: last,
        count: d.count[o + n - 1],
        first: last - first,
        previous: last - previous,
        countFirst: d.count[o + n - 1] - d.count[o],
      });
    }
    return rows;
  }

  function trend(delta) {
    return delta > 0 ? "up" : delta < 0 ? "down" : "";
  }

  let allRows = [];
  let visibleRows = [];
  function drawTable() {
    const tbody = $("table").tBodies[0];
    const matches = makeMatcher(state.filter);
    visibleRows = allRows.filter((row) => matches(row.filename));
    const key = state.sortKey, sign = state.sortDir === "asc" ? 1 : -1;
    visibleRows.sort(key === "name"
      ? (a, b) => sign * (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
      : (a, b) => sign * (a[key] - b[key]) || (a.name < b.name ? -1 : 1));
    for (const th of $("table").tHead.rows[0].cells) {
      if (th.dataset.key === key) th.dataset.sort = state.sortDir;
      else delete th.dataset.sort;
    }
    const fragment = document.createDocumentFragment();
    for (const row of visibleRows.slice(0, state.shown)) {
      const tr = document.createElement("tr");
      tr.dataset.group = String(row.j);
      if (row.j === state.selected) tr.className = "selected";
      const cells = [
        [row.name, "name", row.name],
        [MARK + formatSize(row.size), "num", row.size],
        [MARK + formatCount(row.count), "num", row.count],
        [MARK + formatSize(row.first, true), "num " + trend(row.first), row.first],
        [MARK + formatSize(row.previous, true), "num " + trend(row.previous), row.previous],
        [MARK + formatCount(row.countFirst, true), "num", row.countFirst],
      ];
      for (const [text, cls, value] of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        td.className = cls;
        td.dataset.value = String(value);
        tr.appendChild(td);
      }
      tr.tabIndex = 0;
      tr.addEventListener("click", () => select(row.j));
      tr.addEventListener("keydown", (event) => {
        if (event.key === "Enter") select(row.j);
      });
      fragment.appendChild(tr);
    }
    tbody.replaceChildren(fragment);
    const shown = Math.min(state.shown, visibleRows.length);
    const rowcount = $("rowcount");
    rowcount.dataset.total = String(visibleRows.length);
    rowcount.textContent = visibleRows.length.toLocaleString("en-US") + " of "
      + allRows.length.toLocaleString("en-US") + " " + GROUP_WORDS[state.grouping]
      + (shown < visibleRows.length ? " (first " + shown.toLocaleString("en-US") + " shown)" : "");
    $("more").hidden = shown >= visibleRows.length;
  }

  // --- history ----------------------------------------------------------

  function frameList(frameIds) {
    const ol = document.createElement("ol");
    for (const f of frameIds) {
      const li = document.createElement("li");
      li.textContent = frameName(f);
      ol.appendChild(li);
    }
    return ol;
  }

  function drawTracebacks(kind, g) {
    const box = $("traceback");
    box.textContent = "";
    const title = document.createElement("h3");
    title.textContent = "Traceback";
    box.appendChild(title);
    const note = document.createElement("p");
    note.className = "muted";
    box.appendChild(note);
    if (!META.tracebacks) {
      note.textContent = "The snapshots keep one frame per traceback: trace with more"
        + " frames (e.g. PYTRACEMALLOC=25) to see where the calls come from.";
      return;
    }
    if (kind === "file" || kind === "function") {
      note.textContent = "Group by line or traceback to see the tracebacks.";
      return;
    }
    if (kind === "traceback") {
      note.textContent = "Most recent call first.";
      box.appendChild(frameList(META.tracebacks[g]));
      return;
    }
    // A line: the biggest tracebacks ending there, at the latest snapshot.
    const d = baseDense(state.process, "traceback");
    const n = d.n;
    const found = [];
    d.groups.forEach((tb, j) => {
      if (META.tracebacks[tb][0] === g && d.size[j * n + n - 1] > 0) {
        found.push([d.size[j * n + n - 1], d.count[j * n + n - 1], tb]);
      }
    });
    found.sort((a, b) => b[0] - a[0]);
    note.textContent = found.length
      ? "The " + Math.min(5, found.length) + " biggest of " + found.length
        + " tracebacks ending on this line at the latest snapshot, most recent call first."
      : "Nothing allocated on this line is alive at the latest snapshot.";
    for (const [size, count, tb] of found.slice(0, 5)) {
      const div = document.createElement("div");
      div.className = "tb";
      div.textContent = MARK + formatSize(size) + " in " + MARK + formatCount(count)
        + " blocks";
      div.appendChild(frameList(META.tracebacks[tb]));
      box.appendChild(div);
    }
  }

  function select(j) {
    state.selected = j;
    const v = view(state.process, state.grouping);
    const d = v.dense;
    const g = d.groups[j];
    $("history-panel").hidden = false;
    $("history-title").textContent = groupName(d.kind, g);
    for (const tr of $("table").tBodies[0].rows) {
      tr.className = tr.dataset.group === String(j) ? "selected" : "";
    }
    Plotly.react("history", [
      sizeTrace("size", v.times.dates, series(d, j, "size")),
      sizeTrace("blocks", v.times.dates, series(d, j, "count"),
                { yaxis: "y2", hovertemplate: "%{y}", line: { dash: "dot" } }),
    ], baseLayout({
      yaxis2: { overlaying: "y", side: "right", title: { text: "blocks" },
                rangemode: "tozero" },
    }), PLOT_CONFIG);
    drawTracebacks(d.kind, g);
    $("history-panel").scrollIntoView({ block: "nearest" });
  }

  // --- the page ---------------------------------------------------------

  function describe(processIndex) {
    const p = META.processes[processIndex];
    const first = META.snapshots[p.snapshots[0]];
    const last = META.snapshots[p.snapshots[p.snapshots.length - 1]];
    return { p: p, first: first, last: last };
  }

  function drawAll() {
    const { p, first, last } = describe(state.process);
    const grown = last.traced - first.traced;
    $("summary").textContent = META.snapshots.length.toLocaleString("en-US")
      + " snapshots of " + META.processes.length + " process"
      + (META.processes.length > 1 ? "es" : "") + ". Process " + p.pid + ": "
      + p.snapshots.length.toLocaleString("en-US") + " snapshots from " + first.timestamp
      + " to " + last.timestamp + "; traced " + MARK + formatSize(last.traced)
      + " (" + MARK + formatSize(grown, true) + " since the first).";
    $("table-title").textContent = "Latest snapshot (" + last.timestamp + ", "
      + last.file + ")";
    $("table").tHead.rows[0].cells[0].textContent =
      { line: "Line", file: "File", function: "Function",
        traceback: "Traceback" }[state.grouping];
    drawMemory(state.process);
    drawStacked(state.process, state.grouping);
    allRows = tableRows(state.process, state.grouping);
    state.selected = null;
    $("history-panel").hidden = true;
    drawTable();
    drawLeaks(state.process, state.grouping);
    flame.show(state.process);
  }

  let flame = null;
  function setUp() {
    flame = report.flame = window.PytracemallocFlame.create({
      META: META, columns: columns, formatSize: formatSize,
      formatCount: formatCount, MARK: MARK,
    });
    const processSelect = $("process");
    META.processes.forEach((p, index) => {
      const option = document.createElement("option");
      option.value = String(index);
      const { first, last } = describe(index);
      option.textContent = "pid " + p.pid + ": " + p.snapshots.length + " snapshots, "
        + first.timestamp + " \u2013 " + last.timestamp;
      processSelect.appendChild(option);
    });
    // The process with the most snapshots first (ties: the earliest).
    META.processes.forEach((p, index) => {
      if (p.snapshots.length > META.processes[state.process].snapshots.length) {
        state.process = index;
      }
    });
    processSelect.value = String(state.process);
    processSelect.disabled = META.processes.length < 2;
    processSelect.addEventListener("change", () => {
      state.process = Number(processSelect.value);
      drawAll();
    });

    const groupingSelect = $("grouping");
    const kinds = ["line", "file", "function"];
    if (META.tracebacks) kinds.push("traceback");
    for (const kind of kinds) {
      const option = document.createElement("option");
      option.value = kind;
      option.textContent = kind;
      groupingSelect.appendChild(option);
    }
    groupingSelect.value = state.grouping;
    groupingSelect.addEventListener("change", () => {
      state.grouping = groupingSelect.value;
      drawAll();
    });

    const topInput = $("top"), leakInput = $("leak-count");
    topInput.value = String(state.top);
    leakInput.value = String(state.leaks);
    topInput.addEventListener("change", () => {
      const value = Math.floor(Number(topInput.value));
      if (value >= 1) {
        state.top = value;
        drawStacked(state.process, state.grouping);
      }
    });
    leakInput.addEventListener("change", () => {
      const value = Math.floor(Number(leakInput.value));
      if (value >= 1) {
        state.leaks = value;
        drawLeaks(state.process, state.grouping);
      }
    });

    let filterTimer = null;
    $("filter").addEventListener("input", () => {
      clearTimeout(filterTimer);
      filterTimer = setTimeout(() => {
        state.filter = $("filter").value;
        state.shown = ROWS_STEP;
        drawTable();
      }, 120);
    });
    for (const th of $("table").tHead.rows[0].cells) {
      th.addEventListener("click", () => {
        const key = th.dataset.key;
        if (state.sortKey === key) {
          state.sortDir = state.sortDir === "asc" ? "desc" : "asc";
        } else {
          state.sortKey = key;
          state.sortDir = key === "name" ? "asc" : "desc";
        }
        drawTable();
      });
    }
    $("more").addEventListener("click", () => {
      state.shown += ROWS_STEP;
      drawTable();
    });

    if (SAMPLE_BYTES.length) {
      const box = $("sampled");
      box.hidden = false;
      box.textContent = "Estimates: "
        + (SAMPLE_BYTES.length === META.snapshots.length ? "these snapshots were"
          : "some of these snapshots were")
        + " taken in sampled mode (one allocated byte in "
        + SAMPLE_BYTES.map((n) => formatSize(n)).join(", ")
        + " on average): their sizes and counts are unbiased estimates, marked ~.";
    }
    if (META.left_out.length) {
      const box = $("left-out");
      box.hidden = false;
      box.textContent = META.left_out.length + " file" + (META.left_out.length > 1 ? "s" : "")
        + " could not be read and " + (META.left_out.length > 1 ? "are" : "is") + " left out:";
      const ul = document.createElement("ul");
      for (const reason of META.left_out.slice(0, 10)) {
        const li = document.createElement("li");
        li.textContent = reason;
        ul.appendChild(li);
      }
      if (META.left_out.length > 10) {
        const li = document.createElement("li");
        li.textContent = "and " + (META.left_out.length - 10) + " more";
        ul.appendChild(li);
      }
      box.appendChild(ul);
    }
  }

  async function start() {
    try {
      if (typeof Plotly === "undefined") throw new Error("plotly.js is missing from the page");
      BUFFER = await decodeBlob();
      report.decodedAt = performance.now();
      setUp();
      $("status").hidden = true;
      $("main").hidden = false;
      drawAll();
      report.readyAt = performance.now();
      report.ready = true;
    } catch (error) {
      report.error = String(error && error.stack || error);
      const status = $("status");
      status.hidden = false;
      status.className = "error";
      status.textContent = "This report cannot be shown: " + error;
      console.error(error);
    }
  }

  report.select = select;
  report.formatSize = formatSize;
  start();
})();
