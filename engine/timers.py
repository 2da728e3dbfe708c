"""Durable BPMN timers.

Every waiting timer of a case (intermediate catch, boundary, event-based gateway branch) is a
row in `timers` with its due time, kept in step with the case on every save. The scheduler finds
due rows with an indexed query and has a worker fire them; firing checks the row's status in the
same transaction as the case change, so a timer fires once whatever restarts in between.
Timer start events of deployed models are rows too (kind "start").

Naive datetimes in timer expressions are read in Europe/Helsinki (PROCESSES.md §0.3), and
SpiffWorkflow's timers read the platform clock (see `engine.scripting`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from engine import audit, case_rows, clock
from engine.bpmn_semantics import timer_arms
from engine.db import is_sqlite
from engine.errors import InvalidTransition
from engine.models import Incident, ProcessVersion, Timer
from engine.specs import event_definitions


class _PlatformDateTime(datetime):
    """`datetime` whose `now()` is the platform clock; SpiffWorkflow's timer module uses it."""

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        current = clock.now()
        return current.astimezone(tz) if tz is not None else current.replace(tzinfo=None)


# SpiffWorkflow's timers read `datetime.now(timezone.utc)` from their own module: make that the
# platform clock, so that tests can move time without touching the system clock.
spiff_timer.datetime = _PlatformDateTime  # type: ignore[misc]
# SpiffWorkflow reads a naive timer date in the server's local time zone; Virta's is Helsinki.
spiff_timer.LOCALTZ = clock.TIMEZONE  # type: ignore[assignment]

PENDING = "pending"
FIRED = "fired"
CANCELLED = "cancelled"
#: Its firing raised `MAX_ATTEMPTS` times: out of the schedule, with an incident.
FAILED = "failed"
#: Firings of a timer that may raise before it fails (the worker retries the others).
MAX_ATTEMPTS = 3
#: `Incident.kind` of a failed timer.
TIMER_INCIDENT = "timer"
#: How long a claimed timer is left alone by other schedulers before it is handed out again.
CLAIM_LEASE = timedelta(seconds=30)


def timer_due(task: Any) -> datetime | None:
    """The due time of a waiting timer task, once SpiffWorkflow has armed it."""
    return _due(task._get_internal_data("event_value"))


def _due(value: Any) -> datetime | None:
    if isinstance(value, dict):  # a cycle: the next firing
        value = value.get("next")
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=clock.TIMEZONE)
    parsed = TimerEventDefinition.parse_time_or_duration(str(value))
    return parsed if isinstance(parsed, datetime) else None


def waiting_timers(wf: Any) -> dict[tuple[str, str], datetime]:
    """{(task id, element id): due} of every armed timer a workflow waits for.

    An event-based gateway waits for each of its timer arms, each with its own due time (the
    arm's catch event is the element); a multiple catch event's timers share its element, and
    the earliest of them is its row (firing refreshes all of a case's timers anyway).
    """
    found: dict[tuple[str, str], datetime] = {}
    for task in wf.get_tasks(state=TaskState.WAITING):
        edefs = event_definitions(getattr(task.task_spec, "event_definition", None))
        if not any(isinstance(d, TimerEventDefinition) for d in edefs):
            continue
        arms = timer_arms(task) or [(task.task_spec.bpmn_id, task._get_internal_data(
            "event_value"))]
        for element_id, value in arms:
            due = _due(value)
            key = (str(task.id), element_id)
            if due is not None and (key not in found or due < found[key]):
                found[key] = due
    return found


def sync_case_timers(session: Session, instance_id: int, wf: Any | None) -> None:
    """Make the case's pending timer rows match what it waits for (None: it waits for none)."""
    wanted = waiting_timers(wf) if wf is not None else {}
    if any(isinstance(o, Timer) for o in (*session.new, *session.dirty)):
        session.flush()  # timer rows changed through the ORM in this transaction
    # Core statements built once: every save of a case with timers runs this.
    conn = session.connection()
    now = clock.now()
    rows = session.info.get(_PREFETCHED, {}).pop(instance_id, None)
    if rows is None:
        rows = conn.execute(_PENDING_OF_CASE, {"instance": instance_id}).all()
    for row in rows:
        due = wanted.pop((row.task_id or "", row.element_id), None)
        if due is None:
            conn.execute(_CANCEL_TIMER, {"timer": row.id})
        elif due != row.due_at:  # a cycle moved on to its next firing
            conn.execute(_MOVE_TIMER, {"timer": row.id, "due": due})
    if wanted:
        conn.execute(_INSERT_TIMER, [
            {"kind": "task", "instance_id": instance_id, "process_version_id": None,
             "task_id": task_id, "element_id": element_id, "due_at": due, "status": PENDING,
             "lease_until": None, "details": None, "created_at": now, "fired_at": None}
            for (task_id, element_id), due in wanted.items()])


_timers = Timer.__table__
_PENDING_OF_CASE = select(_timers.c.id, _timers.c.task_id, _timers.c.element_id,
                          _timers.c.due_at).where(
    _timers.c.instance_id == bindparam("instance"), _timers.c.status == PENDING)
_CANCEL_TIMER = _timers.update().where(_timers.c.id == bindparam("timer")).values(
    status=CANCELLED)
_MOVE_TIMER = _timers.update().where(_timers.c.id == bindparam("timer")).values(
    due_at=bindparam("due"), lease_until=None)
_INSERT_TIMER = _timers.insert()
_PENDING_OF_CASES = select(_timers.c.id, _timers.c.instance_id, _timers.c.task_id,
                           _timers.c.element_id, _timers.c.due_at).where(
    _timers.c.instance_id.in_(bindparam("instances", expanding=True)),
    _timers.c.status == PENDING)
#: session.info key: pending timer rows read ahead for several cases (`read_ahead_pending`).
_PREFETCHED = "virta_pending_timers"


def read_ahead_pending(session: Session, instance_ids: Sequence[int]) -> None:
    """Read the pending timer rows of several cases in one statement, for the next
    `sync_case_timers` of each in this transaction (a batch of firings saves each case once).

    Each case's rows are used once; the caller calls `forget_read_ahead` before anything
    else could change those rows.
    """
    found: dict[int, list[Any]] = {i: [] for i in instance_ids}
    for row in session.connection().execute(_PENDING_OF_CASES,
                                            {"instances": list(instance_ids)}):
        found[row.instance_id].append(row)
    session.info[_PREFETCHED] = found


def forget_read_ahead(session: Session) -> None:
    """Drop what `read_ahead_pending` read and no save used."""
    session.info.pop(_PREFETCHED, None)
#: Firing: the row, locked (PostgreSQL), then marked fired.
TIMER_FOR_FIRING = select(_timers).where(_timers.c.id == bindparam("timer")).with_for_update()
MARK_FIRED = _timers.update().where(_timers.c.id == bindparam("timer")).values(
    status=FIRED, fired_at=bindparam("at"))
#: Batch firing (`engine.work.fire_timers`): the rows of a batch, read without a lock ...
TIMERS_BY_ID = select(_timers.c.id, _timers.c.kind, _timers.c.instance_id, _timers.c.status,
                      _timers.c.due_at).where(
    _timers.c.id.in_(bindparam("timers", expanding=True)))
#: ... their cases locked in id order (`engine.case_rows.load_many`: the order of any other
#: batch, and a request's order: the case row before its timer rows), ...
#: ... and those still pending marked fired in one statement; what it returns is what fires.
MARK_FIRED_MANY = _timers.update().where(
    _timers.c.id.in_(bindparam("timers", expanding=True)), _timers.c.status == PENDING
).values(status=FIRED, fired_at=bindparam("at")).returning(_timers.c.id, _timers.c.instance_id)


def claim_due(session: Session, *, limit: int = 1000,
              lease: timedelta = CLAIM_LEASE) -> list[int]:
    """Take the ids of due timers for firing; several schedulers never take the same one.

    Uses the (status, due_at) index; PostgreSQL skips rows that another scheduler has locked,
    and a lease keeps a claimed timer from being handed out twice while a worker fires it.
    """
    now = clock.now()
    query = (select(Timer.id)
             .where(Timer.status == PENDING, Timer.due_at <= now,
                    or_(Timer.lease_until.is_(None), Timer.lease_until <= now))
             .order_by(Timer.due_at).limit(limit))
    if not is_sqlite(str(session.get_bind().url)):
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if ids:
        session.execute(update(Timer).where(Timer.id.in_(ids))
                        .values(lease_until=now + lease))
    return ids


def record_failure(session: Session, timer_id: int, error: str, *, actor: str,
                   max_attempts: int = MAX_ATTEMPTS) -> bool:
    """Count a firing of a still pending timer that raised `error`. The last allowed one
    (`max_attempts`) fails the timer, out of the schedule, and opens an incident for the case
    (`runner.retry_incident` puts the timer back). True when the timer failed now."""
    timer = session.get(Timer, timer_id, with_for_update=True)
    if timer is None or timer.status != PENDING:
        return False
    timer.attempts += 1
    timer.last_error = error[:4000]
    if timer.attempts < max_attempts:
        return False
    timer.status = FAILED
    timer.lease_until = None
    message = f"timer {timer.element_id} failed {timer.attempts} times: {error}"[:4000]
    session.add(Incident(instance_id=timer.instance_id, kind=TIMER_INCIDENT,
                         element_id=timer.element_id, task_id=timer.task_id, message=message,
                         details={"timer_id": timer.id}, status="open", created_at=clock.now()))
    # The case's row is read, never its state: that may be what cannot be loaded.
    case = case_rows.load(session, timer.instance_id) if timer.instance_id is not None else None
    audit.record(session, type=audit.INCIDENT, actor=actor, instance=case,
                 element_id=timer.element_id, task_id=timer.task_id,
                 data={"message": message, "kind": TIMER_INCIDENT})
    return True


def reschedule_failed(session: Session, incident: Incident) -> None:
    """Put the failed timer of a timer incident back in the schedule (its due time has passed:
    the next scheduler round hands it out), with its attempts counted from zero."""
    timer_id = (incident.details or {}).get("timer_id")
    timer = session.get(Timer, timer_id, with_for_update=True) if timer_id else None
    if timer is None or timer.status != FAILED:
        raise InvalidTransition(f"the timer of incident {incident.id} is no longer failed")
    timer.status = PENDING
    timer.attempts = 0
    timer.lease_until = None


def is_cycle(task: Any) -> bool:
    """Whether a timer task repeats."""
    return isinstance(getattr(task.task_spec, "event_definition", None),
                      CycleTimerEventDefinition)


# ---------------------------------------------------------------- timer start events


def _start_timer_plan(edef: Any, evaluate: Any) -> tuple[datetime, int, float]:
    """(first due, firings, seconds between firings) of a timer start event."""
    expression = evaluate(edef.expression)
    if isinstance(edef, CycleTimerEventDefinition):
        cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(expression)
        return start, cycles, duration.total_seconds()
    if isinstance(edef, DurationTimerEventDefinition):
        parsed = TimerEventDefinition.parse_iso_duration(expression)
        return clock.now() + TimerEventDefinition.get_timedelta_from_start(parsed), 1, 0.0
    due = TimerEventDefinition.parse_time_or_duration(str(expression))
    if not isinstance(due, datetime):
        raise ValueError(f"not a date: {expression!r}")
    return due, 1, 0.0


def schedule_start_timers(session: Session, *, process_id: str, version_id: int,
                          spec: Any, evaluate: Any) -> None:
    """Arm the timer start events of a newly deployed version; older versions' stop."""
    session.execute(update(Timer).where(
        Timer.kind == "start", Timer.status == PENDING,
        Timer.process_version_id.in_(select(ProcessVersion.id).where(
            ProcessVersion.process_id == process_id)))
        .values(status=CANCELLED))
    for ts in spec.task_specs.values():
        edef = getattr(ts, "event_definition", None)
        if not isinstance(ts, StartEvent) or not isinstance(edef, TimerEventDefinition):
            continue
        due, cycles, every = _start_timer_plan(edef, evaluate)
        session.add(Timer(kind="start", process_version_id=version_id, element_id=ts.bpmn_id,
                          due_at=due, status=PENDING, created_at=clock.now(),
                          details={"cycles": cycles, "every": every}))


def fire_start_timer(session: Session, row: Any) -> None:
    """Start a case for a due start timer (a `Timer`, or its row as read by
    `TIMER_FOR_FIRING`); a cycle arms its next firing."""
    from engine import runner  # runner builds on this module
    from engine.authorization import SYSTEM

    pv = session.get(ProcessVersion, row.process_version_id)
    if pv is None:
        return
    runner.start_case(session, process_id=pv.process_id, version=pv.version, principal=SYSTEM,
                      fire_start_timer=row.element_id)
    details = dict(row.details or {})
    cycles = int(details.get("cycles", 1))
    if cycles == 1 or cycles == 0:
        return
    details["cycles"] = cycles - 1 if cycles > 0 else -1
    session.add(Timer(kind="start", process_version_id=row.process_version_id,
                      element_id=row.element_id, status=PENDING, created_at=clock.now(),
                      due_at=row.due_at + timedelta(seconds=float(details.get("every", 0))),
                      details=details))


def force_fire(task: Any) -> None:
    """Make a waiting timer task fire at the next refresh (it is due by the platform's rule)."""
    past = (clock.now() - timedelta(seconds=1)).isoformat()
    if is_cycle(task):
        task._set_internal_data(event_value={"cycles": 1, "next": past, "duration": 0})
    else:
        task._set_internal_data(event_value=past)
