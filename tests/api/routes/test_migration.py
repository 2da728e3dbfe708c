"""Moving a running case to another model version (POST /api/process-instances/{id}/migrate)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import DATA, Api

V1 = (DATA / "two_lane.bpmn").read_text()


def _deploy_text(api: Api, tmp_path: Path, text: str) -> int:
    path = tmp_path / "two_lane.bpmn"
    path.write_text(text)
    answer = api.deploy(path, DATA / "application.schema.json").json()
    return int(answer["process_models"][0]["version"])


def test_a_case_moves_to_a_compatible_version_and_follows_it(api: Api, tmp_path: Path) -> None:
    # Given a case waiting on v1's first task, and a v2 whose script sets another priority
    assert _deploy_text(api, tmp_path, V1) == 1
    case = api.start("two_lane_application")
    v2 = V1.replace('priority = "high" if weekly_hours &gt; 30 else "normal"',
                    'priority = "high"')
    assert _deploy_text(api, tmp_path, v2) == 2

    # When a dry run asks, nothing changes
    dry = api.post(f"/api/process-instances/{case['id']}/migrate",
                   json={"version": 2, "dry_run": True}).json()
    assert dry["migratable"] is True
    assert api.get(f"/api/process-instances/{case['id']}").json()["version"] == 1

    # When it migrates for real, then it runs v2's script
    api.post(f"/api/process-instances/{case['id']}/migrate", json={"version": 2})
    moved = api.get(f"/api/process-instances/{case['id']}").json()
    assert moved["version"] == 2
    [task] = moved["ready_tasks"]
    done = api.complete(task["id"], {"businessId": "1234567-1", "weekly_hours": 5}).json()
    assert done["data"]["priority"] == "high"
    types = [e["type"] for e in
             api.get(f"/api/process-instances/{case['id']}/history").json()["events"]]
    assert "case_migrated" in types


def test_a_case_that_uses_a_removed_element_is_refused_and_untouched(
        api: Api, tmp_path: Path) -> None:
    _deploy_text(api, tmp_path, V1)
    case = api.start("two_lane_application")
    v2 = V1.replace('"submit_application"', '"submit_application_v2"')
    _deploy_text(api, tmp_path, v2)

    answer = api.post(f"/api/process-instances/{case['id']}/migrate", 409,
                      json={"version": 2}).json()

    assert answer["migratable"] is False and "submit_application" in answer["reason"]
    after = api.get(f"/api/process-instances/{case['id']}").json()
    assert after["version"] == 1 and after["ready_tasks"] == case["ready_tasks"]


def test_only_process_owners_migrate(api: Api, tmp_path: Path) -> None:
    _deploy_text(api, tmp_path, V1)
    case = api.start("two_lane_application")
    staff = api.user("sanna", ["staff"], ["employer_services"])
    staff.post(f"/api/process-instances/{case['id']}/migrate", 403, json={"version": 1})
