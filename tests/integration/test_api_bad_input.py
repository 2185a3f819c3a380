"""Hostile input to a real ``charter serve``: a 4xx problem naming the limit, never a 500.

Deep JSON used to be a ``RecursionError`` (500, and the keep-alive connection
reset); an AuthZEN ``context`` 300 levels deep was a ``TypeError`` in the
encoder; a 64-bit offset overflowed SQLite; a SCIM ``emails`` that is not a
list was an ``AttributeError``.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.server import ROOT, LiveServer, charter_env, live_server

PROBLEM = "application/problem+json"
DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(charter_env(tmp_path_factory.mktemp("bad-input"))) as running:
        with running.client() as client:
            response = client.post(
                "/v1/people/import", content=(ROOT / "examples" / "people.json").read_bytes()
            )
            assert response.status_code == 200, response.text
        yield running


def _connection(server: LiveServer) -> http.client.HTTPConnection:
    host, port = server.url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=30)


def _send(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None,
    secret: str,
    content_type: str = "application/json",
) -> tuple[int, str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": content_type}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    text = response.read()
    return response.status, response.getheader("content-type") or "", json.loads(text)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/agents", "application/json"),
        ("/v1/people/import", "application/json"),
        ("/v1/people/import", "application/scim+json"),
        ("/v1/agents/anything/suspend", ""),  # no content type: FastAPI parses it as JSON
    ],
)
def test_100000_deep_json_is_400_and_the_connection_still_serves(
    server: LiveServer, path: str, content_type: str
) -> None:
    connection = _connection(server)
    try:
        status, media, body = _send(
            connection, "POST", path, DEEP, server.admin_token, content_type
        )
        assert status == 400, body
        assert media == PROBLEM
        assert "deeper than 64 levels" in body["detail"]
        socket_before = connection.sock
        status, _, body = _send(connection, "GET", "/v1/agents", None, server.admin_token)
        assert status == 200, body
        assert connection.sock is socket_before  # same keep-alive connection, not reset
    finally:
        connection.close()


def test_deep_yaml_charter_is_400_naming_the_limit(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post(
            "/v1/agents",
            content=b"name: " + DEEP,
            headers={"content-type": "application/yaml"},
        )
        assert response.status_code == 400, response.text
        assert "deeper than 64 levels" in response.json()["detail"]


def test_a_charter_with_a_duplicate_key_is_refused_over_http(server: LiveServer) -> None:
    text = (ROOT / "examples" / "agents" / "support-summarizer.yaml").read_text()
    with server.client() as client:
        response = client.post(
            "/v1/agents",
            content=text + "\nowner: mallory@acme.example\n",
            headers={"content-type": "application/yaml"},
        )
        assert response.status_code == 422, response.text
        assert "key 'owner' appears twice" in response.json()["detail"]
        assert client.get("/v1/agents/support-summarizer").status_code == 404  # nothing written


def _context(depth: int) -> str:
    """An object ``depth`` levels deep, as text (the stdlib encoder recurses too)."""
    return '{"deep":' + '{"a":' * (depth - 1) + "1" + "}" * depth


def _evaluation(subject_properties: str | None = None, context: str | None = None) -> str:
    properties = f', "properties": {subject_properties}' if subject_properties else ""
    text = '{"subject": {"type": "agent", "id": "code-reviewer"' + properties + "}, "
    text += '"action": {"name": "github.pulls.read"}, '
    text += '"resource": {"type": "github", "id": "acme/platform-api"}'
    return text + (f', "context": {context}' if context else "") + "}"


@pytest.mark.parametrize("depth", [65, 300, 1_000])
def test_authzen_context_nested_deep_is_400_naming_the_limit(
    server: LiveServer, depth: int
) -> None:
    item = _evaluation(context=_context(depth))
    with server.client() as client:
        response = client.post("/access/v1/evaluation", content=item)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == PROBLEM
        assert "deeper than 64 levels" in response.json()["detail"]
        batch = client.post("/access/v1/evaluations", content='{"evaluations": [' + item + "]}")
        assert batch.status_code == 200
        error = batch.json()["evaluations"][0]
        assert error["decision"] is False
        assert "deeper than 64 levels" in error["context"]["error"]["message"]
        deep = client.post("/access/v1/evaluation", content=DEEP)
        assert deep.status_code == 400 and deep.headers["content-type"] == PROBLEM


def test_subject_properties_count_toward_the_context_limits(server: LiveServer) -> None:
    with server.client() as client:
        response = client.post(
            "/access/v1/evaluation", content=_evaluation(subject_properties=_context(300))
        )
        assert response.status_code == 400, response.text
        assert "deeper than 64 levels" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/agents", "offset"),
        ("/v1/people", "offset"),
        ("/v1/findings", "offset"),
        ("/v1/identities", "offset"),
        ("/v1/credentials", "offset"),
        ("/v1/audit", "after_seq"),
    ],
)
def test_a_64_bit_offset_is_422_naming_the_parameter(
    server: LiveServer, path: str, parameter: str
) -> None:
    with server.client() as client:
        response = client.get(path, params={parameter: str(2**63)})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["field"].endswith(parameter)
        largest = 2**31 - 1 if parameter == "offset" else 2**63 - 1
        assert client.get(path, params={parameter: str(largest)}).status_code == 200


def test_malformed_scim_is_a_problem_naming_the_field(server: LiveServer) -> None:
    body = {"Resources": [{"userName": "eve@acme.example", "emails": "notalist"}]}
    with server.client() as client:
        response = client.post(
            "/v1/people/import", json=body, headers={"content-type": "application/scim+json"}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["field"] == "Resources[0].emails"
        assert client.get("/v1/people/eve@acme.example").status_code == 404


def test_unknown_people_fields_are_refused_unless_allowed_then_named(server: LiveServer) -> None:
    body = [{"email": "mallory@acme.example", "name": "Mallory", "isAdmin": True}]
    with server.client() as client:
        refused = client.post("/v1/people/import", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "isAdmin"
        assert "unknown field(s) isAdmin" in refused.json()["detail"]
        assert client.get("/v1/people/mallory@acme.example").status_code == 404
        allowed = client.post("/v1/people/import", json=body, params={"allow_unknown": "true"})
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["created"] == 1
        assert allowed.json()["warnings"] == ["the request body: ignored unknown field(s) isAdmin"]


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_unknown_methods_are_405_with_allow_not_a_sign_in_prompt(
    server: LiveServer, method: str
) -> None:
    with server.anonymous_client() as client:
        response = client.request(method, "/v1/agents")
        assert response.status_code == 405, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["allow"] == "GET, POST"
        assert client.request(method, "/access/v1/evaluation").headers["allow"] == "POST"


def test_the_openapi_document_states_the_problem_statuses(server: LiveServer) -> None:
    with server.anonymous_client() as client:
        document = client.get("/openapi.json").json()
    agents = document["paths"]["/v1/agents"]["post"]["responses"]
    for status in ("400", "401", "403", "404", "409", "413", "422"):
        assert PROBLEM in agents[status]["content"], status
    assert "application/json" not in agents["422"]["content"]  # FastAPI's shape is not ours
    evaluation = document["paths"]["/access/v1/evaluation"]["post"]["responses"]
    assert {"400", "401", "413"} <= set(evaluation)
    token = document["paths"]["/oauth/token"]["post"]["responses"]
    assert "application/json" in token["400"]["content"]  # RFC 6749 §5.2 errors
    jwks = document["paths"]["/.well-known/jwks.json"]["get"]["responses"]["200"]["content"]
    assert list(jwks) == ["application/jwk-set+json"]
