"""Candidate teams of a task: who may see, claim and complete it besides its assignee.

A user task's primary team (`tasks.team`) is its lane's, or the first that its `candidateTeam`
/ `camunda:candidateGroups` names; the others it names, and those a model adds later with the
case operation `add_candidate_team` (e.g. `jokerit` on an overdue task, PROCESSES.md §1.1),
are rows of `task_candidates`. Only the teams beyond the primary one are stored there, so that
table stays small and the team task lists read the same indexes as before:
(status, team, created_at) on `tasks` for the primary team, (team, task_id) here for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, literal, select, union
from sqlalchemy.orm import Session

from engine import accounts, audit, clock
from engine.authorization import SYSTEM_ACTOR, Principal
from engine.case_rows import CaseRecord
from engine.models import HumanTask, TaskCandidate, Team

#: Case history event: a team became a candidate of an open task.


def team_names(value: Any) -> list[str]:
    """The team names a candidateTeam value gives, in order and without repeats.

    A list (or tuple) gives its items; a string gives its comma-separated parts, as
    `camunda:candidateGroups="a, b"` does. None and empty names give nothing.
    """
    if value is None:
        return []
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
    elif isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        parts = [name for item in items for name in team_names(item)]
    else:
        parts = [str(value).strip()]
    names: list[str] = []
    for name in parts:
        if name and name not in names:
            names.append(name)
    return names


def team_ids(session: Session, names: Iterable[str]) -> list[str]:
    """The team ids of team ids or names (a lane's name), in order and without repeats."""
    ids: list[str] = []
    for name in names:
        team_id = accounts.team_id_for(session, name)
        if team_id not in ids:
            ids.append(team_id)
    return ids


def rows_for(team: str | None, teams: Iterable[str]) -> list[TaskCandidate]:
    """The `task_candidates` rows of a new task: every team but its primary one."""
    return [TaskCandidate(team=t) for t in teams if t != team]


def _ids_of_teams(teams: Iterable[str], status: str | None) -> list[Select[Any]]:
    teams = list(teams)
    primary = select(HumanTask.id).where(HumanTask.team.in_(teams))
    further = select(TaskCandidate.task_id).where(TaskCandidate.team.in_(teams))
    if status is not None:
        primary = primary.where(HumanTask.status == status)
        # Inline, not a parameter: a partial index of the ready rows matches only a literal.
        further = further.where(TaskCandidate.status == literal(status, literal_execute=True))
    return [primary, further]


def of_teams(teams: Iterable[str], status: str | None = None) -> ColumnElement[bool]:
    """A filter on `HumanTask`: a task whose primary team or another candidate is in `teams`.

    Written as one `IN (a UNION of index lookups)`, so that both databases answer it from the
    indexes instead of scanning every ready task.
    """
    return HumanTask.id.in_(union(*_ids_of_teams(teams, status)))


def visible(principal: Principal, status: str | None = None) -> ColumnElement[bool]:
    """A filter on `HumanTask`: the tasks of the principal's teams and those assigned to them
    (`status` narrows the index lookups to the status the list shows)."""
    mine = select(HumanTask.id).where(HumanTask.assignee == principal.username)
    if status is not None:
        mine = mine.where(HumanTask.status == status)
    return HumanTask.id.in_(union(*_ids_of_teams(principal.teams, status), mine))


def add(session: Session, task: HumanTask, team: str, *, instance: CaseRecord,
        actor: str) -> bool:
    """Make `team` (an id) a candidate of `task`; False when it already is one.

    The case history gets a `task_candidate_added` event.
    """
    if team in task.candidate_teams:
        return False
    task.candidates.append(TaskCandidate(team=team))
    audit.record(session, type=audit.TASK_CANDIDATE_ADDED, actor=actor, instance=instance,
                 element_id=task.element_id, task_id=task.id,
                 data={"team": team, "teams": task.candidate_teams})
    return True


def add_candidate_team(session: Session, case: CaseRecord, params: dict[str, Any]) -> Any:
    """The case operation `add_candidate_team`: params `element` (a user task's element id),
    `team` (a team id or name, or several: a list or comma-separated) and optionally
    `overdue` (true: only the tasks whose due date has passed).

    Every open task of that element in the case gets the teams as extra candidates, once;
    a task that is no longer open is left alone (it was done before the timer's call ran).
    Raises `ValueError` for a missing parameter or an unknown team (the model's mistake: the
    call is retried, then the case gets an incident).
    """
    element = params.get("element")
    if not isinstance(element, str) or not element:
        raise ValueError("add_candidate_team needs 'element', the user task's element id")
    names = team_names(params.get("team"))
    if not names:
        raise ValueError("add_candidate_team needs 'team'")
    teams = team_ids(session, names)
    unknown = [t for t in teams if session.get(Team, t) is None]
    if unknown:
        raise ValueError(f"add_candidate_team: unknown team {', '.join(unknown)}")
    query = select(HumanTask).where(
        HumanTask.instance_id == case.id, HumanTask.element_id == element,
        HumanTask.status == "ready").order_by(HumanTask.created_at, HumanTask.id)
    if params.get("overdue"):
        query = query.where(HumanTask.due_at < clock.now())
    tasks = session.scalars(query).all()
    added = 0
    for task in tasks:
        for team in teams:
            added += add(session, task, team, instance=case, actor=SYSTEM_ACTOR)
    return {"added": added, "tasks": [t.id for t in tasks]}
