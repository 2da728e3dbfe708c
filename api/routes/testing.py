"""Test hooks, only present when `VIRTA_CLOCK_TEST_HOOK` is on: moving the platform clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CurrentPrincipal, DbDep
from engine import clock, clock_sync
from engine.authorization import require_admin

router = APIRouter(prefix="/test", tags=["test hooks"])


class ClockChange(BaseModel):
    advance_seconds: float | None = Field(default=None, ge=0, le=10 * 365 * 86400)
    offset_seconds: float | None = Field(default=None, ge=0, le=10 * 365 * 86400)


@router.post("/clock")
def move_clock(body: ClockChange, db: DbDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Move the platform clock forward (admin); every process picks the offset up."""
    require_admin(principal)
    if body.offset_seconds is not None:
        clock.set_offset(timedelta(seconds=body.offset_seconds))
    elif body.advance_seconds is not None:
        clock.advance(timedelta(seconds=body.advance_seconds))
    offset = clock.offset()
    db.unit_of_work(lambda s: clock_sync.save_offset(s, offset))
    return {"now": clock.now().isoformat(), "offset_seconds": offset.total_seconds()}
