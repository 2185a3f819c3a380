"""The REST API end to end against a real ``charter serve`` process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.server import ROOT, TEST_ADMIN_EMAIL, LiveServer, charter_env, live_server

AGENTS = ROOT / "examples" / "agents"
PROBLEM = "application/problem+json"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    env = charter_env(tmp_path, database_url if "postgresql" in database_url else None)
    with live_server(env) as running:
        with running.client() as client:
            response = client.post(
                "/v1/people/import",
                content=(ROOT / "examples" / "people.json").read_bytes(),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["created"] >= 10
        yield running


def _register(client, file: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/agents",
        content=(AGENTS / file).read_bytes(),
        headers={"content-type": "application/yaml"},
    )


def test_agent_lifecycle_over_http(server: LiveServer) -> None:
    with server.client() as client:
        response = _register(client, "support-summarizer.yaml")
        assert response.status_code == 201, response.text
        assert response.json()["state"] == "proposed"
        response = client.post(
            "/v1/agents/support-summarizer/activate", json={"reason": "approved"}
        )
        assert response.status_code == 200 and response.json()["state"] == "active"
        page = client.get("/v1/agents", params={"state": "active"}).json()
        assert page["total"] == 1 and page["items"][0]["name"] == "support-summarizer"
        charter = client.get("/v1/agents/support-summarizer").json()["charter"]
        charter["purpose"] = "Summarise tickets for the support team, weekly."
        response = client.put(
            "/v1/agents/support-summarizer/charter", json=charter, params={"reason": "weekly now"}
        )
        assert response.status_code == 200 and response.json()["charter_version"] == 2
        versions = client.get("/v1/agents/support-summarizer/versions").json()
        assert [v["version"] for v in versions] == [1, 2]
        assert "+purpose: Summarise tickets for the support team, weekly." in versions[1]["diff"]
        response = client.post(
            "/v1/agents/support-summarizer/transfer", json={"to": "li.wei@acme.example"}
        )
        assert response.status_code == 200 and response.json()["owner"] == "li.wei@acme.example"
        events = client.get("/v1/audit", params={"target": "support-summarizer"}).json()
        assert [e["action"] for e in events] == [
            "agent.transfer",
            "agent.update",
            "agent.activate",
            "agent.register",
        ]
        assert events[0]["actor"] == TEST_ADMIN_EMAIL  # the signed-in person
        chain = client.get("/v1/audit/verify").json()
        assert chain["ok"] is True and chain["keyed_from"] == 1 and chain["links_checked"] is True
        assert client.get("/v1/people/maria.garcia@acme.example").json()["groups"] == [
            "support",
            "support-leads",
        ]


def test_errors_are_problem_details_and_change_nothing(server: LiveServer) -> None:
    with server.client() as client:
        before = len(client.get("/v1/audit", params={"limit": 1000}).json())
        cases = [
            (
                client.post(
                    "/v1/agents",
                    content=b"name: x\npurpose: summarise\n",
                    headers={"content-type": "application/yaml"},
                ),
                422,
                "owner",
            ),
            (
                client.post(
                    "/v1/agents",
                    json={
                        "name": "x",
                        "owner": "maria.garcia@acme.example",
                        "purpose": "summarise tickets",
                        "allow": [{"action": "a b"}],
                    },
                ),
                422,
                "allow[0].action",
            ),
            (
                client.post(
                    "/v1/agents",
                    content=b"a: &a [1]\nb: *a\n",
                    headers={"content-type": "application/yaml"},
                ),
                422,
                "file",
            ),
            (
                client.post(
                    "/v1/agents",
                    content=b"x" * (2 * 1024 * 1024),
                    headers={"content-type": "application/yaml"},
                ),
                413,
                "body",
            ),
            (client.get("/v1/agents/nope"), 404, "name"),
            (client.post("/v1/agents/nope/suspend", json={"reason": "x"}), 404, "name"),
            (client.post("/v1/agents/nope/suspend", json={}), 422, "reason"),
            (client.get("/v1/agents", params={"limit": 0}), 422, "limit"),
            (
                client.post(
                    "/v1/people/import",
                    content=b'[{"email": "bad", "name": "B"}]',
                    headers={"content-type": "application/json"},
                ),
                422,
                "[0].email",
            ),
        ]
        for response, status, field in cases:
            assert response.status_code == status, (response.status_code, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
            body = response.json()
            assert body["status"] == status and body["detail"]
            assert field in (body.get("field") or ""), body
        assert _register(client, "code-reviewer.yaml").status_code == 201
        duplicate = _register(client, "code-reviewer.yaml")
        assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"
        response = client.post("/v1/agents/code-reviewer/resume", json={"reason": "x"})
        assert response.status_code == 409 and "proposed" in response.json()["detail"]
        huge = client.post(
            "/v1/people/import",
            content=b"[" + b" " * (17 * 1024 * 1024) + b"]",
            headers={"content-type": "application/json"},
        )
        assert huge.status_code == 413
        after = len(client.get("/v1/audit", params={"limit": 1000}).json())
        assert after == before + 1  # only the one successful registration


def test_openapi_is_served(server: LiveServer) -> None:
    with server.client() as client:
        spec = client.get("/openapi.json").json()
        assert "/v1/agents" in spec["paths"] and "/v1/audit/verify" in spec["paths"]
        assert client.get("/docs").status_code == 200
