"""Estate ingest and map queries at scale, beside a raw-insert peer in the same run.

    .venv/bin/python bench/estate.py [--identities 100000] [--credentials-per-identity 10]
                                     [--systems 50] [--databases sqlite[,postgres]]

Builds a synthetic estate of ``--systems`` systems (one batch each, source and
account like a real connector's), ``--identities`` identities with
``--credentials-per-identity`` credentials and two grants each, 1% of them
AI-related (they become shadow agents), and 50 registered agents whose charters
claim 20 identities each. Batches are generated lazily, so the generator holds
one chunk at a time, like a streamed export.

Measures: the first ingest through ``ReconcileService`` (upsert, attribution,
shadow agents, audit; one transaction per system); re-ingesting the same data
(must change nothing); blast-radius latency for registered and shadow agents
(p50/p95); peak memory (max RSS). Peer, same run, same rows: a bare
``executemany`` INSERT into empty tables with no comparison, attribution or
audit — the store's physical floor.

Targets: 1,000,000 credentials + 100,000 identities across 50 systems
ingested in under 2 minutes on SQLite; a blast-radius query under 100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from charter.config import Settings
from charter.domain.batch import Batch
from charter.domain.charter_parsing import parse_charter
from charter.domain.enums import CredentialKind, IdentityKind
from charter.domain.estate import Credential, Grant, Identity, System
from charter.services.context import Services
from charter.services.people import PersonRecord
from charter.store import schema

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SOURCES = ("aws", "gcp", "entra", "github", "okta")
T0 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def _services(kind: str, home: Path) -> tuple[Services, str | None]:
    if kind == "sqlite":
        url, schema_name = f"sqlite:///{home / 'bench.db'}", None
    else:
        schema_name = f"bench_{uuid.uuid4().hex[:8]}"
        engine = sa.create_engine(PG)
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema_name}"'))
        engine.dispose()
        url = f"{PG}?options=-csearch_path%3D{schema_name}"
    return Services.from_settings(Settings(home=home, database_url=url)), schema_name


def _drop(schema_name: str | None) -> None:
    if schema_name:
        engine = sa.create_engine(PG)
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        engine.dispose()


def _system(n: int) -> tuple[str, str]:
    return SOURCES[n % len(SOURCES)], f"acct{n:04d}"


def _identity_id(system: int, n: int) -> str:
    source, account = _system(system)
    return f"{source}:{account}:sa/workload-{n:07d}"


def batch(system: int, per_system: int, creds: int) -> Batch:
    source, account = _system(system)
    system_id = f"{source}:{account}"

    def identities() -> Iterator[Identity]:
        for n in range(per_system):
            ai = n % 100 == 7
            yield Identity(
                id=_identity_id(system, n),
                source=source,
                account=account,
                kind=IdentityKind.SERVICE_ACCOUNT,
                name=f"{'llm-' if ai else ''}workload-{system}-{n:07d}",
                system=system_id,
                native_id=f"{account}-{n}",
                owner=f"owner{n % 500}@bench.example",
                owner_confidence=0.8,
                ai_related=ai,
                created_at=T0,
                last_used_at=T0 + dt.timedelta(days=n % 300),
                evidence=("name mentions 'llm'",) if ai else (),
                properties={"team": f"t{n % 40}", "tags": {"env": "prod"}},
            )

    def credentials() -> Iterator[Credential]:
        for n in range(per_system):
            owner = _identity_id(system, n)
            for k in range(creds):
                secret = f"{system}:{n}:{k}"
                yield Credential(
                    id=f"{owner}#key{k}",
                    source=source,
                    account=account,
                    kind=CredentialKind.ACCESS_KEY,
                    provider=source,
                    fingerprint=hashlib.sha256(secret.encode()).hexdigest(),
                    preview=f"KEY…{n % 10000:04d}",
                    identity=owner,
                    created_at=T0,
                    last_used_at=T0 + dt.timedelta(days=k),
                    last_rotated_at=T0,
                    properties={"active": True, "slot": k},
                )

    def grants() -> Iterator[Grant]:
        for n in range(per_system):
            owner = _identity_id(system, n)
            for g, (resource_name, perms) in enumerate(
                (
                    (f"bucket/data-{n % 50}/*", ("s3:GetObject", "s3:PutObject")),
                    ("table/orders", ("dynamodb:Query",)),
                )
            ):
                yield Grant(
                    id=f"{owner}#grant{g}",
                    source=source,
                    account=account,
                    subject_type="identity",
                    subject=owner,
                    system=system_id,
                    resource=resource_name,
                    permissions=perms,
                    reason=f"workload-{n:07d} may {', '.join(perms)} on {resource_name} through "
                    f"policy p{n % 7}",
                )

    return Batch(
        source,
        account,
        systems=[System(system_id, source, f"{source} {account}")],
        identities=identities(),
        credentials=credentials(),
        grants=grants(),
        origin=("bench",),
    )


def register_agents(
    services: Services, systems: int, per_system: int, agents: int = 50
) -> list[str]:
    services.people.import_records(
        [PersonRecord(email="owner@bench.example", name="Bench Owner")], actor="bench"
    )
    names = []
    for a in range(agents):
        system = a % systems
        claimed = [_identity_id(system, (a * 20 + k) % per_system) for k in range(20)]
        spec = parse_charter(
            {
                "name": f"agent-{a:03d}",
                "owner": "owner@bench.example",
                "purpose": "A benchmark agent with twenty workload identities.",
                "identities": claimed,
            }
        )
        services.registry.register(spec, actor="bench")
        names.append(spec.name)
    return names


def raw_peer(kind: str, home: Path, systems: int, per_system: int, creds: int) -> float:
    """The same identity, credential and grant rows through a bare executemany (no logic at all)."""
    peer, schema_name = _services(kind, home / "peer")
    tables = (schema.identities, schema.credentials, schema.grants)
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    for system in range(systems):
        b = batch(system, per_system, creds)
        with peer.db.write() as connection:
            for table, records in zip(tables, (b.identities, b.credentials, b.grants), strict=True):
                rows: list[dict[str, object]] = []
                for record in records:
                    row = {
                        c.name: getattr(record, c.name, None)
                        for c in table.columns
                        if c.name not in ("first_seen", "last_seen", "gone_at")
                    }
                    row.update(
                        {
                            "kind": str(record.kind) if hasattr(record, "kind") else None,
                            "evidence": list(getattr(record, "evidence", ())),
                            "permissions": list(getattr(record, "permissions", ())),
                            "first_seen": now,
                            "last_seen": now,
                            "gone_at": None,
                        }
                    )
                    rows.append({k: v for k, v in row.items() if k in table.c})
                    if len(rows) == 5000:
                        connection.execute(sa.insert(table), rows)
                        rows = []
                if rows:
                    connection.execute(sa.insert(table), rows)
    elapsed = time.perf_counter() - started
    peer.close()
    _drop(schema_name)
    return elapsed


def run(kind: str, identities: int, creds: int, systems: int, peer: bool) -> None:
    per_system = identities // systems
    load = os.getloadavg()[0]
    print(
        f"\nmachine: {os.cpu_count()} CPUs, load average {load:.1f} (wall times stretch under "
        "load; CPU times do not)"
    )
    total_credentials = per_system * systems * creds
    print(
        f"\n== {kind}: {per_system * systems:,} identities, {total_credentials:,} credentials, "
        f"{per_system * systems * 2:,} grants across {systems} systems"
    )
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        services, schema_name = _services(kind, home)
        try:
            agents = register_agents(services, systems, per_system)
            started, cpu = time.perf_counter(), time.process_time()
            shadows = 0
            for system in range(systems):
                result = services.reconcile.apply(batch(system, per_system, creds), actor="bench")
                shadows += len(result.shadow_agents)
            first, first_cpu = time.perf_counter() - started, time.process_time() - cpu
            rate = (per_system * systems + total_credentials) / first
            print(
                f"first ingest     {first:8.1f} s   (CPU {first_cpu:.1f} s; {rate:,.0f} "
                "identities+credentials/s; "
                f"{shadows:,} shadow agents; target < 120 s: {'PASS' if first < 120 else 'FAIL'})"
            )
            events = services.audit.count()
            started, cpu = time.perf_counter(), time.process_time()
            changed = sum(
                services.reconcile.apply(batch(s, per_system, creds), actor="bench").changed
                for s in range(systems)
            )
            again, again_cpu = time.perf_counter() - started, time.process_time() - cpu
            print(
                f"re-ingest        {again:8.1f} s   (CPU {again_cpu:.1f} s; batches changed: "
                f"{changed}; new audit events: "
                f"{services.audit.count() - events})"
            )
            estate = services.estate.map
            timings: dict[str, list[float]] = {"registered agent": [], "shadow agent": []}
            shadow_names = [
                a.name
                for a in services.registry.list(limit=1000).items
                if a.name.startswith("llm-")
            ][:50]
            for label, names in (("registered agent", agents), ("shadow agent", shadow_names)):
                for name in names:
                    started = time.perf_counter()
                    reach = estate.blast_radius(agent=name)
                    timings[label].append((time.perf_counter() - started) * 1000)
                    assert reach.paths
            for label, values in timings.items():
                values.sort()
                p95 = values[int(len(values) * 0.95) - 1]
                print(
                    f"blast radius     p50 {statistics.median(values):6.1f} ms  p95 {p95:6.1f} ms  "
                    f"({label}, "
                    f"{len(values)} queries; target < 100 ms: {'PASS' if p95 < 100 else 'FAIL'})"
                )
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"peak memory      {rss:8.0f} MB  (max RSS of this process)")
        finally:
            services.close()
            _drop(schema_name)
        if peer:
            elapsed = raw_peer(kind, home, systems, per_system, creds)
            print(
                f"peer: raw executemany of the same rows {elapsed:6.1f} s  "
                f"(Charter's ingest is {first / elapsed:.1f}× the bare insert)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--identities", type=int, default=100_000)
    parser.add_argument("--credentials-per-identity", type=int, default=10)
    parser.add_argument("--systems", type=int, default=50)
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--no-peer", action="store_true", help="skip the raw-insert peer")
    args = parser.parse_args()
    for kind in args.databases.split(","):
        run(
            kind.strip(),
            args.identities,
            args.credentials_per_identity,
            args.systems,
            not args.no_peer,
        )


if __name__ == "__main__":
    main()
