"""What-if replay benchmark: recorded activity replayed against a proposed org policy.

Generates an estate (``--agents`` charters, one in ten with an office-hours schedule, so
part of the replay takes the per-call timed path) and ``--rows`` activity rows written
straight into a SQLite store, spread over the last 30 days. Then, in one run:

1. **read only** — the peer floor: stream the rows off the store and do nothing;
2. **what-if** — ``WhatIfService.org_policy``: compile the policy in force and the
   proposal once, stream the rows, decide each under both (memoised where the
   clock cannot matter), aggregate the changes;
3. **naive** — the peer: ``evaluate`` twice per row on a sample (``--sample``), no
   memo, extrapolated to all rows.

    .venv/bin/python bench/whatif.py                 # 10,000,000 rows
    .venv/bin/python bench/whatif.py --rows 1000000  # a loaded machine: 1M, extrapolated

The store is kept under ``--dir`` and reused when it already holds the rows asked for.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import sys
import time
from pathlib import Path

import orjson
import sqlalchemy as sa

from charter.config import Settings
from charter.domain.conditions import epoch_micros
from charter.domain.evaluation import evaluate
from charter.domain.org_policy import parse_org_policy
from charter.services.activity_rows import activity_rows
from charter.services.context import Services
from charter.services.decision_snapshot import SnapshotLoader
from charter.store import schema
from charter.store.versions import bump_version

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = ["tickets.read", "tickets.update", "docs.read", "docs.write", "payments.refund"]
#: touches one action in five: only those calls are read and decided
TARGETED = {
    "version": 1,
    "deny": [
        {
            "id": "no-refunds-by-agents",
            "action": "payments.refund",
            "resource": "*",
            "description": "refunds go through a person",
        }
    ],
}
#: touches every action: every call is read and decided (the worst case)
BROAD = {
    "version": 1,
    "deny": [
        {
            "id": "nothing-on-system-3",
            "action": "*",
            "resource": "sys3:*",
            "description": "system 3 is being retired",
        }
    ],
}


def _charter(index: int) -> dict[str, object]:
    allow: list[dict[str, object]] = [
        {"action": action, "resource": f"sys{index % 7}:{action.split('.')[0]}/*"}
        for action in ACTIONS[: 3 + index % 3]
    ]
    if index % 10 == 0:
        allow[0]["schedule"] = {"days": ["mon", "tue", "wed", "thu", "fri"]}
    return {
        "name": f"agent-{index:04d}",
        "owner": "owner@acme.example",
        "purpose": "a generated agent for the what-if benchmark",
        "allow": allow,
        "deny": [{"action": "docs.write", "resource": "*/secret*"}],
    }


def build(home: Path, agents: int, rows: int, now: dt.datetime) -> Services:
    services = Services.from_settings(
        Settings(home=home, database_url=f"sqlite:///{home}/charter.db")
    )
    with services.db.read() as connection:
        have = connection.execute(sa.select(sa.func.count()).select_from(schema.activities))
        count = int(have.scalar() or 0)
    if count == rows:
        print(f"reusing {home}/charter.db ({rows:,} rows)")
        return services
    if count:
        raise SystemExit(f"{home} holds {count:,} rows, not {rows:,}: pick another --dir")
    charters = [_charter(i) for i in range(agents)]
    with services.db.write() as connection:
        connection.execute(
            sa.insert(schema.agents),
            [
                {
                    "name": c["name"],
                    "owner": c["owner"],
                    "state": "active",
                    "charter_version": 1,
                    "purpose": c["purpose"],
                    "environment": "production",
                    "labels": {},
                    "expires": None,
                    "origin": "registered",
                    "created_at": now,
                    "updated_at": now,
                }
                for c in charters
            ],
        )
        connection.execute(
            sa.insert(schema.charter_versions),
            [
                {
                    "agent": c["name"],
                    "version": 1,
                    "document": c,
                    "created_at": now,
                    "created_by": "bench",
                    "reason": "bench",
                }
                for c in charters
            ],
        )
        bump_version(connection, "charters")
    started = time.perf_counter()
    rng = random.Random(3)
    allowed = orjson.dumps([{"code": "allowed"}]).decode()
    first = now - dt.timedelta(days=30)
    span = int((now - first).total_seconds()) - 60
    raw = sqlite3.connect(f"{home}/charter.db")
    raw.execute("PRAGMA synchronous=OFF")
    batch = 200_000
    for start in range(0, rows, batch):
        chunk = []
        for _ in range(min(batch, rows - start)):
            index = rng.randrange(agents)
            action = ACTIONS[rng.randrange(len(ACTIONS))]
            system = index % 7 if rng.random() < 0.9 else (index + 1) % 7
            moment = first + dt.timedelta(seconds=rng.randrange(span))
            chunk.append(
                (
                    moment.strftime("%Y-%m-%d %H:%M:%S.000000"),
                    f"agent-{index:04d}",
                    action,
                    f"sys{system}:{action.split('.')[0]}/{rng.randrange(500)}",
                    True,
                    allowed,
                    "gateway",
                )
            )
        raw.executemany(
            "INSERT INTO activities (time, agent, action, resource, allowed, reasons, source) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            chunk,
        )
        raw.commit()
    raw.close()
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.0f} s (not measured)")
    return services


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--sample", type=int, default=200_000, help="rows for the naive peer")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/charter-bench-whatif"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    home = args.dir / f"{args.rows}"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    print(
        f"Charter what-if benchmark — {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f} at start, Python {sys.version.split()[0]}"
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    services = build(home, args.agents, args.rows, now)
    since, until = now - dt.timedelta(days=31), now + dt.timedelta(days=1)

    started, cpu = time.perf_counter(), time.process_time()
    read = sum(len(chunk) for chunk in activity_rows(services.db, ("time", "agent"), since, until))
    read_s, read_cpu = time.perf_counter() - started, time.process_time() - cpu

    print(f"  read only (peer floor)   {read_s:8.1f} s wall {read_cpu:8.1f} s CPU  ({read:,} rows)")
    for label, document in (("targeted", TARGETED), ("broad", BROAD)):
        policy = parse_org_policy(document)
        started, cpu = time.perf_counter(), time.process_time()
        report = services.whatif.org_policy(policy, days=31)
        whatif_s, whatif_cpu = time.perf_counter() - started, time.process_time() - cpu
        rate = report.rows_in_window / whatif_s
        print(
            f"  what-if, {label:<8} policy {whatif_s:7.1f} s wall {whatif_cpu:8.1f} s CPU  "
            f"({report.rows:,} of {report.rows_in_window:,} calls touched and decided; "
            f"{report.distinct_requests:,} distinct; {report.newly_denied:,} newly denied; "
            f"{rate:,.0f} rows/s)"
        )
        scale = 10_000_000 / report.rows_in_window
        print(
            f"    at this rate 10,000,000 rows: {whatif_s * scale:.1f} s wall, "
            f"{whatif_cpu * scale:.1f} s CPU (budget 60 s)"
        )
    current = SnapshotLoader(services.db).load(None)
    proposed = current.with_changes(org_policy=parse_org_policy(BROAD))
    sample: list[tuple[object, ...]] = []
    for chunk in activity_rows(
        services.db, ("time", "agent", "action", "resource"), since, until, chunk=args.sample
    ):
        sample = chunk
        break
    started, cpu = time.perf_counter(), time.process_time()
    changed = 0
    for moment, agent, action, resource in sample:
        now_us = epoch_micros(dt.datetime.fromisoformat(str(moment)).replace(tzinfo=dt.UTC))
        before = evaluate(current, str(agent), str(action), str(resource), {}, None, now_us)
        after = evaluate(proposed, str(agent), str(action), str(resource), {}, None, now_us)
        changed += before.allowed != after.allowed
    scale = read / max(1, len(sample))
    naive_s = (time.perf_counter() - started) * scale
    naive_cpu = (time.process_time() - cpu) * scale
    print(
        f"  naive evaluate x2 (peer) {naive_s:8.1f} s wall {naive_cpu:8.1f} s CPU  (broad policy, "
        f"extrapolated from {len(sample):,} rows, reading not included)"
    )
    services.close()


if __name__ == "__main__":
    main()
