"""The staff pages: server-rendered HTML on the same engine calls as the REST API."""

from __future__ import annotations

from fastapi import APIRouter

from api.pages import auth, cases, notifications, oidc, start, tasks

router = APIRouter(include_in_schema=False)
for module in (auth, oidc, tasks, start, cases, notifications):
    router.include_router(module.router)
