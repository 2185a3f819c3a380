"""Input limits in front of every route: refuse a method no route serves, a huge body
before reading it, and a deeply nested JSON body before any parser recurses into it."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from charter.domain.nesting import MAX_DEPTH, nests_deeper

MAX_BODY_BYTES = 16 * 1024 * 1024


#: Methods some route serves; anything else (TRACE, CONNECT, …) is 405 before sign-in.
SERVED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class UnknownMethods:
    """405 with ``Allow`` for a method no route serves (RFC 9110 §15.5.6), ahead of sign-in.

    Asking for TRACE is not a failed sign-in: it was answered 401, which told a
    client to authenticate for something that can never work.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SERVED_METHODS:
            await self.app(scope, receive, send)
            return
        routes = getattr(getattr(scope.get("app"), "router", None), "routes", ())
        allowed = [
            method
            for method in sorted(SERVED_METHODS)
            if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in routes)
        ]
        allow = ", ".join(allowed or sorted(SERVED_METHODS))
        detail = f"{scope['method']} is not served here; allowed: {allow}"
        allow_header = [(b"allow", allow.encode())]
        await _send_problem(send, 405, "MethodNotAllowed", "http-405", detail, allow_header)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        detail = f"the request body is larger than {self.limit} bytes"
        await _send_problem(send, 413, "InputTooLarge", "input-too-large", detail)


class _TooLarge(Exception):
    pass


class JsonDepthLimit:
    """Refuse a JSON body nested deeper than :data:`MAX_DEPTH` with 400, before parsing.

    ``json.loads`` recurses per level: 100,000 ``[`` was a ``RecursionError``, a 500
    and a reset connection. A body is JSON when its ``Content-Type`` says so
    (``application/json``, ``*+json``) or is absent (FastAPI parses those as
    JSON). The whole body is read here (the size limit outside still counts it)
    and handed on unchanged. The AuthZEN paths are left to their own parser:
    orjson refuses past 1,024 levels and ``api/authzen.py`` holds ``context`` to
    the same limit, so the decision hot path pays nothing here.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_DEPTH) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _json_body(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if nests_deeper(body, self.limit):
            detail = (
                f"the JSON body nests deeper than {self.limit} levels "
                "(the limit for any JSON or YAML input)"
            )
            await _send_problem(send, 400, "InputTooDeep", "input-too-deep", detail)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _json_body(scope: Scope) -> bool:
    if scope["method"] in ("GET", "HEAD", "OPTIONS", "TRACE"):
        return False
    path: str = scope["path"]
    if path == "/access" or path.startswith("/access/"):
        return False
    media = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
    return media in ("", "application/json") or media.endswith("+json")


async def _send_problem(
    send: Send,
    status: int,
    title: str,
    code: str,
    detail: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps(
        {
            "type": f"https://charter.dev/problems/{code}",
            "title": title,
            "status": status,
            "detail": detail,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
