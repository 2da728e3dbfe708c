"""Notifications: an in-app inbox per user and team, and e-mail through the outbox.

`notify` writes the in-app rows and one `email` outbox row per recipient with an address, in
the caller's transaction. The worker renders and sends the mail later (`engine.work`), in the
recipient's language, from the Jinja2 templates in `engine/templates/notifications/`; the
first line of a template is the subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, selectinload

from engine import clock, outbox
from engine.authorization import Principal
from engine.models import HumanTask, Notification, User, UserTeam

EMAIL = "email"
LANGUAGES = ("fi", "en")
#: Template names that `notify` accepts.
KINDS = ("task_assigned", "task_due_soon", "task_overdue", "message")
#: How long before a task's due time its team gets a reminder.
REMINDER_LEAD = timedelta(hours=24)

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "notifications"),
    autoescape=select_autoescape(default=False), undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class RenderedEmail:
    """A mail ready to send."""

    to: str
    subject: str
    body: str
    message_id: str


def addressed_to(principal: Principal) -> ColumnElement[bool]:
    """A filter on `Notification`: those to the user and to their teams."""
    return or_(Notification.user_id == principal.user_id,
               Notification.team_id.in_(principal.teams))


def render(kind: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """Render a notification template; returns (subject, body)."""
    lang = language if language in LANGUAGES else "fi"
    text = _templates.get_template(f"{kind}.{lang}.txt").render(**context)
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip() + "\n"


def notify(
    session: Session, *, kind: str, context: dict[str, Any], team: str | None = None,
    username: str | None = None, instance_id: int | None = None, task_id: str | None = None,
    teams: Sequence[str] = (),
) -> list[Notification]:
    """Notify a team (each member by e-mail), several `teams` (one in-app row per team, one
    mail per person even when they are in several) or one user, in-app and by e-mail.

    Raises `ValueError` for an unknown kind or when neither team nor user is given.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    audience = list(dict.fromkeys([*([team] if team else []), *(t for t in teams if t)]))
    if not audience and not username:
        raise ValueError("a notification needs a team or a user")
    subject, body = render(kind, "fi", context)
    now = clock.now()
    rows: list[Notification] = []
    recipients: list[User] = []
    for team_id in audience:
        rows.append(Notification(team_id=team_id, instance_id=instance_id, task_id=task_id,
                                 kind=kind, subject=subject, body=body, created_at=now))
    if audience:
        recipients += session.scalars(select(User).join(UserTeam, UserTeam.user_id == User.id)
                                      .where(UserTeam.team_id.in_(audience), User.active)
                                      .order_by(User.id)).all()
    if username:
        user = session.scalar(select(User).where(User.username == username))
        if user is not None:
            rows.append(Notification(user_id=user.id, instance_id=instance_id, task_id=task_id,
                                     kind=kind, subject=subject, body=body, created_at=now))
            recipients.append(user)
    session.add_all(rows)
    for user in {u.id: u for u in recipients}.values():
        if user.email:
            outbox.enqueue(session, kind=EMAIL, instance_id=instance_id, payload={
                "to": user.email, "language": user.language or "fi", "template": kind,
                "context": context})
    return rows


def email_for(row_id: int, payload: dict[str, Any]) -> RenderedEmail:
    """Render the mail of an `email` outbox row; its Message-ID is derived from the row id."""
    subject, body = render(payload["template"], payload.get("language", "fi"),
                           payload.get("context", {}))
    return RenderedEmail(to=payload["to"], subject=subject, body=body,
                         message_id=f"<virta-outbox-{row_id}@virta.local>")


def task_context(task: HumanTask, base_url: str = "") -> dict[str, Any]:
    """What the task templates show."""
    due = task.due_at.astimezone(clock.TIMEZONE).strftime("%d.%m.%Y %H:%M") \
        if task.due_at else None
    return {"task_name": task.name or task.element_id, "case_id": task.instance_id,
            "team": task.team, "due_at": due, "link": f"{base_url}/tasks/{task.id}"}


def _audience(task: HumanTask) -> dict[str, Any]:
    """Who hears about a task: its assignee when it has one, else its candidate teams (its
    primary team and the others, `engine.candidates`)."""
    return {"username": task.assignee} if task.assignee else {"teams": task.candidate_teams}


def send_due_reminders(session: Session, *, now: datetime | None = None,
                       lead: timedelta = REMINDER_LEAD, limit: int = 500) -> int:
    """Remind teams of tasks due within `lead`, and alert them of overdue ones; once each."""
    now = now or clock.now()
    sent = 0
    soon = session.scalars(select(HumanTask).where(
        HumanTask.status == "ready", HumanTask.reminded_at.is_(None),
        HumanTask.due_at <= now + lead, HumanTask.due_at > now).limit(limit)
        .options(selectinload(HumanTask.candidates))).all()
    for task in soon:
        task.reminded_at = now
        notify(session, kind="task_due_soon", context=task_context(task), **_audience(task),
               instance_id=task.instance_id, task_id=task.id)
        sent += 1
    late = session.scalars(select(HumanTask).where(
        HumanTask.status == "ready", HumanTask.overdue_alerted_at.is_(None),
        HumanTask.due_at <= now).limit(limit)
        .options(selectinload(HumanTask.candidates))).all()
    for task in late:
        task.overdue_alerted_at = now
        task.reminded_at = task.reminded_at or now
        notify(session, kind="task_overdue", context=task_context(task), **_audience(task),
               instance_id=task.instance_id, task_id=task.id)
        sent += 1
    return sent
