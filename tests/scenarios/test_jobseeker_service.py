"""P6 jobseeker start and service process (`jobseeker_service`): the acceptance scenarios F1–F7
of PROCESSES.md, with P7 (`tym_support`) and P8 (`integration_plan`) running for real where
the scenarios cross processes (F4, F7, the integration tests), plus the cross-process messages
of §3 that P6 catches or sends.

How the model works around the platform:
- a task's team is `candidateTeam`, evaluated when it becomes ready: an overdue task notifies
  `<team>.lead` (`start_services.lead` for the first contact, which also sets
  `firstContactLate`) and gets `jokerit` as a further candidate team (the case operation
  `add_candidate_team`; for the conversations only the tasks of that element whose due date
  has passed, as an element id cannot tell a slot from a six-month extra);
- the platform prunes finished tasks and re-hangs a still-waiting task on an older ancestor;
  SpiffWorkflow re-merges the parent's data into a waiting task when it fires, so a timer or
  message catch reached a second time in a loop fired with stale data (seen: the second
  3-monthly conversation got the first one's due date). Every wait that a loop reaches again
  therefore sits in its own small sub-process (`sp_wait_*`), which starts from a copy of the
  current data;
- messages that may arrive at any time (ad hoc conversation, hired notice, change-security
  context, integration plan summary, end of the job search) are caught in case-wide parallel
  branches that loop; parallel branches carry their own data, so these branches address the
  basic-services team of the customer's area (`ps_<area>`), not the responsible officer, and an
  ad hoc conversation is its own task `ut_adhoc_conversation` (form F6.4, `meetingType =
  adhoc_conversation`) because an element id is unique in a model; `HiredNotice` and the
  TYM/integration outcomes share `ut_confirm_employment`;
- `sp_schedule` runs the supplementary series, the 3-monthly conversation, the six-month
  extras and the listeners for ServiceStarted / IntegrationEnded / TymEnded as parallel
  branches and stops through a terminate end with `scheduleExit` (suspended, routing change,
  integration ended). Cancelled tasks are history `task_cancelled` events; the reason is the
  case variable `scheduleStopReason` (the platform keeps no reason per task). When the schedule
  starts again (routing change, end of integration) the next supplementary slot and the next
  3-monthly date are recomputed from D0 and today; ServiceStarted, TymEnded and IntegrationEnded
  that arrive while no schedule or wait listens for them are unmatched-message incidents;
- a case's `data` merges the parallel branches, so meeting fields there (e.g. `meetingType`)
  may come from another branch: the Meeting records are the completed tasks' submitted data;
- `ChangeSecurityJobseekerRegistered` is sent whenever `dismissedByBusinessId` is set (no
  script function can see whether a `change_security` case is open for that employer);
- a booking confirmation (outbox, to `jobseeker`) is sent for the initial interview booked in
  F6.1; F6.2–F6.4 carry no booking data;
- F6.1 cannot check that `responsibleOfficer` is a member of `ps_<area>` (a non-member as
  assignee is ignored, the task stays with the team) nor that a service point is active on the
  meeting date, and `informedChangeSecurity` is optional (a form rule cannot read the case's
  `dismissedByBusinessId`).
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
    history,
    local,
    notes,
    open_ids,
    ready,
    sent,
)

P6 = "jobseeker_service"




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
    late_booking = {**F1_MEETING["initialInterviewBooking"], "date": "2025-04-29"}
    answer = alku.complete(meeting["id"], {**F1_MEETING, "initialInterviewBooking": late_booking},
                           expect=422)
    assert fields(answer) == {"initialInterviewBooking.date"}  # after 2025-04-28
    no_booking = {k: v for k, v in F1_MEETING.items() if k != "initialInterviewBooking"}
    answer = alku.complete(meeting["id"], no_booking, expect=422)
    assert fields(answer) == {"initialInterviewBooking"}
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


def test_f3_a_jokeri_completes_the_overdue_first_meeting(
        catalogue: Any, api: Api, drain: Any, test_clock: Any) -> None:
    jokeri = api.user("jokeri_1", ["staff"], ["jokerit"])
    at(test_clock, "2025-12-22")
    case_id = start(api, **F3_REGISTRATION)
    fire_at(test_clock, drain, "2026-01-03", "00:00")
    assert jokeri.tasks(case_id) == []  # not before the first contact is late
    drain()
    meeting = ready(jokeri, case_id, "ut_first_meeting")
    assert (meeting["team"], meeting["candidate_teams"]) == \
        ("start_services", ["start_services", "jokerit"])
    [added] = [e for e in history(api, case_id) if e["type"] == "task_candidate_added"]
    assert (added["element_id"], added["data"]["team"]) == ("ut_first_meeting", "jokerit")
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
    slot = ready(api, case_id, "ut_supplementary_conversation")
    assert slot["candidate_teams"] == ["ps_jns", "jokerit"]  # jokerit may take it
    at(test_clock, "2025-06-06", "09:00")
    drain()
    data = case(api, case_id)["data"]
    assert (data["supplementaryActive"], data["supplementaryQuotaMissed"]) == (False, True)
    assert open_ids(api, case_id) == ["ut_job_search_conversation"]
    assert len(notes(lead, "Myöhässä: työnhakukeskustelu")) == 1  # due 2025-06-05
    assert ready(api, case_id, "ut_job_search_conversation")["candidate_teams"] == \
        ["ps_jns", "jokerit"]

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


G1_REGISTRATION = {"customerId": "C-000701", "personalId": "190868-972L",
                   "name": "Testi Outokumpulainen", "jobSearchStartDate": "2025-03-10",
                   "municipalityCode": "309", "employmentStatus": "unemployed", "language": "fi"}
G1_MEETING = first_meeting("2025-03-10", meetingType="initial_interview",
                           meetingMode="face_to_face", servicePointCode="SP-309", routing="tym")


def test_f7_tym_ends_with_studies(alku: Api, api: Api, drain: Any, test_clock: Any) -> None:
    ps_jse = api.user("ps_jse_1", ["staff"], ["ps_jse"])
    tym_officer = api.user("tym_jse_1", ["staff"], ["tym"])
    case_id = routed_basic(alku, api, test_clock, G1_REGISTRATION, G1_MEETING, "2025-03-10")
    assert case(api, case_id)["data"]["processResponsibility"] == "tym"
    # G1 in P7: referral 2025-03-10, initial team 2025-03-18, network meeting 2025-05-27
    tym_id = p7_case(api, "C-000701")["id"]
    at(test_clock, "2025-03-18", "10:00")
    tym_officer.complete(ready(tym_officer, tym_id, "ut_prepare_referral")["id"],
                         {**TYM_PREPARE, "proposedMeetingDate": "2025-03-18"})
    tym_officer.complete(ready(tym_officer, tym_id, "ut_initial_team")["id"], {
        "initialTeamDate": "2025-03-18", "meetingMode": "face_to_face",
        "attendees": ["tym_officer", "social_worker"], "decision": "accept",
        "tymOfficer": "tym_jse_1", "partnerWorkerName": "Sosiaaliohjaaja Laine",
        "partnerOrg": "wellbeing_county",
        "reasoning": "Tarvitsee yhteensovitettuja palveluja työllistyäkseen."})
    at(test_clock, "2025-05-27", "10:00")
    tym_officer.complete(ready(tym_officer, tym_id, "ut_network_meeting")["id"], {
        "networkMeetingDate": "2025-05-27", "attendees": ["client", "tym_officer", "social_worker"],
        "planDate": "2025-05-27", "services": ["education"], "jobSearchObligation": "none",
        "monitoring": "Seuranta 3 kk välein."})
    at(test_clock, "2026-02-02", "09:00")
    drain()
    assert open_ids(api, case_id) == []  # TYM's plan updates replace P6's conversations

    # F7.6 on 2026-02-02 with outcome studies → TymEnded {studies}
    assert message(api, "TymClientSituationChanged", "C-000701", reason="studies") == [tym_id]
    tym_officer.complete(ready(tym_officer, tym_id, "ut_final_assessment")["id"], {
        "endDate": "2026-02-02", "outcome": "studies",
        "summary": "Asiakas aloittaa ammatillisen koulutuksen; TYM-palvelu päätetty "
                   "työparin kanssa."})
    data = case(api, case_id)["data"]
    assert (data["processResponsibility"], data["candidateTeam"], data["tymOutcome"]) == \
        ("basic", "ps_jse", "studies")
    jsc = ready(ps_jse, case_id, "ut_job_search_conversation")
    assert (jsc["team"], due(jsc)) == ("ps_jse", "2026-02-16")
    confirm = ready(ps_jse, case_id, "ut_confirm_employment")
    assert confirm["team"] == "ps_jse"
    assert (data["endReason"], data["endDate"]) == ("studies", "2026-02-02")  # prefilled

    answer = ps_jse.complete(confirm["id"], {"employed": False, "jobSearchEnds": True},
                             expect=422)
    assert fields(answer) == {"endReason", "endDate"}
    ps_jse.complete(confirm["id"], {"employed": False, "jobSearchEnds": True,
                                    "endReason": "studies", "endDate": "2026-02-02"})
    done = case(api, case_id)
    assert (done["status"], done["data"]["endReason"]) == ("completed", "studies")
    assert "ut_job_search_conversation" in cancelled(api, case_id)


def test_f7_tym_ends_not_reachable(alku: Api, api: Api, drain: Any, test_clock: Any) -> None:
    ps_jse = api.user("ps_jse_1", ["staff"], ["ps_jse"])
    case_id = routed_basic(alku, api, test_clock, G1_REGISTRATION, G1_MEETING, "2025-03-10")
    at(test_clock, "2026-02-02", "09:00")
    drain()
    assert message(api, "TymEnded", "C-000701", outcome="not_reachable") == [case_id]
    jsc = ready(ps_jse, case_id, "ut_job_search_conversation")
    assert (jsc["team"], due(jsc)) == ("ps_jse", "2026-02-16")
    assert open_ids(api, case_id) == ["ut_job_search_conversation"]
    # The cycle goes on from the held conversation
    at(test_clock, "2026-02-10", "10:00")
    ps_jse.complete(jsc["id"], {**CONVERSATION, "meetingDate": "2026-02-10",
                                "planReviewed": True})
    assert case(api, case_id)["data"]["nextJscDue"] == "2026-05-10"


H3_REGISTRATION = {"customerId": "C-000803", "personalId": "141199-945X",
                   "name": "Testi Maahanmuuttaja", "jobSearchStartDate": "2025-04-07",
                   "municipalityCode": "167", "employmentStatus": "unemployed", "language": "so",
                   "firstResidencePermitDate": "2020-05-01"}


def test_integration_referral_and_not_eligible_back_to_basic_services(
        alku: Api, ps_jns: Api, api: Api, drain: Any, test_clock: Any) -> None:
    """P6 routes to integration services without a meeting; P8 (H3) finds the customer not
    eligible: IntegrationFirstMeetingHeld sets D0, IntegrationEnded {to_basic_services} moves
    the schedule to ps_jns."""
    int_officer = api.user("ip_joensuu_1", ["staff"], ["integration_services"])
    case_id = routed_basic(alku, api, test_clock, H3_REGISTRATION, {
        "contactAttempts": [{"date": "2025-04-07", "channel": "phone", "reached": True}],
        "meetingHeld": False, "routing": "integration"}, "2025-04-07")
    data = case(api, case_id)["data"]
    assert (data["processResponsibility"], data["candidateTeam"]) == \
        ("integration", "integration_services")
    [p8] = api.get("/api/process-instances", params={"process_id": "integration_plan"}).json()
    p8_data = case(api, p8["id"])["data"]
    assert (p8_data["customerId"], p8_data["firstMeetingDue"], p8_data["initialInterviewHeld"]) \
        == ("C-000803", "2025-04-14", False)
    assert (p8_data["interpreterNeeded"], p8_data["originCaseId"]) == (False, "J-2025-000001")

    at(test_clock, "2025-04-09", "10:00")
    int_officer.complete(ready(int_officer, p8["id"], "ut_integration_first_meeting")["id"], {
        "meetingDate": "2025-04-09", "meetingMode": "face_to_face", "servicePointCode": "SP-167",
        "interpreterUsed": False, "dataChecked": True, "labourPolicyStatement": "not_needed",
        "informedObligations": True, "eligibleForIntegrationPlan": False,
        "notEligibleReason": "no_right"})
    data = case(api, case_id)["data"]
    assert (data["D0"], data["initialInterviewDate"]) == ("2025-04-09", "2025-04-09")
    assert (data["processResponsibility"], data["candidateTeam"], data["integrationOutcome"]) == \
        ("basic", "ps_jns", "to_basic_services")
    slot = ready(ps_jns, case_id, "ut_supplementary_conversation")
    assert (slot["team"], due(slot)) == ("ps_jns", "2025-04-25")
    assert "ut_supplementary_conversation" in cancelled(api, case_id)  # was integration's


def integration_case(alku: Api, api: Api, clock: Any, customer_id: str) -> int:
    return routed_basic(alku, api, clock, {**H3_REGISTRATION, "customerId": customer_id},
                        first_meeting("2025-04-08", meetingType="initial_interview",
                                      meetingMode="phone", routing="integration"),
                        "2025-04-08")


def test_integration_ends_with_tym_and_with_employment(
        alku: Api, ps_jns: Api, api: Api, drain: Any, test_clock: Any) -> None:
    # Before P8's first meeting: IntegrationEnded {tym} → TymReferral from integration services
    first = integration_case(alku, api, test_clock, "C-000804")
    assert message(api, "IntegrationEnded", "C-000804", outcome="tym") == [first]
    data = case(api, first)["data"]
    assert (data["processResponsibility"], data["tymReferralSource"]) == \
        ("tym", "integration_services")
    assert p7_case(api, "C-000804")["data"]["referralSource"] == "integration_services"

    # P8 held a supplementary conversation (P6 held the initial interview): the schedule runs
    # in integration services; IntegrationEnded {employed} → basic services and confirmation
    second = integration_case(alku, api, test_clock, "C-000805")
    assert case(api, second)["data"]["initialInterviewHeld"] is True
    assert message(api, "IntegrationFirstMeetingHeld", "C-000805",
                   meetingType="supplementary_conversation", meetingDate="2025-04-10") == [second]
    assert ready(api, second, "ut_supplementary_conversation")["team"] == "integration_services"
    assert message(api, "IntegrationPlanCreated", "C-000805", planDate="2025-04-20",
                   planType="integration_plan", services=["integration_training_online"],
                   jobSearchObligationPerMonth=2, planValidUntil="2026-04-19") == [second]
    assert case(api, second)["data"]["integrationPlan"]["jobSearchObligationPerMonth"] == 2
    at(test_clock, "2025-05-05")
    assert message(api, "IntegrationEnded", "C-000805", outcome="employed") == [second]
    data = case(api, second)["data"]
    assert (data["candidateTeam"], data["endReason"], data["employed"]) == \
        ("ps_jns", "employed", True)
    assert ready(api, second, "ut_supplementary_conversation")["team"] == "ps_jns"
    confirm = ready(ps_jns, second, "ut_confirm_employment")
    ps_jns.complete(confirm["id"], {"employed": True, "employmentStartDate": "2025-05-12",
                                    "jobSearchEnds": False})
    assert case(api, second)["status"] == "running"
    assert "ut_confirm_employment" not in open_ids(api, second)


def test_routing_changes_in_conversations(alku: Api, ps_kka: Api, api: Api, drain: Any,
                                          test_clock: Any) -> None:
    int_officer = api.user("ip_kitee_1", ["staff"], ["integration_services"])
    case_id = routed_basic(alku, api, test_clock, KITEE, F1_MEETING, "2025-04-17")
    # The initial interview moves the customer to supported employment
    at(test_clock, "2025-04-24", "10:00")
    ps_kka.complete(ready(ps_kka, case_id, "ut_initial_interview")["id"], {
        "meetingDate": "2025-04-24", "meetingMode": "face_to_face", "servicePointCode": "SP-260",
        "planReviewed": True, "jobSearchObligationPerMonth": 4,
        "routingChange": "basic_supported"})
    data = case(api, case_id)["data"]
    assert (data["routing"], data["serviceLine"], data["D0"]) == \
        ("basic_supported", "supported", "2025-04-24")
    # Slot 1 routes to integration services: P8 starts, its first meeting restarts the schedule
    slot = ready(ps_kka, case_id, "ut_supplementary_conversation")
    at(test_clock, "2025-05-08", "10:00")
    ps_kka.complete(slot["id"], {**CONVERSATION, "meetingDate": "2025-05-08",
                                 "routingChange": "integration"})
    data = case(api, case_id)["data"]
    assert (data["processResponsibility"], data["scheduleStopReason"]) == \
        ("integration", "routing_change")
    [p8] = api.get("/api/process-instances", params={"process_id": "integration_plan"}).json()
    assert case(api, p8["id"])["data"]["initialInterviewHeld"] is True
    at(test_clock, "2025-05-12", "10:00")
    int_officer.complete(ready(int_officer, p8["id"], "ut_integration_first_meeting")["id"], {
        "meetingDate": "2025-05-12", "meetingMode": "phone", "interpreterUsed": False,
        "dataChecked": True, "labourPolicyStatement": "not_needed", "informedObligations": True,
        "eligibleForIntegrationPlan": True})
    slot = ready(int_officer, case_id, "ut_supplementary_conversation")
    assert (slot["team"], due(slot)) == ("integration_services", "2025-05-23")
    # Back to basic services: IntegrationServiceNeedEnded goes to P8
    at(test_clock, "2025-05-20", "10:00")
    int_officer.complete(slot["id"], {**CONVERSATION, "meetingDate": "2025-05-20",
                                      "routingChange": "basic_placement"})
    [need_ended] = sent(api, case_id)["IntegrationServiceNeedEnded"]
    assert need_ended["data"]["correlation"] == {"customerId": "C-000601"}
    data = case(api, case_id)["data"]
    assert (data["processResponsibility"], data["candidateTeam"], data["serviceLine"]) == \
        ("basic", "ps_kka", "placement")
    assert ready(ps_kka, case_id, "ut_supplementary_conversation")["team"] == "ps_kka"


def test_messages_at_any_time_hired_adhoc_change_security_and_end(
        alku: Api, ps_jns: Api, api: Api, drain: Any, test_clock: Any) -> None:
    lead = api.user("ps_jns_lead", ["staff"], ["ps_jns.lead"])
    case_id = routed_basic(alku, api, test_clock, JOENSUU, F2_MEETING, "2025-03-05")
    # HiredNotice from P3: the team confirms; the job search goes on
    at(test_clock, "2025-03-06")
    assert message(api, "HiredNotice", "C-000602", businessId="7654321-2",
                   startDate="2025-03-17") == [case_id]
    drain()
    [note] = notes(ps_jns, "Työllistyminen esittelyn kautta")
    assert "7654321-2" in note["body"]
    confirm = ready(ps_jns, case_id, "ut_confirm_employment")
    data = case(api, case_id)["data"]
    assert (data["endReason"], data["employmentStartDate"]) == ("employed", "2025-03-17")
    answer = ps_jns.complete(confirm["id"], {"employed": True, "jobSearchEnds": False},
                             expect=422)
    assert fields(answer) == {"employmentStartDate"}
    ps_jns.complete(confirm["id"], {"employed": True, "employmentStartDate": "2025-03-17",
                                    "jobSearchEnds": False})
    assert "ut_confirm_employment" not in open_ids(api, case_id)

    # An ad hoc conversation (due in adhocConversationBd = 5 bd); late → the lead is told
    at(test_clock, "2025-03-07")
    assert message(api, "AdHocConversationRequested", "C-000602",
                   reason="Työtarjouksesta kieltäytyminen") == [case_id]
    adhoc = ready(ps_jns, case_id, "ut_adhoc_conversation")
    assert (adhoc["team"], due(adhoc)) == ("ps_jns", "2025-03-14")
    fire_at(test_clock, drain, "2025-03-15", "00:00")
    assert notes(lead, "Myöhässä: tilannekohtainen") == []
    drain()
    assert len(notes(lead, "Myöhässä: tilannekohtainen")) == 1
    at(test_clock, "2025-03-17", "10:00")
    ps_jns.complete(adhoc["id"], {**CONVERSATION, "meetingDate": "2025-03-17",
                                  "meetingMode": "face_to_face", "servicePointCode": "SP-167",
                                  "planReviewed": True})
    [record] = completed(api, case_id, "ut_adhoc_conversation")
    assert record["meetingMode"] == "face_to_face"
    assert case(api, case_id)["data"]["adhocHeld"] is True

    # ChangeSecurityContext from P5w: stored, the team gets a note
    assert message(api, "ChangeSecurityContext", "C-000602", changeCaseId="M-2025-000001",
                   eligible55=False, registrationDeadline55=None,
                   employmentEndDate="2025-03-31", employmentLeaveDays=10) == [case_id]
    drain()
    data = case(api, case_id)["data"]
    assert (data["changeSecurityCaseId"], data["employmentLeaveDays"]) == ("M-2025-000001", 10)
    assert notes(ps_jns, "Muutosturva: J-2025-000001")

    # JobSearchEnded ends the case from any state and cancels its tasks
    at(test_clock, "2025-03-20")
    assert message(api, "JobSearchEnded", "C-000602", endReason="moved_away",
                   endDate="2025-03-20") == [case_id]
    done = case(api, case_id)
    assert (done["status"], done["data"]["endReason"], done["data"]["endDate"]) == \
        ("completed", "moved_away", "2025-03-20")
    assert "ut_supplementary_conversation" in cancelled(api, case_id)
    assert api.tasks(case_id) == []


def test_stray_tym_and_integration_ends_and_a_job_search_conversation_to_tym(
        alku: Api, ps_jns: Api, api: Api, drain: Any, test_clock: Any) -> None:
    """An at-risk customer (no unemployment start: no six-month extras). TymEnded and
    IntegrationEnded while basic services are responsible are stored and noted; a routing
    change in the job-search conversation sends the customer to TYM."""
    at_risk = {**JOENSUU, "customerId": "C-000607", "employmentStatus": "at_risk_of_unemployment"}
    case_id = routed_basic(alku, api, test_clock, at_risk, F2_MEETING, "2025-03-05")
    data = case(api, case_id)["data"]
    assert (data["requiresSchedule"], data["unemploymentStartDate"]) == (True, None)
    assert message(api, "TymEnded", "C-000607", outcome="returned_to_basic_services") == \
        [case_id]
    assert message(api, "IntegrationEnded", "C-000607", outcome="other") == [case_id]
    drain()
    data = case(api, case_id)["data"]
    assert (data["strayTymOutcome"], data["strayIntegrationOutcome"]) == \
        ("returned_to_basic_services", "other")
    assert (data["processResponsibility"], data["candidateTeam"]) == ("basic", "ps_jns")
    assert notes(ps_jns, "TYM päättyi") and notes(ps_jns, "Kotoutumispalvelut päättyivät")

    at(test_clock, "2025-05-21", "09:00")
    drain()
    jsc = ready(ps_jns, case_id, "ut_job_search_conversation")
    ps_jns.complete(jsc["id"], {**CONVERSATION, "meetingDate": "2025-05-21",
                                "planReviewed": True, "routingChange": "tym"})
    data = case(api, case_id)["data"]
    assert (data["processResponsibility"], data["routing"]) == ("tym", "tym")
    assert p7_case(api, "C-000607")["data"]["originCaseId"] == "J-2025-000001"
    assert open_ids(api, case_id) == []


def test_manual_start_validation_referrals_and_change_security(
        alku: Api, api: Api, drain: Any, test_clock: Any) -> None:
    at(test_clock, "2025-09-01")
    manual = {**F6_REGISTRATION, "customerId": "C-000608", "jobSearchStartDate": "2025-09-01",
              "unemploymentStartDate": None, "dismissedByBusinessId": "7654321-2"}
    del manual["unemploymentStartDate"]
    answer = alku.post("/api/process-instances", 422, json={
        "process_id": P6, "data": {**manual, "personalId": "010594Y9033"}})
    assert fields(answer) == {"personalId"}
    no_id = {k: v for k, v in manual.items() if k != "personalId"}
    answer = alku.post("/api/process-instances", 422, json={"process_id": P6, "data": no_id})
    assert fields(answer) == {"personalId"}
    answer = alku.post("/api/process-instances", 422, json={
        "process_id": P6, "data": {**manual, "dismissedByBusinessId": "7654321-3"}})
    assert fields(answer) == {"dismissedByBusinessId"}
    case_id = int(alku.start(P6, {**no_id, "birthDate": "2004-05-02"})["id"])
    data = case(api, case_id)["data"]
    assert (data["startedBy"], data["originActor"], data["unemploymentStartDate"]) == \
        ("manual", "alku_1", "2025-09-01")
    # Dismissed by 7654321-2: P6 tells P5 (no open change_security case for it here)
    [registered] = sent(api, case_id)["ChangeSecurityJobseekerRegistered"]
    assert registered["data"]["correlation"] == {"businessId": "7654321-2"}
    assert [i["details"]["payload"]["customerId"] for i in api.get("/api/incidents").json()
            if i["kind"] == "unmatched_message"
            and i["details"]["name"] == "ChangeSecurityJobseekerRegistered"] == ["C-000608"]

    at(test_clock, "2025-09-02", "10:00")
    alku.complete(ready(alku, case_id, "ut_first_meeting")["id"], first_meeting(
        "2025-09-02", meetingType="initial_interview", meetingMode="phone",
        routing="basic_placement", responsibleOfficer="ps_jns_1", informedChangeSecurity=True,
        referrals=["career_guidance", "entrepreneurship_coach"]))
    drain()
    steps = {e["element_id"] for e in history(api, case_id) if e["type"] == "step_completed"}
    assert {"st_refer_career", "st_refer_coach"} <= steps
    assert case(api, case_id)["data"]["ageGroup"] is None  # no personal identity code


def test_part_time_jobseeker_has_no_conversation_schedule(
        alku: Api, ps_jns: Api, api: Api, drain: Any, test_clock: Any) -> None:
    part_time = {**JOENSUU, "customerId": "C-000609", "employmentStatus": "part_time"}
    case_id = routed_basic(alku, api, test_clock, part_time, F2_MEETING, "2025-03-05")
    data = case(api, case_id)["data"]
    assert (data["requiresSchedule"], data["processResponsibility"], data["D0"]) == \
        (False, "basic", "2025-03-05")
    at(test_clock, "2025-09-05")
    drain()
    assert open_ids(api, case_id) == []
    assert case(api, case_id)["status"] == "waiting"  # open until the job search ends
    assert message(api, "JobSearchEnded", "C-000609", endReason="not_renewed",
                   endDate="2025-09-05") == [case_id]
    assert case(api, case_id)["status"] == "completed"


def test_g2_self_referral_not_eligible_reaches_the_open_job_search_case(
        alku: Api, api: Api, drain: Any, test_clock: Any) -> None:
    """P7 G2 with a real P6 case: the customer's job-search case in Juuka (basic services)
    stores the TYM outcome that arrives while TYM is not responsible and notes its team."""
    ps_pka = api.user("ps_pka_1", ["staff"], ["ps_pka"])
    tym_officer = api.user("tym_pka_1", ["staff"], ["tym"])
    juuka = {**JOENSUU, "customerId": "C-000702", "personalId": "120770-902J",
             "municipalityCode": "176", "jobSearchStartDate": "2025-04-01"}
    case_id = routed_basic(alku, api, test_clock, juuka, first_meeting(
        "2025-04-02", meetingType="initial_interview", meetingMode="phone",
        routing="basic_placement", responsibleOfficer="ps_pka_1"), "2025-04-02")
    at(test_clock, "2025-04-07")
    tym_id = int(tym_officer.start("tym_support", {
        "customerId": "C-000702", "municipalityCode": "176", "referralSource": "self",
        "reason": "Asiakas hakeutuu itse monialaiseen palveluun terveyssyistä.",
        "isJobseeker": True})["id"])
    tym_officer.complete(ready(tym_officer, tym_id, "ut_prepare_referral")["id"], {
        "clientInformed": True, "startedBy": "manual", "proposedMeetingDate": "2025-04-15"})
    at(test_clock, "2025-04-15", "10:00")
    tym_officer.complete(ready(tym_officer, tym_id, "ut_initial_team")["id"], {
        "initialTeamDate": "2025-04-15", "meetingMode": "video",
        "attendees": ["tym_officer", "social_worker"], "decision": "not_eligible",
        "reasoning": "Ei monialaisen tuen tarvetta, peruspalvelut riittävät."})
    assert case(api, tym_id)["data"]["outcome"] == "not_accepted"
    drain()
    data = case(api, case_id)["data"]
    assert (data["strayTymOutcome"], data["processResponsibility"]) == ("not_accepted", "basic")
    assert notes(ps_pka, "TYM päättyi")
    assert ready(ps_pka, case_id, "ut_supplementary_conversation")["team"] == "ps_pka"
