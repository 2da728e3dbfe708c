"""Event-based gateways wait for a message and a timer at once; a process with a plain and a
message start event starts through exactly one of them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import DATA, Api, Drain

RUNTIME = DATA / "runtime"


def _steps(api: Api, case_id: int) -> list[str]:
    events = api.get(f"/api/process-instances/{case_id}/history").json()["events"]
    return [e["element_id"] for e in events if e["type"] in ("step_completed", "timer_fired",
                                                              "message_received")]


def test_the_message_wins_an_event_based_gateway(api: Api, drain: Drain) -> None:
    api.deploy(RUNTIME / "event_gateway.bpmn")
    case = api.start("ebg")
    assert case["status"] == "waiting"
    answer = api.post("/api/messages", 202, json={"name": "Answer", "instance_id": case["id"]})
    assert answer.json()["delivered_to"] == [case["id"]]
    done = api.get(f"/api/process-instances/{case['id']}").json()
    assert done["status"] == "completed"
    assert "e1" in _steps(api, case["id"]) and "e2" not in _steps(api, case["id"])
    assert drain() == 0  # the timer branch was withdrawn


def test_the_timer_wins_an_event_based_gateway(api: Api, drain: Drain, test_clock: Any) -> None:
    api.deploy(RUNTIME / "event_gateway.bpmn")
    case = api.start("ebg")
    test_clock.advance(timedelta(minutes=61))
    drain()
    assert api.get(f"/api/process-instances/{case['id']}").json()["status"] == "completed"
    assert "e2" in _steps(api, case["id"]) and "e1" not in _steps(api, case["id"])
    late = api.post("/api/messages", 202, json={"name": "Answer", "instance_id": case["id"]})
    assert late.json()["delivered_to"] == []


def test_a_manual_start_does_not_wait_for_the_start_message(api: Api) -> None:
    api.deploy(RUNTIME / "dual_start.bpmn")
    case = api.start("dual_start")
    [task] = case["ready_tasks"]
    done = api.complete(task["id"], {}).json()
    assert done["status"] == "completed"


def test_a_start_message_starts_one_case_through_its_own_start_event(api: Api) -> None:
    api.deploy(RUNTIME / "dual_start.bpmn")
    answer = api.post("/api/messages", 202, json={"name": "Referral", "payload": {"x": 1}})
    [case_id] = answer.json()["delivered_to"]
    case = api.get(f"/api/process-instances/{case_id}").json()
    assert len(case["ready_tasks"]) == 1 and case["data"]["x"] == 1
    steps = _steps(api, case_id)
    assert "start_msg" in steps and "start_manual" not in steps
    assert len(api.get("/api/process-instances").json()) == 1
