"""In-app notifications."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import CurrentPrincipal, DbDep
from engine import notifications
from engine.models import Notification

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("")
def list_notifications(db: DbDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """The caller's notifications and those of their teams, newest first."""
    query = select(Notification).where(notifications.addressed_to(principal)) \
        .order_by(Notification.id.desc()).limit(500)
    with db.reading() as session:
        return [
            {"id": n.id, "kind": n.kind, "subject": n.subject, "body": n.body,
             "instance_id": n.instance_id, "task_id": n.task_id, "team_id": n.team_id,
             "created_at": n.created_at.isoformat(),
             "read_at": n.read_at.isoformat() if n.read_at else None}
            for n in session.scalars(query)
        ]
