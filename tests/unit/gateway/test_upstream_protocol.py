"""Which MCP revision the gateway speaks to an upstream by default (``protocol: auto``).

``auto`` prefers the initialize handshake, the session that carries the whole
protocol both ways (server-initiated sampling, elicitation and roots mid-call,
logs, resource updates); an upstream that refuses the handshake (it speaks only
2026-07-28) is spoken to at 2026-07-28. Real upstream processes over HTTP.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.gateway.fakes import FakeAuthority
from tests.unit.gateway.stack import HELPDESK_CHARTER, upstream_http
from tests.unit.gateway.test_server import BOT, session

from charter.domain.charter_parsing import load_document, parse_charter
from charter.gateway.config import parse_config
from charter.gateway.server import Gateway

pytestmark = pytest.mark.anyio


def _gateway(url: str, **upstream: str) -> Gateway:
    config = parse_config({"upstreams": [{"name": "helpdesk", "http": {"url": url}, **upstream}]})
    authority = FakeAuthority({"helpdesk-bot": parse_charter(load_document(HELPDESK_CHARTER))})
    return Gateway(config, authority, resource="http://gw.test/mcp")


def _negotiated(gateway: Gateway) -> str | None:
    client = gateway.upstreams["helpdesk"]._client
    assert client is not None, gateway.upstreams["helpdesk"].last_error
    return client.session.protocol_version


async def test_auto_uses_the_handshake_when_the_upstream_offers_it(tmp_path: Path) -> None:
    with upstream_http(tmp_path) as url:
        gateway = _gateway(url)
        async with session(gateway, BOT) as client:
            assert gateway.upstreams["helpdesk"].config.protocol == "auto"
            result = await client.call_tool("read_ticket", {"ticket_id": "5"})
            assert result.content[0].text.startswith("ticket 5")  # type: ignore[union-attr]
            assert _negotiated(gateway) != "2026-07-28"
            assert gateway.upstreams["helpdesk"].mode == "legacy"


async def test_auto_speaks_2026_07_28_to_an_upstream_refusing_the_handshake(
    tmp_path: Path,
) -> None:
    with upstream_http(tmp_path, modern_only=True) as url:
        gateway = _gateway(url)
        async with session(gateway, BOT) as client:
            result = await client.call_tool("read_ticket", {"ticket_id": "6"})
            assert result.content[0].text.startswith("ticket 6")  # type: ignore[union-attr]
            assert _negotiated(gateway) == "2026-07-28"
            assert gateway.upstreams["helpdesk"].last_error is None


async def test_a_legacy_pin_never_falls_back_to_2026_07_28(tmp_path: Path) -> None:
    with upstream_http(tmp_path, modern_only=True) as url:
        gateway = _gateway(url, protocol="legacy")
        async with session(gateway, BOT) as client:
            tools = await client.list_tools()
            assert tools.tools == []  # the upstream never connected
            upstream = gateway.upstreams["helpdesk"]
            assert upstream._client is None
            assert upstream.last_error is not None and "-32022" in upstream.last_error
