"""Cases that loop hundreds of times complete, and their stored state does not grow.

SpiffWorkflow's own lookups stop at tree depth 1000 (notes/spiffworkflow.md §1a); Virta lifts
the limit and prunes finished rounds, so round 400 is as cheap to store as round 10.
"""

from __future__ import annotations

from sqlalchemy import select

from engine import deploy, runner
from engine.authorization import SYSTEM
from engine.db import Database
from engine.models import HumanTask, ProcessInstance
from tests.conftest import DATA


def _setup(db: Database, filename: str, process_id: str, target: int) -> int:
    content = (DATA / filename).read_bytes()
    db.unit_of_work(lambda s: deploy.deploy(s, [(filename, content)], actor="test"))
    return db.unit_of_work(lambda s: runner.start_case(
        s, process_id=process_id, principal=SYSTEM, data={"target": target}).id)


def _ready(db: Database, case_id: int) -> list[tuple[str, str]]:
    with db.reading() as s:
        return [(t.id, t.element_id) for t in s.scalars(select(HumanTask).where(
            HumanTask.instance_id == case_id, HumanTask.status == "ready"))]


def _complete(db: Database, task_id: str, data: dict[str, object]) -> None:
    db.unit_of_work(lambda s: runner.complete_task(s, task_id=task_id, data=data,
                                                   principal=SYSTEM))


def _case(db: Database, case_id: int) -> tuple[str, dict[str, object], int]:
    """Status, data and stored state size of a case."""
    with db.reading() as s:
        row = s.get(ProcessInstance, case_id)
        assert row is not None
        return row.status, row.data, len(row.state)


def test_a_400_round_loop_completes_with_a_state_that_does_not_grow(db: Database) -> None:
    case_id = _setup(db, "loop.bpmn", "loop", 400)
    sizes = {}
    for round_no in range(1, 401):
        [(task_id, element)] = _ready(db, case_id)
        assert element == "follow_up"
        _complete(db, task_id, {"note": "ok"})
        if round_no in (10, 399):
            sizes[round_no] = _case(db, case_id)[2]
    status, data, _size = _case(db, case_id)
    assert status == "completed" and data["rounds"] == 400
    assert sizes[399] <= sizes[10] * 1.05


def test_a_loop_with_parallel_branches_merges_both_branches_every_round(db: Database) -> None:
    case_id = _setup(db, "parallel_loop.bpmn", "parallel_loop", 150)
    sizes = {}
    for round_no in range(1, 151):
        ready = dict((e, t) for t, e in _ready(db, case_id))
        assert set(ready) == {"task_a", "task_b"}, round_no
        _complete(db, ready["task_b"], {"b": 2})
        _complete(db, ready["task_a"], {"a": 1})
        if round_no in (10, 149):
            sizes[round_no] = _case(db, case_id)[2]
    status, data, _size = _case(db, case_id)
    assert status == "completed"
    assert data["rounds"] == 150 and data["total"] == 450
    assert sizes[149] <= sizes[10] * 1.05
