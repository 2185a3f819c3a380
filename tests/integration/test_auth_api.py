"""Sign-in and authorization end to end against a real ``charter serve`` process.

The management API needs a session or a personal API token; AuthZEN needs a
PEP key; owners see only their own agents; auditors change nothing; every
write names the person in the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.support.console import add_user, api_token, csrf_of, sign_in
from tests.support.server import (
    ROOT,
    TEST_ADMIN_EMAIL,
    LiveServer,
    charter_env,
    live_server,
    run_cli,
)

from charter.config import Settings
from charter.services.auth import MAX_FAILURES_PER_ACCOUNT
from charter.services.context import Services

AGENTS = ROOT / "examples" / "agents"
MARIA = "maria.garcia@acme.example"  # owns support-summarizer
PRIYA = "priya.nair@acme.example"  # owns finance-reconciler
AUDITOR = "audrey.auditor@acme.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("auth-api")
    with live_server(charter_env(home)) as running:
        with running.client() as client:
            people = (ROOT / "examples" / "people.json").read_bytes()
            assert client.post("/v1/people/import", content=people).status_code == 200
            for file in ("support-summarizer.yaml", "finance-reconciler.yaml"):
                response = client.post(
                    "/v1/agents",
                    content=(AGENTS / file).read_bytes(),
                    headers={"content-type": "application/yaml"},
                )
                assert response.status_code == 201, response.text
        for email, role in ((MARIA, "owner"), (PRIYA, "owner"), (AUDITOR, "auditor")):
            add_user(running, email, role)
        yield running


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_anonymous_callers_are_refused_or_sent_to_sign_in(server: LiveServer) -> None:
    with server.anonymous_client() as client:
        response = client.get("/v1/agents")
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="charter"'
        assert response.headers["content-type"] == "application/problem+json"
        assert (
            client.post("/v1/agents/support-summarizer/suspend", json={"reason": "x"}).status_code
            == 401
        )
        bad = client.get("/v1/agents", headers=_bearer("chpat_forged"))
        assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
        assert client.post("/access/v1/evaluation", json={}).status_code == 401
        for path in ("/healthz", "/openapi.json", "/docs", "/login"):
            assert client.get(path).status_code == 200, path
        for path in ("/", "/agents", "/audit?actor=x", "/no-such-page"):
            page = client.get(path)
            assert page.status_code == 303, path
            assert page.headers["location"].startswith("/login?next=%2F"), path


def test_pep_keys_open_authzen_and_nothing_else(server: LiveServer) -> None:
    with server.anonymous_client() as client:
        response = client.post("/access/v1/evaluation", json={}, headers=_bearer(server.pep_key))
        assert response.status_code != 401  # past authentication (the PDP judges the body)
        assert client.get("/v1/agents", headers=_bearer(server.pep_key)).status_code == 401
        # and an admin's API token is not a PEP key
        denied = client.post("/access/v1/evaluation", json={}, headers=_bearer(server.admin_token))
        assert denied.status_code == 401


def test_owners_see_and_change_only_their_own_agents(server: LiveServer) -> None:
    maria = api_token(server, MARIA, cli=True)
    with server.anonymous_client(headers=_bearer(maria)) as client:
        page = client.get("/v1/agents").json()
        assert [a["name"] for a in page["items"]] == ["support-summarizer"]
        assert client.get("/v1/agents", params={"owner": PRIYA}).status_code == 403
        # another owner's agent is indistinguishable from a missing one
        theirs = client.get("/v1/agents/finance-reconciler")
        missing = client.get("/v1/agents/no-such-agent")
        assert theirs.status_code == missing.status_code == 404
        for path in ("/v1/agents/finance-reconciler/versions",):
            assert client.get(path).status_code == 404
        refused = client.post("/v1/agents/finance-reconciler/suspend", json={"reason": "mine?"})
        assert refused.status_code == 404
        transfer = client.post("/v1/agents/finance-reconciler/transfer", json={"to": MARIA})
        assert transfer.status_code == 404
        charter = (AGENTS / "code-reviewer.yaml").read_bytes()  # owned by jonas
        register = client.post(
            "/v1/agents", content=charter, headers={"content-type": "application/yaml"}
        )
        assert register.status_code == 403 and register.json()["field"] == "owner"
        assert client.get("/v1/audit").status_code == 403  # not scoped by owner: closed
        assert client.get("/v1/identities").status_code == 403
        assert client.get("/v1/findings").status_code == 200  # scoped by the governance router
        assert client.post("/v1/findings/evaluate").status_code == 403
        assert client.get("/v1/people").status_code == 200
        assert client.post("/v1/people/import", content=b"[]").status_code == 403
        # approving their own agent is an admin's job
        approve = client.post("/v1/agents/support-summarizer/activate", json={"reason": "go"})
        assert approve.status_code == 403
    with server.client() as admin:
        assert (
            admin.post(
                "/v1/agents/support-summarizer/activate", json={"reason": "approved"}
            ).status_code
            == 200
        )
    with server.anonymous_client(headers=_bearer(maria)) as client:
        # their own agent: allowed, and the audit log names the person
        mine = client.post("/v1/agents/support-summarizer/suspend", json={"reason": "pause"})
        assert mine.status_code == 200, mine.text
    with server.client() as admin:
        events = admin.get("/v1/audit", params={"target": "support-summarizer"}).json()
        assert events[0]["action"] == "agent.suspend" and events[0]["actor"] == MARIA
        assert admin.get("/v1/agents/finance-reconciler").json()["state"] == "proposed"


def test_auditors_read_but_change_nothing(server: LiveServer) -> None:
    token = api_token(server, AUDITOR)
    with server.anonymous_client(headers=_bearer(token)) as client:
        assert client.get("/v1/agents").json()["total"] == 2
        assert client.get("/v1/audit/verify").json()["ok"] is True
        before = len(client.get("/v1/audit", params={"limit": 1000}).json())
        writes = [
            client.post("/v1/agents/finance-reconciler/suspend", json={"reason": "x"}),
            client.post("/v1/agents/finance-reconciler/transfer", json={"to": MARIA}),
            client.put("/v1/agents/finance-reconciler/charter", content=b"{}"),
            client.post("/v1/people/import", content=b"[]"),
            client.post("/v1/agents", content=b"{}"),
        ]
        assert [w.status_code for w in writes] == [403] * len(writes)
        assert len(client.get("/v1/audit", params={"limit": 1000}).json()) == before


def test_revoked_token_stops_working_within_a_second(server: LiveServer) -> None:
    services = Services.from_settings(Settings.from_env(server.env))
    try:
        issued = services.auth.keys.create_api_token(
            TEST_ADMIN_EMAIL, name="short", expires_in=None, actor="test"
        )
    finally:
        services.close()
    with server.anonymous_client(headers=_bearer(issued.secret)) as client:
        assert client.get("/v1/agents").status_code == 200
        # revoked by another process (the CLI): the server notices within a second
        assert run_cli("api-tokens", "revoke", issued.token.id, env=server.env).returncode == 0
        time.sleep(1.2)
        assert client.get("/v1/agents").status_code == 401
    listed = run_cli("api-tokens", "list", "--json", env=server.env)
    assert "chpat_" not in listed.stdout  # secrets are never shown again


def test_users_add_prompts_for_the_password(server: LiveServer) -> None:
    result = run_cli(
        "users",
        "add",
        "noah.smith@acme.example",
        "--role",
        "owner",
        env=server.env,
        input_text="prompted-password-1\nprompted-password-1\n",
    )
    assert result.returncode == 0, result.stderr
    client = sign_in(server, "noah.smith@acme.example", "prompted-password-1")
    assert client.get("/").status_code == 200
    client.close()
    bad = run_cli(
        "users", "add", "x@acme.example", "--role", "root", "--password", "p" * 12, env=server.env
    )
    assert bad.returncode == 2 and "role" in bad.stderr
    listed = run_cli("users", "list", "--json", env=server.env)
    assert "noah.smith@acme.example" in listed.stdout and "argon2" not in listed.stdout


def test_console_session_cookie_and_csrf(server: LiveServer) -> None:
    with server.anonymous_client() as client:
        page = client.get("/login")
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        response = client.post(
            "/login",
            data={"email": MARIA, "password": "pass-word-12345", "csrf_token": "forged"},
        )
        assert response.status_code == 403  # login CSRF: the form's token must match its cookie
        response = client.post(
            "/login",
            data={
                "email": MARIA,
                "password": "pass-word-12345",
                "csrf_token": csrf_of(page.text),
                "next": "/agents",
            },
        )
        assert response.status_code == 303 and response.headers["location"] == "/agents"
        cookie = next(
            v
            for k, v in response.headers.multi_items()
            if k == "set-cookie" and v.startswith("charter_session=")
        )
        attributes = {part.strip().lower() for part in cookie.split(";")}
        assert {"httponly", "samesite=lax", "path=/"} <= attributes
        assert "secure" not in attributes  # plain http on loopback; https sets Secure
        home = client.get("/")
        assert home.status_code == 200 and home.headers["cache-control"] == "no-store"
        csrf = csrf_of(home.text)
        # cookie-authenticated API writes need the CSRF header and our own origin
        path = "/v1/agents/support-summarizer/suspend"
        assert client.post(path, json={"reason": "x"}).status_code == 403
        assert (
            client.post(path, json={"reason": "x"}, headers={"x-csrf-token": "forged"}).status_code
            == 403
        )
        foreign = client.post(
            path,
            json={"reason": "x"},
            headers={"x-csrf-token": csrf, "origin": "http://evil.example"},
        )
        assert foreign.status_code == 403
        assert client.get("/v1/agents").json()["total"] == 1  # reads need no token
        # sign out needs the token too; then the session is gone
        assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
        assert client.get("/").status_code == 303
        assert client.get("/v1/agents").status_code == 401


def test_sign_in_attempts_are_limited_in_the_store(server: LiveServer) -> None:
    add_user(server, "fatima.haddad@acme.example", "owner", "fatimas-password-1")
    # failures counted by another process (this one) are honoured by the server
    services = Services.from_settings(Settings.from_env(server.env))
    try:
        for _ in range(MAX_FAILURES_PER_ACCOUNT):
            with pytest.raises(Exception, match="wrong e-mail or password"):
                services.auth.sign_in(
                    "fatima.haddad@acme.example", "guess-guess-guess", client="198.51.100.7"
                )
    finally:
        services.close()
    with server.anonymous_client() as client:
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "email": "fatima.haddad@acme.example",
                "password": "fatimas-password-1",
                "csrf_token": csrf_of(page.text),
            },
        )
        assert response.status_code == 429
        assert int(response.headers["retry-after"]) > 0
        assert "too many sign-in attempts" in response.text
        assert "charter_session" not in response.headers.get("set-cookie", "")


def test_responses_carry_hardening_headers(server: LiveServer) -> None:
    with server.client() as client:
        api = client.get("/v1/agents")
        assert api.headers["x-content-type-options"] == "nosniff"
        assert api.headers["x-frame-options"] == "DENY"
        assert api.headers["cache-control"] == "no-store"
        static = client.get("/static/console.css")
        assert static.status_code == 200 and "no-store" not in static.headers["cache-control"]
        assert client.get("/static/..%2Fforms.py").status_code == 404
        assert httpx.get(server.url + "/healthz").headers["x-content-type-options"] == "nosniff"
