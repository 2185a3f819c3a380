"""The fast path's HTTP/1.1 client against a real server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from tests.support.server import free_port

from charter.gateway.h1 import Pool

pytestmark = pytest.mark.anyio


class Origin:
    """An ASGI app that notes each request's client port and answers as told."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.bodies: list[bytes] = []
        self.headers: list[dict[bytes, bytes]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.ports.append(scope["client"][1])
        self.headers.append(dict(scope["headers"]))
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        if scope["path"] == "/stream":
            start = {"type": "http.response.start", "status": 200}
            start["headers"] = [(b"content-type", b"text/event-stream")]
            await send(start)
            for part in (b"data: one\n\n", b"data: two\n\n"):
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@asynccontextmanager
async def serving(origin: Any, **options: Any) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(origin, port=port, log_level="warning", lifespan="off", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_posts_in_one_piece_on_one_kept_alive_connection() -> None:
    origin = Origin()
    async with serving(origin) as url:
        pool = Pool(url + "/mcp?x=1")
        for index in range(3):
            body = b'{"n": %d}' % index
            async with await pool.post(body, {"x-api-key": "k"}) as answer:
                assert answer.status == 200
                assert answer.content_type() == "application/json"
                assert await answer.read() == body
        pool.close()
    assert len(set(origin.ports)) == 1  # one connection, reused
    assert origin.headers[0][b"x-api-key"] == b"k"
    assert origin.headers[0][b"host"] == url.split("//")[1].encode()


async def test_reads_a_chunked_stream_as_it_comes() -> None:
    origin = Origin()
    async with serving(origin) as url:
        pool = Pool(url + "/stream")
        async with await pool.post(b"{}", {}) as answer:
            assert answer.content_type() == "text/event-stream"
            assert b"".join([c async for c in answer.chunks()]) == b"data: one\n\ndata: two\n\n"
        pool.close()


async def test_a_connection_the_origin_closed_while_idle_is_replaced() -> None:
    origin = Origin()
    async with serving(origin, timeout_keep_alive=0.2) as url:
        pool = Pool(url + "/mcp")
        async with await pool.post(b"1", {}) as answer:
            await answer.read()
        await asyncio.sleep(0.6)  # the origin closes the kept-alive connection
        async with await pool.post(b"2", {}) as answer:
            assert await answer.read() == b"2"
        pool.close()
    assert len(set(origin.ports)) == 2


async def test_a_dead_origin_is_an_os_error() -> None:
    pool = Pool(f"http://127.0.0.1:{free_port()}/mcp")
    with pytest.raises(OSError):
        await pool.post(b"{}", {})


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an HTTP URL"):
        Pool("ftp://example.com/")


class Dropper:
    """A raw loopback origin: answers ``warm`` bodies, takes ``call`` bodies and hangs up."""

    def __init__(self) -> None:
        self.calls = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                if body == b"call":
                    self.calls += 1
                    return  # the request was taken; the connection dropped before any answer
                await asyncio.sleep(0.05)  # keep the warm-up calls concurrent
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def warm(pool: Pool, count: int) -> None:
    async def one() -> None:
        async with await pool.post(b"warm", {}) as answer:
            assert await answer.read() == b"ok"

    await asyncio.gather(*(one() for _ in range(count)))


async def test_a_request_the_origin_took_is_never_sent_again() -> None:
    dropper = Dropper()
    server = await asyncio.start_server(dropper.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Pool(f"http://127.0.0.1:{port}/mcp")
    try:
        await warm(pool, 8)
        assert len(pool._idle) == 8
        with pytest.raises(OSError):
            await pool.post(b"call", {})
        await asyncio.sleep(0.1)
        assert dropper.calls == 1  # once, not once per idle connection
    finally:
        pool.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil"}, {"content-length": "0"}, {"x-key": "a\r\nx: 1"}, {"x\r\ny": "v"}],
)
async def test_reserved_or_unsafe_request_headers_are_refused(headers: dict[str, str]) -> None:
    origin = Origin()
    async with serving(origin) as url:
        pool = Pool(url + "/mcp")
        with pytest.raises(OSError, match="refused to send"):
            await pool.post(b"{}", headers)
        pool.close()
    assert origin.bodies == []


async def test_an_answer_nobody_reads_stops_being_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("charter.gateway.h1.MAX_BUFFERED", 1000, raising=False)
    origin = Origin()
    body = b"x" * (8 * 1024 * 1024)
    async with serving(origin) as url:
        pool = Pool(url + "/mcp")
        async with await pool.post(body, {}) as answer:  # the origin echoes the body back
            await asyncio.sleep(0.5)  # not read yet: the connection stops reading
            connection = answer._connection
            assert sum(map(len, connection.chunks)) < 2 * 1024 * 1024
            assert await answer.read() == body  # and resumes as it is read
        pool.close()
