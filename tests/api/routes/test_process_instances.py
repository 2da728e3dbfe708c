"""Cases: start, list with filters, status `waiting`, cancel."""

from __future__ import annotations

from typing import Any

from tests.conftest import DATA, Api

RUNTIME = DATA / "runtime"


def _case(api: Api, case_id: int) -> dict[str, Any]:
    return api.get(f"/api/process-instances/{case_id}").json()


def _history(api: Api, case_id: int) -> list[dict[str, Any]]:
    return api.get(f"/api/process-instances/{case_id}/history").json()["events"]


def _ids(api: Api, **params: Any) -> list[int]:
    return [c["id"] for c in api.get("/api/process-instances", params=params).json()]


def test_cancelling_a_case_cancels_its_tasks_and_records_it(api: Api) -> None:
    api.deploy(RUNTIME / "script_error.bpmn")
    case = api.start("script_error")
    [task] = case["ready_tasks"]

    cancelled = api.post(f"/api/process-instances/{case['id']}/cancel").json()

    assert cancelled["status"] == "cancelled"
    assert cancelled["ended_at"] is not None
    assert cancelled["ready_tasks"] == []
    assert _case(api, case["id"])["status"] == "cancelled"
    assert api.tasks(case["id"]) == []
    assert task["id"] not in [t["id"] for t in api.get("/api/tasks").json()]
    [event] = [e for e in _history(api, case["id"]) if e["type"] == "case_cancelled"]
    assert event["actor"] == "admin"
    assert _history(api, case["id"])[-1]["type"] == "case_cancelled"
    api.complete(task["id"], {"divisor": 2}, expect=409)
    assert _case(api, case["id"])["status"] == "cancelled"


def test_cancelling_a_cancelled_or_completed_case_gets_409(api: Api) -> None:
    api.deploy(RUNTIME / "script_error.bpmn")
    cancelled = api.start("script_error")
    api.post(f"/api/process-instances/{cancelled['id']}/cancel")
    done = api.start("script_error")
    api.complete(done["ready_tasks"][0]["id"], {"divisor": 2})
    before = len(_history(api, done["id"]))

    api.post(f"/api/process-instances/{cancelled['id']}/cancel", 409)
    api.post(f"/api/process-instances/{done['id']}/cancel", 409)

    assert _case(api, done["id"])["status"] == "completed"
    assert len(_history(api, done["id"])) == before
    assert [e["type"] for e in _history(api, cancelled["id"])].count("case_cancelled") == 1


def test_cancelling_an_unknown_case_gets_404(api: Api) -> None:
    api.post("/api/process-instances/999999/cancel", 404)
    api.get("/api/process-instances/999999", 404)
    api.get("/api/process-instances/999999/history", 404)


def test_a_cancelled_case_no_longer_takes_messages(api: Api) -> None:
    api.deploy(RUNTIME / "vacancy_wait.bpmn")
    case = api.start("vacancy_case", {"vacancy_id": "V-77"})

    api.post(f"/api/process-instances/{case['id']}/cancel")
    answer = api.post("/api/messages", 202, json={
        "name": "vacancy_filled", "correlation": {"vacancy_id": "V-77"}}).json()

    assert answer == {"delivered_to": []}
    assert _case(api, case["id"])["status"] == "cancelled"


def test_an_auditor_may_not_cancel_a_case(api: Api) -> None:
    api.deploy(RUNTIME / "script_error.bpmn")
    case = api.start("script_error")
    auditor = api.user("aila", ["auditor"], [])

    auditor.post(f"/api/process-instances/{case['id']}/cancel", 403)

    assert _case(api, case["id"])["status"] == "running"


def test_a_case_that_only_a_message_can_move_is_waiting(api: Api) -> None:
    api.deploy(RUNTIME / "vacancy_wait.bpmn")

    case = api.start("vacancy_case", {"vacancy_id": "V-77"})

    assert case["status"] == "waiting"
    assert case["ready_tasks"] == []
    assert _case(api, case["id"])["status"] == "waiting"
    assert _ids(api, status="waiting") == [case["id"]]


def test_the_case_list_filters_by_process_and_status(api: Api) -> None:
    api.deploy(RUNTIME / "script_error.bpmn")
    api.deploy(RUNTIME / "vacancy_wait.bpmn")
    running = api.start("script_error")
    failed = api.start("script_error")
    api.complete(failed["ready_tasks"][0]["id"], {"divisor": 0})
    done = api.start("script_error")
    api.complete(done["ready_tasks"][0]["id"], {"divisor": 4})
    waiting = api.start("vacancy_case", {"vacancy_id": "V-1"})

    assert sorted(_ids(api, process_id="script_error")) == sorted(
        [running["id"], failed["id"], done["id"]])
    assert _ids(api, process_id="vacancy_case") == [waiting["id"]]
    assert _ids(api, status="error") == [failed["id"]]
    assert _ids(api, status="completed") == [done["id"]]
    assert _ids(api, process_id="script_error", status="running") == [running["id"]]
    assert _ids(api, process_id="vacancy_case", status="running") == []
    assert _ids(api, process_id="no_such_process") == []
    assert sorted(_ids(api)) == sorted([running["id"], failed["id"], done["id"], waiting["id"]])
    newest_first = _ids(api)
    assert newest_first == sorted(newest_first, reverse=True)


def test_a_started_case_answers_its_id_version_status_and_data(api: Api) -> None:
    api.deploy(RUNTIME / "script_error.bpmn")

    case = api.start("script_error", {"origin": "api", "nested": {"a": [1, 2]}})

    assert (case["process_id"], case["version"], case["status"]) == ("script_error", 1, "running")
    assert case["data"] == {"origin": "api", "nested": {"a": [1, 2]}, "prepared": 42}
    assert _case(api, case["id"])["data"] == case["data"]


def test_starting_an_unknown_process_gets_404(api: Api) -> None:
    api.post("/api/process-instances", 404, json={"process_id": "no_such_process"})
    api.deploy(RUNTIME / "script_error.bpmn")
    api.post("/api/process-instances", 404, json={"process_id": "script_error", "version": 9})
    assert _ids(api) == []


def test_start_data_that_is_not_an_object_gets_422(api: Api) -> None:
    api.deploy(RUNTIME / "script_error.bpmn")

    for data in ([1, 2], "text", 5, True):
        answer = api.post("/api/process-instances", 422,
                          json={"process_id": "script_error", "data": data}).json()
        assert [d["field"] for d in answer["detail"]] == ["data"]

    assert _ids(api) == []
