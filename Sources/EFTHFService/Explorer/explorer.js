// The efthf workspace explorer. Plain JavaScript drawing SVG; every number shown comes from the
// service's documented API (Specs/service.md): the summary (InspectTask), the yields at a point
// (YieldsTask), fit and scan jobs (FitTask, ScanTask). The page only draws and converts pulls to
// parameter values with the constraint centre and width the server reports.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
                 "#9c755f", "#bab0ac", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d"];
const MODIFIER_COLOURS = { normsys: "#4e79a7", histosys: "#f28e2b", shapesys: "#59a14f", staterror: "#76b7b2",
  lumi: "#edc948", normfactor: "#e15759", shapefactor: "#b07aa1", morphing: "#d62728", event_database: "#9467bd" };

const state = {
  id: null,            // workspace id
  summary: null,       // GET /v1/workspaces/ID/summary
  parameters: new Map(), // name → ParameterTable entry
  sampleColours: new Map(),
  fit: null,           // fit.json
  fitJob: null,        // the id of the fit job, whose covariance makes the post-fit band
  fitExclude: [],      // the modifiers that fit removed: the post-fit charts show its model
  edits: new Map(),    // parameter name → value set by dragging a pull
  wilson: new Map(),   // coefficient → slider value
  patchSet: null,
  uploadedText: null,  // the last workspace file read, for a background-only one that needs its patch
  yieldsRequest: 0,    // sequence number of the latest yields request
  yieldsBusy: false,
  yieldsPending: false,
};

const $ = (id) => document.getElementById(id);

// MARK: API

// The bearer token of the API (Specs/service.md, "Authentication"): from the address's fragment
// (#token=…, then kept in localStorage and removed from the address bar), else from localStorage,
// else asked for in the token form when the server answers 401.
const TOKEN_KEY = "efthf-token";

function readToken() {
  const match = /(?:^|&)token=([^&]*)/.exec(location.hash.slice(1));
  if (match) {
    const token = decodeURIComponent(match[1]);
    try { localStorage.setItem(TOKEN_KEY, token); } catch (e) { /* storage disabled: the token lives for this page only */ }
    history.replaceState(null, "", location.pathname + location.search);
    return token;
  }
  try { return localStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
}

let accessToken = readToken();

function authHeaders() {
  return accessToken ? { Authorization: `Bearer ${accessToken}` } : {};
}

function askForToken(message) {
  $("token-form").hidden = false;
  setStatus($("token-status"), message, true);
  $("token-input").focus();
}

async function api(method, path, body, raw) {
  const init = { method, headers: authHeaders() };
  if (body !== undefined) {
    init.body = raw ? body : JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  return answerOf(await fetch(path, init));
}

/// A response's JSON document; an error status throws the service's message (asking for a token
/// after a 401).
async function answerOf(response) {
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  if (!response.ok) {
    const message = json && json.error ? json.error : `${response.status} ${text}`;
    if (response.status === 401) askForToken(message);
    throw new Error(message);
  }
  return json;
}

async function waitForJob(job, onProgress) {
  for (;;) {
    const status = await api("GET", `/v1/jobs/${job.id}`);
    if (onProgress) onProgress(status);
    if (status.state === "done") return status;
    if (status.state === "failed" || status.state === "cancelled" || status.state === "interrupted") {
      throw new Error(status.error ? status.error.error : `the job is ${status.state}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function setStatus(element, text, isError) {
  element.textContent = text;
  element.classList.toggle("error", !!isError);
}

// MARK: Loading

async function loadExamples() {
  const select = $("example-select");
  try {
    const { examples } = await api("GET", "/v1/examples");
    select.replaceChildren(...examples.map((name) => new Option(name, name)));
    const preferred = examples.indexOf("workspace_morphing.json");
    if (preferred >= 0) select.selectedIndex = preferred;
    $("load-example").disabled = examples.length === 0;
    if (examples.length === 0) select.append(new Option("(none offered by this server)", ""));
  } catch (error) {
    setStatus($("status"), `Cannot list the examples: ${error.message}`, true);
  }
}

async function accept(status) {
  if (status.state === "awaiting_files") {
    state.id = status.id;
    $("database-row").hidden = false;
    setStatus($("status"), `The workspace names event-database files; upload: ${status.missing_files.join(", ")}`);
    return;
  }
  if (status.state !== "ready") throw new Error(status.error ? status.error.error : `the workspace is ${status.state}`);
  await openWorkspace(status.id);
}

async function uploadWorkspaceFile(file) {
  setStatus($("status"), `Uploading ${file.name}…`);
  try {
    const text = await file.text();
    state.uploadedText = text;
    state.id = null;
    await accept(await api("POST", "/v1/workspaces", text, true));
  } catch (error) {
    setStatus($("status"), `${file.name}: ${error.message}${state.patchSet ? "" : " — if it is a background-only workspace, choose its patch set below and apply a patch"}`, true);
    $("patch-row").hidden = false;
  }
}

async function uploadDatabases(files) {
  try {
    let status = null;
    for (const file of files) {
      const response = await fetch(`/v1/workspaces/${state.id}/files/${encodeURIComponent(file.name)}`, { method: "PUT", body: file, headers: authHeaders() });
      status = await response.json();
      if (response.status === 401) askForToken(status.error);
      if (!response.ok) throw new Error(status.error);
    }
    if (status) await accept(status);
  } catch (error) {
    setStatus($("status"), error.message, true);
  }
}

async function readPatchSet(file) {
  try {
    state.patchSet = JSON.parse(await file.text());
    // A pyhf PatchSet names its patches; a plain JSON Patch (an array of operations) is one patch.
    const names = Array.isArray(state.patchSet) ? [file.name.replace(/\.json$/, "")]
      : (state.patchSet.patches || []).map((p) => p.metadata && p.metadata.name).filter(Boolean);
    $("patch-select").replaceChildren(...names.map((n) => new Option(n, n)));
    setStatus($("status"), `Patch set ${file.name}: ${names.length} patch(es); choose one and apply it.`);
  } catch (error) {
    setStatus($("status"), `${file.name}: ${error.message}`, true);
  }
}

async function applyPatch() {
  if (!state.patchSet || !(state.id || state.uploadedText)) return;
  const patch = $("patch-select").value;
  setStatus($("status"), `Applying patch ${patch}…`);
  try {
    // A workspace the server holds is patched there; a background-only upload that is not a model
    // on its own (no POI without its signal) is sent again with the patch set.
    const status = state.id
      ? await api("POST", `/v1/workspaces/${state.id}/patched`, { patchset: state.patchSet, patch })
      : await api("POST", "/v1/patched", { workspace: JSON.parse(state.uploadedText), patchset: state.patchSet, patch });
    await accept(status);
  } catch (error) {
    setStatus($("status"), `Patch ${patch}: ${error.message}`, true);
  }
}

async function openWorkspace(id) {
  state.id = id;
  state.fit = null;
  state.fitJob = null;
  state.fitExclude = [];
  state.edits.clear();
  state.wilson.clear();
  setStatus($("status"), "Reading the summary…");
  const summary = await api("GET", `/v1/workspaces/${id}/summary`);
  state.summary = summary;
  state.parameters = new Map(summary.parameters.map((p) => [p.name, p]));
  const samples = [];
  for (const channel of summary.inspection.channels) for (const s of channel.samples) if (!samples.includes(s.name)) samples.push(s.name);
  state.sampleColours = new Map(samples.map((name, i) => [name, PALETTE[i % PALETTE.length]]));
  history.replaceState(null, "", `/?workspace=${id}`);
  $("permalink").href = `/?workspace=${id}`;
  $("content").hidden = false;
  $("database-row").hidden = true;
  $("patch-row").hidden = false;
  renderSummary();
  renderSliders();
  renderComposition();
  renderModifierChart();
  renderScanControls();
  renderFitSettings();
  clearFitCharts();
  await refreshYields();
  const ws = summary.inspection;
  setStatus($("status"), `Workspace ${id}: ${ws.channels.length} channel(s), ${samples.length} sample(s), ${ws.parameters.count} parameters, ${ws.warnings.length} warning(s).`);
  // explorer-charts.js draws its charts from the same summary.
  document.dispatchEvent(new CustomEvent("efthf:workspace"));
}

// MARK: Summary

function listItems(list, items) {
  list.replaceChildren(...items.map((item) => {
    const li = document.createElement("li");
    if (typeof item === "string") li.textContent = item; else { li.textContent = item.text; if (item.className) li.className = item.className; }
    return li;
  }));
}

function renderSummary() {
  const ws = state.summary.inspection;
  listItems($("samples"), [...state.sampleColours.keys()]);
  listItems($("channels"), ws.channels.map((c) => `${c.name} (${c.bins} bin${c.bins === 1 ? "" : "s"})`));
  listItems($("normfactors"), ws.normalisation_factors.length ? ws.normalisation_factors.map((n) =>
    `${n.name} (${n.fixed ? "fixed" : "floating"}${n.name === ws.poi ? ", POI" : ""})`) : ["none"]);
  const counts = [`${ws.parameters.count} in all, ${ws.parameters.fixed} fixed`];
  for (const [key, value] of Object.entries(ws.parameters)) if (key.startsWith("by_type_")) counts.push(`${key.slice(8)}: ${value}`);
  if (ws.poi) counts.push(`POI: ${ws.poi}`);
  counts.push(`measurement: ${ws.measurement}`);
  listItems($("parameter-counts"), counts);
  listItems($("warnings"), ws.warnings.length ? ws.warnings.map((w) => `[${w.kind}] ${w.message}`)
    : [{ text: "none", className: "none" }]);
}

// MARK: Wilson coefficients

function renderSliders() {
  const names = state.summary.wilson_coefficients;
  $("eft").hidden = names.length === 0;
  const holder = $("wc-sliders");
  holder.replaceChildren();
  for (const name of names) {
    const p = state.parameters.get(name);
    const [lo, hi] = p ? p.bounds : [-1, 1];
    const row = document.createElement("div");
    row.className = "slider";
    const label = document.createElement("label");
    label.textContent = name;
    label.htmlFor = `wc-${name}`;
    const input = document.createElement("input");
    Object.assign(input, { type: "range", id: `wc-${name}`, min: lo, max: hi, step: (hi - lo) / 200, value: p ? p.init : 0 });
    input.dataset.coefficient = name;
    const output = document.createElement("output");
    output.textContent = Number(input.value).toPrecision(3);
    input.addEventListener("input", () => {
      state.wilson.set(name, Number(input.value));
      output.textContent = Number(input.value).toPrecision(3);
      refreshYields();
    });
    // Which coefficients the fit floats (the others stay at 0); by default those the measurement
    // leaves free.
    const float = document.createElement("label");
    const box = document.createElement("input");
    Object.assign(box, { type: "checkbox", id: `float-${name}`, checked: p ? !p.fixed : true });
    box.dataset.coefficient = name;
    float.append(box, " float in the fit");
    row.append(label, input, output, float);
    holder.append(row);
  }
}

// MARK: Yields at the current point

/// The point the charts show: the best fit (when there is one), then the dragged pulls and the sliders.
function currentPoint() {
  const at = {};
  if (state.fit) for (const [name, p] of Object.entries(state.fit.parameters)) at[name] = p.value;
  for (const [name, value] of state.edits) at[name] = value;
  for (const [name, value] of state.wilson) at[name] = value;
  return at;
}

async function refreshYields() {
  if (state.yieldsBusy) { state.yieldsPending = true; return; }
  state.yieldsBusy = true;
  try {
    do {
      state.yieldsPending = false;
      const sequence = ++state.yieldsRequest;
      const request = { at: currentPoint() };
      // The ±1σ band of the totals, propagated by the server: the constraint widths before a fit,
      // the fit's covariance after it.
      if ($("band-toggle").checked) request.band = state.fitJob ? { fit_job: state.fitJob } : "constraints";
      if (state.fit && state.fitExclude.length) request.exclude = state.fitExclude;
      const report = await api("POST", `/v1/workspaces/${state.id}/yields`, request);
      if (sequence === state.yieldsRequest) {
        renderStacks(report);
        updateMode();
      }
    } while (state.yieldsPending);
  } catch (error) {
    setStatus($("status"), `Yields: ${error.message}`, true);
  } finally {
    state.yieldsBusy = false;
  }
}

/// The label of the prediction charts: pre- or post-fit, and whether pulls or sliders moved.
function updateMode() {
  const mode = $("yields-mode");
  const edited = state.edits.size > 0 || state.wilson.size > 0;
  mode.textContent = (state.fit ? "post-fit" : "pre-fit") + (edited ? ", modified" : "");
  mode.className = "mode" + (state.fit ? " postfit" : "") + (edited ? " edited" : "");
}

// MARK: SVG helpers

function el(name, attributes, parent) {
  const node = document.createElementNS(SVGNS, name);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, content, attributes) {
  const node = el("text", Object.assign({ x, y, "font-size": 11, fill: "#1d2430" }, attributes || {}), parent);
  node.textContent = content;
  return node;
}

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

function format(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

/// A figure with a caption, a download button and the SVG; returns the SVG.
/** A download button of a chart's title bar. */
function downloadButton(text, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "download";
  button.textContent = text;
  button.setAttribute("aria-label", label);
  return button;
}

function figure(holder, id, title, width, height) {
  let fig = holder.querySelector(`figure[data-chart="${id}"]`);
  if (!fig) {
    fig = document.createElement("figure");
    fig.className = "chart";
    fig.dataset.chart = id;
    holder.appendChild(fig);
  }
  fig.replaceChildren();
  const caption = document.createElement("figcaption");
  const span = document.createElement("span");
  span.textContent = title;
  const button = downloadButton("Download SVG", `Download ${title} as SVG`);
  button.dataset.download = id;
  const png = downloadButton("PNG", `Download ${title} as PNG`);
  png.dataset.downloadPng = id;
  png.addEventListener("click", () => downloadPNG(svg, id));
  const buttons = document.createElement("span");
  buttons.append(button, " ", png);
  caption.append(span, buttons);
  const svg = el("svg", { xmlns: SVGNS, width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  el("rect", { x: 0, y: 0, width, height, fill: "#fff" }, svg);
  button.addEventListener("click", () => downloadSVG(svg, id));
  fig.append(caption, svg);
  return svg;
}

function svgSource(svg) {
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg);
}

function save(blob, file) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = file;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function downloadSVG(svg, name) {
  save(new Blob([svgSource(svg)], { type: "image/svg+xml" }), `${name.replace(/[^A-Za-z0-9._-]+/g, "_")}.svg`);
}

/// The SVG rasterised by the browser at twice its size.
function downloadPNG(svg, name) {
  const width = Number(svg.getAttribute("width")), height = Number(svg.getAttribute("height"));
  const image = new Image();
  image.onload = () => {
    const canvas = document.createElement("canvas");
    canvas.width = 2 * width;
    canvas.height = 2 * height;
    const context = canvas.getContext("2d");
    context.scale(2, 2);
    context.drawImage(image, 0, 0, width, height);
    canvas.toBlob((blob) => save(blob, `${name.replace(/[^A-Za-z0-9._-]+/g, "_")}.png`), "image/png");
  };
  image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svgSource(svg));
}

// MARK: Stacked prediction vs data with the ratio panel

function renderStacks(report) {
  const holder = $("stack-charts");
  const names = new Set(report.channels.map((c) => `stack-${c.name}`));
  for (const fig of [...holder.children]) if (!names.has(fig.dataset.chart)) fig.remove();
  for (const channel of report.channels) drawStack(holder, channel);
}

function drawStack(holder, channel) {
  const n = channel.total.length;
  const samples = Object.entries(channel.samples);
  // Two charts side by side at 1280 px.
  const W = 590, H = 380, left = 62, right = 150, top = 12, mainH = 230, gap = 10, ratioH = 80;
  const plotW = W - left - right;
  const svg = figure(holder, `stack-${channel.name}`, `${channel.name}: prediction and data`, W, H);
  svg.dataset.channel = channel.name;
  const hatch = `hatch-${channel.name.replace(/[^A-Za-z0-9_-]+/g, "_")}`;
  const pattern = el("pattern", { id: hatch, patternUnits: "userSpaceOnUse", width: 6, height: 6, patternTransform: "rotate(45)" }, el("defs", {}, svg));
  el("rect", { width: 6, height: 6, fill: "#ffffff", "fill-opacity": 0.35 }, pattern);
  el("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#333", "stroke-width": 1.5 }, pattern);
  const observed = channel.observed;
  const sigma = channel.total_uncertainty;
  const upper = Math.max(...channel.total.map((t, b) => t + (sigma ? sigma[b] : 0)), ...observed.map((d) => d + Math.sqrt(Math.max(d, 0)))) * 1.15 || 1;
  const x = (b) => left + (b / n) * plotW;
  const y = (v) => top + mainH - (Math.max(v, 0) / upper) * mainH;
  // Stack: positive yields only (a negative morphed yield cannot be stacked; the total is drawn as a line).
  const base = new Array(n).fill(0);
  samples.forEach(([name, yields]) => {
    const colour = state.sampleColours.get(name) || "#999";
    for (let b = 0; b < n; b++) {
      const v = Math.max(yields[b], 0);
      if (v <= 0) continue;
      el("rect", { class: "bar", "data-sample": name, "data-bin": b, x: x(b), y: y(base[b] + v), width: Math.max(x(b + 1) - x(b) - 1, 1),
                   height: Math.max(y(base[b]) - y(base[b] + v), 0), fill: colour }, svg);
      base[b] += v;
    }
  });
  // Total prediction as a step outline (equal to the stack unless a yield is negative).
  let path = "";
  for (let b = 0; b < n; b++) path += `${b ? "L" : "M"}${x(b)},${y(channel.total[b])}H${x(b + 1)}`;
  el("path", { class: "total", d: path, fill: "none", stroke: "#1d2430", "stroke-width": 1.5 }, svg);
  // The ±1σ band of the total, when the server sent one.
  if (sigma) {
    for (let b = 0; b < n; b++) {
      el("rect", { class: "band", x: x(b), y: y(channel.total[b] + sigma[b]), width: x(b + 1) - x(b),
                   height: Math.max(y(channel.total[b] - sigma[b]) - y(channel.total[b] + sigma[b]), 0), fill: `url(#${hatch})`, stroke: "none" }, svg);
    }
  }
  // Data with Poisson √n error bars.
  for (let b = 0; b < n; b++) {
    const cx = (x(b) + x(b + 1)) / 2, d = observed[b], e = Math.sqrt(Math.max(d, 0));
    el("line", { x1: cx, x2: cx, y1: y(d - e), y2: y(d + e), stroke: "#000" }, svg);
    el("circle", { class: "data", cx, cy: y(d), r: 3, fill: "#000" }, svg);
  }
  // Axes.
  el("line", { x1: left, x2: left, y1: top, y2: top + mainH, stroke: "#000" }, svg);
  el("line", { x1: left, x2: left + plotW, y1: top + mainH, y2: top + mainH, stroke: "#000" }, svg);
  for (const t of niceTicks(0, upper, 5)) {
    el("line", { x1: left - 4, x2: left, y1: y(t), y2: y(t), stroke: "#000" }, svg);
    text(svg, left - 6, y(t) + 4, format(t), { "text-anchor": "end" });
  }
  text(svg, 14, top + mainH / 2, "events", { transform: `rotate(-90 14 ${top + mainH / 2})`, "text-anchor": "middle" });
  // Ratio panel: data / prediction.
  const r0 = top + mainH + gap, ratios = observed.map((d, b) => channel.total[b] > 0 ? d / channel.total[b] : NaN);
  const rmax = Math.max(1.5, ...ratios.filter(Number.isFinite).map((r) => Math.min(r * 1.1, 3)));
  const rmin = Math.min(0.5, ...ratios.filter(Number.isFinite).map((r) => Math.max(r * 0.9, 0)));
  const ry = (r) => r0 + ratioH - ((r - rmin) / (rmax - rmin)) * ratioH;
  el("rect", { x: left, y: r0, width: plotW, height: ratioH, fill: "none", stroke: "#000" }, svg);
  if (sigma) {
    for (let b = 0; b < n; b++) {
      if (!(channel.total[b] > 0)) continue;
      const rel = sigma[b] / channel.total[b];
      const hi = Math.max(Math.min(ry(1 + rel), r0 + ratioH), r0), lo = Math.max(Math.min(ry(1 - rel), r0 + ratioH), r0);
      el("rect", { class: "band", x: x(b), y: hi, width: x(b + 1) - x(b), height: lo - hi, fill: `url(#${hatch})` }, svg);
    }
  }
  el("line", { x1: left, x2: left + plotW, y1: ry(1), y2: ry(1), stroke: "#888", "stroke-dasharray": "4 3" }, svg);
  for (const t of niceTicks(rmin, rmax, 3)) text(svg, left - 6, ry(t) + 4, format(t), { "text-anchor": "end" });
  text(svg, 14, r0 + ratioH / 2, "data/pred.", { transform: `rotate(-90 14 ${r0 + ratioH / 2})`, "text-anchor": "middle" });
  for (let b = 0; b < n; b++) {
    if (!Number.isFinite(ratios[b])) continue;
    const cx = (x(b) + x(b + 1)) / 2, e = Math.sqrt(Math.max(observed[b], 0)) / channel.total[b];
    el("line", { x1: cx, x2: cx, y1: Math.max(ry(ratios[b] + e), r0), y2: Math.min(ry(ratios[b] - e), r0 + ratioH), stroke: "#000" }, svg);
    el("circle", { class: "ratio", cx, cy: Math.min(Math.max(ry(ratios[b]), r0), r0 + ratioH), r: 2.5, fill: "#000" }, svg);
  }
  // Bin edges by index (a pyhf workspace has no physical edges).
  const every = Math.ceil((n + 1) / 16);
  for (let b = 0; b <= n; b += every) {
    el("line", { x1: x(b), x2: x(b), y1: r0 + ratioH, y2: r0 + ratioH + 4, stroke: "#000" }, svg);
    text(svg, x(b), r0 + ratioH + 15, String(b), { "text-anchor": "middle" });
  }
  text(svg, left + plotW / 2, H - 4, "bin edge (index)", { "text-anchor": "middle" });
  // Legend.
  let ly = top + 4;
  el("circle", { cx: left + plotW + 16, cy: ly + 4, r: 3, fill: "#000" }, svg);
  text(svg, left + plotW + 26, ly + 8, "data");
  if (sigma) {
    ly += 16;
    el("rect", { x: left + plotW + 10, y: ly - 2, width: 12, height: 10, fill: `url(#${hatch})`, stroke: "#555" }, svg);
    text(svg, left + plotW + 26, ly + 7, state.fitJob ? "±1σ (fit covariance)" : "±1σ (constraints)");
  }
  for (const [name] of samples) {
    ly += 16;
    el("rect", { x: left + plotW + 10, y: ly - 2, width: 12, height: 10, fill: state.sampleColours.get(name) || "#999" }, svg);
    text(svg, left + plotW + 26, ly + 7, name.length > 18 ? name.slice(0, 17) + "…" : name);
  }
}

// MARK: Composition and modifier structure

function renderComposition() {
  const channels = state.summary.inspection.channels;
  const W = 600, rowH = 24, left = 150, right = 20, top = 10;
  const H = top + channels.length * rowH + 30 + Math.ceil(state.sampleColours.size / 4) * 16;
  const svg = figure($("composition"), "composition", "Composition per channel (normalised nominal yields)", W, H);
  const plotW = W - left - right;
  channels.forEach((c, i) => {
    const total = c.samples.reduce((s, x) => s + Math.max(x.yield, 0), 0) || 1;
    let x = left;
    const y = top + i * rowH;
    text(svg, left - 6, y + 15, c.name.length > 22 ? c.name.slice(0, 21) + "…" : c.name, { "text-anchor": "end" });
    for (const s of c.samples) {
      const w = (Math.max(s.yield, 0) / total) * plotW;
      const r = el("rect", { class: "bar", "data-sample": s.name, x, y: y + 2, width: w, height: rowH - 6, fill: state.sampleColours.get(s.name) }, svg);
      el("title", {}, r).textContent = `${c.name} / ${s.name}: ${format(s.yield)} (${(100 * Math.max(s.yield, 0) / total).toFixed(1)}%)`;
      x += w;
    }
  });
  const axisY = top + channels.length * rowH;
  for (const t of [0, 0.25, 0.5, 0.75, 1]) text(svg, left + t * plotW, axisY + 12, `${t * 100}%`, { "text-anchor": "middle" });
  let k = 0;
  for (const [name, colour] of state.sampleColours) {
    const lx = left + (k % 4) * (plotW / 4), ly = axisY + 22 + Math.floor(k / 4) * 16;
    el("rect", { x: lx, y: ly, width: 10, height: 10, fill: colour }, svg);
    text(svg, lx + 14, ly + 9, name.length > 14 ? name.slice(0, 13) + "…" : name);
    k++;
  }
}

function renderModifierChart() {
  const channels = state.summary.inspection.channels;
  const columns = [];   // [channel, sample, modifiers by type]
  const rows = [];      // modifier names, first seen first
  const types = new Set();
  for (const c of channels) for (const s of c.samples) {
    columns.push([c.name, s.name, s.modifiers]);
    for (const [type, names] of Object.entries(s.modifiers)) { types.add(type); for (const n of names) if (!rows.includes(n)) rows.push(n); }
  }
  const cell = Math.max(8, Math.min(18, Math.floor(560 / Math.max(columns.length, 1))));
  const rowH = Math.max(8, Math.min(14, Math.floor(1400 / Math.max(rows.length, 1))));
  const longest = Math.min(Math.max(...rows.map((r) => r.length), 4), 32);
  // Column labels are written at 60°: room for the longest (at most 26 characters shown).
  const longestColumn = Math.min(Math.max(...columns.map(([c, s]) => c.length + s.length + 3), 4), 26);
  const left = 10 + longest * 6.2, top = 20 + longestColumn * 4.8;
  const W = Math.max(left + columns.length * cell + 150, 420), H = top + rows.length * rowH + 20;
  const svg = figure($("modifiers"), "modifiers", "Modifier structure (channel × sample × modifier)", W, H);
  columns.forEach(([channel, sample], j) => {
    const x = left + j * cell + cell / 2;
    const label = `${channel} / ${sample}`;
    text(svg, x, top - 6, label.length > 26 ? label.slice(0, 25) + "…" : label, { transform: `rotate(-60 ${x} ${top - 6})`, "font-size": 9 });
  });
  rows.forEach((name, i) => {
    const y = top + i * rowH;
    text(svg, left - 4, y + rowH - 2, name.length > 32 ? name.slice(0, 31) + "…" : name, { "text-anchor": "end", "font-size": Math.min(10, rowH - 1) });
    if (i % 2 === 0) el("rect", { x: left, y, width: columns.length * cell, height: rowH, fill: "#f4f6f9" }, svg);
  });
  columns.forEach(([channel, sample, modifiers], j) => {
    for (const [type, names] of Object.entries(modifiers)) for (const name of names) {
      const i = rows.indexOf(name);
      const r = el("rect", { class: "bar cell", "data-type": type, x: left + j * cell + 1, y: top + i * rowH + 1, width: cell - 2, height: rowH - 2,
                             fill: MODIFIER_COLOURS[type] || "#555" }, svg);
      el("title", {}, r).textContent = `${channel} / ${sample}: ${type} ${name}`;
    }
  });
  let ly = top;
  for (const type of [...types].sort()) {
    const lx = left + columns.length * cell + 14;
    el("rect", { x: lx, y: ly, width: 10, height: 10, fill: MODIFIER_COLOURS[type] || "#555" }, svg);
    text(svg, lx + 14, ly + 9, type);
    ly += 15;
  }
}

// MARK: Fit, pulls and correlations

function clearFitCharts() {
  $("pulls").replaceChildren();
  $("correlations").replaceChildren();
  $("free-parameters").replaceChildren();
  setStatus($("fit-status"), "");
  $("reset-pulls").disabled = true;
}

/// The parameter sets of the model (Wilson coefficients aside) with their modifier types, size and
/// init, each with "fix at" and "exclude" controls that the next fit job sends as `fix` and `exclude`.
function renderFitSettings() {
  const sets = new Map();
  for (const p of state.summary.parameters) {
    if (state.summary.wilson_coefficients.includes(p.set)) continue;
    if (!sets.has(p.set)) sets.set(p.set, { name: p.set, types: p.modifier_types, inits: [] });
    sets.get(p.set).inits.push(p.init);
  }
  const poi = state.summary.inspection.poi;
  const body = $("fit-settings-table").tBodies[0];
  body.replaceChildren();
  for (const set of sets.values()) {
    const row = body.insertRow();
    row.dataset.set = set.name;
    row.dataset.count = set.inits.length;
    const cell = (content, className) => { const td = row.insertCell(); td.append(content); if (className) td.className = className; return td; };
    cell(set.name + (set.name === poi ? " (POI)" : ""), "text");
    cell(set.types.join(", "), "text");
    cell(String(set.inits.length));
    cell(set.inits.length === 1 ? format(set.inits[0]) : `${format(Math.min(...set.inits))} … ${format(Math.max(...set.inits))}`);
    const fix = Object.assign(document.createElement("input"), { type: "checkbox", checked: false, title: `fix ${set.name}` });
    fix.dataset.role = "fix";
    fix.setAttribute("aria-label", `fix ${set.name}`);
    const value = Object.assign(document.createElement("input"), { type: "number", step: "any", value: set.inits[0], size: 7 });
    value.dataset.role = "fix-value";
    value.setAttribute("aria-label", `value of ${set.name}`);
    value.style.width = "7em";
    const fixCell = cell(fix);
    fixCell.append(" ", value);
    const exclude = Object.assign(document.createElement("input"), { type: "checkbox", disabled: set.name === poi, title: `exclude ${set.name}` });
    exclude.dataset.role = "exclude";
    exclude.setAttribute("aria-label", `exclude ${set.name}`);
    cell(exclude);
    for (const input of [fix, exclude]) input.addEventListener("change", countFitSettings);
  }
  $("fit-settings-filter").value = "";
  countFitSettings();
}

/// The `fix` and `exclude` members of the next fit job: a vector set is fixed with one value for
/// every component.
function fitSettings() {
  const fix = {}, exclude = [];
  for (const row of $("fit-settings-table").tBodies[0].rows) {
    const set = row.dataset.set;
    if (row.querySelector('[data-role="exclude"]').checked) { exclude.push(set); continue; }
    if (!row.querySelector('[data-role="fix"]').checked) continue;
    const value = Number(row.querySelector('[data-role="fix-value"]').value);
    const count = Number(row.dataset.count);
    fix[set] = count === 1 ? value : new Array(count).fill(value);
  }
  return { fix, exclude };
}

function countFitSettings() {
  const { fix, exclude } = fitSettings();
  const parts = [];
  if (Object.keys(fix).length) parts.push(`${Object.keys(fix).length} fixed`);
  if (exclude.length) parts.push(`${exclude.length} excluded`);
  $("fit-settings-count").textContent = parts.length ? `(${parts.join(", ")})` : "";
}

function filterFitSettings() {
  const text = $("fit-settings-filter").value.trim().toLowerCase();
  for (const row of $("fit-settings-table").tBodies[0].rows) row.hidden = text !== "" && !row.dataset.set.toLowerCase().includes(text);
}

async function runFit() {
  const button = $("fit-button");
  button.disabled = true;
  setStatus($("fit-status"), "Fit submitted…");
  try {
    const ops = state.summary.wilson_coefficients.filter((name) => $(`float-${name}`).checked);
    const { fix, exclude } = fitSettings();
    const request = { kind: "fit" };
    if (ops.length) request.ops = ops;
    if (Object.keys(fix).length) request.fix = fix;
    if (exclude.length) request.exclude = exclude;
    const job = await api("POST", `/v1/workspaces/${state.id}/jobs`, request);
    const done = await waitForJob(job, (s) => setStatus($("fit-status"), `Fit ${s.state}…`));
    const fit = await api("GET", `/v1/jobs/${job.id}/files/fit.json`);
    const outcome = fit.converged ? "converged" : `did NOT converge (${fit.status})`;
    const settings = [ops.length ? `floating ${ops.join(", ")}` : "", Object.keys(fix).length ? `${Object.keys(fix).join(", ")} fixed` : "",
                      exclude.length ? `without ${exclude.join(", ")}` : ""].filter((t) => t);
    await showFit(fit, job.id, `Fit ${outcome}${settings.length ? ", " + settings.join("; ") : ""}: 2NLL = ${format(fit.twice_nll)}, ${done.seconds.toFixed(2)} s.`, exclude);
  } catch (error) {
    setStatus($("fit-status"), `Fit failed: ${error.message}`, true);
  } finally {
    button.disabled = false;
  }
}

/// Shows a fit's result (the document of `efthf fit --json`): the sliders of its free Wilson
/// coefficients at their best fit (counted as moved only when the user moves them again), pulls,
/// correlations, free parameters and the post-fit yields of the model it fitted (without the
/// modifiers in `exclude`).
async function showFit(fit, jobId, statusText, exclude) {
  state.fit = fit;
  state.fitJob = fit.correlations ? jobId : null;
  state.fitExclude = exclude || [];
  state.edits.clear();
  state.wilson.clear();
  for (const name of state.summary.wilson_coefficients) {
    const p = fit.parameters[name];
    const input = $(`wc-${name}`);
    if (p && !p.fixed && input) { input.value = p.value; input.nextElementSibling.textContent = Number(p.value).toPrecision(3); }
  }
  setStatus($("fit-status"), statusText, !fit.converged);
  renderPulls();
  renderCorrelations();
  renderFreeParameters();
  renderScanControls();
  $("reset-pulls").disabled = false;
  await refreshYields();
  document.dispatchEvent(new CustomEvent("efthf:fit"));
}

/// Constrained free parameters: pull (θ − θ₀)/σ₀ and constraint σ̂/σ₀ with the centre and width
/// the server reports for each.
function pullRows() {
  const rows = [];
  for (const [name, p] of Object.entries(state.fit.parameters)) {
    const info = state.parameters.get(name);
    if (p.fixed || !info || info.constraint === "unconstrained" || !(info.width > 0)) continue;
    rows.push({ name, info, fitted: p.value, sigma: p.uncertainty });
  }
  return rows;
}

function renderPulls() {
  const rows = pullRows();
  const W = 600, rowH = 18, left = 200, right = 30, top = 24;
  const H = top + Math.max(rows.length, 1) * rowH + 34;
  const svg = figure($("pulls"), "pulls", "Pulls (θ − θ₀)/σ₀ — drag to move", W, H);
  const plotW = W - left - right, extent = 3;
  const x = (v) => left + ((Math.max(-extent, Math.min(extent, v)) + extent) / (2 * extent)) * plotW;
  el("rect", { x: x(-2), y: top, width: x(2) - x(-2), height: rows.length * rowH, fill: "#fdf3c4" }, svg);
  el("rect", { x: x(-1), y: top, width: x(1) - x(-1), height: rows.length * rowH, fill: "#cfe8cf" }, svg);
  for (const t of [-3, -2, -1, 0, 1, 2, 3]) {
    el("line", { x1: x(t), x2: x(t), y1: top, y2: top + rows.length * rowH, stroke: t === 0 ? "#888" : "#ddd" }, svg);
    text(svg, x(t), top + rows.length * rowH + 14, String(t), { "text-anchor": "middle" });
  }
  text(svg, left + plotW / 2, H - 4, "(θ − θ₀)/σ₀", { "text-anchor": "middle" });
  if (rows.length === 0) text(svg, left, top + 12, "no constrained free parameters");
  rows.forEach((row, i) => {
    const cy = top + i * rowH + rowH / 2;
    const pull = (v) => (v - row.info.centre) / row.info.width;
    text(svg, left - 6, cy + 4, row.name.length > 30 ? row.name.slice(0, 29) + "…" : row.name, { "text-anchor": "end" });
    const fitted = pull(row.fitted), band = row.sigma != null ? row.sigma / row.info.width : 0;
    el("line", { x1: x(fitted - band), x2: x(fitted + band), y1: cy, y2: cy, stroke: "#000" }, svg);
    el("circle", { cx: x(fitted), cy, r: 3, fill: "#000", "data-role": "best-fit" }, svg);
    const current = state.edits.has(row.name) ? pull(state.edits.get(row.name)) : fitted;
    const handle = el("circle", { class: "pull-handle", cx: x(current), cy, r: 6, fill: state.edits.has(row.name) ? "#b03a2e" : "#1f5fbf",
                                  "fill-opacity": 0.75, tabindex: 0, role: "slider", "aria-label": `pull of ${row.name}`,
                                  "aria-valuemin": -extent, "aria-valuemax": extent, "aria-valuenow": current.toFixed(2), "data-parameter": row.name }, svg);
    const move = (p) => {
      p = Math.max(-extent, Math.min(extent, p));
      handle.setAttribute("cx", x(p));
      handle.setAttribute("fill", "#b03a2e");
      handle.setAttribute("aria-valuenow", p.toFixed(2));
      state.edits.set(row.name, row.info.centre + p * row.info.width);
      refreshYields();
    };
    handle.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      handle.setPointerCapture(event.pointerId);
      handle.focus();
      const scale = svg.getBoundingClientRect().width / W;
      const onMove = (e) => move((((e.clientX - svg.getBoundingClientRect().left) / scale - left) / plotW) * 2 * extent - extent);
      const onUp = () => { handle.removeEventListener("pointermove", onMove); handle.removeEventListener("pointerup", onUp); };
      handle.addEventListener("pointermove", onMove);
      handle.addEventListener("pointerup", onUp);
    });
    handle.addEventListener("keydown", (event) => {
      const now = Number(handle.getAttribute("aria-valuenow"));
      if (event.key === "ArrowRight" || event.key === "ArrowUp") { move(now + 0.1); event.preventDefault(); }
      if (event.key === "ArrowLeft" || event.key === "ArrowDown") { move(now - 0.1); event.preventDefault(); }
    });
  });
}

function renderCorrelations() {
  const matrix = state.fit && state.fit.correlations;
  const holder = $("correlations");
  if (!matrix) { holder.replaceChildren(); return; }
  const threshold = Number($("rho-threshold").value);
  const names = Object.keys(state.fit.parameters);
  const free = names.map((n, i) => [n, i]).filter(([n]) => !state.fit.parameters[n].fixed);
  // A parameter is shown when it has |ρ| above the threshold with another one.
  let shown = free.filter(([, i]) => free.some(([, j]) => j !== i && Math.abs(matrix[i][j]) > threshold));
  if (shown.length > 60) shown = shown.slice(0, 60);
  const cell = Math.max(10, Math.min(28, Math.floor(440 / Math.max(shown.length, 1))));
  const longest = Math.min(Math.max(...shown.map(([n]) => n.length), 4), 28);
  const left = 10 + longest * 6, top = 10 + longest * 5;
  const W = Math.max(left + shown.length * cell + 70, 320), H = top + shown.length * cell + 20;
  const svg = figure(holder, "correlations", `Correlations, |ρ| > ${threshold.toFixed(2)}`, W, H);
  const colour = (r) => {
    const a = Math.min(Math.abs(r), 1);
    return r >= 0 ? `rgb(${Math.round(255 - 200 * a)},${Math.round(255 - 170 * a)},255)` : `rgb(255,${Math.round(255 - 170 * a)},${Math.round(255 - 200 * a)})`;
  };
  shown.forEach(([n], k) => {
    const short = n.length > 28 ? n.slice(0, 27) + "…" : n;
    text(svg, left - 4, top + k * cell + cell / 2 + 4, short, { "text-anchor": "end", "font-size": 10 });
    const x = left + k * cell + cell / 2;
    text(svg, x, top - 4, short, { transform: `rotate(-60 ${x} ${top - 4})`, "font-size": 10 });
  });
  shown.forEach(([a, i], r) => shown.forEach(([b, j], c) => {
    const rho = matrix[i][j];
    const visible = i === j || Math.abs(rho) > threshold;
    const rect = el("rect", { class: "bar cell", x: left + c * cell, y: top + r * cell, width: cell - 1, height: cell - 1, fill: visible ? colour(rho) : "#f4f4f4" }, svg);
    el("title", {}, rect).textContent = `ρ(${a}, ${b}) = ${rho.toFixed(3)}`;
    if (visible && cell >= 24) text(svg, left + c * cell + cell / 2, top + r * cell + cell / 2 + 3, rho.toFixed(2), { "text-anchor": "middle", "font-size": 8 });
  }));
  if (shown.length === 0) text(svg, 10, top + 14, "no pair above the threshold");
}

function renderFreeParameters() {
  const table = $("free-parameters");
  const rows = Object.entries(state.fit.parameters).filter(([name, p]) => {
    const info = state.parameters.get(name);
    return !p.fixed && info && info.constraint === "unconstrained";
  });
  const head = document.createElement("tr");
  for (const h of ["unconstrained parameter", "best fit", "σ̂", "68% CL (profile)"]) {
    const th = document.createElement("th"); th.textContent = h; head.append(th);
  }
  table.replaceChildren(head, ...rows.map(([name, p]) => {
    const tr = document.createElement("tr");
    const interval = state.fit.profile_intervals && state.fit.profile_intervals[name];
    const cells = [name, format(p.value), p.uncertainty == null ? "—" : format(p.uncertainty),
                   interval ? `[${interval.one_sigma.map((v) => v == null ? "bound" : format(v)).join(", ")}]` : "—"];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    return tr;
  }));
}

// MARK: Profile scan

function renderScanControls() {
  const select = $("scan-parameter");
  const previous = select.value;
  const candidates = state.summary.parameters.filter((p) =>
    (!p.fixed && p.constraint === "unconstrained") || state.summary.wilson_coefficients.includes(p.name));
  select.replaceChildren(...candidates.map((p) => new Option(p.name, p.name)));
  if (candidates.some((p) => p.name === previous)) select.value = previous;
  setScanRange();
}

/// Fills the inputs `PREFIX-lower` and `PREFIX-upper` with a scan range for `name`: its bounds,
/// narrowed to θ̂ ± 3σ̂ after a fit that measured it.
function setScanRangeInputs(name, prefix) {
  const info = state.parameters.get(name);
  if (!info) return;
  let [lo, hi] = info.bounds;
  const fitted = state.fit && state.fit.parameters[name];
  if (fitted && fitted.uncertainty > 0) {
    lo = Math.max(lo, fitted.value - 3 * fitted.uncertainty);
    hi = Math.min(hi, fitted.value + 3 * fitted.uncertainty);
  }
  $(`${prefix}-lower`).value = Number(lo.toPrecision(3));
  $(`${prefix}-upper`).value = Number(hi.toPrecision(3));
}

function setScanRange() {
  setScanRangeInputs($("scan-parameter").value, "scan");
}

/// Runs a job whose status reports `progress` (conditional fits done of total): the controls
/// `PREFIX-button`, `PREFIX-progress` and `PREFIX-status` show it; returns the finished job's
/// status and its result file, or null after saying "LABEL failed: …".
/// While the job runs, a Cancel button beside the progress bar asks the service to stop it
/// (DELETE of a running job).
async function runJobWithProgress(prefix, label, request, file) {
  const button = $(`${prefix}-button`), progress = $(`${prefix}-progress`), status = $(`${prefix}-status`);
  button.disabled = true;
  progress.hidden = false;
  progress.value = 0;
  const cancel = Object.assign(document.createElement("button"), { type: "button", id: `${prefix}-cancel`, textContent: "Cancel" });
  let cancelled = false;
  try {
    const job = await api("POST", `/v1/workspaces/${state.id}/jobs`, request);
    cancel.dataset.job = job.id;
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      cancelled = true;
      try { await api("DELETE", `/v1/jobs/${job.id}`); } catch (error) { setStatus(status, `Cancel: ${error.message}`, true); }
    });
    progress.after(cancel);
    const done = await waitForJob(job, (s) => {
      if (s.progress) { progress.max = s.progress.total; progress.value = s.progress.done; }
      const what = s.cancelling ? "cancelling" : s.state;
      setStatus(status, s.progress ? `${what}: ${s.progress.done} of ${s.progress.total} fits` : `${what}…`);
    });
    const result = await api("GET", `/v1/jobs/${job.id}/files/${file}`);
    progress.value = progress.max;
    return { job, done, result };
  } catch (error) {
    setStatus(status, cancelled ? `${label} cancelled.` : `${label} failed: ${error.message}`, !cancelled);
    return null;
  } finally {
    cancel.remove();
    button.disabled = false;
  }
}

async function runScan() {
  const name = $("scan-parameter").value;
  const lo = Number($("scan-lower").value), hi = Number($("scan-upper").value), count = Math.round(Number($("scan-count").value));
  const ran = await runJobWithProgress("scan", "Scan", { kind: "scan", axes: { [name]: [lo, hi, count] } }, "scan.json");
  if (!ran) return;
  const scan = ran.result;
  const i68 = (scan.intervals["68"] || []).map((r) => `[${format(r[0])}, ${format(r[1])}]`).join(" ∪ ");
  setStatus($("scan-status"), `best fit ${name} = ${format(scan.best_fit)}; 68% CL ${i68 || "—"}`);
  drawScan(scan);
}

function drawScan(scan) {
  const W = 600, H = 320, left = 60, right = 20, top = 14, bottom = 40;
  const svg = figure($("scan-chart"), "scan", `Profile likelihood of ${scan.parameter}`, W, H);
  const xs = scan.values, ys = scan.delta_twice_nll.map((v) => (Number.isFinite(v) ? v : NaN));
  const xlo = Math.min(...xs), xhi = Math.max(...xs), yhi = Math.max(5, ...ys.filter(Number.isFinite)) * 1.05;
  const x = (v) => left + ((v - xlo) / (xhi - xlo || 1)) * (W - left - right);
  const y = (v) => top + (H - top - bottom) * (1 - Math.min(v, yhi) / yhi);
  el("rect", { x: left, y: top, width: W - left - right, height: H - top - bottom, fill: "none", stroke: "#000" }, svg);
  for (const [level, label] of [[1, "68%"], [3.84, "95%"]]) {
    el("line", { x1: left, x2: W - right, y1: y(level), y2: y(level), stroke: "#888", "stroke-dasharray": "5 3" }, svg);
    text(svg, W - right - 4, y(level) - 3, label, { "text-anchor": "end", fill: "#555" });
  }
  let path = "";
  xs.forEach((v, i) => { if (Number.isFinite(ys[i])) path += `${path ? "L" : "M"}${x(v)},${y(ys[i])}`; });
  el("path", { class: "curve", d: path, fill: "none", stroke: "#1f5fbf", "stroke-width": 2 }, svg);
  xs.forEach((v, i) => { if (Number.isFinite(ys[i])) el("circle", { class: "point", cx: x(v), cy: y(ys[i]), r: 2.5, fill: scan.converged[i] ? "#1f5fbf" : "#b03a2e" }, svg); });
  for (const t of niceTicks(xlo, xhi, 6)) text(svg, x(t), H - bottom + 14, format(t), { "text-anchor": "middle" });
  for (const t of niceTicks(0, yhi, 5)) text(svg, left - 6, y(t) + 4, format(t), { "text-anchor": "end" });
  text(svg, left + (W - left - right) / 2, H - 8, scan.parameter, { "text-anchor": "middle" });
  text(svg, 14, top + (H - top - bottom) / 2, "Δ(2NLL)", { transform: `rotate(-90 14 ${top + (H - top - bottom) / 2})`, "text-anchor": "middle" });
}

// MARK: Start

function start() {
  $("file-workspace").addEventListener("change", (e) => { if (e.target.files[0]) uploadWorkspaceFile(e.target.files[0]); });
  $("file-databases").addEventListener("change", (e) => uploadDatabases([...e.target.files]));
  $("file-patchset").addEventListener("change", (e) => { if (e.target.files[0]) readPatchSet(e.target.files[0]); });
  $("apply-patch").addEventListener("click", applyPatch);
  $("load-example").addEventListener("click", async () => {
    const name = $("example-select").value;
    if (!name) return;
    setStatus($("status"), `Loading example ${name}…`);
    try { await accept(await api("POST", `/v1/examples/${encodeURIComponent(name)}`)); } catch (error) { setStatus($("status"), `${name}: ${error.message}`, true); }
  });
  $("fit-button").addEventListener("click", runFit);
  $("fit-settings-filter").addEventListener("input", filterFitSettings);
  $("reset-pulls").addEventListener("click", () => { state.edits.clear(); renderPulls(); refreshYields(); });
  $("rho-threshold").addEventListener("input", () => { $("rho-value").textContent = Number($("rho-threshold").value).toFixed(2); renderCorrelations(); });
  $("scan-parameter").addEventListener("change", setScanRange);
  $("band-toggle").addEventListener("change", refreshYields);
  $("scan-button").addEventListener("click", runScan);
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    accessToken = $("token-input").value.trim();
    try { localStorage.setItem(TOKEN_KEY, accessToken); } catch (error) { /* kept for this page only */ }
    $("token-form").hidden = true;
    setStatus($("token-status"), "");
    loadInitial();
  });
  loadInitial();
}

// The examples and the workspace of a permalink (/?workspace=ID); again once a token is given.
function loadInitial() {
  loadExamples();
  const id = new URLSearchParams(location.search).get("workspace");
  if (id) {
    api("GET", `/v1/workspaces/${encodeURIComponent(id)}`).then(accept).catch((error) => setStatus($("status"), `Workspace ${id}: ${error.message}`, true));
  }
}

start();
