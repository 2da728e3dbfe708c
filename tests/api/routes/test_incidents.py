"""Incidents: a failing script, gateway or service task stops the case in `error` with an open
incident naming the element; retrying runs the step again and the case carries on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import engine.scripting
from tests.conftest import DATA, Api

RUNTIME = DATA / "runtime"


def _history(api: Api, case_id: int) -> list[dict[str, Any]]:
    return api.get(f"/api/process-instances/{case_id}/history").json()["events"]


def _open_incidents(api: Api, case_id: int) -> list[dict[str, Any]]:
    return api.get("/api/incidents", params={"instance_id": case_id}).json()


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[str]]:
    """Register service operation "flaky" that fails its first `failures` calls.

    monkeypatch removes the registration again after the test.
    """
    def register(failures: int) -> list[str]:
        calls: list[str] = []

        def operation(applicant: str) -> dict[str, str]:
            calls.append(applicant)
            if len(calls) <= failures:
                raise RuntimeError("register service down")
            return {"ok": applicant}

        monkeypatch.setitem(engine.scripting._service_operations, "flaky", operation)
        return calls

    return register


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
        api: Api, flaky: Callable[[int], list[str]]) -> None:
    calls = flaky(1)
    api.deploy(RUNTIME / "flaky_service.bpmn")

    case = api.start("flaky_service", {"applicant": "Aino"})

    assert case["status"] == "error"
    [incident] = _open_incidents(api, case["id"])
    assert incident["element_id"] == "call_flaky"
    assert "register service down" in incident["message"]

    resolved = api.post(f"/api/incidents/{incident['id']}/retry").json()

    assert (resolved["id"], resolved["status"], resolved["resolved_by"]) == (
        incident["id"], "resolved", "admin")
    assert resolved["resolved_at"] is not None
    after = api.get(f"/api/process-instances/{case['id']}").json()
    assert after["status"] == "completed"
    assert after["data"]["flaky_result"] == {"ok": "Aino"}
    assert calls == ["Aino", "Aino"]
    assert _open_incidents(api, case["id"]) == []
    listed = api.get("/api/incidents", params={"status": "resolved",
                                               "instance_id": case["id"]}).json()
    assert [i["id"] for i in listed] == [incident["id"]]
    types = [e["type"] for e in _history(api, case["id"])]
    assert types.index("incident") < types.index("incident_resolved") \
        < types.index("case_completed")


def test_a_retry_that_fails_again_leaves_the_case_in_error_with_one_open_incident(
        api: Api, flaky: Callable[[int], list[str]]) -> None:
    calls = flaky(2)
    api.deploy(RUNTIME / "flaky_service.bpmn")
    case = api.start("flaky_service", {"applicant": "Aino"})
    [first] = _open_incidents(api, case["id"])

    api.post(f"/api/incidents/{first['id']}/retry")

    assert api.get(f"/api/process-instances/{case['id']}").json()["status"] == "error"
    [still_open] = _open_incidents(api, case["id"])
    assert still_open["element_id"] == "call_flaky"
    assert len(calls) == 2

    api.post(f"/api/incidents/{still_open['id']}/retry")

    assert api.get(f"/api/process-instances/{case['id']}").json()["status"] == "completed"
    assert _open_incidents(api, case["id"]) == []


def test_retrying_a_resolved_incident_gets_409(
        api: Api, flaky: Callable[[int], list[str]]) -> None:
    flaky(1)
    api.deploy(RUNTIME / "flaky_service.bpmn")
    case = api.start("flaky_service", {"applicant": "Aino"})
    [incident] = _open_incidents(api, case["id"])
    api.post(f"/api/incidents/{incident['id']}/retry")

    again = api.post(f"/api/incidents/{incident['id']}/retry", 409).json()

    assert "resolved" in again["detail"]


def test_retrying_an_unknown_incident_gets_404(api: Api) -> None:
    api.post("/api/incidents/999999/retry", 404)


def test_an_auditor_may_list_incidents_but_not_retry_them(
        api: Api, flaky: Callable[[int], list[str]]) -> None:
    flaky(1)
    api.deploy(RUNTIME / "flaky_service.bpmn")
    case = api.start("flaky_service", {"applicant": "Aino"})
    auditor = api.user("aila", ["auditor"], [])

    [incident] = auditor.get("/api/incidents", params={"instance_id": case["id"]}).json()
    auditor.post(f"/api/incidents/{incident['id']}/retry", 403)

    assert [i["status"] for i in _open_incidents(api, case["id"])] == ["open"]
