"""Step-up: a call the charter would allow but the token's scope does not cover.

The MCP authorization spec (2025-11-25 "Scope Challenge Handling", kept in
2026-07-28) asks a resource server that refuses a request for lack of scope to
answer ``403`` with ``WWW-Authenticate: Bearer error="insufficient_scope",
scope="…"`` (RFC 6750 §3.1) so the client can ask the authorization server for
a token with that scope and retry. As RFC 6750 and the 2026-07-28 revision
say, the challenge names the scope *this request* needs; the client keeps the
scopes it already holds.

The gateway answers so only when the step-up could succeed: the call is
decided against the agent's charter with the token's scope set aside, and only
an allow becomes a challenge (its scope is the action, which Charter's token
endpoint grants within the charter, never wider). A call the charter denies
anyway goes on to the MCP handler, which decides again and answers the deny
with its reasons, so a challenge never tells an agent to ask for something it
cannot have. The refusal is recorded as Activity like any other deny.

Only a single, well-formed JSON-RPC ``tools/call``, ``resources/read`` or
``prompts/get`` request is looked at; anything else (batches, unknown names,
bodies over the limit) is left to the MCP handler, which decides it in full.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from charter.domain.decision import Decision, Reason, ReasonCode
from charter.gateway.authority import AgentPrincipal
from charter.gateway.directory import GET_PROMPT, READ_RESOURCE, resource_of

if TYPE_CHECKING:
    from charter.gateway.server import Gateway

logger = logging.getLogger("charter.gateway.stepup")

#: The requests a token's scope can fall short for (directory.py maps them to actions).
CALLS = frozenset({"tools/call", "resources/read", "prompts/get"})
_TOOL, _RESOURCE, _PROMPT = b'"tools/call"', b'"resources/read"', b'"prompts/get"'


@dataclass(frozen=True, slots=True)
class Call:
    """A JSON-RPC request the resource server peeked at before the MCP handler."""

    method: str
    params: Mapping[str, Any]
    source_ip: str | None = None
    session: str | None = None


def parse_call(body: bytes) -> Call | None:
    """The call in ``body`` if it is one single request of :data:`CALLS`, else ``None``."""
    if not body or (_TOOL not in body and _RESOURCE not in body and _PROMPT not in body):
        return None  # most messages are not one of these: no JSON parse for them
    try:
        message = orjson.loads(body)
    except (orjson.JSONDecodeError, RecursionError):
        return None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or "id" not in message:
        return None
    method = message.get("method")
    params = message.get("params")
    if method not in CALLS or not isinstance(params, dict):
        return None
    return Call(method, params)


def _target(gateway: Gateway, call: Call) -> tuple[str, str, str, str, dict[str, Any]] | None:
    """(action, resource, upstream, name, arguments) for the call, or ``None`` if unknown."""
    params = call.params
    name = params.get("name")
    name = name if isinstance(name, str) else ""
    if call.method == "tools/call":
        tool = gateway.directory.tool(name)
        if tool is None:
            return None
        return tool.name, tool.resource, tool.upstream, tool.name, _arguments(params)
    if call.method == "prompts/get":
        prompt = gateway.directory.prompt(name)
        if prompt is None:
            return None
        return GET_PROMPT, prompt.resource, prompt.upstream, prompt.name, _arguments(params)
    uri = params.get("uri")
    owner = gateway.directory.resource_owner(uri) if isinstance(uri, str) else None
    if owner is None or not isinstance(uri, str):
        return None
    return READ_RESOURCE, resource_of(owner, uri), owner, uri, {"uri": uri}


def _arguments(params: Mapping[str, Any]) -> dict[str, Any]:
    arguments = params.get("arguments")
    return dict(arguments) if isinstance(arguments, dict) else {}


async def scope_needed(gateway: Gateway, principal: AgentPrincipal, call: Call) -> str | None:
    """The scope to challenge for, if the token lacks it and the charter would allow the call."""
    target = _target(gateway, call)
    if target is None:
        return None
    action, resource, upstream, name, arguments = target
    if principal.in_scope(action) or gateway.sessions.cut_reason(principal.agent) is not None:
        return None
    started = time.perf_counter()
    mcp: dict[str, Any] = {"method": call.method, "server": upstream, "name": name}
    if call.session:
        mcp["session"] = call.session
    context: dict[str, Any] = {"args": arguments, "mcp": mcp}
    if call.source_ip is not None:
        context["source_ip"] = call.source_ip
    decision = await gateway.authority.decide(principal, action, resource, context)
    if not decision.allowed:
        return None  # the handler denies it with the charter's reasons
    beyond = Reason(
        ReasonCode.SCOPE_EXCEEDED,
        f"the access token's scope does not include {action!r}; step up with scope={action!r}",
    )
    refused = Decision(False, reasons=(beyond,))
    latency_us = (time.perf_counter() - started) * 1e6
    try:
        gateway.authority.record(principal, action, resource, refused, latency_us)
    except Exception:
        logger.exception("recording activity failed")
    return action
