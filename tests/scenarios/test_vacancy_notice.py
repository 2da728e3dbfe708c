"""P1 Vacancy notice (`vacancy_notice`), PROCESSES.md §2 P1: scenarios A1-A5, and the other
paths of the model (change requests answered, changes while open, presentations, the start
messages sent after the follow-up, and the reminders).

Records (§0.5): an EmployerContact is a `task_completed` history event of `ut_initial_contact`,
`ut_mid_search` or `ut_follow_up` (their forms carry `contactDate` and `channel`; the case gives
`businessId`); a MatchingAction is an item of the case's `matchingActions`, with the sender of
`MatchingActionRecorded` as actor.

Platform gaps the model works around:
- a cancelled task's history event has no reason: the case keeps
  `openTasksCancelledReason = "vacancy_closed"` from `sc_close`;
- there is no employer register: `st_verify_employer` re-validates the Y-tunnus only;
- no Työmarkkinatori integration (§0.6.3): `st_publish` / `st_unpublish` are scripts;
- the open phase is one token (a loop with an event-based gateway in a parallel branch loses its
  data when the engine prunes the task tree); `ut_mid_search` (TM4) and `ut_review_change`
  (VacancyChanged) hang on non-interrupting boundary events of `sp_open`, their branches carry
  their own data, so an accepted change and an extended deadline reach the loop (and TM5) as the
  in-case message `VacancyChangeApplied`; the signal `VacancyClosed` after `sc_close` cancels
  them;
- values that existed when `sp_open` started come back at its exit once the engine has pruned
  the task tree (engine bug): counters and `matchingActions` are first set inside the loop, and
  `sc_close` re-applies the changes of the open phase (`openChanges`);
- F1.5 cannot bound `hiredCount` by the case's `positionsCount` (a form cannot compare a
  number with case data); F1.1 cannot check that `responsibleOfficer` is in `employer_services`
  (a non-member is ignored as assignee, so the task stays with the team).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from engine.db import Database
from engine.models import Notification, OutboxMessage
from tests.conftest import Api, Drain
from tests.scenarios.helpers import at, case, fields, history, local, ready

P1 = "vacancy_notice"
EMPLOYER = {"businessId": "7654321-2", "employerName": "Kontiolahden Puu Oy"}


def notice(**over: Any) -> dict[str, Any]:
    """F1.0 of A1: a sawmill worker in Kontiolahti, one position, deadline 2025-03-31."""
    data = {**EMPLOYER, "contactName": "Pekka Puu", "contactEmail": "pekka@kontiolahdenpuu.example",
            "contactPhone": "+358401234567", "jobTitle": "sahatyöntekijä", "iscoCode": "8172",
            "description": "Sahalinjan työntekijä kahteen vuoroon, trukkikortti eduksi.",
            "municipalityCode": "276", "positionsCount": 1, "employmentType": "permanent",
            "workingTime": "shift", "applicationDeadline": "2025-03-31", **over}
    return {k: v for k, v in data.items() if v is not None}


def check(**over: Any) -> dict[str, Any]:
    return {"decision": "accept", "responsibleOfficer": "es_1", **over}


def initial_contact(day: str, **over: Any) -> dict[str, Any]:
    return {"contactDate": day, "channel": "phone",
            "servicesOffered": ["presentation", "employer_image"], "wantsPresentation": False,
            **over}


def follow_up(day: str, **over: Any) -> dict[str, Any]:
    data = {"contactDate": day, "channel": "phone", "needFilled": "yes", "filledDate": day,
            "hiredCount": 1, "feedbackScore": 4, "furtherNeed": ["none"], **over}
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def es(catalogue: Database, api: Api) -> Api:
    return api.user("es_1", ["staff"], ["employer_services"])


@pytest.fixture
def ps_jse_1(catalogue: Database, api: Api) -> Api:
    return api.user("ps_jse_1", ["staff"], ["ps_jse"])


@pytest.fixture
def lead(catalogue: Database, api: Api) -> Api:
    return api.user("es_lead", ["staff"], ["employer_services_lead"])


def submit(api: Api, **over: Any) -> int:
    """A complete VacancySubmitted from Työmarkkinatori."""
    [case_id] = api.post("/api/messages", 202, json={
        "name": "VacancySubmitted",
        "payload": {**notice(**over), "tmtVacancyRef": "TMT-123456"}}).json()["delivered_to"]
    return case_id


def start(es: Api, **over: Any) -> int:
    return es.post("/api/process-instances", 201,
                   json={"process_id": P1, "data": notice(**over)}).json()["id"]


def post(sender: Api, name: str, vacancy_id: str, **payload: Any) -> list[int]:
    return sender.post("/api/messages", 202, json={
        "name": name, "correlation": {"vacancyId": vacancy_id},
        "payload": payload}).json()["delivered_to"]


def publish(api: Api, es: Api, drain: Drain, clock: Any, day: str, **over: Any
            ) -> tuple[int, str]:
    """A notice received on `day` 09:00, accepted at once, the first contact made that day."""
    at(clock, day, "09:00")
    case_id = submit(api, **over)
    es.complete(ready(es, case_id, "ut_check_notice")["id"], check())
    drain()
    es.complete(ready(es, case_id, "ut_initial_contact")["id"], initial_contact(day))
    drain()
    return case_id, case(api, case_id)["data"]["vacancyId"]


def outbox(db: Database, case_id: int, name: str) -> list[dict[str, Any]]:
    with db.reading() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == case_id)
                         .order_by(OutboxMessage.id)).all()
        return [{"to": r.payload.get("to"), **r.payload["payload"]} for r in rows
                if r.payload.get("message") == name and "payload" in r.payload]


def notified(db: Database, case_id: int) -> list[tuple[str, str]]:
    """(team, subject) of the model's team notifications (not the platform's due-date ones)."""
    with db.reading() as s:
        return [(n.team_id or "", n.subject) for n in s.scalars(
            select(Notification).where(Notification.instance_id == case_id)
            .order_by(Notification.id)) if n.kind == "message"]


def employer_contacts(api: Api, case_id: int) -> list[dict[str, Any]]:
    business_id = case(api, case_id)["data"]["businessId"]
    return [{"element": e["element_id"], "businessId": business_id,
             "contactDate": e["data"]["submitted"]["contactDate"],
             "channel": e["data"]["submitted"]["channel"], "actor": e["actor"]}
            for e in history(api, case_id) if e["type"] == "task_completed"
            and {"contactDate", "channel"} <= set(e["data"]["submitted"])]


def cancelled(api: Api, case_id: int) -> list[str]:
    return [e["element_id"] for e in history(api, case_id) if e["type"] == "task_cancelled"]


def p_cases(api: Api, process_id: str) -> list[dict[str, Any]]:
    return [case(api, c["id"]) for c in api.get(
        "/api/process-instances", params={"process_id": process_id}).json()]


# ---------------------------------------------------------------- A1


def test_a1_happy_filled_in_17_days(catalogue: Database, api: Api, es: Api, ps_jse_1: Api,
                                    drain: Drain, test_clock: Any) -> None:
    # Given the notice of Kontiolahden Puu Oy, received 2025-03-03 09:00 from Työmarkkinatori
    at(test_clock, "2025-03-03", "09:00")
    case_id = submit(api)
    data = case(api, case_id)["data"]
    vacancy_id = data["vacancyId"]
    assert vacancy_id.startswith("V-2025-") and case(api, case_id)["business_key"] == vacancy_id
    assert (data["serviceAreaCode"], data["status"], data["businessIdValid"]) == (
        "jse", "received", True)
    task = ready(es, case_id, "ut_check_notice")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-03-04", "23:59:59")

    # When ut_check_notice accepts on 2025-03-03
    es.complete(task["id"], check())
    drain()
    data = case(api, case_id)["data"]
    assert (data["publishedAt"][:10], data["status"], data["responsibleOfficer"]) == (
        "2025-03-03", "open", "es_1")
    # Then ps_jse (Kontiolahti), integration services and TYM got the publish notification
    assert [team for team, _ in notified(catalogue, case_id)] == [
        "ps_jse", "integration_services", "tym"]
    assert all("sahatyöntekijä" in subject for _, subject in notified(catalogue, case_id))

    # ... ut_initial_contact (due 2025-03-05) is done 2025-03-04 without presentations
    at(test_clock, "2025-03-04", "10:00")
    task = ready(es, case_id, "ut_initial_contact")
    assert (task["assignee"], datetime.fromisoformat(task["due_at"])) == (
        "es_1", local("2025-03-05", "23:59:59"))
    es.complete(task["id"], initial_contact("2025-03-04"))
    drain()
    assert api.tasks(case_id) == [] and p_cases(api, "introduction_placement") == []

    # ... ps_jse_1 records a job offer to C-000101 on 2025-03-12
    at(test_clock, "2025-03-12", "11:00")
    assert post(ps_jse_1, "MatchingActionRecorded", vacancy_id, customerId="C-000101",
                type="job_offer", date="2025-03-12") == [case_id]

    # ... ut_mid_search appears 2025-03-17 08:00 (10 bd after publication), left undone
    at(test_clock, "2025-03-17", "07:59")
    drain()
    assert api.tasks(case_id) == []
    at(test_clock, "2025-03-17", "08:00")
    drain()
    assert ready(es, case_id, "ut_mid_search")["assignee"] == "es_1"

    # ... VacancyRemoved {reason filled} on 2025-03-20
    at(test_clock, "2025-03-20", "12:00")
    assert post(api, "VacancyRemoved", vacancy_id, reason="filled",
                removedAt="2025-03-20T12:00:00+02:00") == [case_id]
    drain()
    # Then the closing cancels ut_mid_search (reason vacancy_closed), closeReason filled
    assert cancelled(api, case_id) == ["ut_mid_search"]
    data = case(api, case_id)["data"]
    assert (data["status"], data["closeReason"], data["openTasksCancelledReason"]) == (
        "closed", "filled", "vacancy_closed")
    task = ready(es, case_id, "ut_follow_up")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-03-27", "23:59:59")

    # When ut_follow_up is done on 2025-03-21
    at(test_clock, "2025-03-21", "10:00")
    es.complete(task["id"], follow_up("2025-03-21", filledDate="2025-03-20"))
    done = case(api, case_id)
    data = done["data"]
    # Then fill time 17 days, within target, outcome filled
    assert done["status"] == "completed"
    assert (data["fillTimeDays"], data["filledWithinTarget"], data["outcome"]) == (
        17, True, "filled")
    assert "end_filled" in [e["element_id"] for e in history(api, case_id)]
    # ... 2 EmployerContact records (none from the cancelled ut_mid_search)
    assert employer_contacts(api, case_id) == [
        {"element": "ut_initial_contact", "businessId": "7654321-2",
         "contactDate": "2025-03-04", "channel": "phone", "actor": "es_1"},
        {"element": "ut_follow_up", "businessId": "7654321-2",
         "contactDate": "2025-03-21", "channel": "phone", "actor": "es_1"}]
    # ... and 1 MatchingAction by ps_jse_1
    assert data["matchingActions"] == [{"type": "job_offer", "customerId": "C-000101",
                                        "vacancyId": vacancy_id, "date": "2025-03-12",
                                        "actor": "ps_jse_1"}]
    assert (data["jobOffersCount"], data["jobNotificationsCount"]) == (1, 0)


# ---------------------------------------------------------------- A2


@pytest.mark.parametrize(("changes", "field"), [
    ({"businessId": "7654321-3"}, "businessId"),  # wrong check digit
    ({"businessId": "2223334-0"}, "businessId"),  # r = 1: no valid check digit exists
    ({"applicationDeadline": "2025-03-02"}, "applicationDeadline"),  # yesterday
    ({"applicationDeadline": "2025-09-04"}, "applicationDeadline"),  # > 6 months ahead
    ({"positionsCount": 0}, "positionsCount"),
    ({"startDate": "2025-03-02"}, "startDate"),
    ({"description": "Lyhyt kuvaus."}, "description"),
    ({"municipalityCode": "091"}, "municipalityCode"),
    ({"contactEmail": "pekka.example"}, "contactEmail"),
])
def test_a2_an_invalid_notice_gets_422_on_the_field_and_creates_no_case(
        catalogue: Database, api: Api, es: Api, test_clock: Any, changes: dict[str, Any],
        field: str) -> None:
    at(test_clock, "2025-03-03", "09:00")
    answer = es.post("/api/process-instances", 422,
                     json={"process_id": P1, "data": notice(**changes)})
    assert fields(answer) == {field}
    assert api.get("/api/process-instances", params={"process_id": P1}).json() == []


def test_a2_the_deadline_may_be_today_or_six_months_ahead(
        catalogue: Database, api: Api, es: Api, test_clock: Any) -> None:
    at(test_clock, "2025-03-03", "09:00")
    first = start(es, applicationDeadline="2025-03-03", businessId="2345678-0")
    second = start(es, applicationDeadline="2025-09-03", businessId="1234567-1")
    assert {case(api, first)["status"], case(api, second)["status"]} == {"running"}
    assert [t["element_id"] for t in es.tasks(first)] == ["ut_check_notice"]


# ---------------------------------------------------------------- A3


def test_a3_a_discriminatory_notice_is_rejected_and_nothing_is_published(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    # Given a notice on 2025-03-10 that requires "alle 30-vuotias", entered by es_1
    at(test_clock, "2025-03-10", "10:00")
    case_id = start(es, description="Sahatyöntekijä, hakijan oltava alle 30-vuotias.",
                    applicationDeadline="2025-04-10")
    assert case(api, case_id)["data"]["startedBy"] == "manual"
    task = ready(es, case_id, "ut_check_notice")
    # F1.1: a reason is required with reject
    assert fields(es.complete(task["id"], {"decision": "reject"}, expect=422)) == {"rejectReason"}

    # When ut_check_notice rejects it as discriminatory
    es.complete(task["id"], {"decision": "reject", "rejectReason": "discriminatory"})
    drain()

    # Then VacancyRejected goes to the employer, nothing is published, nobody is notified
    assert outbox(catalogue, case_id, "VacancyRejected") == [{
        "to": "employer", "vacancyId": case(api, case_id)["data"]["vacancyId"],
        "businessId": "7654321-2", "tmtVacancyRef": None, "rejectReason": "discriminatory"}]
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"], done["data"]["publishedAt"]) == (
        "completed", "rejected", None)
    assert notified(catalogue, case_id) == []
    assert "end_rejected" in [e["element_id"] for e in history(api, case_id)]


# ---------------------------------------------------------------- A4


def test_a4_no_answer_to_a_change_request_across_easter(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    # Given request_changes on 2025-04-16 10:00
    at(test_clock, "2025-04-16", "09:00")
    case_id = submit(api, applicationDeadline="2025-05-16")
    at(test_clock, "2025-04-16", "10:00")
    task = ready(es, case_id, "ut_check_notice")
    assert fields(es.complete(task["id"], {"decision": "request_changes"}, expect=422)) == {
        "requestedChanges"}
    es.complete(task["id"], {"decision": "request_changes",
                             "requestedChanges": "Lisää palkkatiedot ja työaika."})
    drain()
    data = case(api, case_id)["data"]
    assert (data["status"], data["responseDue"]) == ("changes_requested", "2025-04-25")
    [asked] = outbox(catalogue, case_id, "VacancyChangesRequested")
    assert (asked["to"], asked["requestedChanges"]) == (
        "employer", "Lisää palkkatiedot ja työaika.")

    # When no VacancyChanged arrives: at 2025-04-25 23:00 the case still waits
    at(test_clock, "2025-04-25", "23:00")
    drain()
    assert case(api, case_id)["status"] == "waiting"
    # ... and at 2025-04-26 00:00 (5 bd, skipping 18.4 and 21.4) it is withdrawn
    at(test_clock, "2025-04-26", "00:00")
    drain()
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "withdrawn_no_response")
    [withdrawn] = outbox(catalogue, case_id, "VacancyWithdrawnNoResponse")
    assert (withdrawn["to"], withdrawn["vacancyId"]) == ("employer", data["vacancyId"])
    assert "end_withdrawn_no_response" in [e["element_id"] for e in history(api, case_id)]


def test_an_answered_change_request_goes_back_to_the_check(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    at(test_clock, "2025-04-16", "10:00")
    case_id = submit(api, applicationDeadline="2025-05-16")
    es.complete(ready(es, case_id, "ut_check_notice")["id"], {
        "decision": "request_changes", "requestedChanges": "Lisää palkkatiedot ja työaika."})
    vacancy_id = case(api, case_id)["data"]["vacancyId"]
    # the employer answers on 2025-04-22 with the salary
    at(test_clock, "2025-04-22", "13:00")
    assert post(api, "VacancyChanged", vacancy_id,
                changes={"salaryInfo": "TES:n mukaan, 14,50 €/h"}) == [case_id]
    data = case(api, case_id)["data"]
    assert (data["salaryInfo"], data["status"], data["checkDue"]) == (
        "TES:n mukaan, 14,50 €/h", "received", "2025-04-23")
    task = ready(es, case_id, "ut_check_notice")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-04-23", "23:59:59")
    es.complete(task["id"], check())
    drain()
    assert case(api, case_id)["data"]["publishedAt"][:10] == "2025-04-22"
    assert outbox(catalogue, case_id, "VacancyWithdrawnNoResponse") == []


# ---------------------------------------------------------------- A5


def test_a5_deadline_passes_follow_up_late_not_filled(
        catalogue: Database, api: Api, es: Api, lead: Api, drain: Drain,
        test_clock: Any) -> None:
    # Given publishedAt 2025-05-26 and deadline 2025-06-15; the first contact comes late
    at(test_clock, "2025-05-26", "09:00")
    case_id = submit(api, applicationDeadline="2025-06-15")
    es.complete(ready(es, case_id, "ut_check_notice")["id"], check())
    drain()
    assert case(api, case_id)["data"]["initialContactDue"] == "2025-05-28"
    at(test_clock, "2025-05-29", "00:00")
    drain()
    assert [n for n in es.get("/api/notifications").json()
            if n["subject"].startswith("Työnantajan ensikontakti myöhässä")]
    es.complete(ready(es, case_id, "ut_initial_contact")["id"], initial_contact("2025-05-29"))
    drain()

    # Then ut_mid_search appears 2025-06-10 08:00 (10 bd, skipping Ascension Day 29.5)
    at(test_clock, "2025-06-10", "07:59")
    drain()
    assert api.tasks(case_id) == []
    at(test_clock, "2025-06-10", "08:00")
    drain()
    ready(es, case_id, "ut_mid_search")

    # ... at 2025-06-16 00:00 the vacancy closes deadline_passed
    at(test_clock, "2025-06-15", "23:59")
    drain()
    assert case(api, case_id)["data"]["status"] == "open"
    at(test_clock, "2025-06-16", "00:00")
    drain()
    data = case(api, case_id)["data"]
    assert (data["status"], data["closeReason"]) == ("closed", "deadline_passed")
    assert cancelled(api, case_id) == ["ut_mid_search"]
    # ... ut_follow_up is due 2025-06-24 (Midsummer Eve 20.6 skipped)
    task = ready(es, case_id, "ut_follow_up")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-06-24", "23:59:59")

    # ... at 2025-06-25 00:00 employer_services_lead is notified
    at(test_clock, "2025-06-24", "23:59")
    drain()
    assert ("employer_services_lead" not in
            [team for team, _ in notified(catalogue, case_id)])
    at(test_clock, "2025-06-25", "00:00")
    drain()
    assert [n["subject"] for n in lead.get("/api/notifications").json()] == [
        f"Työpaikan jälkihoito myöhässä: {data['vacancyId']}"]

    # When the follow-up is completed 2025-06-25 with needFilled no
    at(test_clock, "2025-06-25", "10:00")
    es.complete(task["id"], follow_up("2025-06-25", needFilled="no", filledDate=None,
                                      hiredCount=None, feedbackScore=3))
    done = case(api, case_id)
    # Then outcome not_filled and fillTimeDays empty
    assert (done["status"], done["data"]["outcome"], done["data"]["fillTimeDays"]) == (
        "completed", "not_filled", None)
    assert "end_not_filled" in [e["element_id"] for e in history(api, case_id)]
    assert [r["element"] for r in employer_contacts(api, case_id)] == [
        "ut_initial_contact", "ut_follow_up"]


# ---------------------------------------------------------------- more paths


def test_a_late_check_reminds_the_team(catalogue: Database, api: Api, es: Api, drain: Drain,
                                       test_clock: Any) -> None:
    # received Friday 2025-03-07: the check is due Monday 2025-03-10
    at(test_clock, "2025-03-07", "15:00")
    case_id = submit(api)
    at(test_clock, "2025-03-10", "23:59")
    drain()
    assert notified(catalogue, case_id) == []
    at(test_clock, "2025-03-11", "00:00")
    drain()
    assert notified(catalogue, case_id) == [
        ("employer_services", "Työpaikkailmoitus tarkistamatta: sahatyöntekijä")]
    ready(es, case_id, "ut_check_notice")


def test_changes_while_open_are_reviewed_and_move_the_deadline(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    case_id, vacancy_id = publish(api, es, drain, test_clock, "2025-03-03")
    # the employer moves the deadline to 2025-03-14 and adds a position
    at(test_clock, "2025-03-05", "12:00")
    assert post(api, "VacancyChanged", vacancy_id, changes={
        "applicationDeadline": "2025-03-14", "positionsCount": 2}) == [case_id]
    task = ready(es, case_id, "ut_review_change")
    assert task["assignee"] == "es_1"
    es.complete(task["id"], {"changeAccepted": True, "republishNotice": True})
    drain()
    assert [team for team, subject in notified(catalogue, case_id)
            if subject.startswith("Muuttunut")] == ["ps_jse", "integration_services", "tym"]
    # a second change gets its own review too (see
    # test_every_change_while_open_gets_its_own_review)
    at(test_clock, "2025-03-06", "12:00")
    assert post(api, "VacancyChanged", vacancy_id, changes={"salaryInfo": "2 800 €/kk"})
    es.complete(ready(es, case_id, "ut_review_change")["id"],
                {"changeAccepted": True, "republishNotice": False})
    drain()
    assert api.tasks(case_id) == []
    assert len(notified(catalogue, case_id)) == 6
    # the new deadline 2025-03-14 closes the vacancy at 2025-03-15 00:00
    at(test_clock, "2025-03-14", "23:59")
    drain()
    assert api.tasks(case_id) == []
    at(test_clock, "2025-03-15", "00:00")
    drain()
    data = case(api, case_id)["data"]
    assert (data["closeReason"], data["positionsCount"], data["salaryInfo"]) == (
        "deadline_passed", 2, "2 800 €/kk")
    # removed for another reason after a partly filled search
    at(test_clock, "2025-03-17", "10:00")
    es.complete(ready(es, case_id, "ut_follow_up")["id"], follow_up(
        "2025-03-17", needFilled="partly", filledDate="2025-03-13", feedbackDeclined=True,
        feedbackScore=None))
    done = case(api, case_id)["data"]
    assert (done["outcome"], done["fillTimeDays"], done["filledWithinTarget"]) == (
        "partly_filled", 10, True)


def test_presentations_start_p3_and_fill_the_vacancy(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    # the employer wants presentations at the first contact: P3 starts with the vacancy
    at(test_clock, "2025-03-03", "09:00")
    case_id = submit(api, positionsCount=2)
    es.complete(ready(es, case_id, "ut_check_notice")["id"], check())
    drain()
    es.complete(ready(es, case_id, "ut_initial_contact")["id"],
                initial_contact("2025-03-03", wantsPresentation=True))
    vacancy_id = case(api, case_id)["data"]["vacancyId"]
    [p3] = p_cases(api, "introduction_placement")
    assert {k: p3["data"][k] for k in ("vacancyId", "jobTitle", "positionsCount", "unpublished",
                                       "originCaseId", "originActor")} == {
        "vacancyId": vacancy_id, "jobTitle": "sahatyöntekijä", "positionsCount": 2,
        "unpublished": False, "originCaseId": vacancy_id, "originActor": "es_1"}
    # one hire by presentation: 1 of 2 positions, the vacancy stays open
    at(test_clock, "2025-03-12", "10:00")
    assert post(api, "PositionsFilledByPresentation", vacancy_id, count=1) == [case_id]
    assert case(api, case_id)["data"]["status"] == "open"
    # the employer changes the notice; the review is still open when the vacancy fills
    assert post(api, "VacancyChanged", vacancy_id, changes={"startDate": "2025-04-01"})
    ready(es, case_id, "ut_review_change")
    # the mid-search check asks for more presentations (a second P3 case)
    at(test_clock, "2025-03-17", "08:00")
    drain()
    task = ready(es, case_id, "ut_mid_search")
    es.complete(task["id"], {"contactDate": "2025-03-17", "channel": "email",
                             "applicantsSufficient": "no", "action": "add_presentation"})
    assert len(p_cases(api, "introduction_placement")) == 2
    # the second hire fills the vacancy
    at(test_clock, "2025-03-19", "10:00")
    assert post(api, "PositionsFilledByPresentation", vacancy_id, count=1) == [case_id]
    data = case(api, case_id)["data"]
    assert (data["closeReason"], data["presentationsCount"]) == ("filled_by_presentation", 2)
    assert cancelled(api, case_id) == ["ut_review_change"]
    assert [t["element_id"] for t in api.tasks(case_id)] == ["ut_follow_up"]


def test_the_mid_search_check_extends_the_deadline(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    case_id, vacancy_id = publish(api, es, drain, test_clock, "2025-03-03",
                                  applicationDeadline="2025-03-21")
    at(test_clock, "2025-03-17", "08:00")
    drain()
    task = ready(es, case_id, "ut_mid_search")
    f14 = {"contactDate": "2025-03-17", "channel": "phone", "applicantsSufficient": "no",
           "action": "extend_deadline"}
    assert fields(es.complete(task["id"], f14, expect=422)) == {"newDeadline"}
    assert fields(es.complete(task["id"], {**f14, "newDeadline": "2025-03-21"},
                              expect=422)) == {"newDeadline"}  # not after the deadline
    es.complete(task["id"], {**f14, "newDeadline": "2025-04-04"})
    # the old deadline passes, the vacancy stays open until 2025-04-05 00:00
    at(test_clock, "2025-03-22", "00:00")
    drain()
    assert case(api, case_id)["data"]["status"] == "open"
    at(test_clock, "2025-04-05", "00:00")
    drain()
    assert case(api, case_id)["data"]["closeReason"] == "deadline_passed"


def test_a_cancelled_vacancy_with_further_needs_starts_p1_and_p3_again(
        catalogue: Database, api: Api, es: Api, ps_jse_1: Api, drain: Drain,
        test_clock: Any) -> None:
    case_id, vacancy_id = publish(api, es, drain, test_clock, "2025-03-03")
    at(test_clock, "2025-03-04", "10:00")
    assert post(ps_jse_1, "MatchingActionRecorded", vacancy_id, customerId="C-000102",
                type="job_notification", date="2025-03-04")
    # the employer cancels the notice; no mid-search check is open yet
    at(test_clock, "2025-03-06", "10:00")
    assert post(api, "VacancyRemoved", vacancy_id, reason="cancelled") == [case_id]
    assert case(api, case_id)["data"]["closeReason"] == "cancelled"
    assert cancelled(api, case_id) == []
    task = ready(es, case_id, "ut_follow_up")
    f15 = follow_up("2025-03-06", needFilled="no", filledDate=None, hiredCount=None,
                    furtherNeed=["new_vacancy", "presentation"])
    assert fields(es.complete(task["id"], {**f15, "furtherNeed": ["none", "training"]},
                              expect=422)) == {"furtherNeed"}
    es.complete(task["id"], f15)
    done = case(api, case_id)["data"]
    assert (done["outcome"], done["jobNotificationsCount"]) == ("cancelled_by_employer", 1)
    # a new P1 case waits at ut_complete_start for es_1 ...
    [new] = [c for c in p_cases(api, P1) if c["id"] != case_id]
    assert (new["data"]["originCaseId"], new["data"]["jobTitle"]) == (vacancy_id, "sahatyöntekijä")
    [task] = api.tasks(new["id"])
    assert (task["element_id"], task["assignee"]) == ("ut_complete_start", "es_1")
    refused = es.complete(task["id"], notice(applicationDeadline=None), expect=422)
    assert fields(refused) == {"applicationDeadline"}
    es.complete(task["id"], notice(applicationDeadline="2025-04-30"))
    assert [t["element_id"] for t in api.tasks(new["id"])] == ["ut_check_notice"]
    assert case(api, new["id"])["data"]["vacancyId"] != vacancy_id
    # ... and a P3 case without the closed vacancy
    [p3] = p_cases(api, "introduction_placement")
    assert (p3["data"]["vacancyId"], p3["data"]["unpublished"], p3["data"]["originCaseId"]) == (
        None, True, vacancy_id)


def test_a_change_reviewed_without_republishing_then_removed_for_another_reason(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    case_id, vacancy_id = publish(api, es, drain, test_clock, "2025-03-03")
    at(test_clock, "2025-03-04", "12:00")
    assert post(api, "VacancyChanged", vacancy_id, changes={"salaryInfo": "alle 30-vuotiaille"})
    es.complete(ready(es, case_id, "ut_review_change")["id"], {
        "changeAccepted": False, "republishNotice": False, "notes": "Syrjivä, ei hyväksytä."})
    drain()
    assert len(notified(catalogue, case_id)) == 3
    assert case(api, case_id)["data"].get("salaryInfo") is None
    # the mid-search check on 2025-03-17 needs nothing
    at(test_clock, "2025-03-17", "08:00")
    drain()
    es.complete(ready(es, case_id, "ut_mid_search")["id"], {
        "contactDate": "2025-03-17", "channel": "visit", "applicantsSufficient": "yes",
        "action": "none"})
    assert api.tasks(case_id) == []
    at(test_clock, "2025-03-18", "10:00")
    assert post(api, "VacancyRemoved", vacancy_id, reason="other")
    assert case(api, case_id)["data"]["closeReason"] == "removed_other"


def test_every_change_while_open_gets_its_own_review(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    case_id, vacancy_id = publish(api, es, drain, test_clock, "2025-03-03")
    for day, salary in (("2025-03-04", "2 700 €/kk"), ("2025-03-05", "2 800 €/kk")):
        at(test_clock, day, "12:00")
        assert post(api, "VacancyChanged", vacancy_id, changes={"salaryInfo": salary})
        es.complete(ready(es, case_id, "ut_review_change")["id"],
                    {"changeAccepted": True, "republishNotice": False})
