"""Separation of duties against a real ``charter serve``: the attacks of the trust review.

An owner widening their own active agent, approving their own wildcard JIT
request, editing another owner's charter, and resuming an agent an admin
suspended — each must fail (or wait for a second person), and an admin's own
widening needs another admin. Every request goes over HTTP with real API tokens.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.server import ROOT, TEST_ADMIN_EMAIL, LiveServer, charter_env, live_server

from charter.config import Settings
from charter.services.auth import UserRole
from charter.services.context import Services

PROBLEM = "application/problem+json"
MARIA = "maria.garcia@acme.example"  # owns support-summarizer
LI = "li.wei@acme.example"  # another owner
ADMIN2 = "second-admin@acme.example"
AGENT = "support-summarizer"
EVERYTHING = [{"action": "*", "resource": "*"}]


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
        body = (ROOT / "examples" / "agents" / f"{AGENT}.yaml").read_bytes()
        registered = client.post(
            "/v1/agents", content=body, headers={"content-type": "application/yaml"}
        )
        assert registered.status_code == 201, registered.text
        activated = client.post(f"/v1/agents/{AGENT}/activate", json={"reason": "approved"})
        assert activated.status_code == 200, activated.text
        yield running


def _tokens(server: LiveServer) -> dict[str, str]:
    """API tokens for the owners and a second admin (created in the server's store)."""
    services = Services.from_settings(Settings.from_env(server.env))
    try:
        out = {}
        for email, role in (
            (MARIA, UserRole.OWNER),
            (LI, UserRole.OWNER),
            (ADMIN2, UserRole.ADMIN),
        ):
            services.auth.add_user(email, role=role, password=None, actor="test:setup")
            out[email] = services.auth.keys.create_api_token(
                email, name="sod", expires_in=None, actor="test:setup"
            ).secret
        return out
    finally:
        services.close()


def _as(server: LiveServer, token: str) -> httpx.Client:
    return server.client(headers={"authorization": f"Bearer {token}"})


def _allowed(client: httpx.Client, action: str, resource_type: str, resource_id: str) -> bool:
    """The PDP's answer once it has seen the latest change (it polls the store every 0.25 s)."""
    time.sleep(0.6)
    answer = client.post(
        "/access/v1/evaluation",
        json={
            "subject": {"type": "agent", "id": AGENT},
            "action": {"name": action},
            "resource": {"type": resource_type, "id": resource_id},
        },
    )
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["decision"])


def _charter(client: httpx.Client, **changes: Any) -> dict[str, Any]:
    return {**client.get(f"/v1/agents/{AGENT}").json()["charter"], **changes}


def test_an_owner_cannot_grant_their_own_active_agent_everything(server: LiveServer) -> None:
    tokens = _tokens(server)
    with (
        server.client() as admin,
        _as(server, tokens[MARIA]) as maria,
        _as(server, tokens[ADMIN2]) as admin2,
    ):
        assert not _allowed(admin, "github.repos.delete", "github", "acme/app")
        widened = maria.put(f"/v1/agents/{AGENT}/charter", json=_charter(maria, allow=EVERYTHING))
        assert widened.status_code == 202, widened.text  # was 200, charter v2, allowed
        proposal = widened.json()
        assert proposal["status"] == "pending" and proposal["kind"] == "charter_update"
        assert proposal["requested_by"] == MARIA
        assert any("* on *" in w["message"] for w in proposal["widenings"])
        assert "+- action: '*'" in proposal["diff"] or "action: '*'" in proposal["diff"]
        assert maria.get(f"/v1/agents/{AGENT}").json()["charter_version"] == 1
        assert not _allowed(admin, "github.repos.delete", "github", "acme/app")

        own = maria.post(f"/v1/changes/{proposal['id']}/approve", json={})
        assert own.status_code == 403 and own.headers["content-type"] == PROBLEM
        assert own.json()["field"] == "by"
        listed = maria.get("/v1/changes").json()
        assert [c["id"] for c in listed] == [proposal["id"]]

        approved = admin2.post(f"/v1/changes/{proposal['id']}/approve", json={"reason": "ok"})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == ADMIN2
        assert maria.get(f"/v1/agents/{AGENT}").json()["charter_version"] == 2
        assert _allowed(admin, "github.repos.delete", "github", "acme/app")
        again = admin.post(f"/v1/changes/{proposal['id']}/approve", json={})
        assert again.status_code == 409

        events = admin.get("/v1/audit", params={"target": proposal["id"]}).json()
        decided = next(e for e in events if e["action"] == "change.approve")
        assert decided["actor"] == ADMIN2
        assert decided["after"]["requested_by"] == MARIA
        assert decided["after"]["decided_by"] == ADMIN2

        # narrowing applies at once, for the owner too
        narrowed = maria.put(
            f"/v1/agents/{AGENT}/charter",
            json=_charter(maria, allow=EVERYTHING[:1], expires="2027-01-31"),
        )
        assert narrowed.status_code == 200 and narrowed.json()["charter_version"] == 3


def test_an_admins_own_widening_needs_another_admin(server: LiveServer) -> None:
    tokens = _tokens(server)
    with server.client() as admin, _as(server, tokens[ADMIN2]) as admin2:
        wider = _charter(
            admin,
            allow=[
                *_charter(admin)["allow"],
                {"action": "tickets.delete", "resource": "zendesk:*"},
            ],
        )
        proposed = admin.put(f"/v1/agents/{AGENT}/charter", json=wider)
        assert proposed.status_code == 202
        change = proposed.json()["id"]
        own = admin.post(f"/v1/changes/{change}/approve", json={})
        assert own.status_code == 403 and "someone else" in own.json()["detail"]
        rejected = admin2.post(f"/v1/changes/{change}/reject", json={"reason": "not needed"})
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        assert admin.get(f"/v1/agents/{AGENT}").json()["charter_version"] == 1


def test_an_owner_cannot_change_another_owners_charter_or_see_its_proposals(
    server: LiveServer,
) -> None:
    tokens = _tokens(server)
    with _as(server, tokens[LI]) as li, _as(server, tokens[MARIA]) as maria:
        charter = _charter(maria, purpose="Rewritten by someone who does not own it.")
        stolen = li.put(f"/v1/agents/{AGENT}/charter", json=charter)
        assert stolen.status_code == 404 and stolen.json()["field"] == "name"
        assert maria.get(f"/v1/agents/{AGENT}").json()["charter_version"] == 1
        change = maria.put(
            f"/v1/agents/{AGENT}/charter", json=_charter(maria, allow=EVERYTHING)
        ).json()["id"]
        assert li.get("/v1/changes").json() == []
        assert li.get(f"/v1/changes/{change}").status_code == 404
        assert li.post(f"/v1/changes/{change}/approve", json={}).status_code == 404
        assert li.post(f"/v1/changes/{change}/reject", json={"reason": "x"}).status_code == 404


def test_an_owner_cannot_approve_their_own_wildcard_jit_request(server: LiveServer) -> None:
    tokens = _tokens(server)
    with server.client() as admin, _as(server, tokens[MARIA]) as maria:
        wildcard = maria.post(
            "/v1/access-requests",
            json={"agent": AGENT, "action": "*", "resource": "*", "reason": "everything"},
        )
        assert wildcard.status_code == 422 and wildcard.json()["field"] == "action"
        broad = maria.post(
            "/v1/access-requests",
            json={"agent": AGENT, "action": "tickets.read", "resource": "*:*", "reason": "x"},
        )
        assert broad.status_code == 422 and broad.json()["field"] == "resource"
        assert admin.get("/v1/access-requests").json() == []  # nothing was recorded

        grant = maria.post(
            "/v1/access-requests",
            json={
                "agent": AGENT,
                "action": "tickets.export",
                "resource": "zendesk:exports/*",
                "reason": "quarterly audit",
                "duration": "30m",
            },
        ).json()
        own = maria.post(f"/v1/access-requests/{grant['id']}/approve", json={})
        assert own.status_code == 403 and own.json()["field"] == "by"
        recorded = admin.post(f"/v1/access-requests/{grant['id']}/approve", json={"by": MARIA})
        assert recorded.status_code == 403  # nobody records an approval in someone's name
        pending = maria.get("/v1/changes").json()
        assert [(c["id"], c["kind"]) for c in pending] == [(grant["id"], "jit_grant")]
        assert not _allowed(admin, "tickets.export", "zendesk", "exports/q3")
        approved = admin.post(f"/v1/changes/{grant['id']}/approve", json={})
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        assert approved.json()["decided_by"] == TEST_ADMIN_EMAIL != approved.json()["requested_by"]
        assert _allowed(admin, "tickets.export", "zendesk", "exports/q3")


def test_an_owner_cannot_resume_what_an_admin_suspended(server: LiveServer) -> None:
    tokens = _tokens(server)
    with (
        server.client() as admin,
        _as(server, tokens[MARIA]) as maria,
        _as(server, tokens[ADMIN2]) as admin2,
    ):
        admin.post(f"/v1/agents/{AGENT}/suspend", json={"reason": "incident INC-7"})
        resumed = maria.post(f"/v1/agents/{AGENT}/resume", json={"reason": "looks fine"})
        assert resumed.status_code == 202, resumed.text  # was 200 and active
        change = resumed.json()
        assert change["kind"] == "resume" and "incident INC-7" in change["widenings"][0]["message"]
        assert maria.get(f"/v1/agents/{AGENT}").json()["state"] == "suspended"
        assert admin2.post(f"/v1/changes/{change['id']}/approve", json={}).status_code == 200
        assert maria.get(f"/v1/agents/{AGENT}").json()["state"] == "active"

        # an owner's own suspension is theirs to lift
        assert (
            maria.post(f"/v1/agents/{AGENT}/suspend", json={"reason": "pause"}).status_code == 200
        )
        back = maria.post(f"/v1/agents/{AGENT}/resume", json={"reason": "go on"})
        assert back.status_code == 200 and back.json()["state"] == "active"
