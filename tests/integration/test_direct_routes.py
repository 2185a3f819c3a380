"""The endpoints answered without FastAPI's router (``http/direct.py``) keep every check
the middleware in front of them makes, against a real ``charter serve``: sign-in, the
request id, hardening headers, the body limit; and only their exact method and path
skip the router."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.testclient import TestClient
from tests.support.server import LiveServer, charter_env, live_server

from charter.api import authzen, oauth
from charter.errors import NotFound
from charter.http.direct import DirectRoutes
from charter.server import direct_routes

EVALUATION = {
    "subject": {"type": "agent", "id": "nobody"},
    "action": {"name": "read"},
    "resource": {"type": "github", "id": "acme/api"},
}
DECISION_PATHS = ("/access/v1/evaluation", "/access/v1/evaluations")
HARDENING = {"x-content-type-options": "nosniff", "cache-control": "no-store"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(charter_env(tmp_path_factory.mktemp("direct"))) as running:
        yield running


def _hardened(headers: Any) -> None:
    for name, value in HARDENING.items():
        assert headers.get(name) == value, name
    assert headers.get("x-frame-options") == "DENY"


@pytest.mark.parametrize("path", DECISION_PATHS)
def test_decisions_still_need_a_pep_key(server: LiveServer, path: str) -> None:
    with server.anonymous_client() as client:
        anonymous = client.post(path, json=EVALUATION, headers={"X-Request-ID": "r-anon"})
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="charter"'
        assert anonymous.headers["x-request-id"] == "r-anon"
        assert anonymous.headers["content-type"] == "application/problem+json"
        _hardened(anonymous.headers)
        # an admin's API token is not a PEP key, and a wrong key is no key
        for secret in (server.admin_token, server.pep_key + "x", "chpep_forged"):
            refused = client.post(
                path, json=EVALUATION, headers={"Authorization": f"Bearer {secret}"}
            )
            assert refused.status_code == 401, secret
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
            assert "decision" not in refused.json()


@pytest.mark.parametrize("path", DECISION_PATHS)
def test_a_pep_key_gets_a_decision_with_its_request_id_and_hardening(
    server: LiveServer, path: str
) -> None:
    with server.client() as client:
        answer = client.post(path, json=EVALUATION, headers={"X-Request-ID": "r-42"})
    assert answer.status_code == 200
    assert answer.headers["x-request-id"] == "r-42"
    assert answer.headers["content-type"] == "application/json"
    _hardened(answer.headers)
    assert answer.json()["decision"] is False  # an unknown agent is a deny, never an allow


def _declared_huge(server: LiveServer, path: str) -> bytes:
    """The status line for a request declaring a 17 MiB body (none is sent)."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {server.pep_key}"
            f"\r\nContent-Type: application/json\r\nContent-Length: {17 * 1024 * 1024}"
            "\r\n\r\n".encode()
        )
        return conn.recv(65536).split(b"\r\n", 1)[0]


def test_the_body_limit_and_bad_input_still_apply(server: LiveServer) -> None:
    for path in (*DECISION_PATHS, "/oauth/token"):
        assert _declared_huge(server, path) == b"HTTP/1.1 413 Request Entity Too Large", path
    with server.client() as client:
        bad = client.post(
            "/access/v1/evaluation", content=b"{not json", headers={"X-Request-ID": "b"}
        )
        assert bad.status_code == 400 and bad.headers["x-request-id"] == "b"
        token = client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_request"
    assert token.headers["cache-control"] == "no-store"
    assert token.headers["x-content-type-options"] == "nosniff"


def test_only_the_exact_method_and_path_skip_the_router(server: LiveServer) -> None:
    with server.client() as client:
        assert client.get("/access/v1/evaluation").status_code == 405
        assert client.request("TRACE", "/access/v1/evaluation").status_code == 405
        assert client.get("/oauth/token").status_code == 405
        assert client.post("/access/v1/evaluation/", json=EVALUATION).status_code in (307, 404)
    with server.anonymous_client() as client:
        # the trailing-slash variant is still behind the PEP key, not answered openly
        assert client.post("/access/v1/evaluation/", json=EVALUATION).status_code == 401


def test_every_direct_route_is_also_a_routed_one_with_the_same_endpoint() -> None:
    """The OpenAPI document describes them from FastAPI's routes: keep the two in step."""
    routed = {
        (method, route.path): route.endpoint
        for route in _routes()
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    for key, endpoint in direct_routes().items():
        assert routed.get(key) is endpoint, key


def _routes() -> list[Any]:
    return [*authzen.router.routes, *oauth.router.routes]


async def _raises_not_found(request: Any) -> Any:
    raise NotFound("no such thing", field="name")


async def _raises_other(request: Any) -> Any:
    raise RuntimeError("boom")


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": [(b"x-inner", b"1")]})
    await send({"type": "http.response.body", "body": b""})


def test_a_charter_error_is_a_problem_document_and_anything_else_is_not_swallowed() -> None:
    app = DirectRoutes(
        _inner, routes={("POST", "/found"): _raises_not_found, ("POST", "/boom"): _raises_other}
    )
    client = TestClient(app, raise_server_exceptions=True)
    refused = client.post("/found")
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "no such thing" and refused.json()["field"] == "name"
    with pytest.raises(RuntimeError, match="boom"):
        client.post("/boom")
    passed = client.get("/found")  # another method: the inner app answers
    assert passed.status_code == 204 and passed.headers["x-inner"] == "1"
