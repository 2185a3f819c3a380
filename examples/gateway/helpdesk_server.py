"""Acme's helpdesk as an MCP server: the upstream the example gateway puts Charter in front of.

Built with the official ``mcp`` SDK. It needs ``HELPDESK_API_KEY`` — the
credential the *gateway* injects from its config; the agent never sees it.

    python helpdesk_server.py            # stdio (how the gateway starts it)
    python helpdesk_server.py --http 9100
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer

TICKETS = {
    "4711": "Printer on floor 3 prints only question marks (customer: customer@example.com)",
    "4712": "VPN drops every 20 minutes (customer: noah@example.com)",
}

server = MCPServer("acme-helpdesk", instructions="Acme's helpdesk: tickets and customer e-mail.")


def _authenticated() -> None:
    """The helpdesk API refuses work without its key (the gateway provides it)."""
    if not os.environ.get("HELPDESK_API_KEY"):
        raise RuntimeError("HELPDESK_API_KEY is not set: start me through the Charter gateway")


@server.tool()
def read_ticket(ticket_id: str) -> str:
    """Read a helpdesk ticket by its number."""
    _authenticated()
    return TICKETS.get(ticket_id, f"no ticket {ticket_id}")


@server.tool()
def add_comment(ticket_id: str, text: str) -> str:
    """Add an internal comment to a ticket."""
    _authenticated()
    return f"comment added to {ticket_id}"


@server.tool()
def send_email(to: str, subject: str, body: str = "") -> str:
    """E-mail a customer."""
    _authenticated()
    return f"e-mail {subject!r} sent to {to}"


@server.tool()
def delete_ticket(ticket_id: str) -> str:
    """Delete a ticket for good."""
    _authenticated()
    return f"ticket {ticket_id} deleted"


@server.resource("helpdesk://tickets/{ticket_id}")
def ticket(ticket_id: str) -> str:
    """A ticket, as a resource."""
    _authenticated()
    return TICKETS.get(ticket_id, f"no ticket {ticket_id}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]), json_response=True)
    else:
        server.run()
