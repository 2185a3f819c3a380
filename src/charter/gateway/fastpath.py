"""The fast path: an allowed call forwarded as raw JSON-RPC bytes, decided first as always.

The SDK's typed server and client models make a second MCP hop cost
milliseconds: the agent's request is validated into models, handed through the
session's streams, built again as the upstream request, and the upstream's
result is validated and serialised once more. For the common case the gateway
needs none of that. :class:`FastPath` sits behind the resource server (the
agent is authenticated, a step-up challenge already answered) and in front of
the SDK's session manager, and takes a request only when all of this holds:

- a ``POST`` on an MCP session the SDK manager holds, opened by the same
  credential, initialized, whose agent declared no ``sampling``,
  ``elicitation`` or ``roots`` capability (nothing the upstream could ask it
  for mid-call needs routing back), passing the SDK's DNS-rebinding checks;
- one JSON-RPC request (not a batch) of ``tools/call``, ``resources/read`` or
  ``prompts/get`` for a name the directory knows, with no ``_meta`` (progress
  tokens and related requests go the full way), its ``Mcp-Method`` header, if
  any, naming the same method;
- the upstream is an HTTP upstream, ready, speaking the same protocol version
  as the agent's session.

Anything else — and a decision that needs a person's approval — goes on to the
SDK, untouched, and is decided there in full. What the fast path forwards it
has decided exactly as the SDK handler does (cut-off check, the charter's
decision, the token's scope as a ceiling, rate limits; the same MCP errors and
Activity rows), and it forwards only the name and arguments it decided on. The
upstream's response goes back with the agent's id as one JSON body; log
messages the upstream sends before it make the answer an SSE stream (as the
SDK would); a request the upstream sends mid-call is answered with an error,
since the agent declared it cannot answer it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
import orjson
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from charter.gateway.auth import PRINCIPAL_KEY
from charter.gateway.authority import AgentPrincipal
from charter.gateway.bodies import peek_body
from charter.gateway.directory import GET_PROMPT, READ_RESOURCE, resource_of
from charter.gateway.rawcall import mint_id
from charter.gateway.refusals import cut_off, safe_name, upstream_failure
from charter.gateway.relay import LEVELS
from charter.gateway.upstream import UpstreamError, UpstreamRefused, UpstreamState
from charter.services.metrics import GATEWAY_CALLS

if TYPE_CHECKING:
    from charter.gateway.rawcall import RawChannel
    from charter.gateway.server import Gateway

logger = logging.getLogger("charter.gateway.fastpath")

CALLS = frozenset({"tools/call", "resources/read", "prompts/get"})
BACK_CHANNEL = ("sampling", "elicitation", "roots")
MAX_SESSIONS = 100_000
_SESSION = b"mcp-session-id"


@dataclass(slots=True)
class AgentSession:
    """What the fast path knows of one agent session, from its opening messages."""

    eligible: bool  # declared none of :data:`BACK_CHANNEL`
    initialized: bool = False


@dataclass(slots=True)
class Target:
    """Where a call goes and what is decided for it."""

    method: str
    action: str
    resource: str
    upstream: str
    name: str  # the upstream's own name (or the URI)
    what: str
    arguments: dict[str, Any]
    params: dict[str, Any]  # what is forwarded: only what was decided on


class FastPath:
    """ASGI middleware: the fast path for eligible calls, the SDK for everything else."""

    def __init__(
        self, app: ASGIApp, gateway: Gateway, manager: StreamableHTTPSessionManager
    ) -> None:
        self.app = app
        self.gateway = gateway
        self.manager = manager
        self.sessions: dict[str, AgentSession] = {}
        #: calls answered by the fast path (for tests and the benchmark's sanity check)
        self.taken = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body, receive = await peek_body(receive, self.gateway.settings.max_message_bytes)
        session_id = _header(scope, _SESSION)
        if body is None:
            await self.app(scope, receive, send)
        elif session_id is None:
            await self.app(scope, receive, self._opening(body, send))
        elif _is_initialized(body):
            await self.app(scope, receive, self._initialized(session_id, send))
        elif not await self._fast(scope, body, session_id, send):
            await self.app(scope, receive, send)

    def _opening(self, body: bytes, send: Send) -> Send:
        """Note a new session's capabilities when the SDK opens it."""
        if b'"initialize"' not in body:
            return send
        try:
            message = orjson.loads(body)
            capabilities = message["params"]["capabilities"]
            eligible = isinstance(capabilities, dict) and not any(
                capabilities.get(name) is not None for name in BACK_CHANNEL
            )
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return send

        async def opening(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 200:
                for name, value in message.get("headers", ()):
                    if name.lower() == _SESSION:
                        if len(self.sessions) >= MAX_SESSIONS:
                            self._forget_closed()
                        self.sessions[value.decode("latin-1")] = AgentSession(eligible)
            await send(message)

        return opening

    def _initialized(self, session_id: str, send: Send) -> Send:
        """Mark the session initialized once the SDK has accepted the notification."""

        async def initialized(message: Message) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 202:
                known = self.sessions.get(session_id)
                if known is not None:
                    known.initialized = True
            await send(message)

        return initialized

    def _forget_closed(self) -> None:
        held = self.manager._server_instances
        for session_id in [s for s in self.sessions if s not in held]:
            del self.sessions[session_id]

    # -- taking a call -------------------------------------------------------------------
    async def _fast(self, scope: Scope, body: bytes, session_id: str, send: Send) -> bool:
        """Answer the call here, if it qualifies; ``False`` leaves it to the SDK."""
        known = self.sessions.get(session_id)
        principal = scope.get(PRINCIPAL_KEY)
        if known is None or not known.eligible or not known.initialized:
            return False
        if not isinstance(principal, AgentPrincipal):
            return False
        transport = await self._session(scope, session_id)
        if transport is None:
            return False
        message = _request(body)
        if message is None:
            return False
        header = _header(scope, b"mcp-method")
        if header is not None and header != message["method"]:
            return False  # the SDK answers the mismatch
        target = self._target(message["method"], message["params"])
        if target is None:
            return False  # unknown names are refused (and recorded) by the handler
        upstream = self.gateway.upstreams.get(target.upstream)
        raw = upstream.raw if upstream is not None else None
        version = _header(scope, b"mcp-protocol-version")
        if upstream is None or raw is None or not raw.ready or raw.version != version:
            return False
        if upstream.state != UpstreamState.READY:
            return False
        gateway = self.gateway
        if gateway.sessions.cut_reason(principal.agent) is not None:
            return False  # the handler answers with the cut's reason
        started = time.perf_counter()
        context = _context(scope, target, session_id)
        decision = await gateway.authority.decide(
            principal, target.action, target.resource, context
        )
        if decision.needs_approval and principal.in_scope(target.action):
            return False  # a person may be asked: the handler decides it again, in full
        agent_id = message["id"]
        self.taken += 1
        try:
            decision = await gateway.settle(
                principal, target.what, target.action, target.resource, decision, started
            )
        except MCPError as refused:
            await _answer(send, session_id, _error(agent_id, refused))
            return True
        level = gateway.relay.levels.get(f"http:{session_id}")
        stream = _Stream(send, session_id, level, streams=not self.manager.json_response)
        try:
            with _holding(transport):
                answer = await self._forward(principal, raw, upstream.call_timeout, target, stream)
        except MCPError as failed:
            answer = _error(agent_id, failed)
        finally:
            gateway.record_decision(principal, target.action, target.resource, decision, started)
        answer["id"] = agent_id
        await stream.finish(orjson.dumps(answer))
        return True

    async def _session(self, scope: Scope, session_id: str) -> StreamableHTTPServerTransport | None:
        """The session's transport, if it passes the checks the SDK makes before it hands
        a POST to a session (else the SDK answers)."""
        manager = self.manager
        transport = manager._server_instances.get(session_id)
        if transport is None or transport.is_terminated:
            self.sessions.pop(session_id, None)
            return None
        if transport.idle_scope is not None and transport.idle_scope.cancel_called:
            return None
        user = scope.get("user")
        requestor = authorization_context(user) if isinstance(user, AuthenticatedUser) else None
        if requestor != manager._session_owners.get(session_id):
            return None
        if not manager.json_response and not _accepts(scope, b"text/event-stream"):
            return None
        if not _accepts(scope, b"application/json"):
            return None
        refused = await transport._security.validate_request(Request(scope), is_post=True)
        return transport if refused is None else None

    def _target(self, method: str, params: dict[str, Any]) -> Target | None:
        directory = self.gateway.directory
        forwarded: dict[str, Any]
        if method == "resources/read":
            uri = params.get("uri")
            owner = directory.resource_owner(uri) if isinstance(uri, str) else None
            if owner is None or not isinstance(uri, str) or set(params) - {"uri"}:
                return None
            what = f"reading {safe_name(uri)} on {owner}"
            resource = resource_of(owner, uri)
            forwarded = {"uri": uri}
            return Target(
                method, READ_RESOURCE, resource, owner, uri, what, {"uri": uri}, forwarded
            )
        name = params.get("name")
        arguments = params.get("arguments", {})
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return None
        if set(params) - {"name", "arguments"}:
            return None  # anything more goes the full way
        if method == "tools/call":
            tool = directory.tool(name)
            if tool is None:
                return None
            what = f"calling {tool.visible} on {tool.upstream}"
            forwarded = {"name": tool.name, "arguments": arguments}
            return Target(
                method,
                tool.name,
                tool.resource,
                tool.upstream,
                tool.name,
                what,
                arguments,
                forwarded,
            )
        prompt = directory.prompt(name)
        if prompt is None:
            return None
        what = f"getting prompt {prompt.visible} on {prompt.upstream}"
        forwarded = {"name": prompt.name, "arguments": arguments}
        return Target(
            method,
            GET_PROMPT,
            prompt.resource,
            prompt.upstream,
            prompt.name,
            what,
            arguments,
            forwarded,
        )

    async def _forward(
        self,
        principal: AgentPrincipal,
        raw: RawChannel,
        timeout: float,
        target: Target,
        stream: _Stream,
    ) -> dict[str, Any]:
        """Send the decided call upstream under the agent's cancellable scope."""
        request_id = mint_id()
        body = orjson.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": target.method, "params": target.params}
        )
        agent = principal.agent
        answer: dict[str, Any] | None = None
        with self.gateway.sessions.call(agent) as cut:
            try:
                answer = await raw.call(
                    body,
                    request_id,
                    timeout=timeout,
                    on_notice=stream.notice,
                    on_request=_cannot_ask,
                )
            except UpstreamError as error:
                raise upstream_failure(error) from None
        if cut.cancelled_caught or answer is None:
            GATEWAY_CALLS.labels(raw.name, "cut").inc()  # the agent was cut off mid-call
            reason = self.gateway.sessions.cut_reason(agent) or "cut off"
            await raw.cancel(request_id, f"Charter cut off agent {agent}: {reason}")
            raise cut_off(agent, reason)
        failure = answer.get("error")
        if isinstance(failure, dict):
            try:
                data = types.ErrorData.model_validate(failure)
            except ValueError:
                data = types.ErrorData(code=types.INTERNAL_ERROR, message="upstream error")
            message = self.gateway.secrets.redact(data.message)
            refused = UpstreamRefused(raw.name, data.model_copy(update={"message": message}))
            raise upstream_failure(refused)  # counted there, as on the full path
        GATEWAY_CALLS.labels(raw.name, "ok").inc()
        return answer


class _Stream:
    """The answer to the agent: one JSON body, or SSE once a log message comes first."""

    def __init__(self, send: Send, session_id: str, level: str | None, *, streams: bool) -> None:
        self.send = send
        self.session_id = session_id
        self.level = level
        self.streams = streams  # False (stream_responses: false): plain JSON only, logs dropped
        self.streaming = False

    async def notice(self, message: dict[str, Any]) -> None:
        if message.get("method") != "notifications/message":
            return  # progress was not asked for; nothing else relates to a call
        params = message.get("params")
        level = params.get("level") if isinstance(params, dict) else None
        if not self.streams or level not in LEVELS:
            return
        if self.level is not None and LEVELS.index(level) < LEVELS.index(self.level):
            return
        if not self.streaming:
            self.streaming = True
            await self.send(_start(self.session_id, b"text/event-stream"))
        await self.send(_chunk(b"event: message\ndata: " + orjson.dumps(message) + b"\n\n", True))

    async def finish(self, body: bytes) -> None:
        if self.streaming:
            await self.send(_chunk(b"event: message\ndata: " + body + b"\n\n", False))
        else:
            await _answer(self.send, self.session_id, body)


@contextmanager
def _holding(transport: StreamableHTTPServerTransport) -> Iterator[None]:
    """Hold the session while a call runs, as the SDK's transport does for its requests:
    its idle countdown stops, and restarts when the last request is done."""
    idle, timeout = transport.idle_scope, transport._idle_timeout
    if idle is None or timeout is None:
        yield
        return
    transport._requests_in_flight += 1
    idle.deadline = math.inf
    try:
        yield
    finally:
        transport._requests_in_flight -= 1
        if not transport._requests_in_flight:
            idle.deadline = anyio.current_time() + timeout


async def _cannot_ask(message: dict[str, Any]) -> dict[str, Any]:
    method = safe_name(message.get("method"))
    logger.info("an upstream asked %s of an agent that cannot answer it; refused", method)
    return {
        "jsonrpc": "2.0",
        "id": message.get("id"),
        "error": {
            "code": types.METHOD_NOT_FOUND,
            "message": f"the agent did not declare the capability {method} needs",
        },
    }


def _is_initialized(body: bytes) -> bool:
    """Whether ``body`` is exactly the ``notifications/initialized`` notification."""
    if b"notifications/initialized" not in body:
        return False
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(message, dict)
        and message.get("jsonrpc") == "2.0"
        and message.get("method") == "notifications/initialized"
        and "id" not in message
    )


def _request(body: bytes) -> dict[str, Any] | None:
    """``body`` as one JSON-RPC request of :data:`CALLS`, or ``None``."""
    if not body.lstrip().startswith(b"{"):
        return None  # batches and other shapes go the full way
    try:
        message = orjson.loads(body)
    except (orjson.JSONDecodeError, RecursionError):
        return None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    request_id = message.get("id")
    valid_id = isinstance(request_id, str) or (
        isinstance(request_id, int) and not isinstance(request_id, bool)
    )
    params = message.get("params")
    if not valid_id or message.get("method") not in CALLS or not isinstance(params, dict):
        return None
    if set(message) - {"jsonrpc", "id", "method", "params"}:
        return None
    return message


def _context(scope: Scope, target: Target, session_id: str) -> dict[str, Any]:
    """What a charter's conditions see, as :meth:`Gateway.context` builds it."""
    mcp = {
        "method": target.method,
        "server": target.upstream,
        "name": target.name,
        "session": session_id,
    }
    context: dict[str, Any] = {"args": dict(target.arguments), "mcp": mcp}
    client = scope.get("client")
    if client:
        context["source_ip"] = client[0]
    return context


def _error(request_id: Any, error: MCPError) -> dict[str, Any]:
    data = error.error.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {"jsonrpc": "2.0", "id": request_id, "error": data}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _accepts(scope: Scope, kind: bytes) -> bool:
    for key, value in scope["headers"]:
        if key == b"accept" and (kind in value or b"*/*" in value):
            return True
    return False


def _start(session_id: str, kind: bytes, length: int | None = None) -> Message:
    headers = [(b"content-type", kind), (_SESSION, session_id.encode("latin-1"))]
    if length is not None:
        headers.append((b"content-length", b"%d" % length))
    else:
        headers.append((b"cache-control", b"no-cache, no-transform"))
    return {"type": "http.response.start", "status": 200, "headers": headers}


def _chunk(body: bytes, more: bool) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": more}


async def _answer(send: Send, session_id: str, body: bytes | dict[str, Any]) -> None:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    await send(_start(session_id, b"application/json", len(payload)))
    await send(_chunk(payload, False))
