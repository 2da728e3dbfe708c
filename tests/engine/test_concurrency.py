"""Racing completions on one case, with real threads and real OS processes: one wins, the other
gets 409 or is retried safely, and no update is ever lost."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest
from sqlalchemy import func, select

from engine import audit, deploy, runner
from engine.authorization import SYSTEM, Principal
from engine.db import Database
from engine.errors import TaskNotReady
from engine.models import Event, HumanTask, ProcessInstance
from tests.conftest import DATA, at_once

ROUNDS = 6
ADMIN = Principal(None, "racer", frozenset({"admin"}), frozenset())


def _deploy_and_start(db: Database) -> tuple[int, dict[str, str]]:
    files = [(DATA / "parallel_pair.bpmn").name, (DATA / "parallel_pair.bpmn").read_bytes()]
    db.unit_of_work(lambda s: deploy.deploy(s, [tuple(files)], actor="test"))  # type: ignore[list-item]
    case_id = db.unit_of_work(lambda s: runner.start_case(
        s, process_id="parallel_pair", principal=SYSTEM).id)
    with db.reading() as s:
        tasks = s.scalars(select(HumanTask).where(HumanTask.instance_id == case_id)).all()
        return case_id, {t.element_id: t.id for t in tasks}


def _complete(db: Database, task_id: str, data: dict[str, Any]) -> str:
    try:
        db.unit_of_work(lambda s: runner.complete_task(s, task_id=task_id, data=data,
                                                       principal=ADMIN))
        return "ok"
    except TaskNotReady:
        return "409"


def _final(db: Database, case_id: int) -> tuple[str, dict[str, Any], int]:
    with db.reading() as s:
        row = s.get(ProcessInstance, case_id)
        completions = s.scalar(select(func.count()).select_from(Event).where(
            Event.instance_id == case_id, Event.type == audit.TASK_COMPLETED))
        assert row is not None
        return row.status, row.data, int(completions or 0)


def test_two_tasks_of_one_case_completed_at_once_in_threads_both_count(db: Database) -> None:
    for _ in range(ROUNDS):
        # Given a case with two parallel tasks
        case_id, tasks = _deploy_and_start(db)
        # When two threads complete them at the same moment
        results = at_once([
            lambda t=tasks: _complete(db, t["task_a"], {"a": 1}),
            lambda t=tasks: _complete(db, t["task_b"], {"b": 2}),
        ])
        # Then both succeed (the loser of the race is retried) and neither update is lost
        assert results == ["ok", "ok"]
        status, data, completions = _final(db, case_id)
        assert status == "completed" and data["total"] == 3 and completions == 2


def test_the_same_task_completed_by_many_threads_completes_once(db: Database) -> None:
    case_id, tasks = _deploy_and_start(db)
    results = at_once([
        (lambda i=i: _complete(db, tasks["task_a"], {"a": i})) for i in range(6)
    ])
    assert sorted(results) == ["409"] * 5 + ["ok"]
    winner = results.index("ok")
    status, data, completions = _final(db, case_id)
    assert status == "running" and completions == 1
    assert data["a"] == winner


def _process_worker(url: str, task_id: str, data: dict[str, Any], barrier: Any,
                    out: Any) -> None:
    db = Database(url)
    barrier.wait(30)
    out.put((task_id, _complete(db, task_id, data)))
    db.dispose()


@pytest.mark.parametrize("same_task", [False, True])
def test_racing_completions_from_separate_processes_lose_nothing(
    db: Database, database_url: str, same_task: bool,
) -> None:
    ctx = multiprocessing.get_context("spawn")
    for _ in range(3):
        case_id, tasks = _deploy_and_start(db)
        jobs = ([(tasks["task_a"], {"a": 10}), (tasks["task_a"], {"a": 20})] if same_task
                else [(tasks["task_a"], {"a": 10}), (tasks["task_b"], {"b": 20})])
        barrier = ctx.Barrier(len(jobs))
        out = ctx.Queue()
        procs = [ctx.Process(target=_process_worker, args=(database_url, t, d, barrier, out))
                 for t, d in jobs]
        for p in procs:
            p.start()
        results = [out.get(timeout=120)[1] for _ in procs]
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
        status, data, completions = _final(db, case_id)
        if same_task:
            assert sorted(results) == ["409", "ok"]
            assert status == "running" and completions == 1 and data["a"] in (10, 20)
        else:
            assert results == ["ok", "ok"]
            assert status == "completed" and data["total"] == 30 and completions == 2
