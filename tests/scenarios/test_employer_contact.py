"""P9 Employer contact (`employer_contact`), PROCESSES.md §2 P9: scenarios I1-I3.

F9.1 is the start form of `start_manual` (a refused start creates nothing); its data is the
first EmployerContact record (§0.5) and sits in the history's `case_started` event. Each
`ut_follow_up` (F9.2) completion is another record, in its `task_completed` event.

The start messages of step 2 (`VacancySubmitted`, `IntroductionPlacementRequested`,
`TrialPlacementSubmitted`, `ChangeNegotiationsNotified`) start P1, P3, P2 and P5. While those
models are not in processes/, nothing takes them and each becomes an unmatched-message incident
that keeps its payload (CONTRACT.md `POST /api/messages`); once a receiver is modelled, it
starts a case instead. The tests read the payload from whichever of the two exists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock
from engine.db import Database
from engine.models import Timer
from tests.conftest import Api, Drain

HELSINKI = clock.TIMEZONE
BUSINESS_ID = "5556667-7"
EMPLOYER = "Kiteen Konepaja Oy"


def _at(test_clock: Any, local: datetime) -> None:
    """Put the platform clock at a Helsinki wall-clock moment."""
    test_clock.set_offset(local.replace(tzinfo=HELSINKI) - datetime.now(UTC))


def _contact(**changes: Any) -> dict[str, Any]:
    """F9.1 of scenario I1: a visit to Kiteen Konepaja on 2025-02-10, follow-up 2025-03-10."""
    data: dict[str, Any] = {
        "businessId": BUSINESS_ID, "employerName": EMPLOYER, "contactDate": "2025-02-10",
        "channel": "visit", "initiatedBy": "employment_area",
        "topics": ["recruitment_need_forecast", "pay_subsidy"],
        "needs": "Hitsaajia tarvitaan syksyllä, palkkatuki kiinnostaa.",
        "followUpNeeded": True, "followUpDate": "2025-03-10",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _follow_up(**changes: Any) -> dict[str, Any]:
    """F9.2: the follow-up call."""
    data: dict[str, Any] = {
        "businessId": BUSINESS_ID, "employerName": EMPLOYER, "contactDate": "2025-03-10",
        "channel": "phone", "initiatedBy": "employment_area",
        "topics": ["recruitment_need_forecast"],
        "outcome": "Rekrytointitarve vahvistui: kaksi hitsaajaa elokuussa.",
        "followUpNeeded": False,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _start(staff: Api, data: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    return staff.post("/api/process-instances", expect,
                      json={"process_id": "employer_contact", "data": data}).json()


def _history(api: Api, instance_id: int) -> list[dict[str, Any]]:
    return api.get(f"/api/process-instances/{instance_id}/history").json()["events"]


def _employer_contacts(api: Api, instance_id: int) -> list[dict[str, Any]]:
    """The EmployerContact records of a case: F9.1 at the start and every ut_* completion
    whose data carries businessId, contactDate and channel."""
    records = []
    for event in _history(api, instance_id):
        if event["type"] == "case_started":
            data = event["data"]["data"]
        elif event["type"] == "task_completed" and event["element_id"].startswith("ut_"):
            data = event["data"]["changed"]
        else:
            continue
        if {"businessId", "contactDate", "channel"} <= set(data):
            records.append({k: data[k] for k in ("businessId", "contactDate", "channel")})
    return records


def _field_errors(answer: dict[str, Any]) -> set[str]:
    return {d["field"] for d in answer["detail"]}


def _sent_payload(api: Api, name: str, origin_case_id: str) -> dict[str, Any]:
    """The payload of start message `name` that P9 case `origin_case_id` sent: in the
    unmatched-message incident while no model starts on it, else in the started case's data."""
    for incident in api.get("/api/incidents").json():
        details = incident.get("details") or {}
        payload = details.get("payload") or {}
        if details.get("name") == name and payload.get("originCaseId") == origin_case_id:
            return dict(payload)
    receiver = {"VacancySubmitted": "vacancy_notice",
                "IntroductionPlacementRequested": "introduction_placement",
                "TrialPlacementSubmitted": "trial_placement_notice",
                "ChangeNegotiationsNotified": "change_security"}[name]
    for case in api.get("/api/process-instances", params={"process_id": receiver}).json():
        data = api.get(f"/api/process-instances/{case['id']}").json()["data"]
        if data.get("originCaseId") == origin_case_id:
            return dict(data)
    raise AssertionError(f"{name} from {origin_case_id} was neither kept nor delivered")


@pytest.fixture
def es_kitee_1(catalogue: Database, api: Api) -> Api:
    return api.user("es_kitee_1", ["staff"], ["employer_services"])


# ---------------------------------------------------------------- I1


def test_i1_the_follow_up_appears_at_0800_on_its_date_and_makes_a_second_contact(
        catalogue: Database, api: Api, es_kitee_1: Api, drain: Drain, test_clock: Any) -> None:
    # Given es_kitee_1 records a visit to 5556667-7 on 2025-02-10 with follow-up 2025-03-10
    _at(test_clock, datetime(2025, 2, 10, 10, 0))
    case = _start(es_kitee_1, _contact())
    assert case["status"] == "waiting" and case["ready_tasks"] == []
    assert case["data"]["employerContactId"] == case["business_key"]
    assert case["business_key"].startswith("YK-2025-")
    with catalogue.reading() as s:
        [timer] = s.scalars(select(Timer).where(Timer.instance_id == case["id"])).all()
        assert timer.element_id == "tm_follow_up"
        assert timer.due_at == datetime(2025, 3, 10, 8, 0, tzinfo=HELSINKI)

    # Then nothing appears before 08:00 on the follow-up date
    _at(test_clock, datetime(2025, 3, 10, 7, 59))
    drain()
    assert api.tasks(case["id"]) == []

    # ... and ut_follow_up appears at 08:00 for employer services
    _at(test_clock, datetime(2025, 3, 10, 8, 0, 1))
    drain()
    [task] = es_kitee_1.tasks(case["id"])
    assert (task["element_id"], task["team"]) == ("ut_follow_up", "employer_services")

    # When the follow-up call is recorded
    done = es_kitee_1.complete(task["id"], _follow_up()).json()

    # Then the case is completed and its history holds 2 EmployerContact records of 2025
    assert done["status"] == "completed"
    assert _employer_contacts(api, case["id"]) == [
        {"businessId": BUSINESS_ID, "contactDate": "2025-02-10", "channel": "visit"},
        {"businessId": BUSINESS_ID, "contactDate": "2025-03-10", "channel": "phone"},
    ]
    assert done["data"]["contactId"] == f"{case['business_key']}-2"


def test_a_follow_up_may_set_a_new_follow_up_whose_date_follows_its_own_contact(
        catalogue: Database, api: Api, es_kitee_1: Api, drain: Drain, test_clock: Any) -> None:
    _at(test_clock, datetime(2025, 2, 10, 10, 0))
    case = _start(es_kitee_1, _contact())
    _at(test_clock, datetime(2025, 3, 10, 9, 0))
    drain()
    [task] = es_kitee_1.tasks(case["id"])

    # F9.2 repeats the F9.1 rules: the date must follow this contact, and is needed
    refused = es_kitee_1.complete(task["id"], _follow_up(
        followUpNeeded=True, followUpDate="2025-03-10"), expect=422).json()
    assert _field_errors(refused) == {"followUpDate"}
    refused = es_kitee_1.complete(task["id"], _follow_up(followUpNeeded=True),
                                  expect=422).json()
    assert _field_errors(refused) == {"followUpDate"}
    refused = es_kitee_1.complete(task["id"], _follow_up(outcome="lyhyt"), expect=422).json()
    assert _field_errors(refused) == {"outcome"}

    # the same employer, contacted the same way: still a complete record
    es_kitee_1.complete(task["id"], _follow_up(channel="visit", followUpNeeded=True,
                                               followUpDate="2025-04-14"))
    _at(test_clock, datetime(2025, 4, 14, 8, 0, 1))
    drain()
    [again] = es_kitee_1.tasks(case["id"])
    assert again["element_id"] == "ut_follow_up"
    es_kitee_1.complete(again["id"], _follow_up(contactDate="2025-04-14", channel="email"))
    assert [r["contactDate"] for r in _employer_contacts(api, case["id"])] == [
        "2025-02-10", "2025-03-10", "2025-04-14"]
    assert {r["businessId"] for r in _employer_contacts(api, case["id"])} == {BUSINESS_ID}


def test_a_contact_without_follow_up_completes_at_once(
        catalogue: Database, api: Api, es_kitee_1: Api, test_clock: Any) -> None:
    _at(test_clock, datetime(2025, 2, 10, 10, 0))
    case = _start(es_kitee_1, _contact(followUpNeeded=False, followUpDate=None, needs=None))
    assert case["status"] == "completed"
    assert _employer_contacts(api, case["id"]) == [
        {"businessId": BUSINESS_ID, "contactDate": "2025-02-10", "channel": "visit"}]
    assert not [e for e in _history(api, case["id"]) if e["type"] == "message_sent"]


# ---------------------------------------------------------------- I2


@pytest.mark.parametrize(("changes", "field"), [
    ({"businessId": None}, "businessId"),
    ({"businessId": "5556667-8"}, "businessId"),
    ({"contactDate": "2025-02-11"}, "contactDate"),  # tomorrow
    ({"followUpDate": None}, "followUpDate"),  # followUpNeeded=true without a date
    ({"followUpDate": "2025-02-10"}, "followUpDate"),  # not after the contact
    ({"followUpDate": "2026-02-11"}, "followUpDate"),  # > 12 months after the contact
    ({"channel": "letter"}, "channel"),
    ({"topics": []}, "topics"),
    ({"startService": ["startup"]}, "startService.0"),
])
def test_i2_an_invalid_contact_gets_422_on_the_field_and_creates_no_case(
        catalogue: Database, api: Api, es_kitee_1: Api, test_clock: Any,
        changes: dict[str, Any], field: str) -> None:
    _at(test_clock, datetime(2025, 2, 10, 10, 0))
    answer = _start(es_kitee_1, _contact(**changes), expect=422)
    assert _field_errors(answer) == {field}
    assert api.get("/api/process-instances",
                   params={"process_id": "employer_contact"}).json() == []


def test_i2_the_follow_up_date_may_be_twelve_months_after_the_contact(
        catalogue: Database, es_kitee_1: Api, test_clock: Any) -> None:
    _at(test_clock, datetime(2025, 2, 10, 10, 0))
    case = _start(es_kitee_1, _contact(followUpDate="2026-02-10"))
    assert case["status"] == "waiting"


# ---------------------------------------------------------------- I3


def test_i3_a_vacancy_start_service_sends_vacancy_submitted_with_the_contact_fields(
        catalogue: Database, api: Api, es_kitee_1: Api, test_clock: Any) -> None:
    # Given es_kitee_1 completes F9.1 for 5556667-7 on 2025-02-10 with startService [vacancy]
    _at(test_clock, datetime(2025, 2, 10, 10, 0))
    case = _start(es_kitee_1, _contact(startService=["vacancy"], followUpNeeded=False,
                                       followUpDate=None))
    key = case["business_key"]

    # Then the case sent VacancySubmitted, and only that, and is done
    assert case["status"] == "completed"
    sent = [e for e in _history(api, case["id"]) if e["type"] == "message_sent"]
    assert [(e["element_id"], e["data"]["message"]) for e in sent] == [
        ("mo_vacancy_submitted", "VacancySubmitted")]
    # ... with businessId and employerName from F9.1, and this case as its origin
    payload = _sent_payload(api, "VacancySubmitted", key)
    assert {k: payload[k] for k in ("businessId", "employerName", "originCaseId")} == {
        "businessId": BUSINESS_ID, "employerName": EMPLOYER, "originCaseId": key}
    assert "originActor" in payload


def test_every_start_service_sends_its_own_start_message(
        catalogue: Database, api: Api, es_kitee_1: Api, test_clock: Any) -> None:
    _at(test_clock, datetime(2025, 2, 10, 10, 0))
    case = _start(es_kitee_1, _contact(
        startService=["vacancy", "presentation", "trial_placement", "change_security"],
        followUpNeeded=False, followUpDate=None))
    key = case["business_key"]
    assert case["status"] == "completed"
    sent = sorted(e["data"]["message"] for e in _history(api, case["id"])
                  if e["type"] == "message_sent")
    assert sent == ["ChangeNegotiationsNotified", "IntroductionPlacementRequested",
                    "TrialPlacementSubmitted", "VacancySubmitted"]
    origin = {"originCaseId": key}
    # PROCESSES.md §3: P9's fields of each start message
    intro = _sent_payload(api, "IntroductionPlacementRequested", key)
    assert {k: intro[k] for k in ("businessId", "employerName", "unpublished", "originCaseId")} \
        == {"businessId": BUSINESS_ID, "employerName": EMPLOYER, "unpublished": True, **origin}
    trial = _sent_payload(api, "TrialPlacementSubmitted", key)
    assert {k: trial[k] for k in ("businessId", "organiserName", "originCaseId")} == {
        "businessId": BUSINESS_ID, "organiserName": EMPLOYER, **origin}
    change = _sent_payload(api, "ChangeNegotiationsNotified", key)
    assert {k: change[k] for k in ("businessId", "employerName", "notificationType",
                                   "originCaseId")} == {
        "businessId": BUSINESS_ID, "employerName": EMPLOYER,
        "notificationType": "voluntary_advice", **origin}


def test_i3_origin_actor_is_the_user_who_recorded_the_contact(
        catalogue: Database, api: Api, es_kitee_1: Api, test_clock: Any) -> None:
    _at(test_clock, datetime(2025, 2, 10, 10, 0))
    case = _start(es_kitee_1, _contact(startService=["vacancy"], followUpNeeded=False,
                                       followUpDate=None))
    payload = _sent_payload(api, "VacancySubmitted", case["business_key"])
    assert payload["originActor"] == "es_kitee_1"


def test_i3_the_started_vacancy_waits_at_ut_complete_start_for_the_recording_user(
        catalogue: Database, api: Api, es_kitee_1: Api, test_clock: Any) -> None:
    _at(test_clock, datetime(2025, 2, 10, 10, 0))
    contact = _start(es_kitee_1, _contact(startService=["vacancy"], followUpNeeded=False,
                                          followUpDate=None))
    [vacancy] = api.get("/api/process-instances",
                        params={"process_id": "vacancy_notice"}).json()
    vacancy = api.get(f"/api/process-instances/{vacancy['id']}").json()
    assert vacancy["data"]["businessId"] == BUSINESS_ID
    assert vacancy["data"]["employerName"] == EMPLOYER
    assert vacancy["data"]["originCaseId"] == contact["business_key"]
    [task] = api.tasks(vacancy["id"])
    assert (task["element_id"], task["assignee"]) == ("ut_complete_start", "es_kitee_1")
    f10 = {"businessId": BUSINESS_ID, "employerName": EMPLOYER, "contactName": "Kari Konepaja",
           "contactEmail": "kari@konepaja.example", "iscoCode": "7212",
           "description": "Hitsaaja kokoonpanoon, MIG/MAG-hitsaus, vuorotyö.",
           "municipalityCode": "260", "positionsCount": 2, "employmentType": "permanent",
           "workingTime": "shift", "applicationDeadline": "2025-03-14"}
    refused = es_kitee_1.complete(task["id"], f10, expect=422).json()
    assert _field_errors(refused) == {"jobTitle"}
    es_kitee_1.complete(task["id"], {**f10, "jobTitle": "hitsaaja"})
    assert [t["element_id"] for t in api.tasks(vacancy["id"])] == ["ut_check_notice"]


def test_the_contact_key_follows_the_case_key_counter(
        catalogue: Database, es_kitee_1: Api, test_clock: Any) -> None:
    _at(test_clock, datetime(2025, 2, 10, 10, 0))
    first = _start(es_kitee_1, _contact(followUpNeeded=False, followUpDate=None))
    second = _start(es_kitee_1, _contact(followUpNeeded=False, followUpDate=None))
    assert first["business_key"] != second["business_key"]
    assert first["data"]["originCaseId"] == first["business_key"]
    assert first["data"]["contactId"] == f"{first['business_key']}-1"
