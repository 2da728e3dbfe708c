"""Messages: POST /api/messages reaches the waiting case whose correlation matches, starts
processes with a message start event, and is kept as an incident when nobody waits for it;
a message thrown by one case reaches another in the same request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import DATA, Api

RUNTIME = DATA / "runtime"


def _case(api: Api, case_id: int) -> dict[str, Any]:
    return api.get(f"/api/process-instances/{case_id}").json()


def _history(api: Api, case_id: int) -> list[dict[str, Any]]:
    return api.get(f"/api/process-instances/{case_id}/history").json()["events"]


def _send(api: Api, name: str, expect: int = 202, **body: Any) -> dict[str, Any]:
    return api.post("/api/messages", expect, json={"name": name, **body}).json()


def _unmatched(api: Api) -> list[dict[str, Any]]:
    return [i for i in api.get("/api/incidents").json() if i["kind"] == "unmatched_message"]


@pytest.fixture
def vacancy(api: Api) -> Api:
    api.deploy(RUNTIME / "vacancy_wait.bpmn")
    return api


def test_a_message_reaches_only_the_waiting_case_whose_correlation_matches(vacancy: Api) -> None:
    api = vacancy
    v77 = api.start("vacancy_case", {"vacancy_id": "V-77"})
    v78 = api.start("vacancy_case", {"vacancy_id": "V-78"})
    assert (v77["status"], v78["status"]) == ("waiting", "waiting")

    # The payload need not repeat the correlation values
    answer = _send(api, "vacancy_filled", correlation={"vacancy_id": "V-77"},
                   payload={"hired": "Aino Virtanen", "start_date": "2026-01-12"})

    assert answer == {"delivered_to": [v77["id"]]}
    moved = _case(api, v77["id"])
    assert moved["status"] == "running"
    assert [t["element_id"] for t in moved["ready_tasks"]] == ["review"]
    assert moved["data"]["filled"]["hired"] == "Aino Virtanen"
    assert moved["data"]["filled"]["start_date"] == "2026-01-12"
    assert moved["data"]["vacancy_id"] == "V-77"
    received = [e for e in _history(api, v77["id"]) if e["type"] == "message_received"]
    assert received and {e["element_id"] for e in received} == {"wait_filled"}
    assert any((e["data"] or {}).get("correlation") == {"vacancy_id": "V-77"} for e in received)
    untouched = _case(api, v78["id"])
    assert untouched["status"] == "waiting"
    assert "filled" not in untouched["data"]
    assert not [e for e in _history(api, v78["id"]) if e["type"] == "message_received"]
    assert _unmatched(api) == []


def test_a_message_with_a_payload_that_repeats_the_correlation_is_delivered_too(
        vacancy: Api) -> None:
    api = vacancy
    case = api.start("vacancy_case", {"vacancy_id": "V-77"})

    answer = _send(api, "vacancy_filled", correlation={"vacancy_id": "V-77"},
                   payload={"vacancy_id": "V-77", "hired": "Eino"})

    assert answer == {"delivered_to": [case["id"]]}
    assert _case(api, case["id"])["data"]["filled"] == {"vacancy_id": "V-77", "hired": "Eino"}


def test_a_message_is_caught_only_once(vacancy: Api) -> None:
    api = vacancy
    case = api.start("vacancy_case", {"vacancy_id": "V-77"})
    _send(api, "vacancy_filled", correlation={"vacancy_id": "V-77"}, payload={"hired": "A"})

    again = _send(api, "vacancy_filled", correlation={"vacancy_id": "V-77"},
                  payload={"hired": "B"})

    assert again == {"delivered_to": []}
    assert _case(api, case["id"])["data"]["filled"]["hired"] == "A"
    assert len(_unmatched(api)) == 1


def test_a_message_nobody_waits_for_is_kept_as_an_incident_and_delivered_on_retry(
        vacancy: Api) -> None:
    api = vacancy
    api.start("vacancy_case", {"vacancy_id": "V-78"})

    answer = _send(api, "vacancy_filled", correlation={"vacancy_id": "V-99"},
                   payload={"hired": "Liisa"})

    assert answer == {"delivered_to": []}
    [incident] = _unmatched(api)
    assert incident["status"] == "open"
    assert "vacancy_filled" in incident["message"]
    assert incident["details"]["correlation"] == {"vacancy_id": "V-99"}
    assert incident["details"]["payload"] == {"hired": "Liisa"}

    # While still nobody waits, a retry keeps the incident open and makes no second one
    kept = api.post(f"/api/incidents/{incident['id']}/retry").json()
    assert kept["status"] == "open"
    assert [i["id"] for i in _unmatched(api)] == [incident["id"]]

    # Once a matching case waits, the retry delivers the message and resolves the incident
    late = api.start("vacancy_case", {"vacancy_id": "V-99"})
    resolved = api.post(f"/api/incidents/{incident['id']}/retry").json()

    assert resolved["status"] == "resolved"
    assert resolved["resolved_by"] == "admin"
    moved = _case(api, late["id"])
    assert moved["status"] == "running"
    assert moved["data"]["filled"]["hired"] == "Liisa"
    assert _unmatched(api) == []
    api.post(f"/api/incidents/{incident['id']}/retry", 409)


def test_a_message_for_an_unknown_name_is_kept_as_an_incident(api: Api) -> None:
    answer = _send(api, "nobody_knows_this", correlation={"x": 1}, payload={"a": 1})

    assert answer == {"delivered_to": []}
    [incident] = _unmatched(api)
    assert incident["details"]["name"] == "nobody_knows_this"


def test_a_message_start_event_starts_a_new_case(api: Api) -> None:
    api.deploy(RUNTIME / "application_intake.bpmn")

    answer = _send(api, "application_received", payload={"applicant": "Aino", "hours": 30})

    [case_id] = answer["delivered_to"]
    case = _case(api, case_id)
    assert (case["process_id"], case["status"]) == ("application_intake", "running")
    assert case["data"]["application"] == {"applicant": "Aino", "hours": 30}
    assert [t["element_id"] for t in case["ready_tasks"]] == ["handle"]
    types = [(e["type"], e["element_id"]) for e in _history(api, case_id)]
    assert types[0] == ("case_started", "application_intake")
    assert ("message_received", "received") in types
    assert _unmatched(api) == []

    second = _send(api, "application_received", payload={"applicant": "Eino"})

    assert len(second["delivered_to"]) == 1 and second["delivered_to"] != [case_id]


def test_instance_id_restricts_delivery_to_that_case(vacancy: Api) -> None:
    api = vacancy
    first = api.start("vacancy_case", {"vacancy_id": "V-77"})
    second = api.start("vacancy_case", {"vacancy_id": "V-77"})

    answer = _send(api, "vacancy_filled", correlation={"vacancy_id": "V-77"},
                   instance_id=second["id"], payload={"hired": "Aino"})

    assert answer == {"delivered_to": [second["id"]]}
    assert _case(api, second["id"])["status"] == "running"
    assert _case(api, first["id"])["status"] == "waiting"


def test_without_instance_id_every_matching_waiting_case_gets_the_message(vacancy: Api) -> None:
    api = vacancy
    first = api.start("vacancy_case", {"vacancy_id": "V-77"})
    second = api.start("vacancy_case", {"vacancy_id": "V-77"})

    answer = _send(api, "vacancy_filled", correlation={"vacancy_id": "V-77"},
                   payload={"hired": "Aino"})

    assert sorted(answer["delivered_to"]) == sorted([first["id"], second["id"]])


def test_a_message_for_a_case_that_does_not_wait_for_it_is_kept_as_an_incident(
        vacancy: Api) -> None:
    api = vacancy
    waiting = api.start("vacancy_case", {"vacancy_id": "V-77"})
    other = api.start("vacancy_case", {"vacancy_id": "V-78"})

    answer = _send(api, "vacancy_filled", correlation={"vacancy_id": "V-77"},
                   instance_id=other["id"], payload={"hired": "Aino"})

    assert answer == {"delivered_to": []}
    assert _case(api, waiting["id"])["status"] == "waiting"
    [incident] = _unmatched(api)
    assert incident["details"]["instance_id"] == other["id"]


@pytest.mark.parametrize("thrower", ["vacancy_filler_intermediate", "vacancy_filler_end"])
def test_a_message_thrown_by_one_case_reaches_the_waiting_case_in_the_same_request(
        vacancy: Api, thrower: str) -> None:
    api = vacancy
    api.deploy(RUNTIME / f"{thrower}.bpmn")
    v55 = api.start("vacancy_case", {"vacancy_id": "V-55"})
    v56 = api.start("vacancy_case", {"vacancy_id": "V-56"})

    sender = api.start(thrower, {"vacancy_id": "V-55", "hired": "Liisa"})

    assert sender["status"] == "completed"
    moved = _case(api, v55["id"])
    assert moved["status"] == "running"
    assert moved["data"]["filled"] == {"vacancy_id": "V-55", "hired": "Liisa"}
    assert _case(api, v56["id"])["status"] == "waiting"
    assert any(e["type"] == "message_received" for e in _history(api, v55["id"]))
    sent = [e["element_id"] for e in _history(api, sender["id"]) if e["type"] == "message_sent"]
    assert sent == ["announce"]
    assert _unmatched(api) == []


def test_a_thrown_message_nobody_waits_for_is_kept_as_an_incident(vacancy: Api) -> None:
    api = vacancy
    api.deploy(RUNTIME / "vacancy_filler_intermediate.bpmn")

    sender = api.start("vacancy_filler_intermediate", {"vacancy_id": "V-1", "hired": "Liisa"})

    assert sender["status"] == "completed"
    [incident] = _unmatched(api)
    assert incident["details"]["correlation"] == {"vacancy_id": "V-1"}
    assert incident["details"]["payload"] == {"vacancy_id": "V-1", "hired": "Liisa"}


def test_a_message_without_a_name_gets_422(api: Api) -> None:
    answer = api.post("/api/messages", 422, json={"correlation": {"vacancy_id": "V-1"}}).json()
    assert [d["field"] for d in answer["detail"]] == ["name"]


def test_an_auditor_may_not_send_messages(vacancy: Api) -> None:
    api = vacancy
    case = api.start("vacancy_case", {"vacancy_id": "V-77"})
    auditor = api.user("aila", ["auditor"], [])

    auditor.post("/api/messages", 403, json={"name": "vacancy_filled",
                                             "correlation": {"vacancy_id": "V-77"}})

    assert _case(api, case["id"])["status"] == "waiting"
