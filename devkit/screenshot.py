"""``make screenshot``: regenerate docs/status-page.png, the status page as the README shows it.

Runs the emulator with batches of objects (a few failing), sweeps them with the real handler into a temporary
folder store, serves the page on 127.0.0.1, signs in with headless Chromium (Debian's, through its chromedriver)
and saves a screenshot of the jobs view (and, with --job, of one batch's page).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devkit.screenshot", description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs" / "status-page.png"))
    parser.add_argument("--job", default="", help="also save the first failed batch's page to this PNG")
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        print("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
        return 2
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from devkit.apiserver import make_handler
    from devkit.ciemu import TEST_SECRET_ID, TEST_SECRET_KEY, CIEmulator
    from devkit.localserver import Serving
    from jobwatch.ci import CIClient
    from jobwatch.config import Credentials, Settings
    from jobwatch.entry import Ports, handle
    from jobwatch.records import Records
    from jobwatch.store import FileStore

    with CIEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        emulator.book.preload(9, seed=71, duration=(10, 30), objects=(40, 300), object_failure_ratio=0.03,
                              object_duration=(2, 8))  # fmt: skip
        emulator.book.preload(3, seed=72, duration=(4000, 6000), objects=(200, 400))
        settings = Settings.from_env({"JOBWATCH_CI_ENDPOINT": emulator.url, "JOBWATCH_CI_BUCKET": "demo-1250000000",
                                      "JOBWATCH_API_TOKEN": "screenshot-token"})  # fmt: skip
        client = CIClient(emulator.url, Credentials(TEST_SECRET_ID, TEST_SECRET_KEY))
        from datetime import datetime, timezone

        ports = Ports(settings, Records(FileStore(Path(tmp))), lambda: client,
                      clock=lambda: datetime.fromtimestamp(emulator.clock(), timezone.utc))  # fmt: skip
        handle({"action": "sweep"}, {}, ports=ports)
        for _ in range(6):
            emulator.clock.advance(20)
            handle({"action": "sweep"}, {}, ports=ports)
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(lambda e, c: handle(e, c, ports=ports)))
        url = Serving(server, path="/ui").start().url
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--window-size={args.width},1000", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                     f"--user-data-dir={tmp}/chromium"):  # fmt: skip
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        try:
            driver.get(url)
            field = WebDriverWait(driver, 15).until(lambda d: d.find_element(By.CSS_SELECTOR, 'input[name="token"]'))
            field.send_keys("screenshot-token")
            driver.find_element(By.CSS_SELECTOR, '#login-form button[type="submit"]').click()
            WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-job-id]"))
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(args.out)
            print(f"saved {args.out}")
            if args.job:
                failed = [r for r in driver.find_elements(By.CSS_SELECTOR, "tr[data-job-id]") if "failed" in r.text]
                (failed or driver.find_elements(By.CSS_SELECTOR, "tr[data-job-id]"))[0].find_element(
                    By.TAG_NAME, "a"
                ).click()
                WebDriverWait(driver, 15).until(lambda d: d.find_element(By.ID, "job-facts").text)
                driver.save_screenshot(args.job)
                print(f"saved {args.job}")
        finally:
            driver.quit()
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
