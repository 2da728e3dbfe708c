"""Several candidate teams per task (CONTRACT.md "Roles", PROCESSES.md §1.1 jokerit): a list-valued
candidateTeam, comma-separated camunda:candidateGroups, and the case operation
`add_candidate_team` that adds a team to an open (e.g. overdue) task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine import audit, candidates, clock, worklist
from engine.authorization import Principal
from engine.db import Database
from engine.models import HumanTask, Notification, ProcessInstance, TaskCandidate
from tests.conftest import DATA, Api

SEVERAL = DATA / "candidates" / "several_teams.bpmn"
OVERDUE = DATA / "candidates" / "overdue_jokerit.bpmn"


def listed(user: Api, **params: Any) -> list[str]:
    return [t["id"] for t in user.get("/api/tasks", params=params).json()]


def history(api: Api, case_id: int, kind: str) -> list[dict[str, Any]]:
    events = api.get(f"/api/process-instances/{case_id}/history").json()["events"]
    return [e for e in events if e["type"] == kind]


def test_team_names_of_a_candidate_team_value() -> None:
    assert candidates.team_names(["ps_kka", " jokerit ", "ps_kka", "", None]) == \
        ["ps_kka", "jokerit"]
    assert candidates.team_names("tym, Jokerit") == ["tym", "Jokerit"]
    assert candidates.team_names(("a", ["b", "a,c"])) == ["a", "b", "c"]
    assert candidates.team_names(None) == candidates.team_names("") == []


def test_a_list_valued_candidate_team_gives_every_team_the_task(api: Api) -> None:
    api.deploy(SEVERAL)
    kitee = api.user("kaisa", ["staff"], ["ps_kka"])
    jokeri = api.user("jonna", ["staff"], ["jokerit"])
    outsider = api.user("jussi", ["staff"], ["ps_jns"])

    # Given a task whose candidateTeam evaluates to two teams (the second by its name)
    case = api.start("several_teams", {"candidateTeams": ["ps_kka", "Jokerit"]})
    [task] = case["ready_tasks"]
    # Then the first is its primary team, both are candidates
    assert (task["team"], task["candidate_teams"]) == ("ps_kka", ["ps_kka", "jokerit"])
    [ready] = [e for e in history(api, case["id"], "task_ready")
               if e["element_id"] == "conversation"]
    assert ready["data"]["candidates"] == ["ps_kka", "jokerit"]

    # Both teams see it in their lists, and the team filter finds it by either team
    assert listed(kitee) == listed(jokeri) == [task["id"]]
    assert listed(api, team="jokerit") == listed(api, team="ps_kka") == [task["id"]]
    assert listed(jokeri, team="jokerit") == [task["id"]]
    assert listed(api, team="ps_jns") == []
    # A member of another team neither sees nor works on it
    assert listed(outsider) == [] and outsider.tasks(case["id"]) == []
    outsider.get(f"/api/tasks/{task['id']}", 404)
    outsider.post(f"/api/tasks/{task['id']}/claim", 403)
    outsider.complete(task["id"], {}, expect=403)
    outsider.get(f"/api/process-instances/{case['id']}", 404)

    # A member of the second team sees the case, claims and completes the task
    jokeri.get(f"/api/tasks/{task['id']}")
    assert [t["id"] for t in jokeri.get(f"/api/process-instances/{case['id']}")
            .json()["ready_tasks"]] == [task["id"]]
    claimed = jokeri.post(f"/api/tasks/{task['id']}/claim").json()
    assert claimed["assignee"] == "jonna"
    kitee.post(f"/api/tasks/{task['id']}/claim", 409)
    jokeri.complete(task["id"], {})
    done = api.get(f"/api/tasks/{task['id']}").json()
    assert (done["status"], done["completed_by"]) == ("completed", "jonna")
    assert listed(api, team="jokerit", status="completed") == [task["id"]]


def test_comma_separated_candidate_groups_as_in_camunda(api: Api) -> None:
    api.deploy(SEVERAL)
    tym = api.user("tuula", ["staff"], ["tym"])
    jokeri = api.user("jonna", ["staff"], ["jokerit"])
    kitee = api.user("kaisa", ["staff"], ["ps_kka"])
    case = api.start("several_teams", {"candidateTeams": "ps_kka"})
    [first] = case["ready_tasks"]
    assert first["candidate_teams"] == ["ps_kka"]
    kitee.complete(first["id"], {})

    # candidateGroups="tym, Jokerit": tym is the primary team, jokerit (by name) a candidate
    [support] = api.tasks(case["id"])
    assert (support["team"], support["candidate_teams"]) == ("tym", ["tym", "jokerit"])
    assert listed(tym) == listed(jokeri) == [support["id"]]
    assert listed(kitee) == []
    kitee.post(f"/api/tasks/{support['id']}/claim", 403)
    jokeri.complete(support["id"], {})
    assert api.get(f"/api/process-instances/{case['id']}").json()["status"] == "completed"


def test_the_worklist_counts_and_filters_the_tasks_of_every_candidate_team(
        api: Api, db: Database) -> None:
    api.deploy(SEVERAL)
    both = api.start("several_teams", {"candidateTeams": ["ps_kka", "jokerit"]})
    api.start("several_teams", {"candidateTeams": "ps_kka"})
    jokeri = Principal(None, "jonna", frozenset({"staff"}), frozenset({"jokerit"}))
    kitee = Principal(None, "kaisa", frozenset({"staff"}), frozenset({"ps_kka"}))
    with db.reading() as session:
        page = worklist.task_page(session, jokeri, worklist.Filters())
        assert (page.total, page.team, page.mine) == (1, 1, 0)
        assert worklist.task_page(session, kitee, worklist.Filters()).total == 2
        only = worklist.task_page(session, kitee, worklist.Filters(team="jokerit"))
        assert [r.task.instance_id for r in only.rows] == [both["id"]]


def test_an_overdue_task_gets_jokerit_once_and_its_alert_reaches_every_candidate_team(
        api: Api, db: Database, drain: Any, test_clock: Any) -> None:
    api.deploy(OVERDUE)
    alku = api.user("aino", ["staff"], ["start_services"])
    jokeri = api.user("jonna", ["staff"], ["jokerit"])
    due = clock.now() + timedelta(minutes=30)
    case = api.start("overdue_jokerit", {"dueAt": due.isoformat()})
    [task] = case["ready_tasks"]
    assert task["candidate_teams"] == ["start_services"]
    assert listed(jokeri) == [] and listed(alku) == [task["id"]]
    jokeri.post(f"/api/tasks/{task['id']}/claim", 403)

    # The due time passes: the overdue alert goes to the task's one team
    test_clock.advance(timedelta(minutes=31))
    drain()
    assert listed(jokeri) == []
    with db.reading() as session:
        assert session.scalars(select(Notification.team_id).where(
            Notification.task_id == task["id"], Notification.kind == "task_overdue")).all() \
            == ["start_services"]

    # The boundary timer fires: jokerit becomes a candidate, in the case history
    test_clock.advance(timedelta(minutes=30))
    drain()
    assert listed(jokeri) == [task["id"]] and listed(alku) == [task["id"]]
    assert listed(api, team="jokerit") == [task["id"]]
    detail = jokeri.get(f"/api/tasks/{task['id']}").json()
    assert (detail["team"], detail["candidate_teams"]) == \
        ("start_services", ["start_services", "jokerit"])
    [added] = history(api, case["id"], audit.TASK_CANDIDATE_ADDED)
    assert (added["element_id"], added["task_id"], added["data"]["team"]) == \
        ("ut_call", task["id"], "jokerit")
    data = api.get(f"/api/process-instances/{case['id']}").json()["data"]
    assert data["jokeritAdded"] == {"added": 1, "tasks": [task["id"]]}

    # It fires again an hour later: the team is not added twice
    test_clock.advance(timedelta(hours=1))
    drain()
    assert len(history(api, case["id"], audit.TASK_CANDIDATE_ADDED)) == 1
    with db.reading() as session:
        assert session.scalars(select(TaskCandidate.team).where(
            TaskCandidate.task_id == task["id"])).all() == ["jokerit"]
    data = api.get(f"/api/process-instances/{case['id']}").json()["data"]
    assert data["jokeritAdded"] == {"added": 0, "tasks": [task["id"]]}

    # A jokeri claims and completes it
    jokeri.post(f"/api/tasks/{task['id']}/claim")
    jokeri.complete(task["id"], {})
    assert api.get(f"/api/process-instances/{case['id']}").json()["status"] == "completed"


def test_due_and_overdue_alerts_reach_every_candidate_team(
        api: Api, db: Database, drain: Any, test_clock: Any) -> None:
    api.deploy(SEVERAL)
    case = api.start("several_teams", {"candidateTeams": ["ps_kka", "jokerit"]})
    [task] = case["ready_tasks"]
    due = clock.now() + timedelta(hours=1)

    def set_due(session: Any) -> None:
        session.get(HumanTask, task["id"]).due_at = due

    db.unit_of_work(set_due)
    drain()
    test_clock.advance(timedelta(hours=2))
    drain()
    with db.reading() as session:
        sent = sorted((n.kind, n.team_id) for n in session.scalars(
            select(Notification).where(Notification.task_id == task["id"])))
    assert sent == [("task_due_soon", "jokerit"), ("task_due_soon", "ps_kka"),
                    ("task_overdue", "jokerit"), ("task_overdue", "ps_kka")]



def test_add_candidate_team_only_to_overdue_tasks_and_only_known_teams(
        api: Api, db: Database, test_clock: Any) -> None:
    api.deploy(OVERDUE)
    due = clock.now() + timedelta(minutes=30)
    case = api.start("overdue_jokerit", {"dueAt": due.isoformat()})

    def add(**params: Any) -> Any:
        return db.unit_of_work(lambda s: candidates.add_candidate_team(
            s, s.get(ProcessInstance, case["id"]), params))

    with pytest.raises(ValueError, match="unknown team"):
        add(element="ut_call", team="no_such_team")
    with pytest.raises(ValueError, match="element"):
        add(team="jokerit")
    assert add(element="ut_call", team="jokerit", overdue=True)["added"] == 0
    assert add(element="no_such_task", team="jokerit") == {"added": 0, "tasks": []}
    test_clock.advance(timedelta(minutes=31))
    assert add(element="ut_call", team=["Jokerit", "tym"], overdue=True)["added"] == 2
    [task] = api.tasks(case["id"])
    assert task["candidate_teams"] == ["start_services", "jokerit", "tym"]


def test_a_tasks_further_candidate_rows_follow_it_when_it_ends(api: Api, db: Database) -> None:
    """The open task lists find further candidate teams through `task_candidates` rows of
    status 'ready' only (a partial index): a completed or cancelled task's rows follow it."""
    api.deploy(SEVERAL)
    jokeri = api.user("jonna", ["staff"], ["jokerit"])
    done = api.start("several_teams", {"candidateTeams": ["ps_kka", "jokerit"]})
    dropped = api.start("several_teams", {"candidateTeams": ["ps_kka", "jokerit"]})
    [done_task], [dropped_task] = done["ready_tasks"], dropped["ready_tasks"]

    def statuses() -> dict[str, str]:
        with db.reading() as session:
            return {r.task_id: r.status for r in session.scalars(
                select(TaskCandidate).where(TaskCandidate.team == "jokerit"))}

    assert statuses() == {done_task["id"]: "ready", dropped_task["id"]: "ready"}
    assert sorted(listed(jokeri)) == sorted([done_task["id"], dropped_task["id"]])

    jokeri.complete(done_task["id"], {})
    api.post(f"/api/process-instances/{dropped['id']}/cancel")
    # The completed case moved on to its next task, which jokerit is a candidate of too
    [support] = api.tasks(done["id"])
    assert statuses() == {done_task["id"]: "completed", dropped_task["id"]: "cancelled",
                          support["id"]: "ready"}
    assert listed(jokeri) == [support["id"]]
    with db.reading() as session:
        page = worklist.task_page(session, Principal(None, "jonna", frozenset({"staff"}),
                                                     frozenset({"jokerit"})), worklist.Filters())
        assert (page.total, [r.task.id for r in page.rows]) == (1, [support["id"]])
    assert listed(api, team="jokerit", status="completed") == [done_task["id"]]
    assert listed(api, team="jokerit", status="cancelled") == [dropped_task["id"]]
    # Whoever worked on a finished case still sees it (case access reads finished rows too)
    jokeri.get(f"/api/process-instances/{done['id']}")
