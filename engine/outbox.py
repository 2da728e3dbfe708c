"""The transactional outbox: work caused by a state change, stored with the change.

`enqueue` is called inside the unit of work that changes a case; the scheduler's relay
(`claim_pending`) later hands the rows to the workers. A row is the only durable copy of the
work: the broker message just wakes a worker, and a lost message is sent again when its lease
runs out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.db import is_sqlite
from engine.models import OutboxMessage

PENDING = "pending"
DISPATCHED = "dispatched"
#: A worker is doing it (a call or a mail is never started twice while its lease lasts).
RUNNING = "running"
DONE = "done"
FAILED = "failed"

#: How long a dispatched row may go unhandled before the relay sends it again.
DISPATCH_LEASE = timedelta(seconds=60)


def enqueue(session: Session, *, kind: str, payload: dict[str, Any],
            instance_id: int | None = None, available_at: datetime | None = None
            ) -> OutboxMessage:
    """Record work to do after this transaction commits; returns the row (flushed, with id)."""
    now = clock.now()
    row = OutboxMessage(kind=kind, payload=payload, instance_id=instance_id, status=PENDING,
                        attempts=0, available_at=available_at or now, created_at=now)
    session.add(row)
    session.flush()
    return row


def claim_pending(session: Session, *, limit: int = 500,
                  lease: timedelta = DISPATCH_LEASE) -> list[tuple[int, str]]:
    """Take rows that are due (pending, or dispatched with an expired lease) for dispatching.

    Several relays may run at once: PostgreSQL skips rows another relay has locked, SQLite
    serializes writers; either way each row is claimed by one relay per lease.
    """
    now = clock.now()
    query = (select(OutboxMessage.id, OutboxMessage.kind)
             .where(or_(
                 (OutboxMessage.status == PENDING) & (OutboxMessage.available_at <= now),
                 OutboxMessage.status.in_((DISPATCHED, RUNNING))
                 & (OutboxMessage.lease_until <= now)))
             .order_by(OutboxMessage.available_at, OutboxMessage.id).limit(limit))
    bind = session.get_bind()
    if not is_sqlite(str(bind.url)):
        query = query.with_for_update(skip_locked=True)
    rows = list(session.execute(query).all())
    if rows:
        session.execute(update(OutboxMessage)
                        .where(OutboxMessage.id.in_([r[0] for r in rows]))
                        .values(status=DISPATCHED, lease_until=now + lease))
    return [(r[0], r[1]) for r in rows]


def start(session: Session, outbox_id: int, *, lease: timedelta = DISPATCH_LEASE
          ) -> OutboxMessage | None:
    """Claim a dispatched row for one worker; None when it is not this message's to do.

    A redelivered message finds the row done, failed, waiting for a retry (pending) or running
    in another worker, and does nothing.
    """
    row = session.get(OutboxMessage, outbox_id, with_for_update=True)
    if row is None or row.status != DISPATCHED:
        return None
    row.status = RUNNING
    row.lease_until = clock.now() + lease
    return row


def take(session: Session, outbox_id: int) -> OutboxMessage | None:
    """Lock a row to record its outcome; None when it was already handled."""
    row = session.get(OutboxMessage, outbox_id, with_for_update=True)
    if row is None or row.status in (DONE, FAILED):
        return None
    return row


def mark_done(row: OutboxMessage) -> None:
    """The handler finished; commit this with the handler's own effect."""
    row.status = DONE
    row.done_at = clock.now()
    row.lease_until = None


def mark_retry(row: OutboxMessage, *, error: str, delay: timedelta) -> None:
    """The handler failed and will try again after `delay`."""
    row.status = PENDING
    row.attempts += 1
    row.last_error = error
    row.available_at = clock.now() + delay
    row.lease_until = None


def mark_failed(row: OutboxMessage, *, error: str) -> None:
    """The handler gave up."""
    row.status = FAILED
    row.attempts += 1
    row.last_error = error
    row.lease_until = None
