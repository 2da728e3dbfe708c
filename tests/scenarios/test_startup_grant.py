"""P4 Start-up grant (`startup_grant`): the acceptance scenarios D1–D6 of PROCESSES.md, plus
the other paths of the model (supplements, reminders, returns, withdrawal, an incomplete
Työmarkkinatori application, another development company, an amended rectification).

Messages to external parties (`SupplementRequested`, `StatementRequested`,
`StartupGrantDecision`, `StartupGrantPaymentBasis`, `EntrepreneurshipTrainingReferral`,
`ConditionNotMetNotice`) are outbox records with their payload (`channel` says tmt, email,
keha or in_app) and `message_sent` history events with `to`. `StartupGrantReconsideration`
starts a new `startup_grant` case. Inbound messages are correlated by `grantApplicationId`.

How the model works around the platform:
- no script function lists a team's members or their load, so the preparer is not picked as
  the least-loaded member of `employer_services.startup_grant`: the counselling task goes to
  that group, and whoever completes it becomes the preparer (`preparer`); later preparer
  tasks are assigned to them;
- a form cannot compare a submitted value with case data, so F4.5 carries the read-only
  fields `businessStartedBeforeApplication` and `maxGrantMonths` (min(grantPeriodMonths,
  grantMaxMonths − previousGrantMonths), computed by `sc_prepare_defaults`), F4.4 the current
  `developmentCompanyCode`, and F4.8 `rectificationLate`; the client sends them back unchanged
  (as in F7.1) and the form's if/then rules check against them;
- the rectification window and the condition run in parallel inside `sp_after_decision`; an
  amended rectification ends it with a terminate end event, so a pending condition stops too;
- the supplement wait is the receive task `mi_supplement_received` with the interrupting
  timer `tm_supplement_due`, not an event-based gateway: with the gateway, the engine's task-tree
  pruning (`engine.state.prune`) re-hung the waiting gateway on the previous round's
  `ut_counselling`, and when `SupplementReceived` came the gateway re-inherited that older data
  (the preparer set after the counselling was lost) — a platform bug, left alone;
- a reconsideration case (`StartupGrantReconsideration`) counts its own `applicationSubmittedAt`
  (so K13's `processingDays` is the reconsideration's), and keeps the original submission as
  `originalSubmittedAt` / `eligibleFrom`, the lower bound of `plannedStartDate` and
  `grantStartDate`;
- tasks inside the two sub-processes report the lane of their sub-process
  (`employer_services`); their team comes from `candidateTeam` (`employer_services_lead`,
  `development_company.<code>`, `central_preparation`, `employer_services.startup_grant`).

The four-eyes rule of §0.6.5 (decider ≠ preparer → 403) is the user task property
`excludedCompleters` of `ut_decide` (= `preparer`): it holds even for a preparer who is also in
`employer_services_lead`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from engine.db import Database
from engine.models import OutboxMessage
from tests.conftest import Api, Drain
from tests.scenarios.helpers import (
    at,
    case,
    fields,
    fire_at,
    history,
    local,
    notes,
    open_ids,
    ready,
    sent,
)

P4 = "startup_grant"

APPLICATION = {
    "customerId": "C-000401", "personalId": "010594Y9032", "applicantName": "Aino Virtanen",
    "applicantMunicipalityCode": "541", "companyForm": "toiminimi", "companyRegistered": False,
    "industryCode": "74102",
    "businessDescription": "Graafisen suunnittelun toiminimi: yritysilmeet, painotuotteet ja "
                           "verkkosivujen visuaalinen suunnittelu Pielisen Karjalan yrityksille.",
    "plannedStartDate": "2025-04-01", "fullTime": True, "expansionFromPartTime": False,
    "requestedMonths": 6, "previousGrantMonths": 0,
    "attachments": ["business_plan", "profitability_calculation", "financing_calculation",
                    "tax_debt_certificate"],
}
COUNSELLING = {"meetingDate": "2025-03-05", "channel": "face_to_face",
               "businessStartedBeforeApplication": False, "fullTimeConfirmed": True,
               "taxDebt": False, "otherIncomeSecuresLiving": False,
               "attachmentsComplete": True, "completeness": "complete"}
STATEMENT = {"statementOutcome": "favourable", "entrepreneurReadiness": "sufficient",
             "profitabilityAssessment": "Kysyntä alueella on vakaata, hinnoittelu ja "
                                        "rahoituslaskelma ovat realistisia.",
             "reviewerName": "Pekka Pikes", "statementDate": "2025-03-12"}
JUSTIFICATION = "Hakijalla on alan koulutus ja kokemus; lausunnon mukaan edellytykset " \
                "kannattavaan toimintaan ovat olemassa."
GRANT = {"proposal": "grant", "grantStartDate": "2025-04-01", "grantMonths": 6,
         "dailyAmount": 37.21, "justification": JUSTIFICATION,
         "businessStartedBeforeApplication": False, "maxGrantMonths": 6}
CONDITIONAL = {**GRANT, "proposal": "conditional_grant", "grantStartDate": "2025-05-01",
               "conditionType": "entrepreneurship_training",
               "conditionText": "Yrittäjyyskoulutus suoritettava ennen starttirahan alkua.",
               "conditionDeadline": "2025-06-30"}
REASONING = "Päätös on tehty lain ja ohjeiden mukaisesti; vaatimuksessa ei esitetty uusia " \
            "seikkoja."


@pytest.fixture
def expert(catalogue: Database, api: Api) -> Api:
    """sg_expert_1, a start-up grant expert (the preparer)."""
    return api.user("sg_expert_1", ["staff"], ["employer_services",
                                               "employer_services.startup_grant"])


@pytest.fixture
def lead(catalogue: Database, api: Api) -> Api:
    """es_lead_1, the deciding official in employer_services_lead."""
    return api.user("es_lead_1", ["staff"], ["employer_services_lead"])


@pytest.fixture
def pikes(catalogue: Database, api: Api) -> Api:
    """pikes_1, a reviewer of PIKES (development_company.pikes)."""
    return api.user("pikes_1", ["staff"], ["development_company.pikes"])


@pytest.fixture
def keti(catalogue: Database, api: Api) -> Api:
    return api.user("keti_1", ["staff"], ["development_company.keti"])


@pytest.fixture
def central(catalogue: Database, api: Api) -> Api:
    return api.user("cp_1", ["staff"], ["central_preparation"])


@pytest.fixture
def coach(catalogue: Database, api: Api) -> Api:
    return api.user("eco_1", ["staff"], ["ecosystem_experts"])




def outbox(db: Database, case_id: int, name: str) -> list[dict[str, Any]]:
    """The outbox records (to, payload) of the external message `name` of a case."""
    with db.reading() as s:
        rows = s.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == case_id)
                         .order_by(OutboxMessage.id)).all()
        return [{"to": r.payload["to"], **r.payload["payload"]} for r in rows
                if r.payload.get("message") == name]


def submit(api: Api, clock: Any, day: str, **over: Any) -> tuple[int, str]:
    """Työmarkkinatori sends the application on `day` at 10:00."""
    at(clock, day, "10:00")
    answer = api.post("/api/messages", 202, json={
        "name": "StartupGrantApplicationSubmitted", "payload": {**APPLICATION, **over}}).json()
    [case_id] = answer["delivered_to"]
    return case_id, case(api, case_id)["data"]["grantApplicationId"]


def message(api: Api, name: str, key: str, **payload: Any) -> list[int]:
    return api.post("/api/messages", 202, json={
        "name": name, "correlation": {"grantApplicationId": key},
        "payload": {"grantApplicationId": key, **payload}}).json()["delivered_to"]


def complete(user: Api, case_id: int, element_id: str, data: dict[str, Any],
             expect: int = 200) -> Any:
    return user.complete(ready(user, case_id, element_id)["id"], data, expect=expect)


def counselled(expert: Api, clock: Any, case_id: int, day: str, **over: Any) -> None:
    at(clock, day)
    complete(expert, case_id, "ut_counselling", {**COUNSELLING, "meetingDate": day, **over})


def statement_requested(expert: Api, clock: Any, case_id: int, day: str, company: str,
                        due: str) -> None:
    at(clock, day, "11:00")
    complete(expert, case_id, "ut_request_statement",
             {"developmentCompanyCode": company, "statementDue": due})


def decided(lead: Api, clock: Any, case_id: int, day: str) -> None:
    at(clock, day, "14:00")
    complete(lead, case_id, "ut_decide", {"approve": True})


# ---------------------------------------------------------------- D1


def test_d1_happy_grant_with_rectification_deadline_over_easter(
        catalogue: Database, api: Api, expert: Api, lead: Api, pikes: Api, drain: Drain,
        test_clock: Any) -> None:
    # Given C-000401 (010594Y9032, Nurmes 541, sole trader, graphic design) applies 2025-03-03
    case_id, key = submit(api, test_clock, "2025-03-03")
    started = case(api, case_id)
    assert key.startswith("S-2025-") and started["business_key"] == key
    data = started["data"]
    assert (data["serviceAreaCode"], data["developmentCompanyCode"], data["startedBy"]) == \
        ("pka", "pikes", "message")
    assert data["applicationSubmittedAt"].startswith("2025-03-03T10:00")
    task = ready(expert, case_id, "ut_counselling")
    assert task["team"] == "employer_services.startup_grant"
    assert datetime.fromisoformat(task["due_at"]) == local("2025-03-10", "23:59:59")  # 5 bd

    # When sg_expert_1 completes F4.1 on 2025-03-05: complete, every check clear
    counselled(expert, test_clock, case_id, "2025-03-05")
    data = case(api, case_id)["data"]
    assert (data["preparer"], data["precheckFail"]) == ("sg_expert_1", False)
    request = ready(expert, case_id, "ut_request_statement")
    assert request["assignee"] == "sg_expert_1"
    assert data["statementDue"] == "2025-03-19"  # default: 10 bd from 2025-03-05
    # ... F4.2 with PIKES, due 2025-03-19 (earliest allowed: 5 bd = 2025-03-12)
    at(test_clock, "2025-03-05", "11:00")
    answer = expert.complete(request["id"], {"developmentCompanyCode": "pikes",
                                             "statementDue": "2025-03-11"}, expect=422)
    assert fields(answer) == {"statementDue"}
    statement_requested(expert, test_clock, case_id, "2025-03-05", "pikes", "2025-03-19")
    [mail] = outbox(catalogue, case_id, "StatementRequested")
    assert (mail["to"], mail["channel"], mail["developmentCompanyCode"], mail["statementDue"]) \
        == ("development_company", "email", "pikes", "2025-03-19")
    statement = ready(pikes, case_id, "ut_statement")
    assert statement["team"] == "development_company.pikes"
    assert datetime.fromisoformat(statement["due_at"]) == local("2025-03-19", "23:59:59")
    expert.complete(statement["id"], STATEMENT, expect=403)  # only the company's reviewers

    # ... pikes_1 gives favourable / sufficient on 2025-03-12
    at(test_clock, "2025-03-12")
    pikes.complete(statement["id"], STATEMENT)
    data = case(api, case_id)["data"]
    assert (data["statementOutcome"], data["statementTurnaroundBd"]) == ("favourable", 5)

    # ... F4.5 grant from 2025-04-01, 6 months, 37.21 €/day
    at(test_clock, "2025-03-13")
    prepare = ready(expert, case_id, "ut_prepare")
    assert prepare["assignee"] == "sg_expert_1"
    data = case(api, case_id)["data"]
    assert (data["dailyAmount"], data["maxGrantMonths"]) == (37.21, 6)
    expert.complete(prepare["id"], GRANT)
    assert ready(lead, case_id, "ut_decide")["team"] == "employer_services_lead"

    # ... es_lead_1 approves on 2025-03-17
    decided(lead, test_clock, case_id, "2025-03-17")
    data = case(api, case_id)["data"]
    assert (data["decisionDate"], data["decider"], data["noticeDeemedReceived"]) == \
        ("2025-03-17", "es_lead_1", "2025-03-20")
    # 2025-03-20 + 30 days = Sat 2025-04-19; Easter Sunday and Monday → Tue 2025-04-22
    assert data["rectificationDeadline"] == "2025-04-22"
    assert data["processingDays"] == 14
    [decision] = outbox(catalogue, case_id, "StartupGrantDecision")
    assert (decision["to"], decision["decision"], decision["rectificationDeadline"]) == \
        ("jobseeker", "grant", "2025-04-22")
    assert "2025-04-22 mennessä (30 päivää" in decision["rectificationInstructions"]
    [basis] = outbox(catalogue, case_id, "StartupGrantPaymentBasis")
    assert (basis["to"], basis["channel"], basis["applicantMunicipalityCode"]) == \
        ("keha", "keha", "541")
    assert (basis["grantStartDate"], basis["grantMonths"], basis["dailyAmount"]) == \
        ("2025-04-01", 6, 37.21)
    assert {e["data"].get("to") for e in sent(api, case_id)["StartupGrantDecision"]} == \
        {"jobseeker"}
    assert case(api, case_id)["status"] == "waiting"
    assert outbox(catalogue, case_id, "EntrepreneurshipTrainingReferral") == []

    # Then at 2025-04-23 00:00 the rectification period is over: outcome granted
    fire_at(test_clock, drain, "2025-04-23")
    assert case(api, case_id)["status"] == "waiting"
    drain()
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "granted")
    assert done["data"]["effectiveFrom"] == "2025-04-01"
    assert "end_granted" in {e["element_id"] for e in history(api, case_id)}


# ---------------------------------------------------------------- D2, D3: conditional grant

KITEE = {"customerId": "C-000402", "personalId": "020594X903P", "applicantName": "Eero Korhonen",
         "applicantMunicipalityCode": "260", "plannedStartDate": "2025-05-01"}
CONDITIONS = {**STATEMENT, "statementOutcome": "favourable_with_conditions",
              "entrepreneurReadiness": "needs_training",
              "recommendedCondition": "entrepreneurship_training", "reviewerName": "Kaisa Keti",
              "statementDate": "2025-04-08"}


def conditional_grant(api: Api, expert: Api, lead: Api, keti: Api, clock: Any) -> tuple[int, str]:
    """D2/D3 up to the decision: KETI favours with conditions (needs_training); F4.5
    conditional_grant (entrepreneurship_training by 2025-06-30, start 2025-05-01) approved
    on 2025-04-14."""
    case_id, key = submit(api, clock, "2025-04-01", **KITEE)
    assert case(api, case_id)["data"]["developmentCompanyCode"] == "keti"
    counselled(expert, clock, case_id, "2025-04-02")
    statement_requested(expert, clock, case_id, "2025-04-02", "keti", "2025-04-16")
    at(clock, "2025-04-08")
    answer = complete(keti, case_id, "ut_statement",
                      {**CONDITIONS, "recommendedCondition": None}, expect=422)
    assert fields(answer) == {"recommendedCondition"}
    complete(keti, case_id, "ut_statement", CONDITIONS)
    at(clock, "2025-04-10")
    answer = complete(expert, case_id, "ut_prepare",
                      {**CONDITIONS_PROPOSAL, "conditionDeadline": "2025-10-11"}, expect=422)
    assert fields(answer) == {"conditionDeadline"}  # at most 6 months ahead
    complete(expert, case_id, "ut_prepare", CONDITIONS_PROPOSAL)
    decided(lead, clock, case_id, "2025-04-14")
    return case_id, key


CONDITIONS_PROPOSAL = {k: v for k, v in CONDITIONAL.items()}


def test_d2_conditional_grant_condition_met(catalogue: Database, api: Api, expert: Api,
                                            lead: Api, keti: Api, coach: Api, drain: Drain,
                                            test_clock: Any) -> None:
    case_id, key = conditional_grant(api, expert, lead, keti, test_clock)
    data = case(api, case_id)["data"]
    # 2025-04-17 + 30 days = Sat 2025-05-17 → Mon 2025-05-19
    assert (data["noticeDeemedReceived"], data["rectificationDeadline"]) == \
        ("2025-04-17", "2025-05-19")
    [basis] = outbox(catalogue, case_id, "StartupGrantPaymentBasis")
    assert (basis["conditional"], basis["applicantMunicipalityCode"]) == (True, "260")
    # ecosystem_experts got the referral: outbox record (in_app) and a notification
    [referral] = outbox(catalogue, case_id, "EntrepreneurshipTrainingReferral")
    assert (referral["to"], referral["channel"], referral["conditionDeadline"]) == \
        ("ecosystem_experts", "in_app", "2025-06-30")
    drain()
    [note] = notes(coach, "Yrittäjyysvalmennukseen ohjaus")
    assert key in note["subject"]

    # The rectification period ends 2025-05-20 00:00; the condition is still open
    fire_at(test_clock, drain, "2025-05-20")
    drain()
    assert case(api, case_id)["status"] == "waiting"

    # When ConditionFulfilled {fulfilledDate 2025-05-20} arrives
    at(test_clock, "2025-05-20", "10:00")
    assert message(api, "ConditionFulfilled", key, fulfilledDate="2025-05-20",
                   evidence="Yrittäjyyskoulutuksen todistus") == [case_id]
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "granted_conditional")
    assert (done["data"]["effectiveFrom"], done["data"]["conditionFulfilledDate"]) == \
        ("2025-05-20", "2025-05-20")
    assert outbox(catalogue, case_id, "ConditionNotMetNotice") == []


def test_d3_condition_not_met(catalogue: Database, api: Api, expert: Api, lead: Api,
                              keti: Api, drain: Drain, test_clock: Any) -> None:
    case_id, key = conditional_grant(api, expert, lead, keti, test_clock)
    # As D2 but no ConditionFulfilled: ut_condition appears 2025-07-01 00:00
    fire_at(test_clock, drain, "2025-07-01")
    assert open_ids(api, case_id) == []
    drain()
    check = ready(expert, case_id, "ut_condition")
    assert (check["team"], check["assignee"]) == ("employer_services.startup_grant",
                                                  "sg_expert_1")
    answer = expert.complete(check["id"], {"conditionFulfilled": True,
                                           "fulfilledDate": "2025-07-01"}, expect=422)
    assert fields(answer) == {"fulfilledDate"}  # on or before the condition deadline
    expert.complete(check["id"], {"conditionFulfilled": False})
    [notice] = outbox(catalogue, case_id, "ConditionNotMetNotice")
    assert (notice["to"], notice["grantApplicationId"]) == ("jobseeker", key)
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "condition_not_met")
    assert done["data"]["effectiveFrom"] is None


def test_condition_confirmed_late_by_the_preparer(catalogue: Database, api: Api, expert: Api,
                                                   lead: Api, keti: Api, drain: Drain,
                                                   test_clock: Any) -> None:
    """F4.7 with the condition fulfilled (the message never came): granted_conditional."""
    case_id, _key = conditional_grant(api, expert, lead, keti, test_clock)
    fire_at(test_clock, drain, "2025-07-01")
    drain()
    complete(expert, case_id, "ut_condition", {"conditionFulfilled": True,
                                               "fulfilledDate": "2025-06-16",
                                               "evidence": "Koulutustodistus"})
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "granted_conditional")
    assert done["data"]["effectiveFrom"] == "2025-06-16"


# ---------------------------------------------------------------- D4


def test_d4_rejection_and_rectification(catalogue: Database, api: Api, expert: Api, lead: Api,
                                        central: Api, drain: Drain, test_clock: Any) -> None:
    case_id, key = submit(api, test_clock, "2025-03-31", customerId="C-000403",
                          personalId="050594U903M", applicantMunicipalityCode="422",
                          plannedStartDate="2025-04-14")
    # Given F4.1 with businessStartedBeforeApplication=true
    counselled(expert, test_clock, case_id, "2025-04-01", businessStartedBeforeApplication=True)
    # Then no statement task is created
    assert open_ids(api, case_id) == ["ut_prepare"]
    assert case(api, case_id)["data"]["precheckFail"] is True
    # F4.5 grant → 422
    at(test_clock, "2025-04-02")
    answer = complete(expert, case_id, "ut_prepare",
                      {**GRANT, "grantStartDate": "2025-04-14",
                       "businessStartedBeforeApplication": True}, expect=422)
    assert fields(answer) == {"proposal"}
    answer = complete(expert, case_id, "ut_prepare",
                      {**GRANT, "proposal": "reject"}, expect=422)
    assert fields(answer) == {"grounds", "businessStartedBeforeApplication"}
    complete(expert, case_id, "ut_prepare",
             {"proposal": "reject", "grounds": ["business_started_before_application"],
              "justification": "Päätoiminen yritystoiminta on aloitettu ennen hakemuksen "
                               "jättämistä, joten starttirahaa ei voida myöntää.",
              "businessStartedBeforeApplication": True, "maxGrantMonths": 6})
    # approved 2025-04-07 → deadline 2025-05-12 (2025-04-10 + 30 = Sat 2025-05-10 → Mon)
    decided(lead, test_clock, case_id, "2025-04-07")
    data = case(api, case_id)["data"]
    assert (data["rectificationDeadline"], data["processingDays"]) == ("2025-05-12", 7)
    assert outbox(catalogue, case_id, "StartupGrantPaymentBasis") == []
    [decision] = outbox(catalogue, case_id, "StartupGrantDecision")
    assert (decision["decision"], decision["grounds"]) == \
        ("reject", ["business_started_before_application"])
    elements = {e["element_id"] for e in history(api, case_id)}
    assert not elements & {"ut_request_statement", "ut_statement"}

    # RectificationRequested on 2025-04-20 → ut_rectification (central_preparation)
    at(test_clock, "2025-04-20", "12:00")
    assert message(api, "RectificationRequested", key, receivedAt="2025-04-20") == [case_id]
    task = ready(central, case_id, "ut_rectification")
    assert task["team"] == "central_preparation"
    answer = central.complete(task["id"], {"outcome": "dismissed_late", "reasoning": REASONING,
                                           "rectificationLate": False}, expect=422)
    assert fields(answer) == {"outcome"}  # it came in time
    at(test_clock, "2025-04-22")
    central.complete(task["id"], {"outcome": "upheld", "reasoning": REASONING,
                                  "rectificationLate": False})
    # upheld → outcome rejected
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "rejected")
    assert done["data"]["rectificationOutcome"] == "upheld"
    assert "end_rejected" in {e["element_id"] for e in history(api, case_id)}


# ---------------------------------------------------------------- D5


def test_d5_four_eyes_and_validation(catalogue: Database, api: Api, expert: Api, lead: Api,
                                     pikes: Api, drain: Drain, test_clock: Any) -> None:
    at(test_clock, "2025-03-03", "10:00")
    manual = {**APPLICATION, "customerId": "C-000404", "personalId": "280265-931F",
              "previousGrantMonths": 8}
    # personalId 010594Y9033 → 422; plannedStartDate before submission → 422
    answer = expert.post("/api/process-instances", 422, json={
        "process_id": P4, "data": {**manual, "personalId": "010594Y9033"}})
    assert fields(answer) == {"personalId"}
    answer = expert.post("/api/process-instances", 422, json={
        "process_id": P4, "data": {**manual, "plannedStartDate": "2025-03-02"}})
    assert fields(answer) == {"plannedStartDate"}
    answer = expert.post("/api/process-instances", 422, json={
        "process_id": P4, "data": {**manual, "previousGrantMonths": 12, "requestedMonths": 13,
                                   "companyRegistered": True}})
    assert fields(answer) == {"previousGrantMonths", "requestedMonths", "businessId"}
    assert api.get("/api/process-instances", params={"process_id": P4}).json() == []
    started = expert.start(P4, {**manual, "companyRegistered": True, "businessId": "7654321-2"})
    case_id = started["id"]
    assert started["data"]["startedBy"] == "manual"
    counselled(expert, test_clock, case_id, "2025-03-05")
    statement_requested(expert, test_clock, case_id, "2025-03-05", "pikes", "2025-03-19")
    at(test_clock, "2025-03-12")
    complete(pikes, case_id, "ut_statement", STATEMENT)
    # previousGrantMonths 8: at most 12 − 8 = 4 months
    assert case(api, case_id)["data"]["maxGrantMonths"] == 4
    answer = complete(expert, case_id, "ut_prepare", {**GRANT, "grantMonths": 7,
                                                      "maxGrantMonths": 4}, expect=422)
    assert fields(answer) == {"grantMonths"}
    answer = complete(expert, case_id, "ut_prepare", {**GRANT, "maxGrantMonths": 4},
                      expect=422)
    assert fields(answer) == {"grantMonths"}  # 6 + 8 is over 12
    answer = complete(expert, case_id, "ut_prepare", {**GRANT, "maxGrantMonths": 6},
                      expect=422)
    assert fields(answer) == {"maxGrantMonths"}  # read-only
    answer = complete(expert, case_id, "ut_prepare",
                      {**GRANT, "grantMonths": 4, "grantStartDate": "2025-03-02",
                       "maxGrantMonths": 4}, expect=422)
    assert fields(answer) == {"grantStartDate"}  # not before the application
    complete(expert, case_id, "ut_prepare", {**GRANT, "grantMonths": 4, "maxGrantMonths": 4})
    # sg_expert_1 prepared and tries to decide → 403
    decide = ready(lead, case_id, "ut_decide")
    expert.complete(decide["id"], {"approve": True}, expect=403)
    decided(lead, test_clock, case_id, "2025-03-17")
    assert case(api, case_id)["data"]["decider"] == "es_lead_1"


def test_grant_months_over_the_period_length_is_refused(catalogue: Database, api: Api,
                                                        expert: Api, drain: Drain,
                                                        test_clock: Any) -> None:
    """D5: grantMonths 7 → 422 (a period is at most grantPeriodMonths = 6)."""
    case_id, _key = submit(api, test_clock, "2025-03-03")
    counselled(expert, test_clock, case_id, "2025-03-05", fullTimeConfirmed=False)
    answer = complete(expert, case_id, "ut_prepare", {**GRANT, "grantMonths": 7}, expect=422)
    assert fields(answer) == {"grantMonths"}


def test_d5_a_preparer_who_is_also_a_lead_cannot_decide(catalogue: Database, api: Api,
                                                        drain: Drain, test_clock: Any) -> None:
    acting = api.user("sg_acting_lead", ["staff"], ["employer_services.startup_grant",
                                                    "employer_services_lead"])
    case_id, _key = submit(api, test_clock, "2025-03-03")
    counselled(acting, test_clock, case_id, "2025-03-05", fullTimeConfirmed=False)
    complete(acting, case_id, "ut_prepare", {
        "proposal": "reject", "grounds": ["not_full_time"], "justification": JUSTIFICATION,
        "businessStartedBeforeApplication": False, "maxGrantMonths": 6})
    decide = ready(acting, case_id, "ut_decide")
    complete(acting, case_id, "ut_decide", {"approve": True}, expect=403)
    # Nothing changed: another lead decides.
    assert ready(api, case_id, "ut_decide")["id"] == decide["id"]
    lead = api.user("sg_lead_2", ["staff"], ["employer_services_lead"])
    complete(lead, case_id, "ut_decide", {"approve": True})
    assert "ut_decide" not in [t["element_id"] for t in api.tasks(case_id)]


# ---------------------------------------------------------------- D6


def test_d6_no_statement(catalogue: Database, api: Api, expert: Api, drain: Drain,
                         test_clock: Any) -> None:
    reviewer = api.user("jrt_1", ["staff"], ["development_company.joensuu_region_tbd"])
    case_id, key = submit(api, test_clock, "2025-05-05", customerId="C-000405",
                          personalId="150585-904T", applicantMunicipalityCode="167",
                          plannedStartDate="2025-06-02")
    counselled(expert, test_clock, case_id, "2025-05-12")
    # Given the statement requested 2025-05-12 (due 2025-05-26, the default)
    assert case(api, case_id)["data"]["statementDue"] == "2025-05-26"
    statement_requested(expert, test_clock, case_id, "2025-05-12", "joensuu_region_tbd",
                        "2025-05-26")
    statement = ready(reviewer, case_id, "ut_statement")
    assert statement["team"] == "development_company.joensuu_region_tbd"
    assert case(api, case_id)["data"]["statementGraceDue"] == "2025-06-03"
    # Then at 2025-05-27 00:00 company and preparer get reminders
    fire_at(test_clock, drain, "2025-05-27")
    assert notes(reviewer, "Muistutus: starttirahalausunto") == []
    drain()
    [to_company] = notes(reviewer, "Muistutus: starttirahalausunto")
    [to_preparer] = notes(expert, "Muistutus: starttirahalausunto")
    assert key in to_company["subject"] and key in to_preparer["subject"]
    assert open_ids(api, case_id) == ["ut_statement"]
    # at 2025-06-04 00:00 (grace due 2025-06-03) the statement task is cancelled
    fire_at(test_clock, drain, "2025-06-04")
    assert open_ids(api, case_id) == ["ut_statement"]
    drain()
    assert open_ids(api, case_id) == ["ut_no_statement"]
    cancelled = [e for e in history(api, case_id) if e["type"] == "task_cancelled"]
    assert [e["element_id"] for e in cancelled] == ["ut_statement"]
    # decide_without_statement → ut_prepare
    no_statement = ready(expert, case_id, "ut_no_statement")
    assert no_statement["assignee"] == "sg_expert_1"
    expert.complete(no_statement["id"], {"developmentCompanyCode": "joensuu_region_tbd",
                                         "action": "decide_without_statement"})
    assert open_ids(api, case_id) == ["ut_prepare"]
    assert case(api, case_id)["data"]["decidedWithoutStatement"] is True


def test_no_statement_re_requested_from_another_company(catalogue: Database, api: Api,
                                                        expert: Api, keti: Api, drain: Drain,
                                                        test_clock: Any) -> None:
    """F4.4 re_request_other_company: back to F4.2 with the new company (≠ current)."""
    case_id, _key = submit(api, test_clock, "2025-05-05", applicantMunicipalityCode="176")
    counselled(expert, test_clock, case_id, "2025-05-12")
    statement_requested(expert, test_clock, case_id, "2025-05-12", "pikes", "2025-05-26")
    fire_at(test_clock, drain, "2025-06-04")
    drain()
    task = ready(expert, case_id, "ut_no_statement")
    answer = expert.complete(task["id"], {"developmentCompanyCode": "pikes",
                                          "action": "re_request_other_company",
                                          "newCompanyCode": "pikes"}, expect=422)
    assert fields(answer) == {"newCompanyCode"}
    answer = expert.complete(task["id"], {"developmentCompanyCode": "pikes",
                                          "action": "re_request_other_company"}, expect=422)
    assert fields(answer) == {"newCompanyCode"}
    at(test_clock, "2025-06-04", "09:00")
    expert.complete(task["id"], {"developmentCompanyCode": "pikes",
                                 "action": "re_request_other_company",
                                 "newCompanyCode": "keti"})
    data = case(api, case_id)["data"]
    assert (data["developmentCompanyCode"], data["statementDue"]) == ("keti", "2025-06-18")
    statement_requested(expert, test_clock, case_id, "2025-06-04", "keti", "2025-06-18")
    assert [m["developmentCompanyCode"] for m in
            outbox(catalogue, case_id, "StatementRequested")] == ["pikes", "keti"]
    at(test_clock, "2025-06-10")
    complete(keti, case_id, "ut_statement", {**STATEMENT, "statementDate": "2025-06-10"})
    data = case(api, case_id)["data"]
    assert (data["statementTurnaroundBd"], data["decidedWithoutStatement"]) == (4, False)
    assert open_ids(api, case_id) == ["ut_prepare"]


# ---------------------------------------------------------------- other paths


def test_supplement_requested_received_and_then_missed(catalogue: Database, api: Api,
                                                       expert: Api, drain: Drain,
                                                       test_clock: Any) -> None:
    case_id, key = submit(api, test_clock, "2025-03-03")
    # F4.1 on 2025-03-05: the profitability calculation is missing
    at(test_clock, "2025-03-05")
    task = ready(expert, case_id, "ut_counselling")
    assert case(api, case_id)["data"]["supplementDueDate"] == "2025-03-17"  # prefilled
    supplement = {**COUNSELLING, "attachmentsComplete": False,
                  "completeness": "supplement_needed",
                  "supplementRequest": "Toimita kannattavuuslaskelma."}
    answer = expert.complete(task["id"], supplement, expect=422)
    assert fields(answer) == {"supplementDueDate"}
    answer = expert.complete(task["id"], {**supplement, "supplementDueDate": "2025-03-11",
                                          "taxDebt": True}, expect=422)
    assert fields(answer) == {"supplementDueDate", "paymentPlanExists"}  # ≥ today + 7 days
    expert.complete(task["id"], {**supplement, "supplementDueDate": "2025-03-19"})
    [request] = outbox(catalogue, case_id, "SupplementRequested")
    assert (request["to"], request["channel"], request["supplementDueDate"]) == \
        ("jobseeker", "tmt", "2025-03-19")
    assert open_ids(api, case_id) == []
    # SupplementReceived on 2025-03-14 → counselling again, for the same preparer
    at(test_clock, "2025-03-14")
    assert message(api, "SupplementReceived", key, attachments=["profitability_calculation"]) \
        == [case_id]
    again = ready(expert, case_id, "ut_counselling")
    assert again["assignee"] == "sg_expert_1"
    assert datetime.fromisoformat(again["due_at"]) == local("2025-03-21", "23:59:59")
    # a second request, due 2025-03-24, is not answered: at 2025-03-25 00:00 decide without
    expert.complete(again["id"], {**supplement, "meetingDate": "2025-03-14",
                                  "supplementRequest": "Toimita myös rahoituslaskelma.",
                                  "supplementDueDate": "2025-03-24"})
    fire_at(test_clock, drain, "2025-03-25")
    assert open_ids(api, case_id) == []
    drain()
    assert open_ids(api, case_id) == ["ut_request_statement"]
    data = case(api, case_id)["data"]
    assert (data["decidedWithoutSupplement"], data["supplementRound"]) == (True, 1)
    assert len(outbox(catalogue, case_id, "SupplementRequested")) == 2


def test_counselling_reminder(catalogue: Database, api: Api, expert: Api, drain: Drain,
                              test_clock: Any) -> None:
    """TM b-non 00:00 after the counselling due date (2025-03-10): a reminder, task stays."""
    case_id, key = submit(api, test_clock, "2025-03-03")
    fire_at(test_clock, drain, "2025-03-11")
    assert notes(expert, "Starttirahan neuvonta myöhässä") == []
    drain()
    [note] = notes(expert, "Starttirahan neuvonta myöhässä")
    assert key in note["subject"]
    assert open_ids(api, case_id) == ["ut_counselling"]


def test_decision_returned_to_the_preparer(catalogue: Database, api: Api, expert: Api,
                                           lead: Api, drain: Drain, test_clock: Any) -> None:
    case_id, _key = submit(api, test_clock, "2025-03-03")
    counselled(expert, test_clock, case_id, "2025-03-05", otherIncomeSecuresLiving=True)
    reject = {"proposal": "reject", "grounds": ["income_otherwise_secured"],
              "justification": "Hakijan toimeentulo on turvattu muulla tavoin koko "
                               "haetun ajan, joten edellytykset eivät täyty.",
              "businessStartedBeforeApplication": False, "maxGrantMonths": 6}
    complete(expert, case_id, "ut_prepare", reject)
    decide = ready(lead, case_id, "ut_decide")
    answer = lead.complete(decide["id"], {"approve": False}, expect=422)
    assert fields(answer) == {"returnComment"}
    lead.complete(decide["id"], {"approve": False,
                                 "returnComment": "Lisää perusteluihin tulojen lähde."})
    drain()
    [note] = notes(expert, "Päätösesitys palautettu")
    assert "tulojen lähde" in note["body"]
    assert ready(expert, case_id, "ut_prepare")["assignee"] == "sg_expert_1"
    assert case(api, case_id)["data"]["returnCount"] == 1
    complete(expert, case_id, "ut_prepare", reject)
    decided(lead, test_clock, case_id, "2025-03-06")
    assert case(api, case_id)["data"]["decision"] == "reject"


def test_application_withdrawn_before_the_decision(catalogue: Database, api: Api, expert: Api,
                                                   pikes: Api, drain: Drain,
                                                   test_clock: Any) -> None:
    case_id, key = submit(api, test_clock, "2025-03-03")
    counselled(expert, test_clock, case_id, "2025-03-05")
    statement_requested(expert, test_clock, case_id, "2025-03-05", "pikes", "2025-03-19")
    at(test_clock, "2025-03-07")
    assert message(api, "ApplicationWithdrawn", key, reason="Aloittaa palkkatyössä") == \
        [case_id]
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "withdrawn")
    assert done["data"]["withdrawalReason"] == "Aloittaa palkkatyössä"
    assert open_ids(api, case_id) == []
    assert "decisionDate" not in done["data"]


def test_incomplete_application_is_completed_first(catalogue: Database, api: Api, es: Api,
                                                   expert: Api, drain: Drain,
                                                   test_clock: Any) -> None:
    """A Työmarkkinatori application without its municipality and attachments starts with
    ut_complete_start (F4.0, every rule applies) in employer_services."""
    case_id, _key = submit(api, test_clock, "2025-03-03", applicantMunicipalityCode=None,
                           attachments=[])
    task = ready(es, case_id, "ut_complete_start")
    assert task["team"] == "employer_services"
    assert sorted(case(api, case_id)["data"]["missingFields"]) == \
        ["applicantMunicipalityCode", "attachments"]
    at(test_clock, "2025-03-04")
    complete_data = {**APPLICATION, "applicantMunicipalityCode": "276",
                     "attachments": ["business_plan"]}
    answer = es.complete(task["id"], {**complete_data, "plannedStartDate": "2025-03-02"},
                         expect=422)
    assert fields(answer) == {"plannedStartDate"}  # not before the submission (2025-03-03)
    es.complete(task["id"], {**complete_data, "plannedStartDate": "2025-03-03"})
    counselling = ready(expert, case_id, "ut_counselling")
    assert datetime.fromisoformat(counselling["due_at"]) == local("2025-03-10", "23:59:59")
    counselled(expert, test_clock, case_id, "2025-03-05")
    data = case(api, case_id)["data"]
    assert (data["developmentCompanyCode"], data["serviceAreaCode"]) == ("kontionloikka", "jse")


@pytest.fixture
def es(catalogue: Database, api: Api) -> Api:
    return api.user("es_1", ["staff"], ["employer_services"])


def test_rectification_amended_starts_a_reconsideration(
        catalogue: Database, api: Api, expert: Api, lead: Api, keti: Api, central: Api,
        drain: Drain, test_clock: Any) -> None:
    """An amended rectification (while the condition is still open) ends the case
    `amended_by_rectification` and starts a new P4 case with the original's F4.0 fields."""
    case_id, key = conditional_grant(api, expert, lead, keti, test_clock)
    at(test_clock, "2025-05-02", "12:00")
    assert message(api, "RectificationRequested", key, receivedAt="2025-05-02") == [case_id]
    at(test_clock, "2025-05-06")
    complete(central, case_id, "ut_rectification",
             {"outcome": "amended", "reasoning": REASONING, "rectificationLate": False})
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == \
        ("completed", "amended_by_rectification")
    assert "end_amended_by_rectification" in {e["element_id"] for e in history(api, case_id)}
    [thrown] = sent(api, case_id)["StartupGrantReconsideration"]
    assert thrown["data"].get("to") is None  # a Virta process, not an external party
    cases = api.get("/api/process-instances", params={"process_id": P4}).json()
    [new] = [c for c in cases if c["id"] != case_id]
    data = case(api, new["id"])["data"]
    assert (data["originalId"], data["originCaseId"], data["originActor"]) == \
        (key, key, "cp_1")
    assert data["originalSubmittedAt"].startswith("2025-04-01T10:00")
    assert data["grantApplicationId"] != key and data["startedBy"] == "reconsideration"
    assert {k: data[k] for k in KITEE} == KITEE
    assert data["eligibleFrom"] == "2025-04-01"
    assert open_ids(api, new["id"]) == ["ut_counselling"]  # complete: no ut_complete_start
