"""P3 Introduction placement (`introduction_placement`), PROCESSES.md §2 P3: scenarios C1-C5.

Every inbound message (`CandidateProposed`, `CandidateConsent`, `EmployerCandidateFeedback`,
`IntroductionPlacementCancelled`) is correlated by `introPlacementId`. `CandidateConsent` carries
`customerId` in its payload: one case waits for the consents of many candidates at once, and a
case-level correlation value for `customerId` would lock the case onto the first candidate
(SpiffWorkflow keeps one value per correlation key). A sender that also puts `customerId` into
`correlation` is still delivered (the case knows no value for it).

`HiredNotice` goes to the customer's P6 (`jobseeker_service`) case. `VacancySubmitted` starts a
P1 (`vacancy_notice`) case that waits at `ut_complete_start`. The C1 request is the test's own
message for vacancy V-2025-000045, of which no P1 case exists, so `PositionsFilledByPresentation`
is kept as an unmatched-message incident with its payload.
`ConsentRequested` (jobseeker) and `CandidatesPresented` (employer) go to external pools: outbox
records, and `message_sent` events with `to`.

The search window (step 4, `sp_search` in the spec) is a loop of `gw_search_event` (event-based:
`CandidateProposed`, `CandidateConsent`, one timer) inside `sp_placement`, whose interrupting
boundary event `mi_cancelled` takes `IntroductionPlacementCancelled` at any time.

Platform gaps the model works around:
- an event-based gateway arms only one timer (both write the gateway task's `event_value`), so
  the consent timeout and the window's close share `tm_search_timer` at the earlier moment;
- in a sub-process nested in a sub-process, a loop loses the data its rounds set once the
  engine prunes the task tree (`engine.state.prune`), so the window is not a sub-process
  `sp_search` of its own.

F3.2 refuses (422) a candidate whose consent is not `given` with an `x-validate` rule on the
items of `selectedCandidates`. `CandidateProposed` for a customer without an open
`jobseeker_service` (P6) case is refused (`open_cases`, gateway `gw_proposal_ok`): `propose`
first starts the customer's P6 case with `JobSearchStarted` (`open_job_search`).

"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine.db import Database
from engine.models import Notification, OutboxMessage, Timer
from tests.conftest import ADMIN, Api, Drain

HKI = ZoneInfo("Europe/Helsinki")
P3 = "introduction_placement"
VACANCY = "V-2025-000045"
EMPLOYER = {"businessId": "2345678-0", "employerName": "Lieksan Hoivakoti Oy"}


def local(day: str, hh_mm_ss: str = "09:00:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{hh_mm_ss}").replace(tzinfo=HKI)


def at(clock: Any, day: str, hh_mm_ss: str = "09:00:00") -> None:
    """Put the platform clock at `day` `hh_mm_ss` Helsinki time."""
    clock.set_offset(local(day, hh_mm_ss) - datetime.now(UTC))


def case(api: Api, case_id: int) -> dict[str, Any]:
    return api.get(f"/api/process-instances/{case_id}").json()


def history(api: Api, case_id: int) -> list[dict[str, Any]]:
    return api.get(f"/api/process-instances/{case_id}/history").json()["events"]


def sent(api: Api, case_id: int) -> list[tuple[str, str, str | None]]:
    """(element, message, external party) of every message the case threw."""
    return [(e["element_id"], e["data"]["message"], e["data"].get("to"))
            for e in history(api, case_id) if e["type"] == "message_sent"]


def unmatched(api: Api, name: str) -> list[dict[str, Any]]:
    """Payloads of `name` that no case took (their receivers are not modelled yet)."""
    return [i["details"]["payload"] for i in api.get("/api/incidents").json()
            if i["kind"] == "unmatched_message" and i["details"]["name"] == name]


def outbox(db: Database, case_id: int, name: str) -> list[dict[str, Any]]:
    """Payloads of the external message `name` in the case's outbox records."""
    with db.reading() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == case_id)
                         .order_by(OutboxMessage.id)).all()
        return [r.payload["payload"] for r in rows
                if r.payload.get("message") == name and "payload" in r.payload]


def ready(api: Api, case_id: int, element_id: str) -> dict[str, Any]:
    tasks = [t for t in api.tasks(case_id) if t["element_id"] == element_id]
    assert len(tasks) == 1, [t["element_id"] for t in api.tasks(case_id)]
    return tasks[0]


def fields(answer: Any) -> set[str]:
    return {d["field"] for d in answer.json()["detail"]}


def candidates(api: Api, case_id: int) -> dict[str, dict[str, Any]]:
    return {c["customerId"]: c for c in case(api, case_id)["data"]["candidates"]}


def post(sender: Api, name: str, key: str, **payload: Any) -> list[int]:
    correlation = {"introPlacementId": key}
    if name == "CandidateConsent":
        correlation["customerId"] = payload["customerId"]
    return sender.post("/api/messages", 202, json={
        "name": name, "correlation": correlation, "payload": payload}).json()["delivered_to"]


def personal_id(number: int) -> str:
    """A valid henkilötunnus born 15.5.1985, individual number 900 + `number`."""
    digits = f"150585{900 + number:03d}"
    return f"150585-{900 + number:03d}" + "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(digits) % 31]


def open_job_search(sender: Api, customer: str) -> None:
    """The customer's open P6 case (`JobSearchStarted`), which a proposal requires (C5)."""
    admin = Api(sender.client, *ADMIN)  # staff see only their own cases
    if admin.get("/api/process-instances", params={
            "search": customer, "process_id": "jobseeker_service"}).json():
        return
    sender.post("/api/messages", 202, json={"name": "JobSearchStarted", "payload": {
        "customerId": customer, "personalId": personal_id(int(customer[-3:])),
        "name": f"Testi Asiakas {customer}", "jobSearchStartDate": "2025-09-01",
        "municipalityCode": "167", "employmentStatus": "unemployed", "language": "fi"}})


def job_search(api: Api, customer: str) -> dict[str, Any]:
    """The customer's P6 (`jobseeker_service`) case."""
    [found] = api.get("/api/process-instances", params={
        "search": customer, "process_id": "jobseeker_service"}).json()
    return case(api, found["id"])


def propose(sender: Api, key: str, customer: str, by: str) -> None:
    open_job_search(sender, customer)
    assert post(sender, "CandidateProposed", key, customerId=customer, proposedBy=by)


def consent(api: Api, key: str, customer: str, answer: str) -> None:
    assert post(api, "CandidateConsent", key, customerId=customer, consent=answer)


P1_REQUEST = {"vacancyId": VACANCY, **EMPLOYER, "jobTitle": "lähihoitaja",
              "iscoCode": "5321", "municipalityCode": "422", "positionsCount": 1,
              "unpublished": False, "originCaseId": VACANCY, "originActor": "es_1"}


def clarify(**over: Any) -> dict[str, Any]:
    """F3.1 of C1 (2025-10-06)."""
    data = {"contactDate": "2025-10-06", "channel": "phone",
            "requirements": "Lähihoitajan tutkinto, kokemus vanhustyöstä, B-ajokortti.",
            "mustHave": ["driving_licence_b"], "candidatesWanted": 2,
            "presentationDeadline": "2025-10-13", "searchTeams": ["ps_pka", "integration_services"],
            **over}
    return {k: v for k, v in data.items() if v is not None}


def manual(**over: Any) -> dict[str, Any]:
    """F3.0 of C3: an unpublished request, no vacancy."""
    return {"businessId": "7654321-2", "employerName": "Joensuun Kone Oy",
            "jobTitle": "koneistaja", "iscoCode": "7223", "municipalityCode": "167",
            "positionsCount": 2, "unpublished": True, **over}


@pytest.fixture
def es(catalogue: Database, api: Api) -> Api:
    return api.user("es_1", ["staff"], ["employer_services"])


@pytest.fixture
def ps_pka_1(catalogue: Database, api: Api) -> Api:
    return api.user("ps_pka_1", ["staff"], ["ps_pka"])


@pytest.fixture
def int_1(catalogue: Database, api: Api) -> Api:
    return api.user("int_1", ["staff"], ["integration_services"])


def start_from_vacancy(api: Api, clock: Any) -> tuple[int, str]:
    """P1's request of C1 on 2025-10-06 (the test sends P1's message; no P1 case exists)."""
    at(clock, "2025-10-06", "10:00:00")
    [case_id] = api.post("/api/messages", 202, json={
        "name": "IntroductionPlacementRequested", "payload": P1_REQUEST}).json()["delivered_to"]
    return case_id, case(api, case_id)["data"]["introPlacementId"]


def start_manual(es: Api, clock: Any, day: str, **over: Any) -> tuple[int, str]:
    at(clock, day, "10:00:00")
    started = es.post("/api/process-instances", 201,
                      json={"process_id": P3, "data": manual(**over)}).json()
    return started["id"], started["data"]["introPlacementId"]


# ---------------------------------------------------------------- C1


def test_c1_happy_from_a_vacancy(catalogue: Database, api: Api, es: Api, ps_pka_1: Api,
                                 int_1: Api, drain: Drain, test_clock: Any) -> None:
    # Given P1 vacancy V-2025-000045 asks for presentations on 2025-10-06: a complete request
    case_id, key = start_from_vacancy(api, test_clock)
    assert key.startswith("E-2025-") and case(api, case_id)["business_key"] == key
    task = ready(es, case_id, "ut_clarify")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-10-07", "23:59:59")  # 1 bd
    data = case(api, case_id)["data"]
    assert (data["vacancyId"], data["jobTitle"], data["serviceAreaCode"]) == (
        VACANCY, "lähihoitaja", "pka")

    # When F3.1: 2 candidates wanted by 2025-10-13 from ps_pka and integration_services
    es.complete(task["id"], clarify())
    drain()
    with catalogue.reading() as s:
        asked = sorted(n.team_id for n in s.scalars(select(Notification).where(
            Notification.instance_id == case_id)))
    assert asked == ["integration_services", "ps_pka"]

    # ... on 2025-10-07 ps_pka_1 proposes C-000301 and C-000302, int_1 proposes C-000303
    at(test_clock, "2025-10-07")
    propose(ps_pka_1, key, "C-000301", "ps_pka_1")
    propose(ps_pka_1, key, "C-000302", "ps_pka_1")
    propose(int_1, key, "C-000303", "int_1")
    assert [c["consent"] for c in candidates(api, case_id).values()] == ["pending"] * 3
    asked_consent = outbox(catalogue, case_id, "ConsentRequested")
    assert [p["customerId"] for p in asked_consent] == ["C-000301", "C-000302", "C-000303"]
    assert ("mo_consent_requested", "ConsentRequested", "jobseeker") in sent(api, case_id)

    # ... consents: C-000301 given (10-07), C-000302 declined and C-000303 given (10-08)
    consent(api, key, "C-000301", "given")
    assert api.tasks(case_id) == []
    at(test_clock, "2025-10-08")
    consent(api, key, "C-000302", "declined")
    assert api.tasks(case_id) == []
    consent(api, key, "C-000303", "given")

    # Then the search closes on 2025-10-08 with 2 consents
    assert {k: c["consent"] for k, c in candidates(api, case_id).items()} == {
        "C-000301": "given", "C-000302": "declined", "C-000303": "given"}
    assert case(api, case_id)["data"]["consentedCount"] == 2
    task = ready(es, case_id, "ut_present_candidates")

    # ... F3.2 presents [C-000301, C-000303] on 2025-10-09 -> 2 MatchingAction records
    at(test_clock, "2025-10-09")
    f32 = {"selectedCandidates": ["C-000301", "C-000303"], "presentationChannel": "email_summary",
           "presentedAt": "2025-10-09", "candidatesWanted": 2}
    es.complete(task["id"], f32)
    data = case(api, case_id)["data"]
    assert [(m["type"], m["customerId"], m["actor"], m["date"], m["vacancyId"])
            for m in data["matchingActions"]] == [
        ("presentation", "C-000301", "ps_pka_1", "2025-10-09", VACANCY),
        ("presentation", "C-000303", "int_1", "2025-10-09", VACANCY)]
    [presented] = outbox(catalogue, case_id, "CandidatesPresented")
    assert presented["candidates"] == ["C-000301", "C-000303"]
    assert ("mo_candidates_presented", "CandidatesPresented", "employer") in sent(api, case_id)

    # ... on 2025-10-20 the employer hires C-000303 (start 2025-11-03) and rejects C-000301
    at(test_clock, "2025-10-20")
    assert post(api, "EmployerCandidateFeedback", key, outcomes=[
        {"customerId": "C-000303", "outcome": "hired", "startDate": "2025-11-03"},
        {"customerId": "C-000301", "outcome": "rejected"}])

    # Then HiredNotice goes to the P6 case of C-000303 and PositionsFilledByPresentation
    # {count 1} to P1; no P1 case of V-2025-000045 is open, so that one is kept as an
    # unmatched-message incident
    names = [m for _, m, _ in sent(api, case_id)]
    assert names.count("HiredNotice") == 1 and "PositionsFilledByPresentation" in names
    assert unmatched(api, "HiredNotice") == []
    hired = job_search(api, "C-000303")["data"]["hiredNotice"]
    assert {k: hired[k] for k in ("customerId", "businessId", "startDate")} == {
        "customerId": "C-000303", "businessId": "2345678-0", "startDate": "2025-11-03"}
    assert "hiredNotice" not in job_search(api, "C-000301")["data"]
    [filled] = unmatched(api, "PositionsFilledByPresentation")
    assert (filled["vacancyId"], filled["count"]) == (VACANCY, 1)
    assert case(api, case_id)["data"]["hiredCount"] == 1

    # ... and after F3.5 the outcome is hired
    task = ready(es, case_id, "ut_close")
    es.complete(task["id"], {"contactDate": "2025-10-20", "channel": "phone",
                             "feedbackScore": 5})
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "hired")
    ended = [e["element_id"] for e in history(api, case_id) if e["element_id"] == "end_hired"]
    assert ended == ["end_hired"]


# ---------------------------------------------------------------- C2


def to_presentation_with_timeout(api: Api, es: Api, ps_pka_1: Api, drain: Drain,
                                 clock: Any) -> tuple[int, str]:
    """C2: C-000301 consents, C-000302 (proposed 2025-10-07) never answers."""
    case_id, key = start_from_vacancy(api, clock)
    es.complete(ready(es, case_id, "ut_clarify")["id"], clarify())
    drain()
    at(clock, "2025-10-07")
    propose(ps_pka_1, key, "C-000301", "ps_pka_1")
    propose(ps_pka_1, key, "C-000302", "ps_pka_1")
    consent(api, key, "C-000301", "given")
    return case_id, key


def test_c2_an_unanswered_consent_is_declined_by_timeout_after_its_due_date(
        catalogue: Database, api: Api, es: Api, ps_pka_1: Api, drain: Drain,
        test_clock: Any) -> None:
    case_id, key = to_presentation_with_timeout(api, es, ps_pka_1, drain, test_clock)
    assert candidates(api, case_id)["C-000302"]["consentDue"] == "2025-10-09"  # consentBd 2

    # the due date itself is still open
    at(test_clock, "2025-10-09", "23:59:00")
    drain()
    assert candidates(api, case_id)["C-000302"]["consent"] == "pending"

    # Then at 2025-10-10 00:00 its consent is declined_by_timeout
    at(test_clock, "2025-10-10", "00:00:01")
    drain()
    assert candidates(api, case_id)["C-000302"]["consent"] == "declined_by_timeout"
    assert candidates(api, case_id)["C-000301"]["consent"] == "given"
    assert api.tasks(case_id) == []  # 1 consent of 2 wanted: the window stays open

    # a consent that comes after the timeout changes nothing
    consent(api, key, "C-000302", "given")
    assert candidates(api, case_id)["C-000302"]["consent"] == "declined_by_timeout"
    assert case(api, case_id)["data"]["consentedCount"] == 1

    # ... the window closes at 08:00 on the presentation deadline 2025-10-13
    at(test_clock, "2025-10-13", "07:59:00")
    drain()
    assert api.tasks(case_id) == []
    at(test_clock, "2025-10-13", "08:00:01")
    drain()
    task = ready(es, case_id, "ut_present_candidates")
    f32 = {"selectedCandidates": ["C-000301"], "presentationChannel": "phone",
           "presentedAt": "2025-10-13", "candidatesWanted": 2}
    # F3.2 allows at most candidatesWanted candidates
    refused = es.complete(task["id"], {**f32, "selectedCandidates": [
        "C-000301", "C-000302", "C-000303"]}, expect=422)
    assert fields(refused) == {"selectedCandidates"}
    es.complete(task["id"], f32)
    assert [m["customerId"] for m in case(api, case_id)["data"]["matchingActions"]] == [
        "C-000301"]


def test_c2_presenting_a_candidate_declined_by_timeout_is_refused(
        catalogue: Database, api: Api, es: Api, ps_pka_1: Api, drain: Drain,
        test_clock: Any) -> None:
    case_id, _ = to_presentation_with_timeout(api, es, ps_pka_1, drain, test_clock)
    at(test_clock, "2025-10-13", "08:00:01")
    drain()
    task = ready(es, case_id, "ut_present_candidates")
    refused = es.complete(task["id"], {
        "selectedCandidates": ["C-000301", "C-000302"], "presentationChannel": "phone",
        "presentedAt": "2025-10-13", "candidatesWanted": 2}, expect=422)
    assert fields(refused) == {"selectedCandidates.1"}
    assert refused.json()["detail"][0]["message"] == \
        "Asiakas ei ole antanut suostumusta esittelyyn"
    assert ready(es, case_id, "ut_present_candidates")["id"] == task["id"]  # nothing changed


# ---------------------------------------------------------------- C3


def no_candidates_on_2025_11_10(api: Api, es: Api, drain: Drain, clock: Any) -> tuple[int, str]:
    """C3: a manual start on 2025-11-03, deadline 2025-11-10, nobody proposes anyone."""
    case_id, key = start_manual(es, clock, "2025-11-03")
    es.complete(ready(es, case_id, "ut_clarify")["id"], clarify(
        contactDate="2025-11-03", presentationDeadline="2025-11-10", searchTeams=["ps_jns"],
        requirements="CNC-koneistus, piirustusten lukutaito, kaksivuorotyö."))
    drain()
    at(clock, "2025-11-10", "07:59:00")
    drain()
    assert api.tasks(case_id) == []
    at(clock, "2025-11-10", "08:00:01")
    drain()
    return case_id, key


def test_c3_no_candidates_publishes_a_vacancy_and_ends_no_candidates(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    case_id, key = no_candidates_on_2025_11_10(api, es, drain, test_clock)
    assert case(api, case_id)["data"]["unpublished"] is True

    # Then at 2025-11-10 08:00 ut_no_candidates appears
    task = ready(es, case_id, "ut_no_candidates")
    f33 = {"contactDate": "2025-11-10", "channel": "phone", "employerDecision": "publish_vacancy",
           "searchRound": 1}
    # searchRound is the case's, read-only
    assert fields(es.complete(task["id"], {**f33, "searchRound": 2}, expect=422)) == {
        "searchRound"}
    es.complete(task["id"], f33)

    # ... with publish_vacancy the case sends VacancySubmitted, which starts a P1 case, with
    # the F3.0 fields and description = the F3.1 requirements
    assert ("mo_vacancy_submitted", "VacancySubmitted", None) in sent(api, case_id)
    assert unmatched(api, "VacancySubmitted") == []
    [vacancy] = api.get("/api/process-instances", params={"process_id": "vacancy_notice"}).json()
    started = case(api, vacancy["id"])["data"]
    payload = {k: started.get(k) for k in ("businessId", "employerName", "jobTitle", "iscoCode",
                                           "municipalityCode", "positionsCount", "description",
                                           "originCaseId", "originActor")}
    assert payload == {"businessId": "7654321-2", "employerName": "Joensuun Kone Oy",
                       "jobTitle": "koneistaja", "iscoCode": "7223", "municipalityCode": "167",
                       "positionsCount": 2,
                       "description": "CNC-koneistus, piirustusten lukutaito, kaksivuorotyö.",
                       "originCaseId": key, "originActor": "es_1"}
    # ... and this case ends no_candidates
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "no_candidates")


def test_c3_the_published_vacancy_waits_at_ut_complete_start(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    case_id, key = no_candidates_on_2025_11_10(api, es, drain, test_clock)
    es.complete(ready(es, case_id, "ut_no_candidates")["id"], {
        "contactDate": "2025-11-10", "channel": "phone", "employerDecision": "publish_vacancy",
        "searchRound": 1})
    [vacancy] = api.get("/api/process-instances", params={"process_id": "vacancy_notice"}).json()
    data = case(api, vacancy["id"])["data"]
    assert (data["originCaseId"], data["jobTitle"], data["positionsCount"]) == (
        key, "koneistaja", 2)
    # F1.0 lacks contactName, contactEmail, employmentType, workingTime, applicationDeadline:
    # the P1 case waits at ut_complete_start for es_1, who sent it
    [task] = api.tasks(vacancy["id"])
    assert (task["element_id"], task["assignee"]) == ("ut_complete_start", "es_1")
    f10 = {"businessId": "7654321-2", "employerName": "Joensuun Kone Oy",
           "contactName": "Jari Kone", "contactEmail": "jari@joensuunkone.example",
           "jobTitle": "koneistaja", "iscoCode": "7223", "municipalityCode": "167",
           "positionsCount": 2, "employmentType": "permanent", "workingTime": "shift",
           "description": "CNC-koneistus, piirustusten lukutaito, kaksivuorotyö."}
    refused = es.complete(task["id"], f10, expect=422)
    assert fields(refused) == {"applicationDeadline"}
    es.complete(task["id"], {**f10, "applicationDeadline": "2025-11-30"})
    assert [t["element_id"] for t in api.tasks(vacancy["id"])] == ["ut_check_notice"]
    assert case(api, vacancy["id"])["business_key"].startswith("V-2025-")


def test_c3_widen_search_once_then_close(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    case_id, _ = no_candidates_on_2025_11_10(api, es, drain, test_clock)
    f33 = {"contactDate": "2025-11-10", "channel": "phone", "employerDecision": "widen_search",
           "searchRound": 1}
    es.complete(ready(es, case_id, "ut_no_candidates")["id"], f33)
    drain()

    # round 2: the deadline moves introWidenSearchBd (5) past max(deadline, today) and every
    # ps_* team, integration_services and tym are asked
    data = case(api, case_id)["data"]
    assert (data["searchRound"], data["presentationDeadline"]) == (2, "2025-11-17")
    with catalogue.reading() as s:
        asked = sorted(n.team_id for n in s.scalars(select(Notification).where(
            Notification.instance_id == case_id)))
    assert asked == sorted(["ps_jns", "ps_jns", "ps_jse", "ps_kka", "ps_pka",
                            "integration_services", "tym"])
    at(test_clock, "2025-11-17", "08:00:01")
    drain()
    task = ready(es, case_id, "ut_no_candidates")

    # widen_search is refused in round 2
    refused = es.complete(task["id"], {**f33, "contactDate": "2025-11-17", "searchRound": 2},
                          expect=422)
    assert fields(refused) == {"employerDecision"}
    es.complete(task["id"], {**f33, "contactDate": "2025-11-17", "searchRound": 2,
                             "employerDecision": "close"})
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "no_candidates")
    assert unmatched(api, "VacancySubmitted") == []


# ---------------------------------------------------------------- C4


def test_c4_employer_silent_gets_ut_ask_outcome_after_ten_business_days(
        catalogue: Database, api: Api, es: Api, ps_pka_1: Api, drain: Drain,
        test_clock: Any) -> None:
    case_id, key = start_manual(es, test_clock, "2025-10-06")
    es.complete(ready(es, case_id, "ut_clarify")["id"], clarify(candidatesWanted=1))
    drain()
    at(test_clock, "2025-10-07")
    propose(ps_pka_1, key, "C-000301", "ps_pka_1")
    consent(api, key, "C-000301", "given")  # 1 of 1: the window closes at once

    # Given candidates presented 2025-10-13 and no feedback
    at(test_clock, "2025-10-13")
    es.complete(ready(es, case_id, "ut_present_candidates")["id"], {
        "selectedCandidates": ["C-000301"], "presentationChannel": "meeting",
        "presentedAt": "2025-10-13", "candidatesWanted": 1})
    with catalogue.reading() as s:
        [timer] = s.scalars(select(Timer).where(Timer.instance_id == case_id,
                                                Timer.status == "pending")).all()
        assert timer.due_at == local("2025-10-27", "08:00:00")  # employerFeedbackBd 10
    at(test_clock, "2025-10-27", "07:59:00")
    drain()
    assert api.tasks(case_id) == []

    # Then ut_ask_outcome appears 2025-10-27 08:00
    at(test_clock, "2025-10-27", "08:00:01")
    drain()
    task = ready(es, case_id, "ut_ask_outcome")
    f34 = {"contactDate": "2025-10-27", "channel": "phone",
           "outcomes": [{"customerId": "C-000301", "outcome": "hired"}]}
    assert fields(es.complete(task["id"], f34, expect=422)) == {"outcomes.0.startDate"}
    es.complete(task["id"], {**f34, "outcomes": [{"customerId": "C-000301",
                                                   "outcome": "rejected"}]})

    # nobody hired: no HiredNotice, and the case ends not_hired after F3.5
    assert [m for _, m, _ in sent(api, case_id) if m == "HiredNotice"] == []
    task = ready(es, case_id, "ut_close")
    assert fields(es.complete(task["id"], {"contactDate": "2025-10-27", "channel": "phone"},
                              expect=422)) == {"feedbackScore"}
    es.complete(task["id"], {"contactDate": "2025-10-27", "channel": "phone",
                             "feedbackDeclined": True})
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "not_hired")


def test_two_hires_without_a_vacancy_send_two_hired_notices_and_no_positions_filled(
        catalogue: Database, api: Api, es: Api, ps_pka_1: Api, drain: Drain,
        test_clock: Any) -> None:
    case_id, key = start_manual(es, test_clock, "2025-10-06")
    es.complete(ready(es, case_id, "ut_clarify")["id"], clarify())
    drain()
    at(test_clock, "2025-10-07")
    for customer in ("C-000311", "C-000312"):
        propose(ps_pka_1, key, customer, "ps_pka_1")
        consent(api, key, customer, "given")
    es.complete(ready(es, case_id, "ut_present_candidates")["id"], {
        "selectedCandidates": ["C-000311", "C-000312"], "presentationChannel": "meeting",
        "presentedAt": "2025-10-07", "candidatesWanted": 2})
    assert post(api, "EmployerCandidateFeedback", key, outcomes=[
        {"customerId": "C-000311", "outcome": "hired", "startDate": "2025-11-01"},
        {"customerId": "C-000312", "outcome": "hired", "startDate": "2025-11-15"}])
    # both notices go to the customers' P6 cases
    assert unmatched(api, "HiredNotice") == []
    assert [job_search(api, c)["data"]["hiredNotice"]["startDate"]
            for c in ("C-000311", "C-000312")] == ["2025-11-01", "2025-11-15"]
    assert unmatched(api, "PositionsFilledByPresentation") == []
    es.complete(ready(es, case_id, "ut_close")["id"], {
        "contactDate": "2025-10-07", "channel": "email", "feedbackScore": 4})
    assert case(api, case_id)["data"]["outcome"] == "hired"


# ---------------------------------------------------------------- C5


@pytest.mark.parametrize(("changes", "field"), [
    ({"presentationDeadline": "2025-10-06"}, "presentationDeadline"),  # today
    ({"presentationDeadline": "2025-11-04"}, "presentationDeadline"),  # > 20 bd
    ({"candidatesWanted": 11}, "candidatesWanted"),
    ({"searchTeams": []}, "searchTeams"),
    ({"requirements": "liian lyhyt"}, "requirements"),
])
def test_c5_invalid_f31_gets_422(catalogue: Database, api: Api, es: Api, test_clock: Any,
                                 changes: dict[str, Any], field: str) -> None:
    case_id, _ = start_from_vacancy(api, test_clock)
    task = ready(es, case_id, "ut_clarify")
    assert fields(es.complete(task["id"], clarify(**changes), expect=422)) == {field}
    # the earliest and latest allowed deadlines are accepted
    es.complete(task["id"], clarify(presentationDeadline="2025-11-03"))


def test_c5_earliest_deadline_is_one_business_day_ahead(
        catalogue: Database, api: Api, es: Api, test_clock: Any) -> None:
    case_id, _ = start_from_vacancy(api, test_clock)
    es.complete(ready(es, case_id, "ut_clarify")["id"],
                clarify(presentationDeadline="2025-10-07"))
    assert case(api, case_id)["data"]["presentationDeadline"] == "2025-10-07"


def test_c5_a_candidate_without_an_open_job_search_case_is_refused(
        catalogue: Database, api: Api, es: Api, ps_pka_1: Api, drain: Drain,
        test_clock: Any) -> None:
    case_id, key = start_from_vacancy(api, test_clock)
    es.complete(ready(es, case_id, "ut_clarify")["id"], clarify())
    drain()
    post(ps_pka_1, "CandidateProposed", key, customerId="C-000999", proposedBy="ps_pka_1")
    data = case(api, case_id)["data"]
    assert data["candidates"] == []
    assert [(r["customerId"], r["reason"]) for r in data["refusedProposals"]] == [
        ("C-000999", "no_open_job_search_case")]
    assert [m for _, m, _ in sent(api, case_id) if m == "ConsentRequested"] == []
    # a customer with an open jobseeker_service case is taken
    propose(ps_pka_1, key, "C-000301", "ps_pka_1")
    assert list(candidates(api, case_id)) == ["C-000301"]
    assert [m for _, m, _ in sent(api, case_id) if m == "ConsentRequested"] == [
        "ConsentRequested"]


@pytest.mark.parametrize("changes", [{"positionsCount": 100}, {"businessId": "7654321-3"},
                                     {"municipalityCode": "999"}])
def test_c5_an_invalid_manual_start_creates_nothing(
        catalogue: Database, api: Api, es: Api, test_clock: Any, changes: dict[str, Any]) -> None:
    at(test_clock, "2025-11-03")
    es.post("/api/process-instances", 422, json={"process_id": P3, "data": manual(**changes)})
    assert api.get("/api/process-instances", params={"process_id": P3}).json() == []


# ---------------------------------------------------------------- start from P9, cancel


def test_a_request_from_p9_begins_with_ut_complete_start_for_the_recording_user(
        catalogue: Database, api: Api, es: Api, test_clock: Any) -> None:
    at(test_clock, "2025-10-06")
    [case_id] = api.post("/api/messages", 202, json={
        "name": "IntroductionPlacementRequested", "payload": {
            **EMPLOYER, "unpublished": True, "originCaseId": "YK-2025-000001",
            "originActor": "es_1"}}).json()["delivered_to"]
    task = ready(es, case_id, "ut_complete_start")
    assert task["assignee"] == "es_1"
    data = case(api, case_id)["data"]
    assert (data["businessId"], data["employerName"], data["originCaseId"]) == (
        "2345678-0", "Lieksan Hoivakoti Oy", "YK-2025-000001")
    f30 = {**EMPLOYER, "jobTitle": "lähihoitaja", "iscoCode": "5321", "municipalityCode": "422",
           "positionsCount": 1, "unpublished": True}
    assert fields(es.complete(task["id"], {**f30, "jobTitle": None}, expect=422)) == {"jobTitle"}
    es.complete(task["id"], f30)
    task = ready(es, case_id, "ut_clarify")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-10-07", "23:59:59")


def test_a_cancellation_ends_the_case_at_any_time(
        catalogue: Database, api: Api, es: Api, ps_pka_1: Api, drain: Drain,
        test_clock: Any) -> None:
    case_id, key = start_from_vacancy(api, test_clock)
    es.complete(ready(es, case_id, "ut_clarify")["id"], clarify())
    drain()
    at(test_clock, "2025-10-07")
    propose(ps_pka_1, key, "C-000301", "ps_pka_1")
    # another placement's cancellation does not touch this one
    assert post(api, "IntroductionPlacementCancelled", "E-2025-999999") == []
    assert post(api, "IntroductionPlacementCancelled", key, reason="position withdrawn") == [
        case_id]
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "cancelled")
    assert api.tasks(case_id) == []
    with catalogue.reading() as s:
        assert s.scalars(select(Timer).where(Timer.instance_id == case_id,
                                             Timer.status == "pending")).all() == []
