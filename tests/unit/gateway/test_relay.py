"""The upstream → agent direction: routing, deciding, bounding.

A real :class:`~charter.gateway.server.Gateway` and its relay over the real
decision engine (:class:`fakes.FakeAuthority`); the agent's side is a stand-in
for the SDK's per-request session that records what it was sent.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import mcp_types as types
import pytest
from tests.unit.gateway.test_server import make_gateway

from charter.domain.charter_parsing import load_document, parse_charter
from charter.gateway.authority import AgentPrincipal
from charter.gateway.relay import QUEUE_SIZE, REFUSED, UNROUTABLE, Call

pytestmark = pytest.mark.anyio

SAMPLER = """
name: sampler
owner: maria.garcia@acme.example
purpose: May let the helpdesk use its model while it triages.
allow:
  - {action: triage, resource: "helpdesk:tools/triage"}
  - {action: sampling.create, resource: "helpdesk:tools/triage"}
"""
AGENT = AgentPrincipal("sampler", scopes=frozenset({"triage", "sampling.create"}))
ASK = types.CreateMessageRequestParams(
    messages=[
        types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))
    ],
    max_tokens=10,
)


class AgentSide:
    """What the SDK's ServerSession would carry back to the agent, recorded."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.logs: list[Any] = []

    async def send_request(self, request: Any, result_type: Any, metadata: Any = None) -> Any:
        self.requests.append((request.method, metadata.related_request_id))
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="ok"), model="m"
        )

    async def send_log_message(self, level: str, data: Any, *_: Any, **__: Any) -> None:
        self.logs.append(data)


def _gateway() -> Any:
    gateway, authority = make_gateway()
    authority.charters["sampler"] = parse_charter(load_document(SAMPLER))
    return gateway, authority


def _call(side: AgentSide, resource: str = "helpdesk:tools/triage", rid: int = 5) -> Call:
    return Call(AGENT, "helpdesk", resource, side, rid, "http:s1")  # type: ignore[arg-type]


async def test_an_allowed_request_goes_to_the_calling_agent_on_its_call() -> None:
    gateway, authority = _gateway()
    side = AgentSide()
    with gateway.relay.calling(_call(side)):
        answer = await gateway.relay.sampling("helpdesk", ASK)
    assert isinstance(answer, types.CreateMessageResult)
    assert side.requests == [("sampling/createMessage", 5)]  # on the call's own stream
    assert [(r.action, r.resource, r.decision.allowed) for r in authority.records] == [
        ("sampling.create", "helpdesk:tools/triage", True)
    ]


async def test_a_request_the_charter_does_not_allow_is_refused_to_the_upstream() -> None:
    gateway, authority = _gateway()
    side = AgentSide()
    with gateway.relay.calling(_call(side, resource="helpdesk:tools/other")):
        answer = await gateway.relay.sampling("helpdesk", ASK)
        elicited = await gateway.relay.elicitation(
            "helpdesk",
            types.ElicitRequestFormParams(message="password?", requested_schema={"type": "object"}),
        )
    assert isinstance(answer, types.ErrorData) and answer.code == REFUSED
    assert isinstance(elicited, types.ErrorData) and elicited.code == REFUSED
    assert "Charter refused elicitation.create" in elicited.message
    assert side.requests == []  # the agent (and the person) were never asked
    assert [(r.action, r.decision.allowed) for r in authority.records] == [
        ("sampling.create", False),
        ("elicitation.create", False),
    ]


async def test_a_failing_decision_is_a_refusal() -> None:
    gateway, authority = _gateway()

    async def broken(*_: Any) -> Any:
        raise RuntimeError("the store is gone")

    authority.decide = broken  # type: ignore[method-assign]
    side = AgentSide()
    with gateway.relay.calling(_call(side)):
        answer = await gateway.relay.roots("helpdesk")
    assert isinstance(answer, types.ErrorData) and answer.code == REFUSED
    assert side.requests == []
    assert authority.records[0].decision.allowed is False


async def test_a_request_that_belongs_to_no_single_call_is_refused_not_guessed() -> None:
    gateway, authority = _gateway()
    first, second = AgentSide(), AgentSide()
    none = await gateway.relay.sampling("helpdesk", ASK)  # nothing in flight
    mine = _call(first)
    with gateway.relay.calling(mine):
        # a request arriving on the wire, outside the calls' own tasks, while two are in flight
        other = _call(second, rid=6)
        gateway.relay._calls["helpdesk"].add(other)
        ambiguous = gateway.relay.call_for("helpdesk")
        gateway.relay._calls["helpdesk"].discard(other)
    assert isinstance(none, types.ErrorData) and none.code == UNROUTABLE
    assert ambiguous is mine  # inside its own task the call is known
    gateway.relay._calls["helpdesk"] = {_call(first), _call(second, rid=6)}
    assert gateway.relay.call_for("helpdesk") is None
    assert first.requests == [] and second.requests == [] and authority.records == []


async def test_a_flood_of_notifications_is_bounded_and_dropped_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway, _ = _gateway()
    side = AgentSide()
    call = _call(side)
    params = types.LoggingMessageNotificationParams(level="info", data="x")
    caplog.set_level(logging.WARNING, "charter.gateway.relay")
    with gateway.relay.calling(call):
        for _ in range(QUEUE_SIZE * 4):
            gateway.relay.log("helpdesk", params)
    assert call.pending == QUEUE_SIZE
    floods = [r for r in caplog.records if "floods notifications" in r.getMessage()]
    assert len(floods) == 1  # one line per burst, not one per message
    async with anyio.create_task_group() as group:
        group.start_soon(gateway.relay.pump, "helpdesk")
        with anyio.fail_after(5):
            await gateway.relay.drain(call)
        group.cancel_scope.cancel()
    assert len(side.logs) == QUEUE_SIZE and call.pending == 0


async def test_log_messages_below_the_connections_level_are_not_relayed() -> None:
    gateway, _ = _gateway()
    side = AgentSide()
    gateway.relay.levels["http:s1"] = "warning"
    call = _call(side)
    with gateway.relay.calling(call):
        gateway.relay.log("helpdesk", types.LoggingMessageNotificationParams(level="info", data=1))
        gateway.relay.log("helpdesk", types.LoggingMessageNotificationParams(level="error", data=2))
    assert call.pending == 1
