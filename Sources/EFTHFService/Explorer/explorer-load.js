// The explorer's HEPData archives, URLs and exports (Specs/service.md, "Archives", "Loading from
// a URL" and "Explorer"): an archive is uploaded (POST /v1/archives) or fetched by the server
// (POST /v1/fetch) once for its listing and again with the chosen workspace and patch, which the
// server stores as a new workspace; the export buttons submit
// export, patchset and popxf jobs and download their files. Uses explorer.js's api, accept,
// setStatus, save and state.
"use strict";

// The archive's source: an uploaded file or a URL; its listing once read.
const archive = { file: null, url: null, name: "", listing: null };

/// The archive with `query` selecting what to load: POST /v1/archives with the file as the body,
/// or POST /v1/fetch with the URL.
async function postArchive(query) {
  if (archive.url) return api("POST", "/v1/fetch", { url: archive.url, ...(query || {}) });
  const response = await fetch(`/v1/archives${query ? "?" + new URLSearchParams(query) : ""}`,
    { method: "POST", body: archive.file, headers: { ...authHeaders(), "Content-Type": "application/octet-stream" } });
  return answerOf(response);
}

/// A patch's label values, e.g. "m1=700, m2=150".
function patchValues(labels, values) {
  return values.map((v, i) => `${labels[i] || i}=${v}`).join(", ");
}

async function readArchive(file) {
  Object.assign(archive, { file, url: null, name: file.name });
  await listArchive();
}

/// A URL: a workspace is loaded at once, an archive listed for the picker.
async function readURL() {
  const url = $("url-input").value.trim();
  if (!url) return;
  Object.assign(archive, { file: null, url, name: url });
  await listArchive();
}

async function listArchive() {
  archive.listing = null;
  $("archive-load").disabled = true;
  setStatus($("status"), `Reading ${archive.name}…`);
  try {
    const listing = await postArchive();
    if (listing.state) { await accept(listing); return; }  // a URL of a workspace: loaded already
    archive.listing = listing;
    $("archive-workspace").replaceChildren(...listing.workspaces.map((w) => new Option(w.member, w.member)));
    const options = [new Option("(background only: no patch)", "")];
    for (const set of listing.patchsets) {
      for (const patch of set.patches) {
        const values = patchValues(set.labels, patch.values);
        const option = new Option(`${patch.name}${values ? ` (${values})` : ""}${listing.patchsets.length > 1 ? ` — ${set.member}` : ""}`,
          JSON.stringify({ patchset: set.member, patch: patch.name, workspace: set.workspace || null }));
        option.dataset.patch = patch.name;
        options.push(option);
      }
    }
    $("archive-patch").replaceChildren(...options);
    // The first patch is preselected: a background-only workspace is rarely a model on its own.
    if (options.length > 1) $("archive-patch").selectedIndex = 1;
    syncArchiveWorkspace();
    for (const id of ["archive-workspace", "archive-patch", "archive-load"]) $(id).disabled = false;
    const patches = listing.patchsets.reduce((n, s) => n + s.patches.length, 0);
    setStatus($("status"), `Archive ${archive.name} (${listing.format}, ${listing.entries} entries): ${listing.workspaces.length} workspace(s), ` +
      `${listing.patchsets.length} patch set(s) with ${patches} patch(es); choose one and load it.`);
  } catch (error) {
    setStatus($("status"), `${archive.name}: ${error.message}`, true);
  }
}

/// The workspace the chosen patch set was made for (by digest), when the archive knows it.
function syncArchiveWorkspace() {
  const value = $("archive-patch").value;
  const choice = value ? JSON.parse(value) : null;
  if (choice && choice.workspace) $("archive-workspace").value = choice.workspace;
}

async function loadFromArchive() {
  if (!archive.listing) return;
  const value = $("archive-patch").value;
  const choice = value ? JSON.parse(value) : null;
  const query = { workspace: $("archive-workspace").value };
  if (choice) Object.assign(query, { patchset: choice.patchset, patch: choice.patch });
  setStatus($("status"), choice ? `Loading ${query.workspace} with patch ${choice.patch}…` : `Loading ${query.workspace}…`);
  try {
    await accept(await postArchive(query));
  } catch (error) {
    setStatus($("status"), `${archive.name}: ${error.message}`, true);
  }
}

// MARK: Exports

/// Runs a job on the workspace and downloads its files (`names`: job file → downloaded name).
async function exportJob(request, names, what) {
  const status = $("export-status");
  setStatus(status, `${what}: running…`);
  try {
    const job = await api("POST", `/v1/workspaces/${state.id}/jobs`, request);
    const done = await waitForJob(job);
    for (const [file, saveAs] of Object.entries(names)) {
      const response = await fetch(`/v1/jobs/${done.id}/files/${file}`, { headers: authHeaders() });
      if (!response.ok) throw new Error(`${file}: ${response.status}`);
      save(await response.blob(), saveAs);
    }
    const summary = done.summary && done.summary.patches !== undefined ? ` (${done.summary.patches} patches)` : "";
    setStatus(status, `${what}: downloaded ${Object.values(names).join(", ")}${summary}.`);
  } catch (error) {
    setStatus(status, `${what}: ${error.message}`, true);
  }
}

/// The grid field's text `name=lower:upper:count, …` as a patchset job's grid.
function parseGrid(text) {
  const grid = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const match = /^([^=\s]+)\s*=\s*([^:]+):([^:]+):(\d+)$/.exec(part);
    if (!match) throw new Error(`"${part}" is not name=lower:upper:count`);
    grid[match[1]] = [Number(match[2]), Number(match[3]), Number(match[4])];
  }
  return grid;
}

/// Shows the Wilson-coefficient exports for a workspace that has coefficients, with the POI
/// choices an exported workspace may have (parameters that are not coefficients, normalisation
/// factors first) and a default grid of each coefficient over its slider's range.
function renderExports() {
  const coefficients = state.summary ? state.summary.wilson_coefficients : [];
  const has = coefficients.length > 0;
  $("export-wc").hidden = !has;
  $("export-grid-row").hidden = !has;
  $("export-popxf-row").hidden = !has;
  setStatus($("export-status"), "");
  if (!has) return;
  const normfactors = state.summary.inspection.normalisation_factors.map((n) => n.name).filter((n) => !coefficients.includes(n));
  const others = state.summary.parameters.map((p) => p.set).filter((n, i, all) => all.indexOf(n) === i && !coefficients.includes(n) && !normfactors.includes(n));
  const poi = state.summary.inspection.poi;
  const choices = [...normfactors, ...others];
  $("export-poi").replaceChildren(...choices.map((n) => new Option(n, n)));
  if (choices.includes(poi)) $("export-poi").value = poi;
  $("export-grid").value = coefficients.map((c) => {
    const slider = document.getElementById(`wc-${c}`);
    return `${c}=${slider ? slider.min : -1}:${slider ? slider.max : 1}:3`;
  }).join(", ");
}

/// Every Wilson coefficient at its slider's value (the point the charts show).
function sliderPoint() {
  const at = {};
  for (const name of state.summary.wilson_coefficients) {
    const slider = document.getElementById(`wc-${name}`);
    at[name] = slider ? Number(slider.value) : 0;
  }
  return at;
}

async function downloadDocument() {
  try {
    const response = await fetch(`/v1/workspaces/${state.id}/workspace.json`, { headers: authHeaders() });
    if (!response.ok) throw new Error(`${response.status}`);
    save(await response.blob(), `workspace_${state.id.slice(0, 8)}.json`);
  } catch (error) {
    setStatus($("export-status"), `Download: ${error.message}`, true);
  }
}

// MARK: Job permalinks

/// The job of the address the page was opened with (/?workspace=ID&job=JOB), restored once its
/// workspace is open.
let permalinkJob = new URLSearchParams(location.search).get("job");

/// The page's address and permalink name a finished job of the open workspace.
function linkJob(id) {
  const link = `/?workspace=${state.id}&job=${id}`;
  history.replaceState(null, "", link);
  $("permalink").href = link;
}

/// Shows a finished job's result as the page showed it when the job ran: a fit's pulls,
/// correlations and post-fit yields (of the model it fitted), a 1-D scan's curve, a 2-D scan's contours, an export's files.
async function restoreJob(id) {
  const job = await api("GET", `/v1/jobs/${encodeURIComponent(id)}`);
  if (job.workspace !== state.id) throw new Error(`job ${id} belongs to another workspace`);
  if (job.state !== "done") throw new Error(`job ${id} is ${job.state}${job.error ? `: ${job.error.error}` : ""}`);
  linkJob(job.id);
  if (job.kind === "fit") {
    const fit = await api("GET", `/v1/jobs/${job.id}/files/fit.json`);
    const exclude = (job.request && job.request.exclude) || [];
    await showFit(fit, job.id, `Fit of job ${job.id} (${fit.converged ? "converged" : "did NOT converge"})${exclude.length ? `, without ${exclude.join(", ")}` : ""}: 2NLL = ${format(fit.twice_nll)}.`, exclude);
    return;
  }
  if (job.kind === "scan") {
    const scan = await api("GET", `/v1/jobs/${job.id}/files/scan.json`);
    if (scan.parameter !== undefined) {
      drawScan(scan);
      setStatus($("scan-status"), `Scan of ${scan.parameter} (job ${job.id}): best fit ${format(scan.best_fit)}`);
      return;
    }
    if (Array.isArray(scan.parameters) && scan.parameters.length === 2) {
      showScan2D(scan, job.id, `Scan of ${scan.parameters.join(" and ")} (job ${job.id}): `);
      return;
    }
  }
  // Any other result: its files, downloaded on request.
  const status = $("export-status");
  status.replaceChildren(`${job.kind} job ${job.id}: `);
  for (const file of job.files) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = `Download ${file}`;
    button.dataset.jobFile = file;
    button.addEventListener("click", async () => {
      const response = await fetch(`/v1/jobs/${job.id}/files/${file}`, { headers: authHeaders() });
      if (response.ok) save(await response.blob(), file);
    });
    status.append(button, " ");
  }
}

function startLoadAndExport() {
  $("file-archive").addEventListener("change", (e) => { if (e.target.files[0]) readArchive(e.target.files[0]); });
  $("archive-patch").addEventListener("change", syncArchiveWorkspace);
  $("archive-load").addEventListener("click", loadFromArchive);
  $("url-load").addEventListener("click", readURL);
  $("export-document").addEventListener("click", downloadDocument);
  $("export-point").addEventListener("click", () => {
    const at = sliderPoint();
    exportJob({ kind: "export", at, poi: $("export-poi").value }, { "workspace.json": "workspace_at_point.json" }, "Workspace at the point");
  });
  $("export-patchset").addEventListener("click", () => {
    let grid;
    try { grid = parseGrid($("export-grid").value); } catch (error) { setStatus($("export-status"), `Patch set: ${error.message}`, true); return; }
    exportJob({ kind: "patchset", grid, poi: $("export-poi").value }, { "likelihood.tar.gz": "likelihood.tar.gz" }, "Patch set");
  });
  $("export-popxf").addEventListener("click", () => {
    exportJob({ kind: "popxf", scale: Number($("popxf-scale").value), observables: $("popxf-observables").value }, { "popxf.json": "popxf.json" }, "POPxf");
  });
  // The exports follow the workspace explorer.js opens; a job of the permalink is restored then.
  const open = openWorkspace;
  openWorkspace = async function (id) {
    await open(id);
    renderExports();
    const job = permalinkJob;
    permalinkJob = null;
    if (job) {
      try { await restoreJob(job); } catch (error) { setStatus($("status"), `Job ${job}: ${error.message}`, true); }
    }
  };
  // Every job the page runs on the open workspace becomes the permalink's job once done.
  const wait = waitForJob;
  waitForJob = async function (job, onProgress) {
    const done = await wait(job, onProgress);
    if (done.workspace === state.id) linkJob(done.id);
    return done;
  };
}

startLoadAndExport();
