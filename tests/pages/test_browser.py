"""End to end in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)
against a real `virta serve` with the process catalogue of processes/ and forms/.

1. An employer-services worker starts a vacancy notice (P1), types an invalid Y-tunnus (the
   error shows inline), corrects it, and checks the notice (`ut_check_notice`).
2. The vacancy notice has no task for another team (PROCESSES.md P1: every user task is
   employer services'), so the hand-over between teams is shown with the jobseeker service
   (P6): after start services' first meeting, a personal-services officer of Kitee finds the
   initial interview in "my team's tasks", completes it, and sees the case's diagram (bpmn-js,
   path drawn) and timeline.

Every page is saved as a screenshot under artifacts/screenshots/ and checked not to be blank.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.settings import PROJECT_ROOT
from tests.processes import embedded_server, login
from tests.services import require

CHROMIUM = "/usr/bin/chromium"
SHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
VENDORED = PROJECT_ROOT / "api" / "static" / "vendor" / "bpmn-js"
#: As the machine's notes say: without the background-networking flags Chromium keeps trying to
#: reach Google's hosts, which this closed network refuses.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _pixels_vary(png: bytes) -> bool:
    """Whether a PNG shows more than one colour: its decoded scanlines hold many byte values
    (a blank page filters down to a handful)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    offset, idat = 8, b""
    while offset < len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        if kind == b"IDAT":
            idat += png[offset + 8:offset + 8 + length]
        offset += 12 + length
    return len(set(zlib.decompress(idat))) > 16


def shoot(page: Any, name: str) -> None:
    """Save a full-page screenshot as an artifact and check it is not blank."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert _pixels_vary(png), f"screenshot {name} is blank"


def test_the_blank_check_tells_a_blank_page_from_a_real_one() -> None:
    def png(rows: list[bytes]) -> bytes:
        raw = b"".join(b"\x00" + r for r in rows)
        header = struct.pack(">IIBBBBB", len(rows[0]) // 3, len(rows), 8, 2, 0, 0, 0)

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + b"\0\0\0\0"
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + \
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

    assert not _pixels_vary(png([b"\xff" * 30] * 10))
    assert _pixels_vary(png([bytes(range(i, i + 30)) for i in range(10)]))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        require("chromium", f"{CHROMIUM} not found (Debian package chromium)")
    if not (VENDORED / "bpmn-navigated-viewer.production.min.js").exists():
        require("bpmn-js", "api/static/vendor/bpmn-js missing: run scripts/vendor-js")
    tmp = tmp_path_factory.mktemp("browser")
    with embedded_server(tmp, processes=PROJECT_ROOT / "processes",
                         forms=PROJECT_ROOT / "forms") as url:
        with login(url, "root", "root-password") as http:
            for username, teams in (("tp_eija", ["employer_services"]),
                                    ("alku_sami", ["start_services"]),
                                    ("ps_kka_1", ["ps_kka"])):
                http.post("/api/users", json={"username": username, "roles": ["staff"],
                                              "teams": teams,
                                              "password": f"{username}-password"}
                          ).raise_for_status()
        yield url


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="fi-FI")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    # A refused form answers 422 on purpose; anything else 4xx/5xx is a broken page or file.
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.status != 422 else None)
    yield page
    context.close()
    assert errors == [], errors  # no script errors, no CSP violations, no missing files


def log_in(page: Any, url: str, username: str) -> None:
    """Log in with the keyboard only: Tab past the skip link and the language switch."""
    page.goto(f"{url}/")
    assert page.url.endswith("/login")
    shoot(page, f"login-{username}")
    field = page.get_by_label("Käyttäjätunnus")
    for _ in range(5):
        page.keyboard.press("Tab")
        if field.evaluate("element => element === document.activeElement"):
            break
    assert field.evaluate("element => element === document.activeElement")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(f"{username}-password")
    page.keyboard.press("Enter")
    page.wait_for_url("**/tasks")


def assert_every_input_is_labelled(page: Any) -> None:
    """Each visible input, list and text area has a <label for> or an aria-label; choices are
    grouped in a fieldset with a legend."""
    inputs = page.locator("main input:not([type=hidden]), main select, main textarea")
    assert inputs.count() > 0
    for index in range(inputs.count()):
        element = inputs.nth(index)
        input_id = element.get_attribute("id")
        labelled = input_id and page.locator(f'label[for="{input_id}"]').count() == 1
        assert labelled or element.get_attribute("aria-label"), element.evaluate(
            "element => element.outerHTML")
    for index in range(page.locator("main fieldset").count()):
        assert page.locator("main fieldset").nth(index).locator("legend").count() >= 1


def test_an_employer_services_worker_records_and_checks_a_vacancy(server: str,
                                                                  page: Any) -> None:
    from playwright.sync_api import expect

    log_in(page, server, "tp_eija")
    page.get_by_role("link", name="Uusi asia").click()
    shoot(page, "start-list")
    page.locator('a[href="/start/vacancy_notice"]').click()
    deadline = (date.today() + timedelta(days=30)).isoformat()
    page.fill("#f-businessId", "7654321-3")  # wrong check digit
    page.fill("#f-employerName", "Kontiolahden Puu Oy")
    page.fill("#f-contactName", "Pekka Puu")
    page.fill("#f-contactEmail", "pekka@kontiolahdenpuu.example")
    page.fill("#f-jobTitle", "sahatyöntekijä")
    page.fill("#f-iscoCode", "8172")
    page.fill("#f-description", "Sahatyöntekijä kolmivuorotyöhön Kontiolahden sahalle.")
    page.select_option("#f-municipalityCode", "276")
    page.fill("#f-positionsCount", "1")
    page.locator('input[name="employmentType"][value="permanent"]').check()
    page.locator('input[name="workingTime"][value="shift"]').check()
    page.fill("#f-applicationDeadline", deadline)
    page.get_by_role("button", name="Käynnistä").click()

    error = page.locator("#f-businessId-error")
    expect(error).to_have_text(
        "Virheellinen Y-tunnus. Tarkista muoto (1234567-8) ja tarkistusnumero.")
    expect(page.locator("#f-businessId")).to_have_value("7654321-3")
    expect(page.locator("#f-businessId")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-jobTitle")).to_have_value("sahatyöntekijä")  # kept
    expect(page.locator("#error-summary")).to_be_focused()
    assert_every_input_is_labelled(page)
    shoot(page, "start-form-invalid-business-id")

    page.fill("#f-businessId", "7654321-2")
    page.get_by_role("button", name="Käynnistä").click()
    page.wait_for_url("**/tasks/*")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Check the notice")
    expect(page.locator(".facts")).to_contain_text("Kontiolahden Puu Oy")
    shoot(page, "task-check-notice")

    page.locator('input[name="decision"][value="accept"]').check()
    page.fill("#f-responsibleOfficer", "tp_eija")
    page.get_by_role("button", name="Merkitse valmiiksi").click()
    page.wait_for_url("**/tasks?notice=completed")
    expect(page.locator(".alert.success")).to_have_text("Tehtävä on valmis.")
    shoot(page, "tasks-after-check")
    # The next step is the worker's own, first contact with the employer: it appears once the
    # worker has run the service tasks in between (employer register, publishing).
    page.get_by_role("link", name="Omat tehtävät").click()
    for _ in range(50):
        if "First contact with the employer" in page.locator("main").inner_text():
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(page.locator("table.list")).to_contain_text("First contact with the employer")


def test_another_team_finds_the_next_task_completes_it_and_sees_the_path(
        server: str, page: Any) -> None:
    from playwright.sync_api import expect

    today = date.today().isoformat()
    with login(server, "root", "root-password") as http:
        started = http.post("/api/messages", json={"name": "JobSearchStarted", "payload": {
            "customerId": "C-900001", "personalId": "150585-904T", "name": "Testi Kiteeläinen",
            "jobSearchStartDate": today, "municipalityCode": "260",
            "employmentStatus": "unemployed", "language": "fi"}}).json()
        [case_id] = started["delivered_to"]
    with login(server, "alku_sami", "alku_sami-password") as http:
        [first] = [t for t in http.get("/api/tasks", params={"instance_id": case_id}).json()
                   if t["element_id"] == "ut_first_meeting"]
        http.post(f"/api/tasks/{first['id']}/complete", json={"data": {
            "contactAttempts": [{"date": today, "channel": "phone", "reached": True}],
            "meetingHeld": True, "meetingDate": today, "meetingType": "supplementary_conversation",
            "meetingMode": "phone", "routing": "basic_placement", "responsibleOfficer": "ps_kka_1",
            "dataChecked": True, "labourPolicyStatement": "not_needed",
            "informedObligations": True, "employmentPlanCreated": True,
            "jobSearchObligationPerMonth": 4,
            "planGoals": "Työllistyminen avoimille työmarkkinoille omalla alalla.",
            "initialInterviewBooking": {"date": today, "meetingMode": "face_to_face",
                                        "servicePointCode": "SP-260"}}}).raise_for_status()

    log_in(page, server, "ps_kka_1")
    page.get_by_role("link", name="Tiimin tehtävät").click()
    expect(page.locator(".tabs")).to_contain_text("Tiimin tehtävät 1")
    shoot(page, "team-tasks")
    page.get_by_role("link", name="Initial interview (F6.2)").click()
    page.fill("#f-meetingDate", today)
    page.locator('input[name="meetingMode"][value="face_to_face"]').check()
    page.fill("#f-servicePointCode", "SP-260")
    page.locator('input[name="planReviewed"][value="true"]').check()
    page.fill("#f-jobSearchObligationPerMonth", "4")
    assert_every_input_is_labelled(page)
    shoot(page, "task-initial-interview")
    page.get_by_role("button", name="Merkitse valmiiksi").click()
    page.wait_for_url("**/tasks?notice=completed")

    page.goto(f"{server}/cases/{case_id}")
    diagram = page.locator("#diagram")
    expect(diagram).to_have_attribute("data-state", "ready", timeout=15_000)
    expect(page.locator("#diagram .djs-element.virta-done").first).to_be_visible()
    expect(page.locator("#diagram .djs-element.virta-active").first).to_be_visible()
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("Tehtävä tehty: Initial interview (F6.2) (ps_kka_1)")
    expect(timeline).to_contain_text("(alku_sami)")
    shoot(page, "case-page")

    page.get_by_role("link", name="In English").click()
    expect(page.get_by_role("heading", name="Case history")).to_be_visible()
    shoot(page, "case-page-english")
    assert httpx.get(f"{server}/static/js/diagram.js").status_code == 200


@pytest.fixture(scope="module", autouse=True)
def _fresh_screenshots() -> None:
    if SHOTS.exists() and os.environ.get("VIRTA_KEEP_SCREENSHOTS") != "1":
        shutil.rmtree(SHOTS)
