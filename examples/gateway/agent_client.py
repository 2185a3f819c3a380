"""An agent talking to tools through the Charter MCP gateway, with its own Charter token.

    python examples/gateway/agent_client.py --charter http://127.0.0.1:8000 \\
        --gateway http://127.0.0.1:8100/mcp --agent helpdesk-assistant --key helpdesk-assistant.pem

The agent holds only its own key. It gets a short-lived token for the gateway
(RFC 8707 ``resource`` = the gateway's URL) from Charter with the SDK, and
speaks MCP with the official ``mcp`` client. It never sees the helpdesk's API
key: the gateway injects that upstream. It lists its tools, makes an allowed
call, and tries two calls its charter does not allow.
"""

from __future__ import annotations

import argparse
from collections.abc import Generator

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from charter.sdk import AgentCredentials

SCOPE = "read_ticket add_comment send_email"


class CharterToken(httpx2.Auth):
    """Fresh ``Authorization`` (and DPoP) headers from the agent's credentials on every request."""

    def __init__(self, credentials: AgentCredentials, resource: str) -> None:
        self.credentials = credentials
        self.resource = resource

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        url = str(request.url).split("?")[0]
        request.headers.update(
            self.credentials.headers(request.method, url, scope=SCOPE, resource=self.resource)
        )
        yield request


async def main(args: argparse.Namespace) -> None:
    credentials = AgentCredentials.from_pem_file(args.agent, args.key, base_url=args.charter)
    http = create_mcp_http_client(auth=CharterToken(credentials, args.gateway))
    async with (
        http,
        Client(streamable_http_client(args.gateway, http_client=http), mode="legacy") as mcp,
    ):
        tools = await mcp.list_tools()
        print(f"  tools/list → {', '.join(tool.name for tool in tools.tools)}"
              "   (delete_ticket is not shown: the charter can never allow it)")  # fmt: skip
        result = await mcp.call_tool("read_ticket", {"ticket_id": "4711"})
        print(f"  read_ticket 4711 → allowed: {result.content[0].text}")  # type: ignore[union-attr]
        for name, arguments in (
            ("send_email", {"to": "ceo@rival.example", "subject": "our customer list"}),
            ("delete_ticket", {"ticket_id": "4711"}),
        ):
            try:
                await mcp.call_tool(name, arguments)
                print(f"  {name} → unexpectedly allowed")
            except MCPError as denied:
                print(f"  {name} {arguments} → {denied.error.message}")
        sent = await mcp.call_tool("send_email", {"to": "customer@example.com", "subject": "fixed"})
        print(f"  send_email to customer@example.com → allowed: {sent.content[0].text}")  # type: ignore[union-attr]
    credentials.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charter", required=True, help="the Charter server (token service)")
    parser.add_argument("--gateway", required=True, help="the gateway's MCP endpoint")
    parser.add_argument("--agent", default="helpdesk-assistant")
    parser.add_argument("--key", required=True, help="the agent's private key (PEM)")
    anyio.run(main, parser.parse_args())
