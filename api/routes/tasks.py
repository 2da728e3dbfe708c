"""User tasks: list, read, claim, complete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.concurrency import run_in_threadpool

from api.deps import MAX_ID, CurrentPrincipal, DbDep, Id
from api.errors import answers
from engine import candidates, runner, tasks, views, worklist
from engine.models import HumanTask

router = APIRouter(prefix="/tasks", tags=["tasks"])


class CompleteRequest(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict)


@router.get("", responses=answers(422))
def list_tasks(
    db: DbDep, principal: CurrentPrincipal,
    instance_id: Id | None = None, lane: str | None = None, team: str | None = None,
    assignee: str | None = None, status: str = "ready",
    limit: int = Query(500, ge=1, le=5000), offset: int = Query(0, ge=0, le=MAX_ID),
) -> list[dict[str, Any]]:
    """Tasks the caller may see, filtered; ready ones unless `status` says otherwise."""
    if status == "ready":  # the open tasks: read from their indexes like the staff list
        filters = worklist.Filters(team=team or None, lane=lane or None,
                                   assignee=assignee or None, instance_id=instance_id)
        with db.reading() as session:
            return [views.task_to_dict(t) for t in worklist.task_rows(
                session, principal, filters, offset=offset, limit=limit)]
    query = select(HumanTask).where(HumanTask.status == status)
    if instance_id is not None:
        query = query.where(HumanTask.instance_id == instance_id)
    if lane:
        query = query.where(HumanTask.lane == lane)
    if team:  # its primary team or another candidate team
        query = query.where(candidates.of_teams([team], status))
    if assignee:
        query = query.where(HumanTask.assignee == assignee)
    if not principal.reads_everything:
        query = query.where(candidates.visible(principal, status))
    query = query.order_by(HumanTask.created_at, HumanTask.id).limit(limit).offset(offset) \
        .options(selectinload(HumanTask.candidates))
    with db.reading() as session:
        return [views.task_to_dict(t) for t in session.scalars(query)]


# Like the case routes, the task routes below run their database work in the thread pool
# themselves: one hop per request instead of two (api/routes/process_instances.py).
@router.get("/{task_id}", responses=answers(404, 422))
async def get_task(task_id: str, db: DbDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A task with its form definition and instructions."""
    def read() -> dict[str, Any]:
        with db.reading() as session:
            return tasks.task_detail(session, task_id=task_id, principal=principal)

    return await run_in_threadpool(read)


@router.post("/{task_id}/claim", responses=answers(403, 404, 409, 422))
async def claim(task_id: str, db: DbDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Take the task; 409 if someone else holds it."""
    return await run_in_threadpool(db.unit_of_work, lambda s: views.task_to_dict(
        runner.claim_task(s, task_id=task_id, principal=principal)))


@router.post("/{task_id}/unclaim", responses=answers(403, 404, 409, 422))
async def unclaim(task_id: str, db: DbDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Give the task back to its team; 409 if someone else holds it."""
    return await run_in_threadpool(db.unit_of_work, lambda s: views.task_to_dict(
        runner.unclaim_task(s, task_id=task_id, principal=principal)))


@router.post("/{task_id}/complete", responses=answers(400, 403, 404, 409, 422))
async def complete(task_id: str, body: CompleteRequest, db: DbDep, principal: CurrentPrincipal
                   ) -> dict[str, Any]:
    """Complete the task with form data; answers the case."""
    def work(session: Session) -> dict[str, Any]:
        row = runner.complete_task(session, task_id=task_id, data=body.data, principal=principal)
        return views.instance_to_dict(session, row, principal)

    return await run_in_threadpool(db.unit_of_work, work)
