"""Map Virta's errors to HTTP answers, once, at the edge."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install(app: FastAPI) -> None:
    """Register the error handlers on an app."""
    app.add_exception_handler(VirtaError, _virta_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StaleDataError, _stale)
    app.add_exception_handler(Exception, _unexpected)
