"""Governance at scale: every finding rule over a large estate, on SQLite and PostgreSQL.

    .venv/bin/python bench/posture.py [--scale 1.0] [--databases sqlite,postgres] [--keep DIR]

At ``--scale 1`` the generated estate holds 100,000 identities, 1,000,000
credentials, 10,000,000 activity rows, 200,000 grants, 10,000 agents and 2,000
people (``--scale 0.1`` for a quick run). Loading uses bulk inserts (SQLite
``executemany`` in one transaction, PostgreSQL ``COPY``) with the activity
indexes built after the load, and is reported separately from evaluation.

Measured, on the same store:

* **cold evaluation**: every rule, from an empty activity rollup (aggregates all
  activity rows), writing every finding — the figure the target is about;
* **warm evaluation**: again five minutes later with nothing changed (reads the
  rollup, compares, writes nothing); on PostgreSQL after one *settling* run, which
  moves the activity into the rollup (see ``charter.services.governance.rollup``);
* **currency check**: what ``charter findings`` pays when the store has not changed;
* **peer** in the same run: one bare ``GROUP BY agent, action, resource`` over the
  activity table (the database's own floor for reading every activity row once).

Targets at ``--scale 1``: cold evaluation within 60 s and warm within 20 s, on both stores."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from charter.config import Settings
from charter.services.clock import FixedClock
from charter.services.context import Services
from posture_estate import NOW, Estate, build

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COLD_TARGET_S, WARM_TARGET_S = 60.0, 20.0


def _services(kind: str, home: Path, schema: str | None = None) -> tuple[Services, str | None]:
    clock = FixedClock(NOW)
    if kind == "sqlite":
        url = f"sqlite:///{home / 'bench.db'}"
    else:
        engine = sa.create_engine(PG)
        if schema is None:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            with engine.begin() as connection:
                connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        url = f"{PG}?options=-csearch_path%3D{schema}"
    return Services.from_settings(Settings(home=home, database_url=url), clock=clock), schema


def _drop(schema: str | None) -> None:
    if schema:
        engine = sa.create_engine(PG)
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def _reset(services: Services) -> None:
    """Forget every evaluation (findings, runs, the rollup): the next one is cold again."""
    with services.db.write() as connection:
        for table in ("findings", "finding_runs", "activity_rollup", "worker_leases"):
            connection.execute(sa.text(f"DELETE FROM {table}"))
        connection.execute(sa.text("DELETE FROM meta WHERE key = 'gov_rollup_settled'"))


def bench(kind: str, scale: float, keep: Path | None = None) -> dict[str, Any]:
    """One database: build the estate (or reuse the one kept in ``keep``), then measure."""
    reuse = keep is not None and (keep / f"{kind}.json").exists()
    home = keep or Path(tempfile.mkdtemp(prefix=f"charter-posture-{kind}-"))
    saved = json.loads((home / f"{kind}.json").read_text()) if reuse else {}
    if kind == "sqlite" and not reuse:  # an interrupted build leaves a half-filled store
        for leftover in home.glob("bench.db*"):
            leftover.unlink()
    services, schema = _services(kind, home, saved.get("schema"))
    out: dict[str, Any] = {}
    try:
        estate = Estate(scale)
        if reuse and saved.get("scale") == scale:
            _reset(services)
            out["reused estate from"] = str(home)
        else:
            out.update(build(services, estate))
            if keep is not None:
                (home / f"{kind}.json").write_text(json.dumps({"scale": scale, "schema": schema}))
        evaluation = services.governance.evaluation

        out["load average (1 min) before"] = os.getloadavg()[0]
        start = time.perf_counter()
        with services.db.read() as connection:
            connection.execute(
                sa.text(
                    "SELECT agent, action, resource, count(*) FROM activities "
                    "GROUP BY agent, action, resource"
                )
            ).fetchall()
        out["peer: bare GROUP BY over activities s"] = time.perf_counter() - start

        start, cpu = time.perf_counter(), time.process_time()
        cold = evaluation.evaluate(actor="bench")
        out["cold evaluation s"] = time.perf_counter() - start
        out["cold evaluation CPU s (this process)"] = time.process_time() - cpu
        out["load average (1 min) after cold"] = os.getloadavg()[0]
        out["cold breakdown"] = cold.timings
        out["counts"] = cold.counts
        clock = services.clock
        assert isinstance(clock, FixedClock)
        if services.db.is_postgres:
            # PostgreSQL rolls activity up once an evaluation saw it two minutes earlier
            # (sequence ids may commit out of order): the run after the cold one settles it.
            clock.advance(minutes=5)
            start = time.perf_counter()
            evaluation.evaluate(actor="bench")
            out["settling evaluation (PostgreSQL) s"] = time.perf_counter() - start
        clock.advance(minutes=5)
        start, cpu = time.perf_counter(), time.process_time()
        warm = evaluation.evaluate(actor="bench")
        out["warm evaluation s"] = time.perf_counter() - start
        out["warm evaluation CPU s (this process)"] = time.process_time() - cpu
        out["warm breakdown"] = warm.timings
        start = time.perf_counter()
        assert evaluation.ensure_current(actor="bench") is None
        out["currency check (nothing changed) s"] = time.perf_counter() - start
        start = time.perf_counter()
        entries = services.governance.posture.summary(limit=10)
        out["posture by agent (top 10) s"] = time.perf_counter() - start
        out["top agent score"] = entries[0].score if entries else 0
    finally:
        services.close()
        if keep is None:
            _drop(schema)
            shutil.rmtree(home, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 100k/1M/10M")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="keep the generated estate in DIR and reuse it next time "
        "(evaluations start cold again)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    estate = Estate(args.scale)
    print(
        f"estate: {estate.identities:,} identities, {estate.credentials:,} credentials, "
        f"{estate.activities:,} activity rows, {estate.agents:,} agents, "
        f"{estate.people:,} people"
    )
    figures: dict[str, dict[str, Any]] = {}
    for kind in args.databases.split(","):
        print(f"\n== {kind}")
        results = bench(kind, args.scale, args.keep)
        figures[kind] = results
        for key, value in results.items():
            if isinstance(value, float):
                print(f"  {key:44s} {value:>10.2f}")
            else:
                print(f"  {key:44s} {json.dumps(value)}")
        cold = results["cold evaluation s"]
        peer = results["peer: bare GROUP BY over activities s"]
        print(f"  {'cold evaluation / bare GROUP BY (ratio)':44s} {cold / peer:>10.2f}")
        if args.scale >= 1.0:
            for name, target in (("cold", COLD_TARGET_S), ("warm", WARM_TARGET_S)):
                took = results[f"{name} evaluation s"]
                verdict = "PASS" if took <= target else "MISS"
                print(f"  target {name} evaluation <= {target:.0f} s: {verdict}")
    if args.markdown:
        _markdown(figures)


#: (row label, key in a database's figures)
MARKDOWN_ROWS = (
    ("cold evaluation (empty rollup, every finding new)", "cold evaluation s"),
    ("— its CPU in the evaluating process", "cold evaluation CPU s (this process)"),
    ("warm evaluation (five minutes later, nothing changed)", "warm evaluation s"),
    ("— its CPU in the evaluating process", "warm evaluation CPU s (this process)"),
    ("`charter findings` when the store has not changed", "currency check (nothing changed) s"),
    ("peer: one bare `GROUP BY` over the activity table", "peer: bare GROUP BY over activities s"),
    ("load average (1 min) before / after cold", ""),
)


def _markdown(figures: dict[str, dict[str, Any]]) -> None:
    kinds = list(figures)
    print("\n| | " + " | ".join({"sqlite": "SQLite"}.get(k, "PostgreSQL") for k in kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for label, key in MARKDOWN_ROWS:
        if key:
            cells = [f"{figures[k][key]:.2f} s" for k in kinds]
        else:
            cells = [
                f"{figures[k]['load average (1 min) before']:.1f} / "
                f"{figures[k]['load average (1 min) after cold']:.1f}"
                for k in kinds
            ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    ratios = [
        figures[k]["cold evaluation s"] / figures[k]["peer: bare GROUP BY over activities s"]
        for k in kinds
    ]
    print("| cold / bare `GROUP BY` | " + " | ".join(f"{r:.2f}×" for r in ratios) + " |")


if __name__ == "__main__":
    main()
