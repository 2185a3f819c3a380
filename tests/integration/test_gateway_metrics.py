"""The gateway's probes and metrics on a real stack: calls by upstream and outcome, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError
from prometheus_client.parser import text_string_to_metric_families
from tests.integration.test_gateway_conformance import conformance_upstream
from tests.support.server import free_port, live_server
from tests.unit.gateway.stack import (
    Stack,
    env_for,
    gateway_process,
    mcp_session,
    prepare_store,
    write_config,
)

CHARTER = """
name: metered-agent
owner: maria.garcia@acme.example
purpose: Call one tool through the gateway and be refused another.
allow:
  - {action: test_simple_text, resource: "conformance:tools/test_simple_text"}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, int]]:
    home: Path = tmp_path_factory.mktemp("gateway-metrics")
    env = env_for(home)
    keys = prepare_store(env, [CHARTER])
    metrics_port = free_port()
    with conformance_upstream(home) as upstream:
        config = write_config(
            home, {"name": "conformance", "protocol": "legacy", "http": {"url": upstream}}
        )
        args = ("--metrics-port", str(metrics_port))
        with live_server(env) as charter, gateway_process(env, config, *args) as gateway:
            yield Stack(env, home, charter, gateway, keys, keys["metered-agent"]), metrics_port


def _samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_gateway_is_ready_and_counts_forwarded_and_refused_calls(
    stack: tuple[Stack, int],
) -> None:
    gateway, metrics_port = stack
    base = gateway.gateway.removesuffix("/mcp")
    ready = httpx.get(f"{base}/readyz", timeout=5)
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"upstreams", "store", "migrations", "decision_snapshot"}
    assert httpx.get(f"{base}/metrics", timeout=5).status_code == 404  # never on the public port
    token = gateway.token("metered-agent", "test_simple_text")
    ok = ("charter_gateway_calls_total", (("outcome", "ok"), ("upstream", "conformance")))
    denied = ("charter_gateway_refusals_total", (("reason", "denied"),))
    before = _samples(metrics_port)

    async def calls() -> None:
        async with mcp_session(gateway.gateway, {"Authorization": f"Bearer {token}"}) as client:
            await client.call_tool("test_simple_text", {})
            with pytest.raises(MCPError):
                await client.call_tool("test_error_handling", {})

    anyio.run(calls)
    after = _samples(metrics_port)
    assert after[ok] - before.get(ok, 0.0) == 1
    assert after[denied] - before.get(denied, 0.0) == 1
    mcp = ("charter_request_duration_seconds_count", (("endpoint", "mcp"),))
    assert after[mcp] > before.get(mcp, 0.0)
