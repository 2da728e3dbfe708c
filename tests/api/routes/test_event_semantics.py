"""BPMN event semantics beyond SpiffWorkflow's own (engine.bpmn_semantics), through the API:
an event-based gateway's message arm is correlated like an intermediate catch event, each of
its timer arms has its own due time, and a non-interrupting message or signal boundary event
fires each time its event occurs while its host is active."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import DATA, Api, Drain

EVENTS = DATA / "events"


def _case(api: Api, case_id: int) -> dict[str, Any]:
    return api.get(f"/api/process-instances/{case_id}").json()


def _steps(api: Api, case_id: int) -> list[str]:
    events = api.get(f"/api/process-instances/{case_id}/history").json()["events"]
    return [e["element_id"] for e in events if e["type"] in ("step_completed", "timer_fired",
                                                              "message_received")]


def _send(api: Api, name: str, **body: Any) -> list[int]:
    answer = api.post("/api/messages", 202, json={"name": name, **body}).json()
    return answer["delivered_to"]


def _ready(api: Api, case_id: int, element_id: str) -> list[dict[str, Any]]:
    return [t for t in api.tasks(case_id) if t["element_id"] == element_id]


# ---------------------------------------------------------------- 1. correlated gateway arms


def test_a_message_arm_of_an_event_based_gateway_matches_only_its_own_case(api: Api) -> None:
    api.deploy(EVENTS / "ebg_correlated.bpmn")
    first = api.start("ebg_correlated", {"changeCaseId": "MT-1", "personalId": "010180-123A"})
    second = api.start("ebg_correlated", {"changeCaseId": "MT-1", "personalId": "020280-456B"})
    assert (first["status"], second["status"]) == ("waiting", "waiting")

    # A registration of the second worker reaches the second case only
    delivered = _send(api, "WorkerRegistered",
                      correlation={"changeCaseId": "MT-1", "personalId": "020280-456B"},
                      payload={"customerId": "C-2"})

    assert delivered == [second["id"]]
    moved = _case(api, second["id"])
    assert [t["element_id"] for t in moved["ready_tasks"]] == ["welcome"]
    assert moved["data"]["registration"]["customerId"] == "C-2"
    assert _case(api, first["id"])["status"] == "waiting"
    assert "registered" not in _steps(api, first["id"])

    # A registration for another change case reaches neither, and is kept
    assert _send(api, "WorkerRegistered",
                 correlation={"changeCaseId": "MT-2", "personalId": "010180-123A"}) == []
    assert _case(api, first["id"])["status"] == "waiting"

    # The first worker's own registration reaches the first case
    assert _send(api, "WorkerRegistered",
                 correlation={"changeCaseId": "MT-1", "personalId": "010180-123A"}) \
        == [first["id"]]
    assert [t["element_id"] for t in _case(api, first["id"])["ready_tasks"]] == ["welcome"]


# ---------------------------------------------------------------- 2. one due time per timer arm


def test_the_earlier_of_two_gateway_timers_wins_and_the_later_is_withdrawn(
        api: Api, drain: Drain, test_clock: Any) -> None:
    api.deploy(EVENTS / "ebg_two_timers.bpmn")
    case = api.start("ebg_two_timers")
    assert case["status"] == "waiting"

    # Not yet at 59 minutes
    test_clock.advance(timedelta(minutes=59))
    assert drain() == 0
    assert _case(api, case["id"])["status"] == "waiting"

    # The one-hour arm fires after an hour, though the two-hour arm comes first in the model
    test_clock.advance(timedelta(minutes=2))
    assert drain() == 1
    assert _case(api, case["id"])["status"] == "completed"
    steps = _steps(api, case["id"])
    assert "after_one_hour" in steps and "end_soon" in steps
    assert "after_two_hours" not in steps and "end_late" not in steps

    # The two-hour arm was withdrawn with the gateway: nothing fires later, no message is taken
    test_clock.advance(timedelta(hours=3))
    assert drain() == 0
    assert _send(api, "Answer", instance_id=case["id"]) == []
    assert "after_two_hours" not in _steps(api, case["id"])


def test_a_message_before_both_gateway_timers_withdraws_them(
        api: Api, drain: Drain, test_clock: Any) -> None:
    api.deploy(EVENTS / "ebg_two_timers.bpmn")
    case = api.start("ebg_two_timers")
    test_clock.advance(timedelta(minutes=30))
    assert _send(api, "Answer", instance_id=case["id"]) == [case["id"]]
    assert _case(api, case["id"])["status"] == "completed"
    test_clock.advance(timedelta(hours=3))
    assert drain() == 0
    steps = _steps(api, case["id"])
    assert "answer" in steps and "end_answer" in steps
    assert not {"after_one_hour", "after_two_hours", "end_soon", "end_late"} & set(steps)


def test_the_later_gateway_timer_fires_at_its_own_time_when_it_is_alone(
        api: Api, drain: Drain, test_clock: Any) -> None:
    # Two cases side by side: each arm's due time is the case's own, counted from its start
    api.deploy(EVENTS / "ebg_two_timers.bpmn")
    early = api.start("ebg_two_timers")
    test_clock.advance(timedelta(minutes=90))
    late = api.start("ebg_two_timers")
    assert drain() == 1  # the first case's one-hour arm
    assert _case(api, early["id"])["status"] == "completed"
    assert _case(api, late["id"])["status"] == "waiting"
    test_clock.advance(timedelta(minutes=61))
    assert drain() == 1
    assert "after_one_hour" in _steps(api, late["id"])
    assert "after_two_hours" not in _steps(api, late["id"])


# ---------------------------------------------------------------- 3. non-interrupting boundaries


def test_a_non_interrupting_message_boundary_event_fires_for_every_message(api: Api) -> None:
    api.deploy(EVENTS / "noninterrupting_message.bpmn")
    case = api.start("ni_message", {"vacancy_id": "V-1"})
    other = api.start("ni_message", {"vacancy_id": "V-2"})

    # Three changes while the vacancy is open: three reviews
    for salary in ("2 600", "2 700", "2 800"):
        assert _send(api, "Changed", correlation={"vacancy_id": "V-1"},
                     payload={"salary": salary}) == [case["id"]]
    reviews = _ready(api, case["id"], "review_change")
    assert len(reviews) == 3
    assert [t["element_id"] for t in _ready(api, case["id"], "vacancy_open")] == ["vacancy_open"]
    assert _ready(api, other["id"], "review_change") == []
    assert _steps(api, case["id"]).count("changed") == 3
    assert _case(api, case["id"])["data"]["change"]["salary"] in {"2 600", "2 700", "2 800"}

    # Closing the vacancy disarms the boundary event: a later change reaches nobody
    [host] = _ready(api, case["id"], "vacancy_open")
    api.complete(host["id"], {})
    assert _send(api, "Changed", correlation={"vacancy_id": "V-1"},
                 payload={"salary": "3 000"}) == []
    assert len(_ready(api, case["id"], "review_change")) == 3

    # The reviews still end the case
    for review in reviews:
        api.complete(review["id"], {})
    assert _case(api, case["id"])["status"] == "completed"
    assert _send(api, "Changed", correlation={"vacancy_id": "V-2"}) == [other["id"]]


def test_a_non_interrupting_signal_boundary_event_fires_for_every_signal(api: Api) -> None:
    api.deploy(EVENTS / "noninterrupting_signal.bpmn")
    case = api.start("ni_signal")
    for again in (True, True, False):
        [poke] = _ready(api, case["id"], "poke")
        api.complete(poke["id"], {"again": again})
    assert len(_ready(api, case["id"], "answer_poke")) == 3

    [host] = _ready(api, case["id"], "host")
    api.complete(host["id"], {})
    answers = _ready(api, case["id"], "answer_poke")
    assert len(answers) == 3
    for answer in answers:
        api.complete(answer["id"], {})
    assert _case(api, case["id"])["status"] == "completed"
