"""FastAPI dependencies: the database and the logged-in user."""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from engine import accounts
from engine.authorization import Principal
from engine.db import Database
from engine.errors import NotAuthenticated

#: Ids are the database's BIGINT and model versions its INTEGER: a larger number is refused as
#: invalid input (422) instead of failing in the database driver (500).
MAX_ID = 2**63 - 1
MAX_VERSION = 2**31 - 1
Id = Annotated[int, Ge(1), Le(MAX_ID)]
Version = Annotated[int, Ge(1), Le(MAX_VERSION)]

_bearer = HTTPBearer(auto_error=False, description="Token from POST /api/auth/token")


async def get_db(request: Request) -> Database:
    """The app's database."""
    db: Database = request.app.state.db
    return db


DbDep = Annotated[Database, Depends(get_db)]


def _principal_for_token(db: Database, token: str) -> Principal:
    with db.reading() as session:
        return accounts.principal_for_token(session, token)


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The user behind the bearer token; 401 without a valid one.

    Async, so that a token checked recently (`accounts.cached_principal`) costs no hop to the
    thread pool; only a check against the database runs there. The database comes from the
    request rather than from `DbDep`: FastAPI solves each sub-dependency anew for every use of
    this one (twice a request on the secured routes), at a cost of tens of microseconds each.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("a bearer token is required")
    principal = accounts.cached_principal(credentials.credentials)
    if principal is None:
        principal = await run_in_threadpool(_principal_for_token, request.app.state.db,
                                            credentials.credentials)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
