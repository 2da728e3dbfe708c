"""Health check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import DbDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(db: DbDep) -> dict[str, Any]:
    """Tell whether the server and its database answer. Needs no login."""
    with db.reading() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "database": "ok"}
