"""The credential prefilter reads a superset of what the credential rules hit (SQLite and
PostgreSQL): evaluating only its candidates gives exactly the findings evaluating every
credential gives, over credentials placed on and around every threshold."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
import sqlalchemy as sa

from charter.domain.enums import FindingStatus
from charter.domain.governance.engine import Evaluator
from charter.domain.governance.facts import RuleContext
from charter.domain.governance.prefilter import credential_prefilter
from charter.domain.governance.rule_registry import EntityType, all_rules
from charter.domain.governance.rules.secrets import SECRET_KINDS
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.governance.activity_facts import ActivityIndex
from charter.services.governance.loader import EstateReader
from charter.store import schema

DAY = 86400
KINDS = [*sorted(SECRET_KINDS), "certificate", "public_key"]
PROVIDERS = ["aws", "gcp", "entra", "AWS", "github", "openai", "azure", "Google"]
PROPERTIES = [
    {},
    {},
    {},
    {"active": False},
    {"disabled": True},
    {"usage_tracked": False},
    {"last_used_derived": False},
    {"key_type": "SYSTEM_MANAGED"},
    {"locations": ["a.env:1", "b.env:2"], "in_history_only": True},
]


def _around(rng: random.Random, now: dt.datetime, days: int) -> dt.datetime:
    """A moment close to ``days`` ago (within a few hours either side), or anywhere."""
    if rng.random() < 0.6:
        return now - dt.timedelta(days=days, seconds=rng.uniform(-3 * DAY, 3 * DAY))
    return now - dt.timedelta(days=rng.uniform(0, 800))


def _rows(now: dt.datetime, n: int = 1500) -> list[dict[str, Any]]:
    rng = random.Random(1234)
    rows = []
    for c in range(n):
        source = rng.choice(["aws", "gcp", "entra", "github", "fs"])
        kind = rng.choice(KINDS)
        created = _around(rng, now, rng.choice([30, 90, 365])) if rng.random() < 0.9 else None
        rotated = _around(rng, now, 90) if rng.random() < 0.2 else None
        used = _around(rng, now, 90) if rng.random() < 0.8 else None
        expires = now + dt.timedelta(days=rng.uniform(-30, 300)) if rng.random() < 0.6 else None
        fingerprint = f"fp-{c // 3 if rng.random() < 0.2 else c + 100000}"
        rows.append(
            {
                "id": f"{source}:acct{c % 4}:cred/{c}",
                "source": source,
                "account": f"acct{c % 4}",
                "kind": kind,
                "provider": rng.choice(PROVIDERS),
                "fingerprint": fingerprint,
                "preview": f"…{c:04d}",
                "identity": None,
                "agent": rng.choice([None, None, "fast-rotator", "plain"]),
                "created_at": created,
                "expires_at": expires,
                "last_used_at": used,
                "last_rotated_at": rotated,
                "location": f"repo/f{c}.env:1" if source == "fs" else None,
                "properties": rng.choice(PROPERTIES),
                "first_seen": now - dt.timedelta(days=30),
                "last_seen": now,
                "gone_at": None if rng.random() < 0.95 else now,
            }
        )
    return rows


def _seed(services: Services, now: dt.datetime) -> None:
    with services.db.write() as connection:
        for name, rotate in (("fast-rotator", 20), ("plain", None)):
            document = {
                "name": name,
                "owner": "ada@acme.example",
                "purpose": "a test agent",
                "allow": [{"action": "svc.read", "resource": "svc:*"}],
            }
            if rotate:
                document["credentials"] = {"rotate_every": f"{rotate}d"}
            connection.execute(
                sa.insert(schema.agents).values(
                    name=name,
                    owner="ada@acme.example",
                    state="active",
                    charter_version=1,
                    purpose="a test agent",
                    environment="production",
                    labels={},
                    origin="registered",
                    created_at=now,
                    updated_at=now,
                )
            )
            connection.execute(
                sa.insert(schema.charter_versions).values(
                    agent=name,
                    version=1,
                    document=document,
                    created_at=now,
                    created_by="test",
                    reason="test",
                )
            )
        connection.execute(sa.insert(schema.credentials), _rows(now))


def _hits(services: Services, now: dt.datetime, *, filtered: bool) -> set[tuple[str, str, str]]:
    policy = services.governance.policy()
    evaluator = Evaluator(policy)
    with services.db.read() as connection:
        reader = EstateReader(connection, now=now, policy=policy, activity=ActivityIndex())
        people = reader.people()
        reader.load_agents()
        reader.load_identities()
        ctx = RuleContext(now, policy.thresholds, people, reader.agent_briefs)
        candidates = None
        if filtered:
            candidates = credential_prefilter(
                evaluator.rule_ids_for(EntityType.CREDENTIAL),
                now=now,
                thresholds=policy.thresholds,
                agents=reader.agent_briefs,
                postgres=services.db.is_postgres,
            )
            assert candidates is not None
        return {
            (d.rule, d.id, d.digest)
            for chunk in reader.credentials(candidates)
            for d in evaluator.credentials(chunk, ctx)
        }


def test_prefilter_gives_the_same_credential_findings(
    services: Services, clock: FixedClock
) -> None:
    now = clock.now()
    _seed(services, now)
    everything = _hits(services, now, filtered=False)
    assert len(everything) > 300  # every credential rule hits something here
    assert {rule for rule, _, _ in everything} == {
        "long-lived-secret",
        "secret-leaked",
        "credential-reuse",
        "static-cloud-key",
        "stale-credential",
    }
    assert _hits(services, now, filtered=True) == everything
    # and the evaluation writes exactly those, and reads fewer credentials than it counts
    result = services.governance.evaluation.evaluate(actor="test")
    assert 0 < result.counts["candidate_credentials"] < result.counts["credentials"]
    with services.db.read() as connection:
        stored = set(
            connection.execute(
                sa.text(
                    "SELECT rule, id, digest FROM findings "
                    "WHERE entity_type = 'credential' AND status = 'open'"
                )
            ).all()
        )
    assert stored == everything
    # later, some credentials rotated, used or gone: what no longer holds resolves (lifecycle)
    clock.advance(days=40)
    fresh = clock.now()
    with services.db.write() as connection:
        first = sa.select(schema.credentials.c.id).order_by(schema.credentials.c.id)
        connection.execute(
            sa.update(schema.credentials)
            .where(schema.credentials.c.id.in_(first.limit(300).scalar_subquery()))
            .values(
                last_used_at=fresh, last_rotated_at=fresh, expires_at=fresh + dt.timedelta(days=30)
            )
        )
        connection.execute(
            sa.update(schema.credentials)
            .where(schema.credentials.c.id.in_(first.offset(300).limit(100).scalar_subquery()))
            .values(gone_at=fresh)
        )
    later = _hits(services, clock.now(), filtered=False)
    result = services.governance.evaluation.evaluate(actor="test")
    with services.db.read() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT rule, id, digest, status FROM findings WHERE entity_type = 'credential'"
            )
        ).all()
    assert {(r, i, d) for r, i, d, s in rows if s == FindingStatus.OPEN.value} == later
    resolved = {i for _, i, _, s in rows if s == FindingStatus.RESOLVED.value}
    assert resolved == {i for _, i, _ in everything} - {i for _, i, _ in later}
    assert resolved and result.counts["resolved"] >= len(resolved)


def test_sqlite_times_in_another_text_form_are_still_candidates(
    sqlite_services: Services, clock: FixedClock
) -> None:
    """A time written as ISO text with a ``T`` or an offset sorts differently from the stored
    form: the bound's slack still reads it (SQLite compares the text)."""
    now = clock.now()
    _seed(sqlite_services, now)
    old = now - dt.timedelta(days=91)
    with sqlite_services.db.write() as connection:
        connection.exec_driver_sql(
            "UPDATE credentials SET last_used_at = ?, created_at = ?, expires_at = ?, "
            "source = 'aws', kind = 'token', properties = '{}', gone_at = NULL "
            "WHERE id IN (SELECT id FROM credentials ORDER BY id LIMIT 20)",
            (
                old.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                old.isoformat(),
                (now + dt.timedelta(days=30)).isoformat(),
            ),
        )
    everything = _hits(sqlite_services, now, filtered=True)
    assert everything == _hits(sqlite_services, now, filtered=False)


def test_every_credential_rule_has_a_condition() -> None:
    """A new credential rule needs a condition in charter.domain.governance.prefilter (without one
    the filter is off, so nothing is missed, but nothing is saved either)."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    from charter.domain.governance.policy import GovernancePolicy

    thresholds = GovernancePolicy().thresholds
    ids = [r.id for r in all_rules() if r.meta.entity == EntityType.CREDENTIAL]
    assert (
        credential_prefilter(ids, now=now, thresholds=thresholds, agents={}, postgres=False)
        is not None
    )
    assert (
        credential_prefilter(
            [*ids, "some-new-rule"], now=now, thresholds=thresholds, agents={}, postgres=False
        )
        is None
    )
    none = credential_prefilter([], now=now, thresholds=thresholds, agents={}, postgres=False)
    assert none is not None and none.sql == "1 = 0"


@pytest.mark.parametrize("rule", ["stale-credential", "long-lived-secret"])
def test_one_rule_alone_is_its_own_condition(rule: str) -> None:
    from charter.domain.governance.policy import GovernancePolicy

    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    chosen = credential_prefilter(
        [rule], now=now, thresholds=GovernancePolicy().thresholds, agents={}, postgres=True
    )
    assert chosen is not None and len(chosen.params) == 1
