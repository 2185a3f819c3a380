"""What the fast path accepts as a request, and how it reads an upstream's SSE stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from charter.gateway.fastpath import _is_initialized, _request
from charter.gateway.rawcall import _events, _parse, mint_id
from charter.gateway.upstream import UpstreamFailed

CALL = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{}}}'


def test_one_request_of_the_decided_methods_only() -> None:
    assert _request(CALL) is not None
    assert _request(CALL.replace(b'"id":1', b'"id":"a"')) is not None
    for odd in (
        b"[" + CALL + b"]",  # a batch
        CALL.replace(b'"id":1', b'"id":true'),
        CALL.replace(b'"id":1', b'"id":1.5'),
        CALL.replace(b'"id":1', b'"id":null'),
        CALL.replace(b'"id":1,', b""),  # a notification
        CALL.replace(b'"2.0"', b'"1.0"'),
        CALL.replace(b"tools/call", b"tools/list"),
        CALL.replace(b'"params":{', b'"extra":1,"params":{'),
        CALL.replace(b'"params":{"name":"t","arguments":{}}', b'"params":["t"]'),
        b"{not json",
        b"",
        b'"tools/call"',
    ):
        assert _request(odd) is None, odd


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.anyio
async def test_sse_events_across_chunks_comments_and_crlf() -> None:
    stream = _chunks(
        b': keep-alive\r\n\r\nid: 1\r\nevent: message\r\ndata: {"a"',
        b":1}\r\n\r\ndata: \r\n\r\n",
        b'data: {"b":2}\n\n',
    )
    assert [event async for event in _events(stream, "up")] == [b'{"a":1}', b'{"b":2}']


@pytest.mark.anyio
async def test_an_oversized_event_is_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("charter.gateway.rawcall.MAX_EVENT_BYTES", 10)
    with pytest.raises(UpstreamFailed, match="oversized"):
        async for _ in _events(_chunks(b"data: " + b"x" * 20), "up"):
            pass


def test_only_json_rpc_messages_are_read() -> None:
    assert _parse(b'{"jsonrpc":"2.0","id":"charter-1","result":{}}', "up")["result"] == {}
    for bad in (b"nope", b"[1]", b'{"id":1}'):
        with pytest.raises(UpstreamFailed):
            _parse(bad, "up")


def test_minted_ids_are_strings_and_unique() -> None:
    ids = {mint_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(i.startswith("charter-") for i in ids)


def test_only_the_response_with_the_minted_id_is_an_answer() -> None:
    import httpx2

    from charter.gateway.rawcall import RawChannel

    channel = RawChannel("up", "http://127.0.0.1:9/mcp", httpx2.AsyncClient(), {})
    assert channel._response(b'{"jsonrpc":"2.0","id":"charter-1","result":{}}', "charter-1")
    for stray in (
        b'{"jsonrpc":"2.0","id":"charter-2","result":{}}',  # someone else's
        b'{"jsonrpc":"2.0","id":1,"result":{}}',
        b'{"jsonrpc":"2.0","id":"charter-1","result":[]}',  # not an MCP result
        b'{"jsonrpc":"2.0","id":"charter-1"}',
        b'{"jsonrpc":"2.0","id":"charter-1","result":{},"error":{"code":1,"message":"x"}}',
    ):
        with pytest.raises(UpstreamFailed):
            channel._response(stray, "charter-1")


def _log(level: str) -> dict[str, object]:
    params = {"level": level, "data": f"{level} line"}
    return {"jsonrpc": "2.0", "method": "notifications/message", "params": params}


@pytest.mark.anyio
async def test_logs_before_the_result_make_the_answer_a_stream_at_the_connection_level() -> None:
    from charter.gateway.fastpath import _Stream

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    stream = _Stream(send, "s1", "warning", streams=True)
    await stream.notice(_log("info"))  # below the connection's level
    await stream.notice({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}})
    assert sent == []
    await stream.notice(_log("error"))
    await stream.finish(b'{"jsonrpc":"2.0","id":1,"result":{}}')
    assert sent[0]["type"] == "http.response.start"
    assert (b"content-type", b"text/event-stream") in sent[0]["headers"]  # type: ignore[operator]
    bodies = [m["body"] for m in sent[1:]]
    assert bodies[0].startswith(b"event: message\ndata: ")  # type: ignore[union-attr]
    assert b"error line" in bodies[0]  # type: ignore[operator]
    assert bodies[1] == b'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n'
    assert sent[-1]["more_body"] is False


@pytest.mark.anyio
async def test_without_streams_logs_are_dropped_and_the_answer_is_json() -> None:
    from charter.gateway.fastpath import _Stream

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    stream = _Stream(send, "s1", None, streams=False)
    await stream.notice(_log("emergency"))
    await stream.finish(b"{}")
    assert (b"content-type", b"application/json") in sent[0]["headers"]  # type: ignore[operator]
    assert sent[1]["body"] == b"{}"


def test_only_the_initialized_notification_itself_is_recognised() -> None:
    assert _is_initialized(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}')
    for body in (
        b'{"jsonrpc": "2.0", "id": 1, "method": "notifications/initialized"}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x",'
        b' "arguments": {"a": "notifications/initialized"}}}',
        b'[{"jsonrpc": "2.0", "method": "notifications/initialized"}]',
        b'{"method": "notifications/initialized"}',
        b'"notifications/initialized"',
        b"notifications/initialized",
    ):
        assert not _is_initialized(body), body
