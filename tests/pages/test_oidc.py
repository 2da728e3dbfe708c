"""OpenID Connect login against a real local provider (tests/pages/oidc_provider.py).

The browser (TestClient) follows the redirects as a person's browser would: from Virta to the
provider's authorization endpoint (over HTTP, which approves the configured user at once), and
back to Virta's callback, which exchanges the code with the provider over HTTP itself.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import select

from api.pages import oidc
from engine.db import Database
from engine.models import User, UserTeam
from engine.settings import get_settings
from tests.conftest import Api
from tests.pages.conftest import Pages
from tests.pages.oidc_provider import Provider

BUTTON = "Kirjaudu organisaation tunnuksella"
FAILED = "Kirjautuminen organisaation tunnuksella epäonnistui. Yritä uudelleen."


def _configure(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"VIRTA_{name.upper()}", value)
    get_settings.cache_clear()
    oidc._providers.clear()


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    """A running provider, and Virta configured to log in through it."""
    with Provider() as running:
        _configure(monkeypatch, oidc_issuer=running.url, oidc_client_id=running.client_id,
                   oidc_client_secret=running.client_secret)
        yield running
    monkeypatch.undo()
    get_settings.cache_clear()
    oidc._providers.clear()


@pytest.fixture
def oidc_off(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("VIRTA_OIDC_ISSUER", raising=False)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _login(pages: Pages, provider: Provider, *, state: str | None = None,
           next_path: str | None = None) -> httpx.Response:
    """Click the button, let the provider approve, come back; the callback's answer.

    `state` replaces the state that the provider sends back (a tampered answer)."""
    start = "/login/oidc" + (f"?{urlencode({'next': next_path})}" if next_path else "")
    to_provider = pages.client.get(start)
    assert to_provider.status_code == 302, to_provider.text
    location = to_provider.headers["location"]
    assert location.startswith(f"{provider.url}/authorize?")
    at_provider = httpx.get(location, follow_redirects=False)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["location"])
    assert back.path == "/login/oidc/callback"
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    if state is not None:
        query["state"] = state
    return pages.client.get(f"{back.path}?{urlencode(query)}")


def _refused(pages: Pages, answer: httpx.Response, message: str = FAILED) -> None:
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?error=oidc")
    assert "virta_session" not in answer.cookies
    assert message in pages.get(answer.headers["location"]).text
    assert pages.get("/tasks", expect=303).headers["location"].startswith("/login")


def _user(db: Database, username: str) -> tuple[User, list[str]]:
    with db.reading() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        teams = sorted(session.scalars(select(UserTeam.team_id)
                                       .where(UserTeam.user_id == user.id)))
        session.expunge(user)
        return user, teams


def test_a_first_login_provisions_the_user_with_the_teams_of_the_groups_claim(
        api: Api, db: Database, browser: Any, provider: Provider) -> None:
    provider.user = {"sub": "s-oili", "preferred_username": "oili", "email": "oili@example.fi",
                     "groups": ["employer_services", "start_services", "not-a-virta-team"]}
    pages = browser()
    assert BUTTON in pages.get("/login").text

    answer = _login(pages, provider)

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/tasks"
    cookie = next(h for h in answer.headers.get_list("set-cookie")
                  if h.startswith("virta_session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    tasks = pages.get("/tasks")
    assert "Omat tehtävät" in tasks.text and "oili" in tasks.text
    user, teams = _user(db, "oili")
    assert teams == ["employer_services", "start_services"]
    assert user.roles == ["staff"]
    assert user.oidc_subject == "s-oili" and user.password_hash is None
    assert user.email == "oili@example.fi"
    # PKCE with S256, and a nonce, were asked for.
    sent = provider.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256" and sent["nonce"] and sent["state"]
    # An OIDC user has no password to log in with.
    pages_2 = browser()
    pages_2.get("/login")
    pages_2.post("/login", {"username": "oili", "password": "anything"}, expect=401)


def test_a_later_login_syncs_the_teams_and_keeps_the_user(
        api: Api, db: Database, browser: Any, provider: Provider) -> None:
    provider.user = {"sub": "s-oili", "preferred_username": "oili",
                     "groups": ["employer_services", "start_services"]}
    assert _login(browser(), provider).status_code == 303
    first, _ = _user(db, "oili")

    provider.user = {"sub": "s-oili", "preferred_username": "oili",
                     "groups": ["lobby_phone", "start_services"]}
    pages = browser()
    assert _login(pages, provider).headers["location"] == "/tasks"

    user, teams = _user(db, "oili")
    assert user.id == first.id
    assert teams == ["lobby_phone", "start_services"]
    assert pages.get("/tasks").status_code == 200

    provider.user = {"sub": "s-oili", "preferred_username": "oili", "groups": ["unknown"]}
    assert _login(browser(), provider).status_code == 303
    user, teams = _user(db, "oili")
    assert teams == [] and user.roles == []
    history = api.get("/api/users").json()
    assert next(u for u in history if u["username"] == "oili")["teams"] == []


def test_the_role_claim_gives_only_known_roles(
        api: Api, db: Database, browser: Any, provider: Provider,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _configure(monkeypatch, oidc_role_claim="virta_roles")
    provider.user = {"sub": "s-aino", "preferred_username": "aino", "groups": ["ps_jns"],
                     "virta_roles": ["auditor", "superuser"]}

    assert _login(browser(), provider).status_code == 303

    user, teams = _user(db, "aino")
    assert user.roles == ["auditor", "staff"] and teams == ["ps_jns"]
    provider.user = {**provider.user, "virta_roles": "process_owner", "groups": []}
    assert _login(browser(), provider).status_code == 303
    assert _user(db, "aino")[0].roles == ["process_owner"]


def test_a_next_page_is_followed_after_the_login(
        api: Api, browser: Any, provider: Provider) -> None:
    provider.user = {"sub": "s-oili", "preferred_username": "oili", "groups": ["ps_jns"]}

    assert _login(browser(), provider, next_path="/cases").headers["location"] == "/cases"
    assert _login(browser(), provider, next_path="//evil.example/x") \
        .headers["location"] == "/tasks"


def test_a_tampered_state_is_refused(api: Api, db: Database, browser: Any,
                                     provider: Provider) -> None:
    provider.user = {"sub": "s-oili", "preferred_username": "oili", "groups": ["ps_jns"]}
    pages = browser()

    answer = _login(pages, provider, state="forged-state")

    _refused(pages, answer)
    with db.reading() as session:
        assert session.scalar(select(User).where(User.username == "oili")) is None


def test_a_callback_without_the_browsers_flow_cookie_is_refused(
        api: Api, browser: Any, provider: Provider) -> None:
    """Login CSRF: an attacker's own code and state, sent to a victim's browser."""
    attacker = browser()
    to_provider = attacker.client.get("/login/oidc")
    at_provider = httpx.get(to_provider.headers["location"], follow_redirects=False)
    back = urlsplit(at_provider.headers["location"])

    victim = browser()
    _refused(victim, victim.client.get(f"{back.path}?{back.query}"))


def test_a_forged_flow_cookie_is_refused(api: Api, browser: Any, provider: Provider) -> None:
    pages = browser()
    pages.client.get("/login/oidc")
    payload, signature = pages.client.cookies.get("virta_oidc").rsplit(".", 1)
    flow = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**flow, "state": "mine"}).encode()).decode()
    pages.client.cookies.clear()

    answer = pages.client.get("/login/oidc/callback?code=x&state=mine",
                              headers={"Cookie": f"virta_oidc={forged.rstrip('=')}.{signature}"})

    _refused(pages, answer)


@pytest.mark.parametrize("change", [
    {"aud": "another-client"},
    {"aud": "another-client", "azp": "virta"},
    {"aud": ["another-client", "a-third"], "azp": "virta"},
    {"nonce": "another-nonce"},
    {"iss": "http://127.0.0.1:1"},
    {"exp": 1_000_000_000},
], ids=["audience", "audience-with-azp", "audiences", "nonce", "issuer", "expired"])
def test_an_id_token_that_is_not_for_this_login_is_refused(
        api: Api, db: Database, browser: Any, provider: Provider,
        change: dict[str, Any]) -> None:
    provider.user = {"sub": "s-oili", "preferred_username": "oili", "groups": ["ps_jns"]}
    provider.id_token_changes = change
    pages = browser()

    _refused(pages, _login(pages, provider))

    with db.reading() as session:
        assert session.scalar(select(User).where(User.username == "oili")) is None


def test_an_id_token_signed_with_another_key_is_refused(
        api: Api, browser: Any, provider: Provider) -> None:
    provider.user = {"sub": "s-oili", "preferred_username": "oili", "groups": ["ps_jns"]}
    provider.sign_with = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
    pages = browser()

    _refused(pages, _login(pages, provider))


def test_a_wrong_client_secret_is_refused(api: Api, browser: Any, provider: Provider,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _configure(monkeypatch, oidc_client_secret="not-the-secret")
    pages = browser()

    _refused(pages, _login(pages, provider))


def test_a_user_deactivated_in_virta_cannot_log_in(
        api: Api, db: Database, browser: Any, provider: Provider) -> None:
    provider.user = {"sub": "s-oili", "preferred_username": "oili", "groups": ["ps_jns"]}
    assert _login(browser(), provider).status_code == 303

    def deactivate(session: Any) -> None:
        session.scalar(select(User).where(User.username == "oili")).active = False
    db.unit_of_work(deactivate)
    pages = browser()

    _refused(pages, _login(pages, provider), "Virta-käyttäjätilisi on poistettu käytöstä.")


def test_a_virta_users_name_is_not_taken_over(api: Api, db: Database, browser: Any,
                                              provider: Provider) -> None:
    api.user("eija", ["admin"], [])
    provider.user = {"sub": "s-other", "preferred_username": "eija",
                     "groups": ["employer_services"]}
    pages = browser()

    _refused(pages, _login(pages, provider), "Ota yhteys pääkäyttäjään.")

    user, teams = _user(db, "eija")
    assert user.oidc_subject is None and teams == [] and user.roles == ["admin"]


def test_the_providers_refusal_goes_back_to_login(api: Api, browser: Any,
                                                  provider: Provider) -> None:
    pages = browser()
    to_provider = pages.client.get("/login/oidc")
    state = parse_qs(urlsplit(to_provider.headers["location"]).query)["state"][0]

    answer = pages.client.get(f"/login/oidc/callback?error=access_denied&state={state}")

    _refused(pages, answer)


def test_with_oidc_off_there_is_no_button_and_no_route(api: Api, browser: Any,
                                                       oidc_off: None) -> None:
    pages = browser()

    assert BUTTON not in pages.get("/login").text
    assert 'href="/login/oidc' not in pages.get("/login").text
    pages.get("/login/oidc", expect=404)
    pages.get("/login/oidc/callback?code=x&state=y", expect=404)
