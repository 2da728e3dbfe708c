"""Fixtures for the pages: a browser-like client that logs in through /login and posts forms
with the CSRF token of the page it last read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api

DATA = Path(__file__).resolve().parent.parent / "data" / "pages"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Pages:
    """One browser: its own cookies, following the pages as a person would."""

    def __init__(self, app: Any) -> None:
        self.client = TestClient(app, follow_redirects=False)
        self.csrf = ""

    def get(self, path: str, expect: int = 200) -> Any:
        answer = self.client.get(path)
        assert answer.status_code == expect, f"GET {path}: {answer.status_code} {answer.text}"
        found = CSRF.search(answer.text)
        if found:
            self.csrf = found.group(1)
        return answer

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]] | None = None,
             expect: int | None = 303, files: Any = None, csrf: bool = True) -> Any:
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            fields.append(("csrf_token", self.csrf))
        answer = self.client.post(path, data=_multi(fields), files=files)
        if expect is not None:
            assert answer.status_code == expect, f"POST {path}: {answer.status_code} " \
                                                 f"{answer.text[:3000]}"
        found = CSRF.search(answer.text)
        if found:
            self.csrf = found.group(1)
        return answer

    def login(self, username: str, password: str | None = None) -> Pages:
        self.get("/login")
        answer = self.post("/login", {"username": username,
                                      "password": password or f"{username}-password",
                                      "next": "/tasks"})
        assert answer.headers["location"] == "/tasks"
        return self


def _multi(fields: list[tuple[str, Any]]) -> dict[str, Any]:
    """Form fields for httpx: repeated names become lists."""
    data: dict[str, Any] = {}
    for name, value in fields:
        if name in data:
            data[name] = [*data[name], value] if isinstance(data[name], list) \
                else [data[name], value]
        else:
            data[name] = value
    return data


@pytest.fixture
def browser(app: Any, app_client: TestClient) -> Any:
    """Makes a fresh browser (cookie jar) on the test's app and database."""
    def make() -> Pages:
        return Pages(app)
    return make


@pytest.fixture
def intake(api: Api) -> Api:
    """The test model `page_intake` (start form in employer_services, a second task for
    start_services) deployed."""
    api.deploy(DATA / "page_intake.bpmn", DATA / "page_intake.start.schema.json",
               DATA / "page_intake.details.schema.json")
    return api
