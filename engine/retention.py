"""Retention: closed cases are purged of personal data after their process's retention period.

The period is the process-level property `retentionDays` of the model (`spiffworkflow:property`
or `camunda:property`), else `VIRTA_RETENTION_DAYS`; with neither, cases are kept. It runs from
the case's end (completed or cancelled).

A purge keeps what the service targets are computed from and drops who the person was: in the
case data and in every audit event's data, numbers, yes/no values, dates and short codes (enum
values such as `face_to_face`, municipality codes) stay; every other text, and anything that is
a personal identity code, a business ID or a customer number, becomes a keyed pseudonym
(`pseudo:<hmac>`, the same value gives the same pseudonym within the platform, so events still
link up, and it cannot be reversed without the secret key). Attached documents, notifications
and the case's search keys are deleted, and the workflow state is emptied. The audit chain stays
verifiable: event hashes cover a digest of the data (`engine.audit`), and a `case_purged` event
ends the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine import accounts, audit, clock
from engine.bpmn_xml import parse_xml, process_property
from engine.deploy import version_bpmn
from engine.identifiers import is_valid_business_id, is_valid_personal_id
from engine.models import CaseKey, Document, Event, Notification, ProcessInstance, ProcessVersion
from engine.settings import get_settings

RETENTION_PROPERTY = "retentionDays"
FINISHED = ("completed", "cancelled")
#: Kept as they are: enum-like codes and numbers written as text, and ISO dates and times.
_CODE = re.compile(r"^(?:[a-z][a-z0-9_]{0,39}|[0-9]{1,6})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
                   r"(?:Z|[+-]\d{2}:\d{2})?)?$")
#: Customer numbers and business keys of people's cases (C-000601, J-2025-000001).
_IDENTIFIER = re.compile(r"^[A-Z]{1,3}-[0-9-]{4,}$")


def _keep(text: str) -> bool:
    if is_valid_personal_id(text) or is_valid_business_id(text) or _IDENTIFIER.match(text):
        return False
    return bool(_CODE.match(text) or _DATE.match(text))


def pseudonymise(value: Any, key: bytes) -> Any:
    """A copy of `value` with every text that could identify a person replaced by a keyed
    pseudonym; keys of objects, numbers, yes/no values, dates and codes are kept."""
    if isinstance(value, dict):
        return {k: pseudonymise(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [pseudonymise(v, key) for v in value]
    if isinstance(value, str) and not _keep(value):
        return "pseudo:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]
    return value


@lru_cache(maxsize=256)
def _model_days(bpmn: str, process_id: str) -> int | None:
    for value in process_property(parse_xml(bpmn.encode()), process_id, RETENTION_PROPERTY):
        if value.strip().isdigit():
            return int(value)
    return None


def retention_days(session: Session, version: ProcessVersion) -> int | None:
    """How many days a finished case of this version keeps its personal data (None: always)."""
    days = _model_days(version_bpmn(session, version), version.process_id)
    return days if days is not None else get_settings().retention_days


def purge_case(session: Session, row: ProcessInstance, *, key: bytes,
               now: datetime | None = None) -> None:
    """Pseudonymise one finished case and its audit events (see the module's rules)."""
    now = now or clock.now()
    row.data = pseudonymise(row.data or {}, key)
    row.state = ""
    row.search_keys = None
    row.purged_at = now
    for event in session.scalars(select(Event).where(Event.instance_id == row.id)):
        if event.data is not None:
            event.data = pseudonymise(event.data, key)
    session.execute(delete(Document).where(Document.instance_id == row.id))
    session.execute(delete(Notification).where(Notification.instance_id == row.id))
    session.execute(delete(CaseKey).where(CaseKey.instance_id == row.id))
    audit.record(session, type=audit.CASE_PURGED, actor="system", instance=row,
                 data={"ended_at": row.ended_at.isoformat() if row.ended_at else None})


def purge_due(session: Session, *, now: datetime | None = None, limit: int = 200) -> int:
    """Purge up to `limit` finished cases whose retention period has run out; returns how many."""
    now = now or clock.now()
    key = accounts.secret_key(session, get_settings().secret_key).encode()
    candidates = session.scalars(
        select(ProcessInstance).where(ProcessInstance.status.in_(FINISHED),
                                      ProcessInstance.purged_at.is_(None),
                                      ProcessInstance.ended_at.is_not(None))
        .order_by(ProcessInstance.ended_at).limit(limit * 5).with_for_update(skip_locked=True))
    days_of: dict[int, int | None] = {}
    purged = 0
    for row in candidates:
        if row.process_version_id not in days_of:
            version = session.get(ProcessVersion, row.process_version_id)
            days_of[row.process_version_id] = retention_days(session, version) \
                if version else None
        days = days_of[row.process_version_id]
        if days is None or row.ended_at + timedelta(days=days) > now:
            continue
        purge_case(session, row, key=key, now=now)
        purged += 1
        if purged >= limit:
            break
    return purged
