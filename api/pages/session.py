"""Page sessions and CSRF protection.

A page session is an ordinary login token (`engine.accounts`) kept in an HttpOnly cookie, so
logout and expiry work exactly as for bearer tokens. Every POST carries a CSRF token: an HMAC,
under the platform's secret key, of a random per-browser cookie and the session token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.deps import DbDep
from engine import accounts
from engine.authorization import Principal
from engine.errors import NotAuthenticated, NotFound
from engine.settings import get_settings

SESSION_COOKIE = "virta_session"
CSRF_COOKIE = "virta_csrf"
LANGUAGE_COOKIE = "virta_lang"
CSRF_FIELD = "csrf_token"
ONE_YEAR = 365 * 24 * 3600


class LoginRequired(Exception):  # noqa: N818 - a redirect, not an error
    """The page needs a logged-in user; the edge redirects to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(Exception):  # noqa: N818 - answered as 403
    """A POST without a valid CSRF token."""


def _secret(request: Request) -> str:
    key: str | None = getattr(request.app.state, "secret_key", None)
    if key is None:
        db = request.app.state.db
        key = db.unit_of_work(lambda s: accounts.secret_key(s, get_settings().secret_key))
        request.app.state.secret_key = key
    return key


def secure_cookies() -> bool:
    """Cookies are `Secure` when the platform is served over HTTPS."""
    return get_settings().public_url.startswith("https://")


def session_token(request: Request) -> str | None:
    """The session token of the request's cookie, if any."""
    return request.cookies.get(SESSION_COOKIE) or None


def optional_principal(request: Request, db: DbDep) -> Principal | None:
    """The logged-in user, or None."""
    token = session_token(request)
    if token is None:
        return None
    try:
        with db.reading() as session:
            return accounts.principal_for_token(session, token)
    except (NotAuthenticated, NotFound):
        return None


def page_principal(request: Request, db: DbDep) -> Principal:
    """The logged-in user; anyone else is sent to the login page."""
    principal = optional_principal(request, db)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]


def csrf_seed(request: Request) -> str:
    """The browser's CSRF cookie value, made up now if it has none (`remember_csrf` sets it)."""
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_seed", None)
    if not seed:
        seed = secrets.token_urlsafe(32)
        request.state.csrf_seed = seed
    return seed


def csrf_token(request: Request) -> str:
    """The token that the page's forms post back."""
    message = f"{csrf_seed(request)}|{session_token(request) or ''}".encode()
    return hmac.new(_secret(request).encode(), message, hashlib.sha256).hexdigest()


def remember_csrf(request: Request, response: Response) -> None:
    """Set the CSRF cookie on `response` if this request made it up."""
    seed = getattr(request.state, "csrf_seed", None)
    if seed and request.cookies.get(CSRF_COOKIE) != seed:
        response.set_cookie(CSRF_COOKIE, seed, httponly=True, samesite="strict",
                            secure=secure_cookies(), max_age=ONE_YEAR, path="/")


async def checked_form(request: Request) -> FormData:
    """The posted form, after its CSRF token is checked; raises `CsrfRejected`."""
    form = await request.form(max_part_size=get_settings().max_upload_bytes)
    sent = form.get(CSRF_FIELD)
    if not request.cookies.get(CSRF_COOKIE) or not isinstance(sent, str) \
            or not hmac.compare_digest(sent, csrf_token(request)):
        raise CsrfRejected()
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def start_session(request: Request, response: Response, token: str, max_age: int) -> None:
    """Put a fresh login token into the session cookie."""
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=secure_cookies(), max_age=max_age, path="/")
    remember_csrf(request, response)


def end_session(response: Response) -> None:
    """Drop the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=secure_cookies())
