"""`virta serve` as a user runs it: a real server process on SQLite, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATA
from tests.processes import embedded_server, login


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    processes = tmp_path / "processes"
    processes.mkdir()
    (processes / "two_lane.bpmn").write_bytes((DATA / "two_lane.bpmn").read_bytes())
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "application.schema.json").write_bytes(
        (DATA / "application.schema.json").read_bytes())
    with embedded_server(tmp_path, processes=processes, forms=forms) as url:
        yield url


def test_virta_serve_deploys_its_models_and_runs_a_case_over_http(server: str) -> None:
    # Given a server started on SQLite with the admin from the environment
    assert httpx.get(f"{server}/api/health").json()["status"] == "ok"
    with login(server, "root", "root-password") as http:
        # Then the models in processes/ were deployed on start
        models = http.get("/api/process-models").json()
        assert [(m["process_id"], m["version"]) for m in models] == [("two_lane_application", 1)]
        # When a case is started and its task completed over HTTP
        case = http.post("/api/process-instances",
                         json={"process_id": "two_lane_application"}).json()
        [task] = case["ready_tasks"]
        done = http.post(f"/api/tasks/{task['id']}/complete",
                         json={"data": {"businessId": "1234567-1", "weekly_hours": 8}}).json()
        # Then it completes, and the history is served
        assert done["status"] == "completed"
        events = http.get(f"/api/process-instances/{case['id']}/history").json()["events"]
        assert events[0]["type"] == "case_started" and events[-1]["type"] == "case_completed"
    # And /api without a token is refused
    assert httpx.get(f"{server}/api/process-models").status_code == 401
