"""`engine.deploy` below the API: problem shapes the HTTP layer cannot show, deployments of
several files that depend on each other, and forms deployed on their own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from engine import deploy, specs
from engine.db import Database
from engine.errors import DeploymentInvalid, NotFound
from engine.models import ProcessVersion
from tests.conftest import DATA

MODELS = DATA / "deploy"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated, empty database; no users are needed to deploy from the engine."""
    specs.spec_cache.clear()
    db = Database(database_url)
    try:
        yield db
    finally:
        db.dispose()
        specs.spec_cache.clear()


def _files(*names: str) -> list[tuple[str, bytes]]:
    return [(name, (MODELS / name).read_bytes()) for name in names]


def _deploy(db: Database, files: list[tuple[str, bytes]]) -> dict[str, int]:
    return db.unit_of_work(lambda s: {
        pv.process_id: pv.version for pv in deploy.deploy(s, files, actor="tester")})


def _problems(db: Database, files: list[tuple[str, bytes]]) -> list[dict[str, Any]]:
    with pytest.raises(DeploymentInvalid) as caught:
        _deploy(db, files)
    return caught.value.problems


def _all_versions(db: Database) -> list[tuple[str, int]]:
    with db.reading() as session:
        return [(pv.process_id, pv.version) for pv in session.scalars(
            select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version))]


def test_an_empty_deployment_is_refused_with_a_problem_in_the_contract_shape(
        database: Database) -> None:
    assert _problems(database, []) == [
        {"file": None, "element_id": None, "line": None, "message": "no files were given"}]
    assert _all_versions(database) == []


def test_every_problem_of_every_file_is_reported_at_once(database: Database) -> None:
    problems = _problems(database, _files("script_syntax.bpmn", "missing_form.bpmn"))

    assert sorted((p["file"], p["element_id"]) for p in problems) == [
        ("missing_form.bpmn", "enter_amount"), ("script_syntax.bpmn", "greet")]
    assert all(isinstance(p["line"], int) for p in problems)
    assert _all_versions(database) == []


def test_the_same_file_name_twice_in_one_deployment_is_refused(database: Database) -> None:
    [problem] = _problems(database, _files("simple.bpmn", "simple.bpmn"))

    assert problem["file"] == "simple.bpmn"
    assert "twice" in problem["message"]


def test_a_parent_and_the_child_it_calls_may_be_deployed_together(database: Database) -> None:
    assert _deploy(database, _files("parent.bpmn", "child.bpmn")) == {
        "parent_process": 1, "child_process": 1}

    with database.reading() as session:
        bundle = deploy.load_bundle(session, deploy.get_version(session, "parent_process"))
    assert "child_process" in bundle.subprocess_specs


def test_a_gateway_condition_is_checked_for_python_syntax(database: Database) -> None:
    # Given a model whose only fault is the condition `amount > (10` on the gateway's flow
    files = _files("condition_syntax.bpmn", "amount.schema.json")

    [problem] = _problems(database, files)

    assert (problem["file"], problem["element_id"]) == ("condition_syntax.bpmn", "is_large")
    assert "condition" in problem["message"]

    # And the same model with a valid condition deploys
    fixed = [(n, c.replace(b"amount &gt; (10", b"amount &gt; 10")) for n, c in files]
    assert _deploy(database, fixed) == {"condition_syntax": 1}


def test_a_form_deployed_alone_can_be_used_by_a_later_model(database: Database) -> None:
    # Given the form deployed alone: no process uses it yet, so no version is made
    assert _deploy(database, _files("amount.schema.json")) == {}

    # When a model that uses it is deployed without the form
    assert _deploy(database, _files("versioned.bpmn")) == {"versioned": 1}

    # Then the version carries that form
    with database.reading() as session:
        pv = deploy.get_version(session, "versioned", 1)
        form_files = list(pv.form_files)
        bundle = deploy.load_bundle(session, pv)
    assert form_files == ["amount.schema.json"]
    assert bundle.forms["amount.schema.json"]["required"] == ["amount"]


def test_an_unknown_version_is_not_found(database: Database) -> None:
    _deploy(database, _files("simple.bpmn"))

    with database.reading() as session:
        assert deploy.get_version(session, "simple").version == 1
        with pytest.raises(NotFound):
            deploy.get_version(session, "simple", 2)
        with pytest.raises(NotFound):
            deploy.get_version(session, "no_such_process")
