"""Notifications: the `notify` service operation, e-mail through the outbox to a real SMTP server,
and due-date reminders sent by the scheduler's round.

Mail goes over TCP to an aiosmtpd server (`tests.smtp.SmtpServer`) with the product's
`SmtpMailer`; the platform clock is moved to reach retry delays and due times.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from sqlalchemy import select

from engine import clock, work
from engine.db import Database
from engine.models import OutboxMessage, User
from tests.conftest import DATA, Api, Drain
from tests.smtp import SmtpServer
from workers.mail import FROM_ADDRESS, SmtpMailer

SERVICES = DATA / "services"
TEAM = "employer_services"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _set_contact(db: Database, username: str, *, email: str | None, language: str = "fi",
                 active: bool = True) -> None:
    """Give a user an e-mail address and a language (the API does not take them yet)."""
    def change(session: Any) -> None:
        user = session.scalar(select(User).where(User.username == username))
        user.email, user.language, user.active = email, language, active

    db.unit_of_work(change)


def _email_rows(db: Database, case_id: int | None = None) -> list[dict[str, Any]]:
    def read(session: Any) -> list[dict[str, Any]]:
        query = select(OutboxMessage).where(OutboxMessage.kind == "email")
        if case_id is not None:
            query = query.where(OutboxMessage.instance_id == case_id)
        return [{"id": r.id, "to": r.payload["to"], "status": r.status, "attempts": r.attempts,
                 "last_error": r.last_error, "template": r.payload["template"]}
                for r in session.scalars(query.order_by(OutboxMessage.id))]

    return db.unit_of_work(read)


def _by_recipient(messages: list[Message]) -> dict[str, Message]:
    mails = {str(m["To"]): m for m in messages}
    assert len(mails) == len(messages), [m["To"] for m in messages]  # one mail per address
    return mails


def _team(api: Api, db: Database) -> dict[str, Api]:
    """Members of employer services with fi and en addresses, one without an address and one
    deactivated; and an outsider (tym) with an address."""
    people = {
        "eija": api.user("eija", ["staff"], [TEAM]),
        "emma": api.user("emma", ["staff"], [TEAM]),
        "erkki": api.user("erkki", ["staff"], [TEAM]),
        "ilkka": api.user("ilkka", ["staff"], [TEAM]),
        "olli": api.user("olli", ["staff"], ["tym"]),
    }
    _set_contact(db, "eija", email="eija@te.example", language="fi")
    _set_contact(db, "emma", email="emma@te.example", language="en")
    _set_contact(db, "erkki", email=None)
    _set_contact(db, "ilkka", email="ilkka@te.example", active=False)
    _set_contact(db, "olli", email="olli@te.example", language="fi")
    return people


# ---------------------------------------------------------------- in-app


def test_a_notify_task_shows_its_notification_to_the_team_and_not_to_other_teams(
        api: Api, drain: Drain) -> None:
    member = api.user("eija", ["staff"], [TEAM])
    outsider = api.user("olli", ["staff"], ["tym"])
    api.deploy(SERVICES / "notify_team.bpmn")
    case = api.start("notify_team", {"vacancy": "V-42"})
    assert case["status"] == "running"
    assert member.get("/api/notifications").json() == []  # written by the worker, not yet

    drain()

    after = api.get(f"/api/process-instances/{case['id']}").json()
    assert after["status"] == "completed"
    assert after["data"]["notified"] == {"notified": 1}
    [note] = member.get("/api/notifications").json()
    assert (note["kind"], note["team_id"], note["instance_id"]) == ("message", TEAM, case["id"])
    assert note["subject"] == "Uusi työpaikkailmoitus V-42"
    assert note["body"] == "Ilmoitus V-42 odottaa käsittelyä.\n"
    assert note["read_at"] is None
    assert outsider.get("/api/notifications").json() == []
    assert drain() == 0
    assert len(member.get("/api/notifications").json()) == 1


# ---------------------------------------------------------------- e-mail


def test_each_team_member_with_an_address_gets_one_mail_in_their_own_language(
        api: Api, db: Database, smtp: SmtpServer) -> None:
    _team(api, db)
    api.deploy(SERVICES / "notify_assigned.bpmn")
    case = api.start("notify_assigned", {"vacancy": "V-42"})
    drain = Drain(db, mailer=SmtpMailer(smtp.url))

    drain()

    mails = _by_recipient(smtp.wait_for(2))
    assert sorted(mails) == ["eija@te.example", "emma@te.example"]
    assert mails["eija@te.example"]["Subject"] == "Uusi tehtävä: V-42"
    assert "tiimillesi employer_services on tullut uusi tehtävä" in \
        mails["eija@te.example"].get_content()
    assert mails["emma@te.example"]["Subject"] == "New task: V-42"
    assert "your team employer_services has a new task" in mails["emma@te.example"].get_content()
    assert all(m["From"] == FROM_ADDRESS for m in mails.values())
    assert sorted(smtp.recipients) == [["eija@te.example"], ["emma@te.example"]]
    rows = _email_rows(db, case["id"])
    assert {r["to"]: r["status"] for r in rows} == {"eija@te.example": "done",
                                                    "emma@te.example": "done"}
    for row in rows:
        assert mails[row["to"]]["Message-ID"] == f"<virta-outbox-{row['id']}@virta.local>"
    assert api.get(f"/api/process-instances/{case['id']}").json()["status"] == "completed"


def test_a_mail_is_sent_once_however_often_the_outbox_is_drained_or_redelivered(
        api: Api, db: Database, smtp: SmtpServer) -> None:
    _team(api, db)
    api.deploy(SERVICES / "notify_assigned.bpmn")
    case = api.start("notify_assigned", {"vacancy": "V-42"})
    mailer = SmtpMailer(smtp.url)
    drain = Drain(db, mailer=mailer)
    drain()
    smtp.wait_for(2)

    assert drain() == 0
    for row in _email_rows(db, case["id"]):  # the broker delivers every message again
        work.handle_outbox(db, row["id"], mailer=mailer)
    assert drain() == 0

    assert len(smtp.messages) == 2
    assert [r["status"] for r in _email_rows(db, case["id"])] == ["done", "done"]


def test_mail_to_a_server_that_is_down_is_retried_and_delivered_once_it_is_back(
        api: Api, db: Database, test_clock: Any) -> None:
    api.user("emma", ["staff"], [TEAM])
    _set_contact(db, "emma", email="emma@te.example", language="en")
    api.deploy(SERVICES / "notify_assigned.bpmn")
    server = SmtpServer().start()
    server.stop()  # the mail server is down: connections are refused
    drain = Drain(db, mailer=SmtpMailer(server.url, timeout=2))
    case = api.start("notify_assigned", {"vacancy": "V-42"})

    drain()

    [row] = _email_rows(db, case["id"])
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "Connection" in (row["last_error"] or "")
    assert api.get(f"/api/process-instances/{case['id']}").json()["status"] == "completed"

    with server:
        assert drain() == 0  # the 2 s backoff has not passed
        assert server.messages == []

        test_clock.advance(timedelta(seconds=2.1))
        drain()

        [mail] = server.wait_for(1)
        assert (mail["To"], mail["Subject"]) == ("emma@te.example", "New task: V-42")
        assert mail["Message-ID"] == f"<virta-outbox-{row['id']}@virta.local>"
        [row] = _email_rows(db, case["id"])
        assert (row["status"], row["attempts"]) == ("done", 1)
        test_clock.advance(timedelta(minutes=5))
        assert drain() == 0
        assert len(server.messages) == 1


# ---------------------------------------------------------------- reminders


def _due_task(api: Api) -> tuple[dict[str, Any], datetime]:
    """A case whose review task is due in three business days; returns it and the due time."""
    api.deploy(SERVICES / "due_task.bpmn")
    case = api.start("due_task", {"start": clock.local_today().isoformat()})
    [task] = case["ready_tasks"]
    assert task["team"] == TEAM
    due = datetime.fromisoformat(task["due_at"])
    assert due - clock.now() > timedelta(days=3)
    return task, due


def _notifications(member: Api) -> list[dict[str, Any]]:
    """The member's notifications, logged in afresh: moving the clock days expires tokens."""
    again = Api(member.client, member.username, f"{member.username}-password")
    return list(again.get("/api/notifications").json())


def _kinds(member: Api) -> list[str]:
    return sorted(n["kind"] for n in _notifications(member))


def test_a_task_due_within_24_hours_reminds_its_team_once(
        api: Api, db: Database, smtp: SmtpServer, test_clock: Any) -> None:
    people = _team(api, db)
    task, due = _due_task(api)
    drain = Drain(db, mailer=SmtpMailer(smtp.url))
    assert drain() == 0
    assert _kinds(people["eija"]) == []

    test_clock.advance(due - clock.now() - timedelta(hours=23))
    drain()
    for _ in range(3):
        test_clock.advance(timedelta(hours=5))  # still before the due time
        drain()

    [note] = _notifications(people["eija"])
    assert (note["kind"], note["task_id"], note["team_id"]) == ("task_due_soon", task["id"], TEAM)
    assert note["subject"] == "Muistutus: tehtävän Review the vacancy määräaika lähestyy"
    assert _notifications(people["olli"]) == []
    mails = _by_recipient(smtp.wait_for(2))
    assert sorted(mails) == ["eija@te.example", "emma@te.example"]
    assert mails["emma@te.example"]["Subject"] == "Reminder: task Review the vacancy is due soon"
    assert mails["eija@te.example"]["Subject"] == note["subject"]
    assert due.astimezone(clock.TIMEZONE).strftime("%d.%m.%Y %H:%M") in \
        mails["emma@te.example"].get_content()


def test_an_overdue_task_alerts_its_team_once(
        api: Api, db: Database, smtp: SmtpServer, test_clock: Any) -> None:
    people = _team(api, db)
    task, due = _due_task(api)
    drain = Drain(db, mailer=SmtpMailer(smtp.url))
    test_clock.advance(due - clock.now() - timedelta(hours=2))
    drain()
    assert _kinds(people["eija"]) == ["task_due_soon"]

    test_clock.advance(timedelta(hours=2, minutes=1))
    drain()
    for _ in range(3):
        test_clock.advance(timedelta(days=1))
        drain()

    assert _kinds(people["eija"]) == ["task_due_soon", "task_overdue"]
    [alert] = [n for n in _notifications(people["eija"]) if n["kind"] == "task_overdue"]
    assert (alert["task_id"], alert["subject"]) == (task["id"], "Myöhässä: Review the vacancy")
    mails = sorted((str(m["To"]), str(m["Subject"])) for m in smtp.wait_for(4))
    assert mails == [
        ("eija@te.example", "Muistutus: tehtävän Review the vacancy määräaika lähestyy"),
        ("eija@te.example", "Myöhässä: Review the vacancy"),
        ("emma@te.example", "Overdue: Review the vacancy"),
        ("emma@te.example", "Reminder: task Review the vacancy is due soon"),
    ]


def test_a_task_first_seen_after_its_due_time_gets_only_the_overdue_alert(
        api: Api, db: Database, test_clock: Any) -> None:
    member = api.user("eija", ["staff"], [TEAM])
    _task, due = _due_task(api)
    drain = Drain(db)

    test_clock.advance(due - clock.now() + timedelta(hours=1))
    drain()
    drain()

    assert _kinds(member) == ["task_overdue"]


def test_a_task_completed_before_its_due_time_is_never_reminded(
        api: Api, db: Database, test_clock: Any) -> None:
    member = api.user("eija", ["staff"], [TEAM])
    task, due = _due_task(api)
    member.complete(task["id"], {})
    drain = Drain(db)

    test_clock.advance(due - clock.now() - timedelta(hours=1))
    drain()
    test_clock.advance(timedelta(days=2))
    drain()

    assert _kinds(member) == []
