"""Rendering pages: one Jinja2 environment (autoescaped, gettext through `api.i18n`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select

from api import i18n
from api.pages.session import CSRF_FIELD, LANGUAGE_COOKIE, csrf_token, remember_csrf
from engine import notifications
from engine.authorization import Principal
from engine.models import Notification

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext,
    npgettext=i18n.npgettext)
environment.filters.update(
    day=i18n.format_day, moment=i18n.format_moment, number=i18n.format_number,
)
environment.globals.update(localized=i18n.localized, CSRF_FIELD=CSRF_FIELD)


def request_language(request: Request) -> str:
    """`?lang=` if given, else the remembered choice, else Finnish."""
    return i18n.choose_language(request.query_params.get("lang")
                                or request.cookies.get(LANGUAGE_COOKIE))


def unread_count(request: Request, principal: Principal) -> int:
    """How many of the user's (and their teams') notifications are unread."""
    with request.app.state.db.reading() as session:
        return session.scalar(select(func.count(Notification.id)).where(
            Notification.read_at.is_(None), notifications.addressed_to(principal))) or 0


def navigation(principal: Principal | None) -> list[tuple[str, str]]:
    """The header's links (path, message id) that the user's roles may use."""
    if principal is None:
        return []
    return [("/tasks", i18n.pgettext_noop("nav", "Tasks")),
            ("/start", i18n.pgettext_noop("nav", "Start a case")),
            ("/cases", i18n.pgettext_noop("nav", "Cases")),
            ("/notifications", i18n.pgettext_noop("nav", "Notifications"))]


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           principal: Principal | None = None, status_code: int = 200) -> HTMLResponse:
    """Render a page in the request's language; remembers a language chosen with `?lang=`."""
    language = request_language(request)
    with i18n.use_language(language):
        html = environment.get_template(template).render({
            "request": request, "principal": principal, "lang": language,
            "csrf_token": csrf_token(request), "nav": navigation(principal),
            "unread": unread_count(request, principal) if principal else 0,
            "path": request.url.path, **(context or {}),
        })
    response = HTMLResponse(html, status_code=status_code)
    remember_csrf(request, response)
    chosen = request.query_params.get("lang")
    if chosen in i18n.LANGUAGES and request.cookies.get(LANGUAGE_COOKIE) != chosen:
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="lax",
                            httponly=True, path="/")
    return response


def redirect(path: str) -> RedirectResponse:
    """After a POST: see the result with a GET (303)."""
    return RedirectResponse(path, status_code=303)
