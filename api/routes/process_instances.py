"""Cases (process instances)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.deps import MAX_ID, MAX_VERSION, CurrentPrincipal, DbDep, Id
from api.errors import ErrorAnswer, NotMigratableAnswer, answers
from engine import audit, case_access, case_keys, case_migration, runner, starting, views
from engine.authorization import require_case_change
from engine.models import ProcessInstance

router = APIRouter(prefix="/process-instances", tags=["cases"])


class StartRequest(BaseModel):
    process_id: str = Field(min_length=1, max_length=255)
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    data: dict[str, Any] | None = None


# The hot case routes are async and run their database work in the thread pool themselves:
# FastAPI sends a sync route to the pool twice (the route, then the check of its answer
# against the response model); these go once, and their answer is checked in the event loop.
@router.post("", status_code=201, responses=answers(400, 403, 404, 409, 422))
async def start(body: StartRequest, db: DbDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Start a case of a process model (latest version unless one is given)."""
    def work(session: Session) -> dict[str, Any]:
        starting.require_manual_start(session, principal, body.process_id, body.version)
        row = runner.start_case(session, process_id=body.process_id, version=body.version,
                                data=body.data, principal=principal)
        return views.instance_to_dict(session, row, principal)

    return await run_in_threadpool(db.unit_of_work, work)


@router.get("", responses=answers(422))
def list_cases(
    db: DbDep, principal: CurrentPrincipal,
    process_id: str | None = None, status: str | None = None,
    search: str | None = Query(None, max_length=255),
    limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_ID),
) -> list[dict[str, Any]]:
    """The cases the caller may see, newest first, filtered by process and status; `search`
    finds the cases whose business key or any case key (a Y-tunnus, a customer id, ...) equals
    the value."""
    query = select(ProcessInstance).where(case_access.visible(principal)) \
        .order_by(ProcessInstance.id.desc()).limit(limit).offset(offset)
    if search and search.strip():
        query = query.where(ProcessInstance.id.in_(case_keys.matching_ids(search)))
    if process_id:
        query = query.where(ProcessInstance.process_id == process_id)
    if status:
        query = query.where(ProcessInstance.status == status)
    with db.reading() as session:
        return [
            {"id": r.id, "process_id": r.process_id, "version": r.version, "status": r.status,
             "created_at": r.created_at.isoformat(), "updated_at": r.updated_at.isoformat()}
            for r in session.scalars(query)
        ]


@router.get("/{instance_id}", responses=answers(404, 422))
async def get_case(instance_id: Id, db: DbDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """A case with its current data and ready tasks."""
    def read() -> dict[str, Any]:
        with db.reading() as session:
            return views.instance_to_dict(
                session, case_access.get_visible(session, principal, instance_id), principal)

    return await run_in_threadpool(read)


@router.post("/{instance_id}/cancel", responses=answers(403, 404, 409, 422))
async def cancel(instance_id: Id, db: DbDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Cancel a case."""
    require_case_change(principal)

    def work(session: Session) -> dict[str, Any]:
        row = runner.cancel_case(session, instance_id=instance_id, principal=principal)
        return views.instance_to_dict(session, row, principal)

    return await run_in_threadpool(db.unit_of_work, work)


@router.get("/{instance_id}/history", responses=answers(404, 422))
def history(instance_id: Id, db: DbDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Every event of a case, oldest first."""
    with db.reading() as session:
        case_access.get_visible(session, principal, instance_id)
        return {"events": [audit.event_to_dict(e) for e in audit.history(session, instance_id)]}


class MigrateRequest(BaseModel):
    version: int = Field(ge=1, le=MAX_VERSION)
    dry_run: bool = False


@router.post("/{instance_id}/migrate", responses={
    **answers(400, 403, 404, 422),
    409: {"model": NotMigratableAnswer | ErrorAnswer,
          "description": "The case cannot move to this version (or changed meanwhile)"}})
def migrate(instance_id: Id, body: MigrateRequest, db: DbDep, principal: CurrentPrincipal
            ) -> dict[str, Any]:
    """Move a case to another version of its model (process owners); 409 if it cannot."""
    return db.unit_of_work(lambda s: case_migration.migrate_case(
        s, instance_id=instance_id, version=body.version, dry_run=body.dry_run,
        principal=principal))
