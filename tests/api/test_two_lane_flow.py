"""A two-lane model with forms of both styles, a script task and a gateway, through the API."""

from __future__ import annotations

from tests.conftest import DATA, Api


def _deploy(api: Api) -> None:
    api.deploy(DATA / "two_lane.bpmn", DATA / "application.schema.json")


def test_a_two_lane_case_is_driven_to_completed_with_history_in_order(api: Api) -> None:
    # Given the model, a worker of each lane's team
    _deploy(api)
    worker = api.user("eija", ["staff"], ["employer_services"])
    lead = api.user("lasse", ["staff"], ["employer_services_lead"])

    # When the worker starts a case and completes the first task (JSON Schema form)
    case = worker.start("two_lane_application", {"origin": "test"})
    assert case["status"] == "running"
    [first] = case["ready_tasks"]
    assert (first["element_id"], first["lane"], first["team"]) == (
        "submit_application", "employer_services", "employer_services")
    after = worker.complete(first["id"], {"businessId": "7654321-2", "weekly_hours": 37,
                                          "children": [{"name": "Aino"}]}).json()

    # Then the script and the gateway ran, and the lead's task waits (the worker cannot see it)
    assert after["data"]["priority"] == "high"
    assert after["ready_tasks"] == []
    [second] = lead.tasks(case["id"])
    assert (second["element_id"], second["team"]) == ("approve", "employer_services_lead")
    detail = lead.get(f"/api/tasks/{second['id']}").json()
    assert detail["form"]["source"] == "camunda"
    assert detail["form"]["schema"]["required"] == ["approved"]

    # When the lead completes the Camunda-style form
    done = lead.complete(second["id"], {"approved": True, "comment": "ok"}).json()

    # Then the case is completed with all its data, and its history lists every step in order
    assert done["status"] == "completed"
    assert done["data"]["approved"] is True and done["data"]["origin"] == "test"
    events = api.get(f"/api/process-instances/{case['id']}/history").json()["events"]
    steps = [(e["type"], e["element_id"], e["actor"]) for e in events]
    assert steps == [
        ("case_started", "two_lane_application", "eija"),
        ("step_completed", "start", "eija"),
        ("task_ready", "submit_application", "eija"),
        ("task_completed", "submit_application", "eija"),
        ("step_completed", "compute_priority", "eija"),
        ("step_completed", "check_priority", "eija"),
        ("task_ready", "approve", "eija"),
        ("task_completed", "approve", "lasse"),
        ("step_completed", "end_approved", "lasse"),
        ("case_completed", None, "lasse"),
    ]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    completed = [e for e in events if e["type"] == "task_completed"]
    assert completed[0]["data"]["changed"]["weekly_hours"] == 37


def test_the_normal_branch_completes_without_a_second_task(api: Api) -> None:
    _deploy(api)
    case = api.start("two_lane_application")
    [task] = case["ready_tasks"]
    done = api.complete(task["id"], {"businessId": "2345678-0", "weekly_hours": 20}).json()
    assert done["status"] == "completed"
    assert done["data"]["priority"] == "normal" and done["data"]["approved"] is True


def test_wrong_form_data_gets_per_field_messages_and_changes_nothing(api: Api) -> None:
    _deploy(api)
    case = api.start("two_lane_application")
    [task] = case["ready_tasks"]
    before = api.get(f"/api/process-instances/{case['id']}/history").json()["events"]

    answer = api.complete(task["id"], {"businessId": "7654321-3", "weekly_hours": 60,
                                       "children": [{"age": 3}]}, expect=422).json()

    fields = {d["field"]: d["message"] for d in answer["detail"]}
    assert set(fields) == {"businessId", "weekly_hours", "children.0.name"}
    assert "Y-tunnus" in fields["businessId"]
    after_case = api.get(f"/api/process-instances/{case['id']}").json()
    assert after_case["status"] == "running"
    assert [t["id"] for t in after_case["ready_tasks"]] == [task["id"]]
    assert "weekly_hours" not in after_case["data"]
    after = api.get(f"/api/process-instances/{case['id']}/history").json()["events"]
    assert after == before


def test_a_missing_required_field_is_named(api: Api) -> None:
    _deploy(api)
    [task] = api.start("two_lane_application")["ready_tasks"]
    answer = api.complete(task["id"], {"weekly_hours": 5}, expect=422).json()
    assert [d["field"] for d in answer["detail"]] == ["businessId"]


def test_completing_a_finished_task_gets_409(api: Api) -> None:
    _deploy(api)
    [task] = api.start("two_lane_application")["ready_tasks"]
    api.complete(task["id"], {"businessId": "1234567-1", "weekly_hours": 10})
    again = api.complete(task["id"], {"businessId": "1234567-1", "weekly_hours": 10}, expect=409)
    assert "completed" in again.json()["detail"]


def test_staff_cannot_complete_another_teams_task(api: Api) -> None:
    _deploy(api)
    outsider = api.user("olli", ["staff"], ["tym"])
    [task] = api.start("two_lane_application")["ready_tasks"]
    outsider.complete(task["id"], {"businessId": "1234567-1", "weekly_hours": 10}, expect=403)
    assert outsider.tasks(task["instance_id"]) == []
    outsider.get(f"/api/tasks/{task['id']}", expect=404)


def test_a_task_shows_the_case_data_with_personal_ids_masked(api: Api) -> None:
    _deploy(api)
    case = api.start("two_lane_application", {"personalId": "010594Y9032",
                                              "family": [{"id": "020594X903P"}]})
    [task] = case["ready_tasks"]
    detail = api.get(f"/api/tasks/{task['id']}").json()
    assert detail["case_data"]["personalId"] == "010594*****"
    assert detail["case_data"]["family"][0]["id"] == "020594*****"
    full = api.get(f"/api/process-instances/{case['id']}").json()
    assert full["data"]["personalId"] == "010594Y9032"
