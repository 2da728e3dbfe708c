"""A minimal, real OpenID Connect provider for the tests, on a free local port.

No PyPI mock fits: `oidc-provider-mock` needs Python 3.12 from 0.4 on, and no mock lets a test
issue an ID token for another audience or with another nonce. This one is built on the standard
library's HTTP server and the JOSE tools that Authlib uses (joserfc): a discovery document, a
JWKS, an authorization endpoint that approves `user` at once (no login form), and a token
endpoint that checks the client's secret, the code's redirect URI and the PKCE verifier (S256)
before it issues an RS256-signed ID token. `id_token_changes` alters the next ID tokens (another
`aud`, `nonce`, `exp`...); `sign_with` signs them with a key that the JWKS does not hold.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


class Provider:
    """The provider's state; `url` is its issuer."""

    def __init__(self, client_id: str = "virta", client_secret: str = "virta-secret") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        self.user: dict[str, Any] = {"sub": "subject-1", "preferred_username": "oili"}
        self.id_token_changes: dict[str, Any] = {}
        self.sign_with: RSAKey | None = None
        self.codes: dict[str, dict[str, Any]] = {}
        #: The query of every authorization request, for the tests to look at.
        self.authorize_requests: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        }

    def jwks(self) -> dict[str, Any]:
        return KeySet([self.key]).as_dict(private=False)

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        self.authorize_requests.append(query)
        if query.get("client_id") != self.client_id or query.get("response_type") != "code" \
                or "openid" not in query.get("scope", "").split() \
                or query.get("code_challenge_method") != "S256" \
                or not query.get("code_challenge") or not query.get("redirect_uri"):
            return 400, {}, {"error": "invalid_request"}
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"redirect_uri": query["redirect_uri"], "nonce": query.get("nonce"),
                            "challenge": query["code_challenge"], "user": dict(self.user)}
        answer = {"code": code}
        if "state" in query:
            answer["state"] = query["state"]
        return 302, {"Location": f"{query['redirect_uri']}?{urlencode(answer)}"}, None

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, Any]:
        if not authorization or not authorization.startswith("Basic "):
            return 401, {"error": "invalid_client"}
        client = base64.b64decode(authorization[6:]).decode()
        if client != f"{self.client_id}:{self.client_secret}":
            return 401, {"error": "invalid_client"}
        grant = self.codes.pop(form.get("code", ""), None)
        if form.get("grant_type") != "authorization_code" or grant is None \
                or form.get("redirect_uri") != grant["redirect_uri"]:
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if challenge.decode().rstrip("=") != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        now = int(time.time())
        claims = {**grant["user"], "iss": self.url, "aud": self.client_id, "iat": now,
                  "exp": now + 300}
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        claims.update(self.id_token_changes)
        key = self.sign_with or self.key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                     "expires_in": 300, "id_token": id_token}


def _handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _answer(self, status: int, body: Any = None,
                    headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/.well-known/openid-configuration":
                self._answer(200, provider.discovery())
            elif url.path == "/jwks":
                self._answer(200, provider.jwks())
            elif url.path == "/authorize":
                status, headers, body = provider.authorize(query)
                self._answer(status, body, headers)
            else:
                self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path == "/token":
                status, body = provider.token(form, self.headers.get("Authorization"))
                self._answer(status, body)
            else:
                self._answer(404, {"error": "not_found"})

    return Handler
