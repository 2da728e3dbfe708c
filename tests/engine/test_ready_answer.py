"""The answer of a start or a completion shows the case's ready tasks as its save left them
(`engine.views.ready_tasks`), without reading them again: they must be exactly what a later
read of the case gives, and a task changed after the save must show its change."""

from __future__ import annotations

from typing import Any

from engine import runner, views
from engine.authorization import SYSTEM
from engine.db import Database
from tests.conftest import DATA, Api

SEVERAL = DATA / "candidates" / "several_teams.bpmn"
DUE = DATA / "services" / "due_task.bpmn"
PAIR = DATA / "parallel_pair.bpmn"


def _read_back(api: Api, answer: dict[str, Any]) -> list[dict[str, Any]]:
    return api.get(f"/api/process-instances/{answer['id']}").json()["ready_tasks"]


def test_the_answer_of_a_start_and_a_completion_equals_a_later_read(api: Api) -> None:
    api.deploy(SEVERAL)
    started = api.start("several_teams", {"candidateTeams": ["tym", "ps_kka", "jokerit"]})
    # Candidate teams in the database's order (primary team first, then by name)
    assert [t["candidate_teams"] for t in started["ready_tasks"]] == [
        ["tym", "jokerit", "ps_kka"]]
    assert started["ready_tasks"] == _read_back(api, started)
    task = started["ready_tasks"][0]["id"]
    done = api.post(f"/api/tasks/{task}/complete", 200, json={"data": {}}).json()
    assert [t["element_id"] for t in done["ready_tasks"]] == ["support"]
    assert done["ready_tasks"] == _read_back(api, done)


def test_a_due_date_in_the_answer_is_the_stored_one(api: Api) -> None:
    api.deploy(DUE)
    started = api.start("due_task", {"start": "2026-11-20"})
    [task] = started["ready_tasks"]
    assert task["due_at"] is not None and task["due_at"].endswith("+00:00")
    assert started["ready_tasks"] == _read_back(api, started)


def test_a_task_left_ready_by_a_completion_is_in_its_answer(api: Api) -> None:
    api.deploy(PAIR)
    started = api.start("parallel_pair")
    assert sorted(t["element_id"] for t in started["ready_tasks"]) == ["task_a", "task_b"]
    first = started["ready_tasks"][0]
    done = api.post(f"/api/tasks/{first['id']}/complete", 200, json={"data": {"a": 1}}).json()
    assert [t["id"] for t in done["ready_tasks"]] == [started["ready_tasks"][1]["id"]]
    assert done["ready_tasks"] == _read_back(api, done)


def test_a_task_changed_after_the_save_shows_its_change(db: Database, api: Api) -> None:
    api.deploy(SEVERAL)

    def start_then_claim(session: Any) -> list[Any]:
        row = runner.start_case(session, process_id="several_teams", principal=SYSTEM,
                                data={"candidateTeams": "tym"})
        [saved] = views.ready_tasks(session, row.id)
        assert saved.assignee is None
        runner.claim_task(session, task_id=saved.id, principal=SYSTEM)
        return views.ready_tasks(session, row.id)

    [claimed] = db.unit_of_work(start_then_claim)
    assert claimed.assignee == SYSTEM.username


def test_a_save_in_a_rolled_back_savepoint_is_not_shown(db: Database, api: Api) -> None:
    api.deploy(SEVERAL)

    def start_in_savepoint(session: Any) -> list[Any]:
        savepoint = session.begin_nested()
        row = runner.start_case(session, process_id="several_teams", principal=SYSTEM,
                                data={"candidateTeams": "tym"})
        assert len(views.ready_tasks(session, row.id)) == 1
        savepoint.rollback()
        return views.ready_tasks(session, row.id)

    assert db.unit_of_work(start_in_savepoint) == []
