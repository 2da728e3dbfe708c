"""The page routes' behaviour: a missing login redirects to /login; errors become pages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from api.i18n import gettext_noop, use_language
from api.pages.session import CsrfRejected, LoginRequired, optional_principal
from api.pages.templating import redirect, render, request_language
from engine.errors import InvalidTransition, NotAllowed, NotAuthenticated, NotFound

_PROBLEMS: list[tuple[type[Exception], int, str]] = [
    (CsrfRejected, 403, gettext_noop("The form had expired. Go back, reload the page and try "
                                     "again.")),
    (NotAllowed, 403, gettext_noop("You do not have permission to do this.")),
    (NotFound, 404, gettext_noop("Page not found.")),
    (InvalidTransition, 409, gettext_noop("This can no longer be done: someone else has "
                                          "already acted on it.")),
]


class PageRoute(APIRoute):
    """A page route: a missing login redirects to /login; errors become pages, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                # The whole request speaks one language: labels built before rendering too.
                with use_language(request_language(request)):
                    return await handler(request)
            except LoginRequired as login:
                return redirect(f"/login?next={quote(login.next_path, safe='/')}")
            except NotAuthenticated:
                return redirect("/login")
            except Exception as exc:
                for kind, status, message in _PROBLEMS:
                    if isinstance(exc, kind):
                        principal = optional_principal(request, request.app.state.db)
                        return render(request, "error.html", {"message": message},
                                      principal=principal, status_code=status)
                raise

        return handle



def page_router() -> APIRouter:
    """A router for pages (not in the OpenAPI schema)."""
    return APIRouter(route_class=PageRoute, include_in_schema=False)
