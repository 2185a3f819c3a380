"""End to end against real processes: ``charter agent enroll`` → the SDK gets a token from a
``charter serve`` → a decision → ``charter agent suspend`` (another process) → introspection
says inactive → the decision is a deny. Plus the credential CLI as a user runs it."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from tests.support.server import ROOT, charter_env, live_server, run_cli

from charter.config import Settings
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.lifecycle import Transition
from charter.domain.tokens.jwk import Alg, generate_private_key, jwk_from_public_key
from charter.sdk import AgentCredentials, TokenError
from charter.services.context import Services
from charter.services.people import parse_directory

AGENT = "support-summarizer"
AGENTS = ROOT / "examples" / "agents"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A store with the people and two agents (one active), seeded in-process: the CLI
    commands under test run as real processes, the set-up need not."""
    environment = charter_env(tmp_path)
    services = Services.from_settings(Settings.from_env(environment))
    try:
        data = (ROOT / "examples" / "people.json").read_bytes()
        services.people.import_records(parse_directory(data, filename="people.json"), actor="test")
        for name in (AGENT, "release-notes-writer"):
            spec = parse_charter_text((AGENTS / f"{name}.yaml").read_text())
            services.registry.register(spec, actor="test")
        services.registry.transition(AGENT, Transition.ACTIVATE, actor="test", reason="approved")
    finally:
        services.close()
    return environment


def _decision(client: httpx.Client) -> dict[str, object]:
    response = client.post(
        "/access/v1/evaluation",
        json={
            "subject": {"type": "agent", "id": AGENT},
            "action": {"name": "tickets.comments.read"},
            "resource": {"type": "zendesk", "id": "tickets/4711"},
            "context": {"data": {"classification": "internal"}},
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _decision_within(
    client: httpx.Client, expected: bool, seconds: float = 2.0
) -> dict[str, object]:
    """The PDP follows registry changes within a second (docs/decisions.md): poll, bounded."""
    deadline = time.monotonic() + seconds
    while True:
        decision = _decision(client)
        if decision["decision"] is expected or time.monotonic() > deadline:
            return decision
        time.sleep(0.05)


@pytest.mark.slow
def test_enrol_token_decide_suspend_inactive_deny(env: dict[str, str], tmp_path: Path) -> None:
    key_file = tmp_path / "support-summarizer.pem"
    enrolled = run_cli(
        "agent", "enroll", AGENT, "--generate", "--out", str(key_file), "--json", env=env
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert json.loads(enrolled.stdout)["client_id"] == AGENT
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with live_server(env) as server, server.client() as client:
        creds = AgentCredentials.from_pem_file(AGENT, key_file, base_url=server.url)
        token = creds.token("tickets.comments.read")
        assert (
            token.claims["client_id"] == AGENT and token.claims["scope"] == "tickets.comments.read"
        )
        assert creds.verifier().verify(token.value)["sub"] == AGENT
        assert creds.introspect(token.value)["active"] is True
        allowed = _decision(client)
        assert allowed["decision"] is True, allowed

        suspended = run_cli("agent", "suspend", AGENT, "--reason", "incident INC-7", env=env)
        assert suspended.returncode == 0, suspended.stderr
        # the resource server (here: the admin's API token) introspects: inactive at once
        introspected = client.post("/oauth/introspect", data={"token": token.value})
        assert introspected.status_code == 200 and introspected.json() == {"active": False}
        denied = _decision_within(client, expected=False)
        assert denied["decision"] is False
        assert "agent_not_active" in str(denied["context"])
        creds.invalidate()
        with pytest.raises(TokenError) as refused:
            creds.token("tickets.comments.read")
        assert (refused.value.error, refused.value.status) == ("unauthorized_client", 400)
        inspected = run_cli("tokens", "introspect", token.value, env=env)
        assert (
            inspected.returncode == 1
            and json.loads(inspected.stdout)["reason"] == "agent_not_active"
        )
        creds.close()
    services = Services.from_settings(Settings.from_env(env))
    try:
        actions = {event.action for event in services.audit.list(limit=50)}
    finally:
        services.close()
    assert {"agent.enroll", "token.issue", "token.refuse", "agent.suspend"} <= actions


def test_the_credential_cli(env: dict[str, str], tmp_path: Path) -> None:
    key_file = tmp_path / "k.pem"
    key_file.write_text("already here")
    refused = run_cli("agent", "enroll", AGENT, "--generate", "--out", str(key_file), env=env)
    assert refused.returncode == 2 and "never overwritten" in refused.stderr
    inactive = run_cli(
        "agent",
        "enroll",
        "release-notes-writer",
        "--generate",
        "--out",
        str(tmp_path / "r.pem"),
        env=env,
    )
    assert inactive.returncode == 2 and "only active agents enrol" in inactive.stderr
    assert not (tmp_path / "r.pem").exists()  # nothing left behind
    public = tmp_path / "public.pem"
    enrolled = _key_whose_kid_begins_with_a_dash()  # the CLI must take "-…" as a key id
    public.write_bytes(
        enrolled.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert run_cli("agent", "enroll", AGENT, "--public-key", str(public), env=env).returncode == 0
    code = run_cli("agent", "enroll", AGENT, "--code", "--ttl", "5m", "--json", env=env)
    assert code.returncode == 0 and json.loads(code.stdout)["code"].startswith("chenr_")
    keys = json.loads(run_cli("agent", "keys", AGENT, "--json", env=env).stdout)
    assert [k["status"] for k in keys] == ["active"] and keys[0]["alg"] == "ES256"
    assert keys[0]["kid"].startswith("-")
    rotated = run_cli("keys", "rotate", "--alg", "EdDSA", "--overlap", "1h", "--json", env=env)
    assert rotated.returncode == 0, rotated.stderr
    listed = json.loads(run_cli("keys", "list", "--json", env=env).stdout)
    assert sorted(k["status"] for k in listed) == ["active", "retiring"]
    revoked = run_cli(
        "agent", "revoke-key", AGENT, keys[0]["kid"], "--reason", "rotated out", env=env
    )
    assert revoked.returncode == 0, revoked.stderr


def _key_whose_kid_begins_with_a_dash() -> Any:
    """A P-256 key whose RFC 7638 thumbprint (its kid) starts with "-": 1 key in 64 does."""
    for _ in range(10_000):
        key = generate_private_key(Alg.ES256)
        if jwk_from_public_key(key.public_key())["kid"].startswith("-"):
            return key
    raise AssertionError("no key with a dash-leading kid in 10,000 tries")
