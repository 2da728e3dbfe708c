"""The FastAPI app: REST API under /api, the staff pages, and their static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from api import errors, pages
from api.deps import get_principal
from api.routes import (
    accounts,
    auth,
    health,
    incidents,
    messages,
    notifications,
    process_instances,
    process_models,
    tasks,
    testing,
)
from api.security import SecurityHeaders
from engine import clock
from engine.db import Database, get_database
from engine.settings import Settings, get_settings

STATIC = Path(__file__).resolve().parent / "static"


def create_app(db: Database | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the app on a database (default: the configured one)."""
    settings = settings or get_settings()
    # No /docs or /redoc: FastAPI serves them from a CDN, and pages never load from one.
    app = FastAPI(title="Virta", version="0.1.0", docs_url=None, redoc_url=None,
                  description="BPMN workflow platform for Finnish public employment services")
    app.add_middleware(SecurityHeaders)
    app.state.db = db or get_database()
    errors.install(app)
    # Each resource's router is included in the app itself, not in an /api router that
    # includes a "secured" router: FastAPI matches a request level by level, again when it
    # hands the request down, so every level of nesting costs each request a walk over the
    # routes below it. The OpenAPI schema is the same either way.
    app.include_router(health.router, prefix="/api")
    app.include_router(auth.router, prefix="/api")
    secured: list[APIRouter] = [process_models.router, process_instances.router, tasks.router,
                                messages.router, incidents.router, notifications.router,
                                accounts.router]
    if settings.clock_test_hook:
        clock.enable_test_hook(True)
        secured.append(testing.router)
    for router in secured:
        app.include_router(router, prefix="/api", dependencies=[Depends(get_principal)],
                           responses=errors.answers(401))
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
