"""Login throttling and the security headers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import ADMIN, Api


def _login(api: Api, password: str) -> Any:
    return api.client.post("/api/auth/token", json={"username": ADMIN[0], "password": password})


def test_five_failed_logins_lock_the_name_for_a_while(api: Api, test_clock: Any) -> None:
    for _ in range(5):
        assert _login(api, "wrong").status_code == 401
    locked = _login(api, ADMIN[1])
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    test_clock.advance(timedelta(minutes=16))
    assert _login(api, ADMIN[1]).status_code == 200


def test_an_unknown_name_is_throttled_the_same_way(api: Api) -> None:
    for _ in range(5):
        answer = api.client.post("/api/auth/token",
                                 json={"username": "nobody", "password": "x"})
        assert answer.status_code == 401
    answer = api.client.post("/api/auth/token", json={"username": "nobody", "password": "x"})
    assert answer.status_code == 429


def test_a_success_resets_the_count(api: Api) -> None:
    for _ in range(4):
        _login(api, "wrong")
    assert _login(api, ADMIN[1]).status_code == 200
    for _ in range(4):
        _login(api, "wrong")
    assert _login(api, ADMIN[1]).status_code == 200


def test_answers_carry_security_headers_and_no_cdn_docs(api: Api) -> None:
    answer = api.get("/api/health")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert api.client.get("/docs").status_code == 404
    assert api.client.get("/openapi.json").status_code == 200


def test_an_unexpected_error_shows_no_stack_trace(api: Api, monkeypatch: Any) -> None:
    from engine import deploy

    def boom(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(deploy, "latest_versions", boom)
    client = api.client
    with_raise = client.app  # TestClient re-raises server errors unless told not to
    from fastapi.testclient import TestClient

    quiet = TestClient(with_raise, raise_server_exceptions=False)
    answer = quiet.get("/api/process-models", headers=api.headers)
    assert answer.status_code == 500
    assert answer.json() == {"detail": "internal error"}
    assert "secret" not in answer.text
