"""Telling an upstream why a forwarded call was abandoned (MCP ``notifications/cancelled``).

When the kill switch cuts an agent, the gateway cancels the scope its
forwarded call runs in. The SDK then cancels that request at the upstream the
way the upstream's wire spells it: a ``notifications/cancelled`` naming the
request id (stdio, and streamable HTTP before 2026-07-28), or the request's
own response stream closed (streamable HTTP at 2026-07-28). The SDK's reason
is a generic "caller cancelled"; an upstream's operator should read *why*.

:func:`abandon_reason` marks a forwarded call with where its reason comes
from, and :class:`ReasonedCancellations` — the upstream's write stream,
wrapped — puts that reason into the cancellation written for it. The SDK
writes the cancellation from the abandoned call's own task (shielded, before
the cancellation propagates), so the mark, a context variable, is in force
there and nowhere else. Any other message passes through untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType

import mcp_types as types
from mcp.shared._stream_protocols import WriteStream
from mcp.shared.message import SessionMessage

CANCELLED = "notifications/cancelled"
MAX_REASON = 500

#: For the forwarded call running in this context: why it was abandoned, if it was.
_REASON: ContextVar[Callable[[], str | None] | None] = ContextVar("charter_abandon", default=None)


@contextmanager
def abandon_reason(reason: Callable[[], str | None]) -> Iterator[None]:
    """While forwarding: a cancellation the SDK writes for this call carries ``reason()``."""
    token = _REASON.set(reason)
    try:
        yield
    finally:
        _REASON.reset(token)


def with_reason(message: SessionMessage) -> SessionMessage:
    """``message`` with the abandoned call's reason, if it cancels that call; else itself."""
    notification = message.message
    source = _REASON.get()
    if (
        source is None
        or not isinstance(notification, types.JSONRPCNotification)
        or notification.method != CANCELLED
    ):
        return message
    reason = source()
    if not reason:
        return message
    params = types.CancelledNotificationParams.model_validate(notification.params or {})
    params = params.model_copy(update={"reason": reason[:MAX_REASON]})
    rewritten = notification.model_copy(
        update={"params": params.model_dump(by_alias=True, mode="json", exclude_none=True)}
    )
    return dataclasses.replace(message, message=rewritten)


class ReasonedCancellations:
    """An upstream's write stream that names the reason in the cancellations it carries."""

    def __init__(self, inner: WriteStream[SessionMessage]) -> None:
        self._inner = inner

    async def send(self, item: SessionMessage, /) -> None:
        await self._inner.send(with_reason(item))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> ReasonedCancellations:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        return await self._inner.__aexit__(exc_type, exc_val, exc_tb)
