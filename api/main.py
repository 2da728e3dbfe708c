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
    api = APIRouter(prefix="/api")
    api.include_router(health.router)
    api.include_router(auth.router)
    secured = APIRouter(dependencies=[Depends(get_principal)], responses=errors.answers(401))
    for module in (process_models, process_instances, tasks, messages, incidents,
                   notifications, accounts):
        secured.include_router(module.router)
    if settings.clock_test_hook:
        clock.enable_test_hook(True)
        secured.include_router(testing.router)
    api.include_router(secured)
    app.include_router(api)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
