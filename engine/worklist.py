"""The staff task list: my tasks and my teams' tasks, filtered, sorted and paged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from engine import candidates, clock
from engine.authorization import Principal
from engine.models import HumanTask, ProcessInstance, ReferenceItem, User, UserTeam

MINE = "mine"
TEAM = "team"
SORTS = {
    "due": (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at),
    "created": (HumanTask.created_at,),
    "-created": (HumanTask.created_at.desc(),),
    "name": (HumanTask.name, HumanTask.created_at),
    "process": (ProcessInstance.process_id, HumanTask.created_at),
}


@dataclass(frozen=True)
class Filters:
    """What the task list is narrowed to; None = no restriction."""

    scope: str = TEAM
    team: str | None = None
    process_id: str | None = None
    municipality: str | None = None
    due_by: date | None = None
    overdue: bool = False


@dataclass(frozen=True)
class TaskRow:
    """One line of the task list."""

    task: HumanTask
    process_id: str
    business_key: str | None
    municipality: str | None
    overdue: bool


@dataclass(frozen=True)
class Page:
    """One page of the task list, with the counts the tabs show."""

    rows: list[TaskRow]
    total: int
    mine: int
    team: int


def _visible(principal: Principal) -> Any:
    """The ready tasks of the principal's teams (primary or other candidate team) and theirs."""
    return candidates.visible(principal, "ready")


def _scoped(query: Select, principal: Principal, scope: str) -> Select:
    if scope == MINE:
        return query.where(HumanTask.assignee == principal.username)
    if principal.reads_everything:
        return query
    return query.where(_visible(principal))


def _municipality() -> Any:
    return ProcessInstance.data["municipalityCode"].as_string()


def _filtered(query: Select, filters: Filters, now: datetime) -> Select:
    if filters.team:
        query = query.where(candidates.of_teams([filters.team], "ready"))
    if filters.process_id:
        query = query.where(ProcessInstance.process_id == filters.process_id)
    if filters.municipality:
        query = query.where(_municipality() == filters.municipality)
    if filters.due_by:
        end = datetime.combine(filters.due_by + timedelta(days=1), time(), clock.TIMEZONE)
        query = query.where(HumanTask.due_at < end)
    if filters.overdue:
        query = query.where(HumanTask.due_at < now)
    return query


def task_page(session: Session, principal: Principal, filters: Filters, *, sort: str = "due",
              page: int = 1, per_page: int = 50) -> Page:
    """The ready tasks of the list's scope, one page of them, and the tab counts."""
    now = clock.now()
    base = select(HumanTask).join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id) \
        .where(HumanTask.status == "ready")
    query = _filtered(_scoped(base, principal, filters.scope), filters, now)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.add_columns(ProcessInstance.process_id, ProcessInstance.business_key,
                          _municipality())
        .order_by(*SORTS.get(sort, SORTS["due"]), HumanTask.id)
        .limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    counts = {}
    for scope in (MINE, TEAM):
        counted = _scoped(select(func.count(HumanTask.id)).where(HumanTask.status == "ready"),
                          principal, scope)
        counts[scope] = session.scalar(counted) or 0
    return Page(
        rows=[TaskRow(task=t, process_id=p, business_key=k, municipality=m,
                      overdue=t.due_at is not None and t.due_at < now)
              for t, p, k, m in rows],
        total=total, mine=counts[MINE], team=counts[TEAM])


def team_members(session: Session, team: str | list[str]) -> list[str]:
    """Usernames of the active members of a team (or of several: a task's candidate teams),
    for reassigning its tasks."""
    teams = [team] if isinstance(team, str) else team
    return list(session.scalars(
        select(User.username).join(UserTeam, UserTeam.user_id == User.id)
        .where(UserTeam.team_id.in_(teams), User.active.is_(True))
        .group_by(User.username).order_by(User.username)))


def municipalities(session: Session) -> list[tuple[str, str]]:
    """(code, name) of the municipalities of the reference data, by name."""
    rows = session.scalars(select(ReferenceItem).where(ReferenceItem.kind == "municipalities"))
    return sorted(((r.code, str(r.data.get("name") or r.code)) for r in rows),
                  key=lambda item: item[1])
