"""P1 Vacancy notice (`vacancy_notice`), PROCESSES.md §2 P1: scenarios A1-A5, and the other
paths of the model (change requests answered, changes while open, presentations, the start
messages sent after the follow-up, and the reminders).

Records (§0.5): an EmployerContact is a `task_completed` history event of `ut_initial_contact`,
`ut_mid_search` or `ut_follow_up` (their forms carry `contactDate` and `channel`; the case gives
`businessId`); a MatchingAction is an item of the case's `matchingActions`, with the sender of
`MatchingActionRecorded` as actor.

The open phase `sp_open` runs three parallel branches (see the model): an event loop that takes
the messages and the deadline timer TM5, the mid-search check TM4 / `ut_mid_search`, and the
review of changes `ut_review_change`. Its exits end in terminate events, which cancel the open
tasks of the phase.

Platform gaps the model works around:
- a cancelled task's history event has no reason: the case keeps
  `openTasksCancelledReason = "vacancy_closed"` from `sc_close`;
- there is no employer register: `st_verify_employer` re-validates the Y-tunnus only;
- no Työmarkkinatori integration (§0.6.3): `st_publish` / `st_unpublish` are scripts;
- parallel branches carry their own data: the mid-search check's `extend_deadline` reaches the
  deadline timer as the in-case message `VacancyDeadlineExtended`;
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
from tests.scenarios.helpers import at, case, history, local, ready

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
    with db.reading() as s:
        return [(n.team_id or "", n.subject) for n in s.scalars(
            select(Notification).where(Notification.instance_id == case_id)
            .order_by(Notification.id))]


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
