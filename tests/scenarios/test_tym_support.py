"""P7 TYM multi-professional support (`tym_support`): the acceptance scenarios G1–G5 of
PROCESSES.md.

`TymEnded` goes to P6 (`jobseeker_service`), which is not modelled yet: it is asserted as thrown
(`message_sent` history events) and kept as an unmatched-message incident (its payload is
what P6 will receive).

How the model works around the platform:
- no script function can see whether the customer has an open `jobseeker_service` case, so
  `TymEnded` is sent when `isJobseeker` is true (`gw_to_p6`);
- the plan-update loop and the eligibility-review loop run in parallel in `sp_service`, and
  parallel branches carry their own data: the plan loop alone owns `planDate` /
  `nextPlanUpdateDue` (F7.3's plan date is kept as `initialPlanDate`), the review loop alone
  `reviewNo` / `nextReviewDate`, so that the case data shows the current values;
- `TymClientSituationChanged` is an interrupting boundary event of `sp_service`, not an event
  sub-process: it can only go to the one `ut_final_assessment`; before the service phase it is
  kept as an unmatched-message incident (retry it later);
- F7.1's condition "started by TymReferral" is the read-only field `startedBy`, which the
  client sends back unchanged (like F8.3's `multiProfessionalNeeded`), and F7.5's 18-month rule
  uses the read-only `eighteenMonths` the same way;
- F7.2 cannot check that `tymOfficer` is a member of `tym`; a non-member as assignee is
  ignored by the platform, so the task stays with the team.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Api
from tests.scenarios.helpers import (
    at,
    case,
    fields,
    fire_at,
    local,
    notes,
    open_ids,
    ready,
    sent,
    to_p6,
)

P7 = "tym_support"




@pytest.fixture
def lead(catalogue: Any, api: Api) -> Api:
    """The TYM team lead (tiimivastaava): a member of the reference sub-group `tym.lead`."""
    return api.user("tym_lead", ["staff"], ["tym.lead"])


@pytest.fixture
def officer(lead: Api, api: Api) -> Api:
    """The TYM client officer of the Joensuu region (`jse`), responsible in G1."""
    return api.user("tym_jse_1", ["staff"], ["tym"])


REFERRAL = {"customerId": "C-000701", "municipalityCode": "309",
            "referralSource": "basic_services", "isJobseeker": True,
            "referralDate": "2025-03-10", "originCaseId": "J-2025-000701",
            "originActor": "ps_jse_1"}
PREPARE = {"clientInformed": True, "consultationUsed": False,
           "proposedMeetingDate": "2025-03-18"}
REASON = "Pitkä työttömyys, työkyvyn ja elämänhallinnan haasteita."
INITIAL_TEAM = {"initialTeamDate": "2025-03-18", "meetingMode": "face_to_face",
                "attendees": ["tym_officer", "social_worker", "kela_adviser"],
                "decision": "accept", "tymOfficer": "tym_jse_1",
                "partnerWorkerName": "Sosiaaliohjaaja Laine",
                "partnerOrg": "wellbeing_county",
                "reasoning": "Tarvitsee yhteensovitettuja palveluja työllistyäkseen."}
NETWORK_MEETING = {"networkMeetingDate": "2025-05-27",
                   "attendees": ["client", "tym_officer", "social_worker"],
                   "planDate": "2025-05-27",
                   "services": ["social_services", "work_ability_coordinator"],
                   "jobSearchObligation": "none", "monitoring": "Seuranta 3 kk välein."}
PLAN_UPDATE = {"updateDate": "2025-08-20", "participants": ["client", "tym_officer", "partner"],
               "serviceNeedReassessed": True}
REVIEW = {"reviewDate": "2025-09-18", "continueTym": True,
          "situationChangedSinceStart": True, "eighteenMonths": False,
          "reasoning": "Palvelut ovat käynnissä, tarve jatkuu."}
FINAL = {"summary": "Asiakas työllistyi avoimille työmarkkinoille; palvelut päätetty "
                    "hallitusti työparin kanssa."}
MANUAL = {"customerId": "C-000702", "municipalityCode": "176", "referralSource": "self",
          "reason": REASON, "isJobseeker": True}


def manual_case(staff: Api, **over: Any) -> int:
    """A manual referral by a TYM officer with the start form F7.0."""
    return int(staff.start(P7, {**MANUAL, **over})["id"])


def accepted(staff: Api, case_id: int, day: str, officer: str = "tym_jse_1") -> None:
    """F7.1 (manual start: the reason came with F7.0) and F7.2 accepting on `day`."""
    staff.complete(ready(staff, case_id, "ut_prepare_referral")["id"],
                   {**PREPARE, "startedBy": "manual", "proposedMeetingDate": day})
    staff.complete(ready(staff, case_id, "ut_initial_team")["id"],
                   {**INITIAL_TEAM, "initialTeamDate": day, "tymOfficer": officer})


def test_g1_referral_from_p6_to_plan_updates_review_and_situation_change(
        officer: Api, api: Api, drain: Any, test_clock: Any) -> None:
    at(test_clock, "2025-03-10")
    # P6 routes C-000701 (190868-972L, Outokumpu) to TYM; correlation is by customerId only
    answer = api.post("/api/messages", 202, json={"name": "TymReferral",
                                                  "payload": REFERRAL}).json()
    [case_id] = answer["delivered_to"]
    started = case(api, case_id)
    data = started["data"]
    assert started["business_key"] == data["tymCaseId"] == "TYM-2025-000001"
    assert (data["initialTeamDue"], data["serviceAreaCode"], data["startedBy"]) == \
        ("2025-03-24", "jse", "message")
    assert (data["referralSource"], data["originCaseId"]) == \
        ("basic_services", "J-2025-000701")
    assert open_ids(api, case_id) == ["ut_prepare_referral"]  # no ut_complete_start in P7

    # F7.1 completes the reason the message lacks
    prepare = ready(officer, case_id, "ut_prepare_referral")
    assert prepare["team"] == "tym"
    answer = officer.complete(prepare["id"], {**PREPARE, "startedBy": "message"}, expect=422)
    assert fields(answer) == {"reason"}
    answer = officer.complete(prepare["id"], {**PREPARE, "startedBy": "manual",
                                              "reason": REASON, "clientInformed": False,
                                              "proposedMeetingDate": "2025-03-09"},
                              expect=422)
    assert fields(answer) == {"startedBy", "clientInformed", "proposedMeetingDate"}
    officer.complete(prepare["id"], {**PREPARE, "startedBy": "message", "reason": REASON})
    assert case(api, case_id)["data"]["reason"] == REASON

    team = ready(officer, case_id, "ut_initial_team")
    assert datetime.fromisoformat(team["due_at"]) == local("2025-03-24", "23:59:59")
    at(test_clock, "2025-03-18", "13:00")
    answer = officer.complete(team["id"], {**INITIAL_TEAM, "partnerOrg": None}, expect=422)
    assert fields(answer) == {"partnerOrg"}
    officer.complete(team["id"], INITIAL_TEAM)
    data = case(api, case_id)["data"]
    assert (data["assessmentStartDate"], data["assessmentDueDate"]) == \
        ("2025-03-18", "2025-06-18")
    meeting = ready(officer, case_id, "ut_network_meeting")
    assert meeting["assignee"] == "tym_jse_1"
    assert datetime.fromisoformat(meeting["due_at"]) == local("2025-06-18", "23:59:59")

    at(test_clock, "2025-05-27", "14:00")
    officer.complete(meeting["id"], NETWORK_MEETING)
    data = case(api, case_id)["data"]
    assert (data["networkMeetingDate"], data["assessmentWithin3Months"]) == ("2025-05-27", True)
    assert data["assessmentLate"] is False
    assert data["nextPlanUpdateDue"] == "2025-08-27"
    assert open_ids(api, case_id) == []

    # ut_plan_update appears 2025-08-13 08:00 (10 bd before 2025-08-27), due 2025-08-27
    fire_at(test_clock, drain, "2025-08-13", "08:00")
    assert open_ids(api, case_id) == []
    drain()
    update = ready(officer, case_id, "ut_plan_update")
    assert datetime.fromisoformat(update["due_at"]) == local("2025-08-27", "23:59:59")
    at(test_clock, "2025-08-20")
    officer.complete(update["id"], PLAN_UPDATE)
    data = case(api, case_id)["data"]
    assert (data["planDate"], data["nextPlanUpdateDue"]) == ("2025-08-20", "2025-11-20")

    # ut_eligibility_review appears 2025-09-18 08:00 (6 months after the start): continue
    fire_at(test_clock, drain, "2025-09-18", "08:00")
    assert open_ids(api, case_id) == []
    drain()
    review = ready(officer, case_id, "ut_eligibility_review")
    officer.complete(review["id"], REVIEW)
    assert case(api, case_id)["data"]["nextReviewDate"] == "2026-03-18"

    # The second update: task 2025-11-06 08:00, done 2025-11-12 → next due 2026-02-12
    at(test_clock, "2025-11-12")
    drain()
    officer.complete(ready(officer, case_id, "ut_plan_update")["id"],
                     {**PLAN_UPDATE, "updateDate": "2025-11-12"})
    assert case(api, case_id)["data"]["nextPlanUpdateDue"] == "2026-02-12"

    # The client is employed: the service phase ends at once
    at(test_clock, "2026-02-02")
    drain()
    answer = api.post("/api/messages", 202, json={
        "name": "TymClientSituationChanged", "correlation": {"customerId": "C-000701"},
        "payload": {"reason": "employed"}}).json()
    assert answer["delivered_to"] == [case_id]
    assert open_ids(api, case_id) == ["ut_final_assessment"]
    assert case(api, case_id)["data"]["situationChangeReason"] == "employed"
    final = ready(officer, case_id, "ut_final_assessment")
    answer = officer.complete(final["id"], {"endDate": "2026-02-03", "outcome": "hired",
                                            "summary": "lyhyt"}, expect=422)
    assert fields(answer) == {"endDate", "outcome", "summary"}
    officer.complete(final["id"], {**FINAL, "endDate": "2026-02-02", "outcome": "employed"})
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "employed")
    assert done["data"]["durationDays"] == 321  # 2025-03-18 → 2026-02-02
    [ended] = sent(api, case_id)["TymEnded"]
    assert ended["data"]["correlation"] == {"customerId": "C-000701"}
    # P6 is not modelled yet: there it would show ut_confirm_employment
    [payload] = to_p6(api, "TymEnded")
    assert (payload["customerId"], payload["outcome"]) == ("C-000701", "employed")


def test_g2_self_referral_not_eligible(officer: Api, api: Api, test_clock: Any) -> None:
    at(test_clock, "2025-04-07")
    case_id = manual_case(officer)
    data = case(api, case_id)["data"]
    assert (data["initialTeamDue"], data["referralDate"], data["serviceAreaCode"]) == \
        ("2025-04-23", "2025-04-07", "pka")  # Easter 18.4 and 21.4 do not count
    assert (data["startedBy"], data["originActor"]) == ("manual", "tym_jse_1")
    prepare = ready(officer, case_id, "ut_prepare_referral")
    assert prepare["assignee"] == "tym_jse_1"
    officer.complete(prepare["id"], {**PREPARE, "startedBy": "manual",
                                     "proposedMeetingDate": "2025-04-15"})
    assert case(api, case_id)["data"]["reason"] == REASON  # from F7.0

    at(test_clock, "2025-04-15")
    team = ready(officer, case_id, "ut_initial_team")
    not_eligible = {"initialTeamDate": "2025-04-15", "meetingMode": "video",
                    "attendees": ["tym_officer", "social_worker"], "decision": "not_eligible",
                    "reasoning": "Konsultaatio riittää, ei monialaisen tuen tarvetta."}
    officer.complete(team["id"], not_eligible)
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"], done["data"]["endDate"]) == \
        ("completed", "not_accepted", "2025-04-15")
    assert "assessmentDueDate" not in done["data"]  # not in the K3 denominator
    [payload] = to_p6(api, "TymEnded")  # to the customer's open jobseeker_service case
    assert (payload["customerId"], payload["outcome"]) == ("C-000702", "not_accepted")


def test_g2_late_initial_team_other_service_for_a_non_jobseeker(
        officer: Api, lead: Api, api: Api, drain: Any, test_clock: Any) -> None:
    at(test_clock, "2025-04-07")
    case_id = manual_case(officer, customerId="C-000703", referralSource="wellbeing_county",
                          isJobseeker=False)
    accepted_prepare = {**PREPARE, "startedBy": "manual", "proposedMeetingDate": "2025-04-22"}
    officer.complete(ready(officer, case_id, "ut_prepare_referral")["id"], accepted_prepare)
    fire_at(test_clock, drain, "2025-04-24", "00:00")
    assert not notes(lead, "Alkutiimi myöhässä")
    drain()
    assert len(notes(lead, "Alkutiimi myöhässä")) == 1
    assert not notes(officer, "Alkutiimi myöhässä")

    at(test_clock, "2025-04-25")
    officer.complete(ready(officer, case_id, "ut_initial_team")["id"], {
        "initialTeamDate": "2025-04-25", "meetingMode": "phone",
        "attendees": ["tym_officer", "social_worker"], "decision": "other_service",
        "reasoning": "Ohjataan hyvinvointialueen sosiaalityöhön."})
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == ("completed", "not_accepted")
    assert "TymEnded" not in sent(api, case_id)  # not a jobseeker: no P6 case to tell


def test_g3_late_assessment(officer: Api, lead: Api, api: Api, drain: Any,
                            test_clock: Any) -> None:
    at(test_clock, "2025-03-24")
    case_id = manual_case(officer, customerId="C-000704", municipalityCode="167")
    at(test_clock, "2025-04-01")
    accepted(officer, case_id, "2025-04-01")
    data = case(api, case_id)["data"]
    assert (data["assessmentStartDate"], data["assessmentDueDate"]) == \
        ("2025-04-01", "2025-07-01")
    assert data["assessmentReminderDate"] == "2025-06-16"  # Midsummer Eve 20.6 not counted

    fire_at(test_clock, drain, "2025-06-16", "08:00")
    assert not notes(officer, "Muistutus: palvelutarvearvio")
    drain()
    [reminder] = notes(officer, "Muistutus: palvelutarvearvio")
    assert "Sosiaaliohjaaja Laine" in reminder["body"]  # the pair

    fire_at(test_clock, drain, "2025-07-02", "00:00")
    assert not notes(lead, "Palvelutarvearvio myöhässä")
    drain()
    assert len(notes(lead, "Palvelutarvearvio myöhässä")) == 1
    assert case(api, case_id)["data"]["assessmentLate"] is True

    at(test_clock, "2025-07-08")
    officer.complete(ready(officer, case_id, "ut_network_meeting")["id"], {
        **NETWORK_MEETING, "networkMeetingDate": "2025-07-08", "planDate": "2025-07-08",
        "jobSearchObligation": "per_month", "jobSearchObligationPerMonth": 2})
    data = case(api, case_id)["data"]
    assert (data["assessmentWithin3Months"], data["assessmentLate"]) == (False, True)
    assert data["jobSearchObligationPerMonth"] == 2


def test_g4_eighteen_months_without_change(officer: Api, lead: Api, api: Api, drain: Any,
                                           test_clock: Any) -> None:
    at(test_clock, "2025-01-08")
    case_id = manual_case(officer, customerId="C-000705", municipalityCode="260")
    at(test_clock, "2025-01-15")
    accepted(officer, case_id, "2025-01-15")
    at(test_clock, "2025-02-20")
    officer.complete(ready(officer, case_id, "ut_network_meeting")["id"], {
        **NETWORK_MEETING, "networkMeetingDate": "2025-02-20", "planDate": "2025-02-20"})
    assert case(api, case_id)["data"]["nextPlanUpdateDue"] == "2025-05-20"

    # The plan update due 2025-05-20 is not done: the team lead hears of it at 00:00 after
    fire_at(test_clock, drain, "2025-05-21", "00:00")
    assert not notes(lead, "Suunnitelman päivitys myöhässä")
    drain()
    assert len(notes(lead, "Suunnitelman päivitys myöhässä")) == 1
    update = ready(officer, case_id, "ut_plan_update")

    reviews = [("2025-07-15", False), ("2026-01-15", False)]
    for day, eighteen in reviews:
        fire_at(test_clock, drain, day, "08:00")
        drain()
        review = ready(officer, case_id, "ut_eligibility_review")
        officer.complete(review["id"], {**REVIEW, "reviewDate": day,
                                        "eighteenMonths": eighteen,
                                        "situationChangedSinceStart": False})
    fire_at(test_clock, drain, "2026-07-15", "08:00")
    drain()
    review = ready(officer, case_id, "ut_eligibility_review")
    assert case(api, case_id)["data"]["eighteenMonths"] is True
    no_change = {**REVIEW, "reviewDate": "2026-07-15", "eighteenMonths": True,
                 "situationChangedSinceStart": False}
    answer = officer.complete(review["id"], no_change, expect=422)
    assert fields(answer) == {"continueTym"}
    answer = officer.complete(review["id"], {**no_change, "eighteenMonths": False}, expect=422)
    assert fields(answer) == {"eighteenMonths"}  # read-only, set by the process
    officer.complete(review["id"], {**no_change, "continueTym": False})

    # The service phase ends: the open plan update goes with it
    assert open_ids(api, case_id) == ["ut_final_assessment"]
    cancelled = officer.get("/api/tasks", params={"instance_id": case_id,
                                                  "status": "cancelled"}).json()
    assert update["id"] in {t["id"] for t in cancelled}
    officer.complete(ready(officer, case_id, "ut_final_assessment")["id"], {
        **FINAL, "endDate": "2026-07-15", "outcome": "returned_to_basic_services"})
    done = case(api, case_id)
    assert (done["status"], done["data"]["outcome"]) == \
        ("completed", "returned_to_basic_services")
    assert done["data"]["durationDays"] == 546
    [payload] = to_p6(api, "TymEnded")
    assert payload["outcome"] == "returned_to_basic_services"


def test_g5_validation(officer: Api, api: Api, drain: Any, test_clock: Any) -> None:
    at(test_clock, "2025-03-03")
    # Start form F7.0: a refused start creates nothing
    bad = officer.post("/api/process-instances", 422, json={"process_id": P7, "data": {
        **MANUAL, "customerId": "000702", "municipalityCode": "999",
        "referralSource": "neighbour", "reason": "liian lyhyt"}})
    assert fields(bad) == {"customerId", "municipalityCode", "referralSource", "reason"}
    assert api.get("/api/process-instances", params={"process_id": P7}).json() == []

    case_id = manual_case(officer)
    officer.complete(ready(officer, case_id, "ut_prepare_referral")["id"],
                     {**PREPARE, "startedBy": "manual", "proposedMeetingDate": "2025-03-10"})
    at(test_clock, "2025-03-10")
    team = ready(officer, case_id, "ut_initial_team")
    answer = officer.complete(team["id"], {**INITIAL_TEAM, "initialTeamDate": "2025-03-10",
                                           "attendees": ["tym_officer", "kela_adviser"]},
                              expect=422)
    assert fields(answer) == {"attendees"}
    officer.complete(team["id"], {**INITIAL_TEAM, "initialTeamDate": "2025-03-10"})

    at(test_clock, "2025-04-14")
    meeting = ready(officer, case_id, "ut_network_meeting")
    answer = officer.complete(meeting["id"], {**NETWORK_MEETING, "networkMeetingDate":
                                              "2025-03-07", "planDate": "2025-04-14"},
                              expect=422)
    assert fields(answer) == {"networkMeetingDate"}
    answer = officer.complete(meeting["id"], {
        **NETWORK_MEETING, "networkMeetingDate": "2025-04-14", "planDate": "2025-04-11",
        "attendees": ["tym_officer", "social_worker"], "services": [],
        "jobSearchObligation": "per_month"}, expect=422)
    assert fields(answer) == {"planDate", "attendees", "services",
                              "jobSearchObligationPerMonth"}
    officer.complete(meeting["id"], {**NETWORK_MEETING, "networkMeetingDate": "2025-04-14",
                                     "planDate": "2025-04-14"})

    at(test_clock, "2025-07-14")  # plan update due 2025-07-14, task since 2025-06-30
    drain()
    update = ready(officer, case_id, "ut_plan_update")
    answer = officer.complete(update["id"], {**PLAN_UPDATE, "updateDate": "2025-07-14",
                                             "participants": ["tym_officer", "partner"]},
                              expect=422)
    assert fields(answer) == {"participants"}
    answer = officer.complete(update["id"], {**PLAN_UPDATE, "updateDate": "2025-04-13",
                                             "serviceNeedReassessed": False}, expect=422)
    assert fields(answer) == {"updateDate", "serviceNeedReassessed"}
    officer.complete(update["id"], {**PLAN_UPDATE, "updateDate": "2025-07-14"})
    assert case(api, case_id)["data"]["nextPlanUpdateDue"] == "2025-10-14"
