"""Answer a request as plain JSON unless something comes before its result (lazy SSE).

With ``stream_responses`` on, the SDK's streamable HTTP transport answers every
request POST with an SSE stream, so that what an upstream sends during a call
(a sampling or elicitation request, progress, a log message) reaches the agent
before the result. Most calls carry nothing but their result, and for them the
stream costs a chunked response, SSE framing on both ends and more writes.

:class:`LazyStreams` holds back the SSE response's start until its first event:
when that event is the request's own result (a JSON-RPC response or error, with
no event id to resume from), the answer goes out as one ``application/json``
body instead, which every streamable HTTP client accepts (it sent
``Accept: application/json, text/event-stream``); when anything else comes
first (a request, a notification, a keep-alive comment), the held start and
everything after it pass through unchanged, as SSE. Nothing is decided here:
this only chooses the framing of an answer already produced.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SSE = b"text/event-stream"
#: Headers of the held SSE start that do not describe a JSON body.
STREAM_ONLY = {b"content-type", b"content-length", b"cache-control", b"connection"}
#: How the SDK serialises a response or error (field order jsonrpc, id, result|error):
#: recognised without parsing a large result; anything else is parsed.
RESPONSE_HEAD = re.compile(
    rb'\{"jsonrpc":"2\.0","id":(?:-?\d+|"(?:[^"\\]|\\.)*"),"(?:result|error)":'
)


def single_response(chunk: bytes) -> bytes | None:
    """The JSON of ``chunk`` when it is exactly one SSE event carrying a JSON-RPC
    response or error (and no event id), else ``None``."""
    if not chunk.endswith((b"\r\n\r\n", b"\n\n")):
        return None
    data: list[bytes] = []
    for line in chunk.splitlines():
        if line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
        elif line.startswith(b"id:") or (line and not line.startswith(b"event:")):
            return None  # resumable, or not a single plain event
    if len(data) != 1:
        return None
    if RESPONSE_HEAD.match(data[0]):
        return data[0]
    try:
        message = orjson.loads(data[0])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict) or "method" in message:
        return None
    if "result" not in message and "error" not in message:
        return None
    return data[0]


class LazyStreams:
    """ASGI middleware: an SSE answer whose first event is the result goes out as JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        mode = "undecided"  # then "json" (the rest is swallowed) or "stream"

        async def lazy_send(message: Message) -> None:
            nonlocal held, mode
            if mode == "stream":
                await send(message)
                return
            if mode == "json":
                return  # the SSE response's closing chunk and keep-alives: already answered
            kind = message["type"]
            if kind == "http.response.start" and held is None and _is_sse(message):
                held = message
                return
            if held is None:  # not an SSE answer at all
                mode = "stream"
                await send(message)
                return
            if kind == "http.response.body":
                body = single_response(message.get("body", b""))
                if body is not None:
                    mode = "json"
                    await send(_as_json(held, body))
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                    return
            mode = "stream"
            await send(held)
            await send(message)

        await self.app(scope, receive, lazy_send)


def _is_sse(message: Message) -> bool:
    for name, value in message.get("headers", ()):
        if name.lower() == b"content-type":
            return bool(value.split(b";")[0].strip().lower() == SSE)
    return False


def _as_json(start: Message, body: bytes) -> dict[str, Any]:
    headers = [(k, v) for k, v in start.get("headers", ()) if k.lower() not in STREAM_ONLY]
    headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
