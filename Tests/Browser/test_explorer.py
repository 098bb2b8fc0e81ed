"""The workspace explorer end to end, in a real headless browser (Debian's chromium and
chromium-driver, driven by selenium) against a real `efthf serve` started from the built binary
on a free loopback port.

Run by scripts/test-browser.sh; the binary is $EFTHF_BINARY (default .build/debug/efthf), the
screenshots go to $EFTHF_SCREENSHOTS (default .build/explorer-screenshots), the published
workspaces come from $EFTHF_REFERENCE_DIR (default ../shared/reference beside the repository).
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("EFTHF_BINARY", ROOT / ".build/debug/efthf"))
SCREENSHOTS = Path(os.environ.get("EFTHF_SCREENSHOTS", ROOT / ".build/explorer-screenshots"))
REFERENCE = Path(os.environ.get("EFTHF_REFERENCE_DIR", ROOT.parent / "shared/reference"))
if not REFERENCE.is_dir():
    REFERENCE = Path("/work/shared/reference")
EXAMPLE = ROOT / "Data/vh/workspace_morphing.json"
SVG = "{http://www.w3.org/2000/svg}"
# The server runs with a token file (Specs/service.md, "Authentication"); the page gets the token
# from the address's fragment on its first load and keeps it in localStorage.
TOKEN = "explorer-test-token-" + os.urandom(8).hex()


def authorised(url):
    return urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    assert BINARY.exists(), f"no efthf binary at {BINARY}: build it first (swift build --product efthf)"
    data = tempfile.mkdtemp(prefix="efthf-explorer-test-")
    port = free_port()
    log = open(Path(data) / "serve.log", "w")
    tokens = Path(data) / "tokens"
    tokens.write_text(f"# token owner\n{TOKEN} explorer-test\n")
    process = subprocess.Popen(
        [str(BINARY), "serve", "--port", str(port), "--data-dir", data + "/data", "--examples", str(ROOT / "Data/vh"),
         "--token-file", str(tokens)],
        cwd=data, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(authorised(url + "/v1/health"), timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("efthf serve did not answer /v1/health: " + (Path(data) / "serve.log").read_text())
    yield url
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:  # a job still running: graceful shutdown waits for it
        process.kill()
        process.wait()
    log.close()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="module")
def downloads():
    path = tempfile.mkdtemp(prefix="efthf-explorer-downloads-")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(downloads):
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"]:
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    # A 1280×800 viewport (the window size includes what headless Chromium counts as its frame).
    driver.get("about:blank")
    frame = driver.execute_script("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
    driver.set_window_size(1280 + frame[0], 800 + frame[1])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=30, message=""):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d), message)


def bars(driver, selector):
    return driver.find_elements(By.CSS_SELECTOR, selector + " rect.bar")


def stack_svgs(driver):
    """The per-channel stacked charts' SVG sources, by channel (read in one script: the page
    redraws a chart by replacing its SVG, so element references can go stale between calls)."""
    return dict(driver.execute_script(
        "return [...document.querySelectorAll('#stack-charts figure')].map(f => [f.dataset.chart, f.querySelector('svg').outerHTML])"))


def summary_of(server, driver):
    workspace = driver.execute_script("return new URLSearchParams(location.search).get('workspace')")
    with urllib.request.urlopen(authorised(f"{server}/v1/workspaces/{workspace}/summary")) as r:
        return json.load(r)


def wait_for_charts(driver, server):
    """Every chart of a loaded workspace is drawn, with bars; returns the summary."""
    wait(driver, lambda d: "?workspace=" in d.current_url and d.find_elements(By.CSS_SELECTOR, "#stack-charts figure svg rect.bar"),
         message="no stacked chart appeared")
    summary = summary_of(server, driver)
    channels = [c["name"] for c in summary["inspection"]["channels"]]
    wait(driver, lambda d: set(stack_svgs(d)) == {f"stack-{c}" for c in channels}, message="a channel's chart is missing")
    for c in channels:
        figure = driver.find_element(By.CSS_SELECTOR, f'#stack-charts figure[data-chart="stack-{c}"]')
        assert figure.find_elements(By.CSS_SELECTOR, "rect.bar"), f"no bars in the chart of {c}"
        assert figure.find_elements(By.CSS_SELECTOR, "circle.data"), f"no data points in the chart of {c}"
        assert figure.find_elements(By.CSS_SELECTOR, "circle.ratio"), f"no ratio panel points in the chart of {c}"
        assert figure.find_elements(By.CSS_SELECTOR, "rect.band"), f"no uncertainty band in the chart of {c}"
    assert bars(driver, "#composition"), "the composition chart has no bars"
    assert bars(driver, "#modifiers"), "the modifier-structure chart has no cells"
    assert driver.find_elements(By.CSS_SELECTOR, "#samples li") and driver.find_elements(By.CSS_SELECTOR, "#channels li")
    return summary


def shoot(driver, name, element_id=None):
    """A screenshot of the viewport, scrolled to an element first."""
    if element_id:
        driver.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'start'})", element_id)
        time.sleep(0.1)
    driver.save_screenshot(str(SCREENSHOTS / name))


def severe_console_entries(driver, expected=()):
    """Console errors, less those the test provoked on purpose (Chromium logs every 4xx answer)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]
            and not any(x in e["message"] for x in expected)]


def test_bundled_example_charts_fit_pulls_sliders_scan_download(server, browser, downloads):
    driver = browser
    driver.get(server + "/#token=" + TOKEN)
    # Upload the bundled example as a user would, through the file input.
    driver.find_element(By.ID, "file-workspace").send_keys(str(EXAMPLE))
    summary = wait_for_charts(driver, server)
    assert summary["wilson_coefficients"] == ["cHW", "cHq3"] or set(summary["wilson_coefficients"]) >= {"cHW"}
    warnings = driver.find_elements(By.CSS_SELECTOR, "#warnings li")
    assert len(warnings) >= 1
    assert driver.execute_script("return [innerWidth, innerHeight]") == [1280, 800]
    shoot(driver, "01-example-loaded.png")
    shoot(driver, "01-example-prefit-charts.png", "yields")

    # A Wilson-coefficient slider moved with the arrow keys morphs the signal.
    morphed = {(e["channel"], e["sample"]) for e in summary["inspection"]["wilson_coefficients"]}
    channel, sample = sorted(morphed)[0]

    def signal_heights(d):
        return d.execute_script(
            "return [...document.querySelectorAll(`#stack-charts figure[data-chart=\"stack-${arguments[0]}\"] rect.bar[data-sample=\"${arguments[1]}\"]`)]"
            ".map(r => r.getAttribute('height'))", channel, sample)

    before = signal_heights(driver)
    slider = driver.find_element(By.ID, "wc-cHW")
    slider.send_keys(*([Keys.ARROW_RIGHT] * 15))
    wait(driver, lambda d: signal_heights(d) != before, message="moving the cHW slider did not change the signal")
    wait(driver, lambda d: "modified" in d.find_element(By.ID, "yields-mode").text)
    shoot(driver, "02-slider-moved.png", "eft")

    # The fit job: pulls and the correlation matrix.
    driver.find_element(By.ID, "fit-button").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#pulls .pull-handle"), timeout=180, message="no pulls after the fit")
    assert bars(driver, "#correlations"), "the correlation matrix has no cells"
    wait(driver, lambda d: "fit covariance" in d.find_element(By.CSS_SELECTOR, "#stack-charts svg").get_attribute("outerHTML"),
         message="the band is not the fit's after the fit")
    assert "post-fit" in driver.find_element(By.ID, "yields-mode").text
    cells_at_default = len(bars(driver, "#correlations"))
    threshold = driver.find_element(By.ID, "rho-threshold")
    threshold.send_keys(*([Keys.ARROW_RIGHT] * 10))
    assert driver.find_element(By.ID, "rho-value").text == "0.60"
    assert driver.find_element(By.CSS_SELECTOR, '#correlations figure[data-chart="correlations"] figcaption').text.startswith("Correlations, |ρ| > 0.60")
    threshold.send_keys(*([Keys.ARROW_LEFT] * 10))
    assert len(bars(driver, "#correlations")) == cells_at_default
    shoot(driver, "03-fitted.png", "fit")
    wait(driver, lambda d: "post-fit" in d.find_element(By.ID, "yields-mode").text)

    # Drag a pull: the post-fit charts follow (the server evaluates the model at the new point).
    time.sleep(0.5)
    before = stack_svgs(driver)
    handle = driver.find_elements(By.CSS_SELECTOR, "#pulls .pull-handle")[0]
    start = float(handle.get_attribute("aria-valuenow"))
    ActionChains(driver).click_and_hold(handle).move_by_offset(40, 0).move_by_offset(40, 0).release().perform()
    wait(driver, lambda d: float(d.find_elements(By.CSS_SELECTOR, "#pulls .pull-handle")[0].get_attribute("aria-valuenow")) > start + 0.5,
         message="the pull did not move")
    wait(driver, lambda d: stack_svgs(d) != before, message="dragging a pull did not change the post-fit charts")
    # …and by keyboard.
    before = stack_svgs(driver)
    # The drag focused the handle; the arrow keys go to it.
    assert driver.switch_to.active_element == handle
    ActionChains(driver).send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT, Keys.ARROW_LEFT).perform()
    wait(driver, lambda d: stack_svgs(d) != before, message="moving a pull with the keys did not change the charts")
    shoot(driver, "04-pull-dragged-pulls.png", "fit")
    shoot(driver, "04-pull-dragged-postfit-chart.png", "yields")

    # Download a chart as SVG; the file parses as XML and holds the bars.
    driver.find_element(By.CSS_SELECTOR, f'button[data-download="stack-{channel}"]').click()
    target = downloads / f"stack-{channel}.svg"
    wait(driver, lambda d: target.exists() and target.stat().st_size > 0, message="the SVG was not downloaded")
    time.sleep(0.2)
    root = ET.parse(target).getroot()
    assert root.tag == SVG + "svg"
    assert len([r for r in root.iter(SVG + "rect") if r.get("class") == "bar"]) > 0
    driver.find_element(By.CSS_SELECTOR, 'button[data-download="modifiers"]').click()
    wait(driver, lambda d: (downloads / "modifiers.svg").exists())
    time.sleep(0.2)
    assert ET.parse(downloads / "modifiers.svg").getroot().tag == SVG + "svg"
    driver.find_element(By.CSS_SELECTOR, 'button[data-download-png="composition"]').click()
    wait(driver, lambda d: (downloads / "composition.png").exists() and (downloads / "composition.png").stat().st_size > 0)
    time.sleep(0.2)
    assert (downloads / "composition.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A 1-D profile scan as a job, with its progress.
    Select(driver.find_element(By.ID, "scan-parameter")).select_by_value("cHW")
    count = driver.find_element(By.ID, "scan-count")
    count.clear()
    count.send_keys("11")
    driver.find_element(By.ID, "scan-button").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#scan-chart path.curve"), timeout=180, message="no scan curve")
    progress = driver.find_element(By.ID, "scan-progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") == "11"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#scan-chart circle.point")) == 11
    assert "68% CL" in driver.find_element(By.ID, "scan-status").text
    shoot(driver, "05-scan.png", "scan")

    # The permalink opens the same workspace.
    url = driver.current_url
    driver.get(url)
    wait_for_charts(driver, server)
    assert severe_console_entries(driver) == []


def test_example_button(server, browser):
    browser.get(server + "/#token=" + TOKEN)
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#example-select option[value='workspace_morphing.json']"))
    Select(browser.find_element(By.ID, "example-select")).select_by_value("workspace_morphing.json")
    browser.find_element(By.ID, "load-example").click()
    wait_for_charts(browser, server)


@pytest.mark.skipif(not (REFERENCE / "workspaces/01_pyhf_example").is_dir(), reason="the shared reference workspaces are absent")
def test_published_workspace_with_patch_set(server, browser):
    driver = browser
    folder = REFERENCE / "workspaces/01_pyhf_example"
    driver.get(server + "/#token=" + TOKEN)
    driver.find_element(By.ID, "file-workspace").send_keys(str(folder / "example_bkgonly.json"))
    wait_for_charts(driver, server)
    first = driver.current_url
    driver.find_element(By.ID, "file-patchset").send_keys(str(folder / "example_patchset.json"))
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#patch-select option"))
    Select(driver.find_element(By.ID, "patch-select")).select_by_visible_text("patch_channel1_signal_syst1")
    driver.find_element(By.ID, "apply-patch").click()
    wait(driver, lambda d: d.current_url != first, message="applying the patch made no new workspace")
    summary = wait_for_charts(driver, server)
    assert summary["wilson_coefficients"] == []
    assert driver.find_element(By.ID, "eft").get_attribute("hidden") is not None
    driver.find_element(By.ID, "fit-button").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#pulls .pull-handle"), timeout=120, message="no pulls after the fit")
    assert driver.find_elements(By.CSS_SELECTOR, "#free-parameters td"), "the POI's row is missing"
    shoot(driver, "06-pyhf-example-patched-structure.png", "structure")
    shoot(driver, "06-pyhf-example-patched-fitted.png", "fit")
    assert severe_console_entries(driver) == []


@pytest.mark.skipif(not (REFERENCE / "workspaces/02_cms_combine2pyhf_one-bin-stat-full").is_dir(), reason="the shared reference workspaces are absent")
def test_published_cms_workspace(server, browser):
    driver = browser
    driver.get(server + "/#token=" + TOKEN)
    driver.find_element(By.ID, "file-workspace").send_keys(str(REFERENCE / "workspaces/02_cms_combine2pyhf_one-bin-stat-full/workspace.json"))
    wait_for_charts(driver, server)
    shoot(driver, "07-cms-workspace.png", "yields")
    assert severe_console_entries(driver) == []


@pytest.mark.skipif(not (REFERENCE / "workspaces/05_atlas_susy2018_31_sbottom_RegionA").is_dir(), reason="the shared reference workspaces are absent")
def test_background_only_workspace_with_a_hepdata_json_patch(server, browser):
    """A HEPData background-only workspace is no model on its own (its POI comes with the signal):
    the upload is refused with the library's reason, and applying a patch file sends both."""
    driver = browser
    folder = REFERENCE / "workspaces/05_atlas_susy2018_31_sbottom_RegionA"
    driver.get(server + "/#token=" + TOKEN)
    driver.find_element(By.ID, "file-workspace").send_keys(str(folder / "BkgOnly.json"))
    wait(driver, lambda d: "apply its signal patch first" in d.find_element(By.ID, "status").text, message="no refusal of the background-only workspace")
    driver.find_element(By.ID, "file-patchset").send_keys(str(folder / "patch.sbottom_1300_205_60.json"))
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#patch-select option"))
    driver.find_element(By.ID, "apply-patch").click()
    summary = wait_for_charts(driver, server)
    assert summary["inspection"]["poi"] == "mu_SIG"
    assert len(bars(driver, "#modifiers")) > 100
    shoot(driver, "08-atlas-sbottom-patched-charts.png", "yields")
    shoot(driver, "08-atlas-sbottom-patched-structure.png", "structure")
    assert severe_console_entries(driver, expected=["/v1/workspaces - Failed to load resource: the server responded with a status of 422"]) == []


def test_page_without_a_token_asks_for_one(server, browser):
    browser.get(server + "/")
    browser.execute_script("localStorage.clear()")
    browser.get(server + "/")
    form = browser.find_element(By.ID, "token-form")
    wait(browser, lambda d: form.is_displayed(), message="the token form did not appear")
    assert "access token" in browser.find_element(By.ID, "token-status").text
    browser.find_element(By.ID, "token-input").send_keys(TOKEN)
    browser.find_element(By.ID, "token-submit").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#example-select option[value='workspace_morphing.json']"),
         message="the examples did not load with the token")
    assert not form.is_displayed()
    assert browser.execute_script("return localStorage.getItem('efthf-token')") == TOKEN
    assert severe_console_entries(browser, expected=["/v1/examples - Failed to load resource: the server responded with a status of 401"]) == []
