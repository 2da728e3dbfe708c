"""Handing a task to another member of its teams."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit, case_rows
from engine.authorization import Principal, require_task_work
from engine.errors import InputInvalid, NotAllowed, NotFound, TaskNotReady
from engine.models import HumanTask, User, UserTeam


def reassign_task(session: Session, *, task_id: str, username: str,
                  principal: Principal) -> HumanTask:
    """Give a ready task to `username`, who must be an active member of one of the task's
    candidate teams (its primary team or another, `engine.candidates`).

    A team member may pass on a task that is free or their own; a task someone else holds may
    be passed on only by a lead of one of those teams (`<team>.lead`) or an admin.
    """
    row = session.get(HumanTask, task_id, with_for_update=True)
    if row is None:
        raise NotFound(f"task {task_id} not found")
    require_task_work(principal, row)
    if row.status != "ready":
        raise TaskNotReady(f"task {task_id} is {row.status}")
    teams = row.candidate_teams
    if not teams:
        raise NotAllowed("a task without a team cannot be reassigned")
    leads = principal.is_admin or any(f"{t}.lead" in principal.teams for t in teams)
    if row.assignee not in (None, principal.username) and not leads:
        raise TaskNotReady(f"task {task_id} is held by {row.assignee}")
    member = session.scalar(
        select(User.id).join(UserTeam, UserTeam.user_id == User.id)
        .where(User.username == username, User.active.is_(True), UserTeam.team_id.in_(teams))
        .limit(1))
    if member is None:
        raise InputInvalid([{"field": "assignee", "message": f"{username!r} is not a member of "
                             f"team {', '.join(repr(t) for t in teams)}"}])
    if row.assignee != username:
        previous, row.assignee = row.assignee, username
        instance = case_rows.load(session, row.instance_id)
        audit.record(session, type=audit.TASK_REASSIGNED, actor=principal.username,
                     instance=instance, element_id=row.element_id, task_id=task_id,
                     data={"from": previous, "to": username})
    return row
