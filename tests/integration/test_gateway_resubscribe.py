"""A resource subscription outlives an upstream restart: the gateway subscribes again.

The upstream's new session knows nothing of the old one's subscriptions, so an
agent that subscribed would never hear of an update again. Real processes: the
conformance upstream (streamable HTTP, which writes every subscription it gets
to a log, with its process id), the Charter server and ``charter gateway``; the
upstream is stopped and a new process started on the same port.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from tests.integration.test_gateway_conformance import CHARTER, write_gateway_config
from tests.support.server import free_port, live_server
from tests.unit.gateway.stack import (
    HERE,
    _stop,
    _wait,
    env_for,
    gateway_process,
    mcp_session,
    prepare_store,
)

from charter.sdk.credentials import AgentCredentials

URI = "test://watched-resource"


class Upstream:
    """The conformance upstream on ``port``, as a process that can be stopped and started."""

    def __init__(self, home: Path, port: int, log: Path) -> None:
        self.home, self.port, self.log = home, port, log
        self.url = f"http://127.0.0.1:{port}/mcp"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        output = self.home / f"upstream-{time.monotonic_ns()}.log"
        with open(output, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(HERE / "conformance_server.py"), str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SUBSCRIBE_LOG": str(self.log)},
            )
        _wait(self.url, self.process, output, "the conformance upstream")

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


def _subscriptions(log: Path) -> list[tuple[str, str]]:
    if not log.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in log.read_text().splitlines()]  # type: ignore[misc]


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
def test_subscriptions_are_renewed_after_the_upstream_reconnects(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    keys = prepare_store(env, [CHARTER])
    log = tmp_path / "subscribed.log"
    up = Upstream(tmp_path, free_port(), log)
    up.start()
    try:
        config = write_gateway_config(tmp_path, {"name": "conformance", "http": {"url": up.url}})
        with live_server(env) as charter, gateway_process(env, config) as gateway:
            credentials = AgentCredentials(
                "conformance-agent", keys["conformance-agent"], base_url=charter.url
            )
            token = credentials.token("resources.read", resource=gateway).value

            def restart_and_wait() -> None:
                up.stop()
                up.start()
                deadline = time.monotonic() + 60
                while len(_subscriptions(log)) < 2 and time.monotonic() < deadline:
                    time.sleep(0.2)

            async def agent() -> None:
                async with mcp_session(gateway, {"Authorization": f"Bearer {token}"}) as client:
                    await client.subscribe_resource(URI)
                    assert [uri for _, uri in _subscriptions(log)] == [URI]
                    await anyio.to_thread.run_sync(restart_and_wait)

            anyio.run(agent)
    finally:
        up.stop()
    seen = _subscriptions(log)
    assert len(seen) == 2, seen
    assert seen[0][1] == seen[1][1] == URI
    assert seen[0][0] != seen[1][0]  # the second came to the new process
