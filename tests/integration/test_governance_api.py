"""The governance API against a real ``charter serve`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.server import ROOT, LiveServer, charter_env, live_server

from charter.config import Settings
from charter.services.auth import UserRole
from charter.services.context import Services

PROBLEM = "application/problem+json"
MARIA = "maria.garcia@acme.example"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    env = charter_env(tmp_path, database_url if "postgresql" in database_url else None)
    with live_server(env) as running, running.client() as client:
        people = client.post(
            "/v1/people/import",
            content=(ROOT / "examples" / "people.json").read_bytes(),
            headers={"content-type": "application/json"},
        )
        assert people.status_code == 200, people.text
        for name in ("support-summarizer", "release-notes-writer"):
            body = (ROOT / "examples" / "agents" / f"{name}.yaml").read_bytes()
            response = client.post(
                "/v1/agents", content=body, headers={"content-type": "application/yaml"}
            )
            assert response.status_code == 201, response.text
        activated = client.post(
            "/v1/agents/support-summarizer/activate", json={"reason": "approved"}
        )
        assert activated.status_code == 200, activated.text
        yield running


def _token(server: LiveServer, email: str) -> str:
    """A console owner with an API token, created in the server's store."""
    services = Services.from_settings(Settings.from_env(server.env))
    try:
        services.auth.add_user(email, role=UserRole.OWNER, password=None, actor="test:setup")
        keys = services.auth.keys
        return keys.create_api_token(email, name="t", expires_in=None, actor="test:setup").secret
    finally:
        services.close()


def test_governance_over_http(server: LiveServer) -> None:
    with server.client() as client:
        listing = client.get("/v1/findings").json()
        assert listing["evaluation"]["evaluated"] is True
        departed = [f for f in listing["items"] if f["rule"] == "agent-owner-departed"]
        assert [f["entity"]["name"] for f in departed] == ["release-notes-writer"]
        finding = departed[0]
        assert finding["owasp"] == ["NHI1"] and finding["suggestion"] == {
            "new_owner": "ada.osei@acme.example"
        }
        assert client.get("/v1/findings").json()["evaluation"] is None  # current: no re-run
        (posture,) = client.get("/v1/posture", params={"by": "owner"}).json()
        assert posture["key"] == "tom.keller@acme.example" and posture["score"] == 10
        assert posture["explanation"] == [
            "agent-owner-departed: 1 finding(s), worst high → 10 points"
        ]

        acked = client.post(f"/v1/findings/{finding['id']}/acknowledge", json={"reason": "known"})
        assert acked.status_code == 200 and acked.json()["status"] == "acknowledged"
        bad = client.post(f"/v1/findings/{finding['id']}/suppress", json={"reason": "x"})
        assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
        assert bad.json()["field"] == "until"
        suppressed = client.post(
            f"/v1/findings/{finding['id']}/suppress", json={"reason": "handover", "for": "14d"}
        )
        assert suppressed.json()["status"] == "suppressed"
        missing = client.get("/v1/findings/0000000000000000")
        assert missing.status_code == 404 and missing.json()["field"] == "id"

        sarif = client.get("/v1/findings", params={"format": "sarif", "status": "suppressed"})
        assert sarif.json()["runs"][0]["results"][0]["suppressions"][0]["justification"] == (
            "handover"
        )
        ocsf = client.get("/v1/findings", params={"format": "ocsf", "status": "suppressed"}).json()
        assert ocsf[0]["class_uid"] == 2004 and ocsf[0]["status_id"] == 3
        assert len(client.get("/v1/findings/rules").json()) >= 18

        plan = client.post(
            "/v1/reviews", params={"plan": "true"}, json={"scope": "agent:support-summarizer"}
        )
        assert plan.status_code == 201 and plan.json()["items"][0]["reviewer"] == MARIA
        assert client.get("/v1/reviews").json() == []
        campaign = client.post(
            "/v1/reviews", json={"scope": "agent:support-summarizer", "due": "7d"}
        ).json()
        path = f"/v1/reviews/{campaign['id']}/items/support-summarizer"
        shown = client.post(path, json={"decision": "revoke", "plan": True}).json()
        assert shown["suspend"] is True and shown["diff"]
        decided = client.post(path, json={"decision": "keep", "by": MARIA, "reason": "ok"})
        assert decided.status_code == 200 and decided.json()["status"] == "kept"

        grant = client.post(
            "/v1/access-requests",
            json={
                "agent": "support-summarizer",
                "action": "tickets.export",
                "resource": "zendesk:exports/*",
                "reason": "audit",
                "duration": "30m",
            },
        )
        assert grant.status_code == 201, grant.text
        wrong = client.post(
            f"/v1/access-requests/{grant.json()['id']}/approve",
            json={"by": "noah.smith@acme.example"},
        )
        assert wrong.status_code == 403 and wrong.json()["field"] == "by"
        recorded = client.post(
            f"/v1/access-requests/{grant.json()['id']}/approve", json={"by": MARIA}
        )
        assert recorded.status_code == 403  # an approval is made by the approver, signed in
        with server.client(headers={"authorization": f"Bearer {_token(server, MARIA)}"}) as maria:
            approved = maria.post(f"/v1/access-requests/{grant.json()['id']}/approve", json={})
        assert approved.json()["status"] == "approved"
        assert approved.json()["requested_by"] != approved.json()["decided_by"] == MARIA
        decision = client.post(
            "/access/v1/evaluation",
            json={
                "subject": {"type": "agent", "id": "support-summarizer"},
                "action": {"name": "tickets.export"},
                "resource": {"type": "zendesk", "id": "exports/q3"},
            },
        )
        assert decision.status_code == 200 and decision.json()["decision"] is True

        plan = client.get("/v1/decommissions/support-summarizer").json()
        assert plan["charter_revokes"][0]["kind"] == "agent"
        assert any(i["kind"] == "jit" for i in plan["charter_revokes"])
        done = client.post("/v1/decommissions/support-summarizer", json={"reason": "retired"})
        assert done.status_code == 200 and done.json()["state"] == "decommissioned"
        notices = client.get("/v1/notices", params={"recipient": MARIA}).json()
        assert {n["kind"] for n in notices} >= {"review.assigned", "access.request"}
