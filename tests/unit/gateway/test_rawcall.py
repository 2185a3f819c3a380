"""A raw call against a real upstream on loopback: answers are bounded, floods are cut."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import orjson
import pytest
from tests.unit.gateway.test_h1 import Dropper, serving, warm

from charter.gateway.rawcall import RawChannel
from charter.gateway.upstream import UpstreamFailed

pytestmark = pytest.mark.anyio

ASK = {"jsonrpc": "2.0", "id": 0, "method": "roots/list"}


class Upstream:
    """Answers a call with a huge JSON body (``/big``) or a flood of its own requests."""

    def __init__(self) -> None:
        self.posted: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = orjson.loads(body)
        self.posted.append(request)
        if "method" not in request or scope["path"] == "/plain":  # an answer posted back
            kind, data = b"application/json", b"{}"
        elif scope["path"] == "/big":
            kind = b"application/json"
            result = {"content": [{"type": "text", "text": "x" * 5000}]}
            data = orjson.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result})
        else:
            kind = b"text/event-stream"
            events = [orjson.dumps({**ASK, "id": n}) for n in range(20)]
            events.append(orjson.dumps({"jsonrpc": "2.0", "id": request["id"], "result": {}}))
            data = b"".join(b"data: " + e + b"\n\n" for e in events)
        headers = [(b"content-type", kind), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def channel(url: str) -> RawChannel:
    raw = RawChannel("up", url, httpx2.AsyncClient(), {})
    raw.session_id, raw.version = "s1", "2025-11-25"
    return raw


async def nothing(message: dict[str, Any]) -> None:
    return None


async def refuse(message: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -1, "message": "no"}}


async def test_an_oversized_json_answer_is_an_upstream_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("charter.gateway.rawcall.MAX_EVENT_BYTES", 1000)
    async with serving(Upstream()) as url:
        raw = channel(url + "/big")
        body = orjson.dumps({"jsonrpc": "2.0", "id": "charter-x", "method": "tools/call"})
        with pytest.raises(UpstreamFailed, match="oversized answer"):
            await raw.call(body, "charter-x", timeout=5, on_notice=nothing, on_request=refuse)
        raw.pool.close()


async def test_requests_of_the_upstream_count_against_the_flood_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("charter.gateway.rawcall.MAX_NOTICES", 3)
    asked: list[Any] = []

    async def answer(message: dict[str, Any]) -> dict[str, Any]:
        asked.append(message)
        return {"jsonrpc": "2.0", "id": message["id"], "result": {"roots": []}}

    upstream = Upstream()
    async with serving(upstream) as url:
        raw = channel(url + "/mcp")
        body = orjson.dumps({"jsonrpc": "2.0", "id": "charter-y", "method": "tools/call"})
        result = await raw.call(body, "charter-y", timeout=5, on_notice=nothing, on_request=answer)
        raw.pool.close()
    assert result["result"] == {}
    assert len(asked) == 3
    assert len(upstream.posted) == 1 + 3  # the call, and three answers posted back


async def test_a_call_the_upstream_took_and_dropped_is_an_error_not_a_resend() -> None:
    dropper = Dropper()
    server = await asyncio.start_server(dropper.handle, "127.0.0.1", 0)
    raw = channel(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/mcp")
    try:
        await warm(raw.pool, 8)
        dropper.calls = 0
        with pytest.raises(UpstreamFailed, match="failed during the call"):
            await raw.call(b"call", "charter-z", timeout=5, on_notice=nothing, on_request=refuse)
        await asyncio.sleep(0.1)
        assert dropper.calls == 1
    finally:
        raw.pool.close()
        server.close()
        await server.wait_closed()
