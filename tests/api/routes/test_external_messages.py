"""Messages to external parties (a message flow to a collapsed pool) are outbox records in the
case's history, never unmatched-message incidents (PROCESSES.md §0.6.3)."""

from __future__ import annotations

from sqlalchemy import select

from engine.db import Database
from engine.models import OutboxMessage
from tests.conftest import DATA, Api, Drain


def test_a_message_to_an_external_party_is_an_outbox_record_in_the_history(
        api: Api, db: Database, drain: Drain) -> None:
    api.deploy(DATA / "runtime" / "external_message.bpmn")
    case = api.start("reject_notice", {"vacancyId": "V-2025-000001",
                                       "rejectReason": "discriminatory"})
    assert case["status"] == "completed"
    events = api.get(f"/api/process-instances/{case['id']}/history").json()["events"]
    [sent] = [e for e in events if e["type"] == "message_sent"]
    assert sent["element_id"] == "mo_rejected"
    assert (sent["data"]["message"], sent["data"]["to"]) == ("VacancyRejected", "employer")
    assert api.get("/api/incidents").json() == []
    with db.reading() as s:
        [row] = s.scalars(select(OutboxMessage).where(
            OutboxMessage.instance_id == case["id"])).all()
        assert row.kind == "external_message" and row.status == "pending"
        assert row.payload["to"] == "employer"
        assert row.payload["payload"] == {"vacancyId": "V-2025-000001",
                                          "rejectReason": "discriminatory"}
    drain()
    with db.reading() as s:
        assert s.scalar(select(OutboxMessage.status).where(
            OutboxMessage.instance_id == case["id"])) == "done"
