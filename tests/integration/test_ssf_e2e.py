"""Shared Signals end to end, between real processes on loopback: ``charter serve`` pushes
a signed SET to a receiver when ``charter agent suspend`` (another process) suspends an
agent, holds one for a polling receiver until it is acknowledged, and acts on SETs an IdP
pushes to it (a person's account disabled: departed within a second; a replay: nothing)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from tests.support.server import ROOT, charter_env, live_server, run_cli
from tests.support.ssf_peers import RECEIVER_SECRET, SsfPeer, push_set, verify_charter_set
from tests.unit.tokens.estate import ROLES

from charter.config import Settings
from charter.domain import ssf
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.lifecycle import Transition
from charter.domain.roles import parse_roles
from charter.domain.tokens.jwk import Alg, generate_private_key
from charter.sdk import AgentCredentials
from charter.services.context import Services
from charter.services.people import parse_directory

AGENT = "support-summarizer"
MARIA = "maria.garcia@acme.example"
SIEM = "https://siem.acme.example"
#: what the IdP puts in ``aud`` for Charter (its SETs and its people's tokens)
FOR_CHARTER = "urn:charter"
AGENT_KEY = generate_private_key(Alg.ES256)


def _seed(env: dict[str, str], peer: SsfPeer) -> None:
    services = Services.from_settings(Settings.from_env(env))
    try:
        data = (ROOT / "examples" / "people.json").read_bytes()
        services.people.import_records(parse_directory(data, filename="people.json"), actor="test")
        spec = parse_charter_text((ROOT / "examples" / "agents" / f"{AGENT}.yaml").read_text())
        services.registry.register(spec, actor="test")
        services.registry.transition(AGENT, Transition.ACTIVATE, actor="test", reason="approved")
        services.decisions.apply_roles(parse_roles(ROLES), actor="test", source="test")
        services.tokens.enrol(AGENT, AGENT_KEY.public_key(), actor="test")
        services.tokens.trusted.add(
            peer.issuer, actor="test", jwks_url=f"{peer.url}/idp/jwks", audience=FOR_CHARTER
        )
    finally:
        services.close()


@pytest.mark.slow
def test_transmit_by_push_and_poll_and_receive_from_the_idp(tmp_path: Path) -> None:
    env = charter_env(tmp_path)
    with SsfPeer(fail_first=1) as peer:
        _seed(env, peer)
        with live_server(env) as server, server.client() as admin:
            config = httpx.get(f"{server.url}/.well-known/ssf-configuration").json()
            assert config["spec_version"] == "1_0"
            assert set(config["delivery_methods_supported"]) == {ssf.PUSH, ssf.POLL}
            pushed = admin.post(
                "/v1/ssf/streams",
                json={
                    "aud": SIEM,
                    "delivery": {
                        "method": ssf.PUSH,
                        "endpoint_url": f"{peer.url}/receiver",
                        "authorization_header": RECEIVER_SECRET,
                    },
                    "events_requested": [ssf.SESSION_REVOKED, "urn:example:unknown"],
                },
            )
            assert pushed.status_code == 201, pushed.text
            assert pushed.json()["events_delivered"] == [ssf.SESSION_REVOKED]
            polled = admin.post("/v1/ssf/streams", json={"aud": "urn:example:poller"}).json()
            bearer = {"Authorization": f"Bearer {polled['bearer_token']}"}
            # receivers cannot manage streams with their stream token, nor poll another's
            assert httpx.get(f"{server.url}/v1/ssf/streams", headers=bearer).status_code == 401
            other = httpx.post(
                f"{server.url}/ssf/poll/{pushed.json()['stream_id']}", json={}, headers=bearer
            )
            assert other.status_code == 401

            suspended = run_cli("agent", "suspend", AGENT, "--reason", "key leaked", env=env)
            assert suspended.returncode == 0, suspended.stderr
            # pushed off the write path: the first attempt is refused (503), the retry lands
            got = peer.wait_pushed(1, seconds=10)
            assert len(got) == 1 and peer.refused == 1
            assert got[0]["content_type"] == "application/secevent+jwt"
            assert got[0]["authorization"] == RECEIVER_SECRET
            claims = verify_charter_set(server.url, got[0]["token"], SIEM)
            assert claims["sub_id"]["sub"] == AGENT
            assert claims["events"][ssf.SESSION_REVOKED]["reason_admin"] == {"en": "key leaked"}

            poll_url = f"{server.url}/ssf/poll/{polled['stream_id']}"
            answer = httpx.post(poll_url, json={"maxEvents": 5}, headers=bearer).json()
            assert len(answer["sets"]) == 1 and answer["moreAvailable"] is False
            jti, token = next(iter(answer["sets"].items()))
            assert verify_charter_set(server.url, token, "urn:example:poller")["jti"] == jti
            acked = httpx.post(poll_url, json={"ack": [jti]}, headers=bearer).json()
            assert acked == {"sets": {}, "moreAvailable": False}
            listed = run_cli("ssf", "streams", "list", "--json", env=env)
            assert listed.returncode == 0, listed.stderr
            rows = {r["stream_id"]: r for r in json.loads(listed.stdout)}
            assert rows[polled["stream_id"]]["sets"] == {"acked": 1}
            assert rows[pushed.json()["stream_id"]]["sets"] == {"delivered": 1}

            # the IdP disables Maria's account: within a second she is departed, and the
            # token her agent got for her is inactive (resumed: the agent itself may act)
            resumed = run_cli("agent", "resume", AGENT, "--reason", "rotated", env=env)
            assert resumed.returncode == 0, resumed.stderr
            creds = AgentCredentials(AGENT, AGENT_KEY, base_url=server.url)
            delegated = creds.exchange(peer.person_token(FOR_CHARTER, MARIA), scope="tickets.read")
            assert delegated.claims["sub"] == MARIA
            assert creds.introspect(delegated.value)["active"] is True
            disabled = peer.idp_set(FOR_CHARTER, ssf.ACCOUNT_DISABLED, MARIA)
            started = time.monotonic()
            answer_idp = push_set(server.url, disabled)
            assert answer_idp.status_code == 202, answer_idp.text
            person = admin.get(f"/v1/people/{MARIA}").json()
            assert person["status"] == "departed"
            assert creds.introspect(delegated.value) == {"active": False}
            assert time.monotonic() - started < 1.0
            creds.close()
            # a replay is accepted and changes nothing; a wrong audience is refused
            assert push_set(server.url, disabled).status_code == 202
            events = admin.get("/v1/audit", params={"action": "ssf.receive"}).json()
            assert len(events) == 1, events
            assert events[0]["after"]["revoked_tokens"] == 1
            wrong = push_set(server.url, peer.idp_set("urn:other", ssf.ACCOUNT_DISABLED, MARIA))
            assert wrong.status_code == 400
            assert wrong.json()["err"] == "invalid_audience"
            unsigned = push_set(server.url, disabled[: disabled.rindex(".")] + ".AAAA")
            assert unsigned.status_code == 400
