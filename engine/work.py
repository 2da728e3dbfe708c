"""What the workers do: fire timers, run service calls, send e-mail.

Each function takes the `Database` and runs its own units of work; a redelivered message finds
its outbox row or timer already handled and does nothing (idempotent by row id). The engine
never imports the workers: they pass in what sends mail (`Mailer`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from engine import (
    case_rows,
    clock,
    notifications,
    operations,
    outbox,
    runner,
    service_tasks,
    timers,
)
from engine.db import Database
from engine.errors import Conflict
from engine.models import HumanTask, OutboxMessage, ProcessInstance, Timer
from engine.settings import get_settings

log = logging.getLogger(__name__)

#: Sends one rendered mail; raises on failure (the outbox retries it).
Mailer = Callable[[notifications.RenderedEmail], None]
#: Attempts to deliver one e-mail or external message before giving up.
EMAIL_RETRIES = 8
EMAIL_BACKOFF = timedelta(seconds=2)
#: Most timers handed to a worker in one message and fired in one transaction: enough to
#: share a message's and a transaction's cost (`settings.timer_batch` sets it).
TIMER_BATCH = 50
#: A round's due timers go out in at least this many batches (when there are as many timers):
#: a worker thread fires a batch one timer after the other, so a few smaller batches on
#: several threads and processes are done sooner than one big one (lateness).
TIMER_SPREAD = 4
#: Due timers one scheduler round claims at most.
TIMER_CLAIM = 1000
#: A round that moved at least this many items suggests a backlog: the next round follows at
#: once. After a smaller round the scheduler waits its interval, so that the timers falling due
#: meanwhile go out together in full batches instead of a few per message.
BACKLOG = 500
#: Tries of a batch's transaction after a lost race before its timers go one by one.
BATCH_CONFLICT_RETRIES = 2
SCHEDULER_ACTOR = "system:scheduler"
WORKER_ACTOR = "system:worker"


# ---------------------------------------------------------------- timers


def fire_timer(session: Session, *, timer_id: int) -> bool:
    """Fire one due timer in this transaction; False when it was already fired or cancelled."""
    # Core statements: this is every firing's path (a worker fires many timers a second).
    if any(isinstance(o, Timer) for o in (*session.new, *session.dirty)):
        session.flush()
    conn = session.connection()
    row = conn.execute(timers.TIMER_FOR_FIRING, {"timer": timer_id}).first()
    if row is None or row.status != timers.PENDING:
        return False
    conn.execute(timers.MARK_FIRED, {"timer": timer_id, "at": clock.now()})
    stale = session.identity_map.get(identity_key(Timer, timer_id))
    if stale is not None:  # loaded through the ORM earlier in this transaction
        session.expire(stale)
    if row.kind == "start":
        timers.fire_start_timer(session, row)
        return True
    if row.instance_id is None:
        return False
    return _advance(session, row.instance_id)


def _advance(session: Session, instance_id: int) -> bool:
    """Run a case whose timer was just marked fired; False when the case has finished."""
    case = runner.open_case(session, instance_id, SCHEDULER_ACTOR)
    if case.row.status in runner.FINAL:
        return False
    runner.advance(case)
    return True


def fire_timers(session: Session, *, timer_ids: Sequence[int]) -> int:
    """Fire a batch of due timers in this transaction; returns how many fired.

    Timers already fired or cancelled are skipped, so a redelivered batch fires nothing twice.
    The batch's cases are locked in one statement in id order, the timers still pending are
    marked fired in one statement, and each case is advanced. A case with two timers in the
    batch is advanced for the first; the second fires in a later pass only if it is still
    pending then (the first firing may have withdrawn it, e.g. another arm of an event-based
    gateway, and then it stays cancelled as when the timers fire one by one).
    """
    if any(isinstance(o, Timer) for o in (*session.new, *session.dirty)):
        session.flush()
    conn = session.connection()
    rows = conn.execute(timers.TIMERS_BY_ID, {"timers": list(timer_ids)}).all()
    rows = sorted((r for r in rows if r.status == timers.PENDING), key=lambda r: (r.due_at, r.id))
    by_case: dict[int, list[int]] = {}
    for row in rows:
        if row.kind != "start" and row.instance_id is not None:
            by_case.setdefault(row.instance_id, []).append(row.id)
    fired = 0
    if by_case:
        case_rows.load_many(session, sorted(by_case))  # locked in id order, as a request does
        case_rows.defer_writes(session)  # the batch's cases are written together at the commit
    while by_case:
        marked = conn.execute(timers.MARK_FIRED_MANY, {
            "timers": [ids[0] for ids in by_case.values()], "at": clock.now()}).all()
        for timer_id, _ in marked:
            stale = session.identity_map.get(identity_key(Timer, timer_id))
            if stale is not None:  # loaded through the ORM earlier in this transaction
                session.expire(stale)
        cases = sorted(r.instance_id for r in marked)
        if cases:
            timers.read_ahead_pending(session, cases)
        try:
            for instance_id in cases:
                fired += _advance(session, instance_id)
        finally:
            timers.forget_read_ahead(session)
        by_case = {case: ids[1:] for case, ids in by_case.items() if len(ids) > 1}
    for row in rows:  # start timers start new cases: no lock on existing ones to order
        if row.kind == "start":
            fired += fire_timer(session, timer_id=row.id)
    return fired


def fire_timer_batch(db: Database, timer_ids: Sequence[int]) -> int:
    """Fire a batch of timers in one unit of work; returns how many fired.

    When the batch's transaction fails (a lost race that retrying did not settle, a case that
    raises), its timers are fired one by one, each in its own unit of work, so that one bad
    case never holds up the others. The first error of those is raised again afterwards: the
    message is retried (what fired is skipped then) and the failure is logged once per try.
    """
    ids = list(timer_ids)
    try:
        return db.unit_of_work(lambda s: fire_timers(s, timer_ids=ids),
                               retries=BATCH_CONFLICT_RETRIES)
    except Exception:
        if len(ids) <= 1:
            raise
        log.warning("a batch of %d timers failed; firing them one by one", len(ids),
                    exc_info=True)
    fired, error = 0, None
    for timer_id in ids:
        try:
            fired += fire_one(db, timer_id)
        except Exception as exc:  # one case's failure: the others still fire
            error = error or exc
    if error is not None:
        raise error
    return fired


#: Failures that are not the timer's: the database is unavailable, or a race was lost again
#: and again. The message is retried without counting them against the timer.
_NOT_THE_TIMERS = (OperationalError, InterfaceError, Conflict)


def fire_one(db: Database, timer_id: int) -> int:
    """Fire one timer in its own unit of work; returns 1 if it fired.

    A firing that raises is counted against the timer (`timers.record_failure`) and raised
    again, so that the message is retried; the last allowed attempt fails the timer as an
    incident instead, and then nothing is raised: a person has to look at the case.
    """
    try:
        return int(db.unit_of_work(lambda s: fire_timer(s, timer_id=timer_id)))
    except _NOT_THE_TIMERS:
        raise
    except Exception as exc:
        log.exception("timer %s failed", timer_id)
        error = f"{exc.__class__.__name__}: {exc}"
        if not db.unit_of_work(lambda s: timers.record_failure(s, timer_id, error,
                                                               actor=WORKER_ACTOR)):
            raise
        log.error("timer %s failed %d times: an incident is open", timer_id,
                  timers.MAX_ATTEMPTS)
        return 0


def batches(ids: Sequence[int], size: int) -> list[list[int]]:
    """`ids` in batches of at most `size`, as even as possible (`[]` for none)."""
    count = -(-len(ids) // max(1, size))
    small, larger = divmod(len(ids), count) if count else (0, 0)
    out, start = [], 0
    for k in range(count):
        end = start + small + (k < larger)
        out.append(list(ids[start:end]))
        start = end
    return out


# ---------------------------------------------------------------- outbox


def handle_outbox(db: Database, outbox_id: int, *, mailer: Mailer | None,
                  lease: timedelta = outbox.DISPATCH_LEASE) -> None:
    """Do the work of one outbox row (a service call or an e-mail)."""
    peek = db.unit_of_work(lambda s: _start(s, outbox_id, lease))
    if peek is None:
        return  # not ours to do: handled, waiting for a retry, or running elsewhere
    kind, payload = peek
    if kind == service_tasks.SERVICE_CALL:
        _service_call(db, outbox_id, payload)
    elif kind == notifications.EMAIL:
        _email(db, outbox_id, payload, mailer)
    elif kind == runner.EXTERNAL_MESSAGE:
        _external_message(db, outbox_id, payload)
    else:
        db.unit_of_work(lambda s: _fail(s, outbox_id, f"unknown outbox kind {kind!r}"))


def _start(session: Session, outbox_id: int, lease: timedelta
           ) -> tuple[str, dict[str, Any]] | None:
    row = outbox.start(session, outbox_id, lease=lease)
    if row is None:
        return None
    if row.kind == service_tasks.SERVICE_CALL and row.instance_id is not None \
            and session.scalar(select(ProcessInstance.status).where(
                ProcessInstance.id == row.instance_id)) in runner.FINAL:
        outbox.mark_done(row)  # cancelled meanwhile: nothing waits for the result, no call
        return None
    return (row.kind, dict(row.payload))


def _fail(session: Session, outbox_id: int, error: str) -> None:
    row = outbox.take(session, outbox_id)
    if row is not None:
        outbox.mark_failed(row, error=error)


def _service_call(db: Database, outbox_id: int, payload: dict[str, Any]) -> None:
    operation = payload["operation"]
    if operations.is_case_operation(operation):
        db.unit_of_work(lambda s: _finish_call(s, outbox_id, None, in_case=True))
        return
    try:
        result = operations.call_external(operation, payload.get("params") or {})
    except Exception as exc:  # the model's operation failed: retried, then an incident
        error = f"{exc.__class__.__name__}: {exc}"
        log.info("service call %s (%s) failed: %s", outbox_id, operation, error)
        db.unit_of_work(lambda s: _call_failed(s, outbox_id, error))
        return
    db.unit_of_work(lambda s: _finish_call(s, outbox_id, result, in_case=False))


def _finish_call(session: Session, outbox_id: int, result: Any, *, in_case: bool) -> None:
    row = outbox.take(session, outbox_id)
    if row is None or row.instance_id is None:
        return
    payload = row.payload
    case = runner.open_case(session, row.instance_id, WORKER_ACTOR)
    if in_case:
        try:
            with session.begin_nested():
                result = operations.call_in_case(payload["operation"], session, case.row,
                                                 payload.get("params") or {})
        except Exception as exc:  # the model's parameters were wrong: retried, then incident
            _call_failed(session, outbox_id, f"{exc.__class__.__name__}: {exc}", row=row,
                         case=case)
            return
    if service_tasks.complete_service_call(case.wf, task_id=payload["task_id"], result=result):
        runner.advance(case)
    outbox.mark_done(row)


def _call_failed(session: Session, outbox_id: int, error: str, *, row: Any = None,
                 case: Any = None) -> None:
    row = row or outbox.take(session, outbox_id)
    if row is None:
        return
    if not service_tasks.record_failure(row, error=error):
        return
    if row.instance_id is None:
        return
    case = case or runner.open_case(session, row.instance_id, WORKER_ACTOR)
    runner.fail_service_task(case, task_id=row.payload["task_id"],
                             element_id=row.payload.get("element_id"),
                             message=f"service operation {row.payload['operation']!r} failed "
                                     f"after {row.attempts} attempts: {error}")


def _email(db: Database, outbox_id: int, payload: dict[str, Any], mailer: Mailer | None) -> None:
    if mailer is None:  # e-mail is off: the in-app notification is all there is
        db.unit_of_work(lambda s: _mark_done(s, outbox_id))
        return
    message = notifications.email_for(outbox_id, payload)
    try:
        mailer(message)
    except Exception as exc:  # the mail server: retried with backoff
        error = f"{exc.__class__.__name__}: {exc}"
        db.unit_of_work(lambda s: _delivery_failed(s, outbox_id, error))
        return
    db.unit_of_work(lambda s: _mark_done(s, outbox_id))


def _external_message(db: Database, outbox_id: int, payload: dict[str, Any]) -> None:
    """A message to an external party: POSTed to the endpoint named after the party when one
    is configured (`VIRTA_HTTP_ENDPOINTS`); otherwise the outbox row is the record."""
    if payload.get("to") in get_settings().http_endpoints:
        try:
            operations.call_external("http_call", {"endpoint": payload["to"], "body": payload})
        except Exception as exc:  # the party's endpoint: retried with backoff
            error = f"{exc.__class__.__name__}: {exc}"
            db.unit_of_work(lambda s: _delivery_failed(s, outbox_id, error))
            return
    db.unit_of_work(lambda s: _mark_done(s, outbox_id))


def _mark_done(session: Session, outbox_id: int) -> None:
    row = outbox.take(session, outbox_id)
    if row is not None:
        outbox.mark_done(row)


def _delivery_failed(session: Session, outbox_id: int, error: str) -> None:
    row = outbox.take(session, outbox_id)
    if row is None:
        return
    if row.attempts + 1 >= EMAIL_RETRIES:
        outbox.mark_failed(row, error=error)
    else:
        outbox.mark_retry(row, error=error, delay=EMAIL_BACKOFF * 2 ** row.attempts)


# ---------------------------------------------------------------- the scheduler's round


def scheduler_round(db: Database, *, send_timer: Callable[[int], None],
                    send_outbox: Callable[[int], None],
                    send_timers: Callable[[list[int]], None] | None = None,
                    timer_batch: int = TIMER_BATCH,
                    reminder_lead: timedelta = notifications.REMINDER_LEAD,
                    lease: timedelta = outbox.DISPATCH_LEASE) -> int:
    """One round of the scheduler: hand due timers and outbox rows to the workers, send due
    reminders. Messages are sent after the claim commits, and a message that is lost (a worker
    or the broker died) is sent again once its `lease` runs out. Due timers go in batches of
    at most `timer_batch` (and in at least `TIMER_SPREAD` batches when there are enough) to
    `send_timers` when it is given and `timer_batch` > 1, else one by one to `send_timer`.
    Returns how many items moved.
    """
    with db.reading() as session:
        timers_due, outbox_due, reminders_due = _work_due(session, reminder_lead)
    due = db.unit_of_work(lambda s: timers.claim_due(s, limit=TIMER_CLAIM, lease=lease)) \
        if timers_due else []
    if send_timers is not None and timer_batch > 1:
        size = min(timer_batch, -(-len(due) // TIMER_SPREAD))
        for batch in batches(due, size):
            send_timers(batch)
    else:
        for timer_id in due:
            send_timer(timer_id)
    pending = db.unit_of_work(lambda s: outbox.claim_pending(s, lease=lease)) \
        if outbox_due else []
    for outbox_id, _kind in pending:
        send_outbox(outbox_id)
    reminded = db.unit_of_work(
        lambda s: notifications.send_due_reminders(s, lead=reminder_lead)) \
        if reminders_due else 0
    return len(due) + len(pending) + reminded


def _work_due(session: Session, reminder_lead: timedelta) -> tuple[bool, bool, bool]:
    """Whether there are due timers, due outbox rows and due reminders: one read, without the
    write lock, so that an idle round (most of them) takes no write transaction. The claims
    check again under their own lock."""
    now = clock.now()
    found = session.execute(_WORK_DUE, {"now": now, "remind_before": now + reminder_lead}).one()
    return bool(found[0]), bool(found[1]), bool(found[2])


def _work_due_statement() -> Any:
    """The statement of `_work_due`, built once: the embedded scheduler runs it ten times a
    second, and building it cost more than running it."""
    now, remind_before = bindparam("now"), bindparam("remind_before")
    timer = (select(Timer.id).where(
        Timer.status == timers.PENDING, Timer.due_at <= now,
        or_(Timer.lease_until.is_(None), Timer.lease_until <= now)).limit(1)).exists()
    row = (select(OutboxMessage.id).where(or_(
        (OutboxMessage.status == outbox.PENDING) & (OutboxMessage.available_at <= now),
        OutboxMessage.status.in_((outbox.DISPATCHED, outbox.RUNNING))
        & (OutboxMessage.lease_until <= now))).limit(1)).exists()
    reminder = (select(HumanTask.id).where(HumanTask.status == "ready", or_(
        HumanTask.reminded_at.is_(None) & (HumanTask.due_at <= remind_before)
        & (HumanTask.due_at > now),
        HumanTask.overdue_alerted_at.is_(None) & (HumanTask.due_at <= now))).limit(1)).exists()
    return select(timer, row, reminder)


_WORK_DUE = _work_due_statement()
