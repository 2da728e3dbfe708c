"""Service tasks run by the workers: the call, its result in the case, retries with backoff,
incidents after the last retry, idempotent redelivery, and the built-in operations.

`drain` does what the scheduler and workers would (the same `engine.work` functions), in this
thread; the platform clock is moved to reach retry delays instead of sleeping.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from engine import operations, work
from engine.db import Database
from engine.models import Document, OutboxMessage
from engine.settings import get_settings
from tests.conftest import DATA, Api, Drain
from tests.services import free_port

SERVICES = DATA / "services"
#: Element id of the service task in the lookup models.
LOOK_UP = "look_up"


# ---------------------------------------------------------------- helpers


@dataclass
class Lookup:
    """Service operation "lookup": fails its first `failures` calls (all with `failures=-1`)."""

    failures: int = 0
    calls: list[str] = field(default_factory=list)

    def __call__(self, applicant: str) -> dict[str, Any]:
        self.calls.append(applicant)
        if self.failures < 0 or len(self.calls) <= self.failures:
            raise ConnectionError(f"register down (call {len(self.calls)})")
        return {"applicant": applicant, "registered": True, "call": len(self.calls)}


@pytest.fixture
def lookup(monkeypatch: pytest.MonkeyPatch) -> Lookup:
    """The "lookup" operation, registered for this test only."""
    op = Lookup()
    monkeypatch.setitem(operations._external, "lookup", op)
    return op


def _case(api: Api, case_id: int) -> dict[str, Any]:
    return api.get(f"/api/process-instances/{case_id}").json()


def _incidents(api: Api, case_id: int, status: str = "open") -> list[dict[str, Any]]:
    return api.get("/api/incidents", params={"instance_id": case_id, "status": status}).json()


def _outbox(db: Database, case_id: int, kind: str = "service_call") -> list[OutboxMessage]:
    def read(session: Any) -> list[OutboxMessage]:
        rows = session.scalars(select(OutboxMessage).where(
            OutboxMessage.instance_id == case_id, OutboxMessage.kind == kind)
            .order_by(OutboxMessage.id)).all()
        session.expunge_all()
        return list(rows)

    return db.unit_of_work(read)


def _start(api: Api, model: str, data: dict[str, Any]) -> dict[str, Any]:
    api.deploy(SERVICES / f"{model}.bpmn")
    return api.start(model, data)


# ---------------------------------------------------------------- calls and results


def test_a_successful_call_completes_the_task_with_the_result_in_its_result_variable(
        api: Api, db: Database, drain: Drain, lookup: Lookup) -> None:
    case = _start(api, "lookup_service", {"applicant": "Aino"})

    assert case["status"] == "running"  # the call waits for a worker
    assert "lookup_result" not in case["data"]
    assert lookup.calls == []  # not called inside the request
    [row] = _outbox(db, case["id"])
    assert (row.status, row.payload["operation"], row.payload["element_id"]) == (
        "pending", "lookup", LOOK_UP)
    assert row.payload["params"] == {"applicant": "Aino"}

    assert drain() >= 1

    after = _case(api, case["id"])
    assert after["status"] == "completed"
    assert after["data"]["lookup_result"] == {"applicant": "Aino", "registered": True,
                                              "call": 1}
    assert after["data"]["applicant"] == "Aino"
    assert lookup.calls == ["Aino"]
    assert [r.status for r in _outbox(db, case["id"])] == ["done"]
    assert _incidents(api, case["id"]) == []
    assert drain() == 0


def test_a_transient_failure_is_retried_after_one_second_and_then_succeeds(
        api: Api, db: Database, drain: Drain, lookup: Lookup, test_clock: Any) -> None:
    lookup.failures = 1
    case = _start(api, "lookup_service", {"applicant": "Aino"})

    drain()
    assert lookup.calls == ["Aino"]
    [row] = _outbox(db, case["id"])
    assert (row.status, row.attempts) == ("pending", 1)
    assert "ConnectionError: register down" in (row.last_error or "")
    assert _case(api, case["id"])["status"] == "running"  # waiting for the retry, no incident
    assert _incidents(api, case["id"]) == []

    test_clock.advance(timedelta(milliseconds=500))
    assert drain() == 0
    assert len(lookup.calls) == 1  # the backoff has not passed

    test_clock.advance(timedelta(milliseconds=600))
    assert drain() >= 1

    assert len(lookup.calls) == 2
    after = _case(api, case["id"])
    assert after["status"] == "completed"
    assert after["data"]["lookup_result"]["call"] == 2
    assert _incidents(api, case["id"]) == []
    assert _incidents(api, case["id"], status="resolved") == []
    [row] = _outbox(db, case["id"])
    assert (row.status, row.attempts) == ("done", 1)


def test_each_retry_waits_twice_as_long_as_the_one_before(
        api: Api, db: Database, drain: Drain, lookup: Lookup, test_clock: Any) -> None:
    lookup.failures = 2
    case = _start(api, "lookup_service", {"applicant": "Aino"})
    drain()
    test_clock.advance(timedelta(seconds=1.1))
    drain()
    assert len(lookup.calls) == 2
    [row] = _outbox(db, case["id"])
    assert (row.status, row.attempts) == ("pending", 2)

    test_clock.advance(timedelta(seconds=1.1))  # enough for the first delay, not the second
    assert drain() == 0
    assert len(lookup.calls) == 2
    assert _case(api, case["id"])["status"] == "running"

    test_clock.advance(timedelta(seconds=1))  # 2.1 s since the second failure
    drain()

    assert len(lookup.calls) == 3
    assert _case(api, case["id"])["status"] == "completed"
    assert _incidents(api, case["id"]) == []


def _fail_every_attempt(drain: Drain, test_clock: Any, *, retries: int, first_delay: float
                        ) -> None:
    """Drain through every attempt of an always-failing call, waiting out each backoff."""
    for attempt in range(retries):
        drain()
        if attempt < retries - 1:
            test_clock.advance(timedelta(seconds=first_delay * 2 ** attempt + 0.1))


def test_after_the_last_retry_the_task_fails_with_a_service_incident_naming_it(
        api: Api, db: Database, drain: Drain, lookup: Lookup, test_clock: Any) -> None:
    lookup.failures = -1
    case = _start(api, "lookup_service", {"applicant": "Aino"})

    _fail_every_attempt(drain, test_clock, retries=3, first_delay=1)

    assert len(lookup.calls) == 3
    after = _case(api, case["id"])
    assert after["status"] == "error"
    assert "lookup_result" not in after["data"]
    [incident] = _incidents(api, case["id"])
    assert (incident["kind"], incident["element_id"], incident["status"]) == (
        "service", LOOK_UP, "open")
    assert incident["task_id"]
    assert "'lookup'" in incident["message"]
    assert "after 3 attempts" in incident["message"]
    assert "register down (call 3)" in incident["message"]
    [row] = _outbox(db, case["id"])
    assert (row.status, row.attempts) == ("failed", 3)
    listed = api.get("/api/process-instances", params={"status": "error"}).json()
    assert [c["id"] for c in listed] == [case["id"]]

    test_clock.advance(timedelta(hours=1))
    assert drain() == 0  # given up: no more calls
    assert len(lookup.calls) == 3


def test_a_model_without_retry_settings_gets_three_attempts(
        api: Api, drain: Drain, lookup: Lookup, test_clock: Any) -> None:
    lookup.failures = -1
    case = _start(api, "lookup_default_retries", {"applicant": "Aino"})

    _fail_every_attempt(drain, test_clock, retries=3, first_delay=1)

    assert len(lookup.calls) == 3
    assert [i["element_id"] for i in _incidents(api, case["id"])] == [LOOK_UP]


def test_the_models_retry_settings_decide_the_attempts_and_the_first_delay(
        api: Api, db: Database, drain: Drain, lookup: Lookup, test_clock: Any) -> None:
    lookup.failures = -1  # the model says retries="2" backoff_base="4"
    case = _start(api, "lookup_model_retries", {"applicant": "Aino"})
    drain()
    [row] = _outbox(db, case["id"])
    assert (row.payload["retries"], row.payload["backoff_seconds"]) == (2, 4)

    test_clock.advance(timedelta(seconds=3.5))
    assert drain() == 0
    assert len(lookup.calls) == 1
    test_clock.advance(timedelta(seconds=0.6))
    drain()

    assert len(lookup.calls) == 2
    assert _case(api, case["id"])["status"] == "error"
    [incident] = _incidents(api, case["id"])
    assert incident["kind"] == "service"
    assert "after 2 attempts" in incident["message"]


def test_retrying_the_incident_makes_a_new_call_and_the_case_completes(
        api: Api, db: Database, drain: Drain, lookup: Lookup, test_clock: Any) -> None:
    lookup.failures = -1
    case = _start(api, "lookup_service", {"applicant": "Aino"})
    _fail_every_attempt(drain, test_clock, retries=3, first_delay=1)
    [incident] = _incidents(api, case["id"])
    lookup.failures = 0  # the register is back

    resolved = api.post(f"/api/incidents/{incident['id']}/retry").json()

    assert (resolved["status"], resolved["resolved_by"]) == ("resolved", "admin")
    assert _case(api, case["id"])["status"] == "running"  # a new call waits for a worker
    assert len(lookup.calls) == 3
    first, second = _outbox(db, case["id"])
    assert (first.status, second.status, second.attempts) == ("failed", "pending", 0)

    drain()

    assert len(lookup.calls) == 4
    after = _case(api, case["id"])
    assert after["status"] == "completed"
    assert after["data"]["lookup_result"]["call"] == 4
    assert _incidents(api, case["id"]) == []
    assert [i["id"] for i in _incidents(api, case["id"], status="resolved")] == [incident["id"]]
    assert [r.status for r in _outbox(db, case["id"])] == ["failed", "done"]


def test_an_outbox_row_handled_twice_calls_the_operation_once(
        api: Api, db: Database, drain: Drain, lookup: Lookup) -> None:
    case = _start(api, "lookup_service", {"applicant": "Aino"})
    drain()
    [row] = _outbox(db, case["id"])
    before = _case(api, case["id"])

    work.handle_outbox(db, row.id, mailer=None)  # the broker delivers the message again
    work.handle_outbox(db, row.id, mailer=None)

    assert lookup.calls == ["Aino"]
    after = _case(api, case["id"])
    assert (after["status"], after["data"]) == ("completed", before["data"])
    assert after["updated_at"] == before["updated_at"]
    [again] = _outbox(db, case["id"])
    assert (again.status, again.attempts, again.done_at) == ("done", 0, row.done_at)


def test_a_case_cancelled_while_its_call_waits_completes_nothing_later(
        api: Api, db: Database, drain: Drain, lookup: Lookup) -> None:
    case = _start(api, "lookup_service", {"applicant": "Aino"})
    api.post(f"/api/process-instances/{case['id']}/cancel")

    drain()

    assert lookup.calls == []  # nothing waits for the result: the register is not called
    after = _case(api, case["id"])
    assert after["status"] == "cancelled"
    assert "lookup_result" not in after["data"]
    assert _incidents(api, case["id"]) == []
    [row] = _outbox(db, case["id"])
    assert row.status == "done"
    types = [e["type"] for e in
             api.get(f"/api/process-instances/{case['id']}/history").json()["events"]]
    assert "case_completed" not in types
    assert types[-1] == "case_cancelled"


def test_a_case_cancelled_while_a_failing_call_waits_for_its_retry_stops_retrying(
        api: Api, db: Database, drain: Drain, lookup: Lookup, test_clock: Any) -> None:
    lookup.failures = -1
    case = _start(api, "lookup_service", {"applicant": "Aino"})
    drain()
    api.post(f"/api/process-instances/{case['id']}/cancel")

    test_clock.advance(timedelta(seconds=10))
    drain()

    assert len(lookup.calls) == 1
    assert _case(api, case["id"])["status"] == "cancelled"
    assert _incidents(api, case["id"]) == []
    [row] = _outbox(db, case["id"])
    assert row.status == "done"


# ---------------------------------------------------------------- http_call


@dataclass
class Registry:
    """A real HTTP server on 127.0.0.1: records requests, answers from `answers` (then 200)."""

    url: str
    requests: list[dict[str, Any]]
    answers: list[int]


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    requests: list[dict[str, Any]] = []
    answers: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            requests.append({"method": "POST", "path": self.path,
                             "content_type": self.headers.get("Content-Type"),
                             "body": json.loads(raw) if raw else None})
            status = answers.pop(0) if answers else 200
            payload = json.dumps({"id": 7, "registered": status == 200}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api/v1"
    monkeypatch.setitem(get_settings().http_endpoints, "registry", url)
    try:
        yield Registry(url, requests, answers)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_http_call_posts_to_the_named_endpoint_and_stores_status_and_body(
        api: Api, drain: Drain, registry: Registry) -> None:
    case = _start(api, "register_applicant", {"applicant": "Aino", "age": 31})
    assert registry.requests == []

    drain()

    assert registry.requests == [{"method": "POST", "path": "/api/v1/applicants",
                                  "content_type": "application/json",
                                  "body": {"name": "Aino", "age": 31}}]
    after = _case(api, case["id"])
    assert after["status"] == "completed"
    assert after["data"]["registry_answer"] == {"status": 200,
                                                "body": {"id": 7, "registered": True}}


def test_an_http_error_answer_is_a_failed_attempt_that_is_retried(
        api: Api, db: Database, drain: Drain, registry: Registry, test_clock: Any) -> None:
    registry.answers.append(503)
    case = _start(api, "register_applicant", {"applicant": "Aino", "age": 31})

    drain()
    [row] = _outbox(db, case["id"])
    assert (row.status, row.attempts) == ("pending", 1)
    assert "registry answered HTTP 503" in (row.last_error or "")
    assert _case(api, case["id"])["status"] == "running"

    test_clock.advance(timedelta(seconds=1.1))
    drain()

    assert len(registry.requests) == 2
    after = _case(api, case["id"])
    assert after["status"] == "completed"
    assert after["data"]["registry_answer"]["status"] == 200


def test_http_call_to_an_endpoint_that_is_not_configured_ends_in_an_incident(
        api: Api, drain: Drain, test_clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(get_settings().http_endpoints, "registry", raising=False)
    case = _start(api, "register_applicant", {"applicant": "Aino", "age": 31})

    _fail_every_attempt(drain, test_clock, retries=3, first_delay=1)

    [incident] = _incidents(api, case["id"])
    assert (incident["kind"], incident["element_id"]) == ("service", "register")
    assert "no HTTP endpoint named 'registry'" in incident["message"]


# ---------------------------------------------------------------- render_document


def test_render_document_stores_the_rendered_text_as_a_document_of_the_case(
        api: Api, db: Database, drain: Drain) -> None:
    case = _start(api, "decision_document", {"applicant": "Aino", "amount": 1200})
    assert case["status"] == "running"

    drain()

    after = _case(api, case["id"])
    assert after["status"] == "completed"

    def documents(session: Any) -> list[tuple[Any, ...]]:
        return [(d.id, d.name, d.media_type, d.content, d.sha256) for d in session.scalars(
            select(Document).where(Document.instance_id == case["id"]))]

    [(doc_id, name, media_type, content, sha256)] = db.unit_of_work(documents)
    assert content == "Päätös: Aino saa 1200 euroa (palkkatuki)."
    assert (name, media_type) == ("decision-aino.txt", "text/plain")
    assert sha256 == hashlib.sha256(content.encode()).hexdigest()
    assert after["data"]["decision"] == {"document_id": doc_id, "name": name, "sha256": sha256}


def test_a_document_template_naming_an_unknown_variable_is_retried_then_an_incident(
        api: Api, db: Database, drain: Drain, test_clock: Any) -> None:
    case = _start(api, "broken_document", {"applicant": "Aino"})

    drain()
    [row] = _outbox(db, case["id"])
    assert (row.status, row.attempts) == ("pending", 1)
    assert "no_such_variable" in (row.last_error or "")
    test_clock.advance(timedelta(seconds=1.1))
    drain()

    assert _case(api, case["id"])["status"] == "error"
    [incident] = _incidents(api, case["id"])
    assert (incident["kind"], incident["element_id"]) == ("service", "write_decision")
    assert "no_such_variable" in incident["message"]
    assert db.unit_of_work(lambda s: s.scalars(
        select(Document.id).where(Document.instance_id == case["id"])).all()) == []
