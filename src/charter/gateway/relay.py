"""What flows back from an upstream to the agent whose call it concerns.

An agent's ``tools/call`` (or read, or prompt) is forwarded on the upstream's
one shared session. While it runs, the upstream may talk back: ask the agent
for a sampling (``sampling/createMessage``), an elicitation
(``elicitation/create``) or its roots (``roots/list``); send progress for the
call; log (``notifications/message``). Later it may announce that a resource
an agent subscribed to changed, or that its listings changed.

Each forwarded call is registered here as a :class:`Call` (the agent, the
upstream, the call's own back-channel). What the upstream sends is routed to
the call it belongs to: the call running in this task (the 2026-07-28
multi-round-trip path, where the SDK answers the upstream's input requests
inside the call), else the one call in flight on that upstream. When several
calls are in flight on that upstream and the wire does not say which one a
request is for, the request is refused (the upstream gets a JSON-RPC error)
and a log message is dropped: Charter never guesses which agent to ask.

What an upstream asks of an agent is decided like anything an agent does:
action ``sampling.create`` / ``elicitation.create`` / ``roots.list`` on the
resource of the call it arrived during (``helpdesk:tools/triage``), for the
calling agent. A refusal is a JSON-RPC error to the upstream and an Activity
row, the agent is never asked.

Notifications pass through a bounded queue per upstream: an upstream that
floods them loses the excess (one log line per burst), never the gateway's
memory and never another upstream's traffic.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.session import ServerSession
from mcp.shared.exceptions import MCPError
from mcp.shared.message import ServerMessageMetadata

from charter.domain.decision import Decision, Reason, ReasonCode

if TYPE_CHECKING:
    from charter.gateway.server import Gateway

logger = logging.getLogger("charter.gateway.relay")

SAMPLING = "sampling.create"
ELICITATION = "elicitation.create"
ROOTS = "roots.list"
#: Notifications waiting to reach agents, per upstream; beyond this they are dropped.
QUEUE_SIZE = 256
#: How long a finished call waits for its queued progress and log messages to go out.
DRAIN_WAIT = 1.0
#: Refused server-initiated requests answer this JSON-RPC error code.
REFUSED = -32030
UNROUTABLE = -32043

LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")

_CURRENT: ContextVar[Call | None] = ContextVar("charter_gateway_call", default=None)


@dataclass(eq=False)
class Call:
    """One forwarded agent call, and the way back to that agent."""

    agent: Any  # the AgentPrincipal
    upstream: str
    resource: str
    session: ServerSession
    request_id: types.RequestId | None
    log_key: str
    pending: int = 0
    drained: anyio.Event = field(default_factory=anyio.Event)


Delivery = Callable[[], Awaitable[None]]


class Relay:
    """The upstream → agent direction for one gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._calls: dict[str, set[Call]] = {}
        self._queues: dict[
            str,
            tuple[
                MemoryObjectSendStream[tuple[Call | None, Delivery]],
                MemoryObjectReceiveStream[tuple[Call | None, Delivery]],
            ],
        ] = {}
        self._dropped: dict[str, int] = {}
        #: logging/setLevel per agent connection (``log_key``); absent = everything.
        self.levels: dict[str, str] = {}
        #: Who subscribed to what: upstream → uri → {connection key: (agent, session)}.
        self.subscribers: dict[str, dict[str, dict[str, tuple[str, ServerSession]]]] = {}
        #: Agent connections that listed something (they hear list_changed): key → (agent, session).
        self.listeners: dict[str, tuple[str, ServerSession]] = {}

    # -- calls -------------------------------------------------------------------------
    @contextmanager
    def calling(self, call: Call) -> Iterator[Call]:
        calls = self._calls.setdefault(call.upstream, set())
        calls.add(call)
        token = _CURRENT.set(call)
        try:
            yield call
        finally:
            _CURRENT.reset(token)
            calls.discard(call)

    async def drain(self, call: Call) -> None:
        """Let the call's queued progress and log messages go out before its result does."""
        if call.pending:
            with anyio.move_on_after(DRAIN_WAIT):
                await call.drained.wait()

    def call_for(self, upstream: str) -> Call | None:
        current = _CURRENT.get()
        if current is not None and current.upstream == upstream:
            return current
        calls = self._calls.get(upstream)
        if calls is not None and len(calls) == 1:
            return next(iter(calls))
        return None

    # -- the upstream asks the agent --------------------------------------------------------
    async def ask(self, upstream: str, request: Any, result_type: type[Any], action: str) -> Any:
        """Decide and route an upstream's request to the agent; its answer, or ``ErrorData``."""
        call = self.call_for(upstream)
        if call is None:
            logger.warning(
                "upstream %s sent %s outside any single agent call; refused",
                upstream,
                request.method,
            )
            return types.ErrorData(
                code=UNROUTABLE,
                message=(
                    f"Charter cannot tell which agent's call {request.method} belongs to "
                    "(send it while exactly one call is in flight, or during the call it serves)"
                ),
            )
        gateway = self._gateway
        started = time.perf_counter()
        context = {"mcp": {"method": request.method, "server": upstream, "name": call.resource}}
        try:
            decision = await gateway.authority.decide(call.agent, action, call.resource, context)
            if decision.allowed and not call.agent.in_scope(action):
                decision = Decision(
                    False,
                    reasons=(
                        Reason(
                            ReasonCode.SCOPE_EXCEEDED,
                            f"the access token's scope does not include {action!r}",
                        ),
                    ),
                )
            if gateway.sessions.cut_reason(call.agent.agent) is not None:
                decision = Decision(
                    False, reasons=(Reason(ReasonCode.INVALID_REQUEST, "the agent was cut off"),)
                )
        except Exception as exc:  # fail closed: an error inside a decision is a deny
            logger.exception("deciding %s for %s failed", action, upstream)
            decision = Decision(
                False, reasons=(Reason(ReasonCode.INVALID_REQUEST, f"decision failed: {exc}"),)
            )
        gateway.record_decision(call.agent, action, call.resource, decision, started)
        if not decision.allowed:
            reasons = [f"{r.code.value}: {r.message}" for r in decision.reasons]
            return types.ErrorData(
                code=REFUSED,
                message=f"Charter refused {action} for agent {call.agent.agent} on {call.resource}",
                data={"action": action, "resource": call.resource, "reasons": reasons},
            )
        metadata = ServerMessageMetadata(related_request_id=call.request_id)
        try:
            return await call.session.send_request(request, result_type, metadata=metadata)
        except MCPError as error:
            return error.error
        except Exception as exc:
            logger.warning(
                "forwarding %s to agent %s failed: %s", request.method, call.agent.agent, exc
            )
            return types.ErrorData(
                code=types.INTERNAL_ERROR,
                message=f"the agent could not be asked: {type(exc).__name__}",
            )

    async def sampling(self, upstream: str, params: types.CreateMessageRequestParams) -> Any:
        request = types.CreateMessageRequest(params=params)
        return await self.ask(upstream, request, types.CreateMessageResult, SAMPLING)

    async def elicitation(self, upstream: str, params: types.ElicitRequestParams) -> Any:
        request = types.ElicitRequest(params=params)
        return await self.ask(upstream, request, types.ElicitResult, ELICITATION)

    async def roots(self, upstream: str) -> Any:
        return await self.ask(upstream, types.ListRootsRequest(), types.ListRootsResult, ROOTS)

    # -- notifications ------------------------------------------------------------------
    def _queue(
        self, upstream: str
    ) -> tuple[
        MemoryObjectSendStream[tuple[Call | None, Delivery]],
        MemoryObjectReceiveStream[tuple[Call | None, Delivery]],
    ]:
        queue = self._queues.get(upstream)
        if queue is None:
            queue = anyio.create_memory_object_stream[tuple[Call | None, Delivery]](QUEUE_SIZE)
            self._queues[upstream] = queue
        return queue

    def enqueue(self, upstream: str, call: Call | None, deliver: Delivery) -> bool:
        """Queue one notification for delivery; drop it (with a log line) when the queue is full."""
        send, _ = self._queue(upstream)
        try:
            send.send_nowait((call, deliver))
        except anyio.WouldBlock:
            dropped = self._dropped.get(upstream, 0) + 1
            self._dropped[upstream] = dropped
            if dropped == 1 or dropped % 1000 == 0:
                logger.warning(
                    "upstream %s floods notifications: %d dropped so far (queue of %d full)",
                    upstream,
                    dropped,
                    QUEUE_SIZE,
                )
            return False
        if call is not None:
            call.pending += 1
        return True

    async def pump(self, upstream: str) -> None:
        """Deliver ``upstream``'s queued notifications, one at a time, until cancelled."""
        _, receive = self._queue(upstream)
        async for call, deliver in receive:
            try:
                await deliver()
            except Exception as exc:
                logger.debug("a notification from %s was not delivered: %s", upstream, exc)
            if call is not None:
                call.pending -= 1
                if call.pending <= 0:
                    call.drained.set()

    def progress(
        self, call: Call, progress: float, total: float | None, message: str | None
    ) -> None:
        self.enqueue(
            call.upstream, call, lambda: call.session.report_progress(progress, total, message)
        )

    def log(self, upstream: str, params: types.LoggingMessageNotificationParams) -> None:
        call = self.call_for(upstream)
        if call is None:
            logger.debug("a log message from %s belongs to no single call; dropped", upstream)
            return
        wanted = self.levels.get(call.log_key)
        if wanted is not None and LEVELS.index(params.level) < LEVELS.index(wanted):
            return

        async def deliver() -> None:
            await call.session.send_log_message(
                params.level, params.data, params.logger, related_request_id=call.request_id
            )

        self.enqueue(upstream, call, deliver)

    def resource_updated(self, upstream: str, uri: str) -> None:
        for key, (agent, session) in list(self.subscribers.get(upstream, {}).get(uri, {}).items()):
            if self._gateway.sessions.cut_reason(agent) is not None:
                continue

            async def deliver(session: ServerSession = session, key: str = key) -> None:
                try:
                    await session.send_resource_updated(uri)
                except Exception:
                    self.subscribers.get(upstream, {}).get(uri, {}).pop(key, None)
                    raise

            self.enqueue(upstream, None, deliver)

    def lists_changed(self, upstream: str) -> None:
        """Tell every agent connection that listed something that the listings changed."""
        for key, (agent, session) in list(self.listeners.items()):
            if self._gateway.sessions.cut_reason(agent) is not None:
                continue

            async def deliver(session: ServerSession = session, key: str = key) -> None:
                try:
                    await session.send_tool_list_changed()
                    await session.send_resource_list_changed()
                    await session.send_prompt_list_changed()
                except Exception:
                    self.listeners.pop(key, None)
                    raise

            self.enqueue(upstream, None, deliver)

    def listening(self, key: str, agent: str, session: ServerSession) -> None:
        if key.startswith("request:"):  # a stateless request has no channel to hear on later
            return
        if key not in self.listeners and len(self.listeners) >= 10_000:
            self.listeners.pop(next(iter(self.listeners)))
        self.listeners[key] = (agent, session)


_STRAY = "dropping response for unknown/late request id"


def _stray_responses(record: logging.LogRecord) -> bool:
    """Let through only the SDK's note of a response nobody asked for, as a warning."""
    if record.levelno != logging.DEBUG:
        return True
    if not str(record.msg).startswith(_STRAY):
        return False
    record.levelno, record.levelname = logging.WARNING, "WARNING"
    record.msg = "dropped a JSON-RPC response that matches no pending request (id %r)"
    return True


def log_stray_responses() -> None:
    """Make a response matching no pending request a logged drop (the SDK only notes it
    at debug level); the dispatcher's other debug lines stay silent."""
    sdk = logging.getLogger("mcp.shared.jsonrpc_dispatcher")
    if _stray_responses not in sdk.filters:
        sdk.addFilter(_stray_responses)
        if sdk.getEffectiveLevel() > logging.DEBUG:
            sdk.setLevel(logging.DEBUG)
