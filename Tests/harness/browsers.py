"""Headless Chromium through Selenium and Debian's chromium-driver; each browser has its own
profile (its own localStorage: a different person)."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from harness.pages import save_screenshot

CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver") or "/usr/bin/chromedriver"


class Browsers:
    def __init__(self):
        self.open: list = []

    def new(self, name: str):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
            pytest.skip(f"chromium ({CHROMIUM}) or chromedriver ({CHROMEDRIVER}) is not installed; run scripts/setup")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        profile = tempfile.mkdtemp(prefix=f"ci-browser-{name}-")
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1360,860", "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--disable-background-networking", "--disable-sync",
                    "--disable-features=Translate,MediaRouter,OptimizationHints",
                    "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                    "--disable-backgrounding-occluded-windows", f"--user-data-dir={profile}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        driver.ci_name = name
        driver.ci_profile = profile
        self.open.append(driver)
        return driver

    def close(self, driver):
        """Closes one browser (like a person closing their window) and removes its profile."""
        try:
            driver.quit()
        except Exception:
            pass
        shutil.rmtree(driver.ci_profile, ignore_errors=True)
        if driver in self.open:
            self.open.remove(driver)

    def close_all(self):
        for driver in list(self.open):
            self.close(driver)

    def report(self, test_name: str):
        """A report source (harness.reports): a screenshot of each open browser and its console."""
        def source():
            out = []
            for driver in self.open:
                try:
                    path = save_screenshot(driver, f"failed-{test_name}-{driver.ci_name}")
                    logs = driver.get_log("browser")
                    out.append((f"browser {driver.ci_name}", f"screenshot: {path}\n" +
                                "\n".join(f"{l['level']} {l['message']}" for l in logs[-60:])))
                except Exception as e:  # a dead browser must not hide the failure
                    out.append((f"browser {driver.ci_name}", f"(no screenshot: {e})"))
            return out
        return source
