"""The records pages in a real headless Chromium (Debian's chromium and chromedriver, driven by Selenium):
sign in with password and TOTP, search under a case number, and see that search in the audit log as an auditor.

Set EDGE_AGENT_SCREENSHOTS to a folder to keep the screenshots of the search and audit pages.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.records.conftest import PASSWORD, City, ingest, stored_read

webdriver = pytest.importorskip("selenium.webdriver")
uvicorn = pytest.importorskip("uvicorn")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="needs Debian's chromium and chromium-driver: run scripts/setup",
)
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a1f1e1d1a"
    "1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001000101011100ffc4001f0000010501010101"
    "010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107"
    "227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63"
    "6465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9"
    "cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)


@pytest.fixture
def server(city: City) -> Iterator[str]:
    """The records app on uvicorn, on a free loopback port, in a thread."""
    from edge_agent.city.records.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(city.service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium with the flags a closed network needs (no background lookups)."""
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.implicitly_wait(5)  # a submitted form's next page: wait for its elements
    try:
        yield driver
    finally:
        driver.quit()


def _sign_in(driver: object, base: str, city: City, username: str) -> None:
    from selenium.webdriver.common.by import By

    city.clock.advance(seconds=31)
    driver.get(base + "/login")  # type: ignore[attr-defined]
    driver.find_element(By.ID, "username").send_keys(username)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "password").send_keys(PASSWORD)  # type: ignore[attr-defined]
    driver.find_element(By.ID, "code").send_keys(city.code(username))  # type: ignore[attr-defined]
    driver.find_element(By.ID, "sign-in").click()  # type: ignore[attr-defined]


def _wait_for_page(driver: object, path: str) -> None:
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(expected_conditions.url_contains(path))


def _shot(driver: object, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("EDGE_AGENT_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    assert path.stat().st_size > 5000
    return path


def test_sign_in_search_and_see_it_audited(city: City, server: str, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    now = city.clock.now
    ingest(
        city.db,
        [
            stored_read("KLM4821", now - timedelta(hours=5), camera="elm-north", crop=JPEG),
            stored_read("KLM4821", now - timedelta(hours=1), device="cam-b", camera="oak-south", crop=JPEG),
            stored_read("ZZZ1111", now - timedelta(hours=2)),
        ],
    )
    d = browser
    _sign_in(d, server, city, "ivy")
    _wait_for_page(d, "/search")
    assert d.find_element(By.ID, "who").text == "ivy (investigator)"  # type: ignore[attr-defined]

    # Without a case number the browser's own check stops the form; a malformed one is refused by the service.
    d.find_element(By.ID, "case_number").send_keys("12")  # type: ignore[attr-defined]
    Select(d.find_element(By.ID, "purpose")).select_by_visible_text("stolen vehicle")  # type: ignore[attr-defined]
    d.find_element(By.ID, "reason").send_keys("vehicle reported stolen on 19 Nov")  # type: ignore[attr-defined]
    d.find_element(By.ID, "plate").send_keys("KLM4821")  # type: ignore[attr-defined]
    d.find_element(By.ID, "run-search").click()  # type: ignore[attr-defined]
    assert "does not have the form" in d.find_element(By.ID, "error").text  # type: ignore[attr-defined]

    case = d.find_element(By.ID, "case_number")  # type: ignore[attr-defined]
    case.clear()
    case.send_keys("2026-004821")
    d.find_element(By.ID, "run-search").click()  # type: ignore[attr-defined]
    assert d.find_element(By.ID, "results-title").text.startswith("2 reads")  # type: ignore[attr-defined]
    rows = d.find_elements(By.CSS_SELECTOR, "#results tbody tr")  # type: ignore[attr-defined]
    assert [r.find_element(By.CSS_SELECTOR, "td.plate").text for r in rows] == ["KLM4821", "KLM4821"]
    crops = d.find_elements(By.CSS_SELECTOR, "#results img")  # type: ignore[attr-defined]
    assert len(crops) == 2 and all(d.execute_script("return arguments[0].naturalWidth", c) == 1 for c in crops)  # type: ignore[attr-defined]
    search_shot = _shot(d, tmp_path, "records-search.png")

    d.find_element(By.CSS_SELECTOR, "form.who button").click()  # type: ignore[attr-defined]
    _wait_for_page(d, "/login")
    _sign_in(d, server, city, "ada")
    _wait_for_page(d, "/audit")
    searches = d.find_elements(By.CSS_SELECTOR, "#audit tr.action-search")  # type: ignore[attr-defined]
    assert len(searches) == 1
    text = searches[0].text
    assert "ivy" in text and "2026-004821" in text and "stolen vehicle" in text and "KLM4821" in text
    # The auditor has no search page: the service refuses it even when asked directly.
    d.get(server + "/search")  # type: ignore[attr-defined]
    assert d.find_element(By.ID, "search-form")  # type: ignore[attr-defined]
    d.find_element(By.ID, "case_number").send_keys("2026-004821")  # type: ignore[attr-defined]
    d.find_element(By.ID, "reason").send_keys("curious")  # type: ignore[attr-defined]
    d.find_element(By.ID, "plate").send_keys("KLM4821")  # type: ignore[attr-defined]
    d.find_element(By.ID, "run-search").click()  # type: ignore[attr-defined]
    assert "may not search" in d.find_element(By.ID, "error").text  # type: ignore[attr-defined]
    d.get(server + "/audit")  # type: ignore[attr-defined]
    [denied] = d.find_elements(By.CSS_SELECTOR, "#audit tr.action-denied")  # type: ignore[attr-defined]
    assert "ada" in denied.text and "search" in denied.text
    audit_shot = _shot(d, tmp_path, "records-audit.png")
    assert search_shot.exists() and audit_shot.exists()


def test_transparency_report_renders_without_signing_in(
    city: City, server: str, browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    from edge_agent.city.records import transparency
    from tests.records.test_transparency import populate

    populate(city)
    expected = transparency.report(city.service)
    d = browser
    d.get(server + "/transparency")  # type: ignore[attr-defined]
    text = lambda css: d.find_element(By.CSS_SELECTOR, css).text  # type: ignore[attr-defined]  # noqa: E731
    assert text("h1") == "Plate reader transparency report"
    assert text("#reads-held") == str(expected["reads_held_now"])
    assert text("#reads-purged") == str(expected["reads_purged_last_30_days"])
    assert text("#searches") == str(expected["searches_last_30_days"]["total"])
    counts = expected["hotlist_alerts_last_30_days"]
    assert text("#alerts") == f"{counts['pending']} / {counts['confirmed']} / {counts['dismissed']}" == "1 / 1 / 1"
    assert "intact" in text("#verified")
    assert "Elm St at 5th Ave" in text("#cameras")
    assert "a warrant or court order for each search" in text("#agencies")
    _shot(d, tmp_path, "records-transparency.png")


def test_a_person_verifies_an_alert_against_the_crop(city: City, server: str, browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    from edge_agent.city.records import alerts

    listed = "plate,reason,source_agency,entered_by,expires\nKLM4821,stolen vehicle,WSP,Lee,2027-06-30\n"
    alerts.import_hotlist(city.service, "sam", "supervisor", listed)
    ingest(city.db, [stored_read("KLM4821", city.clock.now - timedelta(minutes=5), crop=JPEG)])
    d = browser
    _sign_in(d, server, city, "ivy")
    _wait_for_page(d, "/search")
    d.get(server + "/alerts")  # type: ignore[attr-defined]
    [row] = d.find_elements(By.CSS_SELECTOR, "#pending tbody tr")  # type: ignore[attr-defined]
    assert "KLM4821" in row.text and "stolen vehicle" in row.text
    crop = row.find_element(By.CSS_SELECTOR, "img.crop")
    assert d.execute_script("return arguments[0].naturalWidth", crop) == 1  # type: ignore[attr-defined]
    _shot(d, tmp_path, "records-alerts.png")
    row.find_element(By.CSS_SELECTOR, "button[value=confirm]").click()
    _wait_for_page(d, "/alerts")
    confirmed = d.find_elements(By.CSS_SELECTOR, "#confirmed tbody tr")  # type: ignore[attr-defined]
    assert len(confirmed) == 1 and "ivy" in confirmed[0].text
    assert d.find_elements(By.CSS_SELECTOR, "#pending tbody tr") == []  # type: ignore[attr-defined]
