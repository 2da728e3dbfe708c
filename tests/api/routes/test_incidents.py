"""Incidents: a failing script, gateway or service task stops the case in `error` with an open
incident naming the element; retrying runs the step again and the case carries on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine import operations, outbox, work
from engine.db import Database
from tests.conftest import DATA, Api

RUNTIME = DATA / "runtime"


def _history(api: Api, case_id: int) -> list[dict[str, Any]]:
    return api.get(f"/api/process-instances/{case_id}/history").json()["events"]


def _open_incidents(api: Api, case_id: int) -> list[dict[str, Any]]:
    return api.get("/api/incidents", params={"instance_id": case_id}).json()


def _status(api: Api, case_id: int) -> str:
    return str(api.get(f"/api/process-instances/{case_id}").json()["status"])


def _run_worker(db: Database) -> int:
    """Do the due outbox work (service calls) as the worker would; return how much."""
    done = 0
    while due := db.unit_of_work(lambda s: outbox.claim_pending(s)):
        for outbox_id, _kind in due:
            work.handle_outbox(db, outbox_id, mailer=None)
            done += 1
    return done


@pytest.fixture
def flaky() -> Iterator[Callable[[int], list[str]]]:
    """Register service operation "flaky" that fails its first `failures` calls.

    The model allows one attempt per run (`spiffworkflow:retry retries="1"`), so each failure
    becomes an incident at once. The registration is removed after the test.
    """
    def register(failures: int) -> list[str]:
        calls: list[str] = []

        def operation(applicant: str) -> dict[str, str]:
            calls.append(applicant)
            if len(calls) <= failures:
                raise RuntimeError("register service down")
            return {"ok": applicant}

        operations.register_external("flaky", operation)
        return calls

    try:
        yield register
    finally:
        operations.unregister("flaky")


def test_a_failing_script_stops_the_case_in_error_with_an_open_incident_naming_the_task(
        api: Api) -> None:
    api.deploy(RUNTIME / "script_error.bpmn")
    case = api.start("script_error")
    [task] = case["ready_tasks"]

    after = api.complete(task["id"], {"divisor": 0}).json()

    assert after["status"] == "error"
    assert after["ready_tasks"] == []
    [incident] = _open_incidents(api, case["id"])
    assert (incident["kind"], incident["element_id"], incident["status"]) == (
        "error", "divide", "open")
    assert "ZeroDivisionError" in incident["message"]
    assert "division by zero" in incident["message"]
    assert incident["task_id"]
    [event] = [e for e in _history(api, case["id"]) if e["type"] == "incident"]
    assert event["element_id"] == "divide"
    assert "division by zero" in event["data"]["message"]
    listed = api.get("/api/process-instances", params={"status": "error"}).json()
    assert [c["id"] for c in listed] == [case["id"]]


def test_a_case_in_error_keeps_the_data_completed_before_the_failure(api: Api) -> None:
    api.deploy(RUNTIME / "script_error.bpmn")
    case = api.start("script_error", {"origin": "test"})
    [task] = case["ready_tasks"]

    api.complete(task["id"], {"divisor": 0})

    data = api.get(f"/api/process-instances/{case['id']}").json()["data"]
    assert data["origin"] == "test"  # start data
    assert data["prepared"] == 42  # set by the script before the user task
    assert data["divisor"] == 0  # submitted with the user task
    assert "ratio" not in data


def test_a_failing_gateway_condition_stops_the_case_with_an_incident_naming_the_gateway(
        api: Api) -> None:
    api.deploy(RUNTIME / "gateway_error.bpmn")

    case = api.start("gateway_error", {"amount": 5})

    assert case["status"] == "error"
    [incident] = _open_incidents(api, case["id"])
    assert (incident["kind"], incident["element_id"]) == ("error", "route")
    assert "NameError" in incident["message"]
    assert "undefined_amount" in incident["message"]
    assert [e["element_id"] for e in _history(api, case["id"]) if e["type"] == "incident"] == [
        "route"]


def test_retrying_a_failed_service_task_resumes_the_case_to_completed(
        api: Api, db: Database, flaky: Callable[[int], list[str]]) -> None:
    calls = flaky(1)
    api.deploy(RUNTIME / "flaky_service.bpmn")
    case = api.start("flaky_service", {"applicant": "Aino"})
    assert _run_worker(db) == 1

    assert _status(api, case["id"]) == "error"
    [incident] = _open_incidents(api, case["id"])
    assert (incident["element_id"], incident["status"]) == ("call_flaky", "open")
    assert "register service down" in incident["message"]

    resolved = api.post(f"/api/incidents/{incident['id']}/retry").json()
    assert _run_worker(db) == 1

    assert (resolved["id"], resolved["status"], resolved["resolved_by"]) == (
        incident["id"], "resolved", "admin")
    assert resolved["resolved_at"] is not None
    after = api.get(f"/api/process-instances/{case['id']}").json()
    assert after["status"] == "completed"
    assert after["data"]["flaky_result"] == {"ok": "Aino"}
    assert after["data"]["applicant"] == "Aino"
    assert calls == ["Aino", "Aino"]
    assert _open_incidents(api, case["id"]) == []
    listed = api.get("/api/incidents", params={"status": "resolved",
                                               "instance_id": case["id"]}).json()
    assert [i["id"] for i in listed] == [incident["id"]]
    types = [e["type"] for e in _history(api, case["id"])]
    assert types.index("incident") < types.index("incident_resolved") \
        < types.index("case_completed")


def test_a_retry_that_fails_again_leaves_the_case_in_error_with_one_open_incident(
        api: Api, db: Database, flaky: Callable[[int], list[str]]) -> None:
    calls = flaky(2)
    api.deploy(RUNTIME / "flaky_service.bpmn")
    case = api.start("flaky_service", {"applicant": "Aino"})
    _run_worker(db)
    [first] = _open_incidents(api, case["id"])

    api.post(f"/api/incidents/{first['id']}/retry")
    _run_worker(db)

    assert _status(api, case["id"]) == "error"
    [still_open] = _open_incidents(api, case["id"])
    assert still_open["id"] != first["id"]
    assert still_open["element_id"] == "call_flaky"
    assert len(calls) == 2

    api.post(f"/api/incidents/{still_open['id']}/retry")
    _run_worker(db)

    assert _status(api, case["id"]) == "completed"
    assert _open_incidents(api, case["id"]) == []
    assert len(calls) == 3


def test_retrying_a_script_error_that_still_fails_opens_a_new_incident(api: Api) -> None:
    api.deploy(RUNTIME / "script_error.bpmn")
    case = api.start("script_error")
    api.complete(case["ready_tasks"][0]["id"], {"divisor": 0})
    [first] = _open_incidents(api, case["id"])

    resolved = api.post(f"/api/incidents/{first['id']}/retry").json()

    assert resolved["status"] == "resolved"
    assert _status(api, case["id"]) == "error"
    [again] = _open_incidents(api, case["id"])
    assert (again["element_id"], again["id"] != first["id"]) == ("divide", True)
    assert "division by zero" in again["message"]
    assert api.get(f"/api/process-instances/{case['id']}").json()["data"]["prepared"] == 42


def test_retrying_a_resolved_incident_gets_409(
        api: Api, db: Database, flaky: Callable[[int], list[str]]) -> None:
    flaky(1)
    api.deploy(RUNTIME / "flaky_service.bpmn")
    case = api.start("flaky_service", {"applicant": "Aino"})
    _run_worker(db)
    [incident] = _open_incidents(api, case["id"])
    api.post(f"/api/incidents/{incident['id']}/retry")

    again = api.post(f"/api/incidents/{incident['id']}/retry", 409).json()

    assert "resolved" in again["detail"]


def test_retrying_an_unknown_incident_gets_404(api: Api) -> None:
    api.post("/api/incidents/999999/retry", 404)


def test_an_auditor_may_list_incidents_but_not_retry_them(api: Api) -> None:
    api.deploy(RUNTIME / "gateway_error.bpmn")
    case = api.start("gateway_error")
    auditor = api.user("aila", ["auditor"], [])

    [incident] = auditor.get("/api/incidents", params={"instance_id": case["id"]}).json()
    auditor.post(f"/api/incidents/{incident['id']}/retry", 403)

    assert [i["status"] for i in _open_incidents(api, case["id"])] == ["open"]
