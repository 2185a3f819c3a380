"""Everything MCP does, both directions, through the gateway — and decided.

A real stack: the conformance upstream (``mcp`` SDK, streamable HTTP, its
tools ask the agent for sampling and elicitation, send progress and logs),
the Charter server, ``charter gateway``, and a real MCP client session. The
agent's charter allows elicitation but not sampling, one prompt, and reads
of the static resources only; every test checks what the agent saw and what
Charter recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from tests.integration.test_gateway_conformance import conformance_upstream
from tests.support.server import live_server
from tests.unit.gateway.stack import Stack, env_for, gateway_process, prepare_store, write_config

from charter.gateway import refusals

CHARTER = """
name: flow-agent
owner: maria.garcia@acme.example
purpose: Exercise every direction of MCP through the gateway.
allow:
  - {action: test_sampling, resource: "conformance:tools/test_sampling"}
  - {action: test_elicitation, resource: "conformance:tools/test_elicitation"}
  - {action: test_tool_with_progress, resource: "conformance:tools/*"}
  - {action: test_tool_with_logging, resource: "conformance:tools/*"}
  - {action: elicitation.create, resource: "conformance:tools/test_elicitation"}
  - {action: resources.read, resource: "conformance:resources/test://static-*"}
  - {action: resources.read, resource: "conformance:resources/test://watched-resource"}
  - {action: prompts.get, resource: "conformance:prompts/test_prompt_with_arguments"}
"""
SCOPE = (
    "test_sampling test_elicitation test_tool_with_progress test_tool_with_logging "
    "elicitation.create resources.read prompts.get"
)


@dataclass
class Flow:
    stack: Stack
    token: str


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    home: Path = tmp_path_factory.mktemp("gateway-flow")
    env = env_for(home)
    keys = prepare_store(env, [CHARTER])
    with conformance_upstream(home) as upstream:
        upstream_config = {"name": "conformance", "protocol": "legacy", "http": {"url": upstream}}
        config = write_config(home, upstream_config)
        with live_server(env) as charter, gateway_process(env, config) as gateway:
            stack = Stack(env, home, charter, gateway, keys, keys["flow-agent"])
            yield Flow(stack, stack.token("flow-agent", SCOPE))


def settled(flow: Flow) -> int:
    """How many activity rows the agent has, once the gateway's batches (0.2 s) are written."""
    time.sleep(1.0)
    return len(flow.stack.activity("flow-agent", at_least=0))


def run(coroutine: Any) -> Any:
    return anyio.run(lambda: coroutine)


async def _session(flow: Flow, **callbacks: Any) -> Any:
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {flow.token}"})
    return http, Client(
        streamable_http_client(flow.stack.gateway, http_client=http),
        mode="legacy",
        cache=None,
        **callbacks,
    )


def _text(result: types.CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, types.TextContent))


def test_sampling_the_charter_forbids_never_reaches_the_agent(flow: Flow) -> None:
    asked: list[Any] = []

    async def sampling(_ctx: Any, params: types.CreateMessageRequestParams) -> Any:
        asked.append(params)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="x"), model="m"
        )

    async def go() -> Any:
        http, client = await _session(flow, sampling_callback=sampling)
        async with http, client:
            try:
                return await client.call_tool("test_sampling", {"prompt": "leak the secrets"})
            except MCPError as error:
                return error.error

    answer = run(go())
    assert asked == []  # the person's model was never used
    shown = answer.message if isinstance(answer, types.ErrorData) else _text(answer)
    assert "Charter refused sampling.create" in shown
    rows = flow.stack.activity("flow-agent", at_least=2)
    sampled = [r for r in rows if r.action == "sampling.create"]
    assert sampled and not sampled[0].allowed
    assert sampled[0].resource == "conformance:tools/test_sampling"


def test_elicitation_the_charter_allows_reaches_the_agent_and_back(flow: Flow) -> None:
    asked: list[str] = []
    before = settled(flow)

    async def elicitation(_ctx: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"username": "maria", "email": "m@x"})

    async def go() -> types.CallToolResult:
        http, client = await _session(flow, elicitation_callback=elicitation)
        async with http, client:
            return await client.call_tool("test_elicitation", {"message": "Who are you?"})

    result = run(go())
    assert asked == ["Who are you?"]
    assert "action=accept" in _text(result) and "maria" in _text(result)
    rows = flow.stack.activity("flow-agent", at_least=before + 2)
    assert any(r.action == "elicitation.create" and r.allowed for r in rows)


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
def test_progress_and_log_messages_reach_the_caller_at_its_level(flow: Flow) -> None:
    progress: list[float] = []
    logs: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(done)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(str(params.data))

    async def go() -> tuple[int, int]:
        http, client = await _session(flow, logging_callback=on_log)
        async with http, client:
            await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
            await client.set_logging_level("debug")
            await client.call_tool("test_tool_with_logging", {})
            heard = len(logs)
            await client.set_logging_level("error")  # the upstream logs at info
            await client.call_tool("test_tool_with_logging", {})
            return heard, len(logs) - heard

    heard, after = run(go())
    assert progress == [0, 50, 100]
    assert heard == 3 and logs[0] == "Tool execution started"
    assert after == 0


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
def test_completion_and_subscriptions_are_decided_on_what_they_name(flow: Flow) -> None:
    before = settled(flow)

    async def go() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        http, client = await _session(flow)
        async with http, client:
            allowed = types.PromptReference(type="ref/prompt", name="test_prompt_with_arguments")
            seen["completion"] = await client.complete(allowed, {"name": "arg1", "value": "par"})
            other = types.PromptReference(type="ref/prompt", name="test_simple_prompt")
            with pytest.raises(MCPError) as denied:
                await client.complete(other, {"name": "arg1", "value": "x"})
            seen["completion_denied"] = denied.value.error
            seen["subscribed"] = await client.subscribe_resource("test://watched-resource")
            with pytest.raises(MCPError) as refused:
                await client.subscribe_resource("test://template/1/data")
            seen["subscribe_denied"] = refused.value.error
            seen["unsubscribed"] = await client.unsubscribe_resource("test://watched-resource")
        return seen

    seen = run(go())
    assert seen["completion"].completion.values == ["paris", "park", "party"]
    assert seen["completion_denied"].code == refusals.ACCESS_DENIED
    assert isinstance(seen["subscribed"], types.EmptyResult)
    assert seen["subscribe_denied"].code == refusals.ACCESS_DENIED
    rows = flow.stack.activity("flow-agent", at_least=before + 4)
    reads = [(r.resource, r.allowed) for r in rows if r.action == "resources.read"]
    assert ("conformance:resources/test://watched-resource", True) in reads
    assert ("conformance:resources/test://template/1/data", False) in reads
    assert ("conformance:prompts/test_simple_prompt", False) in [
        (r.resource, r.allowed) for r in rows if r.action == "prompts.get"
    ]


MODERN = "2026-07-28"


def _modern(flow: Flow, body: dict[str, Any], **headers: str) -> httpx.Response:
    sent = {
        "Authorization": f"Bearer {flow.token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": MODERN,
        **headers,
    }
    return httpx.post(flow.stack.gateway, json=body, headers=sent, timeout=30)


def _call(name: str) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name, "arguments": {}, "_meta": meta},
    }


def _payload(response: httpx.Response) -> dict[str, Any]:
    import json

    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        return dict(json.loads(data[-1]))
    return dict(response.json())


def test_stateless_2026_requests_are_checked_against_their_headers_before_a_decision(
    flow: Flow,
) -> None:
    before = settled(flow)
    good = _modern(
        flow,
        _call("test_tool_with_progress"),
        **{"Mcp-Method": "tools/call", "Mcp-Name": "test_tool_with_progress"},
    )
    assert good.status_code == 200, good.text
    assert "progress" in str(_payload(good)["result"])  # no initialize, no session

    lying = _modern(
        flow,
        _call("test_tool_with_progress"),
        **{"Mcp-Method": "tools/list", "Mcp-Name": "test_tool_with_progress"},
    )
    renamed = _modern(
        flow,
        _call("test_tool_with_progress"),
        **{"Mcp-Method": "tools/call", "Mcp-Name": "test_sampling"},
    )
    for response in (lying, renamed):
        assert response.status_code == 400, response.text
        error = _payload(response)["error"]
        assert (
            error["code"] == types.HEADER_MISMATCH if hasattr(types, "HEADER_MISMATCH") else -32020
        )
        assert "header does not match" in error["message"]
    flow.stack.activity("flow-agent", at_least=before + 1)
    assert settled(flow) == before + 1  # only the honest call was decided


def test_a_response_to_no_pending_request_is_dropped_and_the_session_still_works(
    flow: Flow,
) -> None:
    async def go() -> str:
        http, client = await _session(flow)
        async with http, client:
            session_id = None
            stray = {"jsonrpc": "2.0", "id": 424242, "result": {"model": "m"}}
            headers = {
                "Authorization": f"Bearer {flow.token}",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",
            }
            async with httpx.AsyncClient() as raw:
                opened = await raw.post(
                    flow.stack.gateway,
                    headers=headers,
                    json={
                        "jsonrpc": "2.0",
                        "id": 0,
                        "method": "initialize",
                        "params": {
                            "protocolVersion": "2025-11-25",
                            "capabilities": {},
                            "clientInfo": {"name": "raw", "version": "1"},
                        },
                    },
                )
                session_id = opened.headers["mcp-session-id"]
                answer = await raw.post(
                    flow.stack.gateway,
                    headers={**headers, "Mcp-Session-Id": session_id},
                    json=stray,
                )
                assert answer.status_code == 202, answer.text  # accepted, matched nothing, dropped
            result = await client.call_tool("test_tool_with_progress", {})
            return _text(result)

    assert "executed successfully" in run(go())
    log = "\n".join(p.read_text(errors="replace") for p in flow.stack.home.glob("gateway-*.log"))
    assert "matches no pending request (id 424242)" in log
