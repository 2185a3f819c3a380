"""The kill switch reaches the upstream: a cut cancels the call already forwarded.

Answering the agent "cut off" is not enough when the upstream keeps working on
the forwarded ``tools/call`` (sending the e-mail, dropping the table). The
gateway cancels the forwarded request and stops waiting for it; the upstream
learns it the way its wire spells cancellation: a ``notifications/cancelled``
naming the request (stdio, and HTTP before 2026-07-28) or the request's own
response stream closed (streamable HTTP at 2026-07-28, which has no
client-to-server notifications). The upstream is the real test MCP server, as
a stdio child of the gateway and over streamable HTTP; its ``hang`` tool blocks
until it is cancelled, notes that it was, and the server writes every
cancellation notification it receives to a log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from tests.support.server import run_cli
from tests.unit.gateway.stack import Stack, mcp_session, running_stack

from charter.gateway import refusals


@pytest.fixture(scope="module", params=["stdio", "http"])
def wire(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def stack(wire: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp(f"gateway-cut-{wire}"),
        upstream_over_http=wire == "http",
        watch_interval=0.2,
        call_timeout="60s",
    ) as built:
        yield built


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_cut_cancels_the_forwarded_call_upstream(stack: Stack, wire: str) -> None:
    token = stack.token("helpdesk-bot", "hang read_ticket")
    calls, cancelled = stack.home / "calls.log", stack.home / "cancelled.log"
    outcome: dict[str, Any] = {}

    async def session() -> None:
        async with mcp_session(stack.gateway, {"Authorization": f"Bearer {token}"}) as client:

            async def hang() -> None:
                with pytest.raises(MCPError) as caught:
                    await client.call_tool("hang", {"seconds": 55})
                outcome["error"] = caught.value.error
                outcome["answered_at"] = time.monotonic()

            async with anyio.create_task_group() as group:
                group.start_soon(hang)
                started = await anyio.to_thread.run_sync(
                    lambda: _wait_for(lambda: "hang" in _lines(calls))
                )
                assert started, "the call never reached the upstream"
                done = await anyio.to_thread.run_sync(
                    lambda: run_cli(
                        "agent", "suspend", "helpdesk-bot", "--reason", "incident 7", env=stack.env
                    )
                )
                outcome["suspended_at"] = time.monotonic()
                assert done.returncode == 0, done.stderr

    anyio.run(session)
    # the agent is answered at once, not when the upstream finishes (55 s) or times out (60 s)
    assert outcome["error"].code == refusals.AGENT_CUT_OFF
    assert outcome["answered_at"] - outcome["suspended_at"] < 5
    # the upstream's handler really stopped (it would otherwise run on for 55 s)
    assert _wait_for(lambda: "hang:cancelled" in _lines(calls))
    assert _lines(calls).count("hang") == 1
    notices = [json.loads(line) for line in _text(cancelled).splitlines()]
    # told for that request, and why (by default both wires hold a handshake session)
    assert len(notices) == 1, wire
    assert f"hang-request:{notices[0]['requestId']}" in _lines(calls)  # that very call
    if wire == "http":  # an agent that takes no requests back: the call took the fast path
        assert str(notices[0]["requestId"]).startswith("charter-")
    reason = notices[0]["reason"]
    assert (
        reason.startswith("Charter cut off agent helpdesk-bot: ") and "no longer active" in reason
    )


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""
