"""`virta serve` as a user runs it: a real server process on SQLite, driven over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import DATA
from tests.services import free_port

VIRTA = Path(sys.executable).with_name("virta")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    processes = tmp_path / "processes"
    processes.mkdir()
    (processes / "two_lane.bpmn").write_bytes((DATA / "two_lane.bpmn").read_bytes())
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "application.schema.json").write_bytes(
        (DATA / "application.schema.json").read_bytes())
    env = {**os.environ, "VIRTA_DATABASE_URL": f"sqlite:///{tmp_path / 'virta.db'}",
           "VIRTA_ADMIN_USER": "root", "VIRTA_ADMIN_PASSWORD": "root-password",
           "VIRTA_PROCESSES_DIR": str(processes), "VIRTA_FORMS_DIR": str(forms)}
    env.pop("VIRTA_REDIS_URL", None)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([str(VIRTA), "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("virta serve did not answer: " + (tmp_path / "serve.log").read_text())
        yield url
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def test_virta_serve_deploys_its_models_and_runs_a_case_over_http(server: str) -> None:
    # Given a server started on SQLite with the admin from the environment
    health = httpx.get(f"{server}/api/health").json()
    assert health["status"] == "ok"
    token = httpx.post(f"{server}/api/auth/token",
                       json={"username": "root", "password": "root-password"}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    with httpx.Client(base_url=server, headers=headers, timeout=10) as http:
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
