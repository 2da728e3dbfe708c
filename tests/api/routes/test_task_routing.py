"""A task's team: the lane's, or the one its candidateTeam / candidateGroups names
(PROCESSES.md §0.6); and its due date from a business-day expression."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.conftest import DATA, Api

MODEL = DATA / "routing" / "routing.bpmn"


def test_candidate_team_expression_routes_the_task_to_that_team_only(api: Api) -> None:
    # Given a model whose lane is personal_services but whose task names a team in a variable
    api.deploy(MODEL)
    kitee = api.user("kaisa", ["staff"], ["ps_kka"])
    joensuu = api.user("jussi", ["staff"], ["ps_jns"])

    # When a case starts with candidateTeam = ps_kka on the Thursday before Easter 2026
    case = api.start("routing", {"candidateTeam": "ps_kka", "contactDate": "2026-04-02"})

    # Then only the Kitee team sees the task, and it is due 5 business days later, end of day
    [task] = kitee.tasks(case["id"])
    assert (task["lane"], task["team"]) == ("personal_services", "ps_kka")
    due = datetime.fromisoformat(task["due_at"]).astimezone(ZoneInfo("Europe/Helsinki"))
    assert due.isoformat() == "2026-04-13T23:59:59+03:00"
    assert joensuu.tasks(case["id"]) == []
    joensuu.complete(task["id"], {}, expect=403)

    # When Kitee completes it, the next task goes to candidateGroups="tym"
    kitee.complete(task["id"], {})
    [support] = api.tasks(case["id"])
    assert support["team"] == "tym" and support["due_at"] is None


def test_a_failing_candidate_team_expression_stops_the_case_with_an_incident(api: Api) -> None:
    api.deploy(MODEL)
    case = api.start("routing", {"contactDate": "2026-04-02"})  # candidateTeam is missing
    assert case["status"] == "error" and case["ready_tasks"] == []
    [incident] = api.get("/api/incidents", params={"instance_id": case["id"]}).json()
    assert incident["element_id"] == "conversation"
    assert "candidateTeam" in incident["message"]
