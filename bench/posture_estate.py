"""The governance benchmark's estate: people, agents, identities, grants, credentials and
activity, generated deterministically for a scale, and bulk-loaded into a store.

At ``scale 1``: 100,000 identities, 1,000,000 credentials, 10,000,000 activity rows,
200,000 grants, 10,000 agents and 2,000 people. Loading uses bulk inserts (SQLite
``executemany`` in one transaction, PostgreSQL ``COPY``) with the big tables' secondary
indexes dropped and rebuilt after. Used by ``bench/posture.py`` and by the test that
compares the fast evaluation with a straightforward one on a small estate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import time
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from charter.services.context import Services
from charter.store import schema as tables

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
SOURCES = [  # (source, identity kind, credential kind, provider, share)
    ("aws", "cloud_role", "access_key", "aws", 0.4),
    ("gcp", "service_account", "private_key", "gcp", 0.2),
    ("entra", "oauth_app", "client_secret", "entra", 0.1),
    ("github", "api_key_holder", "token", "github", 0.1),
    ("k8s", "service_account", "token", "k8s", 0.1),
    ("slack", "bot_user", "token", "slack", 0.1),
]
ACTIVITY_COLUMNS = (
    "time",
    "agent",
    "identity",
    "on_behalf_of",
    "action",
    "resource",
    "allowed",
    "reasons",
    "source",
    "latency_us",
    "context",
)


# -- the generated estate --------------------------------------------------------------------------
class Estate:
    def __init__(self, scale: float, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.people = max(50, int(2000 * min(scale * 10, 1)))
        self.agents = max(20, int(10_000 * scale))
        self.identities = int(100_000 * scale)
        self.credentials = int(1_000_000 * scale)
        self.activities = int(10_000_000 * scale)
        self.systems = 50

    def ago(self, days: float) -> dt.datetime:
        return NOW - dt.timedelta(days=days)

    def person(self, i: int) -> str:
        return f"p{i:05d}@acme.example"

    def people_rows(self) -> Iterator[tuple[Any, ...]]:
        for i in range(self.people):
            status = "departed" if i % 33 == 5 else "active"
            manager = self.person(i // 10) if i else None
            yield (self.person(i), f"Person {i}", status, manager, "[]", NOW)

    def agent_name(self, i: int) -> str:
        return f"agent-{i:05d}"

    def charter(self, i: int) -> dict[str, Any]:
        return {
            "name": self.agent_name(i),
            "owner": self.person(i % self.people),
            "purpose": f"benchmark agent number {i} reading items",
            "allow": [
                {
                    "action": f"svc{(i + j) % 20}.items.read",
                    "resource": f"svc{(i + j) % 20}:items/*",
                }
                for j in range(5)
            ]
            + [{"action": f"svc{i % 20}.items.*", "resource": f"svc{i % 20}:archive/*"}],
            "deny": [{"action": "*.delete", "resource": "*"}],
            **({"expires": "2026-10-01"} if i % 50 == 7 else {}),
        }

    def agent_rows(self) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
        for i in range(self.agents):
            doc = self.charter(i)
            shadow = i % 40 == 3
            state = "discovered" if shadow else ("suspended" if i % 25 == 4 else "active")
            created = self.ago(10 + (i * 37) % 400)
            yield (
                (
                    doc["name"],
                    doc["owner"],
                    state,
                    1,
                    doc["purpose"],
                    "production",
                    "{}",
                    doc.get("expires"),
                    None,
                    None,
                    "discovered" if shadow else "registered",
                    created,
                    created,
                ),
                (doc["name"], 1, json.dumps(doc), created, "bench", "generated"),
            )

    def source_of(self, i: int) -> tuple[str, str, str, str]:
        slot = (i * 7919) % 100
        edge = 0
        for source, ikind, ckind, provider, share in SOURCES:
            edge += int(share * 100)
            if slot < edge:
                return source, ikind, ckind, provider
        return SOURCES[-1][:4]

    def identity_id(self, i: int) -> str:
        source = self.source_of(i)[0]
        return f"{source}:acct{i % self.systems}:id/{i}"

    def identity_rows(self) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        for i in range(self.identities):
            source, kind, _, _ = self.source_of(i)
            owner = self.person(i % self.people) if i % 10 < 7 else None
            agent = self.agent_name(i % self.agents) if i % 5 == 0 else None
            used = None if i % 10 == 9 else self.ago(rng.random() * 300)
            props = {"admin": True} if i % 97 == 0 else {}
            yield (
                self.identity_id(i),
                source,
                f"acct{i % self.systems}",
                kind,
                f"ident-{i}",
                f"{source}:acct{i % self.systems}",
                f"native-{i}",
                owner,
                0.8,
                agent,
                i % 10 == 1,
                self.ago(30 + (i * 13) % 700),
                used,
                "[]",
                json.dumps(props),
                self.ago(30),
                NOW,
                None,
            )

    def grant_rows(self) -> Iterator[tuple[Any, ...]]:
        for i in range(self.identities):
            source = self.source_of(i)[0]
            for g in range(2):
                perms = ["*"] if (i + g) % 53 == 0 else [f"{source}:Get{g}", f"{source}:Put{g}"]
                yield (
                    f"{self.identity_id(i)}#g{g}",
                    source,
                    f"acct{i % self.systems}",
                    "identity",
                    self.identity_id(i),
                    f"{source}:acct{i % self.systems}",
                    f"res/{g}",
                    json.dumps(perms),
                    f"ident-{i} may use res/{g}",
                    "{}",
                    self.ago(30),
                    NOW,
                    None,
                )

    #: credential mix by c % 50: (kind, provider, lifetime days or None for never expires)
    MIX = (
        [("access_key", "aws", None)] * 3
        + [("private_key", "gcp", None)]
        + [("client_secret", "entra", 365)]
        + [("token", "github", 60)] * 20
        + [("api_key", "openai", 365)] * 25
    )

    def credential_rows(self) -> Iterator[tuple[Any, ...]]:
        """Realistic hygiene: most secrets are young and used this month; a fifth are old."""
        rng = self.rng
        for c in range(self.credentials):
            i = c % self.identities
            source = self.source_of(i)[0]
            kind, provider, lifetime = self.MIX[c % len(self.MIX)]
            leaked = c % 100 == 42
            fp_seed = c - 1 if c % 200 == 1 else c  # every 200th pair shares a secret
            fingerprint = hashlib.sha256(f"secret-{fp_seed}".encode()).hexdigest()
            age = rng.random() * 80 if rng.random() < 0.8 else 90 + rng.random() * 700
            created = self.ago(age)
            expires = created + dt.timedelta(days=lifetime) if lifetime else None
            used = min(age, rng.random() * 30 if rng.random() < 0.85 else rng.random() * 300)
            yield (
                f"{'fs' if leaked else source}:acct{i % self.systems}:cred/{c}",
                "fs" if leaked else source,
                f"acct{i % self.systems}",
                kind,
                provider,
                fingerprint,
                f"…{c % 10000:04d}",
                None if leaked else self.identity_id(i),
                None,
                None if leaked else created,
                None if leaked else expires,
                None if leaked else self.ago(used),
                None,
                f"repo/app{c}.env:3" if leaked else None,
                "{}",
                self.ago(30),
                NOW,
                None,
            )

    def activity_rows(self) -> Iterator[tuple[Any, ...]]:
        """Time-ordered; each agent mostly uses three of its six capabilities."""
        rng = self.rng
        active = [i for i in range(self.agents) if i % 40 != 3 and i % 25 != 4]
        span = 90 * 86400.0
        start = NOW - dt.timedelta(seconds=span)
        step = span / max(self.activities, 1)
        for n in range(self.activities):
            moment = start + dt.timedelta(seconds=n * step)
            a = active[rng.randrange(len(active))]
            j = rng.randrange(3)
            svc = (a + j) % 20
            denied = rng.random() < 0.02
            action = f"svc{svc}.items.delete" if denied else f"svc{svc}.items.read"
            identity = self.identity_id(a * 5 % self.identities) if n % 10 == 0 else None
            yield (
                moment,
                self.agent_name(a),
                identity,
                None,
                action,
                f"svc{svc}:items/{rng.randrange(8)}",
                not denied,
                '[{"code": "allowed"}]',
                "sdk",
                12.0,
                None,
            )
        for b in range(20):  # a few runaway agents in the last hour
            a = active[b * 7 % len(active)]
            for k in range(600):
                yield (
                    NOW - dt.timedelta(seconds=3600 - k * 5),
                    self.agent_name(a),
                    None,
                    None,
                    f"svc{a % 20}.items.read",
                    f"svc{a % 20}:items/0",
                    True,
                    '[{"code": "allowed"}]',
                    "sdk",
                    12.0,
                    None,
                )


# -- loading ---------------------------------------------------------------------------------------
TABLES = {
    "people": ("email", "name", "status", "manager", "groups", "updated_at"),
    "agents": (
        "name",
        "owner",
        "state",
        "charter_version",
        "purpose",
        "environment",
        "labels",
        "expires",
        "pending_owner",
        "pending_owner_since",
        "origin",
        "created_at",
        "updated_at",
    ),
    "charter_versions": ("agent", "version", "document", "created_at", "created_by", "reason"),
    "identities": (
        "id",
        "source",
        "account",
        "kind",
        "name",
        "system",
        "native_id",
        "owner",
        "owner_confidence",
        "agent",
        "ai_related",
        "created_at",
        "last_used_at",
        "evidence",
        "properties",
        "first_seen",
        "last_seen",
        "gone_at",
    ),
    "grants": (
        "id",
        "source",
        "account",
        "subject_type",
        "subject",
        "system",
        "resource",
        "permissions",
        "reason",
        "properties",
        "first_seen",
        "last_seen",
        "gone_at",
    ),
    "credentials": (
        "id",
        "source",
        "account",
        "kind",
        "provider",
        "fingerprint",
        "preview",
        "identity",
        "agent",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_rotated_at",
        "location",
        "properties",
        "first_seen",
        "last_seen",
        "gone_at",
    ),
    "activities": ACTIVITY_COLUMNS,
}


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _pg_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)


def load(services: Services, table: str, rows: Iterable[tuple[Any, ...]]) -> int:
    columns = TABLES[table]
    count = 0
    raw = services.db.write_engine.raw_connection()
    try:
        cursor = raw.cursor()
        if services.db.is_postgres:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row([_pg_text(v) for v in row])
                    count += 1
        else:
            cursor.execute("BEGIN")
            marks = ", ".join("?" for _ in columns)
            statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            batch: list[tuple[Any, ...]] = []
            for row in rows:
                batch.append(tuple(_sqlite_value(v) for v in row))
                if len(batch) >= 50_000:
                    cursor.executemany(statement, batch)
                    count += len(batch)
                    batch = []
            if batch:
                cursor.executemany(statement, batch)
                count += len(batch)
            cursor.execute("COMMIT")
        raw.commit()
    finally:
        raw.close()
    return count


BULK_TABLES = (tables.identities, tables.credentials, tables.grants, tables.activities)


def build(services: Services, estate: Estate) -> dict[str, float]:
    """Load the estate with the big tables' secondary indexes dropped, then rebuild them
    (what any bulk load does; a store filled by ingests keeps them all along)."""
    timings: dict[str, float] = {}
    indexes = [index for table in BULK_TABLES for index in table.indexes]
    with services.db.write() as connection:
        for index in indexes:
            index.drop(connection, checkfirst=True)
    agents = list(estate.agent_rows())
    for table, rows in (
        ("people", estate.people_rows()),
        ("agents", (a for a, _ in agents)),
        ("charter_versions", (v for _, v in agents)),
        ("identities", estate.identity_rows()),
        ("grants", estate.grant_rows()),
        ("credentials", estate.credential_rows()),
        ("activities", estate.activity_rows()),
    ):
        start = time.perf_counter()
        n = load(services, table, rows)
        timings[f"load {table} ({n:,} rows) s"] = time.perf_counter() - start
    start = time.perf_counter()
    with services.db.write() as connection:
        for index in indexes:
            index.create(connection)
        connection.execute(sa.text("ANALYZE"))
    timings["index + analyze s"] = time.perf_counter() - start
    return timings
