"""A start form validates a manual start (nothing is created when it fails), and date bounds
may be expressions over today, parameters and the case's data (PROCESSES.md §0.4, F1.0)."""

from __future__ import annotations

from datetime import timedelta

from engine import clock
from engine.db import Database
from engine.models import ParameterSet
from tests.conftest import DATA, Api

FORMS = DATA / "forms"


def _setup(api: Api, db: Database) -> None:
    db.unit_of_work(lambda s: s.add(ParameterSet(
        name="2025", valid_from="2025-01-01", values={"vacancyMaxDeadlineMonths": 6},
        sha256="x", loaded_at=clock.now())))
    api.deploy(FORMS / "start_form.bpmn", FORMS / "notice.schema.json")


def _start(api: Api, data: dict[str, object], expect: int) -> dict[str, object]:
    return api.post("/api/process-instances", expect,
                    json={"process_id": "notice_with_start_form", "data": data}).json()


def test_a_start_with_invalid_data_gets_422_per_field_and_creates_no_case(
        api: Api, db: Database) -> None:
    _setup(api, db)
    today = clock.local_today()
    yesterday = (today - timedelta(days=1)).isoformat()
    answer = _start(api, {"businessId": "7654321-3", "positionsCount": 0,
                          "applicationDeadline": yesterday}, 422)
    fields = {d["field"]: d["message"] for d in answer["detail"]}
    assert set(fields) == {"businessId", "positionsCount", "applicationDeadline"}
    assert today.isoformat() in fields["applicationDeadline"]
    assert api.get("/api/process-instances").json() == []


def test_a_deadline_beyond_the_parameter_months_is_refused(api: Api, db: Database) -> None:
    _setup(api, db)
    too_late = (clock.local_today() + timedelta(days=200)).isoformat()
    answer = _start(api, {"businessId": "7654321-2", "positionsCount": 1,
                          "applicationDeadline": too_late}, 422)
    assert [d["field"] for d in answer["detail"]] == ["applicationDeadline"]


def test_a_valid_start_creates_the_case_and_a_conditional_field_is_required(
        api: Api, db: Database) -> None:
    _setup(api, db)
    deadline = (clock.local_today() + timedelta(days=20)).isoformat()
    data = {"businessId": "7654321-2", "positionsCount": 1, "applicationDeadline": deadline}
    case = _start(api, data, 201)
    [task] = case["ready_tasks"]
    answer = api.complete(task["id"], {**data, "decision": "reject"}, expect=422).json()
    assert [d["field"] for d in answer["detail"]] == ["rejectReason"]
    done = api.complete(task["id"], {**data, "decision": "reject",
                                     "rejectReason": "discriminatory"}).json()
    assert done["status"] == "completed"
