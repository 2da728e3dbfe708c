"""Due timers handed out and fired in batches (`engine.work.fire_timers`, the `fire_timers`
actor): one transaction per batch, every timer fired once also when a batch is delivered
twice, and one by one when the batch's transaction fails, so that one bad case never holds up
the others. Time moves with the platform clock's test hook.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from engine import audit, runner, timers, work
from engine.db import Database
from engine.models import Incident, ProcessInstance, Timer
from tests.conftest import DATA, Api, at_once

TIMERS = DATA / "timers"
EVENTS = DATA / "events"


def claim(db: Database, *, batch: int = work.TIMER_BATCH) -> list[list[int]]:
    """One scheduler round; returns the batches it handed out (nothing is fired)."""
    batches: list[list[int]] = []

    def one_by_one(timer_id: int) -> None:
        raise AssertionError(f"timer {timer_id} was not handed out in a batch")

    work.scheduler_round(db, send_timer=one_by_one, send_timers=batches.append,
                         timer_batch=batch, send_outbox=lambda _id: None)
    return batches


def claim_all(db: Database) -> list[int]:
    """One scheduler round's due timers, as one batch."""
    return [timer_id for batch in claim(db) for timer_id in batch]


def timer_statuses(db: Database, **where: Any) -> dict[int, str]:
    with db.reading() as s:
        query = select(Timer.id, Timer.status).order_by(Timer.id)
        for name, value in where.items():
            query = query.where(getattr(Timer, name) == value)
        return {timer_id: state for timer_id, state in s.execute(query)}


@contextmanager
def counting_commits(db: Database) -> Iterator[list[int]]:
    """The commits of `db`'s writing engine while the block runs, one `1` each."""
    commits: list[int] = []

    def count(_conn: Any) -> None:
        commits.append(1)

    sa.event.listen(db.engine, "commit", count)
    try:
        yield commits
    finally:
        sa.event.remove(db.engine, "commit", count)


def fired_events(api: Api, instance_id: int) -> list[str]:
    events = api.get(f"/api/process-instances/{instance_id}/history").json()["events"]
    return [e["element_id"] for e in events if e["type"] == "timer_fired"]


def status(api: Api, instance_id: int) -> str:
    return api.get(f"/api/process-instances/{instance_id}").json()["status"]


def test_the_scheduler_hands_due_timers_out_in_batches_each_timer_once(
        api: Api, db: Database, test_clock: Any) -> None:
    # Given eleven cases whose timers are due
    api.deploy(TIMERS / "wait_duration.bpmn")
    for _ in range(11):
        api.start("wait_duration")
    test_clock.advance(timedelta(minutes=31))

    # When a round hands them out in batches of at most two
    batches = claim(db, batch=2)

    # Then every due timer is in exactly one batch, and the batches are as even as can be
    assert sorted(len(b) for b in batches) == [1, 2, 2, 2, 2, 2]
    assert sorted(i for b in batches for i in b) == sorted(timer_statuses(db))
    assert claim(db, batch=2) == []  # leased: not handed out again

    # And a round with fewer timers than full batches spreads them over TIMER_SPREAD batches
    # (for several worker threads): seven more, and the eleven whose lease ran out (as if
    # their messages were lost), in four batches
    for _ in range(7):
        api.start("wait_duration")
    test_clock.advance(timedelta(minutes=31))
    assert work.TIMER_SPREAD == 4
    again = claim(db, batch=50)
    assert sorted(len(b) for b in again) == [4, 4, 5, 5]
    assert sorted(i for b in again for i in b) == sorted(timer_statuses(db))


def test_a_batch_fires_every_due_timer_once_in_one_transaction(
        api: Api, db: Database, test_clock: Any) -> None:
    api.deploy(TIMERS / "wait_duration.bpmn")
    ids = [api.start("wait_duration")["id"] for _ in range(5)]
    test_clock.advance(timedelta(minutes=31))
    batch = claim_all(db)
    with counting_commits(db) as commits:
        assert work.fire_timer_batch(db, batch) == 5
    assert commits == [1]
    assert {status(api, i) for i in ids} == {"completed"}
    assert [fired_events(api, i) for i in ids] == [["half_hour"]] * 5
    assert set(timer_statuses(db).values()) == {"fired"}


def test_a_redelivered_batch_fires_nothing_twice(
        api: Api, db: Database, test_clock: Any) -> None:
    api.deploy(TIMERS / "wait_duration.bpmn")
    ids = [api.start("wait_duration")["id"] for _ in range(4)]
    test_clock.advance(timedelta(minutes=31))
    batch = claim_all(db)
    assert work.fire_timer_batch(db, batch) == 4

    # The broker delivers the same message again: nothing fires
    assert work.fire_timer_batch(db, batch) == 0
    assert [fired_events(api, i) for i in ids] == [["half_hour"]] * 4


def test_a_batch_delivered_to_two_workers_at_once_fires_each_timer_once(
        api: Api, db: Database, test_clock: Any) -> None:
    api.deploy(TIMERS / "wait_duration.bpmn")
    ids = [api.start("wait_duration")["id"] for _ in range(6)]
    test_clock.advance(timedelta(minutes=31))
    batch = claim_all(db)
    results = at_once([lambda: work.fire_timer_batch(db, batch)] * 2)
    assert sum(results) == 6
    assert [fired_events(api, i) for i in ids] == [["half_hour"]] * 6
    assert {status(api, i) for i in ids} == {"completed"}


def test_a_batch_with_a_case_that_raises_still_fires_the_others(
        api: Api, db: Database, test_clock: Any) -> None:
    # Given four due timers, one of whose cases cannot be loaded (its stored state is broken)
    api.deploy(TIMERS / "wait_duration.bpmn")
    ids = [api.start("wait_duration")["id"] for _ in range(4)]
    broken = ids[1]
    db.unit_of_work(lambda s: s.execute(sa.update(ProcessInstance).where(
        ProcessInstance.id == broken).values(state="not a workflow")))
    runner.workflow_cache.clear()
    test_clock.advance(timedelta(minutes=31))
    batch = claim_all(db)

    # When the batch fires, its transaction fails and the timers go one by one; the broken
    # case's error is raised afterwards (the message is retried)
    with pytest.raises(ValueError):
        work.fire_timer_batch(db, batch)

    # Then the other cases went on, and the broken case's timer waits for the retry
    assert [status(api, i) for i in ids] == ["completed", "waiting", "completed", "completed"]
    assert timer_statuses(db, instance_id=broken) == {
        t: "pending" for t in timer_statuses(db, instance_id=broken)}
    assert set(timer_statuses(db).values()) == {"fired", "pending"}

    # A retry fires nothing twice and fails on the broken case again
    with pytest.raises(ValueError):
        work.fire_timer_batch(db, batch)
    assert [len(fired_events(api, i)) for i in ids] == [1, 0, 1, 1]


def test_a_timer_whose_firing_keeps_raising_fails_as_an_incident_that_can_be_retried(
        api: Api, db: Database, test_clock: Any) -> None:
    # Given a due timer whose case cannot be loaded, beside a good one
    api.deploy(TIMERS / "wait_duration.bpmn")
    good, broken = (api.start("wait_duration")["id"] for _ in range(2))
    with db.reading() as s:
        state = s.scalar(select(ProcessInstance.state).where(ProcessInstance.id == broken))
    db.unit_of_work(lambda s: s.execute(sa.update(ProcessInstance).where(
        ProcessInstance.id == broken).values(state="not a workflow")))
    runner.workflow_cache.clear()
    test_clock.advance(timedelta(minutes=31))
    [timer] = timer_statuses(db, instance_id=broken)
    batch = claim_all(db)

    # When its firing raises, each try is counted with its error and raised for a retry
    for attempt in range(1, timers.MAX_ATTEMPTS):
        with pytest.raises(ValueError):
            work.fire_timer_batch(db, batch)
        with db.reading() as s:
            row = s.get(Timer, timer)
            assert (row.status, row.attempts) == ("pending", attempt)
            assert row.last_error.startswith("JSONDecodeError: Expecting value")
    assert status(api, good) == "completed"

    # Then the last allowed try fails the timer as an open incident, without raising
    assert work.fire_timer_batch(db, batch) == 0
    assert timer_statuses(db, instance_id=broken) == {timer: "failed"}
    [incident] = api.get("/api/incidents").json()
    assert (incident["instance_id"], incident["kind"], incident["element_id"]) == (
        broken, "timer", "half_hour")
    assert f"failed {timers.MAX_ATTEMPTS} times: JSONDecodeError" in incident["message"]
    history = api.get(f"/api/process-instances/{broken}/history").json()["events"]
    assert [e["data"]["kind"] for e in history if e["type"] == "incident"] == ["timer"]
    # and the scheduler no longer hands it out, also once its lease has run out
    test_clock.advance(timedelta(hours=1))
    assert claim_all(db) == []

    # When the case is repaired and the incident retried, the timer is scheduled again
    db.unit_of_work(lambda s: s.execute(sa.update(ProcessInstance).where(
        ProcessInstance.id == broken).values(state=state)))
    runner.workflow_cache.clear()
    assert api.post(f"/api/incidents/{incident['id']}/retry").json()["status"] == "resolved"
    api.post(f"/api/incidents/{incident['id']}/retry", 409)  # once
    assert claim_all(db) == [timer]
    assert work.fire_timer_batch(db, [timer]) == 1
    assert status(api, broken) == "completed"
    history = api.get(f"/api/process-instances/{broken}/history").json()["events"]
    assert [e["type"] for e in history if e["type"].startswith(("incident", "timer"))] == [
        "incident", "incident_resolved", "timer_fired"]
    with db.reading() as s:
        assert audit.verify_chain(s) is None


def test_a_database_failure_is_not_counted_against_the_timer(
        api: Api, db: Database, test_clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api.deploy(TIMERS / "wait_duration.bpmn")
    case = api.start("wait_duration")["id"]
    test_clock.advance(timedelta(minutes=31))
    [timer] = claim_all(db)

    def unavailable(_session: Any, *, timer_id: int) -> bool:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(work, "fire_timer", unavailable)
    for _ in range(timers.MAX_ATTEMPTS + 1):
        with pytest.raises(sa.exc.OperationalError):
            work.fire_one(db, timer)
    with db.reading() as s:
        assert (s.get(Timer, timer).status, s.get(Timer, timer).attempts) == ("pending", 0)
    monkeypatch.undo()
    assert work.fire_one(db, timer) == 1
    assert status(api, case) == "completed"


def test_a_model_error_after_a_timer_becomes_an_incident_and_the_batch_still_commits(
        api: Api, db: Database, test_clock: Any) -> None:
    api.deploy(TIMERS / "wait_duration.bpmn", TIMERS / "wait_then_fail.bpmn")
    good = [api.start("wait_duration")["id"] for _ in range(2)]
    bad = api.start("wait_then_fail")["id"]
    test_clock.advance(timedelta(minutes=31))
    batch = claim_all(db)
    with counting_commits(db) as commits:
        assert work.fire_timer_batch(db, batch) == 3
    assert commits == [1]  # no fallback to one by one
    assert [status(api, i) for i in good] == ["completed", "completed"]
    assert status(api, bad) == "error"
    with db.reading() as s:
        [incident] = s.scalars(select(Incident).where(Incident.instance_id == bad)).all()
        assert incident.element_id == "divide"
        assert "ZeroDivisionError" in incident.message
    assert set(timer_statuses(db).values()) == {"fired"}


def test_a_batch_writes_its_cases_together_and_caches_them_at_their_stored_revision(
        api: Api, db: Database, test_clock: Any) -> None:
    # Given three cases whose boundary timers are due (each goes on to a user task)
    api.deploy(TIMERS / "escalation.bpmn")
    ids = [api.start("escalation", {"limit": "PT1H", "start_date": "2026-04-02"})["id"]
           for _ in range(3)]
    test_clock.advance(timedelta(hours=1, minutes=1))
    batch = claim_all(db)
    runner.workflow_cache.clear()
    updates: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE process_instances"):
            updates.append(statement)

    # When the batch fires
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert work.fire_timer_batch(db, batch) == 3
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)

    # Then the three case rows went in one UPDATE at the commit, not one each
    assert len(updates) == 1
    # And each case's workflow is cached under the revision its row has now, so that the
    # next unit of work does not deserialize it again
    with db.reading() as s:
        revisions = dict(s.execute(select(ProcessInstance.id, ProcessInstance.revision)
                                   .where(ProcessInstance.id.in_(ids))).all())
    for case_id in ids:
        wf = runner.workflow_cache.take(case_id, revisions[case_id])
        assert wf is not None
        runner.workflow_cache.put(case_id, revisions[case_id], wf)
    # And the cases go on from there
    for case_id in ids:
        [task] = api.tasks(case_id)
        assert task["element_id"] == "escalate"
        api.complete(task["id"], {})
        assert status(api, case_id) == "completed"


def test_timers_of_every_kind_fire_together_in_one_batch(
        api: Api, db: Database, test_clock: Any) -> None:
    # Given an intermediate timer, an interrupting boundary timer, an event-based gateway
    # whose two timer arms are both due, and a cycle start timer, all due at once
    api.deploy(TIMERS / "wait_duration.bpmn", TIMERS / "escalation.bpmn",
               EVENTS / "ebg_two_timers.bpmn", TIMERS / "start_hourly.bpmn")
    wait = api.start("wait_duration")["id"]
    boundary = api.start("escalation", {"limit": "PT1H", "start_date": "2026-04-02"})["id"]
    gateway = api.start("ebg_two_timers")["id"]
    test_clock.advance(timedelta(hours=2, minutes=1))
    batch = claim_all(db)
    kinds = {(r.kind, r.element_id) for r in _timers(db, batch)}
    assert {("task", "half_hour"), ("task", "too_late"), ("task", "after_one_hour"),
            ("task", "after_two_hours"), ("start", "every_hour")} <= kinds

    # When the batch fires
    work.fire_timer_batch(db, batch)

    # Then each fired as it does alone: the case went on, the boundary timer escalated, the
    # gateway's earlier arm won and withdrew the later one, and the start timer started a case
    assert status(api, wait) == "completed"
    assert fired_events(api, wait) == ["half_hour"]
    assert [t["element_id"] for t in api.tasks(boundary)] == ["escalate"]
    assert fired_events(api, boundary) == ["too_late"]
    assert status(api, gateway) == "completed"
    steps = [e["element_id"] for e in api.get(f"/api/process-instances/{gateway}/history")
             .json()["events"] if e["type"] == "step_completed"]
    assert "after_one_hour" in steps and "after_two_hours" not in steps
    gateway_rows = {r.element_id: r.status for r in _timers(db, batch)
                    if r.instance_id == gateway}
    assert gateway_rows == {"after_one_hour": "fired", "after_two_hours": "cancelled"}
    started = api.get("/api/process-instances", params={"process_id": "start_hourly"}).json()
    assert len(started) == 1
    assert len(timer_statuses(db, kind="start", status="pending")) == 1  # the cycle's next

    # And a redelivery of the batch changes nothing
    assert work.fire_timer_batch(db, batch) == 0
    assert len(api.get("/api/process-instances",
                       params={"process_id": "start_hourly"}).json()) == 1


def _timers(db: Database, ids: list[int]) -> list[Any]:
    with db.reading() as s:
        return list(s.execute(select(Timer.id, Timer.kind, Timer.element_id, Timer.status,
                                     Timer.instance_id).where(Timer.id.in_(ids))).all())
