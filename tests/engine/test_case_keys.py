"""Case keys (`engine.case_keys`): which fields of a model are keys, how a case's keys follow
its data through its saves, `open_cases`/`case_count` in a model, and `x-validate` rules of
forms at deploy. Runs on SQLite and on PostgreSQL (`VIRTA_TEST_DB=postgresql`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import delete, select

from engine import deploy, runner
from engine.authorization import SYSTEM
from engine.db import Database
from engine.errors import DeploymentInvalid
from engine.models import CaseKey, HumanTask, ProcessInstance
from tests.conftest import DATA

KEYS = DATA / "case_keys"
MODELS = ["customer_service.bpmn", "customer_service.start.schema.json",
          "customer_service.update.schema.json", "placement_check.bpmn",
          "placement_check.place.schema.json"]


def _files(*names: str) -> list[tuple[str, bytes]]:
    return [(n, (KEYS / n).read_bytes()) for n in names]


@pytest.fixture
def models(db: Database) -> Database:
    db.unit_of_work(lambda s: deploy.deploy(s, _files(*MODELS), actor="tester"))
    return db


def _keys(db: Database, case_id: int) -> set[tuple[str, str]]:
    with db.reading() as s:
        return {(k.name, k.value) for k in s.scalars(
            select(CaseKey).where(CaseKey.instance_id == case_id))}


def _start(db: Database, process_id: str, data: dict[str, Any]) -> int:
    return db.unit_of_work(lambda s: runner.start_case(
        s, process_id=process_id, principal=SYSTEM, data=data).id)


def _complete(db: Database, case_id: int, data: dict[str, Any]) -> None:
    with db.reading() as s:
        [task] = s.scalars(select(HumanTask.id).where(
            HumanTask.instance_id == case_id, HumanTask.status == "ready")).all()
    db.unit_of_work(lambda s: runner.complete_task(s, task_id=task, data=data, principal=SYSTEM))


def test_the_key_fields_come_from_correlation_forms_and_search_keys(models: Database) -> None:
    with models.reading() as s:
        pv = deploy.get_version(s, "customer_service")
        fields = deploy.load_bundle(s, pv).key_fields
    assert fields == {
        "serviceRef": "serviceNumber",  # processVariableCorrelation: property <- variable
        "businessId": "businessId",  # fi-business-id (start form) and y-tunnus (task form)
        "personalIds": "personalIds",  # a list of henkilotunnus
        "customerId": "customerId", "municipality": "municipality",  # searchKeys
    }


def test_keys_are_written_updated_and_removed_with_the_case(models: Database) -> None:
    case_id = _start(models, "customer_service", {
        "customerId": "C-000301", "serviceNumber": "S-1", "businessId": "2345678-0",
        "note": "ei avain"})
    assert _keys(models, case_id) == {("customerId", "C-000301"), ("serviceRef", "S-1"),
                                      ("businessId", "2345678-0")}

    _complete(models, case_id, {"businessId": None, "personalIds": ["131052-308T"],
                                "note": "muuttui"})
    assert _keys(models, case_id) == {("customerId", "C-000301"), ("serviceRef", "S-1"),
                                      ("personalIds", "131052-308T")}
    with models.reading() as s:
        row = s.get(ProcessInstance, case_id)
        assert row.search_keys == {"customerId": ["C-000301"], "serviceRef": ["S-1"],
                                   "personalIds": ["131052-308T"]}

    models.unit_of_work(lambda s: s.execute(delete(ProcessInstance).where(
        ProcessInstance.id == case_id)))
    assert _keys(models, case_id) == set()


def test_a_save_that_changes_no_key_writes_no_key(models: Database,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = _start(models, "customer_service", {"customerId": "C-1", "serviceNumber": "S-2"})
    writes: list[Any] = []
    real = runner.case_keys.sync

    def counting(session: Any, row: Any, fields: dict[str, str]) -> None:
        before = row.search_keys
        real(session, row, fields)
        if row.search_keys != before:
            writes.append(row.search_keys)

    monkeypatch.setattr(runner.case_keys, "sync", counting)
    _complete(models, case_id, {"note": "vain huomautus"})
    assert writes == []
    assert _keys(models, case_id) == {("customerId", "C-1"), ("serviceRef", "S-2")}


def test_open_cases_in_a_script_decides_a_gateway(models: Database) -> None:
    service = _start(models, "customer_service", {"customerId": "C-000301",
                                                  "serviceNumber": "S-3"})
    _start(models, "customer_service", {"customerId": "C-000777", "serviceNumber": "S-4"})
    with models.reading() as s:
        key = s.get(ProcessInstance, service).business_key

    with_service = _start(models, "placement_check", {"customerId": "C-000301"})
    without = _start(models, "placement_check", {"customerId": "C-000999"})
    again = _start(models, "placement_check", {"customerId": "C-000301"})

    with models.reading() as s:
        rows = {i: s.get(ProcessInstance, i) for i in (with_service, without, again)}
        assert rows[with_service].data["openServices"] == [key or service]
        assert rows[with_service].status == "running"  # ut_place is ready
        assert rows[without].data["openServices"] == []
        assert rows[without].status == "completed"  # end_refused
        # case_count sees the other placement check of the customer, not the case itself
        assert rows[with_service].data["priorChecks"] == 0
        assert rows[again].data["priorChecks"] == 1

    # a completed (or cancelled) service is not open
    models.unit_of_work(lambda s: runner.cancel_case(s, instance_id=service, principal=SYSTEM))
    late = _start(models, "placement_check", {"customerId": "C-000301"})
    with models.reading() as s:
        assert s.get(ProcessInstance, late).status == "completed"
        assert s.get(ProcessInstance, late).data["priorChecks"] == 2


def _form(schema: dict[str, Any]) -> list[tuple[str, bytes]]:
    return [("rules.schema.json", json.dumps(schema).encode())]


def test_deploy_refuses_an_x_validate_rule_that_does_not_compile(db: Database) -> None:
    schema = {"type": "object", "properties": {
        "customerId": {"type": "string", "x-validate": [
            {"expression": "customerId in (", "message": "rikki"}]},
        "hours": {"type": "integer", "x-validate": {
            "expression": "__import__('os').system('true')", "message": "vaarallinen"}},
        "picks": {"type": "array", "items": {"x-validate": [
            {"expression": "value.__class__", "message": "karkaa"}]}}},
        "x-validate": [{"message": "ilman lauseketta"}]}
    with pytest.raises(DeploymentInvalid) as err:
        db.unit_of_work(lambda s: deploy.deploy(s, _form(schema), actor="tester"))
    problems = err.value.problems
    assert {p["file"] for p in problems} == {"rules.schema.json"}
    by_field = {p["element_id"]: p["message"] for p in problems}
    assert set(by_field) == {"customerId", "hours", "picks.*", None}
    assert "x-validate of picks.*" in by_field["picks.*"]
    assert by_field["customerId"].startswith("x-validate of customerId: 'customerId in ('")
    assert "x-validate of hours" in by_field["hours"] and "__import__" in by_field["hours"]
    assert "x-validate of (root)" in by_field[None]


def test_deploy_accepts_rules_that_compile(db: Database) -> None:
    schema = {"type": "object", "x-validate": [
        {"expression": "len(open_cases('p', customerId=customerId)) > 0", "message": "ok"}]}
    db.unit_of_work(lambda s: deploy.deploy(s, _form(schema), actor="tester"))


def test_a_case_without_key_fields_writes_no_keys(db: Database) -> None:
    db.unit_of_work(lambda s: deploy.deploy(s, [(
        "script_error.bpmn", (DATA / "runtime" / "script_error.bpmn").read_bytes())],
        actor="tester"))
    case_id = _start(db, "script_error", {"businessId": "2345678-0"})
    with db.reading() as s:
        assert s.get(ProcessInstance, case_id).search_keys is None
    assert _keys(db, case_id) == set()

