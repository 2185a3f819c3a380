"""One request to an HTTP upstream as raw JSON-RPC bytes, on the upstream's own MCP session.

The fast path (:mod:`charter.gateway.fastpath`) forwards an allowed call
without building the SDK's typed request and result models: it POSTs the
request's bytes to the upstream's streamable HTTP endpoint over its own
kept-alive connections (:mod:`.h1`, the upstream's configured headers
included), with the ``Mcp-Session-Id`` and ``MCP-Protocol-Version`` of the
upstream's SDK session (read off the SDK's own requests by an event hook on
its HTTP client, so a reconnect's new session is picked up before the
upstream is ready again).

The request carries a gateway-minted string id (the SDK session numbers its own
requests with integers, so the two never collide on the upstream's session);
the answer must be the JSON-RPC response with exactly that id, sent as one JSON
body (at most :data:`MAX_EVENT_BYTES`) or as an SSE stream. Before its response
an SSE stream may carry notifications (handed to ``on_notice``) and requests of
the upstream's own (handed to ``on_request``, whose JSON-RPC answer is POSTed
back): at most :data:`MAX_NOTICES` of both per call, the rest dropped with one
log line. Anything else — a
response with another id, a body that is not JSON-RPC, an HTTP error — is an
:class:`~charter.gateway.upstream.UpstreamError`, never a result.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import httpx2
import orjson

from charter.gateway.h1 import Pool
from charter.gateway.upstream import UpstreamFailed, UpstreamTimeout

logger = logging.getLogger("charter.gateway.rawcall")

#: Messages (notifications and requests of its own) an upstream may send during one call;
#: beyond them, they are dropped (a request left unanswered).
MAX_NOTICES = 1000
#: The largest SSE event, or JSON answer, read from an upstream.
MAX_EVENT_BYTES = 16 * 1024 * 1024
SESSION = "mcp-session-id"
VERSION = "mcp-protocol-version"

Message = dict[str, Any]
OnNotice = Callable[[Message], Awaitable[None]]
OnRequest = Callable[[Message], Awaitable[Message]]

_ids = itertools.count(1)


def mint_id() -> str:
    """A request id no SDK session uses (they number theirs)."""
    return f"charter-{next(_ids)}"


class RawChannel:
    """The raw way to one HTTP upstream, alongside its SDK session."""

    def __init__(
        self, name: str, url: str, http: httpx2.AsyncClient, headers: dict[str, str]
    ) -> None:
        self.name = name
        self.url = url
        self.pool = Pool(url)
        self.session_id: str | None = None
        self.version: str | None = None
        self._configured = {k.lower(): v for k, v in headers.items()}
        http.event_hooks = {**http.event_hooks, "request": [self._seen]}

    async def _seen(self, request: httpx2.Request) -> None:
        """Note the session and version the SDK speaks on (its requests carry both)."""
        if request.method != "POST":
            return
        session = request.headers.get(SESSION)
        version = request.headers.get(VERSION)
        if session and version:
            self.session_id, self.version = session, version

    @property
    def ready(self) -> bool:
        return self.session_id is not None and self.version is not None

    def _headers(self) -> dict[str, str]:
        assert self.session_id is not None
        assert self.version is not None
        return {
            **self._configured,
            "accept": "application/json, text/event-stream",
            "content-type": "application/json",
            SESSION: self.session_id,
            VERSION: self.version,
        }

    async def call(
        self,
        body: bytes,
        request_id: str,
        *,
        timeout: float,
        on_notice: OnNotice,
        on_request: OnRequest,
    ) -> Message:
        """POST one request; its JSON-RPC response (``result`` or ``error``) as a dict."""
        try:
            with anyio.fail_after(timeout):
                return await self._call(body, request_id, on_notice, on_request)
        except TimeoutError:
            await self.cancel(request_id, "the gateway's call timeout passed")
            shown = f"{timeout:g} s" if math.isfinite(timeout) else "ever"
            raise UpstreamTimeout(
                self.name, f"upstream {self.name!r} did not answer within {shown}"
            ) from None
        except OSError as error:
            raise UpstreamFailed(
                self.name, f"upstream {self.name!r} failed during the call ({type(error).__name__})"
            ) from None
        except (UpstreamFailed, UpstreamTimeout):
            raise
        except Exception as error:  # a bug here is a failed call, never a result
            logger.exception("forwarding to upstream %s failed", self.name)
            raise UpstreamFailed(
                self.name, f"upstream {self.name!r} failed during the call ({type(error).__name__})"
            ) from None

    async def _call(
        self, body: bytes, request_id: str, on_notice: OnNotice, on_request: OnRequest
    ) -> Message:
        async with await self.pool.post(body, self._headers()) as response:
            if response.status != 200:
                raise UpstreamFailed(
                    self.name, f"upstream {self.name!r} answered HTTP {response.status}"
                )
            kind = response.content_type()
            if kind == "application/json":
                return self._response(await _read(response.chunks(), self.name), request_id)
            if kind != "text/event-stream":
                raise UpstreamFailed(self.name, f"upstream {self.name!r} answered {kind!r}")
            notices = 0
            async for data in _events(response.chunks(), self.name):
                message = _parse(data, self.name)
                if "method" not in message:
                    return self._response(data, request_id, message)
                notices += 1
                if notices > MAX_NOTICES:
                    if notices == MAX_NOTICES + 1:
                        logger.warning(
                            "upstream %s floods messages during one call: "
                            "more than %d, the rest dropped",
                            self.name,
                            MAX_NOTICES,
                        )
                elif "id" in message:  # the upstream asks something during the call
                    await self._post(await on_request(message))
                else:
                    await on_notice(message)
        raise UpstreamFailed(
            self.name, f"upstream {self.name!r} closed the stream before answering"
        )

    def _response(self, data: bytes, request_id: str, message: Message | None = None) -> Message:
        message = message if message is not None else _parse(data, self.name)
        if message.get("id") != request_id or ("result" in message) == ("error" in message):
            raise UpstreamFailed(
                self.name,
                f"upstream {self.name!r} answered with a message that is not the response",
            )
        if "result" in message and not isinstance(message["result"], dict):
            raise UpstreamFailed(
                self.name, f"upstream {self.name!r} returned a result that is not valid MCP"
            )
        return message

    async def _post(self, message: Message) -> None:
        try:
            async with await self.pool.post(orjson.dumps(message), self._headers()) as response:
                await response.read()
        except OSError as error:
            logger.warning("posting to upstream %s failed: %s", self.name, type(error).__name__)

    async def cancel(self, request_id: str, reason: str) -> None:
        """Tell the upstream a forwarded request is abandoned (best effort, bounded)."""
        notice = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": request_id, "reason": reason},
        }
        with anyio.move_on_after(2, shield=True):
            await self._post(notice)


def _parse(data: bytes, upstream: str) -> Message:
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamFailed(
            upstream, f"upstream {upstream!r} sent a message that is not JSON"
        ) from None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise UpstreamFailed(upstream, f"upstream {upstream!r} sent a message that is not JSON-RPC")
    return message


async def _read(chunks: AsyncIterator[bytes], upstream: str) -> bytes:
    """A whole JSON answer, at most :data:`MAX_EVENT_BYTES`."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_EVENT_BYTES:
            raise UpstreamFailed(upstream, f"upstream {upstream!r} sent an oversized answer")
        parts.append(chunk)
    return b"".join(parts)


async def _events(chunks: AsyncIterator[bytes], upstream: str) -> AsyncIterator[bytes]:
    """The ``data`` of each SSE event in ``chunks`` (comments, ids and priming events skipped)."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            data = [
                line[5:].removeprefix(b" ")
                for line in event.split(b"\n")
                if line.startswith(b"data:")
            ]
            joined = b"\n".join(data)
            if joined.strip():
                yield joined
        if len(buffer) > MAX_EVENT_BYTES:
            raise UpstreamFailed(upstream, f"upstream {upstream!r} sent an oversized event")
