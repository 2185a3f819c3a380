"""MCP gateway overhead: the same tool call directly to the upstream, and through the gateway.

    .venv/bin/python bench/gateway.py [--calls 2000] [--rounds 10]
        [--concurrency 16] [--mode legacy]

Starts real processes — the test upstream MCP server (streamable HTTP), the
Charter server (for the agent's token) and ``charter gateway`` (in-process
decisions over the same SQLite store) — and one real MCP client session to
each of the upstream and the gateway. Calls ``read_ticket`` in alternating
rounds (so drift on a shared machine hits both alike) and reports p50/p99 and
sequential calls/s for each, the gateway's added latency (p50 and p99 of the
difference of the distributions), and throughput with ``--concurrency``
calls in flight. Peer: the direct call in the same run. Target:
the gateway adds at most 2 ms p50 over loopback.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import live_server  # noqa: E402
from tests.unit.gateway.stack import (  # noqa: E402
    HELPDESK_CHARTER,
    env_for,
    gateway_process,
    mcp_session,
    prepare_store,
    upstream_http,
    write_config,
)

from charter.sdk.credentials import AgentCredentials  # noqa: E402

ARGS = {"ticket_id": "4711"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    direct_url: str,
    gateway_url: str,
    headers: dict[str, str],
    *,
    calls: int,
    rounds: int,
    concurrency: int,
    mode: str,
) -> dict[str, dict[str, float]]:
    latencies: dict[str, list[float]] = {"direct": [], "gateway": []}
    throughput: dict[str, float] = {}
    async with (
        mcp_session(direct_url, mode=mode) as direct,
        mcp_session(gateway_url, headers, mode=mode) as gateway,
    ):
        clients = {"direct": direct, "gateway": gateway}
        for client in clients.values():  # warm up both paths
            for _ in range(100):
                result = await client.call_tool("read_ticket", ARGS)
                assert not result.is_error, result
        per_round = max(1, calls // rounds)
        for _ in range(rounds):
            for name, client in clients.items():
                for _ in range(per_round):
                    started = time.perf_counter()
                    await client.call_tool("read_ticket", ARGS)
                    latencies[name].append((time.perf_counter() - started) * 1000)
        for name, client in clients.items():
            total = calls

            async def worker(share: int, client: object = client) -> None:
                for _ in range(share):
                    await client.call_tool("read_ticket", ARGS)  # type: ignore[attr-defined]

            started = time.perf_counter()
            async with anyio.create_task_group() as group:
                for index in range(concurrency):
                    group.start_soon(worker, total // concurrency + (index < total % concurrency))
            throughput[name] = total / (time.perf_counter() - started)
    out: dict[str, dict[str, float]] = {}
    for name, values in latencies.items():
        out[name] = {
            "p50": percentile(values, 0.50),
            "p99": percentile(values, 0.99),
            "mean": statistics.fmean(values),
            "calls_per_s": 1000 / statistics.fmean(values),
            "concurrent_calls_per_s": throughput[name],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--mode", default="legacy", help="MCP client mode: legacy or auto")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="charter-bench-gateway-"))
    env = env_for(home)
    keys = prepare_store(env, [HELPDESK_CHARTER])
    with upstream_http(home) as direct_url, live_server(env) as charter:
        config = write_config(home, {"name": "helpdesk", "http": {"url": direct_url}})
        with gateway_process(env, config) as gateway_url:
            credentials = AgentCredentials(
                "helpdesk-bot", keys["helpdesk-bot"], base_url=charter.url
            )
            token = credentials.token("read_ticket", resource=gateway_url)
            headers = {"Authorization": f"Bearer {token.value}"}
            results = anyio.run(
                lambda: measure(
                    direct_url,
                    gateway_url,
                    headers,
                    calls=args.calls,
                    rounds=args.rounds,
                    concurrency=args.concurrency,
                    mode=args.mode,
                )
            )
            credentials.close()
    direct, gateway = results["direct"], results["gateway"]
    print(
        f"MCP tools/call read_ticket over loopback, {args.calls} sequential calls each "
        f"(client mode {args.mode}), throughput with {args.concurrency} in flight"
    )
    print(f"{'path':<28}{'p50 ms':>9}{'p99 ms':>9}{'calls/s':>10}{'concurrent calls/s':>20}")
    for name, label in (
        ("direct", "direct to upstream (peer)"),
        ("gateway", "through charter gateway"),
    ):
        row = results[name]
        print(
            f"{label:<28}{row['p50']:>9.3f}{row['p99']:>9.3f}{row['calls_per_s']:>10.0f}"
            f"{row['concurrent_calls_per_s']:>20.0f}"
        )
    added50 = gateway["p50"] - direct["p50"]
    added99 = gateway["p99"] - direct["p99"]
    verdict = "meets" if added50 <= 2.0 else "MISSES"
    print(
        f"gateway adds {added50:.3f} ms at p50, {added99:.3f} ms at p99 "
        f"(authenticate + decide + rate-limit + forward + record); {verdict} the 2 ms p50 target"
    )


if __name__ == "__main__":
    main()
