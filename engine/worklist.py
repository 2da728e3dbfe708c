"""The staff task list: my tasks and my teams' tasks, filtered, sorted and paged."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    any_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from engine import candidates, clock, views
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
_tasks = HumanTask.__table__
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
#: The `tasks` columns each order reads (with `id`; "process" also the case's process id).
_SORT_COLUMNS = {"due": ("due_at", "created_at"), "created": ("created_at",),
                 "-created": ("created_at",), "name": ("name", "created_at"),
                 "process": ("created_at",)}


@dataclass(frozen=True)
class Filters:
    """What the task list is narrowed to; None = no restriction."""

    scope: str = TEAM
    team: str | None = None
    process_id: str | None = None
    municipality: str | None = None
    due_by: date | None = None
    overdue: bool = False
    #: Equal to these `tasks` columns (the API's list filters).
    lane: str | None = None
    assignee: str | None = None
    instance_id: int | None = None


#: The filters of `Filters` that are a `tasks` column equal to the value.
_COLUMN_FILTERS = ("lane", "assignee", "instance_id")


@dataclass(frozen=True)
class TaskRow:
    """One line of the task list."""

    task: views.TaskRow
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


def _sources(team_values: Sequence[Any], all_teams: Any, assignee: Any,
             postgresql: bool) -> list[Select[Any]]:
    """The ready tasks of some teams (primary or another candidate team, `engine.candidates`)
    and those assigned to `assignee`, as disjoint selects of `tasks` rows.

    The same tasks as `candidates.visible`, split so that each part is one index range
    that can be read in the list's order: one part per primary team, then the tasks of
    other primary teams (or none) that have one of the teams as another candidate, then those
    assigned to `assignee` in none of the teams. No task is in two parts, so the parts'
    counts add up and a UNION ALL lists each task once.

    The candidate part looks up the teams' open `task_candidates` rows (the partial index
    `ix_task_candidates_ready_team`: finished tasks are not in it). On PostgreSQL it is
    written `id = ANY(ARRAY(...))` so that those ids are probed in the small
    `ix_tasks_ready_id`: as an `IN` the planner may instead walk the ready tasks in due order
    looking for them (a second at 100 000).
    """
    parts = [select(_tasks).where(HumanTask.status == READY, HumanTask.team == team)
             for team in team_values]
    if team_values:
        elsewhere = or_(HumanTask.team.is_(None), HumanTask.team.not_in(all_teams))
        others = select(TaskCandidate.task_id).where(TaskCandidate.team.in_(all_teams),
                                                     TaskCandidate.status == READY)
        extra = HumanTask.id == any_(func.array(others.scalar_subquery())) if postgresql \
            else HumanTask.id.in_(others)
        parts.append(select(_tasks).where(HumanTask.status == READY, elsewhere, extra))
    if assignee is not None:
        mine = select(_tasks).where(HumanTask.status == READY, HumanTask.assignee == assignee)
        if team_values:
            mine = mine.where(elsewhere, ~exists().where(
                TaskCandidate.task_id == HumanTask.id, TaskCandidate.team.in_(all_teams)))
        parts.append(mine)
    return parts


@dataclass(frozen=True)
class _Shape:
    """What a list's statements look like, apart from the values bound into them: lists of
    the same shape share their statements (built once, `_statements`)."""

    kind: str  # MINE, "team_filter", "everything" or "teams"
    teams: int  # how many teams ("teams"); the values are bound as team_0, team_1, ...
    team_filter: bool
    due_by: bool
    overdue: bool
    process_id: bool
    municipality: bool
    #: The column filters given (`_COLUMN_FILTERS`), bound as col_lane, ...
    columns: tuple[str, ...]
    sort: str
    offset: int
    per_page: int
    postgresql: bool
    #: Of the names of its bound values, so that the list's and the tabs' counts can be asked
    #: in one statement.
    prefix: str = ""


def _shape_and_values(principal: Principal, filters: Filters, now: datetime, *, sort: str,
                      offset: int, per_page: int, postgresql: bool, prefix: str = ""
                      ) -> tuple[_Shape, dict[str, Any]]:
    values: dict[str, Any] = {"now": now, "assignee": principal.username}
    teams: list[str] = []
    if filters.scope == MINE:
        kind = MINE
    elif filters.team and (principal.reads_everything or filters.team in principal.teams):
        kind, teams = "team_filter", [filters.team]
    elif principal.reads_everything:
        kind = "everything"
    else:
        kind, teams = "teams", sorted(set(principal.teams))
    values.update({f"team_{i}": team for i, team in enumerate(teams)}, teams=teams)
    if filters.team:
        values["filter_team"] = filters.team
    if filters.due_by:
        values["due_end"] = datetime.combine(filters.due_by + timedelta(days=1), time(),
                                             clock.TIMEZONE)
    if filters.process_id:
        values["process_id"] = filters.process_id
    if filters.municipality:
        values["municipality"] = filters.municipality
    columns = tuple(name for name in _COLUMN_FILTERS if getattr(filters, name) is not None)
    values.update({f"col_{name}": getattr(filters, name) for name in columns})
    shape = _Shape(kind, len(teams), bool(filters.team), bool(filters.due_by), filters.overdue,
                   bool(filters.process_id), bool(filters.municipality), columns,
                   sort if sort in SORTS else "due", offset, per_page, postgresql, prefix)
    return shape, {prefix + name: value for name, value in values.items()}


def _parts(shape: _Shape) -> list[Select[Any]]:
    """The scope's tasks as disjoint parts, each narrowed by the filters on `tasks`."""
    where = _task_filters(shape)
    p = shape.prefix
    if shape.kind == MINE:
        parts = [select(_tasks).where(HumanTask.status == READY,
                                      HumanTask.assignee == bindparam(p + "assignee"))]
    elif shape.kind == "everything":
        parts = [select(_tasks).where(HumanTask.status == READY)]
    else:
        # A team filter on one of my own teams: every task of the team is visible to me,
        # so the filter alone decides (and replaces the filter's own condition).
        parts = _sources([bindparam(f"{p}team_{i}") for i in range(shape.teams)],
                         bindparam(p + "teams", expanding=True),
                         bindparam(p + "assignee") if shape.kind == "teams" else None,
                         shape.postgresql)
        if shape.kind == "team_filter":
            where = where[1:]
    return [part.where(*where) for part in parts]


def _task_filters(shape: _Shape) -> list[ColumnElement[bool]]:
    """The filters on `tasks` columns; the team filter (when given) comes first."""
    where = []
    if shape.team_filter:
        where.append(candidates.of_teams([bindparam(shape.prefix + "filter_team")], "ready"))
    if shape.due_by:
        where.append(HumanTask.due_at < bindparam(shape.prefix + "due_end"))
    if shape.overdue:
        where.append(HumanTask.due_at < bindparam(shape.prefix + "now"))
    where.extend(_tasks.c[name] == bindparam(f"{shape.prefix}col_{name}")
                 for name in shape.columns)
    return where


def _municipality() -> Any:
    return ProcessInstance.data["municipalityCode"].as_string()


def _case_filters(shape: _Shape) -> list[ColumnElement[bool]]:
    where = []
    if shape.process_id:
        where.append(ProcessInstance.process_id == bindparam(shape.prefix + "process_id"))
    if shape.municipality:
        where.append(_municipality() == bindparam(shape.prefix + "municipality"))
    return where


def _with_case(part: Select[Any], case_where: Sequence[ColumnElement[bool]]) -> Select[Any]:
    """A part's tasks with the case columns the list shows, narrowed by the case filters."""
    return part.add_columns(*_case_columns()) \
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id).where(*case_where)


def _case_columns() -> tuple[Any, ...]:
    return (ProcessInstance.process_id.label("process_id"),
            ProcessInstance.business_key.label("business_key"),
            _municipality().label("municipality"))


def _count_statement(parts: list[Select[Any]],
                     case_where: Sequence[ColumnElement[bool]] = ()) -> Select[Any]:
    if case_where:
        parts = [part.join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
                 .where(*case_where) for part in parts]
    counted = [part.with_only_columns(HumanTask.id) for part in parts]
    listed = (union_all(*counted) if len(counted) > 1 else counted[0]).subquery("listed")
    return select(func.count()).select_from(listed)


@lru_cache(maxsize=512)
def _statements(shape: _Shape) -> tuple[Select[Any], Select[Any]]:
    """(the page's rows, the list's count) of a list shape, built once: building these
    statements costs more than running them."""
    parts = _parts(shape)
    case_where = _case_filters(shape)
    order = SORTS[shape.sort]
    if len(parts) == 1:
        query = _with_case(parts[0], case_where) \
            .order_by(*order(HumanTask, ProcessInstance.process_id)) \
            .limit(shape.per_page).offset(shape.offset)
        return query, _count_statement(parts, case_where)
    # Each part gives the ids and sort keys of its first tasks in the list's order: with its
    # own ORDER BY and LIMIT it is planned on its own, read in order from its index, and its
    # keys are in the index (migration 0012), so the tasks' rows are not read. (A plain UNION
    # ALL of filtered selects is not: PostgreSQL would collect and sort all.) Only the page's
    # tasks are then read, with their cases.
    keys = [_tasks.c.id, *(_tasks.c[name] for name in _SORT_COLUMNS[shape.sort])]
    if shape.sort == "process":
        keys.append(ProcessInstance.process_id.label("process_id"))
    join_first = bool(case_where) or shape.sort == "process"
    heads = [part.join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id)
             .where(*case_where) if join_first else part for part in parts]
    merged = union_all(*(select(*head.with_only_columns(*keys)
                                .order_by(*order(HumanTask, ProcessInstance.process_id))
                                .limit(shape.offset + shape.per_page).subquery().c)
                         for head in heads)).subquery("listed")
    page = select(merged).order_by(*order(merged.c, merged.c.get("process_id"))) \
        .limit(shape.per_page).offset(shape.offset).subquery("page")
    query = select(_tasks, *_case_columns()).join(page, page.c.id == HumanTask.id) \
        .join(ProcessInstance, ProcessInstance.id == HumanTask.instance_id) \
        .order_by(*order(page.c, page.c.get("process_id")))
    return query, _count_statement(parts, case_where)


@lru_cache(maxsize=512)
def _counts(shapes: tuple[_Shape, ...]) -> Select[Any]:
    """The counts of several lists (each with its own prefix) in one statement."""
    return select(*(_statements(shape)[1].scalar_subquery() for shape in shapes))


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
    offset = (max(page, 1) - 1) * per_page

    shape, values = _shape_and_values(principal, filters, now, sort=sort, offset=offset,
                                      per_page=per_page, postgresql=postgresql)
    rows = session.execute(_statements(shape)[0], values).all()
    # The list's total and the tabs' counts, in one statement; a tab that is the list itself
    # takes the list's total.
    tabs = [scope for scope in (MINE, TEAM) if filters != Filters(scope=scope)]
    shapes = [shape]
    for scope in tabs:
        tab_shape, tab_values = _shape_and_values(
            principal, Filters(scope=scope), now, sort="due", offset=0, per_page=0,
            postgresql=postgresql, prefix=f"{scope}_")
        shapes.append(tab_shape)
        values.update(tab_values)
    total, *tab_counts = session.execute(_counts(tuple(shapes)), values).one()
    counts = {scope: count or 0 for scope, count in zip(tabs, tab_counts, strict=True)}
    counts.setdefault(filters.scope, total or 0)
    tasks = [views.TaskRow(row) for row in rows]
    return Page(
        rows=[TaskRow(task=t, process_id=row.process_id, business_key=row.business_key,
                      municipality=row.municipality,
                      overdue=t.due_at is not None and t.due_at < now)
              for t, row in zip(tasks, rows, strict=True)],
        total=total or 0, mine=counts[MINE], team=counts[TEAM])


def task_rows(session: Session, principal: Principal, filters: Filters, *, offset: int,
              limit: int, sort: str = "created") -> list[views.TaskRow]:
    """The ready tasks of the list's scope from `offset` on, at most `limit`, with their
    candidate teams: the API's task list, oldest first. Read as `task_page` reads a page."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    shape, values = _shape_and_values(principal, filters, clock.now(), sort=sort, offset=offset,
                                      per_page=limit, postgresql=postgresql)
    tasks = [views.TaskRow(row) for row in session.execute(_statements(shape)[0], values)]
    views.add_candidates(session, tasks)
    return tasks


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
