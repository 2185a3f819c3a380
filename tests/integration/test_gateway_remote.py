"""The gateway asking a Charter server over HTTP (CHARTER_URL): introspection and AuthZEN.

The gateway process has no store of its own here: every token is introspected
and every call decided by the Charter server, with the gateway's PEP key; the
auditor API token reads charters (listing, limits) and states (kill switch).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa
from mcp.shared.exceptions import MCPError
from tests.support.server import live_server, run_cli
from tests.unit.gateway.stack import (
    HELPDESK_CHARTER,
    env_for,
    gateway_process,
    mcp_session,
    prepare_store,
    stdio_upstream,
    write_config,
)

from charter.config import Settings
from charter.gateway import refusals
from charter.sdk.credentials import AgentCredentials
from charter.services.context import Services
from charter.store import schema


def test_remote_mode_end_to_end(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    keys = prepare_store(env, [HELPDESK_CHARTER])
    config = write_config(tmp_path, stdio_upstream(), watch_interval=0.2)
    with live_server(env) as charter:
        (tmp_path / "elsewhere").mkdir()
        remote_env = {
            **env_for(tmp_path / "elsewhere"),
            "CHARTER_URL": charter.url,
            "CHARTER_PEP_KEY": charter.pep_key,
            "CHARTER_API_TOKEN": charter.admin_token,
        }
        missing = run_cli(
            "gateway",
            "--config",
            str(config),
            env={k: v for k, v in remote_env.items() if k != "CHARTER_API_TOKEN"},
        )
        assert missing.returncode == 2 and "CHARTER_API_TOKEN" in missing.stderr
        with gateway_process(remote_env, config) as gateway:
            credentials = AgentCredentials(
                "helpdesk-bot", keys["helpdesk-bot"], base_url=charter.url
            )
            token = credentials.token("read_ticket send_email slow", resource=gateway).value
            headers = {"Authorization": f"Bearer {token}"}

            async def session() -> dict[str, Any]:
                seen: dict[str, Any] = {}
                async with mcp_session(gateway, headers) as client:
                    seen["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
                    seen["read"] = (
                        (await client.call_tool("read_ticket", {"ticket_id": "3"})).content[0].text
                    )
                    with pytest.raises(MCPError) as caught:
                        await client.call_tool(
                            "send_email", {"to": "ceo@rival.example", "subject": "x"}
                        )
                    seen["denied"] = caught.value.error

                    async def slow() -> None:
                        with pytest.raises(MCPError) as cut:
                            await client.call_tool("slow", {"seconds": 30})
                        seen["cut"] = (cut.value.error, time.monotonic())

                    async with anyio.create_task_group() as group:
                        group.start_soon(slow)
                        await anyio.sleep(1)
                        done = await anyio.to_thread.run_sync(
                            lambda: run_cli(
                                "agent", "suspend", "helpdesk-bot", "--reason", "test", env=env
                            )
                        )
                        seen["suspended"] = time.monotonic()
                        assert done.returncode == 0, done.stderr
                return seen

            seen = anyio.run(session)
            assert seen["tools"] == ["read_ticket", "send_email", "slow"]
            assert seen["read"].startswith("ticket 3")
            assert seen["denied"].code == refusals.ACCESS_DENIED
            assert "condition_failed:args.to" in str(seen["denied"].data)
            error, at = seen["cut"]
            assert error.code == refusals.AGENT_CUT_OFF and at - seen["suspended"] < 4
            after = httpx.post(
                gateway, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers
            )
            assert after.status_code == 401  # introspection: the agent's tokens are inactive now
    services = Services.from_settings(Settings.from_env(env))
    try:
        with services.db.read() as connection:
            rows = connection.execute(
                sa.select(schema.activities.c.action, schema.activities.c.allowed)
                .where(schema.activities.c.source == "authzen")
                .order_by(schema.activities.c.id)
            ).all()
    finally:
        services.close()
    assert [tuple(r) for r in rows][:3] == [
        ("read_ticket", True),
        ("send_email", False),
        ("slow", True),
    ]
