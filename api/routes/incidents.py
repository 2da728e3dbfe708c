"""Incidents: failed steps and unmatched messages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentPrincipal, DbDep, Id
from api.errors import answers
from engine import runner
from engine.authorization import require_case_change
from engine.models import Incident

router = APIRouter(prefix="/incidents", tags=["incidents"])


def incident_to_dict(i: Incident) -> dict[str, Any]:
    """The public shape of an incident."""
    return {
        "id": i.id, "instance_id": i.instance_id, "kind": i.kind, "element_id": i.element_id,
        "task_id": i.task_id, "message": i.message, "details": i.details, "status": i.status,
        "created_at": i.created_at.isoformat(),
        "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
        "resolved_by": i.resolved_by,
    }


@router.get("", responses=answers(422))
def list_incidents(db: DbDep, principal: CurrentPrincipal, status: str = "open",
                   instance_id: Id | None = None) -> list[dict[str, Any]]:
    """Incidents, newest first (open ones unless `status` says otherwise)."""
    query = select(Incident).where(Incident.status == status).order_by(Incident.id.desc())
    if instance_id is not None:
        query = query.where(Incident.instance_id == instance_id)
    with db.reading() as session:
        return [incident_to_dict(i) for i in session.scalars(query.limit(1000))]


@router.post("/{incident_id}/retry", responses=answers(403, 404, 409, 422))
def retry(incident_id: Id, db: DbDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Run the failed step again (or redeliver the message)."""
    require_case_change(principal)

    def work(session: Session) -> dict[str, Any]:
        return incident_to_dict(runner.retry_incident(session, incident_id=incident_id,
                                                      principal=principal))

    return db.unit_of_work(work)
