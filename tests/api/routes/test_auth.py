"""Authentication and accounts: every API route needs a valid bearer token (except health and
login); tokens end at logout and at expiry; admins manage users and teams."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from engine import clock
from engine.db import Database
from engine.settings import get_settings
from tests.conftest import ADMIN, Api

OPEN_ROUTES = {("get", "/api/health"), ("post", "/api/auth/token")}
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _operations(client: TestClient) -> list[tuple[str, str]]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return sorted((method, path) for path, item in paths.items() for method in item
                  if method in HTTP_METHODS)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.fixture
def movable_clock() -> Iterator[None]:
    clock.reset()
    clock.enable_test_hook()
    try:
        yield
    finally:
        clock.reset()
        clock.enable_test_hook(False)


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-real-token", "Basic YWRtaW46eA=="])
def test_every_route_but_health_and_login_answers_401_without_a_valid_token(
        app_client: TestClient, authorization: str | None) -> None:
    operations = _operations(app_client)
    assert len(operations) >= 20  # the whole API, not an empty list
    assert OPEN_ROUTES <= set(operations)
    headers = {"Authorization": authorization} if authorization else {}
    answers = {}
    for method, path in operations:
        if (method, path) in OPEN_ROUTES:
            continue
        answer = app_client.request(method.upper(), _concrete(path), headers=headers)
        answers[(method, path)] = answer.status_code
        if answer.status_code == 401:
            assert answer.headers.get("www-authenticate") == "Bearer"
    assert {op: code for op, code in answers.items() if code != 401} == {}


def test_health_answers_without_a_token(app_client: TestClient) -> None:
    answer = app_client.get("/api/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_a_login_answers_a_bearer_token_that_works(app_client: TestClient) -> None:
    answer = app_client.post("/api/auth/token",
                             json={"username": ADMIN[0], "password": ADMIN[1]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert app_client.get("/api/process-models", headers=headers).status_code == 200


@pytest.mark.parametrize("username,password", [
    (ADMIN[0], "wrong-password"),
    ("nobody", ADMIN[1]),
    (ADMIN[0], ADMIN[1].upper()),
])
def test_a_wrong_password_or_unknown_user_gets_401(
        app_client: TestClient, username: str, password: str) -> None:
    answer = app_client.post("/api/auth/token", json={"username": username,
                                                      "password": password})
    assert answer.status_code == 401
    assert "access_token" not in answer.json()


def test_a_token_is_refused_after_logout(api: Api) -> None:
    api.get("/api/process-models")

    api.post("/api/auth/logout")

    api.get("/api/process-models", 401)
    api.post("/api/auth/logout", 401)


def test_logout_revokes_only_the_token_it_was_called_with(api: Api) -> None:
    other = Api(api.client, *ADMIN)

    api.post("/api/auth/logout")

    other.get("/api/process-models")
    api.get("/api/process-models", 401)


def test_an_expired_token_gets_401(api: Api, movable_clock: None) -> None:
    ttl = timedelta(minutes=get_settings().token_ttl_minutes)
    clock.advance(ttl - timedelta(minutes=1))
    api.get("/api/process-models")

    clock.advance(timedelta(minutes=2))

    api.get("/api/process-models", 401)
    fresh = Api(api.client, *ADMIN)  # logging in again works
    fresh.get("/api/process-models")


def test_an_admin_creates_a_user_who_can_log_in(api: Api) -> None:
    answer = api.post("/api/users", 201, json={
        "username": "eija", "password": "eija-password", "roles": ["staff"],
        "teams": ["employer_services"]}).json()

    assert (answer["username"], answer["roles"], answer["teams"]) == (
        "eija", ["staff"], ["employer_services"])
    assert "password" not in answer and "password_hash" not in answer
    eija = Api(api.client, "eija", "eija-password")
    eija.get("/api/tasks")
    assert "eija" in [u["username"] for u in api.get("/api/users").json()]


def test_a_taken_username_gets_409(api: Api) -> None:
    body = {"username": "eija", "password": "eija-password", "roles": ["staff"], "teams": []}
    api.post("/api/users", 201, json=body)

    api.post("/api/users", 409, json={**body, "password": "another-password"})

    Api(api.client, "eija", "eija-password")  # the first one still logs in


def test_a_non_admin_may_not_create_users_or_teams(api: Api) -> None:
    staff = api.user("eija", ["staff"], ["employer_services"])
    owner = api.user("pauli", ["process_owner"], [])

    for user in (staff, owner):
        user.post("/api/users", 403, json={"username": f"x{user.username}",
                                           "password": "x-password", "roles": ["admin"]})
        user.post("/api/teams", 403, json={"id": f"t_{user.username}", "name": user.username})
        user.get("/api/users", 403)

    assert {u["username"] for u in api.get("/api/users").json()} == {"admin", "eija", "pauli"}


def test_an_admin_creates_a_team_that_users_can_join(api: Api) -> None:
    answer = api.post("/api/teams", 201, json={"id": "kotoutuminen", "name": "Kotoutuminen"})

    assert answer.json() == {"id": "kotoutuminen", "name": "Kotoutuminen"}
    assert {"id": "kotoutuminen", "name": "Kotoutuminen"} in api.get("/api/teams").json()
    api.user("kaisa", ["staff"], ["kotoutuminen"])


def test_the_sub_groups_of_the_spec_exist_from_the_start(
        catalogue: Database, api: Api) -> None:
    teams = {t["id"] for t in api.get("/api/teams").json()}

    assert {"tym.lead", "ps_jns.lead", "employer_services.lead", "employer_services.startup_grant",
            "employer_services.change_security"} <= teams
    # One reviewer group per development company of the reference data (PROCESSES.md §1.5).
    assert {"development_company.keti", "development_company.pikes"} <= teams
    assert "lobby_phone.lead" not in teams


def test_a_taken_team_id_or_name_gets_409(api: Api) -> None:
    api.post("/api/teams", 201, json={"id": "kotoutuminen", "name": "Kotoutuminen"})

    api.post("/api/teams", 409, json={"id": "kotoutuminen", "name": "Another name"})
    api.post("/api/teams", 409, json={"id": "another_id", "name": "Kotoutuminen"})

    teams = [t for t in api.get("/api/teams").json()
             if t["id"] in {"kotoutuminen", "another_id"}]
    assert teams == [{"id": "kotoutuminen", "name": "Kotoutuminen"}]


def test_an_unknown_role_gets_422_naming_the_field(api: Api) -> None:
    answer = api.post("/api/users", 422, json={
        "username": "eija", "password": "eija-password", "roles": ["staff", "superuser"],
        "teams": []}).json()

    assert [d["field"] for d in answer["detail"]] == ["roles.1"]
    assert "superuser" in answer["detail"][0]["message"]
    assert "eija" not in [u["username"] for u in api.get("/api/users").json()]


def test_an_unknown_team_gets_422_naming_the_field(api: Api) -> None:
    answer = api.post("/api/users", 422, json={
        "username": "eija", "password": "eija-password", "roles": ["staff"],
        "teams": ["employer_services", "no_such_team"]}).json()

    assert [d["field"] for d in answer["detail"]] == ["teams.1"]
    assert "no_such_team" in answer["detail"][0]["message"]
    assert "eija" not in [u["username"] for u in api.get("/api/users").json()]


def test_a_user_without_roles_or_with_a_short_password_gets_422_naming_the_fields(
        api: Api) -> None:
    answer = api.post("/api/users", 422, json={
        "username": "eija", "password": "short", "roles": []}).json()

    assert {d["field"] for d in answer["detail"]} == {"password", "roles"}


def test_a_team_id_with_spaces_gets_422(api: Api) -> None:
    answer = api.post("/api/teams", 422, json={"id": "has spaces", "name": "Spaces"}).json()
    assert [d["field"] for d in answer["detail"]] == ["id"]
