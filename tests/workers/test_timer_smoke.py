"""Timers through the scheduler's round and the workers' handlers, with the platform clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import DATA, Api, Drain


def test_an_interrupting_boundary_timer_escalates_once_the_clock_passes_it(
        api: Api, drain: Drain, test_clock: Any) -> None:
    api.deploy(DATA / "timers" / "escalation.bpmn")
    case = api.start("escalation", {"limit": "PT1H", "start_date": "2026-04-02"})
    [handle] = case["ready_tasks"]
    assert drain() == 0  # nothing is due yet
    test_clock.advance(timedelta(minutes=61))
    assert drain() >= 1
    [escalate] = api.tasks(case["id"])
    assert escalate["element_id"] == "escalate"
    assert api.get(f"/api/tasks/{handle['id']}").json()["status"] == "cancelled"
    types = [e["type"] for e in
             api.get(f"/api/process-instances/{case['id']}/history").json()["events"]]
    assert types.count("timer_fired") == 1
    assert drain() == 0  # fired once
