"""P6 jobseeker start and service process (`jobseeker_service`): the acceptance scenarios F1–F7
of PROCESSES.md, with P7 (`tym_support`) and P8 (`integration_plan`) running for real where
the scenarios cross processes.

How the model works around the platform:
- a task has exactly one team (`candidateTeam`, evaluated when the task becomes ready): an
  overdue task notifies `<team>.lead` and sets `firstContactLate`, but `jokerit` cannot be
  added as a second candidate team (strict xfail below);
- messages that may arrive at any time (ad hoc conversation, hired notice, change-security
  context, integration plan summary, end of the job search) are caught in case-wide parallel
  branches that loop; parallel branches carry their own data, so these branches address the
  basic-services team of the customer's area (`ps_<area>`) rather than the responsible officer;
  an ad hoc conversation is the task `ut_adhoc_conversation` (form F6.4, `meetingType =
  adhoc_conversation`), because an element id is unique in a model;
- the schedule `sp_schedule` runs its parts as parallel branches and stops through a terminate
  end with `scheduleExit` (suspended / routing change / integration ended); the cancelled
  tasks are history `task_cancelled` events, the reason is the case variable
  `scheduleStopReason` (the platform records no reason per task);
- `ChangeSecurityJobseekerRegistered` is sent whenever `dismissedByBusinessId` is set (no
  script function can see whether a `change_security` case is open for that employer); with no
  such case it is kept as an unmatched-message incident;
- F6.1 cannot check that `responsibleOfficer` is a member of `ps_<area>` (a non-member as
  assignee is ignored, the task stays with the team) nor that a service point is active on the
  meeting date, and `informedChangeSecurity` is optional.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api
from tests.scenarios.helpers import at, case, fields, history, local, notes, ready, sent

P6 = "jobseeker_service"


def open_ids(api: Api, case_id: int) -> list[str]:
    return sorted(t["element_id"] for t in api.tasks(case_id))


def fire_at(clock: Any, drain: Any, day: str, hh_mm: str) -> None:
    """Run what is due one minute before `day hh_mm`, then put the clock at it: the caller
    checks that nothing happened early and drains again."""
    h, m = map(int, hh_mm.split(":"))
    before = local(day, f"{h:02d}:{m:02d}:00") - timedelta(minutes=1)
    clock.set_offset(before - datetime.now(UTC))
    drain()
    clock.advance(timedelta(minutes=1))


def due(task: dict[str, Any]) -> str:
    """The due date of a task (due at 23:59:59 Helsinki)."""
    at_ = datetime.fromisoformat(task["due_at"])
    assert at_ == local(at_.astimezone(local("2025-01-01").tzinfo).date().isoformat(), "23:59:59")
    return at_.astimezone(local("2025-01-01").tzinfo).date().isoformat()


def completed(api: Api, case_id: int, element_id: str) -> list[dict[str, Any]]:
    """The submitted data of the case's completed tasks `element_id` (Meeting records)."""
    return [e["data"]["submitted"] for e in history(api, case_id)
            if e["type"] == "task_completed" and e["element_id"] == element_id]


def cancelled(api: Api, case_id: int) -> list[str]:
    return [e["element_id"] for e in history(api, case_id) if e["type"] == "task_cancelled"]


def start(api: Api, **payload: Any) -> int:
    """`JobSearchStarted` from Työmarkkinatori: starts a case."""
    answer = api.post("/api/messages", 202, json={"name": "JobSearchStarted",
                                                  "payload": payload}).json()
    [case_id] = answer["delivered_to"]
    return int(case_id)


def message(api: Api, name: str, customer_id: str, **payload: Any) -> list[int]:
    answer = api.post("/api/messages", 202, json={
        "name": name, "correlation": {"customerId": customer_id}, "payload": payload}).json()
    return [int(i) for i in answer["delivered_to"]]


@pytest.fixture
def alku(catalogue: Any, api: Api) -> Api:
    """A start-services officer (alkupalvelut)."""
    return api.user("alku_1", ["staff"], ["start_services"])


@pytest.fixture
def ps_kka(catalogue: Any, api: Api) -> Api:
    return api.user("ps_kka_1", ["staff"], ["ps_kka"])


@pytest.fixture
def ps_jns(catalogue: Any, api: Api) -> Api:
    return api.user("ps_jns_1", ["staff"], ["ps_jns"])


KITEE = {"customerId": "C-000601", "personalId": "150585-904T", "name": "Testi Kiteeläinen",
         "jobSearchStartDate": "2025-04-16", "municipalityCode": "260",
         "employmentStatus": "unemployed", "language": "fi"}
JOENSUU = {"customerId": "C-000602", "personalId": "020594X903P", "name": "Testi Joensuulainen",
           "jobSearchStartDate": "2025-03-03", "municipalityCode": "167",
           "employmentStatus": "unemployed", "language": "fi"}
PLAN = {"dataChecked": True, "labourPolicyStatement": "not_needed", "informedObligations": True,
        "employmentPlanCreated": True, "jobSearchObligationPerMonth": 4,
        "planGoals": "Työllistyminen avoimille työmarkkinoille omalla alalla."}


def first_meeting(day: str, **over: Any) -> dict[str, Any]:
    """F6.1: a reached phone attempt and a held meeting on `day`."""
    return {"contactAttempts": [{"date": day, "channel": "phone", "reached": True}],
            "meetingHeld": True, "meetingDate": day, **PLAN, **over}


F1_MEETING = first_meeting("2025-04-17", meetingType="supplementary_conversation",
                           meetingMode="phone", routing="basic_placement",
                           responsibleOfficer="ps_kka_1",
                           initialInterviewBooking={"date": "2025-04-24",
                                                    "meetingMode": "face_to_face",
                                                    "servicePointCode": "SP-260"})
F2_MEETING = first_meeting("2025-03-05", meetingType="initial_interview", meetingMode="video",
                           routing="basic_placement", responsibleOfficer="ps_jns_1")
CONVERSATION = {"held": True, "meetingMode": "phone", "planUpdated": True,
                "jobSearchObligationPerMonth": 4}


def test_f1_typical_path_kitee(alku: Api, ps_kka: Api, api: Api, drain: Any,
                               test_clock: Any) -> None:
    at(test_clock, "2025-04-16")
    case_id = start(api, **KITEE)
    started = case(api, case_id)
    data = started["data"]
    assert started["business_key"] == data["jobSearchCaseId"] == "J-2025-000001"
    assert (data["contactDueDate"], data["serviceAreaCode"], data["requiresSchedule"]) == \
        ("2025-04-25", "kka", True)
    assert (data["processResponsibility"], data["unemploymentStartDate"]) == \
        ("start_services", "2025-04-16")
    meeting = ready(alku, case_id, "ut_first_meeting")
    assert (meeting["team"], due(meeting)) == ("start_services", "2025-04-25")

    # 2025-04-17: reached by phone, supplementary conversation by phone, booking for 04-24
    at(test_clock, "2025-04-17", "10:00")
    alku.complete(meeting["id"], F1_MEETING)
    data = case(api, case_id)["data"]
    assert (data["processResponsibility"], data["candidateTeam"], data["serviceLine"]) == \
        ("basic", "ps_kka", "placement")
    assert (data["supplementaryBeforeInitial"], data["firstContactLate"]) == (True, False)
    [booking] = sent(api, case_id)["MeetingBookingConfirmation"]
    assert booking["data"]["to"] == "jobseeker"
    assert case(api, case_id)["data"]["initialInterviewBooking"]["date"] == "2025-04-24"
    interview = ready(ps_kka, case_id, "ut_initial_interview")
    assert (interview["team"], interview["assignee"], due(interview)) == \
        ("ps_kka", "ps_kka_1", "2025-04-28")

    at(test_clock, "2025-04-24", "10:00")
    ps_kka.complete(interview["id"], {"meetingDate": "2025-04-24", "meetingMode": "face_to_face",
                                      "servicePointCode": "SP-260", "planReviewed": True,
                                      "jobSearchObligationPerMonth": 4})
    data = case(api, case_id)["data"]
    assert (data["D0"], data["initialInterviewDate"]) == ("2025-04-24", "2025-04-24")
    assert (data["supplementaryRequired"], data["supplementaryWindowEnd"]) == (4, "2025-07-24")
    assert data["nextJscDue"] == "2025-07-24"

    # The 4 slots, each created when the previous one is done
    dues = []
    for day in ("2025-05-08", "2025-05-22", "2025-06-05", "2025-06-19"):
        slot = ready(ps_kka, case_id, "ut_supplementary_conversation")
        assert (slot["team"], slot["assignee"]) == ("ps_kka", "ps_kka_1")
        dues.append(due(slot))
        at(test_clock, day, "10:00")
        ps_kka.complete(slot["id"], {**CONVERSATION, "meetingDate": day})
    assert dues == ["2025-05-09", "2025-05-23", "2025-06-09", "2025-06-24"]
    data = case(api, case_id)["data"]
    assert (data["supplementaryHeld"], data["supplementaryQuotaMissed"]) == (4, False)
    assert open_ids(api, case_id) == []

    # ut_job_search_conversation appears 2025-07-10 08:00, due 2025-07-24
    fire_at(test_clock, drain, "2025-07-10", "08:00")
    assert open_ids(api, case_id) == []
    drain()
    jsc = ready(ps_kka, case_id, "ut_job_search_conversation")
    assert (jsc["team"], due(jsc)) == ("ps_kka", "2025-07-24")

    # Meeting records: 1 supplementary (phone), 1 initial interview (face to face)
    [first] = completed(api, case_id, "ut_first_meeting")
    [initial] = completed(api, case_id, "ut_initial_interview")
    assert (first["meetingType"], first["meetingMode"]) == ("supplementary_conversation", "phone")
    assert initial["meetingMode"] == "face_to_face"
    [slot1] = completed(api, case_id, "ut_supplementary_conversation")[:1]
    assert (slot1["meetingDate"], slot1["meetingMode"]) == ("2025-05-08", "phone")


def routed_basic(alku: Api, api: Api, clock: Any, registration: dict[str, Any],
                 meeting: dict[str, Any], day: str) -> int:
    """A case started on its `jobSearchStartDate` whose first meeting on `day` is `meeting`."""
    at(clock, registration["jobSearchStartDate"])
    case_id = start(api, **registration)
    at(clock, day, "10:00")
    alku.complete(ready(alku, case_id, "ut_first_meeting")["id"], meeting)
    return case_id


def test_f2_initial_interview_first_remote(alku: Api, ps_jns: Api, api: Api, drain: Any,
                                           test_clock: Any) -> None:
    case_id = routed_basic(alku, api, test_clock, JOENSUU, F2_MEETING, "2025-03-05")
    data = case(api, case_id)["data"]
    assert (data["contactDueDate"], data["D0"], data["supplementaryRequired"]) == \
        ("2025-03-10", "2025-03-05", 5)
    assert (data["supplementaryWindowEnd"], data["nextJscDue"]) == ("2025-06-05", "2025-06-05")
    assert (data["candidateTeam"], data["ageGroup"]) == ("ps_jns", "30_plus")
    assert "ut_initial_interview" not in open_ids(api, case_id)
    assert "MeetingBookingConfirmation" not in sent(api, case_id)

    dues = []
    for day in ("2025-03-18", "2025-04-01", "2025-04-15", "2025-05-02", "2025-05-16"):
        slot = ready(ps_jns, case_id, "ut_supplementary_conversation")
        dues.append(due(slot))
        at(test_clock, day, "10:00")
        ps_jns.complete(slot["id"], {**CONVERSATION, "meetingDate": day})
    # Easter (18.4, 21.4) and 1.5 are skipped
    assert dues == ["2025-03-19", "2025-04-02", "2025-04-16", "2025-05-05", "2025-05-19"]
    assert case(api, case_id)["data"]["supplementaryHeld"] == 5

    fire_at(test_clock, drain, "2025-05-21", "08:00")
    assert open_ids(api, case_id) == []
    drain()
    jsc = ready(ps_jns, case_id, "ut_job_search_conversation")
    assert (jsc["team"], jsc["assignee"], due(jsc)) == ("ps_jns", "ps_jns_1", "2025-06-05")

    # K1: this initial interview is not face to face
    [first] = completed(api, case_id, "ut_first_meeting")
    assert (first["meetingType"], first["meetingMode"]) == ("initial_interview", "video")

    # The job-search conversation face to face at SP-167 on 2025-06-03: the next is due
    # 3 months after it
    at(test_clock, "2025-06-03", "10:00")
    answer = ps_jns.complete(jsc["id"], {**CONVERSATION, "meetingDate": "2025-06-03",
                                         "meetingMode": "face_to_face"}, expect=422)
    assert fields(answer) == {"servicePointCode", "planReviewed"}
    ps_jns.complete(jsc["id"], {**CONVERSATION, "meetingDate": "2025-06-03",
                                "meetingMode": "face_to_face", "servicePointCode": "SP-167",
                                "planReviewed": True})
    assert case(api, case_id)["data"]["nextJscDue"] == "2025-09-03"
    # The next one appears 2025-08-20 08:00 (10 bd before), due 2025-09-03
    fire_at(test_clock, drain, "2025-08-20", "08:00")
    assert open_ids(api, case_id) == []
    drain()
    jsc = ready(ps_jns, case_id, "ut_job_search_conversation")
    assert (jsc["team"], due(jsc)) == ("ps_jns", "2025-09-03")


F3_REGISTRATION = {"customerId": "C-000603", "personalId": "230668-911L",
                   "name": "Testi Uusivuosi", "jobSearchStartDate": "2025-12-22",
                   "municipalityCode": "422", "employmentStatus": "unemployed", "language": "fi"}
F3_MEETING = first_meeting("2026-01-05", meetingType="initial_interview",
                           meetingMode="face_to_face", servicePointCode="SP-422",
                           routing="basic_placement", responsibleOfficer="ps_pka_1")


def late_first_contact(api: Api, drain: Any, clock: Any) -> int:
    at(clock, "2025-12-22")
    case_id = start(api, **F3_REGISTRATION)
    assert case(api, case_id)["data"]["contactDueDate"] == "2026-01-02"
    fire_at(clock, drain, "2026-01-03", "00:00")
    assert "firstContactLate" not in case(api, case_id)["data"]
    drain()
    return case_id


def test_f3_late_first_contact_over_new_year_and_validation(
        alku: Api, api: Api, drain: Any, test_clock: Any) -> None:
    lead = api.user("alku_lead", ["staff"], ["start_services.lead"])
    case_id = late_first_contact(api, drain, test_clock)
    assert case(api, case_id)["data"]["firstContactLate"] is True
    [note] = notes(lead, "Ensikontakti myöhässä")
    assert "2026-01-02" in note["body"]
    meeting = ready(alku, case_id, "ut_first_meeting")
    assert meeting["team"] == "start_services"

    at(test_clock, "2026-01-05", "10:00")
    answer = alku.complete(meeting["id"], {**F3_MEETING, "informedObligations": False},
                           expect=422)
    assert fields(answer) == {"informedObligations"}
    answer = alku.complete(meeting["id"], {**F3_MEETING, "jobSearchObligationPerMonth": 2},
                           expect=422)
    assert fields(answer) == {"obligationReducedReason"}
    no_place = {k: v for k, v in F3_MEETING.items() if k != "servicePointCode"}
    answer = alku.complete(meeting["id"], no_place, expect=422)
    assert fields(answer) == {"servicePointCode"}
    answer = alku.complete(meeting["id"], {"contactAttempts": F3_MEETING["contactAttempts"],
                                           "meetingHeld": False, "routing": "basic_placement",
                                           "responsibleOfficer": "ps_pka_1"},
                           expect=422)
    assert fields(answer) == {"routing"}
    answer = alku.complete(meeting["id"], {**F3_MEETING, "contactAttempts": []}, expect=422)
    assert fields(answer) == {"contactAttempts"}
    alku.complete(meeting["id"], {**F3_MEETING, "jobSearchObligationPerMonth": 2,
                                  "obligationReducedReason": "part_time_work"})
    data = case(api, case_id)["data"]
    assert (data["firstContactLate"], data["D0"], data["candidateTeam"]) == \
        (True, "2026-01-05", "ps_pka")


@pytest.mark.xfail(strict=True, reason="platform gap: a user task has exactly one team "
                   "(candidateTeam, evaluated when it becomes ready); a model cannot add "
                   "`jokerit` as a second candidate team to an overdue task")
def test_f3_a_jokeri_completes_the_overdue_first_meeting(
        catalogue: Any, api: Api, drain: Any, test_clock: Any) -> None:
    jokeri = api.user("jokeri_1", ["staff"], ["jokerit"])
    case_id = late_first_contact(api, drain, test_clock)
    meeting = ready(api, case_id, "ut_first_meeting")
    at(test_clock, "2026-01-05", "10:00")
    jokeri.post(f"/api/tasks/{meeting['id']}/claim", 200)
    jokeri.complete(meeting["id"], F3_MEETING)
    assert case(api, case_id)["data"]["D0"] == "2026-01-05"


TYM_PREPARE = {"clientInformed": True, "consultationUsed": False, "startedBy": "message",
               "reason": "Pitkä työttömyys, työkyvyn ja elämänhallinnan haasteita."}


def p7_case(api: Api, customer_id: str) -> dict[str, Any]:
    [tym] = [c for c in api.get("/api/process-instances",
                                params={"process_id": "tym_support"}).json()
             if case(api, c["id"])["data"]["customerId"] == customer_id]
    return case(api, tym["id"])


def test_f4_to_tym_and_back(alku: Api, ps_jns: Api, api: Api, drain: Any,
                            test_clock: Any) -> None:
    tym_officer = api.user("tym_jns_1", ["staff"], ["tym"])
    case_id = routed_basic(alku, api, test_clock, JOENSUU,
                           {**F2_MEETING, "routing": "tym"}, "2025-03-05")
    data = case(api, case_id)["data"]
    assert (data["processResponsibility"], data["tymReferralSource"]) == ("tym", "basic_services")
    # A tym_support case exists for the same customer, started by TymReferral
    tym = p7_case(api, "C-000602")
    assert (tym["data"]["referralSource"], tym["data"]["originCaseId"]) == \
        ("basic_services", "J-2025-000001")
    assert (tym["data"]["municipalityCode"], tym["data"]["referralDate"]) == ("167", "2025-03-05")
    [referral] = sent(api, case_id)["TymReferral"]
    assert referral["data"]["correlation"] == {}
    # P6 creates no conversation tasks while TYM is responsible
    at(test_clock, "2025-04-14")
    drain()
    assert open_ids(api, case_id) == []

    # P7: the initial team decides not_eligible on 2025-04-15 → TymEnded {not_accepted}
    at(test_clock, "2025-04-15", "10:00")
    tym_officer.complete(ready(tym_officer, tym["id"], "ut_prepare_referral")["id"],
                         {**TYM_PREPARE, "proposedMeetingDate": "2025-04-15"})
    tym_officer.complete(ready(tym_officer, tym["id"], "ut_initial_team")["id"], {
        "initialTeamDate": "2025-04-15", "meetingMode": "face_to_face",
        "attendees": ["tym_officer", "social_worker"], "decision": "not_eligible",
        "reasoning": "Peruspalvelut riittävät, ei monialaisen tuen tarvetta."})
    drain()
    assert case(api, tym["id"])["data"]["outcome"] == "not_accepted"
    data = case(api, case_id)["data"]
    assert (data["processResponsibility"], data["candidateTeam"], data["tymOutcome"]) == \
        ("basic", "ps_jns", "not_accepted")
    jsc = ready(ps_jns, case_id, "ut_job_search_conversation")
    assert (jsc["team"], due(jsc)) == ("ps_jns", "2025-05-02")
    assert open_ids(api, case_id) == ["ut_job_search_conversation"]  # no supplementary series
    assert [e["data"]["message"] for e in history(api, case_id)
            if e["type"] == "message_received"][-1] == "TymEnded"


def test_f5_suspension_by_a_work_trial(alku: Api, ps_jns: Api, api: Api, drain: Any,
                                       test_clock: Any) -> None:
    case_id = routed_basic(alku, api, test_clock, JOENSUU, F2_MEETING, "2025-03-05")
    slot1 = ready(ps_jns, case_id, "ut_supplementary_conversation")
    # A two-week training does not suspend the schedule
    at(test_clock, "2025-03-10")
    assert message(api, "ServiceStarted", "C-000602", serviceType="labour_market_training",
                   startDate="2025-03-10", expectedEndDate="2025-03-21") == [case_id]
    assert ready(ps_jns, case_id, "ut_supplementary_conversation")["id"] == slot1["id"]

    at(test_clock, "2025-03-18", "10:00")
    ps_jns.complete(slot1["id"], {**CONVERSATION, "meetingDate": "2025-03-18"})
    slot2 = ready(ps_jns, case_id, "ut_supplementary_conversation")
    assert due(slot2) == "2025-04-02"

    # ServiceStarted {work_trial, 2025-03-24, expected 2025-06-20} arrives 2025-03-20
    at(test_clock, "2025-03-20")
    assert message(api, "ServiceStarted", "C-000602", serviceType="work_trial",
                   startDate="2025-03-24", expectedEndDate="2025-06-20") == [case_id]
    data = case(api, case_id)["data"]
    assert (data["scheduleSuspended"], data["scheduleStopReason"]) == (True, "suspended")
    assert cancelled(api, case_id) == ["ut_supplementary_conversation"]
    assert open_ids(api, case_id) == []
    at(test_clock, "2025-06-19")
    drain()
    assert open_ids(api, case_id) == []  # no schedule task while suspended

    at(test_clock, "2025-06-20", "15:00")
    assert message(api, "ServiceEnded", "C-000602", serviceType="work_trial",
                   actualEndDate="2025-06-20") == [case_id]
    drain()
    jsc = ready(ps_jns, case_id, "ut_job_search_conversation")
    assert due(jsc) == "2025-07-04"
    assert open_ids(api, case_id) == ["ut_job_search_conversation"]  # series not resumed
    assert case(api, case_id)["data"]["scheduleSuspended"] is False

    at(test_clock, "2025-07-03", "10:00")
    ps_jns.complete(jsc["id"], {**CONVERSATION, "meetingDate": "2025-07-03",
                                "planReviewed": True})
    assert case(api, case_id)["data"]["nextJscDue"] == "2025-10-03"


F6_REGISTRATION = {"customerId": "C-000606", "personalId": "020504A902E",
                   "name": "Testi Kuusikuukautinen", "jobSearchStartDate": "2025-03-03",
                   "unemploymentStartDate": "2025-03-03", "municipalityCode": "167",
                   "employmentStatus": "unemployed", "language": "fi"}


def test_f6_six_months_of_unemployment(alku: Api, ps_jns: Api, api: Api, drain: Any,
                                       test_clock: Any) -> None:
    lead = api.user("ps_jns_lead", ["staff"], ["ps_jns.lead"])
    case_id = routed_basic(alku, api, test_clock, F6_REGISTRATION, F2_MEETING, "2025-03-05")
    assert case(api, case_id)["data"]["ageGroup"] == "under_30"  # born 2004
    # Slot 1 (due 2025-03-19) is never done: the lead is told, the window closes it
    fire_at(test_clock, drain, "2025-03-20", "00:00")
    assert notes(lead, "Myöhässä: täydentävä") == []
    drain()
    assert len(notes(lead, "Myöhässä: täydentävä")) == 1
    at(test_clock, "2025-06-06", "09:00")
    drain()
    data = case(api, case_id)["data"]
    assert (data["supplementaryActive"], data["supplementaryQuotaMissed"]) == (False, True)
    assert open_ids(api, case_id) == ["ut_job_search_conversation"]
    assert len(notes(lead, "Myöhässä: työnhakukeskustelu")) == 1  # due 2025-06-05

    # 2025-09-03 08:00: two extra supplementary conversations, due 2025-10-03
    fire_at(test_clock, drain, "2025-09-03", "08:00")
    assert open_ids(api, case_id) == ["ut_job_search_conversation"]
    drain()
    extras = [t for t in api.tasks(case_id) if t["element_id"] == "ut_supplementary_conversation"]
    assert [due(t) for t in extras] == ["2025-10-03", "2025-10-03"]
    assert {t["team"] for t in extras} == {"ps_jns"}
    data = case(api, case_id)["data"]
    assert (data["extraDue"], data["nextSixMonthDate"]) == ("2025-10-03", "2026-03-03")
    at(test_clock, "2025-09-10", "10:00")
    ps_jns.complete(extras[0]["id"], {**CONVERSATION, "meetingDate": "2025-09-10"})
    assert [t["id"] for t in api.tasks(case_id)
            if t["element_id"] == "ut_supplementary_conversation"] == [extras[1]["id"]]
    assert completed(api, case_id, "ut_supplementary_conversation")[0]["meetingDate"] == \
        "2025-09-10"
