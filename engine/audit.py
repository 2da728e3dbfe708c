"""The audit trail: append-only events, hash-chained per case.

Every state change writes an event in the same transaction as the change. Each event stores the
hash of the previous event of the same case (`prev_hash`) and its own hash over its content, so
`verify_chain` finds an edited, inserted or deleted event. Events without a case (deployments,
accounts) form one "system" chain.

The hash covers a SHA-256 digest of the event's data (`data_digest`), and the digest is checked
against the data, so any change to the data still breaks the chain. When a case's retention
period ends (`engine.retention`) its events' data is pseudonymised: the digest stays, the chain
still verifies, and only the purged data is no longer compared with it. The oldest events, from
before the digest, hash their data directly.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, SessionTransaction

from engine import clock
from engine.case_rows import CaseRecord
from engine.models import Event, ProcessInstance

#: Event types, in the words that the history shows.
CASE_STARTED = "case_started"
CASE_COMPLETED = "case_completed"
CASE_CANCELLED = "case_cancelled"
CASE_ERROR = "case_error"
CASE_PURGED = "case_purged"
TASK_READY = "task_ready"
TASK_CLAIMED = "task_claimed"
TASK_UNCLAIMED = "task_unclaimed"
TASK_REASSIGNED = "task_reassigned"
TASK_CANDIDATE_ADDED = "task_candidate_added"
TASK_COMPLETED = "task_completed"
TASK_CANCELLED = "task_cancelled"
STEP_COMPLETED = "step_completed"
TIMER_FIRED = "timer_fired"
MESSAGE_RECEIVED = "message_received"
MESSAGE_SENT = "message_sent"
INCIDENT = "incident"
INCIDENT_RESOLVED = "incident_resolved"
MODEL_DEPLOYED = "model_deployed"

#: PostgreSQL advisory lock that serializes appends to the system chain (see `record`).
_SYSTEM_CHAIN_LOCK = 0x76697274_61756474


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def data_digest(data: Any) -> str:
    """The SHA-256 of an event's data, as its hash covers it."""
    return hashlib.sha256(_canonical(data)).hexdigest()


def _event_hash(prev: str | None, instance_id: int | None, at: datetime, type_: str,
                actor: str | None, element_id: str | None, task_id: str | None,
                data: Any, digest: str | None) -> str:
    covered = data if digest is None else f"sha256:{digest}"
    body = _canonical([prev, instance_id, at.isoformat(), type_, actor, element_id, task_id,
                       covered])
    return hashlib.sha256(body).hexdigest()


def record(
    session: Session,
    *,
    type: str,
    actor: str | None,
    instance: CaseRecord | None = None,
    element_id: str | None = None,
    task_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one event to the trail of `instance` (or to the system chain).

    The caller's transaction commits it together with the change it describes. The events of a
    transaction are written together, in the order recorded, by one multi-row INSERT: before
    the commit, before any query the session runs (so the transaction reads its own events),
    and before a savepoint starts (inside one, an event is written at once, so that rolling
    back to the savepoint takes its events with it).
    """
    at = clock.now()
    pending: list[dict[str, Any]] = session.info.setdefault(_PENDING, [])
    if instance is not None:
        if instance.id is None:
            session.flush()
        prev = instance.last_event_hash
    else:
        prev = next((e["hash"] for e in reversed(pending) if e["instance_id"] is None), None)
        if prev is None:
            # Two transactions appending at once would both link to the same previous event
            # and fork the chain. SQLite writers are serialized already (BEGIN IMMEDIATE);
            # PostgreSQL takes a transaction-scoped lock, so the next writer reads this event
            # as its `prev`.
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                {"key": _SYSTEM_CHAIN_LOCK})
            prev = session.scalar(select(Event.hash).where(Event.instance_id.is_(None))
                                  .order_by(Event.id.desc()).limit(1))
    instance_id = instance.id if instance is not None else None
    content = data_digest(data)
    digest = _event_hash(prev, instance_id, at, type, actor, element_id, task_id, data, content)
    pending.append({"instance_id": instance_id, "at": at, "type": type, "actor": actor,
                    "element_id": element_id, "task_id": task_id, "data": data,
                    "data_digest": content, "prev_hash": prev, "hash": digest})
    if instance is not None:
        instance.last_event_hash = digest
    if session.in_nested_transaction():
        write_pending(session)


#: session.info key of the events recorded and not yet written.
_PENDING = "virta_pending_events"
_INSERT_EVENTS = Event.__table__.insert()


def write_pending(session: Session, transaction: SessionTransaction | None = None) -> None:
    """Write the events recorded in this session's transaction and not yet written (in
    `transaction`, default: the current one)."""
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = []
        conn = transaction.connection(None) if transaction is not None else session.connection()
        conn.execute(_INSERT_EVENTS, pending)


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    write_pending(session)


@event.listens_for(Session, "do_orm_execute")
def _write_before_query(state: Any) -> None:
    if state.session.info.get(_PENDING):
        write_pending(state.session)


@event.listens_for(Session, "after_transaction_create")
def _write_before_savepoint(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested and transaction.parent is not None and session.info.get(_PENDING):
        write_pending(session, transaction.parent)  # before the SAVEPOINT


@event.listens_for(Session, "after_transaction_end")
def _forget_unwritten(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or rolled back
        session.info.pop(_PENDING, None)


def history(session: Session, instance_id: int) -> list[Event]:
    """Return a case's events, oldest first."""
    return list(session.scalars(
        select(Event).where(Event.instance_id == instance_id).order_by(Event.id)
    ))


def event_to_dict(event: Event) -> dict[str, Any]:
    """The public shape of an event (`GET /api/process-instances/{id}/history`)."""
    return {
        "seq": event.id,
        "at": event.at.isoformat(),
        "type": event.type,
        "actor": event.actor,
        "element_id": event.element_id,
        "task_id": event.task_id,
        "data": event.data,
    }


@dataclass(frozen=True)
class BrokenEvent:
    """The first event whose hash or link does not check out."""

    event_id: int
    instance_id: int | None
    reason: str


def _iter_events(session: Session, batch: int = 5000) -> Iterator[Event]:
    last = 0
    while True:
        rows = list(session.scalars(
            select(Event).where(Event.id > last).order_by(Event.id).limit(batch)
        ))
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.expunge_all()


def verify_chain(session: Session) -> BrokenEvent | None:
    """Check every chain; return the first broken event, or None when all is intact."""
    # A case remembers the hash of its last event, so events cut off the end of its chain are
    # found too. Read first: on a live system the chain may grow meanwhile, never shrink.
    case_heads: dict[int, str] = {
        instance_id: last_hash for instance_id, last_hash in session.execute(
            select(ProcessInstance.id, ProcessInstance.last_event_hash)
            .where(ProcessInstance.last_event_hash.is_not(None)))}
    purged = set(session.scalars(select(ProcessInstance.id)
                                 .where(ProcessInstance.purged_at.is_not(None))))
    heads: dict[int | None, str | None] = {}
    last_ids: dict[int | None, int] = {}
    reached: set[int | None] = set()
    for ev in _iter_events(session):
        expected_prev = heads.get(ev.instance_id)
        if ev.prev_hash != expected_prev:
            return BrokenEvent(ev.id, ev.instance_id, "link to the previous event is broken")
        digest = _event_hash(ev.prev_hash, ev.instance_id, ev.at, ev.type, ev.actor,
                             ev.element_id, ev.task_id, ev.data, ev.data_digest)
        if digest != ev.hash:
            return BrokenEvent(ev.id, ev.instance_id, "content does not match its hash")
        if ev.data_digest is not None and ev.instance_id not in purged \
                and data_digest(ev.data) != ev.data_digest:
            return BrokenEvent(ev.id, ev.instance_id, "data does not match its digest")
        heads[ev.instance_id] = ev.hash
        last_ids[ev.instance_id] = ev.id
        if ev.instance_id is not None and case_heads.get(ev.instance_id) == ev.hash:
            reached.add(ev.instance_id)
    missing = sorted(set(case_heads) - reached)
    if missing:
        return BrokenEvent(last_ids.get(missing[0], 0), missing[0],
                           "events after this one are missing")
    return None
