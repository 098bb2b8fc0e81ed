"""The explorer's further charts end to end in headless Chromium (run by scripts/test-browser.sh
with test_explorer.py, whose server, browser and download fixtures and helpers it uses):
composition pies, the filtered systematic table (against pyhf), event-database statistics
(against h5py reading the same HDF5 file), a 2-D profile-likelihood scan with the report's
contours, the ranking job (against `efthf ranking --json`), keyboard use and 1280×800 screenshots.
"""

import csv
import json
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET

import h5py
import numpy as np
import pyhf
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from test_explorer import (BINARY, EXAMPLE, ROOT, SVG, TOKEN, authorised, browser, downloads, server,  # noqa: F401 (fixtures)
                           severe_console_entries, shoot, summary_of, wait, wait_for_charts)

EVENTS = ROOT / "Data/vh/workspace_events.json"
DATABASE = ROOT / "Data/vh/vh_smeft_events.h5"


def load_example(driver, server, name):
    driver.get(server + "/#token=" + TOKEN)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"#example-select option[value='{name}']"))
    Select(driver.find_element(By.ID, "example-select")).select_by_value(name)
    driver.find_element(By.ID, "load-example").click()
    return wait_for_charts(driver, server)


def api_get(server, path):
    with urllib.request.urlopen(authorised(server + path)) as r:
        return json.load(r)


def downloaded(driver, downloads, name):  # noqa: F811
    target = downloads / name
    wait(driver, lambda d: target.exists() and target.stat().st_size > 0, message=f"{name} was not downloaded")
    time.sleep(0.2)
    return target


def test_pies_and_the_systematic_table_against_pyhf(server, browser, downloads):  # noqa: F811
    driver = browser
    summary = load_example(driver, server, "workspace_morphing.json")
    channels = summary["inspection"]["channels"]

    # A pie per channel; every sample labelled with its share of the positive nominal yields.
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#pies g.pie")) == len(channels), message="a pie is missing")
    for channel in channels:
        total = sum(max(s["yield"], 0) for s in channel["samples"])
        labels = driver.execute_script(
            "return [...document.querySelectorAll(`#pies g.pie[data-channel=\"${arguments[0]}\"] text.pie-label`)].map(t => [t.dataset.sample, t.textContent])",
            channel["name"])
        assert [s for s, _ in labels] == [s["name"] for s in channel["samples"]]
        for (name, label), sample in zip(labels, channel["samples"]):
            assert label.endswith(f"{100 * max(sample['yield'], 0) / total:.1f}%"), (name, label)
        shares = [float(x) for x in driver.execute_script(
            "return [...document.querySelectorAll(`#pies g.pie[data-channel=\"${arguments[0]}\"] .slice`)].map(s => s.dataset.share)", channel["name"])]
        assert abs(sum(shares) - 1) < 1e-12

    # The table's sizes are pyhf's: normsys factors and the lumi width from the workspace, the staterror
    # γ widths from pyhf's model (its morphing modifier removed: pyhf does not know it).
    spec = json.loads(EXAMPLE.read_text())
    for c in spec["channels"]:
        for s in c["samples"]:
            s["modifiers"] = [m for m in s["modifiers"] if m["type"] != "morphing"]
    spec["version"] = "1.0.0"
    spec["measurements"][0]["config"]["poi"] = "lumi"
    spec["measurements"][0]["config"]["parameters"] = [p for p in spec["measurements"][0]["config"]["parameters"] if p["name"] == "lumi"]
    model = pyhf.Workspace(spec).model()
    rows = summary["modifiers"]
    staterrors = [m for m in rows if m["type"] == "staterror"]
    assert staterrors
    for m in staterrors:
        sigmas = model.config.param_set(m["name"]).sigmas
        assert np.allclose(m["relative"], sigmas, rtol=1e-12, atol=0), m["name"]
    lumi = [m for m in rows if m["type"] == "lumi"]
    assert lumi and all(abs(m["effect"] - model.config.param_set("lumi").sigmas[0]) < 1e-15 for m in lumi)

    # Filter by type and text; sort by the effect with the keyboard.
    table_rows = lambda d: d.find_elements(By.CSS_SELECTOR, "#systematics tr[data-type]")  # noqa: E731
    wait(driver, lambda d: len(table_rows(d)) == len(rows), message=f"{len(rows)} rows expected, {len(table_rows(driver))} shown; ")
    Select(driver.find_element(By.ID, "systematics-type")).select_by_value("normsys")
    wait(driver, lambda d: {r.get_attribute("data-type") for r in table_rows(d)} == {"normsys"})
    assert len(table_rows(driver)) == sum(m["type"] == "normsys" for m in rows)
    Select(driver.find_element(By.ID, "systematics-type")).select_by_value("")
    driver.find_element(By.ID, "systematics-filter").send_keys("ttbar")
    wait(driver, lambda d: len(table_rows(d)) == sum("ttbar" in (m["name"] + m["channel"] + m["sample"]).lower() for m in rows))
    driver.find_element(By.ID, "systematics-filter").send_keys(*([Keys.BACKSPACE] * len("ttbar")))
    wait(driver, lambda d: len(table_rows(d)) == len(rows), message=f"{len(rows)} rows expected, {len(table_rows(driver))} shown; ")

    def effects(d):
        return [float(v) for v in d.execute_script(
            "return [...document.querySelectorAll('#systematics td[data-value]')].map(t => t.dataset.value)")]
    assert effects(driver) == sorted(effects(driver), reverse=True), "not sorted by the largest effect first"
    sort = driver.find_element(By.CSS_SELECTOR, '#systematics button[data-sort="effect"]')
    sort.send_keys(Keys.ENTER)
    wait(driver, lambda d: effects(d) == sorted(effects(d)) and effects(d) != sorted(effects(d), reverse=True), message="Enter did not reverse the sort")
    assert driver.switch_to.active_element.get_attribute("data-sort") == "effect"
    assert driver.find_element(By.CSS_SELECTOR, '#systematics th[aria-sort="ascending"]')

    # Tab order: filter → type → CSV button; the CSV holds the summary's numbers.
    driver.find_element(By.ID, "systematics-filter").click()
    driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "systematics-type"
    driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "systematics-csv"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    with open(downloaded(driver, downloads, "systematics.csv"), newline="") as f:
        records = list(csv.DictReader(f))
    assert len(records) == len(rows)
    by_key = {(m["channel"], m["sample"], m["name"]): m for m in rows}
    for r in records:
        m = by_key[(r["channel"], r["sample"], r["modifier"])]
        assert r["type"] == m["type"]
        assert (r["effect"] == "" and m["effect"] is None) or float(r["effect"]) == m["effect"]
        if m["type"] == "normsys":
            assert (float(r["hi"]), float(r["lo"])) == (m["hi"], m["lo"])

    driver.find_element(By.CSS_SELECTOR, 'button[data-download="pies"]').click()
    root = ET.parse(downloaded(driver, downloads, "pies.svg")).getroot()
    assert root.tag == SVG + "svg" and len([p for p in root.iter() if p.get("class") == "slice"]) >= len(channels)
    assert driver.execute_script("return [innerWidth, innerHeight]") == [1280, 800]
    shoot(driver, "10-pies.png", "pies")
    shoot(driver, "10-systematics-table.png", "systematics-title")
    assert severe_console_entries(driver) == []


def weights_at(f, point):
    """w_e(c) = Σ_t a_et m_t(c) from the file's monomial exponents (Specs/event-database.md)."""
    names = [n.decode() for n in f["wilson_coefficients"][...]]
    c = np.array([point.get(n, 0.0) for n in names])
    w = np.zeros(f.attrs["event_count"])
    for name, exponents in zip(f["monomials"][...], f["monomial_exponents"][...]):
        w += f["coefficients"][name.decode()][...] * np.prod(c ** exponents)
    return w


def expected_statistics(w):
    return {"events": len(w), "sum_of_weights": w.sum(), "sum_of_squared_weights": (w * w).sum(), "minimum": w.min(), "maximum": w.max(),
            "negative_fraction": (w < 0).mean(), "effective_events": w.sum() ** 2 / (w * w).sum()}


def test_event_database_statistics_against_h5py(server, browser):  # noqa: F811
    driver = browser
    summary = load_example(driver, server, "workspace_events.json")
    assert any(e["event_database"] for e in summary["inspection"]["wilson_coefficients"])
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#event-statistics tr[data-file]"), message="no event statistics")

    def shown(d, which):
        return d.execute_script(
            "return Object.fromEntries([...document.querySelectorAll(`#event-statistics tr[data-file] td[data-column^=\"${arguments[0]}.\"]`)]"
            ".map(t => [t.dataset.column.split('.')[1], Number(t.dataset.value)]))", which)

    # Relative tolerance 1e-12: the same sums in another order (numpy's pairwise summation).
    def check(values, w):
        for key, value in expected_statistics(w).items():
            assert abs(values[key] - value) <= 1e-12 * abs(value) + 1e-300, (key, values[key], value)

    with h5py.File(DATABASE, "r") as f:
        nominal = f["weights/nominal"][...]
        check(shown(driver, "sm"), nominal)
        # Move the cHW slider with the keys: the statistics at the point follow.
        slider = driver.find_element(By.ID, "wc-cHW")
        slider.send_keys(*([Keys.ARROW_RIGHT] * 30))
        value = float(slider.get_attribute("value"))
        assert value != 0
        wait(driver, lambda d: f"cHW={driver.execute_script('return format(arguments[0])', value)}" in d.find_element(By.ID, "event-statistics").text,
             message="the statistics at the slider point did not follow the slider")
        check(shown(driver, "at"), weights_at(f, {"cHW": value}))
    shoot(driver, "11-event-statistics.png", "events")
    assert severe_console_entries(driver) == []


def test_two_dimensional_scan_draws_the_reports_contours(server, browser, downloads):  # noqa: F811
    driver = browser
    load_example(driver, server, "workspace_morphing.json")
    Select(driver.find_element(By.ID, "scan2d-x")).select_by_value("cHW")
    Select(driver.find_element(By.ID, "scan2d-y")).select_by_value("cHq3")
    for field, value in [("scan2d-x-lower", "-0.2"), ("scan2d-x-upper", "0.8"), ("scan2d-x-count", "5"),
                         ("scan2d-y-lower", "-0.2"), ("scan2d-y-upper", "0.1"), ("scan2d-y-count", "4")]:
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "scan2d-button").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#scan2d-chart path.contour"), timeout=300, message="no 2-D scan chart")
    progress = driver.find_element(By.ID, "scan2d-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") == "20"
    figure = driver.find_element(By.CSS_SELECTOR, '#scan2d-chart figure[data-chart="scan2d"]')
    report = api_get(server, f"/v1/jobs/{figure.get_attribute('data-job')}/files/scan.json")
    assert report["parameters"] == ["cHW", "cHq3"]
    # The paths are the report's segments, one "M…L…" each; the failed cells are marked.
    for level, segments in report["contours"].items():
        d = driver.find_element(By.CSS_SELECTOR, f'#scan2d-chart path.contour[data-level="{level}"]').get_attribute("d")
        assert d.count("M") == len(segments), level
    assert sum(len(s) for s in report["contours"].values()) > 0, "the grid holds no contour: widen the test's ranges"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#scan2d-chart rect.cell")) == 20
    # At cHW = −0.2, cHq3 = −0.1 the morphed yield is negative: that conditional fit fails.
    failures = {tuple(f["point"]) for f in report["failures"]}
    assert (-0.2, -0.1) in failures
    assert len(driver.find_elements(By.CSS_SELECTOR, "#scan2d-chart rect.cell.failed")) == len(failures)
    assert len(driver.find_elements(By.CSS_SELECTOR, "#scan2d-chart path.failed-mark")) == len(failures)
    assert driver.find_elements(By.CSS_SELECTOR, "#scan2d-chart path.best-fit") and driver.find_elements(By.CSS_SELECTOR, "#scan2d-chart circle.sm-point")
    driver.find_element(By.CSS_SELECTOR, 'button[data-download="scan2d"]').click()
    root = ET.parse(downloaded(driver, downloads, "scan2d.svg")).getroot()
    assert len([p for p in root.iter(SVG + "path") if p.get("class") == "contour"]) == len(report["contours"])
    driver.find_element(By.CSS_SELECTOR, 'button[data-download-png="scan2d"]').click()
    assert downloaded(driver, downloads, "scan2d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shoot(driver, "12-scan2d.png", "scan2d")
    # The job's permalink, opened afresh, draws the same contours.
    link = driver.current_url
    assert "job=" + figure.get_attribute("data-job") in link
    driver.get("about:blank")
    driver.get(link)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#scan2d-chart path.contour") and "job" in d.find_element(By.ID, "scan2d-status").text,
         timeout=60, message="the 2-D scan was not restored from its permalink")
    for level, segments in report["contours"].items():
        d = driver.find_element(By.CSS_SELECTOR, f'#scan2d-chart path.contour[data-level="{level}"]').get_attribute("d")
        assert d.count("M") == len(segments), level
    assert len(driver.find_elements(By.CSS_SELECTOR, "#scan2d-chart rect.cell.failed")) == len(failures)
    assert severe_console_entries(driver) == []


def test_fit_with_fixed_and_excluded_parameters_against_pyhf(server, browser):  # noqa: F811
    """The fit panel's "fix at" and "exclude" controls: the fit job is pyhf's fit of the pruned
    workspace with the parameter fixed (2NLL to 1e-6, values to 1e-4), its pulls leave the excluded
    parameter out, and the post-fit yields the page asks for are pyhf's expected data of that model
    at the best fit (1e-9 relative)."""
    driver = browser
    driver.get(server + "/#token=" + TOKEN)
    example = ROOT / "Data/example/workspace.json"
    driver.find_element(By.ID, "file-workspace").send_keys(str(example))
    wait_for_charts(driver, server)
    driver.find_element(By.CSS_SELECTOR, "#fit-settings summary").click()
    rows = {r.get_attribute("data-set"): r for r in driver.find_elements(By.CSS_SELECTOR, "#fit-settings-table tbody tr")}
    assert {"jes", "lumi", "mu", "ttbar_norm", "staterror_SR_pTV"} <= set(rows)
    assert rows["mu"].find_element(By.CSS_SELECTOR, '[data-role="exclude"]').get_attribute("disabled") is not None  # the POI
    # The filter narrows the table.
    driver.find_element(By.ID, "fit-settings-filter").send_keys("ttbar")
    assert [r.get_attribute("data-set") for r in driver.find_elements(By.CSS_SELECTOR, "#fit-settings-table tbody tr") if r.is_displayed()] == ["ttbar_norm"]
    driver.find_element(By.ID, "fit-settings-filter").clear()
    driver.execute_script("document.getElementById('fit-settings-filter').dispatchEvent(new Event('input'))")
    rows["jes"].find_element(By.CSS_SELECTOR, '[data-role="exclude"]').click()
    rows["ttbar_norm"].find_element(By.CSS_SELECTOR, '[data-role="fix"]').click()
    value = rows["ttbar_norm"].find_element(By.CSS_SELECTOR, '[data-role="fix-value"]')
    value.clear()
    value.send_keys("1.1")
    assert "1 fixed, 1 excluded" in driver.find_element(By.ID, "fit-settings-count").text
    driver.find_element(By.ID, "fit-button").click()
    wait(driver, lambda d: "2NLL" in d.find_element(By.ID, "fit-status").text, timeout=180, message="the fit did not finish")
    assert "without jes" in driver.find_element(By.ID, "fit-status").text
    fit = driver.execute_script("return state.fit")

    spec = json.loads(example.read_text())
    pruned = pyhf.Workspace(spec).prune(modifiers=["jes"])
    model = pruned.model()
    data = pruned.data(model)
    init, fixed = model.config.suggested_init(), model.config.suggested_fixed()
    k = model.config.par_slice("ttbar_norm").start
    init[k], fixed[k] = 1.1, True
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-12))
    try:
        best, twice_nll = pyhf.infer.mle.fit(data, model, init_pars=init, fixed_params=fixed, return_fitted_val=True)
    finally:
        pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())
    assert abs(fit["twice_nll"] - float(twice_nll)) < 1e-6
    assert set(fit["parameters"]) == set(model.config.par_names)
    for name, v in zip(model.config.par_names, best):
        assert abs(fit["parameters"][name]["value"] - float(v)) < 1e-4, name
    assert fit["parameters"]["ttbar_norm"]["fixed"] and fit["parameters"]["ttbar_norm"]["value"] == 1.1
    handles = driver.execute_script("return [...document.querySelectorAll('#pulls .pull-handle')].map(h => h.dataset.parameter || h.getAttribute('aria-label'))")
    assert handles and not any("jes" in (h or "") for h in handles)
    # The post-fit yields the page requests: its point and its exclusion, answered by the service.
    channels = driver.execute_async_script(
        "const done = arguments[0];"
        "api('POST', `/v1/workspaces/${state.id}/yields`, {at: currentPoint(), exclude: state.fitExclude}).then(r => done(r.channels));")
    point = np.array([fit["parameters"][n]["value"] for n in model.config.par_names])
    expected = model.expected_actualdata(point)
    ours = np.concatenate([c["total"] for c in sorted(channels, key=lambda c: model.config.channels.index(c["name"]))])
    assert np.allclose(ours, expected, rtol=1e-9, atol=0)
    shoot(driver, "14-fit-fixed-excluded.png", "fit")
    assert severe_console_entries(driver) == []


def test_ranking_job_matches_the_command_line(server, browser, downloads):  # noqa: F811
    driver = browser
    load_example(driver, server, "workspace_morphing.json")
    Select(driver.find_element(By.ID, "ranking-poi")).select_by_value("cHW")
    # Reached by the keyboard: the button follows the top-N field.
    driver.find_element(By.ID, "ranking-top").click()
    driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "ranking-button"
    driver.switch_to.active_element.send_keys(Keys.ENTER)
    cli = subprocess.run([str(BINARY), "ranking", str(EXAMPLE), "--poi", "cHW", "--ops", "cHW", "--json"],
                         capture_output=True, text=True, check=True, timeout=600)
    expected = json.loads(cli.stdout)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#ranking-chart g.ranking-row"), timeout=600, message="no ranking chart")
    rows = driver.execute_script("return [...document.querySelectorAll('#ranking-chart g.ranking-row')].map(g => g.dataset.parameter)")
    assert rows[0] == expected["parameters"][0]["name"]
    assert rows == [p["name"] for p in expected["parameters"]][:len(rows)]
    assert len(driver.find_elements(By.CSS_SELECTOR, "#ranking-chart rect.impact.postfit")) > 0
    assert len(driver.find_elements(By.CSS_SELECTOR, "#ranking-chart circle.pull")) == len(rows)
    progress = driver.find_element(By.ID, "ranking-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max")
    driver.find_element(By.CSS_SELECTOR, 'button[data-download="ranking"]').click()
    root = ET.parse(downloaded(driver, downloads, "ranking.svg")).getroot()
    assert len([g for g in root.iter(SVG + "g") if g.get("class") == "ranking-row"]) == len(rows)
    shoot(driver, "13-ranking.png", "ranking")
    assert severe_console_entries(driver) == []


def test_every_control_of_the_new_sections_is_reached_by_tab(server, browser):  # noqa: F811
    driver = browser
    load_example(driver, server, "workspace_morphing.json")
    expected = ["systematics-filter", "systematics-type", "systematics-csv", "scan2d-x", "scan2d-x-lower", "scan2d-x-upper", "scan2d-x-count",
                "scan2d-y", "scan2d-y-lower", "scan2d-y-upper", "scan2d-y-count", "scan2d-button", "ranking-poi", "ranking-top", "ranking-button"]
    # No positive tabindex anywhere: the tab order is the document order.
    assert driver.execute_script("return [...document.querySelectorAll('[tabindex]')].filter(e => e.tabIndex > 0).length") == 0
    driver.execute_script("document.getElementById('pies').scrollIntoView()")
    driver.find_element(By.CSS_SELECTOR, 'button[data-download="pies"]').click()
    seen = []
    for _ in range(400):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        active = driver.switch_to.active_element
        seen.append(active.get_attribute("id") or active.get_attribute("data-download") or active.get_attribute("data-sort") or active.tag_name)
        if seen[-1] == "ranking-button":
            break
    order = [i for i in seen if i in expected]
    assert order == expected, seen
    assert "effect" in seen, "the table's sort buttons are not reachable"


def test_a_running_scan_is_cancelled_from_the_page(server, browser):  # noqa: F811
    """The Cancel button beside a running job's progress bar: the job ends `cancelled` (the
    service's status), the page says so, and the button goes away."""
    driver = browser
    load_example(driver, server, "workspace_morphing.json")
    Select(driver.find_element(By.ID, "scan2d-x")).select_by_value("cHW")
    Select(driver.find_element(By.ID, "scan2d-y")).select_by_value("cHq3")
    for field, value in [("scan2d-x-count", "400"), ("scan2d-y-count", "400")]:
        element = driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "scan2d-button").click()
    wait(driver, lambda d: d.find_elements(By.ID, "scan2d-cancel") and "fits" in d.find_element(By.ID, "scan2d-status").text,
         timeout=120, message="the scan did not start reporting progress")
    job = driver.find_element(By.ID, "scan2d-cancel").get_attribute("data-job")
    driver.find_element(By.ID, "scan2d-cancel").click()
    wait(driver, lambda d: "cancelled" in d.find_element(By.ID, "scan2d-status").text, timeout=120, message="the page did not report the cancellation")
    assert not driver.find_elements(By.ID, "scan2d-cancel")
    assert driver.find_element(By.ID, "scan2d-button").is_enabled()
    status = api_get(server, f"/v1/jobs/{job}")
    assert status["state"] == "cancelled" and status["files"] == [] and "error" not in status, status
    assert severe_console_entries(driver) == []
