"""Console pages at scale: server time of every page on the 1,000,000-credential estate.

    .venv/bin/python bench/console.py [--store DIR] [--identities 100000]
                                      [--credentials-per-identity 10] [--systems 50]
                                      [--requests 10] [--database sqlite|postgres]

Builds (once; ``--store`` keeps it for the next run) the estate issue's synthetic
estate with ``bench/estate.py``'s generator — 100,000 identities, 1,000,000
credentials, 200,000 grants across 50 systems, ~1,000 shadow agents, 50
registered agents — then adds what the console shows on top: activity for the
registered agents, an evaluation of every finding rule, a review campaign and a
signed-in admin. Then it requests every console page ``--requests`` times
in-process (the ASGI app, no network) and prints p50/p95 server time per page.

Peer, same run, same store: the management API's ``GET /v1/agents?limit=50``
(JSON, no enrichment) and a bare ``SELECT count(*) FROM credentials`` — what a
page costs beside the cheapest answer the same process can give.

Target: every page under 300 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.testclient import TestClient

from charter.config import Settings
from charter.domain.lifecycle import Transition
from charter.server import create_app
from charter.services.auth import UserRole
from charter.services.context import Services
from charter.store import schema

HERE = Path(__file__).resolve().parent
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ADMIN, PASSWORD = "bench-admin@bench.example", "bench-admin-password"
TARGET_MS = 300.0


def _estate_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_estate", HERE / "estate.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_estate"] = module
    spec.loader.exec_module(module)
    return module


def _settings(store: Path, database: str) -> Settings:
    if database == "postgres":
        schema_name = "bench_console"
        engine = sa.create_engine(PG)
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"'))
        engine.dispose()
        url = f"{PG}?options=-csearch_path%3D{schema_name}"
        return Settings(home=store, database_url=url)
    return Settings(home=store, database_url=f"sqlite:///{store / 'console-bench.db'}")


def build(services: Services, identities: int, creds: int, systems: int) -> None:
    estate = _estate_module()
    per_system = identities // systems
    started = time.perf_counter()
    agents = estate.register_agents(services, systems, per_system)
    for name in agents:
        services.registry.transition(name, Transition.ACTIVATE, actor="bench", reason="bench")
    for system in range(systems):
        services.reconcile.apply(estate.batch(system, per_system, creds), actor="bench")
        print(f"\r  ingested {system + 1}/{systems} systems", end="", flush=True)
    print(f"\n  estate ingested in {time.perf_counter() - started:.0f} s")
    now = services.clock.now()
    rows = [
        {
            "time": now - dt.timedelta(minutes=i),
            "agent": agents[i % len(agents)],
            "action": "s3.get_object",
            "resource": f"aws:acct0000/bucket/data-{i % 50}/x",
            "allowed": i % 9 != 0,
            "reasons": []
            if i % 9
            else [{"code": "no_matching_capability", "message": "no allow rule covers it"}],
            "source": "bench",
        }
        for i in range(100_000)
    ]
    with services.db.write() as connection:
        for start in range(0, len(rows), 10_000):
            connection.execute(sa.insert(schema.activities), rows[start : start + 10_000])
    started = time.perf_counter()
    result = services.governance.evaluation.evaluate(actor="bench")
    print(
        f"  findings evaluated in {time.perf_counter() - started:.0f} s: "
        f"{result.counts.get('live', '?')} live"
    )
    services.governance.reviews.start("all", actor="bench")
    services.auth.add_user(ADMIN, role=UserRole.ADMIN, password=PASSWORD, actor="bench")


def sign_in(client: TestClient) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    response = client.post(
        "/login",
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def measure(client: TestClient, path: str, requests: int) -> tuple[float, float, int]:
    client.get(path)  # warm caches the way a running server has them
    times = []
    status = 0
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], status


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, default=HERE / "out" / "console-store")
    parser.add_argument("--identities", type=int, default=100_000)
    parser.add_argument("--credentials-per-identity", type=int, default=10)
    parser.add_argument("--systems", type=int, default=50)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    args.store.mkdir(parents=True, exist_ok=True)
    services = Services.from_settings(_settings(args.store, args.database))
    try:
        if not any(u.email == ADMIN for u in services.auth.list_users()):
            print(f"building the estate in {args.store} (once; later runs reuse it)")
            build(services, args.identities, args.credentials_per_identity, args.systems)
        with services.db.read() as connection:
            counts = {
                t.name: connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (
                    schema.agents,
                    schema.identities,
                    schema.credentials,
                    schema.grants,
                    schema.activities,
                    schema.events,
                )
            }
        print(f"\n== {args.database}: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
        with services.db.read() as connection:
            a_shadow = connection.execute(
                sa.select(schema.agents.c.name)
                .where(schema.agents.c.origin == "discovered")
                .limit(1)
            ).scalar()
        pages = [
            "/",
            "/agents",
            "/agents?q=workload-00001",
            "/agents?sort=updated&dir=desc&page=20",
            "/agents/agent-000",
            f"/agents/{a_shadow}",
            "/shadow",
            "/findings",
            "/findings?owasp=NHI7",
            "/findings?severity=high&page=50",
            "/map",
            "/map?agent=agent-000",
            "/map?system=aws:acct0000",
            "/map?risk=high",
            "/reviews",
            "/audit",
            "/decisions?agent=agent-000&action=s3.get_object&resource=aws:x/y",
            "/credentials?found=7d",
            "/credentials?expiring=30d",
            "/agents/agent-000/decommission",
        ]
        app = create_app(services)
        with TestClient(app, base_url="http://bench.test") as client:
            sign_in(client)
            started = time.perf_counter()
            client.get("/")  # the first visit counts the findings (in the background if many)
            app.state.summaries.wait()
            print(
                f"finding summary counted in {time.perf_counter() - started:.1f} s "
                "(once per change in the findings; pages never wait for it)"
            )
            worst = 0.0
            print(f"{'page':58} {'p50 ms':>8} {'p95 ms':>8}  status")
            for path in pages:
                p50, p95, status = measure(client, path, args.requests)
                worst = max(worst, p95)
                flag = "" if p95 < TARGET_MS else "  << over target"
                print(f"{path:58} {p50:8.1f} {p95:8.1f}  {status}{flag}")
            token = services.auth.keys.create_api_token(
                ADMIN, name="bench", expires_in=None, actor="bench"
            ).secret
            api = {"authorization": f"Bearer {token}"}
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                client.get("/v1/agents", params={"limit": 50}, headers=api)
                times.append((time.perf_counter() - started) * 1000)
            print(
                f"{'peer: GET /v1/agents?limit=50 (API JSON)':58} {statistics.median(times):8.1f}"
            )
            with services.db.read() as connection:
                started = time.perf_counter()
                connection.execute(sa.select(sa.func.count()).select_from(schema.credentials))
                raw = (time.perf_counter() - started) * 1000
            print(f"{'peer: SELECT count(*) FROM credentials':58} {raw:8.1f}")
            verdict = "PASS" if worst < TARGET_MS else "FAIL"
            print(f"\nslowest page p95 {worst:.1f} ms; target < {TARGET_MS:.0f} ms: {verdict}")
    finally:
        services.close()


if __name__ == "__main__":
    main()
