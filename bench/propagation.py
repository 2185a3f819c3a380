"""How fast a suspension reaches every replica's decisions: p50/p99 over N suspensions.

Three (``--replicas``) ``charter serve`` processes on one PostgreSQL database
created for the run (dropped after), each with a home of its own. N agents are
registered and activated; then, one at a time, an agent is suspended by another
process (this one: a commit, as the CLI or a fourth replica would make it), and
one poller per replica sends AuthZEN evaluations back to back until that replica
answers ``false``. An agent's figure is the slowest replica's; the table gives
p50/p99/max of those over the N suspensions.

Peers, measured in the same run on the same replicas:

* **one evaluation round trip**: an allowed agent's evaluation, back to back (the
  resolution of the measurement: a poller sees the change at most one round trip late);
* **safety net alone**: what propagation would cost if every NOTIFY were lost and
  only the counter check ran (an interval, not measured: 5 s for decisions).

    python bench/propagation.py --suspensions 50 [--markdown]

Needs PostgreSQL: ``CHARTER_TEST_DATABASE_URL`` (default
postgresql+psycopg://postgres@127.0.0.1:5432/test); without one it says so and exits 0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.replicas import (  # noqa: E402
    cluster_env,
    new_master_key,
    private_database,
    replicas,
)

from charter.config import Settings  # noqa: E402
from charter.domain.charter_parsing import load_document, parse_charter  # noqa: E402
from charter.domain.lifecycle import Transition  # noqa: E402
from charter.services.context import Services  # noqa: E402
from charter.services.decision_snapshot import ChangeWatcher  # noqa: E402
from charter.services.people import PersonRecord  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OWNER = "maria.garcia@acme.example"
SAFETY_NET_SECONDS = float(ChangeWatcher.__init__.__kwdefaults__["safety_interval"])  # type: ignore[index]


def charter(name: str) -> str:
    return f"""
name: {name}
owner: {OWNER}
purpose: Suspended by the propagation benchmark to time how fast every replica hears it.
allow:
  - action: read_ticket
    resource: "helpdesk:tools/read_ticket"
"""


def evaluation(agent: str) -> dict[str, Any]:
    return {
        "subject": {"type": "agent", "id": agent},
        "action": {"name": "read_ticket"},
        "resource": {"type": "helpdesk", "id": "tools/read_ticket"},
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def prepare(services: Services, count: int) -> tuple[list[str], str]:
    services.people.import_records([PersonRecord(email=OWNER, name="Maria")], actor="bench")
    names = [f"prop-{i:04d}" for i in range(count)] + ["prop-control"]
    for name in names:
        spec = parse_charter(load_document(charter(name)))
        services.registry.register(spec, actor="bench")
        services.registry.transition(name, Transition.ACTIVATE, actor="bench", reason="bench")
    pep = services.auth.keys.add_pep_key("bench", actor="bench").secret
    return names[:-1], pep


def wait_denied(client: httpx.Client, agent: str, since: float) -> float:
    body = evaluation(agent)
    while True:
        answer = client.post("/access/v1/evaluation", json=body)
        if answer.status_code == 200 and answer.json()["decision"] is False:
            return time.perf_counter() - since
        if time.perf_counter() - since > 30:
            raise RuntimeError(f"{agent} still allowed after 30 s")


def round_trips(client: httpx.Client, count: int) -> list[float]:
    body = evaluation("prop-control")
    out = []
    for _ in range(count):
        started = time.perf_counter()
        answer = client.post("/access/v1/evaluation", json=body)
        out.append(time.perf_counter() - started)
        assert answer.json()["decision"] is True
    return out


def measure(args: argparse.Namespace, base: str) -> dict[str, Any]:
    master = new_master_key()
    os.environ["CHARTER_MASTER_KEY"] = master
    with (
        tempfile.TemporaryDirectory(prefix="charter-propagation-") as scratch,
        private_database(base, prefix="charter_propagation") as url,
    ):
        root = Path(scratch)
        envs = [
            cluster_env(root, url, f"replica-{i}", CHARTER_MASTER_KEY=master)
            for i in range(args.replicas)
        ]
        writer = Services.from_settings(Settings.from_env(cluster_env(root, url, "writer")))
        try:
            agents, pep = prepare(writer, args.suspensions)
            load_start = os.getloadavg()[0]
            with replicas(envs) as servers:
                headers = {"Authorization": f"Bearer {pep}"}
                clients = [httpx.Client(base_url=s.url, headers=headers) for s in servers]
                for client in clients:  # warm: connections open, snapshots loaded
                    round_trips(client, 5)
                slowest: list[float] = []
                each: list[float] = []
                with ThreadPoolExecutor(max_workers=len(clients)) as pool:
                    for agent in agents:
                        writer.registry.transition(
                            agent, Transition.SUSPEND, actor="bench", reason="bench"
                        )
                        since = time.perf_counter()  # the suspension is committed
                        seen = list(
                            pool.map(
                                wait_denied, clients, [agent] * len(clients), [since] * len(clients)
                            )
                        )
                        each.extend(seen)
                        slowest.append(max(seen))
                trips: list[float] = []
                lock = threading.Lock()

                def trip(client: httpx.Client) -> None:
                    got = round_trips(client, max(20, args.suspensions))
                    with lock:
                        trips.extend(got)

                with ThreadPoolExecutor(max_workers=len(clients)) as pool:
                    list(pool.map(trip, clients))
                for client in clients:
                    client.close()
        finally:
            writer.close()
    return {
        "slowest": slowest,
        "each": each,
        "trips": trips,
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
    }


def rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    def ms(values: list[float]) -> tuple[str, str, str]:
        return (
            f"{percentile(values, 0.5) * 1000:.1f}",
            f"{percentile(values, 0.99) * 1000:.1f}",
            f"{max(values) * 1000:.1f}",
        )

    safety = f"{SAFETY_NET_SECONDS * 1000:.0f}"
    return [
        ("suspension → every replica", *ms(result["slowest"])),
        ("suspension → one replica", *ms(result["each"])),
        ("peer: one evaluation round trip", *ms(result["trips"])),
        ("peer: safety net alone (interval)", "", "", safety),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suspensions", type=int, default=50, help="agents suspended, one by one")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    base = os.environ.get("CHARTER_TEST_DATABASE_URL", DEFAULT_PG)
    try:
        with sa.create_engine(base, connect_args={"connect_timeout": 3}).connect() as probe:
            probe.execute(sa.text("SELECT 1"))
    except Exception as exc:
        print(f"propagation: skipped, no PostgreSQL at {base} ({type(exc).__name__})")
        return
    result = measure(args, base)
    table = rows(result)
    title = (
        f"{args.suspensions} suspensions, {args.replicas} replicas on one PostgreSQL; "
        f"load avg {result['load_start']:.1f} at start, {result['load_end']:.1f} at end; "
        f"{os.cpu_count()} cpus"
    )
    if args.markdown:
        print(f"{title}\n")
        print("| propagation | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|")
        for name, p50, p99, top in table:
            print(f"| {name} | {p50} | {p99} | {top} |")
        return
    print(title)
    print(f"  {'':36}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, p50, p99, top in table:
        print(f"  {name:36}{p50:>10}{p99:>10}{top:>10}")
    p99 = percentile(result["slowest"], 0.99)
    verdict = "within" if p99 <= 1.0 else "OVER"
    print(f"p99 to every replica {p99 * 1000:.0f} ms: {verdict} the 1 s budget")
    print(f"median of one replica {statistics.median(result['each']) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
