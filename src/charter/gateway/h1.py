"""A lean HTTP/1.1 client for the fast path's POSTs to an upstream: one write per request.

General clients (httpx and its relatives) cost a few hundred microseconds of
Python per request and write a request's head and body in two socket writes,
each of which, on a busy host, can hand the CPU to the process at the other
end. The fast path POSTs small JSON-RPC bodies to one origin over and over, so
it keeps its own pool of kept-alive connections to that origin (asyncio
protocols, ``httptools``' C parser for the answers) and writes each request in
one piece. It knows only what that needs: ``POST`` with a ``Content-Length``
body, answers with a length or chunked (an answer the origin ends by closing
the connection is a failure); ``https`` through
the default TLS context (certificates verified). Anything it cannot do is an
:class:`OSError`, never a guess.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import urlsplit

import httptools

#: Idle connections kept per origin; more are closed when they come back.
POOL_SIZE = 16
#: The largest response head accepted.
MAX_HEAD_BYTES = 64 * 1024
#: Answer bytes buffered unread before the connection stops reading (flow control).
MAX_BUFFERED = 1024 * 1024
#: Request headers this client writes itself or that steer the connection.
_GENERATED = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "upgrade"}
)
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_UNSAFE = re.compile(r"[\r\n\0]")


class _Connection(asyncio.Protocol):
    """One connection: write a request, read its answer as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._reset()

    def _reset(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[bytes, bytes] = {}
        self.head_size = 0
        self.head = asyncio.get_running_loop().create_future()
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.more = asyncio.Event()
        self.complete = False
        self.received = False
        self.error: BaseException | None = None
        self.keep_alive = False

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(OSError(f"unreadable HTTP answer: {error}"))

    def eof_received(self) -> bool | None:
        self.closed = True  # the origin is done with this connection: never write to it again
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete:
            self._fail(exc or ConnectionResetError("the upstream closed the connection"))

    # -- httptools callbacks ------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value)
        if self.head_size > MAX_HEAD_BYTES:
            self._fail(OSError("the upstream's answer head is too large"))
            return
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # not to be asked once complete
        if not self.head.done():
            self.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > MAX_BUFFERED and not self.paused and self.transport is not None:
            self.transport.pause_reading()  # resumed once the reader has taken what is here
            self.paused = True
        self.more.set()

    def on_message_complete(self) -> None:
        self.complete = True
        self.more.set()

    def _fail(self, error: BaseException) -> None:
        if not self.head.done():
            self.head.set_exception(error)
        self.error = error
        self.more.set()
        if self.transport is not None:
            self.transport.close()

    # -- the client's side --------------------------------------------------------------
    async def body(self) -> AsyncIterator[bytes]:
        """The answer's body, chunk by chunk, until it is complete."""
        while True:
            if self.chunks:
                chunks, self.chunks = self.chunks, []
                self.buffered = 0
                if self.paused and self.transport is not None and not self.closed:
                    self.transport.resume_reading()
                    self.paused = False
                for chunk in chunks:
                    yield chunk
                continue
            if self.complete:
                return
            if self.error is not None:
                raise OSError("the connection failed during the answer") from self.error
            self.more.clear()
            await self.more.wait()

    @property
    def open(self) -> bool:
        """Whether the origin has not closed (nor begun to close) this connection."""
        transport = self.transport
        return not self.closed and transport is not None and not transport.is_closing()

    @property
    def reusable(self) -> bool:
        return self.complete and not self.closed and self.keep_alive


class Answer:
    """An answer being read; close it (``async with``) to give its connection back."""

    def __init__(self, pool: Pool, connection: _Connection) -> None:
        self._pool = pool
        self._connection = connection
        self.status = connection.status
        self.headers = connection.headers

    def content_type(self) -> str:
        value = self.headers.get(b"content-type", b"").decode("latin-1")
        return value.split(";")[0].strip().lower()

    def chunks(self) -> AsyncIterator[bytes]:
        return self._connection.body()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self._connection.body()])

    async def __aenter__(self) -> Answer:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._pool.give_back(self._connection)  # closed unless complete and kept alive


class Pool:
    """Kept-alive connections to one origin (``http://host:port`` or ``https://…``)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an HTTP URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.authority = parts.netloc.rsplit("@", 1)[-1]
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            _Connection, self.host, self.port, ssl=self.tls
        )
        return connection

    def _head(self, headers: dict[str, str], length: int) -> bytes:
        for name, value in headers.items():
            if name.lower() in _GENERATED or not _TOKEN.fullmatch(name) or _UNSAFE.search(value):
                raise OSError(f"refused to send the request header {name!r}")
        lines = [f"POST {self.target} HTTP/1.1", f"host: {self.authority}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"content-length: {length}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def post(self, body: bytes, headers: dict[str, str]) -> Answer:
        """Send one POST; its answer once the head has arrived.

        A request is written once, never again: once any of it may have reached
        the origin, a failure is the caller's error (the origin may have acted on
        it). Only an idle connection the origin had already closed before the
        write is passed over for another.
        """
        request = self._head(headers, len(body)) + body
        while self._idle:
            connection = self._idle.pop()
            if not connection.open:
                continue  # the origin closed it while idle: nothing was written to it
            connection._reset()
            await self._send(connection, request)
            return Answer(self, connection)
        connection = await self._connect()
        await self._send(connection, request)
        return Answer(self, connection)

    async def _send(self, connection: _Connection, request: bytes) -> None:
        assert connection.transport is not None
        try:
            connection.transport.write(request)
            await connection.head
        except BaseException:  # failed or cancelled mid-request: the connection is spent
            connection.transport.close()
            raise

    def give_back(self, connection: _Connection) -> None:
        if connection.reusable and len(self._idle) < POOL_SIZE:
            self._idle.append(connection)
        elif connection.transport is not None:
            connection.transport.close()

    def close(self) -> None:
        for connection in self._idle:
            if connection.transport is not None:
                connection.transport.close()
        self._idle.clear()
