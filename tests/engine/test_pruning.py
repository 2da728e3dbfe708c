"""Pruning the task tree (`engine.state.prune`) never changes which data a task goes on with.

SpiffWorkflow re-merges a task's parent data into it whenever the task is updated (a timer or
message wait each time it is refreshed and when it fires, any predicted task when it becomes
ready). Pruning once cut finished tasks out from above such a task and re-hung it on an older
ancestor, so a wait reached again in a loop fired with an earlier round's data. Each model here
loops through a wait; after round N the case must carry round N's data, exactly as in the same
run with pruning switched off.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from SpiffWorkflow.util.task import TaskState

from engine import runner, state
from tests.conftest import DATA, Api, Drain

MODELS = DATA / "pruning"
ROUNDS = 5
_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED


def _hour(api: Api, drain: Drain, clock: Any, case_id: int, round_no: int) -> None:
    clock.advance(timedelta(minutes=61))
    drain()


def _message(name: str) -> Callable[[Api, Drain, Any, int, int], None]:
    def send(api: Api, drain: Drain, clock: Any, case_id: int, round_no: int) -> None:
        answer = api.post("/api/messages", 202, json={
            "name": name, "instance_id": case_id, "payload": {"text": f"reply {round_no}"}})
        assert answer.json()["delivered_to"] == [case_id]
    return send


def _either(name: str) -> Callable[[Api, Drain, Any, int, int], None]:
    """Odd rounds end the event-based gateway with the message, even ones with the timer."""
    def wake(api: Api, drain: Drain, clock: Any, case_id: int, round_no: int) -> None:
        if round_no % 2:
            _message(name)(api, drain, clock, case_id, round_no)
        else:
            _hour(api, drain, clock, case_id, round_no)
    return wake


# process id -> (how a round's wait ends, the task the case goes on with after the wait)
CASES: dict[str, tuple[Callable[[Api, Drain, Any, int, int], None], str]] = {
    "timer_loop": (_hour, "talk"),
    "message_loop": (_message("LoopReply"), "talk"),
    "event_gateway_loop": (_either("GatewayReply"), "talk"),
    "join_then_wait_loop": (_either("JoinReply"), "talk"),
    "subprocess_wait_loop": (_hour, "talk"),
    "loop_in_subprocess": (_hour, "plan"),
}


def _due(round_no: int) -> str:
    return f"2027-{round_no:02d}-15"


def _ready(api: Api, case_id: int) -> dict[str, str]:
    return {t["element_id"]: t["id"] for t in api.tasks(case_id)}


def _run(api: Api, drain: Drain, clock: Any, process_id: str) -> list[dict[str, Any]]:
    """Run ROUNDS rounds; return the case's data after each round's wait, then at the end."""
    wake, after = CASES[process_id]
    # The values a round sets exist from the start, as when a start form sets a first date:
    # a task re-hung on an older ancestor then visibly inherits that ancestor's values.
    case_id = api.start(process_id, {"target": ROUNDS, "round": 0, "due": ""})["id"]
    seen = []
    for round_no in range(1, ROUNDS + 1):
        ready = _ready(api, case_id)
        assert set(ready) == {"plan"}, (round_no, ready)
        api.complete(ready["plan"], {"round": round_no, "due": _due(round_no)})
        wake(api, drain, clock, case_id, round_no)
        case = api.get(f"/api/process-instances/{case_id}").json()
        seen.append(case["data"])
        assert (case["data"]["round"], case["data"]["due"]) == (round_no, _due(round_no))
        ready = _ready(api, case_id)
        if after == "talk":
            assert set(ready) == {"talk"}, (round_no, ready)
            api.complete(ready["talk"], {})
    if after == "plan":  # the loop ran in sub-processes; the task after them reads its end
        ready = _ready(api, case_id)
        assert set(ready) == {"summary"}, ready
        api.complete(ready["summary"], {})
    case = api.get(f"/api/process-instances/{case_id}").json()
    assert case["status"] == "completed"
    seen.append(case["data"])
    return seen


@pytest.fixture
def checked_prune(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrap the engine's prune with a check that no unfinished task gets another parent."""
    def prune(wf: Any) -> int:
        workflows = [wf, *wf.subprocesses.values()]
        before = {t.id: t._parent for w in workflows for t in w.tasks.values()
                  if not t.has_state(_FINISHED)}
        dropped = state.prune(wf)
        after = {t.id: t._parent for w in [wf, *wf.subprocesses.values()]
                 for t in w.tasks.values() if t.id in before}
        assert after == before, "prune moved or dropped an unfinished task"
        return dropped
    monkeypatch.setattr(runner, "prune", prune)


@pytest.mark.parametrize("process_id", list(CASES))
def test_after_round_n_the_case_goes_on_with_round_n_data(
        api: Api, drain: Drain, test_clock: Any, monkeypatch: pytest.MonkeyPatch,
        process_id: str) -> None:
    api.deploy(MODELS / f"{process_id}.bpmn")
    pruned = _run(api, drain, test_clock, process_id)
    if process_id == "subprocess_wait_loop":
        assert [d["noted"] for d in pruned[:ROUNDS]] == list(range(1, ROUNDS + 1))
    if process_id in ("message_loop", "event_gateway_loop", "join_then_wait_loop"):
        assert pruned[0]["answer"] == {"text": "reply 1"}
    final = pruned[-1]
    assert (final["round"], final["due"]) == (ROUNDS, _due(ROUNDS))

    monkeypatch.setattr(runner, "prune", lambda wf: 0)
    unpruned = _run(api, drain, test_clock, process_id)
    assert pruned == unpruned


@pytest.mark.parametrize("process_id", list(CASES))
def test_prune_never_gives_an_unfinished_task_another_parent(
        api: Api, drain: Drain, test_clock: Any, checked_prune: None, process_id: str) -> None:
    api.deploy(MODELS / f"{process_id}.bpmn")
    _run(api, drain, test_clock, process_id)


def test_pruning_keeps_a_waiting_loop_small(api: Api, drain: Drain, test_clock: Any) -> None:
    """Keeping a finished task above each waiting one still leaves a flat tree."""
    from engine.models import ProcessInstance

    api.deploy(MODELS / "event_gateway_loop.bpmn")
    case_id = api.start("event_gateway_loop", {"target": 60})["id"]
    db = api.client.app.state.db  # type: ignore[attr-defined]
    sizes = {}
    for round_no in range(1, 61):
        api.complete(_ready(api, case_id)["plan"], {"round": round_no, "due": _due(1)})
        _either("GatewayReply")(api, drain, test_clock, case_id, round_no)
        api.complete(_ready(api, case_id)["talk"], {})
        if round_no in (10, 59):
            with db.reading() as s:
                row = s.get(ProcessInstance, case_id)
                sizes[round_no] = len(row.state)
    assert sizes[59] <= sizes[10] * 1.05
