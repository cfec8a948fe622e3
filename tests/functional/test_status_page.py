"""The status page in a real browser: Debian's headless Chromium driven by Selenium, against the emulator and a real
HTTP server in front of main_handler (both event shapes). These tests run in CI (.ci/run installs the browser);
only a machine without it skips them, and CI never does."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devkit.apiserver import make_handler
from devkit.ciemu import CIEmulator
from devkit.localserver import Serving
from jobwatch.entry import Ports, handle
from tests.functional.apitools import TOKEN, build_ports

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser tests: install Debian's chromium and chromium-driver")
    pytest.skip("no chromium/chromedriver on this machine (CI installs them)", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402, TC002  (fixtures' annotations)
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.stored import stored_ids  # noqa: E402


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One headless Chromium for the module; it may resolve and reach nothing but 127.0.0.1."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not look anything up
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--window-size=1280,900",
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # type: ignore[arg-type]
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def serve(ports: Ports, shape: str) -> Serving:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(lambda e, c: handle(e, c, ports=ports), shape))
    server.daemon_threads = True
    return Serving(server)


@pytest.fixture
def site(emulator: CIEmulator, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Ports, str]]:
    """Finished and running batches with objects (some failed) and dead letters, behind a real HTTP server."""
    emulator.book.preload(6, seed=61, duration=(10, 20), objects=(20, 40), object_failure_ratio=0.2,
                          object_duration=(2, 5))  # fmt: skip
    emulator.book.preload(2, seed=62, duration=(5000, 6000), objects=(30, 30))
    ports = build_ports(emulator, tmp_path / "store", JOBWATCH_WEBHOOK_URL="https://hooks.example.com/x/secret-path")
    handle({"action": "sweep"}, {}, ports=ports)
    for step in (40, 40, 40_000, 40_000, 40_000, 40_000, 40_000, 40_000, 40_000, 40_000):
        emulator.clock.advance(step)  # far past every retry: the failing webhook leaves dead letters
        handle({"action": "sweep"}, {}, ports=ports)
    with serve(ports, getattr(request, "param", "functionurl")) as served:
        yield ports, served.url


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 15) -> Any:
    # The table is redrawn after every fetch: a row read mid-redraw is asked about again, not a failure.
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def sign_in(driver: WebDriver, url: str, token: str = TOKEN) -> None:
    driver.get(url + "/ui")
    driver.execute_script("sessionStorage.clear()")
    driver.get(url + "/ui")
    field = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, 'input[name="token"]'))
    wait(driver, lambda d: field.is_displayed())
    field.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, '#login-form button[type="submit"]').click()


def job_rows(driver: WebDriver) -> dict[str, Any]:
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "tr[data-job-id]"))
    return {row.get_attribute("data-job-id"): row for row in driver.find_elements(By.CSS_SELECTOR, "tr[data-job-id]")}


def row_attributes(driver: WebDriver, *names: str) -> list[tuple[str, ...]]:
    """Each job row's attributes, read in one script so a redraw cannot stale them half-way."""
    script = (
        "return [...document.querySelectorAll('tr[data-job-id]')].map(r => arguments[0].map(n => r.getAttribute(n)))"
    )
    return [tuple(row) for row in driver.execute_script(script, list(names))]


def network_urls(driver: WebDriver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.mark.parametrize("site", ["functionurl", "apigateway"], indirect=True)
def test_jobs_and_states_equal_the_store(browser: WebDriver, site: tuple[Ports, str]) -> None:
    """After signing in, the jobs table shows every stored job with its stored state (both event shapes)."""
    ports, url = site
    sign_in(browser, url)
    job_rows(browser)
    rows = dict(row_attributes(browser, "data-job-id", "data-state"))
    stored = {job_id: ports.records.job(job_id) for job_id in stored_ids(ports.records, "jobs")}
    assert set(rows) == set(stored)
    for job_id, state in rows.items():
        assert state == stored[job_id]["state"]  # type: ignore[index]


def test_progress_bars_equal_the_counts(browser: WebDriver, site: tuple[Ports, str]) -> None:
    """Each batch's progress bar says done+failed of seen (or of the total once finished), as the record counts."""
    ports, url = site
    sign_in(browser, url)
    job_rows(browser)
    script = """return [...document.querySelectorAll('tr[data-job-id]')].map(r => {
        const bar = r.querySelector('[role="progressbar"]');
        return [r.dataset.jobId, +bar.getAttribute('aria-valuenow'), +bar.getAttribute('aria-valuemax')]; })"""
    bars = browser.execute_script(script)
    assert bars
    for job_id, now, most in bars:
        objects = ports.records.job(job_id)["objects"]  # type: ignore[index]
        ended = objects["succeeded"] + objects["failed"] + objects["cancelled"]
        expected_max = objects["total"] if objects["total"] is not None else objects["seen"]
        assert (now, most) == (ended, expected_max)


def test_open_a_job_and_see_its_failed_objects(browser: WebDriver, site: tuple[Ports, str]) -> None:
    """A finished batch with failures shows each failed object with its code and message, and its report parts."""
    ports, url = site
    failed_job = next(
        j for j in stored_ids(ports.records, "jobs") if (ports.records.job(j) or {}).get("objects", {}).get("failed")
    )
    sign_in(browser, url)
    job_rows(browser)
    link = f'tr[data-job-id="{failed_job}"] a'
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, link).click() or True)  # asked again if redrawn meanwhile
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#failed-table tbody tr"))
    shown = {
        r.get_attribute("data-object"): r.text for r in browser.find_elements(By.CSS_SELECTOR, "#failed-table tbody tr")
    }
    body = handle({"action": "objects", "jobId": failed_job, "state": "failed"}, {}, ports=ports)
    assert set(shown) == {o["object"] for o in body["objects"]}
    for row in body["objects"]:
        assert row["code"] in shown[row["object"]] and row["message"] in shown[row["object"]]
    assert browser.find_elements(By.CSS_SELECTOR, 'button[data-action="download"]')
    assert "#/job/" in browser.current_url and TOKEN not in browser.current_url


def test_replay_a_dead_letter(browser: WebDriver, site: tuple[Ports, str]) -> None:
    """A dead letter's replay button re-queues it; the page shows its new status, and the store agrees."""
    ports, url = site
    sign_in(browser, url)
    job_rows(browser)
    browser.get(url + "/ui#/dead")
    card = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, '[data-event-id][data-status="failed"]'))
    event_id = card.get_attribute("data-event-id")
    card.find_element(By.CSS_SELECTOR, 'button[data-action="replay"]').click()
    shown = f'[data-event-id="{event_id}"]'
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, shown).get_attribute("data-status") == "pending")
    assert ports.records.event(event_id)["status"] == "pending"  # type: ignore[index]


def test_wrong_token_shows_a_clear_message_and_no_data(browser: WebDriver, site: tuple[Ports, str]) -> None:
    """A wrong token gets the page's own message and the sign-in form again, never data or a blank page."""
    _, url = site
    sign_in(browser, url, token="not-the-token")
    message = wait(browser, lambda d: d.find_element(By.ID, "message"))
    wait(browser, lambda d: message.is_displayed() and "refused" in message.text)
    assert not browser.find_element(By.ID, "main").is_displayed()
    assert browser.find_element(By.CSS_SELECTOR, 'input[name="token"]').is_displayed()
    assert not [r for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-job-id]") if r.is_displayed()]


def test_unknown_job_gets_a_message(browser: WebDriver, site: tuple[Ports, str]) -> None:
    """An unknown job ID in the address gets the page's own message."""
    _, url = site
    sign_in(browser, url)
    job_rows(browser)
    browser.get(url + "/ui#/job/b" + "0" * 32)
    message = browser.find_element(By.ID, "message")
    wait(browser, lambda d: message.is_displayed() and "No such job" in message.text)


def test_no_console_errors_no_outside_requests_no_token_in_urls(browser: WebDriver, site: tuple[Ports, str]) -> None:
    """Browsing every view logs no console error, requests only 127.0.0.1, and puts the token in no URL."""
    _, url = site
    browser.get_log("browser")
    browser.get_log("performance")
    sign_in(browser, url)
    rows = job_rows(browser)
    browser.get(url + "/ui#/job/" + next(iter(rows)))
    wait(browser, lambda d: d.find_element(By.ID, "job-facts").text)
    browser.get(url + "/ui#/dead")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-event-id]"))
    time.sleep(0.5)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    urls = network_urls(browser)
    assert urls and all(u.startswith((url + "/", "data:", "blob:")) for u in urls), urls
    assert not any(TOKEN in u for u in urls)


def test_usable_at_375_pixels(browser: WebDriver, site: tuple[Ports, str]) -> None:
    """At 375 px wide the page does not scroll sideways; the table scrolls inside its own box."""
    _, url = site
    browser.set_window_size(375, 800)
    try:
        sign_in(browser, url)
        job_rows(browser)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 375 + 1
    finally:
        browser.set_window_size(1280, 900)


def test_keyboard_reaches_the_controls(browser: WebDriver, site: tuple[Ports, str]) -> None:
    """Tab moves through the header controls and into the jobs table's links."""
    from selenium.webdriver.common.keys import Keys

    _, url = site
    sign_in(browser, url)
    job_rows(browser)
    body = browser.find_element(By.TAG_NAME, "body")
    reached = set()
    for _ in range(25):
        body.send_keys(Keys.TAB)
        active = browser.switch_to.active_element
        reached.add(active.get_attribute("id") or active.get_attribute("href") or active.tag_name)
    assert "pause" in reached and any("#/job/" in str(r) for r in reached)


@pytest.fixture
def buckets_site(emulator: CIEmulator, tmp_path: Path) -> Iterator[tuple[Ports, str]]:
    """Three buckets in two regions, one of them refusing every request since the last sweep."""
    from jobwatch.store import FileStore
    from tests.functional.test_many_buckets import B, ports_for, three_buckets

    made = three_buckets(emulator)
    ports = ports_for(emulator, FileStore(tmp_path / "store"), "https://hooks.example.com/x",
                      JOBWATCH_CI_BUCKETS=",".join(t.key for t in made), JOBWATCH_API_TOKEN=TOKEN)  # fmt: skip
    handle({"action": "sweep"}, {}, ports=ports)
    emulator.bucket_faults[B.bucket] = "AccessDenied"
    emulator.clock.advance(10)
    handle({"action": "sweep"}, {}, ports=ports)
    with serve(ports, "functionurl") as served:
        yield ports, served.url


def test_buckets_column_filter_and_failing_bucket(browser: WebDriver, buckets_site: tuple[Ports, str]) -> None:
    """Each row names its job's bucket; the failing bucket is marked; the bucket filter shows only its jobs."""
    from selenium.webdriver.support.ui import Select

    from tests.functional.test_many_buckets import B, C

    ports, url = buckets_site
    sign_in(browser, url)
    job_rows(browser)
    rows = row_attributes(browser, "data-job-id", "data-bucket")
    assert rows and all(bucket == ports.records.job(i)["bucket"] for i, bucket in rows)  # type: ignore[index]
    failing = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#target-counts [data-ok="false"]'))
    assert [chip.get_attribute("data-target") for chip in failing] == [B.key]
    Select(browser.find_element(By.ID, "target-filter")).select_by_value(C.key)
    browser.find_element(By.CSS_SELECTOR, '#filters button[type="submit"]').click()
    shown = wait(browser, lambda d: (r := row_attributes(d, "data-job-id", "data-bucket"))
                 and {bucket for _, bucket in r} == {C.bucket} and r)  # fmt: skip
    wanted = {i for i in stored_ids(ports.records, "jobs") if ports.records.job(i)["bucket"] == C.bucket}  # type: ignore[index]
    assert {i for i, _ in shown} == wanted


@pytest.fixture
def retry_site(emulator: CIEmulator, tmp_path: Path, moto_endpoint: str, watched: Any) -> Iterator[tuple[Ports, str]]:
    """A finished batch with failed objects, retries on, the watched bucket on moto's S3 server."""
    from tests.functional.test_retry import finished_batch, ports_for

    ports = ports_for(emulator, tmp_path, moto_endpoint, JOBWATCH_RETRY="true")
    job = finished_batch(emulator, ports)
    with serve(ports, "functionurl") as served:
        yield ports, served.url + "#" + job.job_id


def test_retry_button_makes_the_new_batch(
    browser: WebDriver, retry_site: tuple[Ports, str], emulator: CIEmulator
) -> None:
    """A finished batch with failures has a "Retry failed objects" button; its confirmation names how many; once
    accepted, the page links the new batch, which the emulator has."""
    ports, site = retry_site
    url, _, job_id = site.partition("#")
    failed = ports.records.job(job_id)["objects"]["failed"]  # type: ignore[index]
    sign_in(browser, url)
    job_rows(browser)
    browser.get(f"{url}/ui#/job/{job_id}")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, '[data-action="retry"]')).click()
    from selenium.webdriver.support import expected_conditions

    alert = wait(browser, expected_conditions.alert_is_present())
    assert f"Retry {failed} failed objects" in alert.text
    alert.accept()
    made = wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "[data-retry]")).get_attribute("data-retry")
    created = emulator.book.get(made)
    assert created is not None and len(created.keys or []) == failed
