"""OpenID Connect sign-in against a small fake identity provider on loopback.

The provider is real enough to catch mistakes: it publishes discovery and a
JWKS, insists on PKCE ``S256`` and checks the verifier at the token endpoint,
makes codes single-use, and signs ID tokens with RS256 using joserfc — a
different JOSE library from the PyJWT that Charter verifies with. Each test
bends one thing (nonce, audience, issuer, key, algorithm, e-mail
verification) and expects the sign-in to be refused without a session.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from tests.support.console import add_user
from tests.support.server import LiveServer, charter_env, free_port, live_server

from charter.web.oidc import pkce_challenge

CLIENT_ID = "charter-console"
MARIA = "maria.garcia@acme.example"


@dataclass
class FakeProvider:
    url: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: who signs in next, and how to bend the ID token
    email: str = MARIA
    claims: dict[str, Any] = field(default_factory=dict)
    sign: str = "good"  # good | other-key | hs256
    #: the RFC 9207 iss parameter on the authorization response: good | absent | another issuer
    iss: str = "good"
    pkce_checked: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": ["RS256", "HS256"],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if (
            q.get("response_type") != "code"
            or q.get("client_id") != CLIENT_ID
            or "openid" not in q.get("scope", "").split()
            or q.get("code_challenge_method") != "S256"
            or not q.get("code_challenge")
            or not q.get("state")
            or not q.get("nonce")
        ):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "challenge": q["code_challenge"],
            "redirect_uri": q["redirect_uri"],
            "nonce": q["nonce"],
        }
        response = {"code": code, "state": q["state"]}
        if self.iss != "absent":
            response["iss"] = self.url if self.iss == "good" else self.iss
        query = urlencode(response)
        return RedirectResponse(f"{q['redirect_uri']}?{query}", status_code=302)

    async def token(self, request: Request) -> Response:
        form = await request.form()
        grant = self.codes.pop(str(form.get("code")), None)  # single use
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("client_id") != CLIENT_ID
            or form.get("redirect_uri") != grant["redirect_uri"]
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if pkce_challenge(str(form.get("code_verifier"))) != grant["challenge"]:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "PKCE"}, status_code=400
            )
        self.pkce_checked += 1
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "user-123",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            "email": self.email,
            "email_verified": True,
            **self.claims,
        }
        claims = {k: v for k, v in claims.items() if v is not None}
        if self.sign == "other-key":
            other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, other)
        elif self.sign == "hs256":
            secret = OctKey.import_key(b"a-shared-secret-that-anyone-knows!")
            id_token = jwt.encode({"alg": "HS256", "kid": "k1"}, claims, secret)
        else:
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
        return JSONResponse(
            {"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        )


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    port = free_port()
    fake.url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake provider did not start"
        time.sleep(0.05)
    yield fake
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(
    provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("oidc")
    env = charter_env(
        home,
        CHARTER_OIDC_ISSUER=provider.url,
        CHARTER_OIDC_CLIENT_ID=CLIENT_ID,
        CHARTER_OIDC_NAME="Acme SSO",
    )
    with live_server(env) as running:
        add_user(running, MARIA, "owner", password=None)  # OpenID Connect only
        add_user(running, "priya.nair@acme.example", "owner")
        yield running


@pytest.fixture(autouse=True)
def _reset(provider: FakeProvider) -> None:
    provider.email, provider.claims, provider.sign = MARIA, {}, "good"
    provider.iss = "good"


def _flow(server: LiveServer, next_url: str = "/") -> tuple[httpx.Client, httpx.Response, str]:
    """Run the browser's part: start, visit the provider, come back. Returns the callback."""
    client = httpx.Client(base_url=server.url, timeout=30)
    start = client.get("/login/oidc", params={"next": next_url})
    assert start.status_code == 303
    authorize = start.headers["location"]
    at_provider = httpx.get(authorize, timeout=30)
    assert at_provider.status_code == 302, at_provider.text
    callback = at_provider.headers["location"]
    assert callback.startswith(server.url + "/login/oidc/callback?")
    return client, client.get(callback), callback


def _has_session(response: httpx.Response) -> bool:
    return "charter_session=" in response.headers.get("set-cookie", "")


def test_sign_in_with_the_provider(server: LiveServer, provider: FakeProvider) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        assert "Sign in with Acme SSO" in anonymous.get("/login").text
    start = httpx.get(server.url + "/login/oidc", params={"next": "/agents"})
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [server.url + "/login/oidc/callback"]
    checked = provider.pkce_checked
    client, response, callback = _flow(server, "/agents?state=active")
    assert provider.pkce_checked == checked + 1  # the provider verified our code_verifier
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/agents?state=active" and _has_session(response)
    home = client.get("/")
    assert home.status_code == 200 and MARIA in home.text
    # the callback is single-use: replaying it signs no one in
    replay = httpx.get(callback)
    assert replay.status_code == 401 and not _has_session(replay)
    assert "expired or was already used" in replay.text
    client.close()
    with server.client() as admin:
        events = admin.get("/v1/audit", params={"action": "console.sign_in"}).json()
        assert any(e["actor"] == MARIA and e["after"] == {"method": "oidc"} for e in events)


@pytest.mark.parametrize(
    ("bend", "message"),
    [
        ({"claims": {"nonce": "someone-elses-nonce"}}, "nonce"),
        ({"claims": {"aud": "another-client"}}, "Audience"),
        ({"claims": {"iss": "https://evil.example"}}, "issuer"),
        ({"claims": {"exp": int(time.time()) - 3600}}, "expired"),
        ({"claims": {"azp": "another-client"}}, "azp"),
        ({"claims": {"email_verified": False}}, "not verified"),
        ({"claims": {"email": None}}, "no e-mail"),
        ({"sign": "other-key"}, "not valid"),
        ({"sign": "hs256"}, "algorithm"),
        ({"email": "stranger@acme.example"}, "may not use Charter"),
        ({"iss": "https://evil.example"}, "iss parameter names another issuer"),
        ({"iss": "absent"}, "carries no iss parameter"),
    ],
)
def test_bad_id_tokens_are_refused(
    server: LiveServer, provider: FakeProvider, bend: dict[str, Any], message: str
) -> None:
    for key, value in bend.items():
        setattr(provider, key, value)
    client, response, _ = _flow(server)
    assert response.status_code == 401 and not _has_session(response)
    assert message in response.text
    assert client.get("/").status_code == 303  # still signed out
    client.close()


def test_provider_errors_and_forged_callbacks(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        denied = client.get("/login/oidc/callback", params={"error": "access_denied", "state": "x"})
        assert denied.status_code == 401 and "access_denied" in denied.text
        forged = client.get("/login/oidc/callback", params={"code": "c", "state": "forged"})
        assert forged.status_code == 401 and not _has_session(forged)
        hostile = client.get("/login/oidc", params={"next": "https://evil.example/"})
        assert hostile.status_code == 303  # next= is reduced to a local path (see unit tests)
