"""Logging in and out of the pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.deps import DbDep
from api.i18n import gettext_noop
from api.pages.routing import page_router
from api.pages.session import (
    CheckedForm,
    end_session,
    optional_principal,
    session_token,
    start_session,
)
from api.pages.templating import redirect, render
from engine import accounts
from engine.authorization import Principal
from engine.errors import TooManyFailedLogins
from engine.settings import get_settings

router = page_router()

WRONG_LOGIN = gettext_noop("Login failed. Check your username and password.")
LOCKED_OUT = gettext_noop("Too many failed logins. Try again in %(minutes)s minutes.")
#: Errors that other login routes (api/pages/oidc.py) send back as `/login?error=<key>`.
LOGIN_ERRORS = {
    "oidc": gettext_noop("Logging in with the organisation's account failed. Try again."),
    "oidc_inactive": gettext_noop("Your Virta account has been deactivated."),
    "oidc_conflict": gettext_noop("A Virta account that does not log in with the "
                                  "organisation's account already has this username. Ask an "
                                  "administrator."),
    "oidc_no_username": gettext_noop("The organisation's account did not tell a username. Ask "
                                     "an administrator."),
}


def _safe_next(target: str | None) -> str:
    """Only a local path is followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/tasks"


@router.get("/", include_in_schema=False)
def home(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Response:
    """The task list, or the login page for someone not logged in."""
    return redirect("/tasks" if principal else "/login")


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str | None = None,  # noqa: A002
               error: str | None = None) -> Response:
    """The login form (with the message of another login route's `error`, if any)."""
    message = LOGIN_ERRORS.get(error or "")
    return render(request, "login.html", {"next": _safe_next(next), "error": message})


@router.post("/login", include_in_schema=False)
def login(request: Request, form: CheckedForm, db: DbDep) -> Response:
    """Check the username and password and start a session."""
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or ""))
    ttl = timedelta(minutes=get_settings().token_ttl_minutes)

    def work(session: Session) -> str | None:
        user = accounts.login(session, username, password) if username and password else None
        return accounts.issue_token(session, user, ttl) if user is not None else None

    try:
        token = db.unit_of_work(work)
    except TooManyFailedLogins as locked:
        return render(request, "login.html", {
            "next": target, "username": username, "error": LOCKED_OUT,
            "error_args": {"minutes": max(1, locked.resets_in // 60)}}, status_code=429)
    if token is None:
        return render(request, "login.html", {"next": target, "username": username,
                                              "error": WRONG_LOGIN}, status_code=401)
    response = redirect(target)
    start_session(request, response, token, int(ttl.total_seconds()))
    return response


@router.get("/logout", include_in_schema=False)
def logout_page(request: Request,
                principal: Annotated[Principal | None, Depends(optional_principal)]) -> Response:
    """Ask before logging out: a link or a typed address must not end the session (logging
    out is a POST with the CSRF token, like every change); nobody logged in goes to /login."""
    if principal is None:
        return redirect("/login")
    return render(request, "logout.html", principal=principal)


@router.post("/logout", include_in_schema=False)
def logout(request: Request, _form: CheckedForm, db: DbDep) -> Response:
    """End the session: the token is revoked, not just forgotten by the browser."""
    token = session_token(request)
    if token:
        db.unit_of_work(lambda s: accounts.revoke_token(s, token))
    response = redirect("/login")
    end_session(response)
    return response
