"""Retention: a finished case is pseudonymised once its process's retention period has run out,
and the audit trail still verifies."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from engine import attachments, audit, clock, retention
from engine.db import Database
from engine.models import CaseKey, Document, Event, Notification, ProcessInstance
from engine.settings import get_settings
from tests.conftest import DATA, Api

MODELS = DATA / "retention"
PERSON = {"personalId": "150585-904T", "name": "Testi Kiteeläinen", "customerId": "C-000601",
          "municipalityCode": "260", "jobSearchStartDate": "2025-04-16"}
MEETING = {"meetingMode": "face_to_face", "meetingDate": "2025-04-17", "slots": 4,
           "planReviewed": True, "notes": "Asiakas Testi Kiteeläinen toivoo iltavuoroja.",
           "contacts": [{"name": "Maija Malli", "channel": "phone"}]}


def _finished_case(api: Api, db: Database, process_id: str) -> int:
    case = api.start(process_id, PERSON)
    [task] = api.tasks(case["id"])
    api.complete(task["id"], MEETING)

    def extras(session: Any) -> None:
        attachments.store(session, instance_id=case["id"], field="cv", name="cv.pdf",
                          media_type="application/pdf", content=b"%PDF-1.4 Testi", max_bytes=1000)
        session.add(Notification(team_id="tym", instance_id=case["id"], kind="info",
                                 subject="Testi Kiteeläinen", body="", created_at=clock.now()))
        session.add(CaseKey(instance_id=case["id"], name="customerId", value="C-000601"))

    db.unit_of_work(extras)
    return int(case["id"])


def _purge(db: Database, days: int) -> int:
    return db.unit_of_work(lambda s: retention.purge_due(
        s, now=clock.now() + timedelta(days=days)))


def test_a_finished_case_is_pseudonymised_after_its_retention_period(api: Api, db: Database
                                                                     ) -> None:
    api.deploy(MODELS / "kept_briefly.bpmn")
    case_id = _finished_case(api, db, "kept_briefly")

    assert _purge(db, 29) == 0
    assert _purge(db, 31) == 1
    assert _purge(db, 32) == 0  # once

    with db.reading() as session:
        row = session.get(ProcessInstance, case_id)
        data, state, purged_at = row.data, row.state, row.purged_at
        events = list(session.scalars(select(Event).where(Event.instance_id == case_id)))
        leftovers = [session.scalar(select(func.count()).select_from(model)
                                    .where(model.instance_id == case_id))
                     for model in (Document, Notification, CaseKey)]
        assert audit.verify_chain(session) is None
    assert purged_at is not None and state == "" and leftovers == [0, 0, 0]
    # What the service targets are computed from stays ...
    assert (data["municipalityCode"], data["jobSearchStartDate"], data["meetingMode"],
            data["meetingDate"], data["slots"], data["planReviewed"]) == \
        ("260", "2025-04-16", "face_to_face", "2025-04-17", 4, True)
    assert data["contacts"][0]["channel"] == "phone"
    # ... who the person was does not, in the case or anywhere in its audit trail.
    everything = json.dumps([data, [e.data for e in events]], ensure_ascii=False)
    for secret in ("150585-904T", "Kiteeläinen", "C-000601", "Maija", "iltavuoroja"):
        assert secret not in everything
    assert data["personalId"].startswith("pseudo:")
    started = next(e for e in events if e.type == audit.CASE_STARTED)
    assert started.data["data"]["personalId"] == data["personalId"]  # still linkable
    assert events[-1].type == audit.CASE_PURGED


def test_a_purged_trail_still_detects_tampering(api: Api, db: Database) -> None:
    api.deploy(MODELS / "kept_briefly.bpmn", MODELS / "kept_long.bpmn")
    purged_id = _finished_case(api, db, "kept_briefly")
    kept_id = _finished_case(api, db, "kept_long")
    _purge(db, 31)

    def tamper(session: Any, case_id: int, **changes: Any) -> None:
        event = session.scalars(select(Event).where(Event.instance_id == case_id)
                                .order_by(Event.id)).first()
        for name, value in changes.items():
            setattr(event, name, value)

    db.unit_of_work(lambda s: tamper(s, kept_id, data={"forged": True}))
    with db.reading() as session:
        broken = audit.verify_chain(session)
    assert broken is not None and broken.instance_id == kept_id
    assert broken.reason == "data does not match its digest"

    db.unit_of_work(lambda s: tamper(s, kept_id, data=None, data_digest=audit.data_digest(None)))
    db.unit_of_work(lambda s: tamper(s, purged_id, actor="someone else"))
    with db.reading() as session:
        broken = audit.verify_chain(session)
    assert broken is not None and broken.instance_id in (purged_id, kept_id)
    assert broken.reason == "content does not match its hash"


def test_cases_are_kept_without_a_period_and_while_running(api: Api, db: Database,
                                                           monkeypatch: Any) -> None:
    api.deploy(MODELS / "kept_long.bpmn", MODELS / "kept_briefly.bpmn")
    finished = _finished_case(api, db, "kept_long")
    running = api.start("kept_briefly", PERSON)["id"]

    assert _purge(db, 10_000) == 0

    monkeypatch.setattr(get_settings(), "retention_days", 365)
    assert _purge(db, 364) == 0
    assert _purge(db, 366) == 1
    with db.reading() as session:
        assert session.get(ProcessInstance, finished).purged_at is not None
        assert session.get(ProcessInstance, running).purged_at is None
        assert session.get(ProcessInstance, running).data["name"] == "Testi Kiteeläinen"
