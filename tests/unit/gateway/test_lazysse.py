"""Lazy SSE: an SSE answer whose first event is the request's result goes out as JSON.

The wrapped app here is a plain ASGI app sending what the SDK's SSE response
sends (start, one chunk per event, the closing chunk); the gateway-level
check (a real call answered JSON, a call with progress answered SSE) is in
tests/integration/test_gateway_e2e.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from charter.gateway.lazysse import LazyStreams, single_response

pytestmark = pytest.mark.anyio

RESULT = b'{"jsonrpc":"2.0","id":3,"result":{"content":[]}}'
ERROR = b'{"jsonrpc":"2.0","id":3,"error":{"code":-32603,"message":"x"}}'
PROGRESS = b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}'
SAMPLING = b'{"jsonrpc":"2.0","id":0,"method":"sampling/createMessage","params":{}}'


def event(data: bytes, *, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\r\n".encode() if event_id else b""
    return head + b"event: message\r\ndata: " + data + b"\r\n\r\n"


def test_only_a_single_plain_result_or_error_event_is_a_single_response() -> None:
    assert single_response(event(RESULT)) == RESULT
    assert single_response(event(ERROR)) == ERROR
    assert single_response(event(PROGRESS)) is None
    assert single_response(event(SAMPLING)) is None  # a request has an id and a method
    assert single_response(event(RESULT, event_id="e1")) is None  # resumable: keep SSE
    assert single_response(b": ping\r\n\r\n") is None
    assert single_response(event(RESULT)[:-2]) is None  # an unfinished event
    assert single_response(event(RESULT) + event(RESULT)) is None
    assert single_response(b"event: message\r\ndata: not json\r\n\r\n") is None
    reordered = b'{"id":"a","result":{},"jsonrpc":"2.0"}'  # not the SDK's order: parsed
    assert single_response(event(reordered)) == reordered
    big = b'{"jsonrpc":"2.0","id":"x\\"y","result":{"text":"' + b"z" * 1_000_000 + b'"}}'
    assert single_response(event(big)) == big
    nested = b'{"jsonrpc":"2.0","method":"m","params":{"id":1,"result":2}}'
    assert single_response(event(nested)) is None


def sse_app(*events: bytes, content_type: bytes = b"text/event-stream") -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", content_type), (b"mcp-session-id", b"s1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for chunk in events:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def run(app: Any, method: str = "POST") -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await LazyStreams(app)({"type": "http", "method": method}, receive, send)
    return sent


async def test_a_result_first_is_answered_as_one_json_body() -> None:
    sent = await run(sse_app(event(RESULT)))
    assert len(sent) == 2  # nothing after the JSON body (the closing chunk is swallowed)
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"content-length"] == str(len(RESULT)).encode()
    assert headers[b"mcp-session-id"] == b"s1"
    assert sent[1] == {"type": "http.response.body", "body": RESULT, "more_body": False}
    assert json.loads(sent[1]["body"])["id"] == 3


async def test_anything_before_the_result_keeps_the_whole_answer_sse() -> None:
    for first in (
        event(PROGRESS),
        event(SAMPLING),
        b": ping\r\n\r\n",
        event(RESULT, event_id="e1"),
    ):
        sent = await run(sse_app(first, event(RESULT)))
        assert dict(sent[0]["headers"])[b"content-type"] == b"text/event-stream"
        assert [m.get("body") for m in sent[1:]] == [first, event(RESULT), b""]


async def test_json_answers_and_other_methods_pass_untouched() -> None:
    sent = await run(sse_app(RESULT, content_type=b"application/json"))
    assert dict(sent[0]["headers"])[b"content-type"] == b"application/json"
    assert [m.get("body") for m in sent[1:]] == [RESULT, b""]
    sent = await run(sse_app(event(RESULT)), method="GET")  # the listening stream stays SSE
    assert dict(sent[0]["headers"])[b"content-type"] == b"text/event-stream"
    assert len(sent) == 3
