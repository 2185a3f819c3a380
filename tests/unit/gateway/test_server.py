"""The gateway core against a real upstream MCP server (stdio child process).

The agent side is an in-process MCP client session on the gateway's SDK server;
the authority is :class:`fakes.FakeAuthority` over the real decision engine.
Every test checks both what the agent got and what was recorded.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from tests.unit.gateway import upstream_server
from tests.unit.gateway.fakes import FakeAuthority
from tests.unit.gateway.stack import HELPDESK_CHARTER, UPSTREAM

from charter.domain.charter_parsing import load_document, parse_charter
from charter.domain.enums import AgentState
from charter.gateway import refusals
from charter.gateway.authority import AgentPrincipal
from charter.gateway.config import parse_config
from charter.gateway.server import Gateway
from charter.gateway.upstream import Upstream

pytestmark = pytest.mark.anyio

SCOPES = frozenset(
    {
        "read_ticket",
        "send_email",
        "slow",
        "hang",
        "crash",
        "whoami",
        "resources.read",
        "prompts.get",
    }
)


def make_gateway(**settings: Any) -> tuple[Gateway, FakeAuthority]:
    config = parse_config(
        {
            "gateway": settings,
            "upstreams": [
                {
                    "name": "helpdesk",
                    "stdio": {
                        "command": sys.executable,
                        "args": [str(UPSTREAM)],
                        "env": {"HELPDESK_API_KEY": "k-0123456789"},
                    },
                    "call_timeout": settings.pop("upstream_timeout", 10),
                }
            ],
        }
    )
    authority = FakeAuthority({"helpdesk-bot": parse_charter(load_document(HELPDESK_CHARTER))})
    return Gateway(config, authority, resource="http://gw.test/mcp"), authority


@asynccontextmanager
async def session(gateway: Gateway, principal: AgentPrincipal) -> AsyncIterator[Client]:
    async def authenticate() -> AgentPrincipal:
        return principal

    gateway._stdio_auth = authenticate
    async with Client(gateway.server, mode="legacy") as client:
        yield client


BOT = AgentPrincipal("helpdesk-bot", scopes=SCOPES)


@pytest.fixture
def in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Speak to the upstream server in-process (tests that need no real process)."""
    monkeypatch.setattr(Upstream, "_transport", lambda self: upstream_server.server)


async def call_error(client: Client, name: str, arguments: dict[str, Any]) -> MCPError:
    with pytest.raises(MCPError) as caught:
        await client.call_tool(name, arguments)
    return caught.value


@pytest.mark.usefixtures("in_memory")
async def test_lists_allowed_tools_forwards_allowed_calls_refuses_the_rest() -> None:
    gateway, authority = make_gateway()
    async with session(gateway, BOT) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == {"read_ticket", "send_email", "slow", "hang", "crash", "whoami"}
        assert "delete_table" not in names  # denied by the charter: never shown

        result = await client.call_tool("read_ticket", {"ticket_id": "42"})
        assert result.content[0].text == "ticket 42: the printer on floor 3 is on fire"  # type: ignore[union-attr]
        assert result.structured_content == {
            "result": "ticket 42: the printer on floor 3 is on fire"
        }

        denied = await call_error(client, "delete_table", {"table": "users"})
        assert denied.error.code == refusals.ACCESS_DENIED
        assert "explicitly_denied" in str(denied.error.data)

        wrong_argument = await call_error(
            client, "send_email", {"to": "ceo@rival.example", "subject": "x"}
        )
        assert wrong_argument.error.code == refusals.ACCESS_DENIED
        assert "args.to" in wrong_argument.error.message
        sent = await client.call_tool("send_email", {"to": "customer@example.com", "subject": "hi"})
        assert "sent 'hi' to customer@example.com" in sent.content[0].text  # type: ignore[union-attr]

    outcome = [(r.action, r.resource, r.decision.allowed) for r in authority.records]
    assert outcome == [
        ("read_ticket", "helpdesk:tools/read_ticket", True),
        ("delete_table", "helpdesk:tools/delete_table", False),
        ("send_email", "helpdesk:tools/send_email", False),
        ("send_email", "helpdesk:tools/send_email", True),
    ]
    assert all(r.latency_us > 0 and r.agent == "helpdesk-bot" for r in authority.records)


async def test_credentials_are_injected_but_never_listed() -> None:
    gateway, _ = make_gateway()
    async with session(gateway, BOT) as client:
        result = await client.call_tool("whoami", {})
        assert result.content[0].text == "credential present: True; length 12"  # type: ignore[union-attr]
        listing = (await client.list_tools()).model_dump_json()
        assert "k-0123456789" not in listing


TRICKS = [
    "../delete_table",
    "helpdesk/../delete_table",
    "helpdesk:tools/read_ticket",
    "read_ticket\x00",
    "READ_TICKET",
    "rеad_ticket",
    "*",
    "x" * 5000,
    "mail.send_email",
]


@pytest.mark.usefixtures("in_memory")
async def test_unknown_and_tricky_names_are_refused_and_never_forwarded() -> None:
    gateway, authority = make_gateway()
    async with session(gateway, BOT) as client:
        for name in TRICKS:
            error = await call_error(client, name, {})
            assert error.error.code == refusals.UNKNOWN_NAME, name
            assert "Unknown tool" in error.error.message
    assert [r.decision.allowed for r in authority.records] == [False] * len(TRICKS)
    assert {code for r in authority.records for code in r.decision.codes} == {"invalid_request"}


@pytest.mark.usefixtures("in_memory")
async def test_token_scope_and_rate_limits() -> None:
    gateway, authority = make_gateway()
    narrow = AgentPrincipal("helpdesk-bot", scopes=frozenset({"read_ticket"}))
    async with session(gateway, narrow) as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"read_ticket"}
        error = await call_error(
            client, "send_email", {"to": "customer@example.com", "subject": "s"}
        )
        assert error.error.code == refusals.ACCESS_DENIED
        assert "scope" in error.error.message
    async with session(gateway, BOT) as client:
        arguments = {"to": "customer@example.com", "subject": "s"}
        for _ in range(5):  # the charter allows 5 per minute
            await client.call_tool("send_email", arguments)
        limited = await call_error(client, "send_email", arguments)
        assert limited.error.code == refusals.RATE_LIMITED
        assert limited.error.data["limit_per_minute"] == 5  # type: ignore[index]
        await client.call_tool("read_ticket", {"ticket_id": "1"})  # another tool: its own budget
    assert authority.records[-2].decision.codes == ["rate_limited"]


@pytest.mark.usefixtures("in_memory")
async def test_agent_wide_limit_from_the_config() -> None:
    gateway, _ = make_gateway(agent_calls_per_minute=3)
    async with session(gateway, BOT) as client:
        for _ in range(3):
            await client.call_tool("read_ticket", {"ticket_id": "1"})
        assert (await call_error(client, "whoami", {})).error.code == refusals.RATE_LIMITED


@pytest.mark.usefixtures("in_memory")
async def test_resources_and_prompts_are_decided_too() -> None:
    gateway, authority = make_gateway()
    async with session(gateway, BOT) as client:
        listed = await client.list_resources()
        assert [str(r.uri) for r in listed.resources] == ["helpdesk://queues"]
        templates = await client.list_resource_templates()
        assert [t.uri_template for t in templates.resource_templates] == [
            "helpdesk://tickets/{ticket_id}"
        ]
        read = await client.read_resource("helpdesk://tickets/9")
        assert read.contents[0].text == "ticket 9 (resource)"  # type: ignore[union-attr]
        prompts = await client.list_prompts()
        assert [p.name for p in prompts.prompts] == ["summarize_ticket"]
        prompt = await client.get_prompt("summarize_ticket", {"ticket_id": "9"})
        assert "Summarise ticket 9" in prompt.messages[0].content.text  # type: ignore[union-attr]
        with pytest.raises(MCPError) as caught:
            await client.read_resource("file:///etc/passwd")
        assert caught.value.error.code == refusals.UNKNOWN_NAME
    actions = [(r.action, r.decision.allowed) for r in authority.records]
    assert ("resources.read", True) in actions and ("prompts.get", True) in actions
    assert ("file:///etc/passwd", False) in actions


@pytest.mark.usefixtures("in_memory")
async def test_resources_outside_the_charter_are_hidden_and_denied() -> None:
    gateway, _ = make_gateway()
    no_resources = AgentPrincipal("helpdesk-bot", scopes=frozenset({"read_ticket"}))
    async with session(gateway, no_resources) as client:
        assert (await client.list_resources()).resources == []
        assert (await client.list_prompts()).prompts == []
        with pytest.raises(MCPError) as caught:
            await client.read_resource("helpdesk://queues")
        assert caught.value.error.code == refusals.ACCESS_DENIED


async def test_a_hanging_upstream_times_out_and_a_crash_is_reported_then_recovered() -> None:
    gateway, _ = make_gateway(upstream_timeout=1)
    async with session(gateway, BOT) as client:
        started = time.monotonic()
        error = await call_error(client, "hang", {})
        assert error.error.code == refusals.UPSTREAM_TIMEOUT
        assert "did not answer within 1 s" in error.error.message
        assert time.monotonic() - started < 5
        await client.call_tool("read_ticket", {"ticket_id": "1"})  # the gateway still serves

        crashed = await call_error(client, "crash", {})
        assert crashed.error.code in (refusals.UPSTREAM_FAILED, refusals.UPSTREAM_UNAVAILABLE)
        assert crashed.error.data["upstream"] == "helpdesk"  # type: ignore[index]
        codes = []
        with anyio.fail_after(20):  # the keeper restarts the process
            while True:
                try:
                    result = await client.call_tool("read_ticket", {"ticket_id": "2"})
                    break
                except MCPError as again:
                    codes.append(again.error.code)
                    await anyio.sleep(0.2)
        assert set(codes) <= {refusals.UPSTREAM_UNAVAILABLE}
        assert "ticket 2" in result.content[0].text  # type: ignore[union-attr]


@pytest.mark.usefixtures("in_memory")
async def test_suspending_the_agent_cuts_its_call_in_flight() -> None:
    gateway, authority = make_gateway(watch_interval=0.1)
    async with session(gateway, BOT) as client:
        outcome: dict[str, Any] = {}

        async def slow_call() -> None:
            try:
                await client.call_tool("slow", {"seconds": 20})
            except MCPError as error:
                outcome["error"] = error

        started = time.monotonic()
        async with anyio.create_task_group() as group:
            group.start_soon(slow_call)
            await anyio.sleep(0.5)
            authority.states["helpdesk-bot"] = AgentState.SUSPENDED
        assert time.monotonic() - started < 5
        assert outcome["error"].error.code == refusals.AGENT_CUT_OFF
        assert "no longer active" in outcome["error"].error.message
        with anyio.fail_after(3):  # the cut is audited once its calls have answered
            while not authority.cuts:
                await anyio.sleep(0.05)
        assert authority.cuts == [("helpdesk-bot", 0, 1)]
        after = await call_error(client, "read_ticket", {"ticket_id": "1"})
        assert after.error.code in (refusals.AGENT_CUT_OFF, refusals.ACCESS_DENIED)


async def test_http_upstreams_get_their_credentials_as_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from charter.gateway import upstream as upstream_module
    from charter.gateway.config import parse_config as parse
    from charter.gateway.secrets import Secrets

    captured: dict[str, Any] = {}
    real = upstream_module.create_mcp_http_client

    def capture(headers: dict[str, str] | None = None, **options: Any) -> Any:
        captured.update(headers or {})
        return real(headers=headers, **options)

    monkeypatch.setattr(upstream_module, "create_mcp_http_client", capture)
    config = parse(
        {
            "upstreams": [
                {
                    "name": "mail",
                    "http": {
                        "url": "http://127.0.0.1:9/mcp",
                        "headers": {
                            "Authorization": {"env": "MAIL_TOKEN", "prefix": "Bearer "},
                            "X-Tenant": "acme",
                        },
                    },
                }
            ]
        }
    )
    upstream = Upstream(
        config.upstreams[0], Secrets({}, {"MAIL_TOKEN": "tok-xyz-123"}), call_timeout=5
    )
    transport = upstream._transport()
    assert captured == {"Authorization": "Bearer tok-xyz-123", "X-Tenant": "acme"}
    del transport  # never entered: no connection is made


async def test_a_remote_http_upstream(tmp_path: Path) -> None:
    from tests.unit.gateway.stack import upstream_http

    with upstream_http(tmp_path) as url:
        config = parse_config({"upstreams": [{"name": "helpdesk", "http": {"url": url}}]})
        authority = FakeAuthority({"helpdesk-bot": parse_charter(load_document(HELPDESK_CHARTER))})
        gateway = Gateway(config, authority, resource="http://gw.test/mcp")
        async with session(gateway, BOT) as client:
            assert "read_ticket" in {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("read_ticket", {"ticket_id": "77"})
            assert result.content[0].text.startswith("ticket 77")  # type: ignore[union-attr]
            denied = await call_error(client, "delete_table", {"table": "x"})
            assert denied.error.code == refusals.ACCESS_DENIED
