"""Health check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from api.deps import DbDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(db: DbDep) -> dict[str, Any]:
    """Tell whether the server and its database answer. Needs no login."""
    def ask() -> None:  # one hop to the thread pool, as in api/routes/process_instances.py
        with db.reading() as session:
            session.execute(text("SELECT 1"))

    await run_in_threadpool(ask)
    return {"status": "ok", "database": "ok"}
