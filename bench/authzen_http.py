"""AuthZEN over HTTP, per second of the server's own CPU, beside the framework floor.

    .venv/bin/python bench/authzen_http.py [--agents 10000] [--requests 40000]
        [--single 10000] [--batch 1000] [--concurrency 16] [--postgres URL] [--markdown]

One generated estate (``bench/decision_estate.py``) in a store (SQLite; with
``--postgres``, also a PostgreSQL database made for the run and dropped after),
served by ``charter serve`` (one uvicorn worker) on loopback and loaded from a
separate process (``bench/http_load.py``, keep-alive, pre-serialised requests):

* **single** — ``POST /access/v1/evaluation``, one decision per request;
* **batched** — ``POST /access/v1/evaluations``, ``--batch`` decisions per request.

Every answer is sent only after its decisions are committed to ``activities``
(group commit), so each figure includes recording every decision; after the
server stops, the rows are counted (none may be missing) and every decision is
checked against the in-process evaluation.

The figure is decisions per **CPU-second of the server process** (utime + stime
from ``/proc``, every thread: the event loop and the Activity writer): on a
shared 2-core machine wall-clock rates say more about the neighbours than about
the server. The peer, measured in the same run through the same client, is the
**framework floor**: a bare Starlette app on the same uvicorn that parses each
body with orjson and answers a constant decision (no authentication, no policy,
no recording) — what any Python PDP on this stack pays before deciding anything.
OPA and a Cedar agent are not peers here: neither installs from PyPI (they are Go
and Rust binaries), and cedarpy in process is measured by ``bench/decisions.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from charter.domain.charter import CharterSpec
from charter.domain.evaluation import evaluate
from decision_estate import generate
from decisions import (
    CHARTER,
    ROOT,
    authzen_body,
    compile_estate,
    load_store,
    process_cpu,
    run_load,
    wait_until_healthy,
)

TARGETS = {"single": 4_000, "batched": 50_000}

FLOOR_APP = """
import orjson
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

ALLOW = b'{"decision":true,"context":{"rule":"floor"}}'


async def one(request):
    orjson.loads(await request.body())
    return Response(ALLOW, media_type="application/json")


async def many(request):
    items = orjson.loads(await request.body())["evaluations"]
    body = b'{"evaluations":[' + b",".join([ALLOW] * len(items)) + b"]}"
    return Response(body, media_type="application/json")


async def healthz(request):
    return Response(b"ok")


app = Starlette(
    routes=[
        Route("/access/v1/evaluation", one, methods=["POST"]),
        Route("/access/v1/evaluations", many, methods=["POST"]),
        Route("/healthz", healthz),
    ]
)
"""


def _load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _serve(
    command: list[str], env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    from tests.support.server import free_port

    port = free_port()
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [*command, "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    wait_until_healthy(port, server, log, seconds=180)
    return server, port


def _measure(
    port: int, pid: int, bearer: str, bodies: list[bytes], concurrency: int, path: str, work: Path
) -> dict[str, Any]:
    cpu = process_cpu(pid)
    result = run_load(port, bearer, bodies, concurrency, path, work)
    result["server_cpu"] = process_cpu(pid) - cpu
    return result


def _phases(
    port: int,
    pid: int,
    bearer: str,
    args: argparse.Namespace,
    work: Path,
    singles: list[bytes],
    batches: list[bytes],
) -> dict[str, dict[str, Any]]:
    httpx.post(  # warm: the first request loads the snapshot
        f"http://127.0.0.1:{port}/access/v1/evaluation",
        headers={"Authorization": f"Bearer {bearer}"},
        content=singles[0],
        timeout=180,
    )
    single = _measure(port, pid, bearer, singles, args.concurrency, "/access/v1/evaluation", work)
    batched = _measure(port, pid, bearer, batches, 2, "/access/v1/evaluations", work)
    return {"single": single, "batched": batched}


def _store(home: Path, url: str | None, estate: Any, specs: list[CharterSpec]) -> str:
    """The estate in a store at ``url`` (a new SQLite file when None); returns the URL."""
    now = dt.datetime.now(dt.UTC)
    services = load_store(home, estate, specs, now, database_url=url)
    services.close()
    return url or f"sqlite:///{home}/charter.db"


def _recorded(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            count = connection.execute(
                sa.text("SELECT count(*) FROM activities WHERE source = 'authzen'")
            ).scalar_one()
    finally:
        engine.dispose()
    return int(count)


def run_charter(
    label: str,
    url: str,
    home: Path,
    args: argparse.Namespace,
    bodies: tuple[list[bytes], list[bytes]],
    ours: list[bool],
) -> dict[str, Any]:
    from tests.support.server import charter_env

    from charter.config import Settings
    from charter.services.context import Services

    services = Services.from_settings(Settings(home=home, database_url=url))
    bearer = services.auth.keys.add_pep_key(f"bench-{label}", actor="bench").secret
    services.close()
    before = _recorded(url)
    env = charter_env(home, url)
    server, port = _serve([CHARTER, "serve"], env, home / f"server-{label}.log")
    try:
        out = _phases(port, server.pid, bearer, args, home, *bodies)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=180)
    decisions = out["single"]["decisions"] + out["batched"]["decisions"]
    expected = ours[: len(bodies[0])] + ours[: len(out["batched"]["decisions"])]
    out["disagree"] = sum(a != b for a, b in zip(decisions, expected, strict=True))
    out["recorded"] = _recorded(url) - before
    out["decided"] = len(decisions) + 1
    return out


def run_floor(
    home: Path, args: argparse.Namespace, bodies: tuple[list[bytes], list[bytes]]
) -> dict[str, Any]:
    (home / "authzen_floor.py").write_text(textwrap.dedent(FLOOR_APP))
    command = [sys.executable, "-m", "uvicorn", "authzen_floor:app", "--app-dir", str(home)]
    server, port = _serve([*command, "--no-access-log"], dict(os.environ), home / "floor.log")
    try:
        return _phases(port, server.pid, "none", args, home, *bodies)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def _rates(result: dict[str, Any], decisions: int) -> tuple[float, float, float]:
    cpu = result["server_cpu"]
    return decisions / cpu, decisions / result["elapsed"], cpu / decisions * 1e6


def report(results: dict[str, dict[str, Any]], counts: dict[str, int], markdown: bool) -> None:
    rows: list[tuple[str, str, float, float, float, str]] = []
    for name, result in results.items():
        for phase in ("single", "batched"):
            per_cpu, per_wall, us = _rates(result[phase], counts[phase])
            target = f"≥ {TARGETS[phase]:,}" if not name.startswith("floor") else "peer"
            rows.append((name, phase, per_cpu, per_wall, us, target))
    if markdown:
        print(
            "| server | request | decisions per server CPU-s | per wall s "
            "| server CPU per decision | target |"
        )
        print("|---|---|---:|---:|---:|---|")
        for name, phase, per_cpu, per_wall, us, target in rows:
            print(
                f"| {name} | {phase} | {per_cpu:,.0f} | {per_wall:,.0f} | {us:.1f} µs | {target} |"
            )
        return
    for name, phase, per_cpu, per_wall, us, target in rows:
        print(
            f"  {name} {phase}: {per_cpu:,.0f} per server CPU-s   "
            f"(wall {per_wall:,.0f}/s; {us:.1f} µs CPU per decision; target {target})"
        )
    for name, result in results.items():
        if not name.startswith("floor"):
            print(
                f"  {name}: {result['recorded']:,} of {result['decided']:,} decisions recorded; "
                f"{result['disagree']} disagree with in-process; statuses "
                f"{result['single']['statuses']} {result['batched']['statuses']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--single", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--postgres", help="also on PostgreSQL: a server URL (a database is made)")
    parser.add_argument("--markdown", action="store_true", help="the figure table as Markdown")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # tests.support.server: free ports, the server's environment
    started = _load_average()
    estate = generate(agents=args.agents, requests=args.requests, people=1_000)
    now = dt.datetime.now(dt.UTC)
    snapshot, specs, _ = compile_estate(estate, now)
    now_us = int(time.time() * 1_000_000)
    ours = [evaluate(snapshot, a, x, r, c, o, now_us).allowed for a, x, r, c, o in estate.requests]
    requests = estate.requests
    singles = [json.dumps(authzen_body(*r)).encode() for r in requests[: args.single]]
    batches = [
        json.dumps(
            {"evaluations": [authzen_body(*r) for r in requests[i : i + args.batch]]}
        ).encode()
        for i in range(0, len(requests), args.batch)
    ]
    counts = {"single": len(singles), "batched": len(requests)}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="charter-authzen-") as work:
        home = Path(work)
        results["floor (Starlette, constant)"] = run_floor(home, args, (singles, batches))
        (home / "sqlite").mkdir()
        url = _store(home / "sqlite", None, estate, specs)
        results["Charter, SQLite"] = run_charter(
            "sqlite", url, home / "sqlite", args, (singles, batches), ours
        )
        if args.postgres:
            pg_home = home / "postgres"
            pg_home.mkdir()
            database = f"charter_authzen_bench_{os.getpid()}"
            admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
            pg_url = args.postgres.rsplit("/", 1)[0] + f"/{database}"
            try:
                _store(pg_home, pg_url, estate, specs)
                results["Charter, PostgreSQL"] = run_charter(
                    "postgres", pg_url, pg_home, args, (singles, batches), ours
                )
            finally:
                with admin.connect() as connection:
                    connection.execute(sa.text(f'DROP DATABASE "{database}" WITH (FORCE)'))
                admin.dispose()
    if not args.markdown:
        print(
            f"AuthZEN over HTTP — {os.cpu_count()} CPUs, load average {started} at start; "
            f"{args.agents:,} agents; {counts['single']:,} single evaluations "
            f"({args.concurrency} connections), {counts['batched']:,} in batches of {args.batch:,}"
        )
    report(results, counts, args.markdown)
    print(f"\nload average {started} at start, {_load_average()} at end")


if __name__ == "__main__":
    main()
