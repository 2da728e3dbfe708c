"""Teams and users (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import CurrentPrincipal, DbDep
from api.errors import answers
from engine import accounts
from engine.authorization import require_admin
from engine.models import Team, User, UserTeam

router = APIRouter(tags=["accounts"])


class TeamCreate(BaseModel):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    name: str = Field(min_length=1, max_length=200)


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=8, max_length=1024)
    roles: list[str] = Field(min_length=1)
    teams: list[str] = Field(default_factory=list)
    email: str | None = Field(default=None, max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    language: str = Field(default="fi", pattern="^(fi|en)$")


@router.get("/teams")
def list_teams(db: DbDep, principal: CurrentPrincipal) -> list[dict[str, str]]:
    """Every team."""
    with db.reading() as session:
        return [{"id": t.id, "name": t.name}
                for t in session.scalars(select(Team).order_by(Team.id))]


@router.post("/teams", status_code=201, responses=answers(400, 403, 409, 422))
def create_team(body: TeamCreate, db: DbDep, principal: CurrentPrincipal) -> dict[str, str]:
    """Add a team (admin)."""
    require_admin(principal)
    db.unit_of_work(lambda s: accounts.create_team(s, team_id=body.id, name=body.name,
                                                   actor=principal.username))
    return {"id": body.id, "name": body.name}


def _user_dict(session: Session, user: User) -> dict[str, Any]:
    teams = session.scalars(select(UserTeam.team_id).where(UserTeam.user_id == user.id)).all()
    return {"id": user.id, "username": user.username, "roles": user.roles,
            "teams": sorted(teams), "active": user.active, "email": user.email,
            "language": user.language}


@router.get("/users", responses=answers(403))
def list_users(db: DbDep, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """Every user (admin)."""
    require_admin(principal)
    with db.reading() as session:
        return [_user_dict(session, u)
                for u in session.scalars(select(User).order_by(User.username))]


@router.post("/users", status_code=201, responses=answers(400, 403, 409, 422))
def create_user(body: UserCreate, db: DbDep, principal: CurrentPrincipal) -> dict[str, Any]:
    """Add a user with roles and teams (admin)."""
    require_admin(principal)

    def work(session: Session) -> dict[str, Any]:
        user = accounts.create_user(session, username=body.username, password=body.password,
                                    roles=body.roles, teams=body.teams, actor=principal.username,
                                    email=body.email, language=body.language)
        return _user_dict(session, user)

    return db.unit_of_work(work, retries=0)
