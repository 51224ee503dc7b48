/* seatmeter live dashboard. Plain JS, no build step; uPlot is the only library (window.uPlot).
 *
 * Reads the JSON API of seatmeterd (docs: DESIGN.md "HTTP API"): /api/v1/agents, /api/v1/bbb,
 * /api/v1/agents/{id}/latest and /series, /api/v1/curves, /api/v1/report (thresholds and the resource that
 * runs out first). When the API answers 401 the page asks for a
 * bearer token once and keeps it in sessionStorage.
 *
 * For tests and monitoring of the page itself, <html> carries data- attributes:
 *   data-state          loading | ready | error | token
 *   data-refreshes      completed refresh rounds
 *   data-agents         agents listed
 *   data-points-drawn   data points drawn by the live charts in their last draw (sum over charts)
 *   data-curve-points   points drawn by the curves chart; data-curve-fits: fit lines drawn
 *   data-curve-thresholds  JSON {agent: threshold drawn, in the API's unit of the metric}
 *   data-curve-bindings    JSON {agent: {resource, users}}: the capacity markers drawn (vertical lines)
 *   data-curve-experiment  the experiment whose window the curves show ("" for all history)
 * and each chart element carries its own data-points. */
(() => {
  "use strict";

  const LIVE_MS = 15 * 60 * 1000;     // window of the live charts
  const REFRESH_MS = 5000;            // agents, BBB, latest
  const CURVES_MS = 30000;            // curves change slowly
  const TOKEN_KEY = "seatmeter.token";
  const COLORS = ["#2563eb", "#e4572e", "#17a673", "#b07d00", "#8b5cf6", "#0891b2", "#db2777", "#65a30d"];
  const SERIES_METRICS = "cpu_ratio,working_set_bytes,net_rx_bps,net_tx_bps,users";

  const root = document.documentElement;
  const $ = (sel) => document.querySelector(sel);

  /* ---------- formatting ---------- */

  const dash = "–";
  const isNum = (v) => typeof v === "number" && Number.isFinite(v);

  function sig(v, digits) {
    const a = Math.abs(v);
    const d = a >= 100 ? 0 : a >= 10 ? Math.max(0, digits - 2) : Math.max(0, digits - 1);
    return v.toFixed(d);
  }
  function fmtBytes(v) {
    if (!isNum(v)) return dash;
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(Math.round(v)) : sig(v, 3)) + " " + units[i];
  }
  // Network rates: the API gives bytes per second, the page shows bits per second.
  function fmtBits(v) {
    if (!isNum(v)) return dash;
    const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"];
    let i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? String(Math.round(v)) : sig(v, 3)) + " " + units[i];
  }
  function fmtPct(v) { return isNum(v) ? sig(v * 100, 3) + " %" : dash; }
  function fmtCores(v) { return isNum(v) ? sig(v, 3) : dash; }
  function fmtInt(v) { return isNum(v) ? Math.round(v).toLocaleString("en") : dash; }
  function fmtUsers(v) { return isNum(v) ? (Number.isInteger(v) ? fmtInt(v) : sig(v, 3)) : dash; }
  function fmtAgo(ms) {
    if (!isNum(ms) || ms <= 0) return "never";
    const s = Math.round((Date.now() - ms) / 1000);
    if (s < 5) return "just now";
    if (s < 90) return s + " s ago";
    if (s < 90 * 60) return Math.round(s / 60) + " min ago";
    if (s < 36 * 3600) return Math.round(s / 3600) + " h ago";
    return new Date(ms).toLocaleString();
  }
  function fmtOffset(ms) {
    if (!isNum(ms)) return dash;
    if (Math.abs(ms) < 1000) return Math.round(ms) + " ms";
    return sig(ms / 1000, 3) + " s";
  }

  // Per-user curve metrics: how to show values (net values are scaled from bytes/s to bits/s).
  const CURVE_METRICS = {
    cpu_ratio: { name: "CPU, share of the limit", fmt: fmtPct, scale: 1, axis: "pct" },
    cpu_cores: { name: "CPU cores", fmt: (v) => isNum(v) ? sig(v, 3) + " cores" : dash, scale: 1, axis: "num" },
    working_set_bytes: { name: "Working set", fmt: fmtBytes, scale: 1, axis: "bytes" },
    net_rx_bps: { name: "Network received", fmt: fmtBits, scale: 8, axis: "bits" },
    net_tx_bps: { name: "Network sent", fmt: fmtBits, scale: 8, axis: "bits" },
    steal_ratio: { name: "CPU steal, share of the CPUs", fmt: fmtPct, scale: 1, axis: "pct" },
  };

  /* ---------- DOM ---------- */

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k === "style") el.style.cssText = v; // CSSOM, so a strict style-src policy allows it
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }
  function cssVar(name) { return getComputedStyle(root).getPropertyValue(name).trim(); }

  /* ---------- errors and status ---------- */

  const problems = new Map(); // source -> message
  function setProblem(source, msg) {
    if (msg) problems.set(source, msg); else problems.delete(source);
    const el = $("#error");
    el.replaceChildren(...[...problems.values()].map((m) => h("div", null, m)));
    el.hidden = problems.size === 0;
  }
  function setStatus(text, cls) {
    const el = $("#status");
    el.textContent = text;
    el.className = "status " + (cls || "");
  }

  /* ---------- API ---------- */

  class AuthError extends Error {}
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let waitingForToken = false;

  function authHeaders() {
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    return headers;
  }

  async function apiFetch(path) {
    let r;
    const sent = token;
    try {
      r = await fetch(path, { headers: authHeaders(), cache: "no-store" });
    } catch (e) {
      throw new Error("seatmeterd did not answer (" + e.message + ")");
    }
    if (r.status === 401) {
      askToken(!!sent);
      throw new AuthError("token required");
    }
    if (!r.ok) {
      let detail = "";
      try { detail = (await r.json()).error || ""; } catch (e) { /* not JSON */ }
      const err = new Error(`${path.split("?")[0]}: HTTP ${r.status}${detail ? " (" + detail + ")" : ""}`);
      err.status = r.status;
      throw err;
    }
    return r;
  }
  async function api(path) { return (await apiFetch(path)).json(); }

  function askToken(refused) {
    if (token) { token = ""; sessionStorage.removeItem(TOKEN_KEY); }
    waitingForToken = true;
    root.dataset.state = "token";
    $("#token-why").textContent = refused
      ? "The token was refused. Enter a valid bearer token for this seatmeter."
      : "This seatmeter requires an access token for its API.";
    const form = $("#token-form");
    if (form.hidden) { form.hidden = false; $("#token-input").focus(); }
    setStatus("waiting for a token", "warn");
  }

  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = $("#token-input").value.trim();
    if (!v) return;
    token = v;
    sessionStorage.setItem(TOKEN_KEY, v);
    $("#token-input").value = "";
    $("#token-form").hidden = true;
    waitingForToken = false;
    root.dataset.state = "loading";
    for (const a of agents.values()) a.seeded = false;
    refresh();
    refreshCurves();
  });

  /* ---------- charts ---------- */

  function niceIncrs(base, steps, maxExp) {
    const out = [];
    for (let e = 0; e <= maxExp; e++) for (const m of steps) out.push(m * Math.pow(base, e));
    return out;
  }
  const BYTE_INCRS = niceIncrs(1024, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512], 5);

  // Axis labels are short (the chart title names the unit): "50%", "1 GiB", "12 Mb/s".
  const trimZeros = (t) => t.replace(/\.0+(?=\D|$)/, "").replace(/(\.\d*?)0+(?=\D|$)/, "$1");
  function axisValues(kind) {
    switch (kind) {
      case "pct": return (u, splits) => splits.map((v) => trimZeros(sig(v * 100, 2)) + "%");
      case "bytes": return (u, splits) => splits.map((v) => v === 0 ? "0" : trimZeros(fmtBytes(v)));
      case "bits": return (u, splits) => splits.map((v) => v === 0 ? "0" : trimZeros(fmtBits(v)).replace("bit/s", "b/s"));
      case "users": return (u, splits) => splits.map((v) => Number.isInteger(v) ? String(v) : "");
      case "time": return (u, splits) => splits.map((v) => new Date(v * 1000).toLocaleTimeString([],
        { hour: "2-digit", minute: "2-digit" }));
      default: return (u, splits) => splits.map((v) => trimZeros(sig(v, 3)));
    }
  }

  // Width of a y axis: its widest label plus the tick and a gap.
  const measureCtx = document.createElement("canvas").getContext("2d");
  function axisSize(u, values, axisIdx, cycleNum) {
    const axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    measureCtx.font = "11px system-ui, sans-serif";
    let w = 0;
    for (const v of values || []) w = Math.max(w, measureCtx.measureText(v).width);
    return Math.ceil(w) + 14;
  }

  function themedAxis(extra) {
    const fg = cssVar("--muted") || "#666";
    const grid = cssVar("--grid") || "rgba(0,0,0,.08)";
    return Object.assign({
      stroke: fg,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1, size: 4 },
      font: "11px system-ui, sans-serif",
    }, extra);
  }

  function countDrawn(u) {
    // Points inside the visible x range with a value, over every shown series.
    const xs = u.data[0];
    const lo = u.scales.x.min, hi = u.scales.x.max;
    let n = 0;
    for (let s = 1; s < u.series.length; s++) {
      if (!u.series[s].show) continue;
      const ys = u.data[s];
      for (let i = 0; i < xs.length; i++)
        if (ys[i] !== null && ys[i] !== undefined && xs[i] >= lo && xs[i] <= hi) n++;
    }
    return n;
  }

  const liveCharts = new Set();
  function updateDrawnCounters() {
    let n = 0;
    for (const c of liveCharts) n += Number(c.root.dataset.points || 0);
    root.dataset.pointsDrawn = String(n);
  }

  function fitWidth(el) { return Math.max(160, Math.floor(el.clientWidth)); }

  const resizer = new ResizeObserver((entries) => {
    for (const e of entries) {
      const u = e.target._uplot;
      if (!u) continue;
      const w = fitWidth(e.target);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height: u.height });
    }
  });

  /* A small time chart: specs = [{label, color, fmt, stepped}], axis kind, y range function. The header
   * shows the newest value, or the hovered one. */
  function liveChart(parent, title, specs, kind, yRange) {
    const box = h("div", { class: "mini" });
    const values = specs.map((s) => h("span", { class: "v", style: `color:${s.color}` }, dash));
    const head = h("div", { class: "mini-head" }, h("span", { class: "t" }, title),
      h("span", { class: "vals" }, values.map((v, i) => specs.length > 1
        ? h("span", { class: "pair" }, h("span", { class: "k" }, specs[i].label + " "), v) : v)));
    const el = h("div", { class: "chart", dataset: { points: "0" } });
    box.append(head, el);
    parent.append(box);

    const showValues = (u, idx) => {
      specs.forEach((s, i) => {
        const ys = u.data[i + 1];
        let j = idx;
        if (j === null || j === undefined) { // newest non-null value
          j = ys.length - 1;
          while (j >= 0 && (ys[j] === null || ys[j] === undefined)) j--;
        }
        values[i].textContent = j >= 0 ? s.fmt(ys[j]) : dash;
      });
    };
    const opts = {
      width: fitWidth(el),
      height: 130,
      legend: { show: false },
      cursor: { y: false, points: { size: 6 } },
      padding: [8, 8, 0, 0],
      scales: { x: { time: true }, y: { range: yRange } },
      axes: [themedAxis({ space: 64, values: axisValues("time") }),
        themedAxis({ values: axisValues(kind), size: axisSize, incrs: kind === "bytes" ? BYTE_INCRS : undefined })],
      series: [{}].concat(specs.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 1.5,
        fill: specs.length === 1 ? s.color + "22" : undefined,
        spanGaps: false,
        points: { show: false },
        paths: s.stepped && uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
      }))),
      hooks: {
        draw: [(u) => { el.dataset.points = String(countDrawn(u)); updateDrawnCounters(); }],
        setCursor: [(u) => showValues(u, u.cursor.idx)],
        setData: [(u) => showValues(u, null)],
      },
    };
    const u = new uPlot(opts, [[]].concat(specs.map(() => [])), el);
    el._uplot = u;
    resizer.observe(el);
    const chart = { u, root: el, box };
    liveCharts.add(chart);
    return chart;
  }

  const rangeFrom0 = (minTop) => (u, min, max) => {
    const top = isNum(max) ? max : minTop;
    return [0, Math.max(minTop, top * 1.12)];
  };

  /* ---------- agents and live data ---------- */

  const agents = new Map(); // id -> state
  let agentOrder = [];

  function colorOf(id) {
    const i = agentOrder.indexOf(id);
    return COLORS[(i < 0 ? 0 : i) % COLORS.length];
  }

  function newAgentState(info) {
    return {
      info, latest: null, seeded: false,
      t: [], cpu: [], ws: [], rx: [], tx: [], users: [],
      card: null, charts: null, kpi: null,
    };
  }

  function virtBadge(virt) {
    const v = (virt || "unknown").toLowerCase();
    return h("span", { class: "badge virt-" + v.replace(/[^a-z0-9]/g, "") }, v);
  }
  function stateBadge(a) {
    return a.connected
      ? h("span", { class: "state on" }, "connected")
      : h("span", { class: "state off", title: "last seen " + fmtAgo(a.last_seen_ms) }, "gone " + fmtAgo(a.last_seen_ms));
  }

  function buildCard(st) {
    const id = st.info.id;
    const kpi = {
      cpu: h("b", null, dash), cpuSub: h("small", null, ""),
      ws: h("b", null, dash), wsSub: h("small", null, ""),
      net: h("b", null, dash), netSub: h("small", null, ""),
      users: h("b", null, dash), usersSub: h("small", null, ""),
      state: h("span", null), virt: h("span", null), host: h("span", { class: "host" }),
      swatch: h("span", { class: "swatch" }),
    };
    const card = h("article", { class: "card", dataset: { agent: id } },
      h("header", { class: "card-head" },
        h("h3", null, kpi.swatch, id),
        kpi.virt, kpi.state, kpi.host),
      h("div", { class: "kpis" },
        h("div", { class: "kpi" }, h("span", null, "CPU"), kpi.cpu, kpi.cpuSub),
        h("div", { class: "kpi" }, h("span", null, "Working set"), kpi.ws, kpi.wsSub),
        h("div", { class: "kpi" }, h("span", null, "Network in / out"), kpi.net, kpi.netSub),
        h("div", { class: "kpi" }, h("span", null, "Participants"), kpi.users, kpi.usersSub)));
    const grid = h("div", { class: "minis" });
    card.append(grid);
    $("#live").append(card);
    const c = cssVar("--accent") || COLORS[0];
    st.charts = {
      cpu: liveChart(grid, "CPU of the limit", [{ label: "CPU", color: c, fmt: fmtPct }], "pct", rangeFrom0(1)),
      ws: liveChart(grid, "Working set", [{ label: "working set", color: "#17a673", fmt: fmtBytes }], "bytes",
        rangeFrom0(1024 * 1024)),
      net: liveChart(grid, "Network", [{ label: "in", color: "#2563eb", fmt: fmtBits },
        { label: "out", color: "#e4572e", fmt: fmtBits }], "bits", rangeFrom0(1000)),
      users: liveChart(grid, "Participants", [{ label: "users", color: "#8b5cf6", fmt: fmtUsers, stepped: true }],
        "users", rangeFrom0(4)),
    };
    st.card = card;
    st.kpi = kpi;
  }

  function dropCard(st) {
    for (const c of Object.values(st.charts || {})) {
      resizer.unobserve(c.root);
      c.u.destroy();
      liveCharts.delete(c);
    }
    if (st.card) st.card.remove();
    updateDrawnCounters();
  }

  function updateCardHead(st) {
    const a = st.info, k = st.kpi;
    k.swatch.style.background = colorOf(a.id); // the order, so the colour, changes when agents come and go
    k.virt.replaceChildren(virtBadge(a.virt));
    k.state.replaceChildren(stateBadge(a));
    const labels = Object.entries(a.labels || {}).map(([key, v]) => `${key}=${v}`).join(" · ");
    k.host.textContent = [a.hostname ? "on " + a.hostname : "", labels].filter(Boolean).join(" · ");
  }

  function updateKpis(st) {
    const a = st.info, l = st.latest || {}, k = st.kpi;
    k.cpu.textContent = fmtPct(l.cpu_ratio);
    let sub = isNum(l.cpu_cores) ? `${fmtCores(l.cpu_cores)} of ${fmtCores(a.effective_cpus)} cores` : "";
    if (isNum(l.throttled_ratio) && l.throttled_ratio > 0.0005) sub += ` · throttled ${fmtPct(l.throttled_ratio)}`;
    // Steal (VMs only): CPU the hypervisor gave to others, not counted in the share above.
    if (isNum(l.steal_ratio)) sub += ` · steal ${fmtPct(l.steal_ratio)}`;
    k.cpuSub.textContent = sub;
    k.ws.textContent = fmtBytes(l.working_set_bytes);
    k.wsSub.textContent = isNum(a.memory_limit_bytes) ? "of " + fmtBytes(a.memory_limit_bytes) +
      (isNum(l.working_set_bytes) ? ` (${fmtPct(l.working_set_bytes / a.memory_limit_bytes)})` : "") : "no limit";
    k.net.textContent = `${fmtBits(isNum(l.net_rx_bps) ? l.net_rx_bps * 8 : null)}`;
    k.netSub.textContent = `out ${fmtBits(isNum(l.net_tx_bps) ? l.net_tx_bps * 8 : null)}`;
    k.users.textContent = fmtUsers(l.users);
    k.usersSub.textContent = a.bbb ? "on " + a.bbb : "no BBB server";
    st.card.classList.toggle("stale", !a.connected);
  }

  function appendRows(st, rows) {
    let last = st.t.length ? st.t[st.t.length - 1] : -Infinity;
    for (const r of rows) {
      if (!isNum(r.time_ms)) continue;
      const t = r.time_ms / 1000;
      if (t <= last) continue;
      last = t;
      st.t.push(t);
      st.cpu.push(isNum(r.cpu_ratio) ? r.cpu_ratio : null);
      st.ws.push(isNum(r.working_set_bytes) ? r.working_set_bytes : null);
      st.rx.push(isNum(r.net_rx_bps) ? r.net_rx_bps * 8 : null);
      st.tx.push(isNum(r.net_tx_bps) ? r.net_tx_bps * 8 : null);
      st.users.push(isNum(r.users) ? r.users : null);
    }
    // Keep the window (by the newest sample, so an agent with a skewed clock still shows its data).
    const cut = last - LIVE_MS / 1000;
    let drop = 0;
    while (drop < st.t.length && st.t[drop] < cut) drop++;
    if (drop) for (const k of ["t", "cpu", "ws", "rx", "tx", "users"]) st[k].splice(0, drop);
  }

  function redrawCharts(st) {
    const end = st.t.length ? Math.max(st.t[st.t.length - 1], Date.now() / 1000) : Date.now() / 1000;
    const start = end - LIVE_MS / 1000;
    const set = (c, ...ys) => {
      c.u.batch(() => {
        c.u.setData([st.t, ...ys], false);
        c.u.setScale("x", { min: start, max: end });
      });
    };
    set(st.charts.cpu, st.cpu);
    set(st.charts.ws, st.ws);
    set(st.charts.net, st.rx, st.tx);
    set(st.charts.users, st.users);
  }

  async function refreshAgent(st) {
    const id = encodeURIComponent(st.info.id);
    if (!st.seeded) {
      const to = Date.now();
      const rows = await api(`/api/v1/agents/${id}/series?from=${to - LIVE_MS}&to=${to}&metrics=${SERIES_METRICS}`);
      st.t.length = 0;
      for (const k of ["cpu", "ws", "rx", "tx", "users"]) st[k].length = 0;
      appendRows(st, Array.isArray(rows) ? rows : []);
      st.seeded = true;
    }
    if (!isNum(st.info.last_seen_ms) && !st.info.connected) { redrawCharts(st); return; }
    let latest = null;
    try {
      latest = await api(`/api/v1/agents/${id}/latest`);
    } catch (e) {
      if (e.status !== 404) throw e; // 404: no sample stored yet
    }
    st.latest = latest;
    const lastT = st.t.length ? st.t[st.t.length - 1] * 1000 : null;
    if (latest && isNum(latest.time_ms) && (lastT === null || latest.time_ms > lastT)) {
      // Fetch every raw sample since the last point (not only the newest), so a slow tab leaves no gaps.
      const from = lastT === null ? latest.time_ms - LIVE_MS : lastT + 1;
      const rows = await api(`/api/v1/agents/${id}/series?from=${Math.round(from)}&to=${latest.time_ms}` +
        `&step=raw&limit=5000&metrics=${SERIES_METRICS}`);
      appendRows(st, Array.isArray(rows) && rows.length ? rows : [latest]);
    }
    updateKpis(st);
    redrawCharts(st);
  }

  function renderAgentsTable() {
    const tbody = $("#agents tbody");
    tbody.replaceChildren(...agentOrder.map((id) => {
      const st = agents.get(id), a = st.info, l = st.latest || {};
      return h("tr", { dataset: { agent: id } },
        h("th", { scope: "row" }, h("span", { class: "swatch", style: `background:${colorOf(id)}` }), id),
        h("td", null, virtBadge(a.virt)),
        h("td", null, a.hostname || dash),
        h("td", null, stateBadge(a)),
        h("td", { class: "num", title: "effective CPUs (what nproc says)" },
          isNum(a.effective_cpus) ? `${fmtCores(a.effective_cpus)} (${fmtInt(a.cpu_count)})` : dash),
        h("td", { class: "num" }, isNum(a.memory_limit_bytes) ? fmtBytes(a.memory_limit_bytes) : "none"),
        h("td", { class: "num" }, fmtPct(l.cpu_ratio)),
        h("td", { class: "num" }, fmtBytes(l.working_set_bytes)),
        h("td", { class: "num" }, `${fmtBits(isNum(l.net_rx_bps) ? l.net_rx_bps * 8 : null)} / ` +
          `${fmtBits(isNum(l.net_tx_bps) ? l.net_tx_bps * 8 : null)}`),
        h("td", { class: "num" }, fmtUsers(l.users)),
        h("td", null, a.bbb || dash),
        h("td", { class: "num" }, fmtOffset(a.clock_offset_ms)));
    }));
    const empty = agentOrder.length === 0;
    $("#agents").hidden = empty;
    $("#agents-empty").hidden = !empty;
    $("#live-empty").hidden = !empty;
    root.dataset.agents = String(agentOrder.length);
  }

  function renderBbb(list) {
    const tbody = $("#bbb tbody");
    tbody.replaceChildren(...list.map((b) => {
      const up = b.up === true || b.up === 1 ? "up" : b.up === false || b.up === 0 ? "down" : "unknown";
      return h("tr", { dataset: { bbb: b.name } },
        h("th", { scope: "row" }, b.name),
        h("td", null, h("span", { class: "state " + (up === "up" ? "on" : up === "down" ? "bad" : "off") }, up)),
        h("td", null, fmtAgo(b.last_poll_ms)),
        ...["meetings", "participants", "listeners", "voice", "video", "moderators", "breakouts"].map((k) =>
          h("td", { class: "num" }, fmtInt(b[k]))),
        h("td", { class: "err" }, b.error || ""));
    }));
    $("#bbb").hidden = list.length === 0;
    $("#bbb-empty").hidden = list.length !== 0;
  }

  let refreshTimer = null, refreshRunning = false, refreshes = 0;

  async function refresh() {
    clearTimeout(refreshTimer);
    if (refreshRunning || waitingForToken) return;
    refreshRunning = true;
    let ok = true;
    try {
      const [list, bbb] = await Promise.all([api("/api/v1/agents"), api("/api/v1/bbb")]);
      setProblem("api", null);
      const ids = list.map((a) => a.id).sort((x, y) => x.localeCompare(y));
      let gone = false;
      for (const [id, st] of agents) if (!ids.includes(id)) { dropCard(st); agents.delete(id); gone = true; }
      const fresh = ids.some((id) => !agents.has(id));
      agentOrder = ids;
      for (const a of list) {
        let st = agents.get(a.id);
        if (!st) { st = newAgentState(a); agents.set(a.id, st); }
        st.info = a;
      }
      if (fresh) // keep cards in id order, build the missing ones
        for (const id of ids) {
          const st = agents.get(id);
          if (!st.card) buildCard(st);
          $("#live").append(st.card);
        }
      if (fresh || gone) renderCurveAgentChoices();
      for (const id of ids) updateCardHead(agents.get(id));
      renderBbb(Array.isArray(bbb) ? bbb : []);

      const results = await Promise.allSettled(ids.map((id) => refreshAgent(agents.get(id))));
      const failed = results.map((r, i) => [r, ids[i]]).filter(([r]) => r.status === "rejected");
      if (failed.some(([r]) => r.reason instanceof AuthError)) throw new AuthError();
      setProblem("agents", failed.length ? failed.map(([r, id]) => `${id}: ${r.reason.message}`).join("; ") : null);
      renderAgentsTable();
      if (fresh || gone || refreshes === 0) refreshCurves();
    } catch (e) {
      ok = false;
      if (!(e instanceof AuthError)) {
        setProblem("api", e.message);
        setStatus("seatmeterd unreachable, retrying", "bad");
        root.dataset.state = "error";
      }
    } finally {
      refreshRunning = false;
    }
    if (ok) {
      refreshes++;
      root.dataset.refreshes = String(refreshes);
      root.dataset.state = "ready";
      const n = agentOrder.length, on = agentOrder.filter((id) => agents.get(id).info.connected).length;
      setStatus(`${n} agent${n === 1 ? "" : "s"}, ${on} connected · updated ${new Date().toLocaleTimeString()}`,
        "ok");
    }
    if (!waitingForToken) refreshTimer = setTimeout(refresh, document.hidden ? REFRESH_MS * 4 : REFRESH_MS);
  }

  /* ---------- per-user curves ---------- */

  const curveSel = new Set();     // selected agent ids
  let curveSelTouched = false;    // the user chose: do not auto-select new agents
  let curveChart = null, curveTimer = null, curveSeq = 0;

  function renderCurveAgentChoices() {
    const fs = $("#curve-agents");
    if (!curveSelTouched) {
      curveSel.clear();
      for (const id of agentOrder.slice(0, COLORS.length)) curveSel.add(id);
    }
    for (const id of [...curveSel]) if (!agentOrder.includes(id)) curveSel.delete(id);
    fs.replaceChildren(h("legend", null, "Agents"), ...agentOrder.map((id) => {
      const cb = h("input", { type: "checkbox", value: id, checked: curveSel.has(id) });
      cb.addEventListener("change", () => {
        curveSelTouched = true;
        if (cb.checked) curveSel.add(id); else curveSel.delete(id);
        refreshCurves();
      });
      return h("label", { class: "chk" }, cb, h("span", { class: "swatch", style: `background:${colorOf(id)}` }), id);
    }));
  }

  function curveQuery(format) {
    const q = new URLSearchParams();
    for (const id of agentOrder) if (curveSel.has(id)) q.append("agent", id);
    q.set("metric", $("#curve-metric").value);
    if (curveExperiment()) q.set("experiment", curveExperiment());
    if (format) q.set("format", format);
    return "/api/v1/curves?" + q.toString();
  }

  /* The window: all history or a named experiment ([experiment NAME] in the config or created with POST
   * /api/v1/experiments), listed afresh at each curves refresh. */
  const curveExperiment = () => $("#curve-experiment").value;
  function renderExperiments(list) {
    const sel = $("#curve-experiment"), keep = sel.value;
    const day = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 16);
    sel.replaceChildren(h("option", { value: "" }, "All history"), ...list.map((e) =>
      h("option", { value: e.name }, `${e.name} (${day(e.from_ms)} – ${day(e.to_ms)} UTC)`)));
    sel.value = list.some((e) => e.name === keep) ? keep : "";
    root.dataset.curveExperiment = sel.value;
  }
  $("#curve-experiment").addEventListener("change", () => refreshCurves());

  // The report: per agent every resource's threshold and capacity, and the resource that binds first.
  function reportQuery() {
    const q = new URLSearchParams();
    for (const id of agentOrder) if (curveSel.has(id)) q.append("agent", id);
    if (curveExperiment()) q.set("experiment", curveExperiment());
    return "/api/v1/report?" + q.toString();
  }

  const RESOURCE_NAMES = { cpu: "CPU", memory: "memory", net_rx: "network in", net_tx: "network out" };

  $("#curve-metric").addEventListener("change", () => refreshCurves());

  // With a token, a plain link cannot carry the Authorization header: fetch and save the file instead.
  $("#curve-csv").addEventListener("click", async (ev) => {
    if (!token) return;
    ev.preventDefault();
    try {
      const blob = await (await apiFetch(curveQuery("csv"))).blob();
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: `seatmeter-curves-${$("#curve-metric").value}.csv` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      if (!(e instanceof AuthError)) setProblem("csv", "CSV: " + e.message);
    }
  });

  /* Builds aligned uPlot data: x = union of participant counts (plus 0 and the capacities drawn); per agent
   * the mean and p95 as points, the fit as a line, the capacity as one marker, and the threshold line(s). */
  function curveData(resp, metric, bindings) {
    const m = CURVE_METRICS[metric];
    const list = (resp && Array.isArray(resp.agents) ? resp.agents : []).filter((c) => curveSel.has(c.agent));
    let maxUsers = 0;
    for (const c of list) for (const p of c.points || []) if (isNum(p.users)) maxUsers = Math.max(maxUsers, p.users);
    const xMax = Math.max(10, maxUsers * 4);  // capacities beyond 4x what was seen are listed, not drawn
    // Each agent's single answer (the binding resource's capacity), drawn as a vertical line.
    const binds = list.map((c) => ({ agent: c.agent, b: bindings.get(c.agent) }))
      .filter((x) => x.b && isNum(x.b.users) && x.b.users >= 0 && x.b.users <= xMax);
    const xsSet = new Set([0, ...binds.map((x) => x.b.users)]);
    for (const c of list) {
      for (const p of c.points || []) if (isNum(p.users)) xsSet.add(p.users);
      const cap = c.capacity || {};
      if (isNum(cap.users) && cap.users >= 0 && cap.users <= xMax) xsSet.add(cap.users);
    }
    const hasFit = (c) => c.fit && isNum(c.fit.slope) && isNum(c.fit.intercept);
    const capShown = (c) => c.capacity && isNum(c.capacity.users) && c.capacity.users >= 0 && c.capacity.users <= xMax;
    const fitEnd = Math.max(maxUsers, ...list.filter(capShown).map((c) => c.capacity.users));
    xsSet.add(fitEnd);
    const xs = [...xsSet].sort((a, b) => a - b);
    const idx = new Map(xs.map((x, i) => [x, i]));

    const series = [{ label: "participants" }];
    const data = [xs];
    const nulls = () => new Array(xs.length).fill(null);
    let fits = 0;
    list.forEach((c) => {
      const color = colorOf(c.agent);
      const mean = nulls(), p95 = nulls(), fit = nulls(), cap = nulls();
      for (const p of c.points || []) {
        if (!isNum(p.users)) continue;
        const i = idx.get(p.users);
        if (isNum(p.mean)) mean[i] = p.mean * m.scale;
        if (isNum(p.p95)) p95[i] = p.p95 * m.scale;
      }
      if (hasFit(c)) {
        fits++;
        const end = capShown(c) ? Math.max(maxUsers, c.capacity.users) : maxUsers;
        xs.forEach((x, i) => { if (x <= end) fit[i] = (c.fit.intercept + c.fit.slope * x) * m.scale; });
      }
      if (capShown(c) && isNum(c.capacity.threshold)) cap[idx.get(c.capacity.users)] = c.capacity.threshold * m.scale;
      series.push(
        { label: `${c.agent} mean`, stroke: color, fill: color, width: 0, paths: () => null,
          points: { show: true, size: 8, stroke: color, fill: color, width: 1 }, _kind: "mean", _agent: c.agent },
        { label: `${c.agent} p95`, stroke: color, width: 0, paths: () => null,
          points: { show: true, size: 7, stroke: color, fill: "transparent", width: 1.5 }, _kind: "p95", _agent: c.agent },
        { label: `${c.agent} fit`, stroke: color, width: 2, spanGaps: true, points: { show: false },
          _kind: "fit", _agent: c.agent },
        { label: `${c.agent} capacity`, stroke: color, width: 0, paths: () => null,
          points: { show: true, size: 13, stroke: cssVar("--bg") || "#fff", fill: color, width: 2 },
          _kind: "cap", _agent: c.agent });
      data.push(mean, p95, fit, cap);
    });
    // Threshold lines: one shared grey line when every agent has the same threshold, else one per agent.
    const ths = list.filter((c) => c.capacity && isNum(c.capacity.threshold));
    const uniq = [...new Set(ths.map((c) => c.capacity.threshold))];
    const thLines = uniq.length === 1 ? [{ th: uniq[0], color: cssVar("--muted") || "#888", name: "threshold" }]
      : ths.map((c) => ({ th: c.capacity.threshold, color: colorOf(c.agent), name: `${c.agent} threshold` }));
    for (const t of thLines) {
      series.push({ label: t.name, stroke: t.color, width: 1, dash: [5, 5], points: { show: false }, _kind: "th" });
      data.push(xs.map(() => t.th * m.scale));
    }
    const thresholds = Object.fromEntries(ths.map((c) => [c.agent, c.capacity.threshold]));
    return { list, series, data, fits, binds, thresholds };
  }

  // Vertical dashed lines at each agent's capacity, labelled with the resource that runs out first.
  function drawBindings(u, binds) {
    const ctx = u.ctx, top = u.bbox.top, bottom = u.bbox.top + u.bbox.height;
    ctx.save();
    ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
    ctx.textAlign = "right";
    binds.forEach(({ agent, b }, i) => {
      const x = Math.round(u.valToPos(b.users, "x", true));
      ctx.strokeStyle = ctx.fillStyle = colorOf(agent);
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.setLineDash([2 * devicePixelRatio, 3 * devicePixelRatio]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      ctx.fillText(`${agent}: ${RESOURCE_NAMES[b.resource] || b.resource} at ${fmtInt(Math.floor(b.users))}`,
        x - 4 * devicePixelRatio, top + (14 + 14 * i) * devicePixelRatio);
    });
    ctx.restore();
  }

  function renderCurveFits(list, metric) {
    const m = CURVE_METRICS[metric];
    const tbody = $("#curve-fits tbody");
    tbody.replaceChildren(...list.map((c) => {
      const pts = c.points || [];
      const samples = pts.reduce((s, p) => s + (isNum(p.samples) ? p.samples : 0), 0);
      const f = c.fit || {}, cap = c.capacity || {};
      const ok = isNum(f.slope) && isNum(f.intercept);
      let capText = dash;
      if (isNum(cap.users) && cap.users >= 0) capText = fmtInt(Math.floor(cap.users)) + " users";
      else if (isNum(cap.threshold) && ok) capText = "not reached";
      return h("tr", { dataset: { agent: c.agent } },
        h("th", { scope: "row" }, h("span", { class: "swatch", style: `background:${colorOf(c.agent)}` }), c.agent),
        h("td", null, virtBadge(c.virt || (agents.get(c.agent) || { info: {} }).info.virt)),
        h("td", { class: "num" }, fmtInt(pts.length)),
        h("td", { class: "num" }, fmtInt(samples)),
        h("td", { class: "num" }, ok ? m.fmt(f.intercept * m.scale) : dash),
        h("td", { class: "num" }, ok ? m.fmt(f.slope * m.scale) : pts.length ? "too few counts" : "no points"),
        h("td", { class: "num" }, isNum(f.r2) ? f.r2.toFixed(3) : dash),
        h("td", { class: "num" }, isNum(cap.threshold) ? m.fmt(cap.threshold * m.scale) : dash),
        h("td", { class: "num cap" }, capText));
    }));
  }

  function renderCurveLegend(list) {
    $("#curve-legend").replaceChildren(
      ...list.map((c) => h("span", { class: "item" }, h("span", { class: "swatch", style: `background:${colorOf(c.agent)}` }),
        c.agent)),
      h("span", { class: "item key" }, h("span", { class: "dot full" }), "mean"),
      h("span", { class: "item key" }, h("span", { class: "dot hollow" }), "p95"),
      h("span", { class: "item key" }, h("span", { class: "line" }), "fit"),
      h("span", { class: "item key" }, h("span", { class: "dot big" }), "projected capacity"),
      h("span", { class: "item key" }, h("span", { class: "line dashed" }), "threshold"),
      h("span", { class: "item key" }, h("span", { class: "line dotted vertical" }), "capacity: the resource that runs out first"));
  }

  /* The thresholds in effect per agent ([capacity] and [agent NAME] in the config; a KVM guest's CPU one
   * lowered by its steal) and the resource that runs out first, from the report. */
  function renderCapacityTable(report) {
    const list = (report && Array.isArray(report.agents) ? report.agents : []).filter((a) => curveSel.has(a.agent));
    const res = (a, r) => (a.resources || {})[r] || null;
    const cpuText = (e) => {
      if (!e || !isNum(e.threshold)) return dash;
      const steal = e.capacity && e.capacity.steal_share;
      return fmtPct(e.threshold) + " of the CPUs" + (isNum(steal) ? ` (after ${fmtPct(steal)} steal)` : "");
    };
    const memText = (e, id) => {
      if (!e || !isNum(e.threshold)) return dash;
      // The epoch's limit; rows from before limits epochs were recorded: the agent's current one.
      const lim = e.limits && isNum(e.limits.memory_limit_bytes) ? e.limits.memory_limit_bytes
        : (agents.get(id) || { info: {} }).info.memory_limit_bytes;
      return fmtBytes(e.threshold) + (isNum(lim) && lim > 0 ? ` (${fmtPct(e.threshold / lim)} of ${fmtBytes(lim)})` : "");
    };
    const netText = (rx, tx) => {
      const v = (e) => (e && isNum(e.threshold) ? fmtBits(e.threshold * 8) : null);
      if (!v(rx) && !v(tx)) return "no link speed";
      return `in ${v(rx) || dash} · out ${v(tx) || dash}`;
    };
    $("#capacity").hidden = list.length === 0;
    $("#capacity tbody").replaceChildren(...list.map((a) => {
      const b = a.binding;
      let runs = a.status === "no_points" ? "no points yet" : "nothing reaches its threshold";
      let cap = dash;
      if (b && isNum(b.users)) {
        runs = RESOURCE_NAMES[b.resource] || b.resource;
        const ci = Array.isArray(b.ci95) ? b.ci95 : [];
        cap = fmtInt(Math.floor(b.users)) + " users" +
          (ci.length === 2 ? ` [${isNum(ci[0]) ? fmtInt(Math.floor(ci[0])) : dash}–${isNum(ci[1]) ? fmtInt(Math.floor(ci[1])) : "∞"}]` : "");
      }
      return h("tr", { dataset: { agent: a.agent, binding: b ? b.resource : "" } },
        h("th", { scope: "row" }, h("span", { class: "swatch", style: `background:${colorOf(a.agent)}` }), a.agent),
        h("td", { class: "num" }, cpuText(res(a, "cpu"))),
        h("td", { class: "num" }, memText(res(a, "memory"), a.agent)),
        h("td", { class: "num" }, netText(res(a, "net_rx"), res(a, "net_tx"))),
        h("td", null, runs),
        h("td", { class: "num cap" }, cap));
    }));
  }

  function drawCurves(resp, metric, report) {
    const m = CURVE_METRICS[metric];
    const bindings = new Map(((report && report.agents) || []).filter((a) => a.binding).map((a) => [a.agent, a.binding]));
    const { list, series, data, fits, binds, thresholds } = curveData(resp, metric, bindings);
    const el = $("#curve-chart");
    if (curveChart) { resizer.unobserve(el); curveChart.destroy(); curveChart = null; }
    el.replaceChildren();
    const points = list.reduce((s, c) => s + (c.points || []).filter((p) => isNum(p.mean)).length, 0);
    $("#curves-empty").hidden = points > 0;
    $("#curves-empty").textContent = curveExperiment()
      ? `No curve data in the window of experiment ${curveExperiment()}.`
      : "No curve data yet: curves appear once samples arrive while the agent's BigBlueButton server reports participants.";
    el.hidden = points === 0;
    $("#curve-legend").hidden = points === 0;
    renderCurveFits(list, metric);
    renderCurveLegend(list);
    $("#curve-fits").hidden = list.length === 0;
    renderCapacityTable(report);
    root.dataset.curveFits = String(fits);
    root.dataset.curvePoints = "0";
    root.dataset.curveThresholds = JSON.stringify(points > 0 ? thresholds : {});
    root.dataset.curveBindings = JSON.stringify(points > 0
      ? Object.fromEntries(binds.map(({ agent, b }) => [agent, { resource: b.resource, users: b.users }])) : {});
    if (points === 0) return;

    const readout = $("#curve-readout");
    const opts = {
      width: fitWidth(el),
      height: Math.max(260, Math.min(420, Math.round(fitWidth(el) * 0.45))),
      legend: { show: false },
      cursor: { y: false, points: { show: false } },
      padding: [12, 12, 0, 0],
      scales: { x: { time: false, range: (u, lo, hi) => [0, Math.max(1, hi * 1.03)] },
        y: { range: (u, lo, hi) => [0, (isNum(hi) && hi > 0 ? hi : 1) * 1.1] } },
      axes: [themedAxis({ label: "participants", labelSize: 16, labelGap: 0, size: 28,
        labelFont: "12px system-ui, sans-serif", values: axisValues("users") }),
      themedAxis({ values: axisValues(m.axis), size: axisSize, incrs: m.axis === "bytes" ? BYTE_INCRS : undefined })],
      series,
      hooks: {
        draw: [(u) => {
          let n = 0;
          u.series.forEach((s, i) => {
            if (i && (s._kind === "mean" || s._kind === "p95")) n += u.data[i].filter((v) => v !== null).length;
          });
          el.dataset.points = String(n);
          root.dataset.curvePoints = String(n);
          drawBindings(u, binds);
        }],
        setCursor: [(u) => {
          const i = u.cursor.idx;
          if (i === null || i === undefined) { readout.textContent = "\u00a0"; return; }
          const x = u.data[0][i];
          const parts = [];
          for (const c of list) {
            const p = (c.points || []).find((q) => q.users === x);
            if (p) parts.push(`${c.agent}: mean ${m.fmt(p.mean * m.scale)}, p95 ${m.fmt(isNum(p.p95) ? p.p95 * m.scale : null)}` +
              `, max ${m.fmt(isNum(p.max) ? p.max * m.scale : null)} (${fmtInt(p.samples)} samples)`);
          }
          readout.textContent = `${fmtUsers(x)} participants` + (parts.length ? " · " + parts.join(" · ") : "");
        }],
      },
    };
    curveChart = new uPlot(opts, data, el);
    el._uplot = curveChart;
    resizer.observe(el);
  }

  async function refreshCurves() {
    clearTimeout(curveTimer);
    if (waitingForToken) return;
    const seq = ++curveSeq;
    const metric = $("#curve-metric").value;
    const csv = $("#curve-csv");
    csv.href = curveQuery("csv");
    csv.setAttribute("download", `seatmeter-curves-${metric}.csv`);
    const anySel = agentOrder.some((id) => curveSel.has(id));
    csv.hidden = !anySel;
    $("#curve-agents").hidden = agentOrder.length === 0;
    try {
      const experiments = await api("/api/v1/experiments");
      if (seq !== curveSeq) return;
      renderExperiments(Array.isArray(experiments) ? experiments : []);
      csv.href = curveQuery("csv");
      const [resp, report] = anySel ? await Promise.all([api(curveQuery()), api(reportQuery())])
        : [{ agents: [] }, { agents: [] }];
      if (seq !== curveSeq) return; // a newer request superseded this one
      setProblem("curves", null);
      drawCurves(resp, metric, report);
    } catch (e) {
      if (!(e instanceof AuthError)) setProblem("curves", "Curves: " + e.message);
    }
    if (seq === curveSeq && !waitingForToken) curveTimer = setTimeout(refreshCurves, CURVES_MS);
  }

  /* ---------- start ---------- */

  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  window.addEventListener("error", (ev) => setProblem("page", "Page error: " + ev.message));

  if (typeof window.uPlot !== "function") {
    setProblem("page", "The chart library (/assets/uPlot.iife.min.js) did not load.");
    root.dataset.state = "error";
    return;
  }
  refresh();
})();
