"""An upstream MCP server for the gateway tests, written with the official SDK.

Run as ``python upstream_server.py`` (stdio) or ``python upstream_server.py --http PORT``.
Besides the tools agents use (``read_ticket``, ``send_email``, ``delete_table``)
it has tools that misbehave on purpose: ``hang`` never answers, ``crash`` kills
the process mid-call. ``whoami`` reports whether the gateway injected the
credential (never its value).
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp.server.mcpserver import MCPServer

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
async def hang(seconds: float = 3600) -> str:
    """Never answers in time."""
    ran("hang")
    await anyio.sleep(seconds)
    return "woke up"


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


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]), json_response=True)
    else:
        server.run()
