"""The staff task list: my tasks and my teams' tasks, filtered, sorted and paged."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    any_,
    exists,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from engine import candidates, clock
from engine.authorization import Principal
from engine.models import (
    HumanTask,
    ProcessInstance,
    ReferenceItem,
    TaskCandidate,
    User,
    UserTeam,
)

MINE = "mine"
TEAM = "team"
#: The list shows ready tasks. Written into the SQL as a literal, not a parameter, so that
#: PostgreSQL always matches the partial indexes `... WHERE status = 'ready'` (migration 0009).
READY = literal_column("'ready'")
#: The orders of the list, by (task, its case's process id); each ends in the task id so
#: that pages do not overlap. "due": soonest first, tasks without a due date last. "due",
#: "created" and "-created" are read in order from `ix_tasks_ready_team_due` /
#: `ix_tasks_ready_team_created`, one team at a time (see `task_page`).
SORTS: dict[str, Callable[[Any, Any], tuple[Any, ...]]] = {
    "due": lambda t, p: (t.due_at.is_(None), t.due_at, t.created_at, t.id),
    "created": lambda t, p: (t.created_at, t.id),
    "-created": lambda t, p: (t.created_at.desc(), t.id.desc()),
    "name": lambda t, p: (t.name, t.created_at, t.id),
    "process": lambda t, p: (p, t.created_at, t.id),
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


def sources(teams: Iterable[str], *, assignee: str | None = None,
            postgresql: bool = False) -> list[Select[Any]]:
    """The ready tasks of `teams` (primary or another candidate team, `engine.candidates`)
    and those assigned to `assignee`, as disjoint selects of `tasks` rows.

    The same tasks as `candidates.visible`, split so that each part is one index range
    that can be read in the list's order: one part per primary team, then the tasks of
    other primary teams (or none) that have one of `teams` as another candidate, then those
    assigned to `assignee` in none of the teams. No task is in two parts, so the parts'
    counts add up and a UNION ALL lists each task once.

    The candidate part looks up the teams' open `task_candidates` rows (the partial index
    `ix_task_candidates_ready_team`: finished tasks are not in it). On PostgreSQL it is
    written `id = ANY(ARRAY(...))` so that those ids are probed in the small
    `ix_tasks_ready_id`: as an `IN` the planner may instead walk the ready tasks in due order
    looking for them (a second at 100 000).
    """
    teams = sorted(set(teams))
    parts = [select(HumanTask).where(HumanTask.status == READY, HumanTask.team == team)
             for team in teams]
    if teams:
        elsewhere = or_(HumanTask.team.is_(None), HumanTask.team.not_in(teams))
        others = select(TaskCandidate.task_id).where(TaskCandidate.team.in_(teams),
                                                     TaskCandidate.status == READY)
        extra = HumanTask.id == any_(func.array(others.scalar_subquery())) if postgresql \
            else HumanTask.id.in_(others)
        parts.append(select(HumanTask).where(HumanTask.status == READY, elsewhere, extra))
    if assignee is not None:
        mine = select(HumanTask).where(HumanTask.status == READY, HumanTask.assignee == assignee)
        if teams:
            mine = mine.where(elsewhere, ~exists().where(
                TaskCandidate.task_id == HumanTask.id, TaskCandidate.team.in_(teams)))
        parts.append(mine)
    return parts


def _parts(principal: Principal, filters: Filters, now: datetime, *,
           postgresql: bool) -> list[Select[Any]]:
    """The scope's tasks as disjoint parts, each narrowed by the filters on `tasks`."""
    where = _task_filters(filters, now)
    if filters.scope == MINE:
        parts = [select(HumanTask).where(HumanTask.status == READY,
                                         HumanTask.assignee == principal.username)]
    elif filters.team and (principal.reads_everything or filters.team in principal.teams):
        # Every task of my own team is visible to me: the team filter alone decides.
        parts = sources([filters.team], postgresql=postgresql)
        where = where[1:]
    elif principal.reads_everything:
        parts = [select(HumanTask).where(HumanTask.status == READY)]
    else:
        parts = sources(principal.teams, assignee=principal.username, postgresql=postgresql)
    return [part.where(*where) for part in parts]


def _task_filters(filters: Filters, now: datetime) -> list[ColumnElement[bool]]:
    """The filters on `tasks` columns; the team filter (when given) comes first."""
    where = []
    if filters.team:
        where.append(candidates.of_teams([filters.team], "ready"))
    if filters.due_by:
        end = datetime.combine(filters.due_by + timedelta(days=1), time(), clock.TIMEZONE)
        where.append(HumanTask.due_at < end)
    if filters.overdue:
        where.append(HumanTask.due_at < now)
    return where


def _municipality() -> Any:
    return ProcessInstance.data["municipalityCode"].as_string()


def _case_filters(filters: Filters) -> list[ColumnElement[bool]]:
    where = []
    if filters.process_id:
        where.append(ProcessInstance.process_id == filters.process_id)
    if filters.municipality:
        where.append(_municipality() == filters.municipality)
    return where


def _rows(part: Select[Any], case_where: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """A part's tasks with the case columns the list shows, narrowed by the case filters."""
    return part.add_columns(ProcessInstance.process_id.label("process_id"),
                            ProcessInstance.business_key.label("business_key"),
                            _municipality().label("municipality")) \
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id).where(*case_where)


def _count(session: Session, parts: list[Select[Any]],
           case_where: Sequence[ColumnElement[bool]] = ()) -> int:
    if case_where:
        parts = [part.join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                 .where(*case_where) for part in parts]
    counted = [part.with_only_columns(HumanTask.id) for part in parts]
    listed = (union_all(*counted) if len(counted) > 1 else counted[0]).subquery("listed")
    return session.scalar(select(func.count()).select_from(listed)) or 0


def task_page(session: Session, principal: Principal, filters: Filters, *, sort: str = "due",
              page: int = 1, per_page: int = 50) -> Page:
    """The ready tasks of the list's scope, one page of them, and the tab counts.

    "Team" is the tasks of the principal's teams (primary or another candidate team) and
    those assigned to them; everything for those who read everything. "Mine" is the tasks
    assigned to them.

    Each part of the scope (`sources`) gives its first `page * per_page` tasks in the sort's
    order, from the indexes when the sort is "due", "created" or "-created", and only those
    are merged and sorted; so the first pages cost the same with 100 or 100 000 ready tasks.
    The counts read each part's index entries once.
    """
    now = clock.now()
    postgresql = session.get_bind().dialect.name == "postgresql"
    parts = _parts(principal, filters, now, postgresql=postgresql)
    case_where = _case_filters(filters)
    order = SORTS.get(sort, SORTS["due"])
    offset = (max(page, 1) - 1) * per_page
    if len(parts) == 1:
        query = _rows(parts[0], case_where).order_by(
            *order(HumanTask, ProcessInstance.process_id)).limit(per_page).offset(offset)
    else:
        # A part with its own ORDER BY and LIMIT is planned on its own, from its index; a
        # plain UNION ALL of filtered selects is not (PostgreSQL would collect and sort all).
        heads = [select(*_rows(part, case_where).order_by(
            *order(HumanTask, ProcessInstance.process_id)).limit(offset + per_page)
            .subquery().c) for part in parts]
        merged = union_all(*heads).subquery("listed")
        task = aliased(HumanTask, merged)
        query = select(task, merged.c.process_id, merged.c.business_key,
                       merged.c.municipality).order_by(*order(task, merged.c.process_id)) \
            .limit(per_page).offset(offset)
    rows = session.execute(query).all()
    counts = {}
    for scope in (MINE, TEAM):
        if filters == Filters(scope=scope):
            continue  # the same as the list's total, counted below
        counts[scope] = _count(session, _parts(principal, Filters(scope=scope), now,
                                               postgresql=postgresql))
    total = _count(session, parts, case_where)
    counts.setdefault(filters.scope, total)
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
