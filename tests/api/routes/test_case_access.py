"""Who may see and start cases through the REST API: the same rules as the pages
(`engine.case_access`, `engine.starting`)."""

from __future__ import annotations

from tests.conftest import Api
from tests.pages.conftest import DATA

VALID = {"businessId": "2042869-6", "employerName": "Pikes Oy"}


def _deploy(api: Api) -> None:
    api.deploy(DATA / "page_intake.bpmn", DATA / "page_intake.start.schema.json",
               DATA / "page_intake.details.schema.json")


def test_staff_start_a_process_by_hand_only_in_its_start_lane_team(api: Api) -> None:
    _deploy(api)
    outsider = api.user("sami", ["staff"], ["start_services"])
    member = api.user("eija", ["staff"], ["employer_services"])
    owner = api.user("olli", ["process_owner"], [])

    outsider.post("/api/process-instances", 403,
                  json={"process_id": "page_intake", "data": VALID})
    assert api.get("/api/process-instances").json() == []

    member.start("page_intake", VALID)
    owner.start("page_intake", VALID)
    assert len(api.get("/api/process-instances").json()) == 2


def test_staff_see_only_cases_they_started_or_have_a_task_in(api: Api) -> None:
    _deploy(api)
    starter = api.user("eija", ["staff"], ["employer_services"])
    reviewer = api.user("sami", ["staff"], ["start_services"])
    stranger = api.user("ulla", ["staff"], ["tym"])
    auditor = api.user("aino", ["auditor"], [])
    case = starter.start("page_intake", VALID)

    # start_services has no task in it yet: the case does not exist for them.
    for user in (reviewer, stranger):
        user.get(f"/api/process-instances/{case['id']}", 404)
        user.get(f"/api/process-instances/{case['id']}/history", 404)
        assert user.get("/api/process-instances").json() == []
        assert user.get("/api/process-instances",
                        params={"search": "2042869-6"}).json() == []

    [task] = starter.tasks(case["id"])
    starter.complete(task["id"], {"jobTitle": "Hitsaaja", "positionsCount": 1,
                                  "startDate": "2099-01-01", "workTime": "day",
                                  "fullTime": True, "businessId": "2042869-6"})

    # Now its review task is start_services': they see the case, the stranger still does not.
    assert reviewer.get(f"/api/process-instances/{case['id']}").json()["id"] == case["id"]
    assert [c["id"] for c in reviewer.get("/api/process-instances").json()] == [case["id"]]
    stranger.get(f"/api/process-instances/{case['id']}", 404)
    assert [c["id"] for c in auditor.get("/api/process-instances").json()] == [case["id"]]
    auditor.get(f"/api/process-instances/{case['id']}/history")
