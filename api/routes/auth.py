"""Bearer tokens."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.deps import CurrentPrincipal, DbDep
from api.errors import answers
from engine import accounts
from engine.errors import NotAuthenticated
from engine.settings import get_settings

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@router.post("/token", responses=answers(400, 401, 422, 429))
def issue_token(body: TokenRequest, db: DbDep) -> TokenResponse:
    """Log in with a username and password; answers a bearer token."""
    ttl = timedelta(minutes=get_settings().token_ttl_minutes)

    def work(session: Session) -> str | None:
        user = accounts.login(session, body.username, body.password)
        return accounts.issue_token(session, user, ttl) if user is not None else None

    token = db.unit_of_work(work)  # commits a failure's count too
    if token is None:
        raise NotAuthenticated("wrong username or password")
    return TokenResponse(access_token=token, expires_in=int(ttl.total_seconds()))


@router.post("/logout", responses=answers(401))
def logout(request: Request, db: DbDep, principal: CurrentPrincipal) -> dict[str, str]:
    """Invalidate the bearer token used for this request."""
    token = request.headers.get("authorization", "").partition(" ")[2]
    db.unit_of_work(lambda s: accounts.revoke_token(s, token))
    return {"status": "logged out", "username": principal.username}
