"""An upstream MCP server for the gateway tests, written with the official SDK.

Run as ``python upstream_server.py`` (stdio) or
``python upstream_server.py --http PORT [--sse | --modern-only]`` (``--modern-only``
refuses the initialize handshake with ``-32022``, as a server speaking only
2026-07-28 does).
Besides the tools agents use (``read_ticket``, ``send_email``, ``delete_table``)
it has tools that misbehave on purpose: ``hang`` never answers (and notes it
when it is cancelled), ``crash`` kills the process mid-call. ``whoami`` reports
whether the gateway injected the credential (never its value). Every MCP
``notifications/cancelled`` it receives is written to ``UPSTREAM_CANCEL_LOG``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio
import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("test-helpdesk", instructions="tickets, mail and a database, for tests")


def ran(tool: str) -> None:
    """Note that a tool really ran (tests read the file to prove what was forwarded)."""
    path = os.environ.get("UPSTREAM_CALL_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(tool + "\n")


@server.tool()
def read_ticket(ticket_id: str) -> str:
    """Read one helpdesk ticket."""
    ran("read_ticket")
    return f"ticket {ticket_id}: the printer on floor 3 is on fire"


@server.tool()
def send_email(to: str, subject: str, body: str = "") -> str:
    """Send an e-mail."""
    ran("send_email")
    return f"sent {subject!r} to {to}"


@server.tool()
def delete_table(table: str) -> str:
    """Drop a database table (dangerous)."""
    ran("delete_table")
    return f"dropped {table}"


@server.tool()
async def hang(ctx: Context, seconds: float = 3600) -> str:
    """Never answers in time."""
    ran("hang")
    ran(f"hang-request:{ctx.request_id}")  # the id a cancellation must name
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        ran("hang:cancelled")  # the handler really stopped, not only the answer dropped
        raise
    return "woke up"


async def on_cancelled(_ctx: Any, params: types.CancelledNotificationParams) -> None:
    """Record a client's ``notifications/cancelled`` (the SDK has already cancelled the handler)."""
    path = os.environ.get("UPSTREAM_CANCEL_LOG")
    if path:
        line = json.dumps({"requestId": params.request_id, "reason": params.reason})
        with open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")


server._lowlevel_server.add_notification_handler(
    "notifications/cancelled", types.CancelledNotificationParams, on_cancelled
)


@server.tool()
def crash() -> str:
    """Kills the server process mid-call."""
    ran("crash")
    sys.stdout.flush()
    os._exit(3)


@server.tool()
def whoami() -> str:
    """Whether the upstream credential was injected (never the value)."""
    key = os.environ.get("HELPDESK_API_KEY", "")
    return f"credential present: {bool(key)}; length {len(key)}"


@server.tool()
async def slow(seconds: float = 0.5) -> str:
    """Answers after a while (to be cut off mid-call)."""
    await anyio.sleep(min(seconds, 30))
    return "done"


@server.resource("helpdesk://queues")
def queues() -> str:
    """The helpdesk queues."""
    return "support, billing"


@server.resource("helpdesk://tickets/{ticket_id}")
def ticket_resource(ticket_id: str) -> str:
    """One ticket as a resource."""
    return f"ticket {ticket_id} (resource)"


@server.prompt()
def summarize_ticket(ticket_id: str) -> str:
    """Ask for a ticket summary."""
    return f"Summarise ticket {ticket_id} in two sentences."


def modern_only(app: Any) -> Any:
    """``app``, refusing ``initialize`` as a server that speaks only 2026-07-28 does."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed.get("method") == "initialize":
            error = {
                "code": types.UNSUPPORTED_PROTOCOL_VERSION,
                "message": "this server speaks only 2026-07-28",
                "data": {"supported": ["2026-07-28"], "requested": "initialize"},
            }
            answer = json.dumps({"jsonrpc": "2.0", "id": parsed.get("id"), "error": error})
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": answer.encode()})
            return
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await app(scope, replay, send)

    return wrapped


if __name__ == "__main__":
    if sys.argv[1:2] == ["--http"] and sys.argv[3:] == ["--modern-only"]:
        import uvicorn

        app = modern_only(server.streamable_http_app(json_response=True))
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "--http":
        # JSON responses by default; "--sse" streams them (a closed stream then cancels the call)
        json_response = sys.argv[3:] != ["--sse"]
        server.run(
            "streamable-http", host="127.0.0.1", port=int(sys.argv[2]), json_response=json_response
        )
    else:
        server.run()
