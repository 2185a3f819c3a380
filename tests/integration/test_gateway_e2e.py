"""The gateway end to end: real processes, real tokens, a real MCP client session.

Processes: the test upstream MCP server (a stdio child of the gateway, built
with the ``mcp`` SDK: ``read_ticket``, ``send_email``, ``delete_table``…), the
Charter server (tokens over HTTP) and ``charter gateway`` (in-process
decisions over the same SQLite store). The agent is enrolled with a key and
gets its tokens from the Charter server with the SDK's ``AgentCredentials``.
Each step is checked in what the agent sees *and* in the audit and activity logs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from tests.support.server import run_cli
from tests.unit.gateway.stack import ISSUER, Stack, mcp_session, running_stack

from charter.gateway import refusals
from charter.sdk.credentials import TokenError


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("gateway-e2e"), watch_interval=0.2, call_timeout="40s"
    ) as built:
        yield built


def run(coroutine: Any) -> Any:
    return anyio.run(lambda: coroutine)


def test_requests_without_a_valid_token_are_refused_per_the_spec(stack: Stack) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    metadata_url = stack.gateway.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    missing = httpx.post(stack.gateway, json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata_url}"'
    metadata = httpx.get(metadata_url).json()
    assert metadata["resource"] == stack.gateway
    assert metadata["authorization_servers"] == [ISSUER]

    garbage = httpx.post(stack.gateway, json=body, headers={"Authorization": "Bearer not.a.token"})
    assert garbage.status_code == 401
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]

    credentials = stack.credentials("helpdesk-bot")
    elsewhere = credentials.token("read_ticket", resource="https://other.example/mcp").value
    wrong_audience = httpx.post(
        stack.gateway, json=body, headers={"Authorization": f"Bearer {elsewhere}"}
    )
    assert wrong_audience.status_code == 401
    assert "not meant for" in wrong_audience.headers["www-authenticate"]

    revoked = credentials.token("read_ticket whoami", resource=stack.gateway).value
    credentials.revoke(revoked)
    refused = httpx.post(stack.gateway, json=body, headers={"Authorization": f"Bearer {revoked}"})
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error_description"]

    basic = httpx.post(stack.gateway, json=body, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 400
    assert basic.json()["error"] == "invalid_request"


def test_a_call_with_nothing_before_its_result_is_answered_as_plain_json(stack: Stack) -> None:
    token = stack.token("helpdesk-bot", "read_ticket")
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
    }
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    opened = httpx.post(stack.gateway, json=init, headers=headers)
    assert opened.status_code == 200, opened.text
    assert opened.headers["content-type"].startswith("application/json")  # lazy SSE
    headers["mcp-session-id"] = opened.headers["mcp-session-id"]
    headers["mcp-protocol-version"] = "2025-06-18"
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert httpx.post(stack.gateway, json=done, headers=headers).status_code == 202
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "read_ticket", "arguments": {"ticket_id": "31"}},
    }
    answer = httpx.post(stack.gateway, json=call, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.content)
    message = answer.json()
    assert message["id"] == 1 and message["result"]["content"][0]["text"].startswith("ticket 31")
    refused = dict(call, id=2, params={"name": "delete_table", "arguments": {"table": "x"}})
    denied = httpx.post(stack.gateway, json=refused, headers=headers)
    assert denied.headers["content-type"] == "application/json"
    assert denied.json()["error"]["code"] == refusals.ACCESS_DENIED
    assert httpx.delete(stack.gateway, headers=headers).status_code == 200  # session closed


def test_an_enrolled_agent_lists_calls_and_is_denied(stack: Stack) -> None:
    token = stack.token("helpdesk-bot", "read_ticket send_email whoami resources.read")
    headers = {"Authorization": f"Bearer {token}"}

    async def session() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with mcp_session(stack.gateway, headers) as client:
            seen["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
            seen["read"] = (
                (await client.call_tool("read_ticket", {"ticket_id": "4711"})).content[0].text
            )
            seen["whoami"] = (await client.call_tool("whoami", {})).content[0].text
            for name, arguments in (
                ("delete_table", {"table": "customers"}),
                ("send_email", {"to": "ceo@rival.example", "subject": "leak"}),
                ("../delete_table", {"table": "customers"}),
            ):
                with pytest.raises(MCPError) as caught:
                    await client.call_tool(name, arguments)
                seen[name] = caught.value.error
            seen["mail"] = (
                (
                    await client.call_tool(
                        "send_email", {"to": "customer@example.com", "subject": "fixed"}
                    )
                )
                .content[0]
                .text
            )
        return seen

    seen = run(session())
    # the token's scope and the charter both narrow the listing; delete_table is never shown
    assert seen["tools"] == ["read_ticket", "send_email", "whoami"]
    assert seen["read"] == "ticket 4711: the printer on floor 3 is on fire"
    assert seen["whoami"] == "credential present: True; length 18"  # injected by the gateway
    assert seen["delete_table"].code == refusals.ACCESS_DENIED
    assert "explicitly_denied" in str(seen["delete_table"].data)
    assert seen["send_email"].code == refusals.ACCESS_DENIED
    assert "condition_failed:args.to" in str(seen["send_email"].data)
    assert seen["../delete_table"].code == refusals.UNKNOWN_NAME
    assert seen["mail"] == "sent 'fixed' to customer@example.com"

    forwarded = (stack.home / "calls.log").read_text().split()
    assert "delete_table" not in forwarded  # denied: never reached the upstream
    assert forwarded.count("send_email") == 1  # only the allowed e-mail went out

    last = ("send_email", "helpdesk:tools/send_email", True)  # the session's last call
    rows = stack.activity("helpdesk-bot", at_least=6, having=last)
    summary = [(r.action, r.resource, r.allowed) for r in rows]
    assert ("read_ticket", "helpdesk:tools/read_ticket", True) in summary
    assert ("delete_table", "helpdesk:tools/delete_table", False) in summary
    assert ("send_email", "helpdesk:tools/send_email", False) in summary
    assert ("send_email", "helpdesk:tools/send_email", True) in summary
    assert ("../delete_table", "gateway:tools/../delete_table", False) in summary
    assert all(r.latency_us and r.latency_us > 0 for r in rows)
    issued = [e for e in stack.audit("token.issue") if e.target == "helpdesk-bot"]
    assert issued, "token issuance is in the audit log"


def test_dpop_bound_tokens(stack: Stack) -> None:
    credentials = stack.credentials("helpdesk-bot", dpop=True)
    token = credentials.token("read_ticket", resource=stack.gateway)
    assert token.token_type == "DPoP"

    class DPoPAuth(httpx2.Auth):
        def auth_flow(self, request: httpx2.Request) -> Any:
            url = str(request.url).split("?")[0]
            request.headers.update(
                credentials.headers(
                    request.method, url, scope="read_ticket", resource=stack.gateway
                )
            )
            yield request

    async def call() -> str:
        from mcp import Client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        http = create_mcp_http_client(auth=DPoPAuth())
        async with (
            http,
            Client(
                streamable_http_client(stack.gateway, http_client=http), mode="legacy"
            ) as client,
        ):
            result = await client.call_tool("read_ticket", {"ticket_id": "1"})
            return str(result.content[0].text)  # type: ignore[union-attr]

    assert run(call()).startswith("ticket 1")
    as_bearer = httpx.post(
        stack.gateway,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {token.value}"},
    )
    assert as_bearer.status_code == 401
    assert as_bearer.headers["www-authenticate"].startswith("DPoP ")


def test_delegation_only_for_agents_whose_charter_allows_it(stack: Stack) -> None:
    person = stack.person_token("maria.garcia@acme.example")
    reviewer = stack.credentials("ticket-reviewer")
    with pytest.raises(TokenError) as caught:
        reviewer.exchange(person, scope="read_ticket", resource=stack.gateway)
    assert caught.value.reason == "delegation_not_allowed"
    refusals_logged = [e for e in stack.audit("token.refuse") if e.target == "ticket-reviewer"]
    assert any("delegation_not_allowed" in e.summary for e in refusals_logged)

    delegated = stack.credentials("helpdesk-bot").exchange(
        person, scope="read_ticket", resource=stack.gateway
    )
    assert delegated.claims["act"]["sub"] == "helpdesk-bot"

    async def call() -> str:
        async with mcp_session(
            stack.gateway, {"Authorization": f"Bearer {delegated.value}"}
        ) as client:
            return str((await client.call_tool("read_ticket", {"ticket_id": "9"})).content[0].text)  # type: ignore[union-attr]

    assert run(call()).startswith("ticket 9")
    rows = [
        r
        for r in stack.activity("helpdesk-bot", at_least=10)
        if r.on_behalf_of == "maria.garcia@acme.example"
    ]
    assert rows and rows[-1].allowed  # recorded with its delegator


def test_suspending_the_agent_cuts_its_session_in_flight(stack: Stack) -> None:
    token = stack.token("helpdesk-bot", "slow read_ticket")
    headers = {"Authorization": f"Bearer {token}"}
    outcome: dict[str, Any] = {}

    async def session() -> None:
        async with mcp_session(stack.gateway, headers) as client:

            async def slow() -> None:
                with pytest.raises(MCPError) as caught:
                    await client.call_tool("slow", {"seconds": 30})
                outcome["error"] = caught.value.error
                outcome["at"] = time.monotonic()

            async with anyio.create_task_group() as group:
                group.start_soon(slow)
                await anyio.sleep(1.0)
                done = await anyio.to_thread.run_sync(
                    lambda: run_cli(
                        "agent",
                        "suspend",
                        "helpdesk-bot",
                        "--reason",
                        "compromised key",
                        env=stack.env,
                    )
                )
                outcome["suspended_at"] = time.monotonic()  # committed when the CLI returns
                assert done.returncode == 0, done.stderr
            with pytest.raises(Exception):  # noqa: B017 - the session is gone: 401 or 404
                await client.call_tool("read_ticket", {"ticket_id": "1"})

    run(session())
    assert outcome["error"].code == refusals.AGENT_CUT_OFF
    assert outcome["at"] - outcome["suspended_at"] < 3  # cut off within seconds, not at expiry
    after = httpx.post(
        stack.gateway, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers
    )
    assert after.status_code == 401
    assert [e.target for e in stack.audit("agent.suspend")] == ["helpdesk-bot"]
    cuts = stack.audit("gateway.cut", at_least=1)
    assert len(cuts) == 1 and cuts[0].target == "helpdesk-bot"
    assert '"calls":1' in cuts[0].summary and '"sessions":1' in cuts[0].summary


def test_stdio_mode_for_a_local_agent(stack: Stack) -> None:
    """``charter gateway --stdio``: the agent's MCP host starts the gateway as its server."""
    from mcp import Client, StdioServerParameters, stdio_client
    from tests.support.server import CHARTER

    token = stack.token("ticket-reviewer", "read_ticket")
    config = stack.home / "gateway.yaml"
    params = StdioServerParameters(
        command=CHARTER,
        args=["gateway", "--config", str(config), "--stdio", "--resource", stack.gateway],
        env={**stack.env, "CHARTER_ACCESS_TOKEN": token},
        cwd=str(stack.home),
    )

    async def session() -> tuple[list[str], str, Any]:
        async with Client(stdio_client(params), mode="legacy") as client:
            tools = sorted(t.name for t in (await client.list_tools()).tools)
            text = (await client.call_tool("read_ticket", {"ticket_id": "8"})).content[0].text
            with pytest.raises(MCPError) as caught:
                await client.call_tool("delete_table", {"table": "t"})
            return tools, str(text), caught.value.error  # type: ignore[union-attr]

    tools, text, denied = anyio.run(session)
    assert tools == ["read_ticket"]  # the reviewer's charter and token: nothing else
    assert text.startswith("ticket 8")
    assert denied.code == refusals.ACCESS_DENIED
    assert [r.allowed for r in stack.activity("ticket-reviewer", at_least=2)] == [True, False]
