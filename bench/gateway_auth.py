"""The gateway's authorization hot path, in process: what each call costs besides transport.

    .venv/bin/python bench/gateway_auth.py [--requests 20000]

A real store, a real token from a real Charter server (client credentials),
the real :class:`~charter.gateway.local.LocalAuthority`. Times, per request,
in microseconds: the resource server in front of a no-op app (header parsing,
the cached token check, handing the principal on), the same with the step-up
peek at the body, a decision on the compiled snapshot, a rate-limit check and
queueing the Activity record (written by a background thread, never on the
call's path). Peer: ``bench/gateway.py`` measures the whole call through the
gateway over loopback; this is the part of it that is Charter's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import live_server  # noqa: E402
from tests.unit.gateway.stack import HELPDESK_CHARTER, env_for, prepare_store  # noqa: E402

from charter.config import Settings  # noqa: E402
from charter.gateway.auth import ResourceServer  # noqa: E402
from charter.gateway.authority import AgentPrincipal  # noqa: E402
from charter.gateway.local import LocalAuthority  # noqa: E402
from charter.gateway.ratelimit import RateLimiter  # noqa: E402
from charter.gateway.sessions import Sessions  # noqa: E402
from charter.gateway.stepup import Call  # noqa: E402
from charter.sdk.credentials import AgentCredentials  # noqa: E402
from charter.services.context import Services  # noqa: E402

AUDIENCE = "http://127.0.0.1:8100/mcp"
BODY = (
    b'{"jsonrpc":"2.0","id":5,"method":"tools/call",'
    b'"params":{"name":"read_ticket","arguments":{"ticket_id":"4711"}}}'
)
CONTEXT = {
    "args": {"ticket_id": "4711"},
    "mcp": {"method": "tools/call", "server": "helpdesk", "name": "read_ticket"},
    "source_ip": "127.0.0.1",
}


async def per_request(step: Callable[[], Awaitable[Any]], count: int) -> float:
    for _ in range(min(1000, count)):
        await step()
    started = time.perf_counter()
    for _ in range(count):
        await step()
    return (time.perf_counter() - started) / count * 1e6


async def measure(authority: LocalAuthority, token: str, count: int) -> dict[str, float]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def gone(agent: str, reason: str) -> None:
        return None

    async def in_scope(principal: AgentPrincipal, call: Call) -> str | None:
        return None

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/mcp",
        "scheme": "http",
        "server": ("127.0.0.1", 8100),
        "client": ("127.0.0.1", 5555),
        "headers": [
            (b"host", b"127.0.0.1:8100"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"mcp-session-id", b"s-1"),
        ],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: Any) -> None:
        return None

    out = {}
    for label, hook in (("resource server", None), ("resource server + step-up peek", in_scope)):
        server = ResourceServer(
            app,
            authority=authority,
            resource=AUDIENCE,
            sessions=Sessions(),
            on_agent_gone=gone,
            step_up=hook,
        )
        out[label] = await per_request(lambda s=server: s(dict(scope), receive, send), count)
    from charter.gateway.authority import Presented, Scheme

    principal = await authority.authenticate(
        Presented(Scheme.BEARER, token, None, "POST", AUDIENCE), AUDIENCE
    )
    action, resource = "read_ticket", "helpdesk:tools/read_ticket"

    async def decide() -> Any:
        return await authority.decide(principal, action, resource, CONTEXT)

    out["decide (compiled snapshot)"] = await per_request(decide, count)
    decision = await decide()
    limiter = RateLimiter()

    async def limit() -> Any:
        return limiter.check(("tool", principal.agent, action), 600)

    out["rate-limit check"] = await per_request(limit, count)

    async def record() -> None:
        authority.record(principal, action, resource, decision, 10.0)

    out["record Activity (queued)"] = await per_request(record, count)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="charter-bench-gateway-auth-"))
    env = env_for(home)
    os.environ.update(env)
    keys = prepare_store(env, [HELPDESK_CHARTER])
    with live_server(env) as charter:
        credentials = AgentCredentials("helpdesk-bot", keys["helpdesk-bot"], base_url=charter.url)
        token = credentials.token("read_ticket", resource=AUDIENCE).value
        credentials.close()
    services = Services.from_settings(Settings.from_env(env))
    try:
        authority = LocalAuthority(services)
        results = asyncio.run(measure(authority, token, args.requests))
        asyncio.run(authority.aclose())
    finally:
        services.close()
    load = os.getloadavg()[0]
    print(f"gateway authorization hot path, {args.requests} requests each, load average {load:.1f}")
    for label, micros in results.items():
        print(f"{label:<34}{micros:>9.1f} us")
    total = sum(
        results[k]
        for k in (
            "resource server + step-up peek",
            "decide (compiled snapshot)",
            "rate-limit check",
            "record Activity (queued)",
        )
    )
    print(f"{'per tools/call, all of the above':<34}{total:>9.1f} us")


if __name__ == "__main__":
    main()
