"""P5 Change security (`change_security`) with P5w `change_security_worker`, P5c
`change_security_training_55` and P5b `sudden_structural_change`: the acceptance scenarios E1–E5
of PROCESSES.md §2 P5, driven through the REST API with the platform clock.

Messages to P6 (`jobseeker_service`, built elsewhere): `ChangeSecurityContext`, `ServiceStarted`
and `ServiceEnded` are asserted as thrown (`message_sent` history events of the sending case),
so the tests hold whether or not P6 is deployed. `ChangeSecurityJobseekerRegistered` is sent by
the tests as P6 would send it (correlated by `businessId`).

How the models work around the platform:
- SpiffWorkflow fires a non-interrupting boundary event only once, and a branch (or event
  sub-process) armed before the result would not see the employee list; so P5 catches
  `ChangeSecurityJobseekerRegistered` in a listener loop (`sp_listen`), a parallel branch from
  the result until the close date. A registration before the result is kept as an
  unmatched-message incident (retry it after the result);
- `NegotiationsResultNotified` is correlated by `changeCaseId` or by `businessId` (either may be
  sent); both are correlation properties of the message;
- message waits with a timeout are a catch event in a sub-process with an interrupting timer,
  not an event-based gateway: a gateway's catch events do not apply their
  processVariableCorrelation, so the case would match any correlation value;
- P5b's review loop runs at the top level (in a sub-process the loop lost its variables between
  rounds); its temporary service point `SP-TMP-nnn` (nnn = the ARM case number) is saved to the
  reference service points with `save_reference`, and kept as the case variable `servicePoint`.

F5c.2's `totalCost ≤ cs55TrainingMaxPayMultiple × monthlyPay` is an `x-validate` rule on
`totalCost` (422); the model also records it as `planWithinPayLimit`.

Spec rules left out for lack of platform support (no acceptance scenario names them): F5.2's
per-row `employmentStartDate < dismissalNoticeDate ≤ employmentEndDate` and
`employees.length ≤ confirmedDismissals` (a form bound cannot refer to a sibling in the same
array item, and no bound compares counts); F5.4's warning when `sessionDate` is after the
earliest `employmentEndDate` (forms have no warnings); F5.6's computed counts of registered /
55+ eligible workers and trainings (no script can read other cases); F5c.2's `endDate >
startDate` per part (same sibling limit; every part must end within cs55TrainingMaxMonths of
the first start, which covers the last part's rule).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from engine.db import Database
from engine.models import ReferenceItem
from tests.conftest import Api, Drain
from tests.scenarios.helpers import at, case, fields, fire_at, local, notes, open_ids, ready, sent

P5 = "change_security"
P5W = "change_security_worker"
P5C = "change_security_training_55"
P5B = "sudden_structural_change"

VANERI = {"businessId": "4445556-8", "employerName": "Lieksan Vaneri Oy"}
W_A, W_B, W_C = "230668-911L", "280265-931F", "141199-945X"


def notification(**over: Any) -> dict[str, Any]:
    """F5.0 of E1: Lieksan Vaneri Oy, 180 employees, negotiations from 2025-09-08."""
    return {**VANERI, "employeeCountRegular": 180, "negotiationsStartDate": "2025-09-08",
            "proposalDate": "2025-09-01", "estimatedDismissals": 40, "estimatedLayoffs": 0,
            "siteMunicipalityCodes": ["422"], "contactName": "Sari Vaneri",
            "contactEmail": "sari.vaneri@vaneri.example", "notificationType": "yt_mandatory",
            **over}


def worker(personal_id: str, name: str, since: str) -> dict[str, Any]:
    """A listed worker of E1: notice given 2025-10-01, 2 months, employment ends 2025-12-01."""
    return {"personalId": personal_id, "name": name, "employmentStartDate": since,
            "dismissalNoticeDate": "2025-10-01", "noticePeriodMonths": 2,
            "employmentEndDate": "2025-12-01", "consentToContact": True}


WORKERS = [worker(W_A, "Antti Aalto", "2001-03-01"), worker(W_B, "Bertta Berg", "2021-11-01"),
           worker(W_C, "Cecilia Carlsson", "2022-05-01")]
RESULT = {"resultDate": "2025-09-29", "confirmedDismissals": 25, "confirmedLayoffs": 0,
          "dismissalGround": "production_economic", "employees": WORKERS}
CONTACT = {"contactDate": "2025-09-02", "channel": "phone", "cooperationAgreed": True,
           "plannedServices": ["info_session", "individual_meetings"], "largeForArea": False}
INFO = {"sessionDate": "2025-10-08", "participants": 22,
        "topics": ["jobseeker_registration", "employment_leave", "change_security_55"]}
CLOSE = {"contactDate": "2025-12-31", "channel": "email", "employerFeedbackScore": 4}


@pytest.fixture
def es(catalogue: Database, api: Api) -> Api:
    """A change-security expert of employer services."""
    return api.user("es_cs_1", ["staff"],
                    ["employer_services", "employer_services.change_security"])


@pytest.fixture
def mgmt(catalogue: Database, api: Api) -> Api:
    return api.user("director", ["staff"], ["management"])


@pytest.fixture
def cg(catalogue: Database, api: Api) -> Api:
    return api.user("cg_1", ["staff"], ["career_guidance"])



def message(sender: Api, name: str, correlation: dict[str, Any] | None = None,
            **payload: Any) -> list[int]:
    return sender.post("/api/messages", 202, json={
        "name": name, "correlation": correlation or {}, "payload": payload}).json()["delivered_to"]



def cases_of(api: Api, process_id: str) -> list[dict[str, Any]]:
    rows = api.get("/api/process-instances", params={"process_id": process_id}).json()
    return [case(api, r["id"]) for r in sorted(rows, key=lambda r: r["id"])]


def worker_cases(api: Api) -> dict[str, dict[str, Any]]:
    return {c["data"]["personalId"]: c for c in cases_of(api, P5W)}


def thrown(api: Api, case_id: int, name: str) -> list[dict[str, Any]]:
    """The correlation of every message `name` the case threw (history `message_sent`)."""
    return [e["data"].get("correlation") or {} for e in sent(api, case_id).get(name, [])]


def kept(api: Api, name: str) -> list[dict[str, Any]]:
    """Payloads of `name` that no case took: P6 has no case for these customers, so
    ChangeSecurityContext / ServiceStarted / ServiceEnded are kept as unmatched messages."""
    return [i["details"]["payload"] for i in api.get("/api/incidents").json()
            if i["kind"] == "unmatched_message" and i["details"]["name"] == name]


def notified(api: Api, clock: Any, day: str, **over: Any) -> int:
    """ChangeNegotiationsNotified from the employer on `day` 10:00: a new case."""
    at(clock, day, "10:00")
    [case_id] = message(api, "ChangeNegotiationsNotified", **notification(**over))
    return case_id


def registered(api: Api, personal_id: str, customer_id: str, day: str,
               business_id: str = "4445556-8") -> list[int]:
    """What P6 sends when a person dismissed by `business_id` registers as a jobseeker."""
    return message(api, "ChangeSecurityJobseekerRegistered", {"businessId": business_id},
                   personalId=personal_id, customerId=customer_id,
                   registeredAt=f"{day}T09:30:00+03:00")


# ---------------------------------------------------------------- E1


def test_e1_happy_25_dismissals_one_55_plus_worker(
        api: Api, es: Api, cg: Api, drain: Drain, test_clock: Any) -> None:
    # Given Lieksan Vaneri Oy notifies on 2025-09-01 negotiations starting 2025-09-08
    case_id = notified(api, test_clock, "2025-09-01")
    started = case(api, case_id)
    data = started["data"]
    assert started["business_key"] == data["changeCaseId"] == "M-2025-000001"
    assert (data["notifiedInTime"], data["notificationType"], data["ytRegime"]) == \
        (True, "yt_mandatory", "full")
    assert (data["notificationReceivedDate"], data["expectedNegotiationDays"],
            data["resultReminderDate"]) == ("2025-09-01", 21, "2025-10-13")
    assert open_ids(api, case_id) == ["ut_employer_contact"]
    contact = ready(es, case_id, "ut_employer_contact")
    assert (contact["lane"], datetime.fromisoformat(contact["due_at"])) == \
        ("employer_services", local("2025-09-03", "23:59:59"))

    # ... the expert contacts the employer on 2025-09-02 (an EmployerContact record)
    at(test_clock, "2025-09-02")
    es.complete(contact["id"], CONTACT)
    assert case(api, case_id)["status"] == "waiting"

    # When the result is notified on 2025-09-29: 25 dismissals, three listed workers
    at(test_clock, "2025-09-29")
    key = data["changeCaseId"]
    assert message(api, "NegotiationsResultNotified", {"changeCaseId": key}, **RESULT) == \
        [case_id]
    drain()
    # Then no structural-change task (25 < 100), the info session is due 2025-10-13
    assert open_ids(api, case_id) == ["ut_info_session"]
    info = ready(es, case_id, "ut_info_session")
    assert datetime.fromisoformat(info["due_at"]) == local("2025-10-13", "23:59:59")
    data = case(api, case_id)["data"]
    assert (data["closeDate"], data["infoTeams"]) == ("2025-12-31", ["ps_pka"])
    # ... personal services of the site's area are invited
    assert len(thrown(api, case_id, "ChangeSecurityWorkerListed")) == 3
    workers = worker_cases(api)
    assert sorted(workers) == sorted([W_A, W_B, W_C])
    expected = {W_A: (57, True, 15), W_B: (60, False, 10), W_C: (25, False, 10)}
    for pid, (age, eligible, leave) in expected.items():
        w = workers[pid]["data"]
        assert (w["ageAtNotice"], w["eligible55"], w["employmentLeaveDays"]) == \
            (age, eligible, leave), pid
        assert (w["changeCaseId"], w["dismissalGround"]) == (key, "production_economic")
        assert workers[pid]["status"] == "waiting"
        # W2: the info letter to the worker is an outbox record
        [letter] = sent(api, workers[pid]["id"])["ChangeSecurityInfoLetter"]
        assert letter["data"]["to"] == "jobseeker"
    assert workers[W_A]["data"]["registrationDeadline55"] == "2025-12-01"  # Sun 30.11 -> Mon
    assert workers[W_B]["data"]["tenureYears"] == 3

    at(test_clock, "2025-10-08")
    es.complete(info["id"], INFO)

    # When W-a registers on 2025-10-10 (P6 sends ChangeSecurityJobseekerRegistered)
    at(test_clock, "2025-10-10")
    assert registered(api, W_A, "C-000501", "2025-10-10") == [case_id]
    [forwarded] = thrown(api, case_id, "WorkerRegistered")
    assert forwarded == {"changeCaseId": key, "personalId": W_A}
    w_a = case(api, workers[W_A]["id"])
    assert (w_a["status"], w_a["data"]["outcome"], w_a["data"]["customerId"]) == \
        ("completed", "registered", "C-000501")
    assert w_a["data"]["lateRegistration"] is False
    # Then P6 gets ChangeSecurityContext and P5c starts
    assert thrown(api, w_a["id"], "ChangeSecurityContext") == [{"customerId": "C-000501"}]
    [context] = [p for p in kept(api, "ChangeSecurityContext") if p["customerId"] == "C-000501"]
    assert (context["eligible55"], context["registrationDeadline55"],
            context["employmentLeaveDays"]) == (True, "2025-12-01", 15)
    assert len(sent(api, w_a["id"])["ChangeSecurityTrainingEligible"]) == 1
    training_check_e1(api, cg, drain, test_clock)

    # When W-b registers on 2025-11-20 -> context with eligible55=false, no P5c
    at(test_clock, "2025-11-20")
    assert registered(api, W_B, "C-000502", "2025-11-20") == [case_id]
    w_b = case(api, workers[W_B]["id"])
    assert (w_b["status"], w_b["data"]["outcome"]) == ("completed", "registered")
    [context] = [p for p in kept(api, "ChangeSecurityContext") if p["customerId"] == "C-000502"]
    assert context["eligible55"] is False
    assert "ChangeSecurityTrainingEligible" not in sent(api, w_b["id"])
    assert len(cases_of(api, P5C)) == P5C_CASES

    # W-c never registers: its case ends at 2025-12-31 00:00
    fire_at(test_clock, drain, "2025-12-31", "00:00")
    assert case(api, workers[W_C]["id"])["status"] == "waiting"
    drain()
    w_c = case(api, workers[W_C]["id"])
    assert (w_c["status"], w_c["data"]["outcome"], w_c["data"]["registered"]) == \
        ("completed", "not_registered", False)
    # ut_close appears 2025-12-31 08:00
    fire_at(test_clock, drain, "2025-12-31", "08:00")
    assert open_ids(api, case_id) == []
    drain()
    close = ready(es, case_id, "ut_close")
    es.complete(close["id"], CLOSE)
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "completed")


P5C_CASES = 1
STATEMENT = {"conditionsMet": True, "lateRegistration": False, "statement": "positive",
             "recipient": "unemployment_fund"}
PLAN = {"trainingName": "CNC-koneistuksen täydennyskoulutus", "provider": "Koulutus Oy",
        "providerBusinessId": "1029384-7",
        "parts": [{"startDate": "2025-12-15", "endDate": "2026-03-13"}],
        "totalCost": 7000.00, "monthlyPay": 3800.00}


def training_check_e1(api: Api, cg: Api, drain: Drain, clock: Any) -> None:
    """E1, W-a: P5c started by ChangeSecurityTrainingEligible; F5c.1 positive, F5c.2 accepted."""
    [p5c] = cases_of(api, P5C)
    data = p5c["data"]
    assert (data["customerId"], data["personalId"], data["ageAtNotice"], data["tenureYears"],
            data["registrationDeadline55"], data["lateRegistration"]) == \
        ("C-000501", W_A, 57, 24, "2025-12-01", False)
    statement = ready(cg, p5c["id"], "ut_statement_55")
    assert (statement["lane"], datetime.fromisoformat(statement["due_at"])) == \
        ("career_guidance", local("2025-10-24", "23:59:59"))  # 10 bd after 2025-10-10
    at(clock, "2025-10-15")
    cg.complete(statement["id"], STATEMENT)
    [to_fund] = sent(api, p5c["id"])["ChangeSecurityStatement"]
    assert to_fund["data"]["to"] == "unemployment_fund_kela"
    plan = ready(cg, p5c["id"], "ut_training_plan")
    assert datetime.fromisoformat(plan["due_at"]) == local("2026-03-01", "23:59:59")
    at(clock, "2025-10-20")
    cg.complete(plan["id"], PLAN)
    drain()  # the procurement request is a service call
    p5c = case(api, p5c["id"])
    assert (p5c["status"], p5c["data"]["trainingEndDate"]) == ("waiting", "2026-03-13")
    assert p5c["data"]["planWithinPayLimit"] is True
    [order] = sent(api, p5c["id"])["TrainingPurchaseOrder"]
    assert order["data"]["to"] == "training_provider"
    assert thrown(api, p5c["id"], "ServiceStarted") == [{"customerId": "C-000501"}]
    [started] = [p for p in kept(api, "ServiceStarted") if p["customerId"] == "C-000501"]
    assert (started["serviceType"], started["startDate"], started["expectedEndDate"]) == \
        ("change_security_training", "2025-12-15", "2026-03-13")


# ---------------------------------------------------------------- E2


def test_e2_late_notification_is_counted_and_the_case_runs_as_e1(
        api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    # Given the notification arrives 2025-09-09 for negotiations that started 2025-09-08
    case_id = notified(api, test_clock, "2025-09-09")
    data = case(api, case_id)["data"]
    # Then notifiedInTime=false, counted in K15 (a mandatory notification)
    assert (data["notifiedInTime"], data["notificationType"], data["ytRegime"]) == \
        (False, "yt_mandatory", "full")
    assert (data["notificationReceivedDate"], data["resultReminderDate"]) == \
        ("2025-09-09", "2025-10-13")
    contact = ready(es, case_id, "ut_employer_contact")
    assert datetime.fromisoformat(contact["due_at"]) == local("2025-09-11", "23:59:59")
    es.complete(contact["id"], {**CONTACT, "contactDate": "2025-09-09"})
    # W-a registers before the result: kept as an unmatched-message incident
    at(test_clock, "2025-09-22")
    assert registered(api, W_A, "C-000501", "2025-09-22") == []
    [early] = [i for i in api.get("/api/incidents").json()
               if i["details"]["name"] == "ChangeSecurityJobseekerRegistered"]
    # ... and otherwise as E1: the result by businessId (the employer has no case id)
    at(test_clock, "2025-09-29")
    assert message(api, "NegotiationsResultNotified", {"businessId": VANERI["businessId"]},
                   **RESULT) == [case_id]
    drain()  # the invitation to personal services is a service call
    assert open_ids(api, case_id) == ["ut_info_session"]
    assert sorted(worker_cases(api)) == sorted([W_A, W_B, W_C])
    # retried after the result, the early registration reaches W-a's case
    api.post(f"/api/incidents/{early['id']}/retry")
    w_a = case(api, worker_cases(api)[W_A]["id"])
    assert (w_a["status"], w_a["data"]["outcome"], w_a["data"]["registeredAt"]) == \
        ("completed", "registered", "2025-09-22T09:30:00+03:00")
    assert case(api, case_id)["data"]["notifiedInTime"] is False


# ---------------------------------------------------------------- E3


def test_e3_small_case_result_reminder_and_no_worker_cases(
        api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    # Given 35 employees, estimate 8 dismissals, negotiations start 2025-11-03
    case_id = notified(api, test_clock, "2025-10-27", employeeCountRegular=35,
                       negotiationsStartDate="2025-11-03", proposalDate="2025-10-27",
                       estimatedDismissals=8)
    data = case(api, case_id)["data"]
    assert (data["ytRegime"], data["expectedNegotiationDays"], data["resultReminderDate"]) == \
        ("limited", 7, "2025-11-24")
    es.complete(ready(es, case_id, "ut_employer_contact")["id"],
                {**CONTACT, "contactDate": "2025-10-27"})
    # Then ut_ask_result appears 2025-11-24 08:00
    fire_at(test_clock, drain, "2025-11-24", "08:00")
    assert open_ids(api, case_id) == []
    drain()
    ask = ready(es, case_id, "ut_ask_result")
    # F5.2 without the contact record fields -> 422
    answer = es.complete(ask["id"], {"resultDate": "2025-11-14", "confirmedDismissals": 6,
                                     "confirmedLayoffs": 0,
                                     "dismissalGround": "production_economic"}, expect=422)
    assert fields(answer) == {"contactDate", "channel"}
    # an employee row with a wrong henkilötunnus, notice before the result and no consent -> 422
    bad_row = {**worker("010594Y9033", "Väärä Tunnus", "2010-01-01"),
               "dismissalNoticeDate": "2025-11-13", "consentToContact": False}
    answer = es.complete(ask["id"], {"contactDate": "2025-11-24", "channel": "phone",
                                     "resultDate": "2025-11-14", "confirmedDismissals": 6,
                                     "confirmedLayoffs": 0, "dismissalGround": "other",
                                     "employees": [bad_row]}, expect=422)
    assert fields(answer) == {"employees.0.personalId", "employees.0.dismissalNoticeDate",
                              "employees.0.consentToContact"}
    # When completed with 6 dismissals, resultDate 2025-11-14 and no employee list
    es.complete(ask["id"], {"contactDate": "2025-11-24", "channel": "phone",
                            "resultDate": "2025-11-14", "confirmedDismissals": 6,
                            "confirmedLayoffs": 0, "dismissalGround": "production_economic"})
    drain()
    # Then no P5w cases; the info session is due 10 bd after the result
    assert cases_of(api, P5W) == []
    assert "ChangeSecurityWorkerListed" not in sent(api, case_id)
    info = ready(es, case_id, "ut_info_session")
    assert datetime.fromisoformat(info["due_at"]) == local("2025-11-28", "23:59:59")
    es.complete(info["id"], {**INFO, "sessionDate": "2025-11-27", "participants": 6})
    # ut_close appears 2025-12-14 08:00 -> completed
    assert case(api, case_id)["data"]["closeDate"] == "2025-12-14"
    fire_at(test_clock, drain, "2025-12-14", "08:00")
    assert open_ids(api, case_id) == []
    drain()
    es.complete(ready(es, case_id, "ut_close")["id"], {**CLOSE, "contactDate": "2025-12-15"},
                expect=422)
    es.complete(ready(es, case_id, "ut_close")["id"], {**CLOSE, "contactDate": "2025-12-14"})
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "completed")


# ---------------------------------------------------------------- E4


W_A_ELIGIBLE = {"customerId": "C-000501", "changeCaseId": "M-2025-000001", "personalId": W_A,
                "ageAtNotice": 57, "tenureYears": 24, "dismissalGround": "production_economic",
                "dismissalNoticeDate": "2025-10-01", "employmentEndDate": "2025-12-01",
                "registeredAt": "2025-10-10T09:30:00+03:00",
                "registrationDeadline55": "2025-12-01", "lateRegistration": False}


def training_case(api: Api, cg: Api, clock: Any, **over: Any) -> int:
    """W-a's P5c case as P5w starts it on 2025-10-10, with F5c.1 `statement` done."""
    at(clock, "2025-10-10")
    [p5c] = message(api, "ChangeSecurityTrainingEligible", **{**W_A_ELIGIBLE, **over})
    cg.complete(ready(cg, p5c, "ut_statement_55")["id"], STATEMENT)
    return p5c


def test_e4_training_plan_limits(api: Api, cg: Api, drain: Drain, test_clock: Any) -> None:
    p5c = training_case(api, cg, test_clock)
    plan = ready(cg, p5c, "ut_training_plan")
    at(test_clock, "2025-10-20")
    # parts 2025-12-15 ... 2026-07-01 -> 422 (more than 6 months)
    answer = cg.complete(plan["id"], {**PLAN, "parts": [
        {"startDate": "2025-12-15", "endDate": "2026-07-01"}]}, expect=422)
    assert fields(answer) == {"parts.0.endDate"}
    # a last part starting 2026-03-16 without postponementReason -> 422 (limit 2026-03-01)
    two_parts = [{"startDate": "2025-12-15", "endDate": "2026-02-27"},
                 {"startDate": "2026-03-16", "endDate": "2026-05-29"}]
    answer = cg.complete(plan["id"], {**PLAN, "parts": two_parts}, expect=422)
    assert fields(answer) == {"parts.1.startDate"}
    # a provider with an invalid business id -> 422
    answer = cg.complete(plan["id"], {**PLAN, "providerBusinessId": "1029384-8"}, expect=422)
    assert fields(answer) == {"providerBusinessId"}
    # with postponementReason "sairausloma" -> accepted (limit 2026-12-01)
    cg.complete(plan["id"], {**PLAN, "parts": two_parts, "postponementReason": "sairausloma"})
    drain()
    data = case(api, p5c)["data"]
    assert (data["trainingStartDate"], data["trainingEndDate"]) == ("2025-12-15", "2026-05-29")

    # The day after the last part, 08:00, the outcome is asked; completed -> ServiceEnded
    fire_at(test_clock, drain, "2026-05-30", "08:00")
    assert open_ids(api, p5c) == []
    drain()
    outcome = ready(cg, p5c, "ut_training_outcome")
    cg.complete(outcome["id"], {"result": "completed", "employedAfter": True})
    done = case(api, p5c)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "completed")
    assert thrown(api, p5c, "ServiceEnded") == [{"customerId": "C-000501"}]
    [ended] = kept(api, "ServiceEnded")
    assert (ended["serviceType"], ended["actualEndDate"], ended["result"]) == \
        ("change_security_training", "2026-05-29", "completed")


def test_e4_training_cost_above_two_months_pay_is_refused(
        api: Api, cg: Api, test_clock: Any) -> None:
    p5c = training_case(api, cg, test_clock)
    plan = ready(cg, p5c, "ut_training_plan")
    answer = cg.complete(plan["id"], {**PLAN, "totalCost": 9000.00}, expect=None)
    assert answer.status_code == 422
    assert fields(answer) == {"totalCost"}
    [problem] = answer.json()["detail"]
    assert problem["message_en"] == "The total cost of the training may be at most two months' pay"
    assert ready(cg, p5c, "ut_training_plan")["id"] == plan["id"]  # nothing changed
    assert "totalCost" not in case(api, p5c)["data"]


def test_p5c_reminder_escalation_interruption_and_negative_statement(
        api: Api, cg: Api, drain: Drain, test_clock: Any) -> None:
    lead = api.user("cg_lead", ["staff"], ["career_guidance.lead"])
    p5c = training_case(api, cg, test_clock)
    # The training-plan reminder at 08:00 two months after the employment end
    fire_at(test_clock, drain, "2026-02-01", "08:00")
    assert notes(cg, "Muistutus: muutosturvakoulutuksen suunnitelma") == []
    drain()
    assert len(notes(cg, "Muistutus: muutosturvakoulutuksen suunnitelma")) == 1
    # ... and the lead is told at 00:00 after the 3-month start limit (2026-03-01)
    fire_at(test_clock, drain, "2026-03-02", "00:00")
    assert notes(lead, "Muutosturvakoulutuksen suunnitelma myöhässä") == []
    drain()
    assert len(notes(lead, "Muutosturvakoulutuksen suunnitelma myöhässä")) == 1
    at(test_clock, "2026-03-02", "10:00")
    cg.complete(ready(cg, p5c, "ut_training_plan")["id"], {
        **PLAN, "parts": [{"startDate": "2026-03-16", "endDate": "2026-06-12"}],
        "totalCost": 7600.00, "postponementReason": "sairausloma"})  # exactly 2 x pay
    drain()
    assert case(api, p5c)["data"]["planWithinPayLimit"] is True
    fire_at(test_clock, drain, "2026-06-13", "08:00")
    drain()
    cg.complete(ready(cg, p5c, "ut_training_outcome")["id"],
                {"result": "interrupted", "employedAfter": False})
    assert case(api, p5c)["data"]["outcome"] == "interrupted"

    # A late registration needs the weighty reason; a negative statement ends the case
    at(test_clock, "2026-01-12")
    [late] = message(api, "ChangeSecurityTrainingEligible", **{
        **W_A_ELIGIBLE, "customerId": "C-000509", "registeredAt": "2025-12-03T10:00:00+02:00",
        "lateRegistration": True})
    task = ready(cg, late, "ut_statement_55")
    answer = cg.complete(task["id"], {**STATEMENT, "lateRegistration": True}, expect=422)
    assert fields(answer) == {"lateRegistrationWeightyReason"}
    cg.complete(task["id"], {**STATEMENT, "lateRegistration": True, "statement": "negative",
                             "recipient": "kela",
                             "lateRegistrationWeightyReason": "Ei painavaa syytä esitetty."})
    done = case(api, late)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "not_eligible")
    assert "ut_training_plan" not in open_ids(api, late)


# ---------------------------------------------------------------- E5


SAHA = {"businessId": "5556667-7", "employerName": "Pielisen Saha Oy"}
OFFICE = {"officeOpen": True, "officeMunicipalityCode": "422",
          "address": "Pielisentie 9, 81700 Lieksa", "openingDate": "2025-11-03",
          "staffing": [{"teamId": "employer_services", "htv": 2},
                       {"teamId": "ps_pka", "htv": 1.5}],
          "partnerMunicipalities": ["422", "541"], "otherAreaAgreementNeeded": False}
REVIEW = {"visitors": 140, "registeredJobseekers": 95, "employed": 12, "continue": True}


def test_e5_sudden_structural_change_opens_a_temporary_office(
        catalogue: Database, api: Api, es: Api, mgmt: Api, drain: Drain,
        test_clock: Any) -> None:
    lead = api.user("es_lead", ["staff"], ["employer_services_lead"])
    # Given Pielisen Saha Oy, sites Lieksa 422 and Nurmes 541
    case_id = notified(api, test_clock, "2025-09-15", **SAHA, employeeCountRegular=400,
                       negotiationsStartDate="2025-09-22", proposalDate="2025-09-15",
                       estimatedDismissals=300, siteMunicipalityCodes=["422", "541"])
    es.complete(ready(es, case_id, "ut_employer_contact")["id"],
                {**CONTACT, "contactDate": "2025-09-15", "largeForArea": True})
    # When the result is 320 dismissals
    at(test_clock, "2025-10-13")
    message(api, "NegotiationsResultNotified", {"changeCaseId": "M-2025-000001"},
            resultDate="2025-10-13", confirmedDismissals=320, confirmedLayoffs=0,
            dismissalGround="production_economic", employees=[])
    drain()
    # Then ut_ark_assessment is created for management
    assessment = ready(mgmt, case_id, "ut_ark_assessment")
    assert assessment["lane"] == "management"
    assert sorted(open_ids(api, case_id)) == ["ut_ark_assessment", "ut_info_session"]
    assert case(api, case_id)["data"]["infoTeams"] == ["ps_pka"]  # Lieksa and Nurmes: pka
    answer = mgmt.complete(assessment["id"], {"arkActivate": True,
                                              "requestTemDesignation": True,
                                              "reasoning": "Lyhyt"}, expect=422)
    assert fields(answer) == {"reasoning"}
    # ... with arkActivate=true P5b starts
    at(test_clock, "2025-10-14")
    mgmt.complete(assessment["id"], {
        "arkActivate": True, "requestTemDesignation": True,
        "reasoning": "320 irtisanottua on Pielisen Karjalalle poikkeuksellisen suuri määrä."})
    assert case(api, case_id)["data"]["arkActivated"] is True
    [ark] = cases_of(api, P5B)
    assert ark["business_key"] == ark["data"]["arkCaseId"] == "ARM-2025-000001"
    assert (ark["data"]["changeCaseId"], ark["data"]["confirmedDismissals"],
            ark["data"]["siteMunicipalityCodes"]) == ("M-2025-000001", 320, ["422", "541"])
    ark_id = ark["id"]
    # F5b.1: office in Lieksa, opening 2025-11-03 -> closing 2026-05-03
    decision = ready(mgmt, ark_id, "ut_office_decision")
    at(test_clock, "2025-10-20")
    answer = mgmt.complete(decision["id"], {k: v for k, v in OFFICE.items() if k != "address"}
                           | {"openingDate": "2025-10-19"}, expect=422)
    assert fields(answer) == {"address", "openingDate"}
    mgmt.complete(decision["id"], OFFICE)
    assert case(api, ark_id)["data"]["plannedClosingDate"] == "2026-05-03"
    [requested] = sent(api, ark_id)["ArmDesignationRequested"]
    assert requested["data"]["to"] == "tem"
    mgmt.complete(ready(mgmt, ark_id, "ut_municipality_agreement")["id"], {
        "agreementDate": "2025-10-20", "parties": "Lieksan kaupunki, Nurmeksen kaupunki",
        "costSharing": "Kaupunki antaa tilat, työllisyysalue henkilöstön."})
    drain()
    # Then service point SP-TMP-001 is active 2025-11-03 ... 2026-05-03
    point = case(api, ark_id)["data"]["servicePoint"]
    assert {k: point[k] for k in ("code", "municipalityCode", "active", "validFrom", "validTo",
                                  "temporary", "changeCaseId")} == {
        "code": "SP-TMP-001", "municipalityCode": "422", "active": True,
        "validFrom": "2025-11-03", "validTo": "2026-05-03", "temporary": True,
        "changeCaseId": "M-2025-000001"}
    # TEM's decision is taken while the office is open
    assert message(api, "ArmDesignationDecision", {"arkCaseId": "ARM-2025-000001"},
                   designated=True, decisionDate="2025-11-20") == [ark_id]
    assert case(api, ark_id)["data"]["designated"] is True
    # ut_office_review appears 2025-12-03, 2026-01-03, ... at 08:00
    for day in ("2025-12-03", "2026-01-03", "2026-02-03", "2026-03-03", "2026-04-03"):
        fire_at(test_clock, drain, day, "08:00")
        assert open_ids(api, ark_id) == [], day
        drain()
        review = ready(lead, ark_id, "ut_office_review")
        assert review["lane"] == "employer_services_lead"
        lead.complete(review["id"], REVIEW)
    # at 2026-05-03 08:00 ut_office_close appears
    fire_at(test_clock, drain, "2026-05-03", "08:00")
    assert open_ids(api, ark_id) == []
    drain()
    close = ready(mgmt, ark_id, "ut_office_close")
    assert open_ids(api, ark_id) == ["ut_office_close"]
    mgmt.complete(close["id"], {"finalReport": "Toimisto palveli 140 kävijää kuukaudessa; "
                                               "irtisanotuista 60 työllistyi puolessa vuodessa."})
    drain()
    # after it the service point is inactive and P5b ends closed
    done = case(api, ark_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "closed")
    assert done["data"]["servicePoint"]["active"] is False
    assert len(done["data"]["reviews"]) == 5
    with catalogue.reading() as s:
        point = s.get(ReferenceItem, ("service_points", "SP-TMP-001")).data
    assert (point["active"], point["validTo"], point["writtenByCase"]) == \
        (False, "2026-05-03", ark_id)


def test_e5_the_temporary_service_point_is_reference_data(
        catalogue: Database, api: Api, mgmt: Api, drain: Drain, test_clock: Any) -> None:
    at(test_clock, "2025-10-20")
    [ark_id] = message(api, "SuddenStructuralChangeActivated", changeCaseId="M-2025-000001",
                       **SAHA, confirmedDismissals=320, siteMunicipalityCodes=["422", "541"],
                       requestTemDesignation=False)
    mgmt.complete(ready(mgmt, ark_id, "ut_office_decision")["id"], OFFICE)
    mgmt.complete(ready(mgmt, ark_id, "ut_municipality_agreement")["id"], {
        "agreementDate": "2025-10-20", "parties": "Lieksan kaupunki"})
    drain()
    assert case(api, ark_id)["data"]["servicePoint"]["code"] == "SP-TMP-001"
    with catalogue.reading() as s:
        point = s.get(ReferenceItem, ("service_points", "SP-TMP-001"))
        assert point is not None
        assert (point.data["temporary"], point.data["active"], point.data["municipalityCode"]) \
            == (True, True, "422")
        # The reference files' own items cannot be changed from a case.
        assert "writtenByCase" not in s.get(ReferenceItem, ("service_points", "SP-422")).data


# ---------------------------------------------------------------- other paths


def test_voluntary_advice_from_p9_begins_with_ut_complete_start(
        api: Api, es: Api, test_clock: Any) -> None:
    # P9 sends only businessId, employerName and notificationType (+ its origin)
    at(test_clock, "2025-02-10", "10:00")
    [case_id] = message(api, "ChangeNegotiationsNotified", **VANERI,
                        notificationType="voluntary_advice", originCaseId="YK-2025-000001",
                        originActor="es_cs_1")
    started = case(api, case_id)
    assert (started["data"]["originCaseId"], started["data"]["startedBy"]) == \
        ("YK-2025-000001", "message")
    [task] = api.tasks(case_id)
    assert (task["element_id"], task["assignee"]) == ("ut_complete_start", "es_cs_1")
    assert "notifiedInTime" not in started["data"]  # sc_init runs after the completion
    answer = es.complete(task["id"], {**VANERI, "notificationType": "voluntary_advice"},
                         expect=422)
    assert {"employeeCountRegular", "negotiationsStartDate", "siteMunicipalityCodes"} <= \
        fields(answer)
    at(test_clock, "2025-02-11", "10:00")
    es.complete(task["id"], notification(notificationType="voluntary_advice",
                                         employeeCountRegular=12,
                                         negotiationsStartDate="2025-03-03",
                                         proposalDate="2025-02-11", estimatedDismissals=2))
    data = case(api, case_id)["data"]
    assert (data["notificationReceivedDate"], data["notifiedInTime"], data["ytRegime"],
            data["expectedNegotiationDays"]) == ("2025-02-11", True, "none", 7)
    assert open_ids(api, case_id) == ["ut_employer_contact"]


def test_manual_start_and_a_result_without_dismissals(
        api: Api, es: Api, drain: Drain, test_clock: Any) -> None:
    at(test_clock, "2025-09-01", "10:00")
    # a refused start creates nothing
    answer = es.post("/api/process-instances", 422, json={
        "process_id": P5, "data": notification(businessId="7654321-3", proposalDate="2025-09-09")})
    assert fields(answer) == {"businessId", "proposalDate"}
    assert cases_of(api, P5) == []
    case_id = es.start(P5, notification(notificationType="voluntary_advice"))["id"]
    data = case(api, case_id)["data"]
    assert (data["startedBy"], data["originActor"], data["notifiedInTime"]) == \
        ("manual", "es_cs_1", True)
    es.complete(ready(es, case_id, "ut_employer_contact")["id"],
                {**CONTACT, "contactDate": "2025-09-01"})
    at(test_clock, "2025-09-29")
    message(api, "NegotiationsResultNotified", {"changeCaseId": data["changeCaseId"]},
            resultDate="2025-09-29", confirmedDismissals=0, confirmedLayoffs=12,
            dismissalGround="production_economic")
    # no dismissals: the case is closed at once
    assert open_ids(api, case_id) == ["ut_close"]
    es.complete(ready(es, case_id, "ut_close")["id"], {**CLOSE, "contactDate": "2025-09-29"})
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "no_dismissals")
    assert cases_of(api, P5W) == []


def test_unlisted_worker_reminder_escalation_and_ark_not_activated(
        api: Api, es: Api, mgmt: Api, drain: Drain, test_clock: Any) -> None:
    lead = api.user("es_lead", ["staff"], ["employer_services_lead"])
    # sites in Joensuu (jns) and Lieksa (pka); the expert finds the change large for the area
    case_id = notified(api, test_clock, "2025-09-01", siteMunicipalityCodes=["167", "422"])
    es.complete(ready(es, case_id, "ut_employer_contact")["id"],
                {**CONTACT, "contactDate": "2025-09-01", "largeForArea": True})
    at(test_clock, "2025-09-29")
    message(api, "NegotiationsResultNotified", {"changeCaseId": "M-2025-000001"},
            **{**RESULT, "employees": [WORKERS[0]]})
    drain()
    assert case(api, case_id)["data"]["infoTeams"] == ["ps_jns", "ps_pka"]
    assert len(sent(api, case_id)["ChangeSecurityWorkerListed"]) == 1
    # management decides not to activate the structural-change measures
    mgmt.complete(ready(mgmt, case_id, "ut_ark_assessment")["id"], {
        "arkActivate": False, "requestTemDesignation": False,
        "reasoning": "25 irtisanottua; alueen palvelut riittävät ilman toimistoa."})
    assert cases_of(api, P5B) == []
    assert case(api, case_id)["data"].get("arkActivated") is not True

    # An unlisted worker registers: the employer-services expert records the row
    at(test_clock, "2025-10-06")
    assert registered(api, "150585-904T", "C-000601", "2025-10-06") == [case_id]
    row = ready(es, case_id, "ut_unlisted_worker")
    assert case(api, case_id)["data"]["personalId"] == "150585-904T"
    es.complete(row["id"], {"personalId": "150585-904T", "name": "Eero Esimerkki",
                            "employmentStartDate": "2015-04-01",
                            "dismissalNoticeDate": "2025-10-01", "noticePeriodMonths": 3,
                            "employmentEndDate": "2026-01-01", "consentToContact": True,
                            "dismissalGround": "production_economic"})
    workers = worker_cases(api)
    unlisted = workers["150585-904T"]
    # ... whose worker case starts as registered: context to P6 at once, no wait
    assert (unlisted["status"], unlisted["data"]["outcome"]) == ("completed", "registered")
    assert (unlisted["data"]["ageAtNotice"], unlisted["data"]["eligible55"]) == (40, False)
    assert thrown(api, unlisted["id"], "ChangeSecurityContext") == [{"customerId": "C-000601"}]

    # The info session is not held by its due date (2025-10-13): the lead is told
    fire_at(test_clock, drain, "2025-10-14", "00:00")
    assert notes(lead, "Muutosturvan infotilaisuus myöhässä") == []
    drain()
    assert len(notes(lead, "Muutosturvan infotilaisuus myöhässä")) == 1

    # W-a (55+) has not registered: reminder 10 days before 2025-12-01, at 08:00
    w_a = workers[W_A]["id"]
    fire_at(test_clock, drain, "2025-11-21", "08:00")
    assert "ChangeSecurityRegistrationReminder" not in sent(api, w_a)
    drain()
    [reminder] = sent(api, w_a)["ChangeSecurityRegistrationReminder"]
    assert reminder["data"]["to"] == "jobseeker"
    # ... and the wait ends 30 days after max(employment end, deadline) = 2025-12-31
    assert case(api, w_a)["data"]["registrationWaitUntil"] == "2025-12-31"


def test_p5b_other_area_early_close_no_designation_and_no_office(
        api: Api, mgmt: Api, drain: Drain, test_clock: Any) -> None:
    lead = api.user("es_lead", ["staff"], ["employer_services_lead"])
    at(test_clock, "2025-10-20")
    [ark_id] = message(api, "SuddenStructuralChangeActivated", changeCaseId="M-2025-000007",
                       **SAHA, confirmedDismissals=150, siteMunicipalityCodes=["541"],
                       requestTemDesignation=False)
    mgmt.complete(ready(mgmt, ark_id, "ut_office_decision")["id"], {
        **OFFICE, "officeMunicipalityCode": "541", "address": "Nurmeksenkatu 25, 75500 Nurmes",
        "plannedClosingDate": "2026-01-31", "otherAreaAgreementNeeded": True})
    assert sorted(open_ids(api, ark_id)) == ["ut_area_agreement", "ut_municipality_agreement"]
    assert "ArmDesignationRequested" not in sent(api, ark_id)
    for element in ("ut_area_agreement", "ut_municipality_agreement"):
        mgmt.complete(ready(mgmt, ark_id, element)["id"], {
            "agreementDate": "2025-10-20", "parties": "Nurmeksen kaupunki ja Kainuun alue"})
    drain()
    assert case(api, ark_id)["data"]["servicePoint"]["validTo"] == "2026-01-31"
    # the first review (2025-12-03) ends the office early
    fire_at(test_clock, drain, "2025-12-03", "08:00")
    drain()
    lead.complete(ready(lead, ark_id, "ut_office_review")["id"], {**REVIEW, "continue": False})
    mgmt.complete(ready(mgmt, ark_id, "ut_office_close")["id"], {
        "finalReport": "Irtisanotut työllistyivät nopeasti; toimisto suljettiin etuajassa."})
    drain()
    # the case waits for TEM's decision until the planned closing date, then ends
    assert case(api, ark_id)["status"] == "waiting"
    fire_at(test_clock, drain, "2026-01-31", "08:00")
    drain()
    done = case(api, ark_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "closed")
    assert done["data"]["servicePoint"]["active"] is False
    assert [r["reviewNo"] for r in done["data"]["reviews"]] == [1]

    # management decides not to open an office
    [other] = message(api, "SuddenStructuralChangeActivated", changeCaseId="M-2025-000008",
                      **SAHA, confirmedDismissals=120, siteMunicipalityCodes=["422"])
    mgmt.complete(ready(mgmt, other, "ut_office_decision")["id"],
                  {"officeOpen": False, "otherAreaAgreementNeeded": False})
    done = case(api, other)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "no_office")
