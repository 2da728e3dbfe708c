"""The public shapes of cases and tasks, as the API answers them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from engine.authorization import Principal, can_see_task
from engine.models import HumanTask, ProcessInstance


def instance_to_dict(session: Session, row: ProcessInstance, principal: Principal | None = None
                     ) -> dict[str, Any]:
    """The public shape of a case (`GET /api/process-instances/{id}`)."""
    tasks = session.scalars(select(HumanTask).where(
        HumanTask.instance_id == row.id, HumanTask.status == "ready").order_by(HumanTask.created_at)
        .options(selectinload(HumanTask.candidates))).all()
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
