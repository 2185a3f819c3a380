"""Approvals bound to the exact call, through the real gateway and the real Charter server.

An ``approve`` rule holds the call: the agent gets the MCP error ``-32034`` naming the
access request, and the upstream never hears of the call. The owner approves it with
``charter approvals approve`` (another process, the same store); the agent's *identical*
call is then allowed once. A replay, a call with other arguments, an expired approval and
a denied one are all refused; every step is in the audit log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from tests.support.server import live_server, run_cli
from tests.unit.gateway.stack import (
    Stack,
    env_for,
    gateway_process,
    mcp_session,
    prepare_store,
    stdio_upstream,
    write_config,
)

from charter.gateway import refusals

MAILER = """
name: mailer-bot
owner: maria.garcia@acme.example
purpose: E-mails customers about their tickets, each e-mail approved by its owner.
allow:
  - action: read_ticket
    resource: "helpdesk:tools/read_ticket"
  - action: send_email
    resource: "helpdesk:tools/send_email"
    approve: {by: owner, ttl: 15m}
  - action: whoami
    resource: "helpdesk:*"
    approve: {by: owner, ttl: 2s}
"""

MAIL = {"to": "customer@example.com", "subject": "your refund"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home: Path = tmp_path_factory.mktemp("approvals")
    env = env_for(home, TEST_HELPDESK_KEY="hk-live-0123456789")
    keys = prepare_store(env, [MAILER])
    upstream = stdio_upstream(
        env={"HELPDESK_API_KEY": {"env": "TEST_HELPDESK_KEY"}}, inherit_env=False
    )
    upstream["stdio"]["env"]["UPSTREAM_CALL_LOG"] = str(home / "calls.log")
    with ExitStack() as started:
        config = write_config(home, upstream)
        charter = started.enter_context(live_server(env))
        gateway = started.enter_context(gateway_process(env, config))
        yield Stack(env, home, charter, gateway, keys, keys["mailer-bot"])


def call(stack: Stack, tool: str, arguments: dict[str, Any]) -> str | MCPError:
    """One tool call in a fresh session: its text, or the MCP error."""
    token = stack.token("mailer-bot", "read_ticket send_email whoami")

    async def session() -> str | MCPError:
        async with mcp_session(stack.gateway, {"Authorization": f"Bearer {token}"}) as client:
            try:
                result = await client.call_tool(tool, arguments)
            except MCPError as error:
                return error
            return str(result.content[0].text)  # type: ignore[union-attr]

    return anyio.run(session)


def held(outcome: str | MCPError) -> str:
    """The access request a held call names (and that it was held, not denied)."""
    assert isinstance(outcome, MCPError), f"expected the call to be held, got {outcome!r}"
    assert outcome.error.code == refusals.APPROVAL_REQUIRED, outcome.error
    data = outcome.error.data
    assert data["access_request"]["status"] == "pending"
    assert "approval_required" in json.dumps(data["decision"])
    return str(data["access_request"]["id"])


def approvals(stack: Stack, *args: str) -> Any:
    done = run_cli("approvals", *args, "--json", env=stack.env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def sent(stack: Stack) -> int:
    log = stack.home / "calls.log"
    return log.read_text().split().count("send_email") if log.exists() else 0


def test_a_held_call_runs_once_after_approval_and_only_with_its_arguments(stack: Stack) -> None:
    assert call(stack, "read_ticket", {"ticket_id": "1"}).startswith("ticket 1")  # type: ignore[union-attr]
    first = held(call(stack, "send_email", MAIL))
    assert held(call(stack, "send_email", MAIL)) == first  # asking again: the same request
    assert sent(stack) == 0  # nothing reached the upstream

    pending = approvals(stack, "list")
    mine = next(p for p in pending if p["id"] == first)
    assert mine["arguments"] == MAIL  # the approver sees the call with its arguments
    assert mine["action"] == "send_email"
    assert mine["approvers"] == ["owner"]

    # not the owner: refused, one line, exit 2, nothing changes
    other = run_cli("approvals", "approve", first, "--by", "noah.smith@acme.example", env=stack.env)
    assert other.returncode == 2
    assert "the agent's owner" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
    stranger = run_cli("approvals", "approve", first, "--by", "eve@evil.example", env=stack.env)
    assert stranger.returncode == 2

    approved = approvals(stack, "approve", first, "--by", "maria.garcia@acme.example")
    assert approved["status"] == "approved"
    again = run_cli(
        "approvals", "approve", first, "--by", "maria.garcia@acme.example", env=stack.env
    )
    assert again.returncode == 2  # decided once

    # other arguments are another call: held, and the approval is not spent on it
    changed = held(call(stack, "send_email", {**MAIL, "subject": "wire me money"}))
    assert changed != first
    assert sent(stack) == 0

    assert call(stack, "send_email", MAIL) == "sent 'your refund' to customer@example.com"
    assert sent(stack) == 1

    replay = held(call(stack, "send_email", MAIL))  # single use: a new request, not an allow
    assert replay not in (first, changed)
    assert sent(stack) == 1
    used = approvals(stack, "list", "--status", "used")
    assert [u["id"] for u in used] == [first]

    for action in ("approval.request", "approval.approve", "approval.use"):
        events = stack.audit(action, at_least=1)
        assert any(e.target == first for e in events), action


def test_an_expired_approval_is_refused(stack: Stack) -> None:
    ticket = held(call(stack, "whoami", {}))
    approvals(stack, "approve", ticket, "--by", "maria.garcia@acme.example")
    time.sleep(2.5)  # the rule's ttl is 2s
    later = held(call(stack, "whoami", {}))
    assert later != ticket
    expired = approvals(stack, "list", "--status", "expired")
    assert ticket in [e["id"] for e in expired]


def test_a_denied_call_stays_denied(stack: Stack) -> None:
    mail = {"to": "customer@example.com", "subject": "discount code"}
    ticket = held(call(stack, "send_email", mail))
    denied = approvals(stack, "deny", ticket, "--by", "maria.garcia@acme.example")
    assert denied["status"] == "denied"
    outcome = call(stack, "send_email", mail)
    assert isinstance(outcome, MCPError)
    assert outcome.error.code == refusals.ACCESS_DENIED
    assert "approval_denied" in json.dumps(outcome.error.data)
    assert stack.audit("approval.deny", at_least=1)


def test_a_remote_gateway_holds_the_call_through_the_authzen_endpoint(tmp_path: Path) -> None:
    """CHARTER_URL: the gateway decides over HTTP; the server's AuthZEN evaluation opens the
    access request and, after approval, allows the same call once (re-evaluation)."""
    env = env_for(tmp_path)
    keys = prepare_store(env, [MAILER])
    config = write_config(tmp_path, stdio_upstream(), watch_interval=0.2)
    with live_server(env) as charter:
        (tmp_path / "elsewhere").mkdir()
        remote_env = {
            **env_for(tmp_path / "elsewhere"),
            "CHARTER_URL": charter.url,
            "CHARTER_PEP_KEY": charter.pep_key,
            "CHARTER_API_TOKEN": charter.admin_token,
        }
        with gateway_process(remote_env, config) as gateway:
            remote = Stack(env, tmp_path, charter, gateway, keys, keys["mailer-bot"])
            ticket = held(call(remote, "send_email", MAIL))
            assert held(call(remote, "send_email", MAIL)) == ticket
            approvals(remote, "approve", ticket, "--by", "maria.garcia@acme.example")
            assert call(remote, "send_email", MAIL) == "sent 'your refund' to customer@example.com"
            assert held(call(remote, "send_email", MAIL)) != ticket
