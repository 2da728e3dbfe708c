"""The audit trail's hash chain: `engine.audit.verify_chain` and `virta audit verify` find an
edited, deleted or cut-off event, and an intact trail verifies, also after concurrent writes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from engine import audit, messages
from engine.authorization import SYSTEM
from engine.db import Database
from engine.models import Event
from tests.conftest import DATA, Api

RUNTIME = DATA / "runtime"
VIRTA = Path(sys.executable).with_name("virta")


def _run_case(api: Api) -> int:
    """A case that runs a script, a user task and a second script to completed."""
    api.deploy(RUNTIME / "script_error.bpmn")
    case = api.start("script_error", {"origin": "audit"})
    [task] = case["ready_tasks"]
    assert api.complete(task["id"], {"divisor": 2}).json()["status"] == "completed"
    return int(case["id"])


@dataclass(frozen=True)
class _Ev:
    id: int
    type: str
    data: dict[str, Any] | None


def _events(db: Database, instance_id: int | None) -> list[_Ev]:
    """The events of a case (or of the system chain), oldest first."""
    query = select(Event.id, Event.type, Event.data).order_by(Event.id)
    query = query.where(Event.instance_id == instance_id) if instance_id is not None \
        else query.where(Event.instance_id.is_(None))
    with db.reading() as session:
        return [_Ev(*row) for row in session.execute(query)]


def _verify(db: Database) -> audit.BrokenEvent | None:
    with db.reading() as session:
        return audit.verify_chain(session)


def _sql(db: Database, statement: Any) -> None:
    db.unit_of_work(lambda session: session.execute(statement))


def _cli_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIRTA_DATABASE_URL": database_url}
    return subprocess.run([str(VIRTA), "audit", "verify"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_the_trail_of_a_completed_case_is_intact(api: Api, db: Database) -> None:
    case_id = _run_case(api)

    assert _verify(db) is None
    types = [e.type for e in _events(db, case_id)]
    assert types[0] == "case_started" and types[-1] == "case_completed"
    assert len(_events(db, None)) >= 2  # the admin and the deployment are in the system chain


@pytest.mark.parametrize("change", [
    {"data": {"changed": {"divisor": 1}}},
    {"actor": "mallory"},
    {"type": "task_cancelled"},
    {"element_id": "something_else"},
])
def test_editing_one_event_breaks_the_chain_at_that_event(
        api: Api, db: Database, change: dict[str, Any]) -> None:
    case_id = _run_case(api)
    [target] = [e for e in _events(db, case_id) if e.type == "task_completed"]

    _sql(db, update(Event).where(Event.id == target.id).values(**change))

    broken = _verify(db)
    assert broken is not None
    assert (broken.event_id, broken.instance_id) == (target.id, case_id)
    # The hash covers the data through its digest: edited data no longer matches the digest.
    assert broken.reason == ("data does not match its digest" if "data" in change
                             else "content does not match its hash")


def test_deleting_an_event_breaks_the_chain_at_the_next_event_of_that_case(
        api: Api, db: Database) -> None:
    case_id = _run_case(api)
    other_id = _run_case(api)  # a second case, interleaved in the table, stays intact
    events = _events(db, case_id)
    victim, following = events[2], events[3]

    _sql(db, delete(Event).where(Event.id == victim.id))

    broken = _verify(db)
    assert broken is not None
    assert (broken.event_id, broken.instance_id) == (following.id, case_id)
    assert "previous" in broken.reason
    assert other_id != case_id


def test_deleting_the_last_events_of_a_case_is_found_too(api: Api, db: Database) -> None:
    case_id = _run_case(api)
    events = _events(db, case_id)

    _sql(db, delete(Event).where(Event.id.in_([events[-1].id, events[-2].id])))

    broken = _verify(db)
    assert broken is not None
    assert (broken.event_id, broken.instance_id) == (events[-3].id, case_id)
    assert "missing" in broken.reason


def test_editing_an_event_of_the_system_chain_is_found(api: Api, db: Database) -> None:
    api.user("eija", ["staff"], [])
    [created] = [e for e in _events(db, None)
                 if e.type == "user_created" and (e.data or {}).get("username") == "eija"]

    _sql(db, update(Event).where(Event.id == created.id).values(
        data={**created.data, "roles": ["admin"]}))

    broken = _verify(db)
    assert broken is not None
    assert (broken.event_id, broken.instance_id) == (created.id, None)


def test_concurrent_writers_of_the_system_chain_keep_it_intact(db: Database) -> None:
    # Unmatched messages write to the system chain; on PostgreSQL they really run in parallel.
    writers = 8
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def send(i: int) -> None:
        barrier.wait()
        try:
            db.unit_of_work(lambda s: messages.deliver(s, name=f"nobody_waits_{i}",
                                                       principal=SYSTEM))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    assert len([e for e in _events(db, None) if e.type == "message_unmatched"]) == writers
    assert _verify(db) is None


def test_the_cli_says_intact_and_exits_0_on_a_good_trail(
        api: Api, db: Database, database_url: str) -> None:
    _run_case(api)

    result = _cli_verify(database_url)

    assert result.returncode == 0, result.stderr
    assert "intact" in result.stdout


def test_the_cli_exits_non_zero_naming_the_first_broken_event(
        api: Api, db: Database, database_url: str) -> None:
    case_id = _run_case(api)
    events = _events(db, case_id)
    first, later = events[1], events[4]
    _sql(db, update(Event).where(Event.id == later.id).values(actor="mallory"))
    _sql(db, update(Event).where(Event.id == first.id).values(actor="mallory"))

    result = _cli_verify(database_url)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"event {first.id} " in output
    assert f"event {later.id} " not in output
    assert "intact" not in output
