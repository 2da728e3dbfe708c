"""Logging in to the pages through the organisation's OpenID Connect provider (`VIRTA_OIDC_*`).

Authorization code flow with PKCE (S256), through Authlib's client (no Starlette
SessionMiddleware: Virta has its own sessions). `GET /login/oidc` sends the browser to the
provider; the flow's `state`, `nonce` and PKCE `code_verifier` wait meanwhile in a short-lived,
HttpOnly cookie signed with the platform's secret key. `GET /login/oidc/callback` checks the
state against that cookie, exchanges the code, and has Authlib validate the ID token: its
signature against the provider's JWKS, issuer, audience, expiry and nonce. The person then
becomes a Virta user (`engine.oidc`) and gets an ordinary page session, as at a password login.
Any failure goes back to /login with a message; the reason is logged, not shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import timedelta
from typing import Any

from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import DbDep
from api.pages.auth import _safe_next
from api.pages.routing import page_router
from api.pages.session import _secret, secure_cookies, start_session
from api.pages.templating import environment, redirect
from engine import accounts
from engine import oidc as oidc_users
from engine.errors import NotFound
from engine.settings import Settings, get_settings

log = logging.getLogger(__name__)
router = page_router()

#: The cookie that carries the flow from `/login/oidc` to its callback.
FLOW_COOKIE = "virta_oidc"
FLOW_PATH = "/login/oidc"
#: How long the person may take at the provider.
FLOW_SECONDS = 600
#: How long the provider's discovery document (and JWKS) is reused.
METADATA_SECONDS = 3600
#: Timeout of one request to the provider, in seconds.
PROVIDER_TIMEOUT = 10.0


def enabled(settings: Settings | None = None) -> bool:
    """Whether OIDC login is configured."""
    settings = settings or get_settings()
    return bool(settings.oidc_issuer and settings.oidc_client_id)


# The login page shows the provider's button only when this is true.
environment.globals["oidc_enabled"] = enabled


class _Provider(OAuth2Mixin, OpenIDMixin, BaseApp):  # type: ignore[misc]
    """Authlib's framework-neutral OAuth 2 / OpenID client, over `requests`."""

    client_cls = OAuth2Session


_providers: dict[tuple[Any, ...], tuple[_Provider, float]] = {}
_providers_lock = threading.Lock()


def _provider(settings: Settings) -> _Provider:
    key = (settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret,
           settings.oidc_scopes)
    with _providers_lock:
        cached = _providers.get(key)
        if cached is not None and time.monotonic() - cached[1] < METADATA_SECONDS:
            return cached[0]
    issuer = str(settings.oidc_issuer).rstrip("/")
    provider = _Provider(
        None, name="oidc", client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.oidc_scopes, "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic"
            if settings.oidc_client_secret else "none",
            "default_timeout": PROVIDER_TIMEOUT,
        })
    metadata = provider.load_server_metadata()
    if str(metadata.get("issuer", "")).rstrip("/") != issuer:
        raise ValueError(f"the discovery document names issuer {metadata.get('issuer')!r}, "
                         f"not {issuer!r}")
    with _providers_lock:
        _providers[key] = (provider, time.monotonic())
    return provider


def _callback_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + FLOW_PATH + "/callback"


def _signature(request: Request, payload: str) -> str:
    key = hashlib.sha256(f"virta-oidc-flow|{_secret(request)}".encode()).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _seal(request: Request, flow: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(flow).encode()).decode().rstrip("=")
    return f"{payload}.{_signature(request, payload)}"


def _unseal(request: Request, value: str | None) -> dict[str, Any] | None:
    """The flow of a cookie that this platform signed and that has not expired; else None."""
    if not value or "." not in value:
        return None
    payload, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(signature, _signature(request, payload)):
        return None
    try:
        flow = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if not isinstance(flow, dict) or not isinstance(flow.get("exp"), int | float) \
            or flow["exp"] < time.time():
        return None
    return flow


def _drop_flow(response: Response) -> None:
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, httponly=True, samesite="lax",
                           secure=secure_cookies())


def _failed(code: str = "oidc") -> Response:
    response = redirect(f"/login?error={code}")
    _drop_flow(response)
    return response


@router.get("/login/oidc", include_in_schema=False)
def start(request: Request, next: str | None = None) -> Response:  # noqa: A002
    """Send the browser to the provider's login."""
    settings = get_settings()
    if not enabled(settings):
        raise NotFound("OIDC login is not configured")
    try:
        provider = _provider(settings)
        auth = provider.create_authorization_url(_callback_url(settings))
    except Exception:
        log.exception("OIDC: could not start a login at %s", settings.oidc_issuer)
        return _failed()
    flow = {"state": auth["state"], "nonce": auth["nonce"],
            "code_verifier": auth["code_verifier"], "next": _safe_next(next),
            "exp": int(time.time()) + FLOW_SECONDS}
    response = RedirectResponse(auth["url"], status_code=302)
    # SameSite=Lax: the provider's redirect back is a top-level GET, which carries it.
    response.set_cookie(FLOW_COOKIE, _seal(request, flow), max_age=FLOW_SECONDS,
                        path=FLOW_PATH, httponly=True, samesite="lax", secure=secure_cookies())
    return response


def _identity(settings: Settings, claims: dict[str, Any]) -> oidc_users.Identity:
    username = claims.get(settings.oidc_username_claim)
    email = claims.get("email")
    return oidc_users.Identity(
        subject=str(claims["sub"]),
        username=username if isinstance(username, str) else "",
        groups=oidc_users.claim_values(claims.get(settings.oidc_groups_claim)),
        roles=oidc_users.claim_values(claims.get(settings.oidc_role_claim))
        if settings.oidc_role_claim else None,
        email=email if isinstance(email, str) and email else None,
    )


@router.get("/login/oidc/callback", include_in_schema=False)
def callback(request: Request, db: DbDep) -> Response:
    """The provider's answer: check it and start a page session."""
    settings = get_settings()
    if not enabled(settings):
        raise NotFound("OIDC login is not configured")
    params = request.query_params
    flow = _unseal(request, request.cookies.get(FLOW_COOKIE))
    if flow is None:
        log.warning("OIDC: callback without a valid flow cookie")
        return _failed()
    if params.get("error"):
        log.warning("OIDC: the provider answered %s: %s", params.get("error"),
                    params.get("error_description"))
        return _failed()
    state, code = params.get("state"), params.get("code")
    if not state or not code or not hmac.compare_digest(state, str(flow.get("state"))):
        log.warning("OIDC: the callback's state does not match the flow's")
        return _failed()
    try:
        provider = _provider(settings)
        token = provider.fetch_access_token(redirect_uri=_callback_url(settings), code=code,
                                            code_verifier=flow["code_verifier"])
        # Authlib checks the audience only when told to (else only `azp`): `aud` must name us.
        claims = provider.parse_id_token(token, nonce=flow["nonce"], claims_options={
            "iss": {"essential": True, "values": [provider.server_metadata["issuer"]]},
            "aud": {"essential": True, "values": [settings.oidc_client_id]},
            "sub": {"essential": True},
        })
        if claims is None:
            raise ValueError("the token answer has no ID token")
        identity = _identity(settings, dict(claims))
    except Exception:
        log.warning("OIDC: the code exchange or the ID token failed", exc_info=True)
        return _failed()
    ttl = timedelta(minutes=settings.token_ttl_minutes)

    def work(session: Session) -> str:
        user = oidc_users.login(session, identity)
        return accounts.issue_token(session, user, ttl)

    try:
        session_token = db.unit_of_work(work)
    except oidc_users.OidcRefused as refused:
        log.warning("OIDC: %s (subject %s) refused: %s", identity.username, identity.subject,
                    refused.reason)
        return _failed(f"oidc_{refused.reason}")
    response = redirect(_safe_next(flow.get("next")))
    _drop_flow(response)
    start_session(request, response, session_token, int(ttl.total_seconds()))
    return response
