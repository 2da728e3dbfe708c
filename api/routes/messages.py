"""Messages from outside: delivered to waiting cases by name and correlation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import CurrentPrincipal, DbDep, Id
from api.errors import answers
from engine import messages

router = APIRouter(prefix="/messages", tags=["messages"])


class MessageRequest(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    correlation: dict[str, Any] | None = None
    instance_id: Id | None = None
    payload: dict[str, Any] | None = None


@router.post("", status_code=202, responses=answers(400, 403, 409, 422))
def send_message(body: MessageRequest, db: DbDep, principal: CurrentPrincipal
                 ) -> dict[str, list[int]]:
    """Deliver a message; an unmatched one is kept as an incident."""
    def work(session: Session) -> list[int]:
        return messages.deliver(session, name=body.name, correlation=body.correlation,
                                instance_id=body.instance_id, payload=body.payload,
                                principal=principal)

    return {"delivered_to": db.unit_of_work(work)}
