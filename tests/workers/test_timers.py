"""Every BPMN timer kind, fired by the scheduler's round and the workers' handlers.

Boundary (interrupting and not), intermediate catch and start timers, with ISO 8601 durations,
dates and cycles; the durable `timers` rows and their (status, due_at) index; firing once, also
when two schedulers race; Finnish business days in timer expressions. Time moves with the
platform clock's test hook, never by sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy import select

from engine import clock, work
from engine.db import Database
from engine.models import Timer
from tests.conftest import ADMIN, DATA, Api, Drain, at_once

TIMERS = DATA / "timers"
HELSINKI = clock.TIMEZONE
SLACK = timedelta(seconds=2)


# ---------------------------------------------------------------- helpers


class TimeTravellingApi(Api):
    """The admin client, logging in again when a clock move has outlived its token."""

    def call(self, method: str, path: str, expect: int | None = None, **kwargs: Any) -> Any:
        answer = super().call(method, path, None, **kwargs)
        if answer.status_code == 401:
            self.headers = Api(self.client, *ADMIN).headers
            answer = super().call(method, path, None, **kwargs)
        if expect is not None:
            assert answer.status_code == expect, f"{method} {path}: {answer.status_code} " \
                                                 f"{answer.text}"
        return answer


@pytest.fixture
def api(app_client: TestClient) -> Api:
    return TimeTravellingApi(app_client, *ADMIN)


def history(api: Api, instance_id: int) -> list[dict[str, Any]]:
    return api.get(f"/api/process-instances/{instance_id}/history").json()["events"]


def fired(api: Api, instance_id: int, element_id: str | None = None) -> int:
    """How many `timer_fired` events the case's history has (for one element, or all)."""
    return sum(1 for e in history(api, instance_id) if e["type"] == "timer_fired"
               and (element_id is None or e["element_id"] == element_id))


def status(api: Api, instance_id: int) -> str:
    return api.get(f"/api/process-instances/{instance_id}").json()["status"]


def timer_rows(db: Database, **where: Any) -> list[Timer]:
    with db.reading() as s:
        query = select(Timer).order_by(Timer.id)
        for name, value in where.items():
            query = query.where(getattr(Timer, name) == value)
        rows = list(s.scalars(query))
        s.expunge_all()  # detached with their values, before reading() rolls back
        return rows


def the_timer(db: Database, instance_id: int, element_id: str) -> Timer:
    [row] = timer_rows(db, instance_id=instance_id, element_id=element_id)
    return row


def timer_status(db: Database, timer_id: int) -> str:
    [row] = timer_rows(db, id=timer_id)
    return row.status


def ready_elements(api: Api, instance_id: int) -> list[str]:
    return sorted(t["element_id"] for t in api.tasks(instance_id))


def cases_of(api: Api, process_id: str) -> list[dict[str, Any]]:
    return api.get("/api/process-instances", params={"process_id": process_id}).json()


def set_local_time(test_clock: Any, when: datetime) -> None:
    """Move the platform clock so that now is `when` (aware)."""
    test_clock.set_offset(when - datetime.now(UTC))


def helsinki(*args: int) -> datetime:
    return datetime(*args, tzinfo=HELSINKI)


def close_to(actual: datetime, expected: datetime) -> bool:
    return abs(actual - expected) <= SLACK


# ---------------------------------------------------------------- intermediate catch timers


def test_an_intermediate_duration_timer_fires_once_after_thirty_minutes(
        api: Api, db: Database, drain: Drain, test_clock: Any) -> None:
    api.deploy(TIMERS / "wait_duration.bpmn")
    started_at = clock.now()
    case = api.start("wait_duration")
    assert case["status"] == "waiting"
    row = the_timer(db, case["id"], "half_hour")
    assert row.status == "pending"
    assert close_to(row.due_at, started_at + timedelta(minutes=30))

    test_clock.advance(timedelta(minutes=29))
    assert drain() == 0
    assert fired(api, case["id"]) == 0
    assert status(api, case["id"]) == "waiting"

    test_clock.advance(timedelta(minutes=2))
    assert drain() >= 1
    assert fired(api, case["id"], "half_hour") == 1
    assert status(api, case["id"]) == "completed"
    assert drain() == 0
    assert fired(api, case["id"], "half_hour") == 1

    row = the_timer(db, case["id"], "half_hour")
    assert row.status == "fired"
    assert row.fired_at is not None
    assert close_to(row.due_at, started_at + timedelta(minutes=30))


def test_an_intermediate_date_timer_with_an_offset_fires_only_once_the_clock_passes_it(
        api: Api, db: Database, drain: Drain, test_clock: Any) -> None:
    due = datetime.fromisoformat("2030-01-01T08:00:00+02:00")
    set_local_time(test_clock, helsinki(2029, 12, 31, 12, 0))
    api.deploy(TIMERS / "wait_date.bpmn")
    case = api.start("wait_date")
    assert the_timer(db, case["id"], "new_year").due_at == due

    set_local_time(test_clock, due - timedelta(minutes=1))
    assert drain() == 0
    assert status(api, case["id"]) == "waiting"

    set_local_time(test_clock, due + timedelta(minutes=1))
    assert drain() >= 1
    assert status(api, case["id"]) == "completed"
    assert fired(api, case["id"], "new_year") == 1
    assert the_timer(db, case["id"], "new_year").status == "fired"


# ---------------------------------------------------------------- boundary timers


def test_an_interrupting_boundary_timer_cancels_the_host_task_and_escalates_once(
        api: Api, db: Database, drain: Drain, test_clock: Any) -> None:
    api.deploy(TIMERS / "escalation.bpmn")
    started_at = clock.now()
    case = api.start("escalation", {"limit": "P1DT2H", "start_date": "2026-04-02"})
    [handle] = case["ready_tasks"]
    assert close_to(the_timer(db, case["id"], "too_late").due_at,
                    started_at + timedelta(days=1, hours=2))

    test_clock.advance(timedelta(days=1, hours=1, minutes=59))
    assert drain() == 0
    assert ready_elements(api, case["id"]) == ["handle"]

    test_clock.advance(timedelta(minutes=2))
    assert drain() >= 1
    assert ready_elements(api, case["id"]) == ["escalate"]
    assert api.get(f"/api/tasks/{handle['id']}").json()["status"] == "cancelled"
    assert fired(api, case["id"], "too_late") == 1
    assert the_timer(db, case["id"], "too_late").status == "fired"

    test_clock.advance(timedelta(days=2))
    assert drain() == 0
    assert fired(api, case["id"]) == 1


def test_a_non_interrupting_cycle_boundary_timer_reminds_every_hour_twice_then_stops(
        api: Api, db: Database, drain: Drain, test_clock: Any) -> None:
    api.deploy(TIMERS / "hourly_reminder.bpmn")
    started_at = clock.now()
    case = api.start("hourly_reminder")
    [handle] = case["ready_tasks"]
    [row] = timer_rows(db, instance_id=case["id"], status="pending")
    assert close_to(row.due_at, started_at + timedelta(hours=1))

    test_clock.advance(timedelta(minutes=59))
    assert drain() == 0
    assert ready_elements(api, case["id"]) == ["handle"]

    test_clock.advance(timedelta(minutes=2))
    assert drain() >= 1
    assert ready_elements(api, case["id"]) == ["handle", "remind"]
    [pending] = timer_rows(db, instance_id=case["id"], status="pending")
    assert close_to(pending.due_at, started_at + timedelta(hours=2))

    test_clock.advance(timedelta(hours=1))
    assert drain() >= 1
    assert ready_elements(api, case["id"]) == ["handle", "remind", "remind"]

    for _ in range(3):
        test_clock.advance(timedelta(hours=1))
        drain()
    assert ready_elements(api, case["id"]) == ["handle", "remind", "remind"]
    assert api.get(f"/api/tasks/{handle['id']}").json()["status"] == "ready"
    assert timer_rows(db, instance_id=case["id"], status="pending") == []
    events = api.get(f"/api/process-instances/{case['id']}/history").json()["events"]
    fired = [e for e in events if e["type"] == "timer_fired"]
    assert [(e["element_id"], e["data"]["left"]) for e in fired] == [
        ("every_hour", 1), ("every_hour", 0)]

    api.complete(handle["id"], {})
    reminders = api.tasks(case["id"])
    assert [t["element_id"] for t in reminders] == ["remind", "remind"]
    assert status(api, case["id"]) == "running"
    for task in reminders:
        api.complete(task["id"], {})
    assert status(api, case["id"]) == "completed"


@pytest.mark.xfail(strict=True, reason=(
    "SpiffWorkflow 3.2: when the host task finishes, BoundaryEventJoin cancels the still-waiting "
    "cycle boundary event, and Task.cancel() drops the reminder branches it has already spawned"))
def test_completing_the_host_during_a_reminder_cycle_keeps_the_reminders_already_given(
        api: Api, drain: Drain, test_clock: Any) -> None:
    api.deploy(TIMERS / "hourly_reminder.bpmn")
    case = api.start("hourly_reminder")
    [handle] = case["ready_tasks"]
    test_clock.advance(timedelta(hours=1, minutes=1))
    drain()
    assert ready_elements(api, case["id"]) == ["handle", "remind"]

    api.complete(handle["id"], {})
    assert ready_elements(api, case["id"]) == ["remind"]


def test_completing_the_host_task_before_the_boundary_timer_cancels_the_timer(
        api: Api, db: Database, drain: Drain, test_clock: Any) -> None:
    api.deploy(TIMERS / "escalation.bpmn")
    case = api.start("escalation", {"limit": "PT1H", "start_date": "2026-04-02"})
    [handle] = case["ready_tasks"]
    assert the_timer(db, case["id"], "too_late").status == "pending"

    test_clock.advance(timedelta(minutes=30))
    api.complete(handle["id"], {})
    assert the_timer(db, case["id"], "too_late").status == "cancelled"

    test_clock.advance(timedelta(hours=2))
    drain()
    assert "escalate" not in ready_elements(api, case["id"])
    assert fired(api, case["id"], "too_late") == 0


def test_a_cancelled_case_cancels_its_timer_and_nothing_fires_after_the_due_time(
        api: Api, db: Database, drain: Drain, test_clock: Any) -> None:
    api.deploy(TIMERS / "wait_duration.bpmn")
    case = api.start("wait_duration")
    api.post(f"/api/process-instances/{case['id']}/cancel")
    assert the_timer(db, case["id"], "half_hour").status == "cancelled"

    test_clock.advance(timedelta(hours=1))
    assert drain() == 0
    assert status(api, case["id"]) == "cancelled"
    assert fired(api, case["id"]) == 0
    assert the_timer(db, case["id"], "half_hour").status == "cancelled"


# ---------------------------------------------------------------- Finnish business days


def _business_day_case(api: Api, db: Database, test_clock: Any, start_date: str
                       ) -> tuple[int, datetime]:
    """Start escalation.bpmn at 10:00 on `start_date`, complete `handle` at once."""
    set_local_time(test_clock, datetime.combine(
        datetime.fromisoformat(start_date).date(), datetime.min.time().replace(hour=10),
        tzinfo=HELSINKI))
    api.deploy(TIMERS / "escalation.bpmn")
    case = api.start("escalation", {"limit": "PT1H", "start_date": start_date})
    [handle] = case["ready_tasks"]
    api.complete(handle["id"], {})
    return case["id"], the_timer(db, case["id"], "wait_business_days").due_at


def test_a_five_business_day_timer_from_the_thursday_before_easter_falls_due_on_monday_13_4(
        api: Api, db: Database, drain: Drain, test_clock: Any) -> None:
    # Good Friday 3.4. and Easter Monday 6.4.2026 are holidays: Tue-Fri 7.-10.4. and Mon 13.4.
    instance_id, due = _business_day_case(api, db, test_clock, "2026-04-02")
    assert due == datetime.fromisoformat("2026-04-13T00:00:00+03:00")
    assert the_timer(db, instance_id, "too_late").status == "cancelled"

    set_local_time(test_clock, helsinki(2026, 4, 12, 23, 59))
    assert drain() == 0
    assert status(api, instance_id) == "waiting"

    set_local_time(test_clock, helsinki(2026, 4, 13, 0, 1))
    assert drain() >= 1
    assert status(api, instance_id) == "completed"
    assert fired(api, instance_id, "wait_business_days") == 1
    assert fired(api, instance_id, "too_late") == 0


def test_a_five_business_day_timer_over_christmas_and_new_year_falls_due_on_2_1(
        api: Api, db: Database, drain: Drain, test_clock: Any) -> None:
    # 24.-26.12. and 1.1. are holidays: Mon 22.12.2025 + 5 = 23., 29., 30., 31.12. and 2.1.
    instance_id, due = _business_day_case(api, db, test_clock, "2025-12-22")
    assert due == datetime.fromisoformat("2026-01-02T00:00:00+02:00")

    set_local_time(test_clock, helsinki(2026, 1, 1, 23, 59))
    assert drain() == 0
    set_local_time(test_clock, helsinki(2026, 1, 2, 0, 1))
    assert drain() >= 1
    assert status(api, instance_id) == "completed"


# ---------------------------------------------------------------- timer start events


START_DATE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="Definitions_start_on_date" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="start_on_date" name="Start on a date" isExecutable="true">
    <bpmn:startEvent id="on_date" name="On the date">
      <bpmn:outgoing>f1</bpmn:outgoing>
      <bpmn:timerEventDefinition id="TimerEventDefinition_on_date">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">"{due}"</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:userTask id="review" name="Review">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end">
      <bpmn:incoming>f2</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="on_date" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_date_start_timer_starts_exactly_one_case_when_due(
        api: Api, db: Database, drain: Drain, test_clock: Any, tmp_path: Path) -> None:
    test_clock.set_offset(timedelta(days=10))
    due = (clock.local_now() + timedelta(hours=3)).replace(microsecond=0)
    model = tmp_path / "start_on_date.bpmn"
    model.write_text(START_DATE_BPMN.format(due=due.isoformat()))
    api.deploy(model)
    [row] = timer_rows(db, kind="start", status="pending")
    assert row.due_at == due

    test_clock.advance(timedelta(hours=2, minutes=59))
    assert drain() == 0
    assert cases_of(api, "start_on_date") == []

    test_clock.advance(timedelta(minutes=2))
    assert drain() >= 1
    [case] = cases_of(api, "start_on_date")
    assert ready_elements(api, case["id"]) == ["review"]
    assert timer_rows(db, kind="start", status="pending") == []

    test_clock.advance(timedelta(days=3))
    assert drain() == 0
    assert len(cases_of(api, "start_on_date")) == 1


def test_a_cycle_start_timer_starts_three_cases_an_hour_apart_and_then_no_more(
        api: Api, db: Database, drain: Drain, test_clock: Any) -> None:
    api.deploy(TIMERS / "start_hourly.bpmn")
    assert drain() == 0
    counts = []
    for _ in range(5):
        test_clock.advance(timedelta(hours=1, minutes=1))
        drain()
        counts.append(len(cases_of(api, "start_hourly")))
    assert counts == [1, 2, 3, 3, 3]
    assert timer_rows(db, kind="start", status="pending") == []
    assert len(timer_rows(db, kind="start", status="fired")) == 3


def test_deploying_a_new_version_cancels_the_old_versions_start_timer(
        api: Api, db: Database, drain: Drain, test_clock: Any, tmp_path: Path) -> None:
    api.deploy(TIMERS / "start_hourly.bpmn")
    [old] = timer_rows(db, kind="start", status="pending")
    test_clock.advance(timedelta(minutes=10))
    changed = tmp_path / "start_hourly.bpmn"
    changed.write_text((TIMERS / "start_hourly.bpmn").read_text()
                       .replace('name="Hourly start"', 'name="Hourly start, version 2"'))
    [model] = api.deploy(changed).json()["process_models"]
    assert model["version"] == 2
    assert timer_status(db, old.id) == "cancelled"
    [new] = timer_rows(db, kind="start", status="pending")
    assert new.process_version_id != old.process_version_id

    test_clock.advance(timedelta(hours=1, minutes=1))
    drain()
    [case] = cases_of(api, "start_hourly")
    assert case["version"] == 2

    for _ in range(4):
        test_clock.advance(timedelta(hours=1))
        drain()
    cases = cases_of(api, "start_hourly")
    assert len(cases) == 3
    assert {c["version"] for c in cases} == {2}


# ---------------------------------------------------------------- storage and races


def test_the_timers_table_has_an_index_on_status_and_due_at(db: Database) -> None:
    indexes = sa.inspect(db.engine).get_indexes("timers")
    assert ["status", "due_at"] in [list(i["column_names"]) for i in indexes]


def test_two_schedulers_racing_over_the_same_due_timers_fire_each_timer_once(
        api: Api, db: Database, test_clock: Any) -> None:
    api.deploy(TIMERS / "wait_duration.bpmn", TIMERS / "start_hourly.bpmn")
    ids = [api.start("wait_duration")["id"] for _ in range(6)]
    test_clock.advance(timedelta(hours=1, minutes=1))  # also the first start of start_hourly

    at_once([lambda: Drain(db)()] * 2)
    assert [fired(api, i, "half_hour") for i in ids] == [1] * len(ids)
    assert {status(api, i) for i in ids} == {"completed"}
    assert {r.status for r in timer_rows(db, kind="task")} == {"fired"}
    assert len(cases_of(api, "start_hourly")) == 1
    assert len(timer_rows(db, kind="start", status="fired")) == 1
    assert len(timer_rows(db, kind="start", status="pending")) == 1  # the next of the cycle
    assert Drain(db)() == 0


def test_a_timer_handed_to_two_workers_at_once_fires_once(
        api: Api, db: Database, test_clock: Any) -> None:
    api.deploy(TIMERS / "wait_duration.bpmn")
    case = api.start("wait_duration")
    row = the_timer(db, case["id"], "half_hour")
    test_clock.advance(timedelta(minutes=31))

    barrier = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def fire() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(db.unit_of_work(lambda s: work.fire_timer(s, timer_id=row.id)))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted(results) == [False, True]
    assert fired(api, case["id"], "half_hour") == 1
    assert status(api, case["id"]) == "completed"
