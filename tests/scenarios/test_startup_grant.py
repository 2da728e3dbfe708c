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
  amended rectification ends it with a terminate end event, so a pending condition stops too.

Platform gap (strict xfail): the four-eyes rule of §0.6.5 (decider ≠ preparer → 403) has no
server-side check; a preparer who is also in `employer_services_lead` can decide. The literal
D5 step (sg_expert_1, a start-up grant expert, completes `ut_decide` → 403) passes because the
expert is not in `employer_services_lead`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.db import Database
from engine.models import OutboxMessage
from tests.conftest import Api, Drain
from tests.scenarios.helpers import at, case, fields, history, local, notes, ready, sent

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


def open_ids(api: Api, case_id: int) -> list[str]:
    return sorted(t["element_id"] for t in api.tasks(case_id))


def fire_at(clock: Any, drain: Drain, day: str, hh_mm: str = "00:00") -> None:
    """Run what is due one minute before `day hh_mm`, then put the clock at it: the caller
    checks that nothing happened early and drains again."""
    h, m = map(int, hh_mm.split(":"))
    before = local(day, f"{h:02d}:{m:02d}:00") - timedelta(minutes=1)
    clock.set_offset(before - datetime.now(UTC))
    drain()
    clock.advance(timedelta(minutes=1))


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
