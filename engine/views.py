"""The public shapes of cases and tasks, as the API answers them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session

from engine.authorization import Principal, can_see_task
from engine.case_rows import CaseRecord
from engine.models import HumanTask, TaskCandidate

_tasks = HumanTask.__table__
_candidates = TaskCandidate.__table__
#: A case's ready tasks with their candidate teams, in one statement built once (every answer
#: of a start or a completion shows them).
_READY_WITH_CANDIDATES = (
    select(_tasks, _candidates.c.team.label("candidate_team"))
    .outerjoin(_candidates, _candidates.c.task_id == _tasks.c.id)
    .where(_tasks.c.instance_id == bindparam("instance"), _tasks.c.status == "ready")
    .order_by(_tasks.c.created_at, _candidates.c.team))
_CANDIDATES_OF = (select(_candidates.c.task_id, _candidates.c.team)
                  .where(_candidates.c.task_id.in_(bindparam("tasks", expanding=True)))
                  .order_by(_candidates.c.team))
_TASK_WITH_CANDIDATES = (
    select(_tasks, _candidates.c.team.label("candidate_team"))
    .outerjoin(_candidates, _candidates.c.task_id == _tasks.c.id)
    .where(_tasks.c.id == bindparam("task")).order_by(_candidates.c.team))


class _Candidate:
    __slots__ = ("team",)

    def __init__(self, team: str) -> None:
        self.team = team


class TaskRow:
    """A task row read with Core: the attributes of `HumanTask` that the views and
    `engine.authorization` use (a snapshot: not tracked by the session)."""

    def __init__(self, row: Any) -> None:
        self.__dict__.update({c: getattr(row, c) for c in _tasks.c.keys()})
        self.candidates: list[_Candidate] = []

    @classmethod
    def of(cls, values: dict[str, Any], candidate_teams: list[str]) -> TaskRow:
        """The row of a task just inserted with `values`, with its further candidate teams;
        its times in UTC, as the database gives them back."""
        task = cls.__new__(cls)
        task.__dict__.update({c: values[c].astimezone(UTC) if isinstance(values[c], datetime)
                              else values[c] for c in _tasks.c.keys()})
        task.candidates = [_Candidate(team) for team in sorted(candidate_teams)]
        return task

    @property
    def candidate_teams(self) -> list[str]:
        return HumanTask.candidate_teams.fget(self)  # type: ignore[attr-defined]


def flush_task_changes(session: Session) -> None:
    """Flush task rows changed through the ORM in this transaction, before a Core statement
    reads them."""
    if any(isinstance(o, HumanTask | TaskCandidate) for o in (*session.new, *session.dirty)):
        session.flush()


def _task_rows(session: Session, statement: Any, params: dict[str, Any]) -> list[TaskRow]:
    flush_task_changes(session)
    tasks: dict[str, TaskRow] = {}
    for row in session.connection().execute(statement, params):
        task = tasks.get(row.id)
        if task is None:
            task = tasks[row.id] = TaskRow(row)
        if row.candidate_team is not None:
            task.candidates.append(_Candidate(row.candidate_team))
    return list(tasks.values())


def add_candidates(session: Session, tasks: list[TaskRow]) -> None:
    """Fill in the further candidate teams of task rows read without them (one statement)."""
    if not tasks:
        return
    by_id = {task.id: task for task in tasks}
    for task_id, team in session.connection().execute(_CANDIDATES_OF, {"tasks": list(by_id)}):
        by_id[task_id].candidates.append(_Candidate(team))


def read_ready_tasks(session: Session, instance_id: int) -> list[TaskRow]:
    """A case's ready tasks, oldest first, with their candidate teams, from the database."""
    return _task_rows(session, _READY_WITH_CANDIDATES, {"instance": instance_id})


#: `session.info` key: {case id: its ready tasks as its last save in this transaction left
#: them}, so that the answer of a start or a completion does not read again what the save
#: has just written. Any later change of a task row in the transaction forgets them all.
_SAVED_READY = "saved_ready_tasks"


def remember_ready_tasks(session: Session, instance_id: int, tasks: list[TaskRow]) -> None:
    """Keep the ready tasks a save has left (see `ready_tasks`)."""
    session.info.setdefault(_SAVED_READY, {})[instance_id] = tasks


def forget_ready_tasks(session: Session) -> None:
    """A task row changed: the ready tasks kept from saves may be out of date."""
    session.info.pop(_SAVED_READY, None)


@event.listens_for(Session, "before_flush")
def _forget_on_task_flush(session: Session, _context: Any, _instances: Any) -> None:
    if any(isinstance(o, HumanTask | TaskCandidate)
           for o in (*session.new, *session.dirty, *session.deleted)):
        forget_ready_tasks(session)


@event.listens_for(Session, "after_soft_rollback")
def _forget_on_rollback(session: Session, _previous: Any) -> None:
    forget_ready_tasks(session)  # a rolled-back savepoint may have held a save


def ready_tasks(session: Session, instance_id: int) -> list[TaskRow]:
    """A case's ready tasks, oldest first, with their candidate teams: as the case's last save
    in this transaction left them when no task row changed since, else from the database."""
    flush_task_changes(session)
    saved = session.info.get(_SAVED_READY, {}).get(instance_id)
    return list(saved) if saved is not None else read_ready_tasks(session, instance_id)


def task_row(session: Session, task_id: str) -> TaskRow | None:
    """One task with its candidate teams, or None."""
    rows = _task_rows(session, _TASK_WITH_CANDIDATES, {"task": task_id})
    return rows[0] if rows else None


def instance_to_dict(session: Session, row: CaseRecord, principal: Principal | None = None
                     ) -> dict[str, Any]:
    """The public shape of a case (`GET /api/process-instances/{id}`)."""
    tasks = ready_tasks(session, row.id)
    visible = [t for t in tasks if principal is None or can_see_task(principal, t)]
    return {
        "id": row.id, "process_id": row.process_id, "version": row.version,
        "status": row.status, "data": row.data, "business_key": row.business_key,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
        "ended_at": row.ended_at.isoformat() if row.ended_at else None,
        "started_by": row.started_by,
        "ready_tasks": [task_to_dict(t) for t in visible],
    }


def task_to_dict(t: HumanTask) -> dict[str, Any]:
    """The public shape of a task (`GET /api/tasks`); `team` is its primary team,
    `candidate_teams` every team that may work on it (that one first)."""
    return {
        "id": t.id, "instance_id": t.instance_id, "element_id": t.element_id, "name": t.name,
        "lane": t.lane, "team": t.team, "candidate_teams": t.candidate_teams,
        "assignee": t.assignee,
        "due_at": t.due_at.isoformat() if t.due_at else None, "status": t.status,
        "form_key": t.form_key, "created_at": t.created_at.isoformat(),
        "completed_at": t.completed_at.isoformat() if t.completed_at else None,
        "completed_by": t.completed_by,
    }
