"""The Consul UI, seen in a real browser: headless Chromium (Debian's) lists both services passing."""

import os
import shutil
import signal
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# No call home from the browser: this machine's network is closed and tests must not try.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--window-size=1280,720",
]


@pytest.fixture
def browser(tmp_path, monkeypatch):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    assert os.path.exists(chromium) and os.path.exists(driver_path), "apt-get install chromium chromium-driver"
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not try to download anything
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def health_in_ui(browser, service):
    """The health class the UI's service list gives `service` ("passing", "critical", ...)."""
    marks = browser.find_elements(
        By.XPATH, f"//li[.//a[substring(@href, string-length(@href) - {len(service) - 1}) = '{service}']]//dl"
    )
    return marks[0].get_attribute("class") if marks else None


def test_consul_ui_lists_both_services_passing(discovery_demo, browser, tmp_path):
    services_page = f"{discovery_demo.consul_url}/ui/dc1/services"
    browser.get(services_page)
    WebDriverWait(browser, 30).until(lambda b: health_in_ui(b, "user-service") and health_in_ui(b, "order-service"))
    assert health_in_ui(browser, "user-service") == "passing"
    assert health_in_ui(browser, "order-service") == "passing"
    shot = Path(os.getenv("SCREENSHOT_DIR", tmp_path)) / "consul-ui.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")

    # The same page tells a hung instance apart: its check fails and the UI says so.
    discovery_demo.processes["user-service"].signal(signal.SIGSTOP)
    try:
        WebDriverWait(browser, 20, poll_frequency=0.5).until(
            lambda b: b.get(services_page) or health_in_ui(b, "user-service") == "critical"
        )
    finally:
        discovery_demo.processes["user-service"].signal(signal.SIGCONT)
    assert health_in_ui(browser, "order-service") == "passing"
