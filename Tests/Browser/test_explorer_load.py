"""The explorer's HEPData archives and export buttons, end to end in headless Chromium against a
real `efthf serve` (fixtures from test_explorer.py), checked against stock pyhf.

Archives are packed here with Python's tarfile and zipfile from the published ATLAS SUSY-2019-08
1Lbb likelihood of the shared reference folder: BkgOnly.json and its patch set, cut to 5 of its 125
signal patches (metadata and digest unchanged) so that a debug build on a loaded machine reads it
in seconds. The tests that need it are skipped, saying so, when that folder is absent.
"""

import importlib.util
import io
import json
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import zipfile

import numpy as np
import pyhf
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from test_explorer import (BINARY, EXAMPLE, REFERENCE, ROOT, TOKEN, authorised, browser, downloads, server,  # noqa: F401 (fixtures)
                           severe_console_entries, shoot, wait, wait_for_charts)

ONE_L_BB = REFERENCE / "workspaces/06_atlas_susy2019_08_1Lbb"
PATCH = "C1N2_Wh_hbb_700_150"
PATCHES = 5
needs_1lbb = pytest.mark.skipif(not ONE_L_BB.is_dir(), reason="the shared reference workspaces (06_atlas_susy2019_08_1Lbb) are absent")


def pack(path, kind):
    """The 1Lbb pair as a HEPData archive would hold it, in a folder with a README."""
    patchset = json.loads((ONE_L_BB / "patchset.json").read_text())
    chosen = [p for p in patchset["patches"] if p["metadata"]["name"] == PATCH]
    patchset["patches"] = chosen + [p for p in patchset["patches"] if p["metadata"]["name"] != PATCH][:PATCHES - 1]
    members = {"1Lbb/BkgOnly.json": (ONE_L_BB / "BkgOnly.json").read_bytes(),
               "1Lbb/patchset.json": json.dumps(patchset).encode(),
               "1Lbb/README.md": b"ATLAS SUSY-2019-08 likelihoods\n"}
    if kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members.items():
                z.writestr(name, data)
    else:
        with tarfile.open(path, "w:gz") as t:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return path


def api(server, method, path, body=None, content_type="application/json"):
    request = urllib.request.Request(server + path, data=body, method=method,
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=300) as r:
        return r.status, json.load(r)


def efthf_logpdf(workspace_path, at=None):
    """efthf's log L at the suggested initial values (with `at` set), by `efthf eval`."""
    command = [str(BINARY), "eval", str(workspace_path)] + (["--at", at] if at else [])
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)["logpdf"]


def pyhf_patched():
    """pyhf's own BkgOnly + patch: the workspace document and its model's log L and expected main
    data at the suggested initial values."""
    background = json.loads((ONE_L_BB / "BkgOnly.json").read_text())
    patchset = pyhf.PatchSet(json.loads((ONE_L_BB / "patchset.json").read_text()))
    spec = patchset.apply(background, PATCH)
    workspace = pyhf.Workspace(spec)
    model = workspace.model()
    init = model.config.suggested_init()
    data = workspace.data(model)
    logpdf = float(model.logpdf(init, data)[0])
    expected = model.expected_actualdata(init)
    by_channel = {c: [float(x) for x in expected[model.config.channel_slices[c]]] for c in model.config.channels}
    return dict(spec), logpdf, by_channel


@needs_1lbb
def test_archive_upload_pick_patch_matches_pyhf(server, browser, tmp_path):
    """Upload the 1Lbb .tar.gz, pick a patch by its masses, see the charts; the stored workspace
    is pyhf's PatchSet.apply result, its log L at the initial values pyhf's to 1e-9 (relative),
    and the yields the page draws pyhf's expected data to 1e-9 (relative)."""
    driver = browser
    archive = pack(tmp_path / "1Lbb.tar.gz", "tar.gz")
    driver.get(server + "/#token=" + TOKEN)
    driver.find_element(By.ID, "file-archive").send_keys(str(archive))
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#archive-patch option")) == PATCHES + 1, timeout=300, message="no patch list")
    assert f"{PATCHES} patch(es)" in driver.find_element(By.ID, "status").text
    patch = Select(driver.find_element(By.ID, "archive-patch"))
    label = next(o.text for o in patch.options if o.get_attribute("data-patch") == PATCH)
    assert "m1=700" in label and "m2=150" in label, label
    patch.select_by_visible_text(label)
    assert Select(driver.find_element(By.ID, "archive-workspace")).first_selected_option.text == "1Lbb/BkgOnly.json"
    shoot(driver, "20-archive-listing.png", "load")
    driver.find_element(By.ID, "archive-load").click()
    wait(driver, lambda d: "?workspace=" in d.current_url, timeout=300, message="the patched workspace was not loaded")
    summary = wait_for_charts(driver, server)
    assert summary["inspection"]["poi"] == "mu_SIG"
    shoot(driver, "21-archive-patched-charts.png", "yields")

    workspace_id = driver.execute_script("return new URLSearchParams(location.search).get('workspace')")
    with urllib.request.urlopen(authorised(f"{server}/v1/workspaces/{workspace_id}/workspace.json")) as r:
        stored = json.load(r)
    spec, logpdf, expected = pyhf_patched()
    assert stored == spec, "the stored workspace differs from pyhf's PatchSet.apply"
    stored_path = tmp_path / "stored.json"
    stored_path.write_text(json.dumps(stored))
    ours = efthf_logpdf(stored_path)
    assert ours == pytest.approx(logpdf, rel=1e-9), (ours, logpdf)
    _, yields = api(server, "POST", f"/v1/workspaces/{workspace_id}/yields", b"{}")
    for channel in yields["channels"]:
        np.testing.assert_allclose(channel["total"], expected[channel["name"]], rtol=1e-9)
    assert severe_console_entries(driver) == []


@needs_1lbb
def test_zip_archive_lists_and_loads_like_the_tarball(server, tmp_path):
    """The same archive as .zip: the same listing, and the selected patch gives the same workspace."""
    tarball = pack(tmp_path / "1Lbb.tar.gz", "tar.gz").read_bytes()
    zipped = pack(tmp_path / "1Lbb.zip", "zip").read_bytes()
    _, from_tar = api(server, "POST", "/v1/archives", tarball, "application/octet-stream")
    _, from_zip = api(server, "POST", "/v1/archives", zipped, "application/octet-stream")
    assert from_tar["format"] == "tar.gz" and from_zip["format"] == "zip"
    for listing in (from_tar, from_zip):
        assert listing["workspaces"] == [{"member": "1Lbb/BkgOnly.json"}]
        (patchset,) = listing["patchsets"]
        assert patchset["workspace"] == "1Lbb/BkgOnly.json" and patchset["labels"] == ["m1", "m2"]
        assert len(patchset["patches"]) == PATCHES
    assert from_tar["patchsets"] == from_zip["patchsets"]
    status, created = api(server, "POST", f"/v1/archives?patch={PATCH}", zipped, "application/octet-stream")
    assert status == 201 and created["state"] == "ready"
    with urllib.request.urlopen(authorised(f"{server}/v1/workspaces/{created['id']}/workspace.json")) as r:
        assert json.load(r) == pyhf_patched()[0]


def test_unsafe_and_damaged_archives_are_refused_naming_the_member(server, browser, tmp_path):
    driver = browser
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as t:
        info = tarfile.TarInfo("lh/../../evil.json")
        info.size = 2
        t.addfile(info, io.BytesIO(b"{}"))
    driver.get(server + "/#token=" + TOKEN)
    driver.find_element(By.ID, "file-archive").send_keys(str(evil))
    wait(driver, lambda d: "lh/../../evil.json" in d.find_element(By.ID, "status").text, message="no refusal naming the member")
    status = driver.find_element(By.ID, "status").text
    assert "leaves the archive" in status and "error" in driver.find_element(By.ID, "status").get_attribute("class")
    assert severe_console_entries(driver, expected=["/v1/archives - Failed to load resource: the server responded with a status of 422"]) == []
    # Cut short: one error, 422, saying so.
    whole = evil.read_bytes()
    with pytest.raises(urllib.error.HTTPError) as cut:
        api(server, "POST", "/v1/archives", whole[: len(whole) // 2], "application/octet-stream")
    assert cut.value.code == 422
    body = json.load(cut.value)
    assert body["code"] == "truncated archive" and "ends early" in body["error"], body
    # Not an archive at all.
    with pytest.raises(urllib.error.HTTPError) as plain:
        api(server, "POST", "/v1/archives", b'{"channels": []}', "application/octet-stream")
    assert plain.value.code == 422 and "not a .tar, .tar.gz (.tgz) or .zip archive" in json.load(plain.value)["error"]


def wait_for_download(folder, name, timeout=60):
    path = folder / name
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and not list(folder.glob("*.crdownload")):
            return path
        time.sleep(0.1)
    pytest.fail(f"{name} was not downloaded; the folder holds {sorted(p.name for p in folder.iterdir())}")


def test_export_buttons_workspace_at_point_patch_set_and_popxf(server, browser, downloads):  # noqa: F811
    """The exports, read by stock pyhf. Specs/eft-extension.md (X1): the exported likelihood is
    efthf's at the point up to a constant that depends on neither the point nor the nuisance
    parameters (the staterror normalisation), so differences of ln L between points must agree:
    the workspace at the sliders' point and the patch set's points (cHW = -1, 0, 1), ln L at the
    suggested initial values by pyhf against `efthf eval` on the original workspace, to 1e-7
    absolute (|ln L| ~ 300). The POPxf file passes popxf-validator and lists the coefficients."""
    driver = browser
    for old in downloads.iterdir():
        old.unlink()
    driver.get(server + "/#token=" + TOKEN)
    driver.find_element(By.ID, "file-workspace").send_keys(str(EXAMPLE))
    summary = wait_for_charts(driver, server)
    coefficients = summary["wilson_coefficients"]
    wait(driver, lambda d: d.find_element(By.ID, "export-point").is_displayed(), message="no export buttons")
    # Move the cHW slider to 0.5 (as dragging it would: the input event).
    driver.execute_script("const s = document.getElementById('wc-cHW'); s.value = '0.5'; s.dispatchEvent(new Event('input'));")
    wait(driver, lambda d: "modified" in d.find_element(By.ID, "yields-mode").text)
    point = driver.execute_script("return sliderPoint()")
    assert set(point) == set(coefficients) and abs(point["cHW"] - 0.5) < 0.05, point
    poi = Select(driver.find_element(By.ID, "export-poi")).first_selected_option.get_attribute("value")
    assert poi not in coefficients
    driver.find_element(By.ID, "export-point").click()
    exported = wait_for_download(downloads, "workspace_at_point.json")
    wait(driver, lambda d: "downloaded" in d.find_element(By.ID, "export-status").text)

    def pyhf_logpdf(spec):
        workspace = pyhf.Workspace(spec)
        model = workspace.model()
        assert model.config.poi_name == poi
        return float(model.logpdf(model.config.suggested_init(), workspace.data(model))[0])

    def efthf_at(values):
        return efthf_logpdf(EXAMPLE, ",".join(f"{name}={value!r}" for name, value in values.items()))

    at_point = pyhf_logpdf(json.loads(exported.read_text()))
    shoot(driver, "22-export.png", "export")

    # A 3-point patch set in cHW: pyhf applies each patch to the background-only workspace.
    others = ", ".join(f"{c}=0:0:1" for c in coefficients if c != "cHW")
    grid = driver.find_element(By.ID, "export-grid")
    grid.clear()
    grid.send_keys("cHW=-1:1:3" + (", " + others if others else ""))
    driver.find_element(By.ID, "export-patchset").click()
    archive_path = wait_for_download(downloads, "likelihood.tar.gz")
    wait(driver, lambda d: "3 patches" in d.find_element(By.ID, "export-status").text)
    # One HEPData-style archive, as Python's tarfile reads it: the patch set and its background.
    with tarfile.open(archive_path, "r:gz") as archive:
        assert sorted(archive.getnames()) == ["BkgOnly.json", "patchset.json"]
        patchset = pyhf.PatchSet(json.load(archive.extractfile("patchset.json")))
        background = pyhf.Workspace(json.load(archive.extractfile("BkgOnly.json")))
    assert [p.values[patchset.labels.index("cHW")] for p in patchset.patches] == [-1.0, 0.0, 1.0]
    theirs = [pyhf_logpdf(patchset.apply(background, p.name)) for p in patchset.patches]
    grid_points = [{c: (v if c == "cHW" else 0.0) for c in coefficients} for v in (-1.0, 0.0, 1.0)]
    ours = [efthf_at(p) for p in grid_points]
    here = efthf_at(point)
    for k in range(3):
        assert at_point - theirs[k] == pytest.approx(here - ours[k], abs=1e-7), (k, at_point, theirs, here, ours)
    assert theirs[0] - theirs[2] == pytest.approx(ours[0] - ours[2], abs=1e-7)

    driver.find_element(By.ID, "export-popxf").click()
    popxf_path = wait_for_download(downloads, "popxf.json")
    popxf = json.loads(popxf_path.read_text())
    # popxf-validator (installed by scripts/setup.sh; its check script says what it checks).
    if importlib.util.find_spec("popxf") is not None:
        subprocess.run(["python3", str(ROOT / "Tests/References/popxf/check_popxf.py"), str(popxf_path)], check=True)
    assert popxf["metadata"]["scale"] == 125
    assert sorted(popxf["metadata"]["parameters"]) == sorted(coefficients)
    assert len(popxf["metadata"]["observable_names"]) == len(popxf["data"]["observable_central"][next(iter(popxf["data"]["observable_central"]))])
    assert severe_console_entries(driver) == []


@pytest.fixture(scope="module")
def fetching_server(tmp_path_factory):
    """An `efthf serve --allow-url-fetch` (no authentication, loopback) and a `python3 -m
    http.server` on loopback serving a folder: (efthf URL, file server URL, folder)."""
    import socket
    import sys

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    folder = tmp_path_factory.mktemp("served")
    data = tmp_path_factory.mktemp("fetch-data")
    files_port, port = free_port(), free_port()
    files = subprocess.Popen([sys.executable, "-m", "http.server", str(files_port), "--bind", "127.0.0.1", "--directory", str(folder)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = open(data / "serve.log", "w")
    efthf = subprocess.Popen([str(BINARY), "serve", "--port", str(port), "--data-dir", str(data / "data"), "--no-auth",
                              "--allow-url-fetch", "--max-upload-bytes", "20000000"], stdout=log, stderr=subprocess.STDOUT)
    url, files_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{files_port}"
    for target in (url + "/v1/health", files_url + "/"):
        for _ in range(200):
            try:
                with urllib.request.urlopen(target, timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail(f"{target} did not answer: " + (data / "serve.log").read_text())
    yield url, files_url, folder
    for process in (efthf, files):
        process.terminate()
        process.wait(timeout=30)
    log.close()


def post_fetch(url, body):
    request = urllib.request.Request(url + "/v1/fetch", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as r:
        return r.status, json.load(r)


@needs_1lbb
def test_url_of_an_archive_and_of_a_workspace(fetching_server, browser, tmp_path):
    """The page's URL field: the server fetches an archive from a loopback http server, the
    picker loads a patch (the workspace is pyhf's PatchSet.apply result); a workspace URL loads
    at once; an unreachable URL, a non-http URL and an oversized answer are one clear error."""
    url, files_url, folder = fetching_server
    pack(folder / "1Lbb.tar.gz", "tar.gz")
    (folder / "example.json").write_bytes(EXAMPLE.read_bytes())
    (folder / "big.bin").write_bytes(b"\0" * 25_000_000)
    driver = browser
    driver.get(url + "/")
    field = driver.find_element(By.ID, "url-input")
    field.send_keys(files_url + "/1Lbb.tar.gz")
    driver.find_element(By.ID, "url-load").click()
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#archive-patch option")) == PATCHES + 1, timeout=300, message="no patch list from the URL")
    patch = Select(driver.find_element(By.ID, "archive-patch"))
    patch.select_by_visible_text(next(o.text for o in patch.options if o.get_attribute("data-patch") == PATCH))
    driver.find_element(By.ID, "archive-load").click()
    wait(driver, lambda d: "?workspace=" in d.current_url, timeout=300, message="the patched workspace was not loaded")
    wait_for_charts(driver, url)
    workspace_id = driver.execute_script("return new URLSearchParams(location.search).get('workspace')")
    with urllib.request.urlopen(f"{url}/v1/workspaces/{workspace_id}/workspace.json") as r:
        assert json.load(r) == pyhf_patched()[0]

    field = driver.find_element(By.ID, "url-input")
    field.clear()
    field.send_keys(files_url + "/example.json")
    driver.find_element(By.ID, "url-load").click()
    wait(driver, lambda d: d.execute_script("return new URLSearchParams(location.search).get('workspace')") != workspace_id, timeout=120, message="the workspace URL was not loaded")
    summary = wait_for_charts(driver, url)
    assert "cHW" in summary["wilson_coefficients"]

    for body, status, text in [({"url": files_url + "/missing.tar.gz"}, 502, "answered HTTP 404"),
                               ({"url": "http://127.0.0.1:1/x.tar.gz"}, 502, "cannot fetch"),
                               ({"url": "file:///etc/passwd"}, 400, "not an http:// or https:// URL"),
                               ({"url": files_url + "/big.bin"}, 413, "larger than the limit of 20000000 bytes")]:
        with pytest.raises(urllib.error.HTTPError) as refused:
            post_fetch(url, body)
        assert refused.value.code == status and text in json.load(refused.value)["error"], body


def test_url_fetch_is_off_by_default(server):  # noqa: F811
    with pytest.raises(urllib.error.HTTPError) as refused:
        api(server, "POST", "/v1/fetch", json.dumps({"url": "http://127.0.0.1:1/x.json"}).encode())
    assert refused.value.code == 403 and "--allow-url-fetch" in json.load(refused.value)["error"]


def test_job_permalink_restores_the_fit_and_an_export(server, browser):  # noqa: F811
    """/?workspace=ID&job=JOB: opened afresh, the page shows the fit job's pulls, correlations and
    2NLL (the fit.json's), or an export job's files to download."""
    driver = browser
    driver.get(server + "/#token=" + TOKEN)
    driver.find_element(By.ID, "file-workspace").send_keys(str(EXAMPLE))
    wait_for_charts(driver, server)
    driver.find_element(By.ID, "fit-button").click()
    wait(driver, lambda d: "job=" in d.current_url and d.find_elements(By.CSS_SELECTOR, "#pulls .pull-handle"), timeout=180, message="no fit permalink")
    link = driver.current_url
    job = link.split("job=")[1]
    pulls = len(driver.find_elements(By.CSS_SELECTOR, "#pulls .pull-handle"))
    with urllib.request.urlopen(authorised(f"{server}/v1/jobs/{job}/files/fit.json")) as r:
        fit = json.load(r)
    driver.get("about:blank")
    driver.get(link)
    wait(driver, lambda d: job in d.find_element(By.ID, "fit-status").text, timeout=60, message="the fit was not restored")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#pulls .pull-handle")) == pulls
    assert driver.find_elements(By.CSS_SELECTOR, "#correlations rect")
    assert driver.execute_script("return state.fit.twice_nll") == fit["twice_nll"]
    assert driver.execute_script("return format(state.fit.twice_nll)") in driver.find_element(By.ID, "fit-status").text
    assert driver.current_url == link

    # A POPxf job's permalink offers its file.
    driver.find_element(By.ID, "export-popxf").click()
    wait(driver, lambda d: "downloaded" in d.find_element(By.ID, "export-status").text, timeout=60)
    popxf_link = driver.current_url
    assert "job=" in popxf_link and popxf_link != link
    driver.get("about:blank")
    driver.get(popxf_link)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#export-status button[data-job-file='popxf.json']"), message="the POPxf job was not restored")
    # An unknown job: one clear error, the workspace still shown.
    driver.get(link.split("job=")[0] + "job=00000000-0000-0000-0000-000000000000")
    wait(driver, lambda d: "Job 00000000-0000-0000-0000-000000000000" in d.find_element(By.ID, "status").text)
    assert severe_console_entries(driver, expected=["404"]) == []
