"""Property-based checks of the REST API against its own OpenAPI schema (schemathesis).

Every operation of /openapi.json is called in-process with generated data, valid and invalid,
by a logged-in admin and by a plain staff user, each on a fresh database. Every answer must be
no server error, with a declared status code, content type, headers and body schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from engine.db import Database
from engine.reference import TEAMS
from tests.conftest import ADMIN, Api

# The schema is loaded when the module is collected (schemathesis' fixture-based lazy loader
# does not work with this pytest), so the app is this module's own; each test gives it its db.
APP = create_app(Database("sqlite:///never-opened.db"))


def _schema(**phases: Any) -> Any:
    config = SchemathesisConfig.from_dict({"phases": phases})
    return (schemathesis.openapi.from_asgi("/openapi.json", APP, config=config)
            # Only present with VIRTA_CLOCK_TEST_HOOK: it moves the clock of the whole process.
            .exclude(path="/api/test/clock"))


#: The admin's run has the coverage phase too (boundary and invalid values of every
#: parameter); the staff run, which only differs in what the user may do, fuzzes.
admin_schema = _schema()
staff_schema = _schema(coverage={"enabled": False})

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def _examples(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture
def admin(db: Database) -> Iterator[Api]:
    """The bootstrap admin, logged in to this module's app on the test's database."""
    APP.state.db = db
    with TestClient(APP) as client:
        yield Api(client, *ADMIN)


@pytest.fixture
def staff(admin: Api) -> Api:
    """A plain staff user of one team."""
    return admin.user("fuzz-staff", ["staff"], [TEAMS[0][0]])


def _call_and_validate(case: Any, caller: Api) -> None:
    headers = caller.headers
    if case.path == "/api/auth/logout":
        caller.login()  # logging out revokes the token: spend a fresh one, keep the caller's
        headers, caller.headers = caller.headers, headers
    case.call_and_validate(headers=headers, checks=CHECKS)


@admin_schema.parametrize()
@_examples(20)
def test_api_answers_as_its_schema_says_to_an_admin(case: Any, admin: Api) -> None:
    _call_and_validate(case, admin)


@staff_schema.parametrize()
@_examples(20)
def test_api_answers_as_its_schema_says_to_staff(case: Any, staff: Api) -> None:
    _call_and_validate(case, staff)


def test_no_route_declares_fastapis_own_validation_answer() -> None:
    # FastAPI declares 422 as {"detail": [{"loc", "msg", "type"}]} unless a route says
    # otherwise; Virta answers {"detail": [{"field", "message"}]} (api/errors.py).
    assert "HTTPValidationError" not in APP.openapi()["components"]["schemas"]


def test_a_nul_character_is_refused_input_not_a_server_error(admin: Api) -> None:
    # PostgreSQL cannot store NUL in a text (SQLite can): found by the run above on PostgreSQL.
    login = admin.post("/api/auth/token", None, json={"username": "\x00", "password": "x"})
    assert login.status_code in {401, 422}, login.text
    team = admin.post("/api/teams", None, json={"id": "t1", "name": "a\x00b"})
    assert team.status_code in {201, 422}, team.text
