"""Map Virta's errors to HTTP answers, once, at the edge."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError
from sqlalchemy.orm.exc import StaleDataError

from engine.errors import (
    AlreadyExists,
    Conflict,
    DeploymentInvalid,
    InputInvalid,
    InvalidTransition,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    NotMigratable,
    TooManyFailedLogins,
    VirtaError,
)

log = logging.getLogger(__name__)


class ErrorAnswer(BaseModel):
    """An error answer: what went wrong, in words."""

    detail: str


class Problem(BaseModel):
    """One problem of refused input: the field's path (request or form data), or the file,
    element and line (a deployment)."""

    model_config = ConfigDict(extra="allow")
    message: str
    field: str | None = None
    file: str | None = None
    element_id: str | None = None
    line: int | None = None


class ProblemsAnswer(BaseModel):
    """Refused input, one entry per problem."""

    detail: list[Problem]


class NotMigratableAnswer(BaseModel):
    """A case that cannot move to the asked version, and why."""

    migratable: bool
    reason: str


_HEADER = {"schema": {"type": "string"}, "required": True}
_ANSWERS: dict[int, dict[str, Any]] = {
    400: {"model": ErrorAnswer, "description": "The request body cannot be parsed"},
    401: {"model": ErrorAnswer, "description": "No valid bearer token (or wrong password)",
          "headers": {"WWW-Authenticate": _HEADER}},
    403: {"model": ErrorAnswer, "description": "The user may not do this"},
    404: {"model": ErrorAnswer, "description": "Not found (or not visible to the user)"},
    409: {"model": ErrorAnswer, "description": "The target's state does not allow this"},
    422: {"model": ProblemsAnswer, "description": "Invalid input, one problem per field"},
    429: {"model": ErrorAnswer, "description": "Too many failed logins",
          "headers": {"Retry-After": _HEADER}},
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route declares in OpenAPI (`responses=`), shaped as the handlers
    below shape them."""
    return {status: _ANSWERS[status] for status in statuses}

_STATUS: list[tuple[type[VirtaError], int]] = [
    (NotFound, 404),
    (NotAllowed, 403),
    (NotAuthenticated, 401),
    (InvalidTransition, 409),
    (AlreadyExists, 409),
    (Conflict, 409),
    (NotMigratable, 409),
]


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts)


async def _virta_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DeploymentInvalid | InputInvalid):
        return JSONResponse({"detail": exc.problems}, status_code=422)
    if isinstance(exc, TooManyFailedLogins):
        return JSONResponse({"detail": str(exc)}, status_code=429,
                            headers={"Retry-After": str(exc.resets_in)})
    if isinstance(exc, NotMigratable):
        return JSONResponse({"migratable": False, "reason": str(exc)}, status_code=409)
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [{"field": _field_path(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
              for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


async def _stale(_request: Request, _exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "the case was changed at the same time; try again"},
                        status_code=409)


async def _data_error(_request: Request, exc: Exception) -> JSONResponse:
    # A value the database cannot store or compare: on PostgreSQL a NUL character in a text,
    # which SQLite takes. The request's fault, not the server's.
    assert isinstance(exc, DataError)
    log.warning("the database refused a value: %s", exc.orig)
    return JSONResponse({"detail": [{"field": "", "message": "a value the database cannot "
                                     "store (such as a NUL character)"}]}, status_code=422)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install(app: FastAPI) -> None:
    """Register the error handlers on an app."""
    app.add_exception_handler(VirtaError, _virta_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StaleDataError, _stale)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(Exception, _unexpected)
