"""The conformance corpus (shared/conformance): 40 models from SpiffWorkflow's test suite,
driven through Virta's REST API exactly as its README says, must end as the bare engine does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import CONFORMANCE, Api

MAX_ROUNDS = 200


def _cases() -> list[dict[str, Any]]:
    manifest = CONFORMANCE / "manifest.json"
    if not manifest.exists():
        pytest.fail(f"conformance corpus missing at {manifest}")
    return json.loads(manifest.read_text())


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[f"{i:02d}-{c['process_id']}"
                                             for i, c in enumerate(CASES)])
def test_conformance_case_ends_as_the_bare_engine(api: Api, case: dict[str, Any]) -> None:
    # Given every file of the case deployed together
    api.deploy(*(CONFORMANCE / f for f in case["files"]))

    # When the case is started and every ready human task is completed, round by round
    instance = api.start(case["process_id"], case["start_data"])
    for _ in range(MAX_ROUNDS):
        ready = api.tasks(instance["id"])
        if not ready or instance["status"] in {"completed", "error", "cancelled"}:
            break
        for task in ready:
            data = case["complete"].get(task["element_id"], {})
            answer = api.complete(task["id"], data, expect=None)
            if answer.status_code == 409:
                # An earlier completion in this round ended it (a terminate end event, say).
                assert api.get(f"/api/tasks/{task['id']}").json()["status"] != "ready"
                continue
            assert answer.status_code == 200, answer.text
            instance = answer.json()
    instance = api.get(f"/api/process-instances/{instance['id']}").json()

    # Then it completed (or not) as expected, with exactly the expected data
    assert (instance["status"] == "completed") == case["expect"]["completed"], instance
    for key, value in case["expect"]["data"].items():
        assert instance["data"].get(key) == value, key
    assert set(instance["data"]) == set(case["expect"]["data"])
