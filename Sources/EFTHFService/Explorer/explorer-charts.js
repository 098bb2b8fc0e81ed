// The explorer's further charts (Specs/service.md, "Explorer"): composition pies, the systematic
// table, event-database statistics, 2-D profile-likelihood scans and the nuisance-parameter
// ranking. Loaded after explorer.js, whose helpers (api, figure, el, text, format, state) it uses;
// every number comes from the service: the summary's `modifiers` (SystematicsTable), the
// event-statistics endpoint (EventStatisticsTask), scan and ranking jobs (ScanTask, RankingTask).
"use strict";

const charts = {
  systematicsSort: { key: "effect", descending: true },
  eventsBusy: false,
  eventsPending: false,
};

// MARK: Composition pies

/// One pie per channel of the nominal yields (negative yields count as 0, as in the bars), each
/// slice labelled in the legend beside it with its sample and percentage.
function renderPies() {
  const channels = state.summary.inspection.channels;
  const cellW = 300, perRow = 4, radius = 62;
  const cellH = Math.max(170, 40 + Math.max(...channels.map((c) => c.samples.length)) * 15);
  const W = cellW * Math.min(perRow, Math.max(channels.length, 1)), H = Math.ceil(channels.length / perRow) * cellH + 6;
  const svg = figure($("pies"), "pies", "Composition per channel (share of the nominal yield)", W, H);
  channels.forEach((channel, k) => {
    const ox = (k % perRow) * cellW, oy = Math.floor(k / perRow) * cellH;
    const g = el("g", { class: "pie", "data-channel": channel.name, transform: `translate(${ox},${oy})` }, svg);
    text(g, 8, 16, channel.name.length > 40 ? channel.name.slice(0, 39) + "…" : channel.name, { "font-weight": 600 });
    const total = channel.samples.reduce((s, x) => s + Math.max(x.yield, 0), 0);
    const cx = 8 + radius, cy = 26 + radius;
    let angle = -Math.PI / 2;
    channel.samples.forEach((sample, i) => {
      const share = total > 0 ? Math.max(sample.yield, 0) / total : 0;
      const percent = `${(100 * share).toFixed(1)}%`;
      const colour = state.sampleColours.get(sample.name) || "#999";
      if (share > 0) {
        const end = angle + 2 * Math.PI * share;
        let slice;
        if (share >= 0.9999) {
          slice = el("circle", { cx, cy, r: radius }, g);
        } else {
          const large = end - angle > Math.PI ? 1 : 0;
          const p = (a) => `${(cx + radius * Math.cos(a)).toFixed(2)},${(cy + radius * Math.sin(a)).toFixed(2)}`;
          slice = el("path", { d: `M${cx},${cy}L${p(angle)}A${radius},${radius} 0 ${large} 1 ${p(end)}Z` }, g);
        }
        Object.entries({ class: "slice", fill: colour, stroke: "#fff", "data-sample": sample.name, "data-share": share }).forEach(([a, v]) => slice.setAttribute(a, v));
        el("title", {}, slice).textContent = `${channel.name} / ${sample.name}: ${format(sample.yield)} (${percent})`;
        if (share >= 0.08) {
          const mid = (angle + end) / 2;
          text(g, cx + 0.62 * radius * Math.cos(mid), cy + 0.62 * radius * Math.sin(mid) + 4, `${Math.round(100 * share)}%`,
               { "text-anchor": "middle", "font-size": 10, fill: "#fff", "font-weight": 600 });
        }
        angle = end;
      }
      const ly = 30 + i * 15, lx = 8 + 2 * radius + 14;
      el("rect", { x: lx, y: ly, width: 10, height: 10, fill: colour }, g);
      const name = sample.name.length > 17 ? sample.name.slice(0, 16) + "…" : sample.name;
      text(g, lx + 14, ly + 9, `${name} ${percent}`, { class: "pie-label", "data-sample": sample.name });
    });
    if (!(total > 0)) text(g, 8, cy, "no positive yield");
  });
}

// MARK: Systematic table

/// A modifier's size in words, from the summary's `modifiers` entry.
function modifierSize(m) {
  const percent = (v) => `${v >= 0 ? "+" : "−"}${Math.abs(100 * v).toPrecision(3)}%`;
  const extreme = (values) => values.filter((v) => v != null).reduce((a, v) => (Math.abs(v) > Math.abs(a) ? v : a), 0);
  if (m.hi != null) return `hi ×${format(m.hi)}, lo ×${format(m.lo)}`;
  if (m.relative_hi) return `max shift hi ${percent(extreme(m.relative_hi))}, lo ${percent(extreme(m.relative_lo))}`;
  if (m.relative) return `max ${m.type === "staterror" ? "σ(γ)" : "δ/ν"} ${(100 * Math.max(0, ...m.relative.filter((v) => v != null))).toPrecision(3)}% (${m.relative.length} bins)`;
  if (m.type === "lumi" && m.effect != null) return `σ ${(100 * m.effect).toPrecision(3)}%`;
  return "unconstrained";
}

const SYSTEMATICS_COLUMNS = [
  { key: "name", title: "modifier", text: true },
  { key: "type", title: "type", text: true },
  { key: "channel", title: "channel", text: true },
  { key: "sample", title: "sample", text: true },
  { key: "size", title: "size", text: true },
  { key: "effect", title: "largest effect at ±1σ" },
];

function renderSystematicControls() {
  const types = [...new Set(state.summary.modifiers.map((m) => m.type))].sort();
  const select = $("systematics-type");
  const previous = select.value;
  select.replaceChildren(new Option("all types", ""), ...types.map((t) => new Option(t, t)));
  if (types.includes(previous)) select.value = previous;
  renderSystematics();
}

function filteredSystematics() {
  const query = $("systematics-filter").value.trim().toLowerCase();
  const type = $("systematics-type").value;
  const rows = state.summary.modifiers.filter((m) => (!type || m.type === type)
    && (!query || [m.name, m.channel, m.sample].some((s) => s.toLowerCase().includes(query))));
  const { key, descending } = charts.systematicsSort;
  const value = (m) => (key === "size" ? modifierSize(m) : m[key]);
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    // Rows without a value (unconstrained modifiers) go last either way.
    if (x == null || y == null) return (x == null) - (y == null);
    const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order;
  });
  return rows;
}

function renderSystematics() {
  const rows = filteredSystematics();
  const table = $("systematics");
  const head = document.createElement("tr");
  for (const column of SYSTEMATICS_COLUMNS) {
    const th = document.createElement("th");
    if (column.text) th.className = "text";
    const sorted = charts.systematicsSort.key === column.key;
    th.setAttribute("aria-sort", sorted ? (charts.systematicsSort.descending ? "descending" : "ascending") : "none");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.sort = column.key;
    button.textContent = column.title + (sorted ? (charts.systematicsSort.descending ? " ▼" : " ▲") : "");
    button.addEventListener("click", () => {
      charts.systematicsSort = { key: column.key, descending: sorted ? !charts.systematicsSort.descending : !column.text };
      renderSystematics();
      table.querySelector(`button[data-sort="${column.key}"]`).focus();
    });
    th.append(button);
    head.append(th);
  }
  const shown = rows.slice(0, 1000);
  table.replaceChildren(head, ...shown.map((m) => {
    const tr = document.createElement("tr");
    tr.dataset.type = m.type;
    for (const column of SYSTEMATICS_COLUMNS) {
      const td = document.createElement("td");
      if (column.text) td.className = "text";
      if (column.key === "size") td.textContent = modifierSize(m);
      else if (column.key === "effect") {
        td.textContent = m.effect == null ? "—" : `${(100 * m.effect).toPrecision(3)}%`;
        if (m.effect != null) td.dataset.value = m.effect;
      } else td.textContent = m[column.key];
      tr.append(td);
    }
    return tr;
  }));
  setStatus($("systematics-count"), `${rows.length} of ${state.summary.modifiers.length} modifiers${rows.length > shown.length ? ` (first ${shown.length} shown; the CSV has all)` : ""}`);
}

function csvField(value) {
  const s = value == null ? "" : String(value);
  return /[",\n;]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/// The filtered rows as CSV, with the summary's numbers at full precision (per-bin values joined by ";").
function downloadSystematicsCSV() {
  const header = ["channel", "sample", "modifier", "type", "hi", "lo", "relative_hi", "relative_lo", "relative", "effect"];
  const bins = (a) => (a ? a.map((v) => (v == null ? "" : v)).join(";") : "");
  const lines = [header.join(",")].concat(filteredSystematics().map((m) => [m.channel, m.sample, m.name, m.type, m.hi, m.lo,
    bins(m.relative_hi), bins(m.relative_lo), bins(m.relative), m.effect].map(csvField).join(",")));
  save(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }), "systematics.csv");
}

// MARK: Event-database statistics

function hasEventDatabases() {
  return state.summary.inspection.wilson_coefficients.some((e) => e.event_database);
}

/// The sliders' point: every coefficient at its slider's value.
function sliderPoint() {
  const at = {};
  for (const name of state.summary.wilson_coefficients) {
    const input = $(`wc-${name}`);
    if (input) at[name] = Number(input.value);
  }
  return at;
}

async function refreshEventStatistics() {
  if (!state.summary || !hasEventDatabases()) return;
  if (charts.eventsBusy) { charts.eventsPending = true; return; }
  charts.eventsBusy = true;
  try {
    do {
      charts.eventsPending = false;
      const id = state.id;
      const report = await api("POST", `/v1/workspaces/${id}/event-statistics`, { at: sliderPoint() });
      if (id === state.id) renderEventStatistics(report);
    } while (charts.eventsPending);
  } catch (error) {
    setStatus($("status"), `Event statistics: ${error.message}`, true);
  } finally {
    charts.eventsBusy = false;
  }
}

const EVENT_COLUMNS = [
  ["events", "events", (s) => String(s.events)],
  ["sum_of_weights", "Σw", (s) => format(s.sum_of_weights)],
  ["sum_of_squared_weights", "Σw²", (s) => format(s.sum_of_squared_weights)],
  ["minimum", "min w", (s) => (s.minimum == null ? "—" : format(s.minimum))],
  ["maximum", "max w", (s) => (s.maximum == null ? "—" : format(s.maximum))],
  ["negative_fraction", "w < 0", (s) => `${(100 * s.negative_fraction).toFixed(2)}%`],
  ["effective_events", "N_eff = (Σw)²/Σw²", (s) => format(s.effective_events)],
];

function renderEventStatistics(report) {
  $("events").hidden = false;
  const table = $("event-statistics");
  const point = Object.entries(report.at || {}).filter(([, v]) => v !== 0).map(([k, v]) => `${k}=${format(v)}`).join(", ") || "SM";
  const groups = document.createElement("tr");
  const heads = document.createElement("tr");
  const th = (row, content, attributes) => {
    const cell = document.createElement("th");
    cell.textContent = content;
    Object.assign(cell, attributes || {});
    row.append(cell);
  };
  th(groups, "", { colSpan: 5 });
  th(groups, "at the Standard Model", { colSpan: EVENT_COLUMNS.length });
  th(groups, `at the sliders' point (${point})`, { colSpan: EVENT_COLUMNS.length });
  for (const h of ["channel", "sample", "modifier", "file", "normalisation"]) th(heads, h, { className: "text" });
  for (let k = 0; k < 2; k++) for (const [, title] of EVENT_COLUMNS) th(heads, title);
  table.replaceChildren(groups, heads, ...report.databases.map((d) => {
    const tr = document.createElement("tr");
    tr.dataset.file = d.file;
    tr.dataset.sample = d.sample;
    for (const v of [d.channel, d.sample, d.modifier, d.file, format(d.normalisation)]) {
      const td = document.createElement("td");
      td.className = "text";
      td.textContent = v;
      tr.append(td);
    }
    for (const [which, stats] of [["sm", d.sm], ["at", d.at_point]]) {
      for (const [key, , show] of EVENT_COLUMNS) {
        const td = document.createElement("td");
        td.textContent = stats ? show(stats) : "—";
        if (stats && stats[key] != null) td.dataset.value = stats[key];
        td.dataset.column = `${which}.${key}`;
        tr.append(td);
      }
    }
    return tr;
  }));
}

// MARK: 2-D profile-likelihood scan

function scanCandidates() {
  return state.summary.parameters.filter((p) => !p.fixed || state.summary.wilson_coefficients.includes(p.name));
}

function renderScan2DControls() {
  const candidates = scanCandidates();
  const preferred = state.summary.wilson_coefficients.concat(state.summary.inspection.poi ? [state.summary.inspection.poi] : [])
    .concat(candidates.filter((p) => p.constraint === "unconstrained").map((p) => p.name));
  const names = [...new Set(preferred.filter((n) => candidates.some((p) => p.name === n)).concat(candidates.map((p) => p.name)))];
  for (const [axis, k] of [["x", 0], ["y", 1]]) {
    const select = $(`scan2d-${axis}`);
    const previous = select.value;
    select.replaceChildren(...names.map((n) => new Option(n, n)));
    select.value = names.includes(previous) ? previous : names[Math.min(k, names.length - 1)] || "";
    setScan2DRange(axis);
  }
  $("scan2d-button").disabled = names.length < 2;
}

function setScan2DRange(axis) {
  setScanRangeInputs($(`scan2d-${axis}`).value, `scan2d-${axis}`);
}

async function runScan2D() {
  const axis = (a) => [$(`scan2d-${a}`).value, Number($(`scan2d-${a}-lower`).value), Number($(`scan2d-${a}-upper`).value),
                       Math.round(Number($(`scan2d-${a}-count`).value))];
  const [xName, ...xRange] = axis("x"), [yName, ...yRange] = axis("y");
  if (xName === yName) { setStatus($("scan2d-status"), "Choose two different parameters.", true); return; }
  const ran = await runJobWithProgress("scan2d", "2-D scan", { kind: "scan", axes: { [xName]: xRange, [yName]: yRange } }, "scan.json");
  if (!ran) return;
  showScan2D(ran.result, ran.job.id, "");
}

/// A 2-D scan's contour chart and status line (after the job ran, or from its permalink).
function showScan2D(scan, jobId, origin) {
  const failed = (scan.failures || []).length;
  setStatus($("scan2d-status"), `${origin}best fit ${scan.parameters[0]} = ${format(scan.best_fit[0])}, ${scan.parameters[1]} = ${format(scan.best_fit[1])}`
    + (failed ? `; ${failed} conditional fit(s) failed (marked ×)` : ""), failed > 0);
  drawScan2D(scan);
  $("scan2d-chart").querySelector("figure").dataset.job = jobId;
}

/// Δ2NLL from white (0) through blue to dark (≥ 9).
function deltaColour(d) {
  const t = Math.min(Math.max(d / 9, 0), 1);
  return `rgb(${Math.round(255 - 225 * t)},${Math.round(255 - 180 * t)},${Math.round(255 - 90 * t)})`;
}

function drawScan2D(scan) {
  const [xName, yName] = scan.parameters;
  const xs = scan.x_values, ys = scan.y_values;
  const W = 640, H = 480, left = 70, right = 150, top = 14, bottom = 46;
  const svg = figure($("scan2d-chart"), "scan2d", `Δ(2NLL) of ${xName} and ${yName}`, W, H);
  const plotW = W - left - right, plotH = H - top - bottom;
  // Cells centred on the grid points: the plot reaches half a step beyond the first and last.
  const half = (v) => (v.length > 1 ? (v[v.length - 1] - v[0]) / (v.length - 1) / 2 : 0.5);
  const xlo = xs[0] - half(xs), xhi = xs[xs.length - 1] + half(xs), ylo = ys[0] - half(ys), yhi = ys[ys.length - 1] + half(ys);
  const x = (v) => left + ((v - xlo) / (xhi - xlo)) * plotW;
  const y = (v) => top + plotH - ((v - ylo) / (yhi - ylo)) * plotH;
  const clip = `clip-scan2d`;
  el("rect", { x: left, y: top, width: plotW, height: plotH }, el("clipPath", { id: clip }, el("defs", {}, svg)));
  const failedAt = new Set((scan.failures || []).map((f) => `${f.point[0]},${f.point[1]}`));
  const cells = el("g", { "clip-path": `url(#${clip})` }, svg);
  xs.forEach((xv, i) => ys.forEach((yv, j) => {
    const value = scan.twice_nll[i][j];
    const failed = value == null || !Number.isFinite(value) || failedAt.has(`${xv},${yv}`);
    const x0 = x(xv - half(xs)), y0 = y(yv + half(ys));
    const rect = el("rect", { class: failed ? "cell failed" : "cell", x: x0, y: y0, width: x(xv + half(xs)) - x0 + 0.5, height: y(yv - half(ys)) - y0 + 0.5,
                              fill: failed ? "#eee" : deltaColour(value - scan.twice_nll_min) }, cells);
    el("title", {}, rect).textContent = failed ? `${xName} = ${format(xv)}, ${yName} = ${format(yv)}: the conditional fit failed`
      : `${xName} = ${format(xv)}, ${yName} = ${format(yv)}: Δ(2NLL) = ${(value - scan.twice_nll_min).toFixed(3)}`;
    if (failed) {
      const cx = x(xv), cy = y(yv), r = 4;
      el("path", { class: "failed-mark", d: `M${cx - r},${cy - r}L${cx + r},${cy + r}M${cx - r},${cy + r}L${cx + r},${cy - r}`, stroke: "#b03a2e", "stroke-width": 1.5 }, svg);
    }
  }));
  // The contours of the report: segments [x1, y1, x2, y2] at Δ2NLL = 2.30 (68 %) and 5.99 (95 %).
  const styles = { 68: { stroke: "#1d2430", dash: "" }, 95: { stroke: "#1d2430", dash: "6 3" } };
  for (const [level, segments] of Object.entries(scan.contours)) {
    const d = segments.map((s) => `M${x(s[0]).toFixed(2)},${y(s[1]).toFixed(2)}L${x(s[2]).toFixed(2)},${y(s[3]).toFixed(2)}`).join("");
    const style = styles[level] || { stroke: "#555", dash: "2 2" };
    el("path", { class: "contour", "data-level": level, d, fill: "none", stroke: style.stroke, "stroke-width": 2, "stroke-dasharray": style.dash,
                 "clip-path": `url(#${clip})` }, svg);
  }
  // Best fit and the Standard Model (coefficients 0, other parameters at their initial values).
  const [bx, by] = scan.best_fit;
  if (Number.isFinite(bx) && Number.isFinite(by)) {
    el("path", { class: "best-fit", d: `M${x(bx) - 6},${y(by)}L${x(bx) + 6},${y(by)}M${x(bx)},${y(by) - 6}L${x(bx)},${y(by) + 6}`, stroke: "#d62728", "stroke-width": 2.5 }, svg);
  }
  const smValue = (name) => (state.summary.wilson_coefficients.includes(name) ? 0 : (state.parameters.get(name) || { init: NaN }).init);
  const sx = smValue(xName), sy = smValue(yName);
  const smInside = sx >= xlo && sx <= xhi && sy >= ylo && sy <= yhi;
  if (smInside) el("circle", { class: "sm-point", cx: x(sx), cy: y(sy), r: 5, fill: "#fff", stroke: "#1d2430", "stroke-width": 2 }, svg);
  el("rect", { x: left, y: top, width: plotW, height: plotH, fill: "none", stroke: "#000" }, svg);
  for (const t of niceTicks(xlo, xhi, 6)) text(svg, x(t), H - bottom + 15, format(t), { "text-anchor": "middle" });
  for (const t of niceTicks(ylo, yhi, 6)) text(svg, left - 6, y(t) + 4, format(t), { "text-anchor": "end" });
  text(svg, left + plotW / 2, H - 10, xName, { "text-anchor": "middle" });
  text(svg, 16, top + plotH / 2, yName, { transform: `rotate(-90 16 ${top + plotH / 2})`, "text-anchor": "middle" });
  // Legend: the colour scale and the markers.
  const lx = left + plotW + 16;
  for (let k = 0; k <= 9; k++) el("rect", { x: lx, y: top + (9 - k) * 14, width: 14, height: 14, fill: deltaColour(k + 0.5) }, svg);
  for (const t of [0, 3, 6, 9]) text(svg, lx + 18, top + (10 - t) * 14 + 4, t === 9 ? "≥ 9" : String(t));
  text(svg, lx, top + 160, "Δ(2NLL)");
  let ly = top + 185;
  const legend = (draw, label) => { draw(ly); text(svg, lx + 26, ly + 4, label); ly += 18; };
  legend((yy) => el("line", { x1: lx, x2: lx + 20, y1: yy, y2: yy, stroke: "#1d2430", "stroke-width": 2 }, svg), "68% CL");
  legend((yy) => el("line", { x1: lx, x2: lx + 20, y1: yy, y2: yy, stroke: "#1d2430", "stroke-width": 2, "stroke-dasharray": "6 3" }, svg), "95% CL");
  legend((yy) => el("path", { d: `M${lx + 4},${yy}L${lx + 16},${yy}M${lx + 10},${yy - 6}L${lx + 10},${yy + 6}`, stroke: "#d62728", "stroke-width": 2.5 }, svg), "best fit");
  legend((yy) => el("circle", { cx: lx + 10, cy: yy, r: 5, fill: "#fff", stroke: "#1d2430", "stroke-width": 2 }, svg), smInside ? "SM" : "SM (outside)");
  if (failedAt.size || scan.twice_nll.some((r) => r.some((v) => v == null))) {
    legend((yy) => el("path", { d: `M${lx + 6},${yy - 4}L${lx + 14},${yy + 4}M${lx + 6},${yy + 4}L${lx + 14},${yy - 4}`, stroke: "#b03a2e", "stroke-width": 1.5 }, svg), "failed fit");
  }
}

// MARK: Ranking

function renderRankingControls() {
  const select = $("ranking-poi");
  const previous = select.value;
  const names = [];
  if (state.summary.inspection.poi) names.push(state.summary.inspection.poi);
  for (const n of state.summary.wilson_coefficients) if (!names.includes(n)) names.push(n);
  for (const p of state.summary.parameters) if (!p.fixed && p.constraint === "unconstrained" && !names.includes(p.name)) names.push(p.name);
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  if (names.includes(previous)) select.value = previous;
  $("ranking-button").disabled = names.length === 0;
}

async function runRanking() {
  const poi = $("ranking-poi").value;
  // A Wilson coefficient is ranked with it floating (the others at the SM, as `efthf ranking --ops`).
  const request = { kind: "ranking", poi };
  if (state.summary.wilson_coefficients.includes(poi)) request.ops = [poi];
  const ran = await runJobWithProgress("ranking", "Ranking", request, "ranking.json");
  if (!ran) return;
  const ranking = ran.result;
  setStatus($("ranking-status"), `${ranking.poi} = ${format(ranking.best_fit)} ± ${format(ranking.uncertainty)}; ${ranking.parameters.length} parameters ranked in ${ran.done.seconds.toFixed(1)} s`);
  charts.ranking = ranking;
  drawRanking(ranking);
}

/// The top N parameters: impacts Δμ (post-fit filled, pre-fit outlined; top axis) and pulls
/// (θ̂ − θ₀)/σ₀ with σ̂/σ₀ (points; bottom axis), as `efthf ranking --plot`.
function drawRanking(ranking) {
  const top = Math.max(1, Math.min(100, Math.round(Number($("ranking-top").value)) || 15));
  const rows = ranking.parameters.slice(0, top);
  const W = 760, rowH = 20, left = 220, right = 150, head = 40;
  const H = head + Math.max(rows.length, 1) * rowH + 40;
  const svg = figure($("ranking-chart"), "ranking", `Impact on ${ranking.poi} (top ${rows.length} of ${ranking.parameters.length})`, W, H);
  const plotW = W - left - right, plotH = rows.length * rowH;
  const impacts = rows.flatMap((r) => r.postfit_impact.concat(r.prefit_impact)).filter((v) => v != null).map(Math.abs);
  const extent = Math.max(...impacts, 1e-12) * 1.1;
  const xi = (v) => left + ((v + extent) / (2 * extent)) * plotW;
  const pullExtent = 2.5;
  const xp = (v) => left + ((Math.max(-pullExtent, Math.min(pullExtent, v)) + pullExtent) / (2 * pullExtent)) * plotW;
  el("rect", { x: left, y: head, width: plotW, height: plotH, fill: "none", stroke: "#000" }, svg);
  el("line", { x1: xi(0), x2: xi(0), y1: head, y2: head + plotH, stroke: "#888" }, svg);
  for (const t of [-1, 1]) el("line", { x1: xp(t), x2: xp(t), y1: head, y2: head + plotH, stroke: "#ccc", "stroke-dasharray": "3 3" }, svg);
  rows.forEach((r, i) => {
    const cy = head + i * rowH + rowH / 2;
    const g = el("g", { class: "ranking-row", "data-parameter": r.name }, svg);
    text(g, left - 6, cy + 4, r.name.length > 34 ? r.name.slice(0, 33) + "…" : r.name, { "text-anchor": "end" });
    const bar = (v, filled, colour, cls) => {
      if (v == null) return;
      const a = Math.min(xi(0), xi(v)), b = Math.max(xi(0), xi(v));
      el("rect", { class: cls, x: a, y: cy - 6, width: Math.max(b - a, 0.5), height: 12, fill: filled ? colour : "none", stroke: colour,
                   "fill-opacity": filled ? 0.6 : 1 }, g);
    };
    bar(r.prefit_impact[0], false, "#1f5fbf", "impact prefit");
    bar(r.prefit_impact[1], false, "#2ca02c", "impact prefit");
    bar(r.postfit_impact[0], true, "#1f5fbf", "impact postfit");
    bar(r.postfit_impact[1], true, "#2ca02c", "impact postfit");
    el("line", { x1: xp(r.pull - r.constraint), x2: xp(r.pull + r.constraint), y1: cy, y2: cy, stroke: "#000" }, g);
    el("circle", { class: "pull", cx: xp(r.pull), cy, r: 3, fill: "#000" }, g);
    const title = el("title", {}, g);
    title.textContent = `${r.name}: pull ${r.pull.toFixed(2)}, σ̂/σ₀ ${r.constraint.toFixed(2)}; post-fit Δ${ranking.poi} `
      + `${r.postfit_impact.map((v) => (v == null ? "failed" : format(v))).join(" / ")}; pre-fit ${r.prefit_impact.map((v) => (v == null ? "failed" : format(v))).join(" / ")}`;
  });
  if (rows.length === 0) text(svg, left + 6, head + 14, "no constrained free parameter to rank");
  for (const t of niceTicks(-extent, extent, 5)) text(svg, xi(t), head - 6, format(t), { "text-anchor": "middle" });
  text(svg, left + plotW / 2, 14, `Δ${ranking.poi}`, { "text-anchor": "middle" });
  for (const t of [-2, -1, 0, 1, 2]) text(svg, xp(t), head + plotH + 14, String(t), { "text-anchor": "middle" });
  text(svg, left + plotW / 2, H - 6, "(θ̂ − θ₀)/σ₀", { "text-anchor": "middle" });
  let ly = head;
  const lx = left + plotW + 12;
  for (const [label, colour, filled] of [["post-fit +σ̂", "#1f5fbf", true], ["post-fit −σ̂", "#2ca02c", true], ["pre-fit +σ₀", "#1f5fbf", false], ["pre-fit −σ₀", "#2ca02c", false]]) {
    el("rect", { x: lx, y: ly, width: 14, height: 10, fill: filled ? colour : "none", stroke: colour, "fill-opacity": filled ? 0.6 : 1 }, svg);
    text(svg, lx + 20, ly + 9, label);
    ly += 16;
  }
  el("circle", { cx: lx + 7, cy: ly + 5, r: 3, fill: "#000" }, svg);
  text(svg, lx + 20, ly + 9, "pull ± σ̂/σ₀");
}

// MARK: Start

function openCharts() {
  renderPies();
  renderSystematicControls();
  $("events").hidden = true;
  $("event-statistics").replaceChildren();
  refreshEventStatistics();
  renderScan2DControls();
  $("scan2d-chart").replaceChildren();
  setStatus($("scan2d-status"), "");
  renderRankingControls();
  $("ranking-chart").replaceChildren();
  setStatus($("ranking-status"), "");
}

function startCharts() {
  document.addEventListener("efthf:workspace", openCharts);
  document.addEventListener("efthf:fit", () => { renderScan2DControls(); refreshEventStatistics(); });
  $("systematics-filter").addEventListener("input", renderSystematics);
  $("systematics-type").addEventListener("change", renderSystematics);
  $("systematics-csv").addEventListener("click", downloadSystematicsCSV);
  $("wc-sliders").addEventListener("input", refreshEventStatistics);
  $("scan2d-x").addEventListener("change", () => setScan2DRange("x"));
  $("scan2d-y").addEventListener("change", () => setScan2DRange("y"));
  $("scan2d-button").addEventListener("click", runScan2D);
  $("ranking-button").addEventListener("click", runRanking);
  $("ranking-top").addEventListener("change", () => { if (charts.ranking) drawRanking(charts.ranking); });
}

startCharts();
