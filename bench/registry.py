"""Registry and audit throughput on SQLite and PostgreSQL, beside raw peers in the same run.

    .venv/bin/python bench/registry.py [--events 1000000] [--agents 2000]
        [--databases sqlite,postgres] [--markdown]

Measures: agents registered/s (each a transaction with its audit event), agents
listed/s (paged), audit events appended/s in batches, and chain verification
rate. Peers measured in the same run: a bare executemany INSERT of the same
event rows (no hashing, no chain: the store's physical limit) and hashlib's
SHA-256 over the same hash inputs (verification's CPU floor).
Targets: verify 1,000,000 events in under 10 s; append >= 5,000 events/s.
With ``--markdown`` the figures go to stderr and stdout is the docs' table
(docs/registry.md, written by bench/update_docs.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from charter.config import Settings
from charter.domain.audit import EventDraft
from charter.domain.charter_parsing import parse_charter
from charter.services.context import Services
from charter.services.people import PersonRecord

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _services(kind: str, home: Path) -> tuple[Services, str | None]:
    if kind == "sqlite":
        url, schema = f"sqlite:///{home / 'bench.db'}", None
    else:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(PG)
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        url = f"{PG}?options=-csearch_path%3D{schema}"
    return Services.from_settings(Settings(home=home, database_url=url)), schema


def _drop(schema: str | None) -> None:
    if schema:
        engine = sa.create_engine(PG)
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def bench(kind: str, events: int, agents: int, batch: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix=f"charter-bench-{kind}-"))
    services, schema = _services(kind, home)
    results: dict[str, float] = {}
    try:
        services.people.import_records(
            [PersonRecord(email="owner@acme.example", name="Owner")], actor="bench"
        )
        specs = [
            parse_charter(
                {
                    "name": f"agent-{i:06d}",
                    "owner": "owner@acme.example",
                    "purpose": "benchmark agent with a realistic charter",
                    "labels": {"team": f"t{i % 20}"},
                    "allow": [
                        {"action": f"svc{j}.read", "resource": f"svc{j}:items/*"} for j in range(5)
                    ],
                }
            )
            for i in range(agents)
        ]
        start = time.perf_counter()
        for spec in specs:
            services.registry.register(spec, actor="bench")
        results["register/s"] = agents / (time.perf_counter() - start)

        start = time.perf_counter()
        listed = 0
        offset = 0
        while True:
            page = services.registry.list(limit=500, offset=offset)
            listed += len(page.items)
            offset += 500
            if offset >= page.total:
                break
        results["list agents/s"] = listed / (time.perf_counter() - start)

        drafts = [
            EventDraft(
                "bench",
                "bench.event",
                "agent",
                f"agent-{i % agents:06d}",
                {"state": "active"},
                {"state": "suspended", "reason": "benchmark"},
            )
            for i in range(batch)
        ]
        already = services.audit.count()
        start = time.perf_counter()
        appended = 0
        while appended + already < events:
            take = min(batch, events - already - appended)
            services.audit.append(drafts[:take])
            appended += take
        results["append events/s"] = appended / (time.perf_counter() - start)

        start = time.perf_counter()
        report = services.audit.verify()
        elapsed = time.perf_counter() - start
        assert report.ok, report.problem
        results["verify events/s"] = report.events / elapsed
        results["verify 1M (s, extrapolated)"] = 1_000_000 / results["verify events/s"]
        results["events"] = report.events

        # peers, same run: raw insert of the same rows; raw SHA-256 of the same inputs
        rows = [
            {
                "seq": 10_000_000 + i,
                "time": "2026-11-28T00:00:00.000000Z",
                "actor": "bench",
                "action": "bench.raw",
                "target_type": "agent",
                "target": "x",
                "summary": d.summary_text(),
                "prev_hash": f"{i:064x}",
                "hash": f"{i:064x}",
            }
            for i, d in enumerate(drafts)
        ]
        table = sa.table("raw_events", *(sa.column(k) for k in rows[0]))
        with services.db.write() as connection:
            connection.execute(
                sa.text(
                    "CREATE TABLE raw_events (seq BIGINT PRIMARY KEY, time TEXT, actor TEXT, "
                    "action TEXT, target_type TEXT, target TEXT, summary TEXT, "
                    "prev_hash TEXT UNIQUE, hash TEXT)"
                )
            )
        start = time.perf_counter()
        with services.db.write() as connection:
            connection.execute(sa.insert(table), rows)
        results["peer: raw executemany insert rows/s"] = len(rows) / (time.perf_counter() - start)
        material = [
            "\x1f".join(
                (
                    str(i),
                    "2026-11-28T00:00:00.000000Z",
                    "bench",
                    "bench.event",
                    "agent",
                    "x",
                    d.summary_text(),
                    "0" * 64,
                )
            ).encode()
            for i, d in enumerate(drafts)
        ]
        start = time.perf_counter()
        for _ in range(10):
            for item in material:
                hashlib.sha256(item).hexdigest()
        results["peer: raw sha256 hashes/s"] = 10 * len(material) / (time.perf_counter() - start)
    finally:
        services.close()
        _drop(schema)
    return results


#: The docs' rows: (label, figure, target).
ROWS = (
    ("register agents/s (validate, version, audit, one transaction each)", "register/s", ""),
    ("list agents/s (pages of the table)", "list agents/s", ""),
    ("append audit events/s, batched", "append events/s", "≥ 5,000/s"),
    ("verify audit events/s", "verify events/s", "1M in < 10 s"),
    ("peer: raw `executemany` insert rows/s", "peer: raw executemany insert rows/s", ""),
    ("peer: raw SHA-256/s of the same inputs", "peer: raw sha256 hashes/s", ""),
)
NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _markdown(measured: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    kinds = list(measured)
    lines = [
        "| | " + " | ".join(NAMES.get(k, k) for k in kinds) + " | target |",
        "|---|" + "---:|" * len(kinds) + "---|",
    ]
    for label, key, target in ROWS:
        cells = []
        for kind in kinds:
            value = measured[kind][key]
            cell = f"{value:,.0f}"
            if key == "verify events/s":
                cell += f" (1M in {measured[kind]['verify 1M (s, extrapolated)']:.1f} s)"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    lines.append(
        f"\nMeasured {dt.date.today().isoformat()} by `bench/registry.py` ({args.agents:,} "
        f"agents, {args.events:,} audit events appended in batches of {args.batch:,}), "
        f"load average {load}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--markdown", action="store_true", help="print the docs' table")
    args = parser.parse_args()
    out = sys.stderr if args.markdown else sys.stdout
    measured: dict[str, dict[str, float]] = {}
    for kind in args.databases.split(","):
        print(
            f"\n== {kind}: {args.agents} agents, {args.events} audit events, batches of "
            f"{args.batch}",
            file=out,
        )
        results = measured[kind] = bench(kind, args.events, args.agents, args.batch)
        for key, value in results.items():
            print(f"  {key:42s} {value:>14,.1f}", file=out)
        print(
            f"  {'append vs raw insert (ratio)':42s} "
            f"{results['append events/s'] / results['peer: raw executemany insert rows/s']:>14.2f}",
            file=out,
        )
        print(
            f"  {'verify vs raw sha256 (ratio)':42s} "
            f"{results['verify events/s'] / results['peer: raw sha256 hashes/s']:>14.2f}",
            file=out,
        )
        verdict = "PASS" if results["verify 1M (s, extrapolated)"] < 10 else "MISS"
        print(
            f"  target verify 1M < 10 s: {verdict}; append >= 5,000/s: "
            f"{'PASS' if results['append events/s'] >= 5000 else 'MISS'}",
            file=out,
        )
    if args.markdown:
        print(_markdown(measured, args))


if __name__ == "__main__":
    main()
