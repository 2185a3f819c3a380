"""Bad input at the gateway: clear errors, bounded waits, no crash, nothing forwarded undecided.

Raw HTTP for what an MCP client would never send (malformed JSON-RPC, unknown
methods, oversized messages, batches), and a real MCP session for upstreams
that hang or crash. After every abuse the gateway still serves a good call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError
from tests.unit.gateway.stack import Stack, mcp_session, payload, running_stack

from charter.gateway import refusals

PROTOCOL = "2025-11-25"
SCOPES = "read_ticket hang crash send_email"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("gateway-bad"), call_timeout="2s", max_message_bytes=65536
    ) as built:
        yield built


@pytest.fixture(scope="module")
def raw(stack: Stack) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """An initialized session spoken to in raw JSON-RPC over HTTP."""
    token = stack.token("helpdesk-bot", SCOPES)
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": PROTOCOL,
    }
    with httpx.Client(timeout=30) as client:
        opened = client.post(
            stack.gateway,
            headers=headers,
            json={
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL,
                    "capabilities": {},
                    "clientInfo": {"name": "raw", "version": "1"},
                },
            },
        )
        assert opened.status_code == 200, opened.text
        session = {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"]}
        done = client.post(
            stack.gateway,
            headers=session,
            json={"jsonrpc": "2.0", "method": "notifications/initialized"},
        )
        assert done.status_code == 202
        yield client, session


def still_serves(client: httpx.Client, stack: Stack, headers: dict[str, str]) -> None:
    answer = client.post(
        stack.gateway,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 99,
            "method": "tools/call",
            "params": {"name": "read_ticket", "arguments": {"ticket_id": "1"}},
        },
    )
    assert answer.status_code == 200
    assert payload(answer)["result"]["content"][0]["text"].startswith("ticket 1")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, -32700),
        (b"", 400, -32700),
        (b'{"jsonrpc": "2.0", "method": 5, "id": 1}', 400, None),
        (b'{"hello": "world"}', 400, None),
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]', 400, None),
        (b'"just a string"', 400, None),
    ],
)
def test_malformed_json_rpc_is_a_clear_error(
    stack: Stack,
    raw: tuple[httpx.Client, dict[str, str]],
    body: bytes,
    status: int,
    code: int | None,
) -> None:
    client, headers = raw
    answer = client.post(stack.gateway, headers=headers, content=body)
    assert answer.status_code == status
    error = payload(answer)["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    still_serves(client, stack, headers)


@pytest.mark.parametrize(
    "method", ["tools/delete", "admin/shutdown", "completion/complete", "sampling/createMessage"]
)
def test_unknown_methods_are_method_not_found(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]], method: str
) -> None:
    client, headers = raw
    answer = client.post(
        stack.gateway,
        headers=headers,
        json={"jsonrpc": "2.0", "id": 7, "method": method, "params": {}},
    )
    assert answer.status_code == 200
    # not served by the gateway: "method not found" (spec methods with invalid params may be
    # refused as such first, -32602) — an error either way, never forwarded
    assert payload(answer)["error"]["code"] in (-32601, -32602)
    still_serves(client, stack, headers)


def test_oversized_messages_are_refused_before_parsing(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = raw
    huge = {
        "jsonrpc": "2.0",
        "id": 8,
        "method": "tools/call",
        "params": {
            "name": "send_email",
            "arguments": {"to": "customer@example.com", "subject": "x", "body": "a" * 200_000},
        },
    }
    answer = client.post(stack.gateway, headers=headers, json=huge)
    assert answer.status_code == 413
    assert "send_email" not in (stack.home / "calls.log").read_text().split()
    still_serves(client, stack, headers)


def test_bad_params_and_path_tricks_are_refused_undecided_upstream(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = raw
    for params, code in (
        ({"name": 42}, -32602),
        ({"arguments": {}}, -32602),
        ({"name": "../../delete_table", "arguments": {"table": "t"}}, -32602),
        ({"name": "helpdesk/delete_table", "arguments": {"table": "t"}}, -32602),
        ({"name": "delete_table", "arguments": {"table": "t"}}, refusals.ACCESS_DENIED),
        ({"name": "read_ticket", "arguments": "not an object"}, -32602),
    ):
        answer = client.post(
            stack.gateway,
            headers=headers,
            json={"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": params},
        )
        assert payload(answer)["error"]["code"] == code, params
    assert "delete_table" not in (stack.home / "calls.log").read_text().split()
    still_serves(client, stack, headers)


def test_a_hanging_upstream_is_a_bounded_wait_and_others_are_served_meanwhile(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.token('helpdesk-bot', SCOPES)}"}

    async def session() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with mcp_session(stack.gateway, headers) as client:

            async def hang() -> None:
                started = time.monotonic()
                with pytest.raises(MCPError) as caught:
                    await client.call_tool("hang", {})
                seen["hang"] = (caught.value.error, time.monotonic() - started)

            async with anyio.create_task_group() as group:
                group.start_soon(hang)
                await anyio.sleep(0.3)
                started = time.monotonic()
                result = await client.call_tool("read_ticket", {"ticket_id": "5"})
                seen["meanwhile"] = (result.content[0].text, time.monotonic() - started)  # type: ignore[union-attr]
        return seen

    seen = anyio.run(session)
    error, waited = seen["hang"]
    assert error.code == refusals.UPSTREAM_TIMEOUT
    assert "did not answer within 2 s" in error.message
    assert waited < 6
    text, took = seen["meanwhile"]
    assert text.startswith("ticket 5") and took < 2


def test_a_crashing_upstream_is_reported_and_restarted(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.token('helpdesk-bot', SCOPES)}"}

    async def session() -> tuple[Any, list[int], str]:
        async with mcp_session(stack.gateway, headers) as client:
            with pytest.raises(MCPError) as caught:
                await client.call_tool("crash", {})
            codes: list[int] = []
            with anyio.fail_after(30):
                while True:
                    try:
                        result = await client.call_tool("read_ticket", {"ticket_id": "6"})
                        break
                    except MCPError as again:
                        codes.append(again.error.code)
                        await anyio.sleep(0.25)
            return caught.value.error, codes, result.content[0].text  # type: ignore[union-attr]

    error, codes, text = anyio.run(session)
    assert error.code in (refusals.UPSTREAM_FAILED, refusals.UPSTREAM_UNAVAILABLE)
    assert (
        error.data == {"upstream": "helpdesk", "failure": "failed"}
        or error.data["upstream"] == "helpdesk"
    )
    assert set(codes) <= {
        refusals.UPSTREAM_UNAVAILABLE
    }  # reported as unavailable, never as a result
    assert text.startswith("ticket 6")


def test_a_session_belongs_to_the_agent_that_opened_it(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = raw
    other = {**headers, "Authorization": f"Bearer {stack.token('ticket-reviewer', 'read_ticket')}"}
    answer = client.post(
        stack.gateway,
        headers=other,
        json={
            "jsonrpc": "2.0",
            "id": 5,
            "method": "tools/call",
            "params": {"name": "read_ticket", "arguments": {"ticket_id": "1"}},
        },
    )
    assert answer.status_code == 404  # as if the session did not exist
    still_serves(client, stack, headers)
