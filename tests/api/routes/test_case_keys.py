"""Business keys, process parameters and assignee expressions (PROCESSES.md §0.4, §0.6, §1.6)."""

from __future__ import annotations

from typing import Any

from engine import clock
from engine.db import Database
from engine.models import ParameterSet
from tests.conftest import DATA, Api

MODEL = DATA / "runtime" / "keyed_case.bpmn"


def _parameters(db: Database, name: str, valid_from: str, values: dict[str, Any]) -> None:
    db.unit_of_work(lambda s: s.add(ParameterSet(name=name, valid_from=valid_from, values=values,
                                                 sha256=name, loaded_at=clock.now())))


def test_cases_get_consecutive_business_keys_and_their_parameter_set(
        api: Api, db: Database) -> None:
    _parameters(db, "2025", "2025-01-01", {"vacancyCheckBd": 1})
    api.deploy(MODEL)
    year = clock.local_today().year
    first = api.start("keyed_case", {"receivedOn": "2025-12-31", "originActor": None})
    second = api.start("keyed_case", {"receivedOn": "2025-12-31", "originActor": None})
    assert first["business_key"] == first["data"]["vacancyId"] == f"V-{year}-000001"
    assert second["business_key"] == f"V-{year}-000002"
    assert first["data"]["checkDue"] == "2026-01-02"  # 1 business day; 1.1 is a holiday


def test_a_case_keeps_the_parameter_set_it_started_with(api: Api, db: Database) -> None:
    _parameters(db, "2025", "2025-01-01", {"vacancyCheckBd": 1})
    api.deploy(MODEL)
    before = api.start("keyed_case", {"receivedOn": "2025-03-03", "originActor": None})
    _parameters(db, "2026", "2026-01-01", {"vacancyCheckBd": 3})
    after = api.start("keyed_case", {"receivedOn": "2025-03-03", "originActor": None})
    assert before["data"]["checkDue"] == "2025-03-04"
    assert after["data"]["checkDue"] == "2025-03-06"


def test_an_unknown_parameter_stops_the_case_with_an_incident(api: Api, db: Database) -> None:
    _parameters(db, "2025", "2025-01-01", {})
    api.deploy(MODEL)
    case = api.start("keyed_case", {"receivedOn": "2025-03-03", "originActor": None})
    assert case["status"] == "error"
    [incident] = api.get("/api/incidents", params={"instance_id": case["id"]}).json()
    assert incident["element_id"] == "sc_init" and "vacancyCheckBd" in incident["message"]


def test_the_assignee_expression_assigns_a_member_of_the_lane_team(
        api: Api, db: Database) -> None:
    _parameters(db, "2025", "2025-01-01", {"vacancyCheckBd": 1})
    api.deploy(MODEL)
    api.user("essi", ["staff"], ["employer_services"])
    api.user("tuomas", ["staff"], ["tym"])
    member = api.start("keyed_case", {"receivedOn": "2025-03-03", "originActor": "essi"})
    outsider = api.start("keyed_case", {"receivedOn": "2025-03-03", "originActor": "tuomas"})
    assert member["ready_tasks"][0]["assignee"] == "essi"
    assert outsider["ready_tasks"][0]["assignee"] is None  # not in the lane's team
    assert outsider["ready_tasks"][0]["team"] == "employer_services"
