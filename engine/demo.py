"""`virta serve --demo`: one demo user per team, a few role users, and sample cases.

Sample cases come from `processes/demo/cases.json` (data, not code): each entry names its
`process_id` and either sends a start message as the external party would (`"message": name,
"payload": {...}`) or starts the process by hand (`"data": {...}`). A value `{"$days": n}`
becomes the ISO date n days from today, so that the samples stay valid. Loading twice adds
nothing: users are created once, and a sample is skipped when its process already has a case.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import accounts, clock, messages, runner
from engine.authorization import ADMIN, AUDITOR, PROCESS_OWNER, STAFF, SYSTEM
from engine.db import Database
from engine.errors import VirtaError
from engine.models import ProcessInstance, Team, User
from engine.settings import get_settings

DEMO_PASSWORD = "demo-password"
ROLE_USERS = (("demo_admin", ADMIN), ("demo_owner", PROCESS_OWNER), ("demo_auditor", AUDITOR))


def demo_username(team_id: str) -> str:
    """The demo user of a team: `demo_<team id>` (e.g. `demo_tym.lead`)."""
    return f"demo_{team_id}"


def _dates(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$days"}:
            return (clock.local_today() + timedelta(days=int(value["$days"]))).isoformat()
        return {k: _dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates(v) for v in value]
    return value


def _users(session: Session) -> list[str]:
    existing = set(session.scalars(select(User.username)))
    created = []
    wanted = [(demo_username(t.id), STAFF, [t.id]) for t in session.scalars(
        select(Team).order_by(Team.id))]
    wanted += [(name, role, []) for name, role in ROLE_USERS]
    for username, role, teams in wanted:
        if username not in existing:
            accounts.create_user(session, username=username, password=DEMO_PASSWORD,
                                 roles=[role], teams=teams, actor="demo")
            created.append(username)
    return created


def _sample(session: Session, entry: dict[str, Any]) -> str | None:
    if "message" in entry:
        ids = messages.deliver(session, name=entry["message"], principal=SYSTEM,
                               payload=_dates(entry.get("payload") or {}), keep_unmatched=False)
        return f"{entry['message']} → case {ids[0]}" if ids else None
    row = runner.start_case(session, process_id=entry["process_id"], principal=SYSTEM,
                            data=_dates(entry.get("data") or {}))
    return f"{entry['process_id']} → case {row.id}"


def _has_cases(session: Session, entry: dict[str, Any]) -> bool:
    return bool(session.scalar(select(func.count(ProcessInstance.id))
                               .where(ProcessInstance.process_id == entry["process_id"])))


def load_demo(db: Database, cases_file: Path | None = None) -> str:
    """Create the demo users and sample cases; answers the text that tells how to log in."""
    path = cases_file or get_settings().processes_dir / "demo" / "cases.json"
    entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    created = db.unit_of_work(_users)
    started, failed = [], []
    for entry in entries:
        if db.unit_of_work(lambda s, e=entry: _has_cases(s, e)):
            continue
        try:
            outcome = db.unit_of_work(lambda s, e=entry: _sample(s, e))
        except VirtaError as error:  # a sample that no longer fits its model is reported
            failed.append(f"{entry['process_id']}: {error}")
            continue
        if outcome:
            started.append(outcome)
    with db.reading() as session:
        users = sorted(session.scalars(select(User.username)
                                       .where(User.username.like("demo\\_%", escape="\\"))))
    lines = ["Virta demo: log in at /login with one of these users, password "
             f"'{DEMO_PASSWORD}':", "  " + ", ".join(users)]
    lines.append(f"  ({len(created)} users created now; {len(started)} sample cases started)")
    lines += [f"  sample: {s}" for s in started]
    lines += [f"  sample refused: {f}" for f in failed]
    return "\n".join(lines)
