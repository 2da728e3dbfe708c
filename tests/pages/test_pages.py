"""The staff pages, driven as a browser would (cookies, CSRF tokens, posted forms), in-process.

The model `tests/data/pages/page_intake.bpmn` starts in the employer_services lane with a start
form, has a task form with every field kind (text, number, date, choice, yes/no, checkboxes,
a repeating group and a file), and a second task with inline Camunda formData for start_services.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tests.conftest import Api
from tests.pages.conftest import Pages

VALID_Y = "2042869-6"
BAD_Y = "2042869-5"


def _start(pages: Pages, business_id: str, expect: int = 303) -> Any:
    pages.get("/start/page_intake")
    return pages.post("/start/page_intake", {"businessId": business_id,
                                             "employerName": "Pikes Oy",
                                             "municipalityCode": "167"}, expect=expect)


def _details(**changes: Any) -> list[tuple[str, str]]:
    fields = {"jobTitle": "Hitsaaja", "positionsCount": "2", "startDate": "2099-01-15",
              "workTime": "shift", "fullTime": "true", "contacts.0.name": "Maija Malli",
              "contacts.0.phone": "+358 40 123 4567", "businessId": VALID_Y}
    fields.update(changes)
    return [(k, v) for k, v in fields.items() if v is not None]


def _field_error(html: str, input_id: str) -> str:
    found = re.search(rf'id="{input_id}-error">([^<]*)<', html)
    assert found, f"no inline error for {input_id}"
    return found.group(1)


def test_the_root_sends_a_visitor_to_login_and_a_user_to_tasks(api: Api, browser: Any) -> None:
    pages = browser()
    assert pages.get("/", expect=303).headers["location"] == "/login"
    assert pages.get("/tasks", expect=303).headers["location"] == "/login?next=/tasks"

    api.user("eija", ["staff"], ["employer_services"])
    pages.login("eija")

    assert pages.get("/", expect=303).headers["location"] == "/tasks"
    assert "Omat tehtävät" in pages.get("/tasks").text


def test_a_wrong_password_shows_an_error_and_starts_no_session(api: Api, browser: Any) -> None:
    api.user("eija", ["staff"], ["employer_services"])
    pages = browser()
    pages.get("/login")

    answer = pages.post("/login", {"username": "eija", "password": "wrong", "next": "/tasks"},
                        expect=401)

    assert "Kirjautuminen epäonnistui. Tarkista käyttäjätunnus ja salasana." in answer.text
    assert "virta_session" not in answer.cookies
    assert pages.get("/tasks", expect=303).headers["location"].startswith("/login")


def test_the_session_cookie_is_httponly_and_same_site(api: Api, browser: Any) -> None:
    api.user("eija", ["staff"], ["employer_services"])
    pages = browser()
    pages.get("/login")

    answer = pages.post("/login", {"username": "eija", "password": "eija-password"})

    cookie = next(h for h in answer.headers.get_list("set-cookie")
                  if h.startswith("virta_session="))
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()


def test_logout_revokes_the_session_token_itself(api: Api, browser: Any) -> None:
    api.user("eija", ["staff"], ["employer_services"])
    pages = browser().login("eija")
    token = pages.client.cookies.get("virta_session")
    pages.get("/tasks")

    pages.post("/logout")

    stolen = browser()
    stolen.client.cookies.set("virta_session", token)
    assert stolen.get("/tasks", expect=303).headers["location"].startswith("/login")


def test_the_logout_address_asks_first_and_only_its_form_ends_the_session(
        api: Api, browser: Any) -> None:
    api.user("eija", ["staff"], ["employer_services"])
    pages = browser().login("eija")

    # Opening /logout (a link, a typed address) asks, in Finnish, and changes nothing
    page = pages.get("/logout").text
    assert "Haluatko kirjautua ulos?" in page
    assert 'action="/logout"' in page
    pages.get("/tasks")

    # Its button logs out
    pages.get("/logout")
    assert pages.post("/logout").headers["location"] == "/login"
    assert pages.get("/tasks", expect=303).headers["location"].startswith("/login")
    # and then the address sends to the login page; in English it asks in English
    assert pages.get("/logout", expect=303).headers["location"] == "/login"
    english = browser().login("eija")
    assert "Do you want to log out?" in english.get("/logout?lang=en").text


def test_a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing(
        intake: Api, browser: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    pages = browser().login("eija")
    case = intake.start("page_intake", {"businessId": VALID_Y, "employerName": "Pikes Oy"})
    task = intake.tasks(case["id"])[0]
    pages.get("/tasks")

    pages.post(f"/tasks/{task['id']}/claim", {"back": "list"}, expect=403, csrf=False)
    pages.post(f"/tasks/{task['id']}/claim", {"csrf_token": "forged"}, expect=403,
               csrf=False)

    assert intake.tasks(case["id"])[0]["assignee"] is None
    pages.post(f"/tasks/{task['id']}/claim", {"back": "list"})
    assert intake.tasks(case["id"])[0]["assignee"] == "eija"


def test_only_the_start_lane_team_is_offered_the_process(intake: Api, browser: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    intake.user("sami", ["staff"], ["start_services"])

    assert "/start/page_intake" in browser().login("eija").get("/start").text
    other = browser().login("sami")
    assert "/start/page_intake" not in other.get("/start").text
    other.get("/start/page_intake", expect=404)


def test_a_refused_start_form_shows_the_error_inline_keeps_the_input_and_creates_nothing(
        intake: Api, browser: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    pages = browser().login("eija")

    answer = _start(pages, BAD_Y, expect=422)

    assert _field_error(answer.text, "f-businessId") == \
        "Virheellinen Y-tunnus. Tarkista muoto (1234567-8) ja tarkistusnumero."
    assert f'value="{BAD_Y}"' in answer.text
    assert 'value="Pikes Oy"' in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert intake.get("/api/process-instances", params={"process_id": "page_intake"}).json() == []

    answer = _start(pages, VALID_Y)

    [case] = intake.get("/api/process-instances", params={"process_id": "page_intake"}).json()
    [task] = intake.tasks(case["id"])
    assert answer.headers["location"] == f"/tasks/{task['id']}"


def test_the_task_form_shows_every_error_next_to_its_field_and_keeps_what_was_typed(
        intake: Api, browser: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    pages = browser().login("eija")
    location = _start(pages, VALID_Y).headers["location"]
    page = pages.get(location).text
    assert "Tarkista työnantajan tiedot ja täydennä ilmoitus." in page  # the instructions
    assert "Pikes Oy" in page  # a key fact of the case

    answer = pages.post(location, _details(jobTitle="", positionsCount="kaksi",
                                           **{"contacts.0.name": ""}), expect=422)

    assert _field_error(answer.text, "f-jobTitle") == "Tämä tieto on pakollinen."
    assert _field_error(answer.text, "f-positionsCount") == "Anna kokonaisluku."
    assert _field_error(answer.text, "f-contacts-0-name") == "Tämä tieto on pakollinen."
    assert 'value="kaksi"' in answer.text
    assert 'value="+358 40 123 4567"' in answer.text
    assert 'href="#f-jobTitle"' in answer.text  # the summary links to the field
    case_id = int(re.search(r'href="/cases/(\d+)"', answer.text).group(1))
    assert [t["element_id"] for t in intake.tasks(case_id)] == ["ut_details"]


def test_a_repeating_group_grows_and_shrinks_without_losing_input(
        intake: Api, browser: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    pages = browser().login("eija")
    location = _start(pages, VALID_Y).headers["location"]
    pages.get(location)

    grown = pages.post(location, [*_details(), ("_action", "add:contacts")], expect=200).text
    assert 'name="contacts.1.name"' in grown
    assert 'value="Maija Malli"' in grown

    fields = [*_details(), ("contacts.1.name", "Ville Virta"), ("contacts.2.name", "Poistettava")]
    shrunk = pages.post(location, [*fields, ("_action", "remove:contacts.2")], expect=200).text
    assert 'value="Ville Virta"' in shrunk
    assert "Poistettava" not in shrunk

    pages.post(location, [*_details(), ("contacts.1.name", "Ville Virta")])
    case_id = int(intake.get("/api/process-instances",
                             params={"process_id": "page_intake"}).json()[0]["id"])
    data = intake.get(f"/api/process-instances/{case_id}").json()["data"]
    assert [c["name"] for c in data["contacts"]] == ["Maija Malli", "Ville Virta"]
    assert data["positionsCount"] == 2 and data["fullTime"] is True


def test_an_attachment_is_checked_stored_with_the_case_and_downloadable(
        intake: Api, browser: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    pages = browser().login("eija")
    location = _start(pages, VALID_Y).headers["location"]
    pages.get(location)

    refused = pages.post(location, _details(), expect=422, files={
        "attachment": ("kuva.png", b"\x89PNG\r\n\x1a\n....", "image/png")})
    assert "application/pdf" in _field_error(refused.text, "f-attachment")

    pdf = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"
    pages.post(location, _details(), files={"attachment": ("../../etc/ilmoitus.pdf", pdf,
                                                           "application/pdf")})

    case_id = intake.get("/api/process-instances",
                         params={"process_id": "page_intake"}).json()[0]["id"]
    reference = intake.get(f"/api/process-instances/{case_id}").json()["data"]["attachment"]
    assert reference.endswith(":ilmoitus.pdf")
    case_page = pages.get(f"/cases/{case_id}").text
    link = re.search(r'href="(/cases/\d+/documents/\d+)"', case_page).group(1)
    download = pages.get(link)
    assert download.content == pdf
    assert download.headers["content-disposition"] == 'attachment; filename="ilmoitus.pdf"'


def test_another_team_finds_the_next_task_completes_it_and_sees_the_case(
        intake: Api, browser: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    intake.user("sami", ["staff"], ["start_services"])
    first = browser().login("eija")
    location = _start(first, VALID_Y).headers["location"]
    first.get(location)
    first.post(location, _details())

    second = browser().login("sami")
    listing = second.get("/tasks?scope=team").text
    assert re.search(r"Tiimin tehtävät <span class=\"count\">1</span>", listing)
    task_link = re.search(r'href="(/tasks/[^"]+)">Hyväksy ilmoitus<', listing).group(1)
    form = second.get(task_link).text
    assert "Hyväksytäänkö?" in form  # a Camunda formData label

    second.post(task_link, {"approved": "true", "note": "Ok"})

    case_id = intake.get("/api/process-instances",
                         params={"process_id": "page_intake"}).json()[0]["id"]
    case_page = second.get(f"/cases/{case_id}").text
    assert "Päättynyt" in case_page  # status completed
    assert "Tehtävänimike" in case_page and "Hitsaaja" in case_page  # labelled data
    assert "Vuorotyö" in case_page  # a choice shown by its label
    assert "Tehtävä tehty" in case_page and "(sami)" in case_page  # the timeline
    assert 'data-bpmn-url="/cases/' in case_page
    assert second.get(f"/cases/{case_id}/diagram.bpmn").text.startswith("<?xml")


def test_staff_of_other_teams_cannot_see_the_task_or_the_case(
        intake: Api, browser: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    intake.user("ulla", ["staff"], ["tym"])
    case = intake.start("page_intake", {"businessId": VALID_Y, "employerName": "Pikes Oy"})
    [task] = intake.tasks(case["id"])
    outsider = browser().login("ulla")
    outsider.get("/tasks")

    outsider.get(f"/tasks/{task['id']}", expect=404)
    outsider.get(f"/cases/{case['id']}", expect=404)
    outsider.get(f"/cases/{case['id']}/diagram.bpmn", expect=404)
    outsider.post(f"/tasks/{task['id']}/claim", {}, expect=403)
    outsider.post(f"/tasks/{task['id']}", _details(), expect=404)
    assert f"/cases/{case['id']}" not in outsider.get("/cases").text
    assert intake.tasks(case["id"])[0]["assignee"] is None


def test_reassigning_stays_within_the_team(intake: Api, browser: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    intake.user("erkki", ["staff"], ["employer_services"])
    intake.user("sami", ["staff"], ["start_services"])
    case = intake.start("page_intake", {"businessId": VALID_Y, "employerName": "Pikes Oy"})
    [task] = intake.tasks(case["id"])
    pages = browser().login("eija")
    page = pages.get(f"/tasks/{task['id']}").text
    assert '<option value="erkki"' in page and '<option value="sami"' not in page

    pages.post(f"/tasks/{task['id']}/reassign", {"assignee": "sami"}, expect=422)
    assert intake.tasks(case["id"])[0]["assignee"] is None

    pages.post(f"/tasks/{task['id']}/reassign", {"assignee": "erkki"})
    assert intake.tasks(case["id"])[0]["assignee"] == "erkki"
    events = intake.get(f"/api/process-instances/{case['id']}/history").json()["events"]
    assert {"from": None, "to": "erkki"} in [e["data"] for e in events
                                             if e["type"] == "task_reassigned"]
    # Held by erkki now: eija (not the team lead) cannot take it from him.
    pages.get(f"/tasks/{task['id']}")
    pages.post(f"/tasks/{task['id']}/reassign", {"assignee": "eija"}, expect=409)


def test_the_task_list_counts_filters_sorts_and_pages(intake: Api, browser: Any,
                                                      test_clock: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    for n in range(53):
        intake.start("page_intake", {"businessId": VALID_Y, "employerName": f"Yritys {n}",
                                     "municipalityCode": "276" if n < 3 else "167"})
    pages = browser().login("eija")
    first = intake.get("/api/tasks", params={"lane": "employer_services"}).json()[0]
    pages.get("/tasks")
    pages.post(f"/tasks/{first['id']}/claim", {"back": "list"})

    listing = pages.get("/tasks?scope=team").text
    assert "53 tehtävää" in listing
    assert 'Omat tehtävät <span class="count">1</span>' in listing
    assert listing.count('href="/tasks/') == 50
    assert "Sivu 1 / 2" in listing
    assert pages.get("/tasks?scope=team&page=2").text.count('href="/tasks/') == 3
    assert "3 tehtävää" in pages.get("/tasks?scope=team&municipality=276").text
    assert "1 tehtävä<" in pages.get("/tasks?scope=mine").text
    assert "Ei avoimia tehtäviä" in pages.get("/tasks?scope=team&overdue=true").text

    test_clock.set_offset(timedelta(days=10))
    # Ten days on, the 12-hour session has expired too.
    assert pages.get("/tasks", expect=303).headers["location"].startswith("/login")
    overdue = browser().login("eija").get("/tasks?scope=team&overdue=true").text
    assert "53 tehtävää" in overdue
    assert 'class="overdue"' in overdue and "Myöhässä" in overdue


def test_the_english_switch_changes_the_page_and_is_remembered(api: Api, browser: Any) -> None:
    api.user("eija", ["staff"], ["employer_services"])
    pages = browser().login("eija")
    assert "Omat tehtävät" in pages.get("/tasks").text

    english = pages.get("/tasks?lang=en")
    assert "My tasks" in english.text and "Omat tehtävät" not in english.text
    assert '<html lang="en">' in english.text
    assert "My tasks" in pages.get("/tasks").text  # remembered
    assert "Omat tehtävät" in pages.get("/tasks?lang=fi").text


def test_every_page_speaks_english_after_the_switch_and_finnish_by_default(
        intake: Api, browser: Any) -> None:
    intake.user("eija", ["staff"], ["employer_services"])
    case = intake.start("page_intake", {"businessId": VALID_Y, "employerName": "Pikes Oy"})
    [task] = intake.tasks(case["id"])
    pages = browser().login("eija")
    paths = ["/tasks", f"/tasks/{task['id']}", "/start", "/start/page_intake", "/cases",
             f"/cases/{case['id']}", "/notifications"]
    finnish_nav = ("Tehtävät", "Uusi asia", "Ilmoitukset", "Kirjaudu ulos")
    english_nav = ("Tasks", "Start a case", "Notifications", "Log out")

    for path in paths:
        page = pages.get(path).text
        assert all(word in page for word in finnish_nav), path
        assert '<html lang="fi">' in page
    pages.get("/tasks?lang=en")
    for path in paths:
        page = pages.get(path).text
        assert all(word in page for word in english_nav), path
        assert not any(f">{word}<" in page for word in finnish_nav), path
        assert '<html lang="en">' in page
    # Author-written labels follow too: the form's x-title-en.
    assert "Business ID" in pages.get("/start/page_intake").text
    assert "Number of positions" in pages.get(f"/tasks/{task['id']}").text


def test_notifications_show_an_unread_count_and_can_be_marked_read(
        api: Api, browser: Any, db: Any) -> None:
    from engine import clock
    from engine.models import Notification

    api.user("eija", ["staff"], ["employer_services"])
    api.user("ulla", ["staff"], ["tym"])
    db.unit_of_work(lambda s: s.add_all([
        Notification(team_id="employer_services", kind="message", created_at=clock.now(),
                     subject="Uusi työpaikka julkaistu", body="Sahatyöntekijä, Kontiolahti"),
        Notification(team_id="tym", kind="message", created_at=clock.now(),
                     subject="TYM-asia", body="")]))
    pages = browser().login("eija")

    listing = pages.get("/tasks").text
    assert re.search(r'class="badge"[^>]*>1<', listing)
    page = pages.get("/notifications").text
    assert "Uusi työpaikka julkaistu" in page and "TYM-asia" not in page

    pages.post("/notifications/read", {})

    assert not re.search(r'class="badge"[^>]*>\d', pages.get("/tasks").text)
    assert "Ei uusia ilmoituksia" not in pages.get("/notifications").text  # still listed, read
    other = browser().login("ulla").get("/tasks").text
    assert re.search(r'class="badge"[^>]*>1<', other)  # another team's stays unread
