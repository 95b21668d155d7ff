"""The explorers in a real browser: tests/explorers_app.ipynb served by Voila on localhost, Chromium driven headless with Selenium,
a slider moved with the keyboard, and the displayed numbers checked to change.

The browser and its driver come from the system (Debian: `apt-get install chromium chromium-driver`, which `make browser` runs when
they are missing); LIBORTHO_CHROMIUM and LIBORTHO_CHROMEDRIVER point elsewhere (e.g. the Chrome preinstalled on GitHub runners).
Selenium is given both paths, so it never downloads a browser or a driver."""
import os, socket, subprocess, sys, time
from pathlib import Path
import pytest

# `make test` runs this test alone, after the two pytest workers: beside another worker's CLI tests the page took over the
# webdriver's 120 s to load (it waits for the kernel to run the app), twice; alone the whole test takes about 35 s.
pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "explorers_app.ipynb"
CHROMIUM = os.environ.get("LIBORTHO_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("LIBORTHO_CHROMEDRIVER", "/usr/bin/chromedriver")

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _wait_for_port(port, proc, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None: raise RuntimeError(f"voila exited with code {proc.returncode} before listening")
        try: socket.create_connection(("127.0.0.1", port), 1).close(); return
        except OSError: time.sleep(0.3)
    raise TimeoutError(f"voila did not listen on port {port} within {timeout} s")

@pytest.fixture
def voila_url(tmp_path):
    port = _free_port()
    log = open(tmp_path / "voila.log", "w")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [str(Path(sys.executable).parent / "voila"), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1", str(APP)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait(5)
        log.close()
        if proc.returncode not in (0, -15, -9): print((tmp_path / "voila.log").read_text()[-3000:])

@pytest.fixture
def browser():
    for p in (CHROMIUM, CHROMEDRIVER):
        assert os.access(p, os.X_OK), f"{p} not found: install Debian's chromium and chromium-driver (make browser), or set LIBORTHO_CHROMIUM / LIBORTHO_CHROMEDRIVER"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"): opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try: yield driver
    finally: driver.quit()

def test_sliders_change_the_numbers(voila_url, browser, tmp_path):
    from selenium.common.exceptions import TimeoutException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    def text(css):
        "The element's text; the widgets re-render their HTML on every change, so an element found may go stale before it is read."
        for _ in range(100):
            try: return browser.find_element(By.CSS_SELECTOR, css).text
            except StaleElementReferenceException: time.sleep(0.05)
        raise AssertionError(f"{css} kept going stale for 5 s")
    browser.get(voila_url)
    try: WebDriverWait(browser, 240).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".lo-adaptive-opportunity_rate"))   # the kernel ran the app
    except TimeoutException:
        pytest.fail("the explorers app did not render within 240 s; voila's log ends:\n" + (tmp_path / "voila.log").read_text()[-3000:])
    alpha, rho, epsilon = browser.find_elements(By.CSS_SELECTOR, ".noUi-handle")   # page order: alpha; then rho and epsilon
    # alpha explorer: alpha 1 -> 0 (Home: the slider's minimum, one change event)
    before = text(".lo-perplexity")
    assert text(".lo-alpha") == "1.00" and alpha.get_attribute("aria-valuenow") == "1.0"
    alpha.click(); alpha.send_keys(Keys.HOME)
    WebDriverWait(browser, 120).until(lambda d: text(".lo-alpha") == "0.00")
    after = text(".lo-perplexity")
    assert after != before and float(after) > 0, (before, after)
    # epsilon explorer: rho 0.9 -> 0.05, a looser safe set, so more opportunities for the key
    cell = ".lo-adaptive-opportunity_rate"
    before = text(cell)
    assert rho.get_attribute("aria-valuenow") == "0.9"
    rho.click(); rho.send_keys(Keys.HOME)
    WebDriverWait(browser, 120).until(lambda d: d.find_elements(By.XPATH, "//th[contains(., 'rho = 0.05')]"))
    after = text(cell)
    assert float(after.rstrip("%")) > float(before.rstrip("%")), (before, after)
