"""P2 Trial placement notice (`trial_placement_notice`) and P2b Trial agreement
(`trial_agreement`), PROCESSES.md §2 P2: scenarios B1-B6.

P2 takes every inbound message (`TrialPlacementChanged`, `TrialPlacementRemoved`,
`TrialCandidateProposed`, `TrialAgreementConcluded`, `TrialAgreementCancelled`) by
`trialPlacementId`; P2b takes `TrialAgreementSigned` and `TrialInterrupted` by
`trialAgreementId`. Each proposal that finds a free place starts one `trial_agreement` case
through `TrialAgreementRequested`; P2b answers P2 with `TrialAgreementConcluded` or
`TrialAgreementCancelled` (and tells the organiser with the outbound
`TrialAgreementCancelledNotice`: a message name sent to an external party is not routed to
cases, so the notice cannot share the name that P2 receives).

`ServiceStarted` / `ServiceEnded` go to P6 (`jobseeker_service`) by `customerId`. These tests
start no P6 case, so with or without the P6 model nothing takes them and each is kept as an
unmatched-message incident with its payload: the tests assert the thrown message (history
`message_sent` with its correlation) and that payload. P6's own tests cover what it does with
them (B1's suspension of the conversation schedule).

How the models work around the platform:
- the open phase is a loop around one event-based gateway (an event-based gateway arms only one
  timer: the earlier of the validity review and the expiry); the review tasks run in parallel
  branches and report back to the loop with an in-case signal, so messages are taken while a
  review task is open;
- `st_prior_trials` finds the customer's earlier trials with `case_count()` over case keys: a
  finished agreement keeps its length in days as binary keys (`trialDayBits`);
- P2b's draft task goes to the placement's area team (`ps_<serviceAreaCode>`, carried in
  `TrialAgreementRequested` besides the fields of §3), assigned to the proposing officer: the
  customer's own conversation team lives in P6 and no script function can read it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from engine.db import Database
from engine.models import Notification, OutboxMessage
from tests.conftest import Api, Drain
from tests.scenarios.helpers import case, fields, history, local, ready, sent, to_p6

P2 = "trial_placement_notice"
P2B = "trial_agreement"
ORGANISER = {"businessId": "3334445-9", "organiserName": "Polvijärven Nuorisoseura ry"}
PUBLISH_TEAMS = ["career_guidance", "integration_services", "ps_jse", "tym"]


def at(clock: Any, day: str, hh_mm_ss: str = "09:00:00") -> None:
    """Put the platform clock at `day` `hh_mm_ss` Helsinki time."""
    clock.set_offset(local(day, hh_mm_ss) - datetime.now(UTC))


def placement(**over: Any) -> dict[str, Any]:
    """F2.0 of B1: Polvijärven Nuorisoseura ry, kahvila-avustaja in Polvijärvi."""
    data = {**ORGANISER, "organiserType": "association", "contactName": "Liisa Laine",
            "contactEmail": "liisa.laine@nuorisoseura.example", "taskTitle": "kahvila-avustaja",
            "tasksDescription": "Kahvilan asiakaspalvelu, tarjoilu ja siivous nuorisoseuran "
                                "talolla.",
            "municipalityCode": "607", "placesCount": 1, "availableFrom": "2025-09-01",
            "availableUntil": "2025-12-31", "maxDaysPerWeek": 5, "hoursPerDayMin": 4,
            "hoursPerDayMax": 6, "supervisorName": "Pekka Puumalainen",
            "hasRecentDismissalsOrLayoffs": False, **over}
    return {k: v for k, v in data.items() if v is not None}


ACCEPT = {"competitionDistortionRisk": "low", "dismissedWorkersCheck": "not_applicable",
          "decision": "accept"}


def agreement(**over: Any) -> dict[str, Any]:
    """F2b.1 of B1: 2025-09-01...2025-11-30 (91 days), 4 days a week, 6 h."""
    return {"startDate": "2025-09-01", "endDate": "2025-11-30", "daysPerWeek": 4,
            "hoursPerDay": 6, "goal": "return_to_labour_market", **over}


def post(sender: Api, name: str, correlation: dict[str, Any], **payload: Any) -> list[int]:
    return sender.post("/api/messages", 202, json={
        "name": name, "correlation": correlation, "payload": payload}).json()["delivered_to"]


def to_placement(sender: Api, name: str, key: str, **payload: Any) -> list[int]:
    return post(sender, name, {"trialPlacementId": key}, **payload)


def to_agreement(sender: Api, name: str, key: str, **payload: Any) -> list[int]:
    return post(sender, name, {"trialAgreementId": key}, **payload)


def outbox(db: Database, case_id: int, name: str) -> list[dict[str, Any]]:
    """(party, payload) of the external message `name` in the case's outbox records."""
    with db.reading() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == case_id)
                         .order_by(OutboxMessage.id)).all()
        return [{"to": r.payload["to"], **r.payload["payload"]} for r in rows
                if r.payload.get("message") == name and "payload" in r.payload]


def notified_teams(db: Database, case_id: int) -> list[str]:
    """Teams the model notified (the platform's own due-date reminders left out)."""
    with db.reading() as s:
        return sorted(n.team_id for n in s.scalars(select(Notification).where(
            Notification.instance_id == case_id, Notification.kind == "message"))
            if n.team_id)


def agreements(api: Api) -> list[dict[str, Any]]:
    return [case(api, c["id"]) for c in
            api.get("/api/process-instances", params={"process_id": P2B}).json()]


def sent_to(api: Api, case_id: int, name: str) -> list[tuple[str, str | None, dict]]:
    """(element, party, correlation) of every `name` the case threw."""
    return [(e["element_id"], e["data"].get("to"), e["data"].get("correlation"))
            for e in sent(api, case_id).get(name, [])]


def step_names(api: Api, case_id: int, element_id: str) -> list[str]:
    return [e["data"].get("name") for e in history(api, case_id)
            if e["element_id"] == element_id and e["type"] == "step_completed"]


@pytest.fixture
def es(catalogue: Database, api: Api) -> Api:
    return api.user("es_1", ["staff"], ["employer_services"])


@pytest.fixture
def ps(catalogue: Database, api: Api) -> Api:
    """The responsible officer of C-000202 in the Joensuu region (Polvijärvi is `jse`)."""
    return api.user("ps_jse_1", ["staff"], ["ps_jse"])


def submit_from_tmt(api: Api, clock: Any, day: str = "2025-08-18", **over: Any) -> tuple[int, str]:
    """Työmarkkinatori sends every F2.0 field: no ut_complete_start."""
    at(clock, day, "10:00:00")
    [case_id] = api.post("/api/messages", 202, json={
        "name": "TrialPlacementSubmitted", "payload": placement(**over)}).json()["delivered_to"]
    return case_id, case(api, case_id)["data"]["trialPlacementId"]


def start_manual(es: Api, clock: Any, day: str = "2025-08-18", **over: Any) -> tuple[int, str]:
    at(clock, day, "10:00:00")
    started = es.post("/api/process-instances", 201,
                      json={"process_id": P2, "data": placement(**over)}).json()
    return started["id"], started["data"]["trialPlacementId"]


def publish(es: Api, drain: Drain, clock: Any, case_id: int, day: str = "2025-08-19") -> None:
    at(clock, day, "10:00:00")
    es.complete(ready(es, case_id, "ut_assess")["id"], ACCEPT)
    drain()


def propose(sender: Api, key: str, customer: str = "C-000202",
            by: str = "ps_jse_1") -> list[int]:
    return to_placement(sender, "TrialCandidateProposed", key, customerId=customer,
                        proposedBy=by)


def newest_agreement(api: Api) -> dict[str, Any]:
    return max(agreements(api), key=lambda c: c["id"])


def sign(api: Api, clock: Any, key: str, party: str, day: str) -> None:
    at(clock, day, "12:00:00")
    assert to_agreement(api, "TrialAgreementSigned", key, party=party,
                        signedAt=f"{day}T12:00:00+03:00")


# ---------------------------------------------------------------- B1


def test_b1_happy_placement_filled_and_trial_run(catalogue: Database, api: Api, es: Api,
                                                  ps: Api, drain: Drain,
                                                  test_clock: Any) -> None:
    # Given the association's placement arrives from Työmarkkinatori on 2025-08-18
    p2, key = submit_from_tmt(api, test_clock)
    assert key.startswith("T-2025-") and case(api, p2)["business_key"] == key
    data = case(api, p2)["data"]
    assert (data["serviceAreaCode"], data["status"], data["assessDue"]) == (
        "jse", "submitted", "2025-08-20")
    task = ready(es, p2, "ut_assess")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-08-20", "23:59:59")

    # When assessed 2025-08-19: risk low, check not_applicable, accept
    publish(es, drain, test_clock, p2)
    data = case(api, p2)["data"]
    assert (data["status"], data["competitionDistortionRisk"], data["publishedOn"]) == (
        "open", "low", "2025-08-19")
    assert notified_teams(catalogue, p2) == PUBLISH_TEAMS

    # ... TrialCandidateProposed {C-000202} on 2025-08-25
    at(test_clock, "2025-08-25")
    assert propose(ps, key) == [p2]
    assert case(api, p2)["data"]["placesReserved"] == 1
    [requested] = sent_to(api, p2, "TrialAgreementRequested")
    assert requested[0] == "mo_agreement_requested"
    [ta] = agreements(api)
    ta_key = ta["business_key"]
    assert ta_key.startswith("TA-2025-")
    assert {k: ta["data"][k] for k in ("trialPlacementId", "customerId", "proposedBy",
                                       "businessId", "organiserType", "availableFrom",
                                       "maxDaysPerWeek", "hoursPerDayMin", "hoursPerDayMax",
                                       "originCaseId")} == {
        "trialPlacementId": key, "customerId": "C-000202", "proposedBy": "ps_jse_1",
        "businessId": "3334445-9", "organiserType": "association",
        "availableFrom": "2025-09-01", "maxDaysPerWeek": 5, "hoursPerDayMin": 4,
        "hoursPerDayMax": 6, "originCaseId": key}
    assert (ta["data"]["priorDaysSameOrganiser"], ta["data"]["priorDaysTotal"]) == (0, 0)

    # ... the agreement 2025-09-01...2025-11-30, 4 days, 6 h, sent on 2025-08-26
    task = ready(ps, ta["id"], "ut_draft_agreement")
    assert (task["team"], task["assignee"]) == ("ps_jse", "ps_jse_1")
    at(test_clock, "2025-08-26", "10:00:00")
    ps.complete(task["id"], agreement())
    data = case(api, ta["id"])["data"]
    assert (data["days"], data["sentOn"], data["signatureDue"]) == (91, "2025-08-26",
                                                                    "2025-09-09")
    assert sorted(p for _, p, _ in sent_to(api, ta["id"], "TrialAgreementForSignature")) == [
        "employer", "jobseeker"]
    [for_organiser, for_jobseeker] = outbox(catalogue, ta["id"], "TrialAgreementForSignature")
    assert (for_organiser["to"], for_jobseeker["to"]) == ("employer", "jobseeker")
    assert {k: for_organiser[k] for k in ("trialAgreementId", "customerId", "startDate",
                                          "endDate")} == {
        "trialAgreementId": ta_key, "customerId": "C-000202", "startDate": "2025-09-01",
        "endDate": "2025-11-30"}

    # ... both sign by 2025-08-28 (the organiser first: one signature is not enough)
    sign(api, test_clock, ta_key, "organiser", "2025-08-27")
    assert case(api, p2)["data"]["placesTaken"] == 0
    sign(api, test_clock, ta_key, "jobseeker", "2025-08-28")

    # Then P2 closes filled on 2025-08-28 and ut_follow_up is due 2025-09-04
    data = case(api, p2)["data"]
    assert (data["outcome"], data["closedAt"][:10], data["placesTaken"],
            data["placesReserved"]) == ("filled", "2025-08-28", 1, 0)
    follow_up = ready(es, p2, "ut_follow_up")
    assert datetime.fromisoformat(follow_up["due_at"]) == local("2025-09-04", "23:59:59")

    # ... ServiceStarted goes to P6 of C-000202 (no P6 case here: kept as an incident)
    [(element, _, correlation)] = sent_to(api, ta["id"], "ServiceStarted")
    assert (element, correlation) == ("mo_service_started", {"customerId": "C-000202"})
    [started] = to_p6(api, "ServiceStarted")
    assert {k: started[k] for k in ("customerId", "serviceType", "startDate",
                                    "expectedEndDate")} == {
        "customerId": "C-000202", "serviceType": "work_trial", "startDate": "2025-09-01",
        "expectedEndDate": "2025-11-30"}

    # ... the follow-up with the organiser (an EmployerContact record) ends P2 filled
    at(test_clock, "2025-09-03")
    es.complete(follow_up["id"], {"contactDate": "2025-09-03", "channel": "phone",
                                  "feedbackScore": 5, "continueOffering": True})
    done = case(api, p2)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "filled")
    assert [e["element_id"] for e in history(api, p2) if e["element_id"] == "end_filled"] == [
        "end_filled"]

    # ... ut_outcome appears 2025-12-01 08:00
    at(test_clock, "2025-12-01", "07:59:00")
    drain()
    assert api.tasks(ta["id"]) == []
    at(test_clock, "2025-12-01", "08:00:01")
    drain()
    task = ready(ps, ta["id"], "ut_outcome")
    ps.complete(task["id"], {"completed": "completed", "organiserFeedbackReceived": True,
                             "nextStep": "job_search"})
    done = case(api, ta["id"])
    assert (done["status"], done["data"]["outcome"], done["data"]["actualEndDate"]) == (
        "completed", "completed", "2025-11-30")
    assert sorted(done["data"]["trialDayBits"]) == ["b0", "b1", "b3", "b4", "b6"]  # 91 days
    [(_, _, correlation)] = sent_to(api, ta["id"], "ServiceEnded")
    assert correlation == {"customerId": "C-000202"}
    [ended] = to_p6(api, "ServiceEnded")
    assert (ended["serviceType"], ended["actualEndDate"]) == ("work_trial", "2025-11-30")


# ---------------------------------------------------------------- B2


def test_b2_high_competition_risk_cannot_be_accepted_and_is_rejected(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    p2, key = start_manual(es, test_clock)
    task = ready(es, p2, "ut_assess")
    at(test_clock, "2025-08-19")
    high = {"competitionDistortionRisk": "high", "dismissedWorkersCheck": "not_applicable"}
    assert fields(es.complete(task["id"], {**high, "decision": "accept"}, expect=422)) == {
        "decision"}
    # the reason is required with reject
    assert fields(es.complete(task["id"], {**high, "decision": "reject"}, expect=422)) == {
        "rejectReason"}
    es.complete(task["id"], {**high, "decision": "reject",
                             "rejectReason": "competition_distortion"})
    done = case(api, p2)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "rejected")
    [rejected] = outbox(catalogue, p2, "TrialPlacementRejected")
    assert (rejected["to"], rejected["trialPlacementId"], rejected["rejectReason"]) == (
        "employer", key, "competition_distortion")
    assert notified_teams(catalogue, p2) == []  # never published


def test_b2_work_not_offered_to_the_dismissed_cannot_be_accepted(
        catalogue: Database, api: Api, es: Api, test_clock: Any) -> None:
    p2, _ = start_manual(es, test_clock, hasRecentDismissalsOrLayoffs=True,
                         workOfferedToDismissed=False)
    task = ready(es, p2, "ut_assess")
    refused = es.complete(task["id"], {"competitionDistortionRisk": "none",
                                       "dismissedWorkersCheck": "not_offered",
                                       "decision": "accept"}, expect=422)
    assert fields(refused) == {"decision"}


# ---------------------------------------------------------------- B3


def to_draft(api: Api, es: Api, ps: Api, drain: Drain, clock: Any,
             places: int = 1) -> tuple[int, str, dict[str, Any]]:
    """B1 up to ut_draft_agreement of C-000202 (proposed 2025-08-25)."""
    p2, key = submit_from_tmt(api, clock, placesCount=places)
    publish(es, drain, clock, p2)
    at(clock, "2025-08-25")
    propose(ps, key)
    ta = newest_agreement(api)
    return p2, key, ta


@pytest.mark.parametrize(("changes", "field"), [
    ({"endDate": "2026-03-15"}, "endDate"),  # 196 days > 183 with the same organiser
    ({"hoursPerDay": 3}, "hoursPerDay"),  # < trialHoursPerDayMin
    ({"hoursPerDay": 7}, "hoursPerDay"),  # > the placement's hoursPerDayMax 6
    ({"daysPerWeek": 6}, "daysPerWeek"),  # > trialDaysPerWeekMax
    ({"startDate": "2025-08-31"}, "startDate"),  # before availableFrom
    ({"endDate": "2025-09-01"}, "endDate"),  # not after startDate
])
def test_b3_duration_and_schedule_limits(catalogue: Database, api: Api, es: Api, ps: Api,
                                         drain: Drain, test_clock: Any,
                                         changes: dict[str, Any], field: str) -> None:
    _, _, ta = to_draft(api, es, ps, drain, test_clock)
    task = ready(ps, ta["id"], "ut_draft_agreement")
    refused = ps.complete(task["id"], agreement(**changes), expect=422)
    assert fields(refused) == {field}
    if changes == {"endDate": "2026-03-15"}:
        [problem] = refused.json()["detail"]
        assert problem["message_en"].startswith("over 183 days with the same organiser")
    # the limits themselves are allowed: 183 days, 5 days a week, 4 h
    ps.complete(task["id"], agreement(endDate="2026-03-02", daysPerWeek=5, hoursPerDay=4))
    assert case(api, ta["id"])["data"]["days"] == 183


def test_b3_an_earlier_trial_at_the_same_organiser_counts(
        catalogue: Database, api: Api, es: Api, ps: Api, drain: Drain,
        test_clock: Any) -> None:
    # Given C-000202 completed a 120-day trial at this organiser (2025-09-01...2025-12-29)
    p2, key, first = to_draft(api, es, ps, drain, test_clock, places=2)
    at(test_clock, "2025-08-26")
    ps.complete(ready(ps, first["id"], "ut_draft_agreement")["id"],
                agreement(endDate="2025-12-29"))
    sign(api, test_clock, first["business_key"], "organiser", "2025-08-27")
    sign(api, test_clock, first["business_key"], "jobseeker", "2025-08-27")
    data = case(api, p2)["data"]
    assert (data["placesTaken"], data["placesReserved"], data["status"]) == (1, 0, "open")
    at(test_clock, "2025-12-30", "08:00:01")
    drain()
    ps.complete(ready(ps, first["id"], "ut_outcome")["id"], {
        "completed": "completed", "organiserFeedbackReceived": False, "nextStep": "further_trial"})
    assert case(api, first["id"])["data"]["actualDays"] == 120

    # When a new agreement for C-000202 at the same organiser is drafted
    assert propose(ps, key) == [p2]
    second = newest_agreement(api)
    assert second["id"] != first["id"]
    assert (second["data"]["priorDaysSameOrganiser"], second["data"]["priorDaysTotal"]) == (
        120, 120)
    task = ready(ps, second["id"], "ut_draft_agreement")
    # Then 2025-09-01...2025-11-30 (91) is refused: 211 > 183
    refused = ps.complete(task["id"], agreement(), expect=422)
    assert fields(refused) == {"endDate"}
    # ... and 63 more days are allowed (120 + 63 = 183)
    ps.complete(task["id"], agreement(endDate="2025-11-02"))
    assert case(api, second["id"])["data"]["days"] == 63


def test_b3_total_limit_and_a_municipality_s_same_task_rule(
        catalogue: Database, api: Api, es: Api, ps: Api, drain: Drain,
        test_clock: Any) -> None:
    # Given C-000202 completed a 120-day trial at the association
    _, _, first = to_draft(api, es, ps, drain, test_clock)
    at(test_clock, "2025-08-26")
    ps.complete(ready(ps, first["id"], "ut_draft_agreement")["id"],
                agreement(endDate="2025-12-29"))
    sign(api, test_clock, first["business_key"], "organiser", "2025-08-27")
    sign(api, test_clock, first["business_key"], "jobseeker", "2025-08-27")
    at(test_clock, "2025-12-30", "08:00:01")
    drain()
    ps.complete(ready(ps, first["id"], "ut_outcome")["id"], {
        "completed": "completed", "organiserFeedbackReceived": True, "nextStep": "further_trial"})

    # When the municipality of Polvijärvi offers a placement and C-000202 is proposed
    p2, key = start_manual(es, test_clock, "2025-12-30", businessId="7654321-2",
                           organiserName="Polvijärven kunta", organiserType="municipality",
                           availableFrom="2026-01-05", availableUntil="2026-12-31",
                           hoursPerDayMax=8)
    publish(es, drain, test_clock, p2, "2025-12-31")
    assert propose(ps, key) == [p2]
    ta = newest_agreement(api)
    assert (ta["data"]["priorDaysSameOrganiser"], ta["data"]["priorDaysTotal"]) == (0, 120)
    task = ready(ps, ta["id"], "ut_draft_agreement")
    # Then 300 days more are over 365 in total
    refused = ps.complete(task["id"], agreement(startDate="2026-01-05", endDate="2026-10-31"),
                          expect=422)
    [problem] = refused.json()["detail"]
    assert (problem["field"], problem["message_en"].split(" (")[0]) == (
        "endDate", "over 365 trial days in total")
    # ... 208 days of the same task as before are over 183 with the same municipality
    same_task = agreement(startDate="2026-01-05", endDate="2026-07-31", sameTaskAsPrevious=True)
    [problem] = ps.complete(task["id"], same_task, expect=422).json()["detail"]
    assert (problem["field"], problem["message_en"].split(" (")[0]) == (
        "endDate", "over 183 days with the same organiser")
    # ... but allowed for another task: a municipality may offer up to 12 months
    ps.complete(task["id"], {**same_task, "sameTaskAsPrevious": False})
    assert case(api, ta["id"])["data"]["days"] == 208


# ---------------------------------------------------------------- B4


def test_b4_signature_timeout_over_the_holidays(
        catalogue: Database, api: Api, es: Api, ps: Api, drain: Drain,
        test_clock: Any) -> None:
    p2, key = start_manual(es, test_clock, "2025-12-15", availableFrom="2026-01-12",
                           availableUntil="2026-06-30")
    publish(es, drain, test_clock, p2, "2025-12-16")
    at(test_clock, "2025-12-19")
    assert propose(ps, key) == [p2]
    ta = newest_agreement(api)
    # Given the agreement sent 2025-12-22 and the organiser never signs
    at(test_clock, "2025-12-22", "10:00:00")
    ps.complete(ready(ps, ta["id"], "ut_draft_agreement")["id"],
                agreement(startDate="2026-01-19", endDate="2026-03-31"))
    sign(api, test_clock, ta["business_key"], "jobseeker", "2025-12-23")
    # Then the due date is 2026-01-12 (24.-26.12, 1.1 and 6.1 skipped)
    assert case(api, ta["id"])["data"]["signatureDue"] == "2026-01-12"
    assert case(api, p2)["data"]["placesReserved"] == 1
    at(test_clock, "2026-01-12", "23:59:00")
    drain()
    assert case(api, ta["id"])["status"] != "completed"

    # ... at 2026-01-13 00:00 trial_agreement ends cancelled_unsigned
    at(test_clock, "2026-01-13", "00:00:01")
    drain()
    done = case(api, ta["id"])
    assert (done["status"], done["data"]["outcome"]) == ("completed", "cancelled_unsigned")
    assert [el for el, _, _ in sent_to(api, ta["id"], "TrialAgreementCancelled")] == [
        "mo_cancelled"]
    assert sent_to(api, ta["id"], "ServiceStarted") == []
    [notice] = outbox(catalogue, ta["id"], "TrialAgreementCancelledNotice")
    assert (notice["to"], notice["trialAgreementId"], notice["reason"]) == (
        "employer", ta["business_key"], "unsigned")
    # ... P2's placesReserved returns to 0 and the placement stays open
    placement_case = case(api, p2)
    assert (placement_case["status"], placement_case["data"]["placesReserved"],
            placement_case["data"]["status"]) == ("waiting", 0, "open")
    assert [a["result"] for a in placement_case["data"]["agreements"]] == ["cancelled"]
    assert api.tasks(p2) == []
    # a signature that comes after the timeout reaches nobody
    assert to_agreement(api, "TrialAgreementSigned", ta["business_key"],
                        party="organiser") == []


# ---------------------------------------------------------------- B5


def test_b5_expiry_closes_the_placement(catalogue: Database, api: Api, es: Api, drain: Drain,
                                        test_clock: Any) -> None:
    p2, _ = start_manual(es, test_clock, availableUntil="2025-10-31")
    publish(es, drain, test_clock, p2)
    at(test_clock, "2025-10-31", "23:59:00")
    drain()
    assert case(api, p2)["data"]["status"] == "open"
    at(test_clock, "2025-11-01", "00:00:01")
    drain()
    data = case(api, p2)["data"]
    assert (data["outcome"], data["closedAt"][:10]) == ("expired", "2025-11-01")
    task = ready(es, p2, "ut_follow_up")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-11-07", "23:59:59")
    at(test_clock, "2025-11-03")
    es.complete(task["id"], {"contactDate": "2025-11-03", "channel": "email",
                             "feedbackScore": 3, "continueOffering": False})
    done = case(api, p2)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "expired")


# ---------------------------------------------------------------- B6


def request_changes(es: Api, clock: Any) -> tuple[int, str]:
    p2, key = start_manual(es, clock)
    at(clock, "2025-08-19", "10:00:00")
    es.complete(ready(es, p2, "ut_assess")["id"], {
        "competitionDistortionRisk": "none", "dismissedWorkersCheck": "not_applicable",
        "decision": "request_changes",
        "requestedChanges": "Tarkentakaa tehtävänkuvaus ja työajat."})
    return p2, key


def test_b6_change_request_answered_reopens_the_assessment(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    p2, key = request_changes(es, test_clock)
    [asked] = outbox(catalogue, p2, "TrialPlacementChangesRequested")
    assert (asked["to"], asked["trialPlacementId"], asked["requestedChanges"]) == (
        "employer", key, "Tarkentakaa tehtävänkuvaus ja työajat.")
    assert api.tasks(p2) == []

    # When TrialPlacementChanged arrives 2025-08-21
    at(test_clock, "2025-08-21")
    assert to_placement(api, "TrialPlacementChanged", key, changes={
        "hoursPerDayMax": 5, "tasksDescription": "Kahvilan asiakaspalvelu ja tarjoilu "
                                                 "iltapäivisin."}) == [p2]
    # Then ut_assess is open again, due 2025-08-25
    task = ready(es, p2, "ut_assess")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-08-25", "23:59:59")
    assert case(api, p2)["data"]["hoursPerDayMax"] == 5
    es.complete(task["id"], ACCEPT)
    drain()
    assert case(api, p2)["data"]["status"] == "open"


def test_b6_a_second_change_request_keeps_the_first_changes(
        catalogue: Database, api: Api, es: Api, test_clock: Any) -> None:
    p2, key = request_changes(es, test_clock)
    at(test_clock, "2025-08-21")
    assert to_placement(api, "TrialPlacementChanged", key, changes={"hoursPerDayMax": 5}) == [
        p2]
    at(test_clock, "2025-08-22")
    es.complete(ready(es, p2, "ut_assess")["id"], {
        "competitionDistortionRisk": "none", "dismissedWorkersCheck": "not_applicable",
        "decision": "request_changes", "requestedChanges": "Tarkentakaa vielä tehtävänimike."})
    at(test_clock, "2025-08-25")
    assert to_placement(api, "TrialPlacementChanged", key, changes={
        "taskTitle": "kahvila- ja keittiöavustaja"}) == [p2]
    task = ready(es, p2, "ut_assess")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-08-27", "23:59:59")
    data = case(api, p2)["data"]
    assert (data["hoursPerDayMax"], data["taskTitle"]) == (5, "kahvila- ja keittiöavustaja")


def test_b6_no_answer_withdraws_the_placement(catalogue: Database, api: Api, es: Api,
                                              drain: Drain, test_clock: Any) -> None:
    p2, key = request_changes(es, test_clock)
    at(test_clock, "2025-08-26", "23:00:00")
    drain()
    assert case(api, p2)["status"] == "waiting"
    at(test_clock, "2025-08-27", "00:00:01")
    drain()
    done = case(api, p2)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "withdrawn_no_response")
    [withdrawn] = outbox(catalogue, p2, "TrialPlacementWithdrawnNoResponse")
    assert (withdrawn["to"], withdrawn["trialPlacementId"]) == ("employer", key)
    # nothing was published
    assert notified_teams(catalogue, p2) == []
    assert "publishedAt" not in done["data"]


# ---------------------------------------------------------------- start from P9, reminders


def test_a_submission_from_p9_begins_with_ut_complete_start(
        catalogue: Database, api: Api, es: Api, test_clock: Any) -> None:
    at(test_clock, "2025-08-18")
    [p2] = api.post("/api/messages", 202, json={
        "name": "TrialPlacementSubmitted", "payload": {
            **ORGANISER, "originCaseId": "YK-2025-000007", "originActor": "es_1"}}).json()[
        "delivered_to"]
    task = ready(es, p2, "ut_complete_start")
    assert task["assignee"] == "es_1"
    assert case(api, p2)["data"]["originCaseId"] == "YK-2025-000007"
    assert api.tasks(p2)[0]["element_id"] == "ut_complete_start"  # no ut_assess yet
    refused = es.complete(task["id"], placement(taskTitle=None, hoursPerDayMin=6,
                                                hoursPerDayMax=5), expect=422)
    assert fields(refused) == {"taskTitle", "hoursPerDayMax"}
    at(test_clock, "2025-08-19")
    es.complete(task["id"], placement())
    task = ready(es, p2, "ut_assess")
    assert datetime.fromisoformat(task["due_at"]) == local("2025-08-21", "23:59:59")
    assert case(api, p2)["data"]["serviceAreaCode"] == "jse"


@pytest.mark.parametrize(("changes", "field"), [
    ({"businessId": "3334445-8"}, "businessId"),
    ({"availableFrom": "2025-08-17"}, "availableFrom"),  # before today
    ({"availableUntil": "2025-09-01"}, "availableUntil"),  # not after availableFrom
    ({"placesCount": 11}, "placesCount"),
    ({"maxDaysPerWeek": 6}, "maxDaysPerWeek"),
    ({"hoursPerDayMin": 3}, "hoursPerDayMin"),
    ({"hoursPerDayMax": 9}, "hoursPerDayMax"),
    ({"hasRecentDismissalsOrLayoffs": True}, "workOfferedToDismissed"),
    ({"organiserType": "private_person"}, "organiserType"),
])
def test_an_invalid_manual_start_creates_nothing(catalogue: Database, api: Api, es: Api,
                                                 test_clock: Any, changes: dict[str, Any],
                                                 field: str) -> None:
    at(test_clock, "2025-08-18")
    refused = es.post("/api/process-instances", 422,
                      json={"process_id": P2, "data": placement(**changes)})
    assert fields(refused) == {field}
    assert api.get("/api/process-instances", params={"process_id": P2}).json() == []


def test_an_overdue_assessment_reminds_the_team(catalogue: Database, api: Api, es: Api,
                                                drain: Drain, test_clock: Any) -> None:
    p2, _ = start_manual(es, test_clock)
    at(test_clock, "2025-08-20", "23:59:00")
    drain()
    assert notified_teams(catalogue, p2) == []
    at(test_clock, "2025-08-21", "00:00:01")
    drain()
    assert notified_teams(catalogue, p2) == ["employer_services"]
    ready(es, p2, "ut_assess")  # the task stays open


# ---------------------------------------------------------------- open phase


def test_a_proposal_to_a_full_placement_is_refused(catalogue: Database, api: Api, es: Api,
                                                   ps: Api, drain: Drain,
                                                   test_clock: Any) -> None:
    p2, key, _ = to_draft(api, es, ps, drain, test_clock)
    assert propose(ps, key, "C-000203") == [p2]
    data = case(api, p2)["data"]
    assert data["placesReserved"] == 1
    assert [(p["customerId"], p["result"]) for p in data["proposals"]] == [
        ("C-000202", "agreement_requested"), ("C-000203", "refused")]
    assert data["proposals"][1]["reason"] == "placement full"
    assert step_names(api, p2, "sc_placement_full") == ["Placement full"]
    assert len(agreements(api)) == 1


def test_a_change_while_open_is_reviewed_and_republished(
        catalogue: Database, api: Api, es: Api, ps: Api, drain: Drain,
        test_clock: Any) -> None:
    p2, key = start_manual(es, test_clock)
    publish(es, drain, test_clock, p2)
    at(test_clock, "2025-09-02")
    assert to_placement(api, "TrialPlacementChanged", key, changes={
        "taskTitle": "kahvila- ja keittiöavustaja", "placesCount": 2}) == [p2]
    task = ready(es, p2, "ut_review_change")
    # the placement keeps taking proposals while the review is open
    assert propose(ps, key) == [p2]
    assert case(api, p2)["data"]["placesReserved"] == 1
    es.complete(task["id"], {"changeAccepted": True, "republishNotice": True})
    drain()
    data = case(api, p2)["data"]
    assert (data["taskTitle"], data["placesCount"], data["placesReserved"]) == (
        "kahvila- ja keittiöavustaja", 2, 1)
    assert notified_teams(catalogue, p2) == sorted(PUBLISH_TEAMS * 2)
    # a change that is not accepted changes nothing and is not republished
    assert to_placement(api, "TrialPlacementChanged", key, changes={"placesCount": 5}) == [p2]
    es.complete(ready(es, p2, "ut_review_change")["id"], {
        "changeAccepted": False, "republishNotice": False, "notes": "Ei muutoksia."})
    drain()
    data = case(api, p2)["data"]
    assert (data["placesCount"], data["placesReserved"]) == (2, 1)
    assert notified_teams(catalogue, p2) == sorted(PUBLISH_TEAMS * 2)


def test_validity_reviews_every_90_days_extend_and_then_remove(
        catalogue: Database, api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    p2, _ = start_manual(es, test_clock, availableUntil=None)
    publish(es, drain, test_clock, p2)  # 2025-08-19: first review 2025-11-17 08:00
    at(test_clock, "2025-11-17", "07:59:00")
    drain()
    assert api.tasks(p2) == []
    at(test_clock, "2025-11-17", "08:00:01")
    drain()
    task = ready(es, p2, "ut_validity_review")
    es.complete(task["id"], {"contactDate": "2025-11-17", "channel": "phone",
                             "stillAvailable": True, "newAvailableUntil": "2026-03-31"})
    data = case(api, p2)["data"]
    assert (data["availableUntil"], data["status"], data["nextReviewDate"]) == (
        "2026-03-31", "open", "2026-02-15")
    # the second review (180 days) finds the place gone: removed by the organiser
    at(test_clock, "2026-02-15", "08:00:01")
    drain()
    task = ready(es, p2, "ut_validity_review")
    es.complete(task["id"], {"contactDate": "2026-02-15", "channel": "email",
                             "stillAvailable": False})
    data = case(api, p2)["data"]
    assert (data["outcome"], data["closedAt"][:10]) == ("removed_by_organiser", "2026-02-15")
    es.complete(ready(es, p2, "ut_follow_up")["id"], {
        "contactDate": "2026-02-15", "channel": "email", "feedbackScore": 4,
        "continueOffering": True})
    done = case(api, p2)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "removed_by_organiser")


def test_removal_by_the_organiser_closes_the_placement(
        catalogue: Database, api: Api, es: Api, ps: Api, drain: Drain,
        test_clock: Any) -> None:
    p2, key = start_manual(es, test_clock)
    publish(es, drain, test_clock, p2)
    at(test_clock, "2025-09-10")
    assert to_placement(api, "TrialPlacementChanged", key, changes={"placesCount": 2}) == [p2]
    ready(es, p2, "ut_review_change")
    # another placement's removal does not touch this one
    assert to_placement(api, "TrialPlacementRemoved", "T-2025-999999") == []
    assert to_placement(api, "TrialPlacementRemoved", key) == [p2]
    data = case(api, p2)["data"]
    assert (data["outcome"], data["closedAt"][:10]) == ("removed_by_organiser", "2025-09-10")
    # the open review is cancelled with the open phase
    assert [t["element_id"] for t in api.tasks(p2)] == ["ut_follow_up"]


def test_an_interrupted_trial_ends_interrupted(catalogue: Database, api: Api, es: Api,
                                               ps: Api, drain: Drain,
                                               test_clock: Any) -> None:
    _, _, ta = to_draft(api, es, ps, drain, test_clock)
    at(test_clock, "2025-08-26")
    ps.complete(ready(ps, ta["id"], "ut_draft_agreement")["id"], agreement())
    sign(api, test_clock, ta["business_key"], "jobseeker", "2025-08-26")
    sign(api, test_clock, ta["business_key"], "organiser", "2025-08-27")
    at(test_clock, "2025-10-10")
    assert to_agreement(api, "TrialInterrupted", ta["business_key"], party="jobseeker",
                        interruptionDate="2025-10-10") == [ta["id"]]
    task = ready(ps, ta["id"], "ut_outcome")
    outcome = {"completed": "interrupted", "organiserFeedbackReceived": True,
               "nextStep": "training"}
    assert fields(ps.complete(task["id"], outcome, expect=422)) == {"interruptionDate"}
    ps.complete(task["id"], {**outcome, "interruptionDate": "2025-10-10"})
    done = case(api, ta["id"])
    assert (done["status"], done["data"]["outcome"], done["data"]["actualDays"]) == (
        "completed", "interrupted", 40)
    [ended] = to_p6(api, "ServiceEnded")
    assert (ended["customerId"], ended["actualEndDate"]) == ("C-000202", "2025-10-10")
