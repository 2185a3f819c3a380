"""The fast evaluation writes exactly the findings a straightforward one computes (SQLite and
PostgreSQL), on a small copy of the estate ``bench/posture.py`` measures.

The fast path is everything the evaluation does for speed: the credential prefilter
in SQL, activity aggregated in the database and rolled up, credentials evaluated while
activity is still being aggregated, driver-level reads, bulk and COPY writes. The
reference below does none of it: it reads every activity row through SQLAlchemy and
groups them in Python, builds every fact with the loader's plain entry points, and runs
every rule on every entity. A finding the fast path drops, adds or words differently
fails the comparison; so does one a warm evaluation (five minutes later) gets wrong.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from charter.config import Settings
from charter.domain.governance.engine import Evaluator
from charter.domain.governance.facts import RuleContext
from charter.domain.moments import utc
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.governance.activity_facts import ActivityIndex
from charter.services.governance.discovery_runs import source_facts
from charter.services.governance.loader import EstateReader
from charter.services.governance.rollup import Group, Key
from charter.store import schema

BENCH = Path(__file__).resolve().parents[2] / "bench"
Finding = tuple[str, str, str]  # rule, id, digest


def _bench_estate() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        import posture_estate
    finally:
        sys.path.remove(str(BENCH))
    return posture_estate


def _groups(connection: sa.Connection) -> dict[Key, Group]:
    """Every activity row, grouped in Python: no rollup, no SQL aggregation."""
    a = schema.activities
    groups: dict[Key, Group] = {}
    rows = connection.execute(
        sa.select(
            a.c.agent, a.c.identity, a.c.action, a.c.resource, a.c.allowed, a.c.source, a.c.time
        )
    )
    for agent, identity, action, resource, allowed, source, time in rows:
        flag = -1 if allowed is None else int(bool(allowed))
        key = (agent, identity or "", action, resource, flag, source)
        moment = utc(time)
        group = groups.get(key)
        if group is None:
            groups[key] = Group(1, moment, moment)
        else:
            group.count += 1
            group.first = min(group.first, moment)
            group.last = max(group.last, moment)
    return groups


def reference(services: Services, now: dt.datetime) -> set[Finding]:
    policy = services.governance.policy()
    evaluator = Evaluator(policy)
    window = now - dt.timedelta(seconds=policy.thresholds.activity_window)
    with services.db.read() as connection:
        activity = ActivityIndex.build(_groups(connection), window)
        reader = EstateReader(connection, now=now, policy=policy, activity=activity)
        people = reader.people()
        agents = reader.agents()
        identities = reader.identities()
        ctx = RuleContext(now, policy.thresholds, people, reader.agent_briefs)
        drafts = [*evaluator.agents(agents, ctx), *evaluator.identities(identities, ctx)]
        for chunk in reader.credentials(None):  # every credential, no prefilter
            drafts.extend(evaluator.credentials(chunk, ctx))
        drafts.extend(evaluator.sources(source_facts(connection, policy.discovery), ctx))
    assert not evaluator.errors
    return {(d.rule, d.id, d.digest) for d in drafts}


def _stored(services: Services) -> set[Finding]:
    with services.db.read() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT rule, id, digest FROM findings "
                "WHERE status IN ('open', 'acknowledged', 'suppressed')"
            )
        ).all()
    return {(rule, fid, digest) for rule, fid, digest in rows}


def test_fast_evaluation_matches_the_reference(database_url: str, tmp_path: Path) -> None:
    estate_module = _bench_estate()
    clock = FixedClock(estate_module.NOW)
    services = Services.from_settings(
        Settings(home=tmp_path, database_url=database_url), clock=clock
    )
    try:
        estate_module.build(services, estate_module.Estate(0.003))
        expected = reference(services, clock.now())
        rules = Counter(rule for rule, _, _ in expected)
        assert len(expected) > 500 and len(rules) >= 8, rules  # most rules hit something

        cold = services.governance.evaluation.evaluate(actor="test")
        assert cold.counts["new"] == len(expected)
        assert cold.counts["candidate_credentials"] < cold.counts["credentials"]
        assert _stored(services) == expected

        for _ in range(2):  # PostgreSQL: the second run settles the activity into the rollup
            clock.advance(minutes=5)
            warm = services.governance.evaluation.evaluate(actor="test")
            assert _stored(services) == reference(services, clock.now())
        assert warm.counts["new"] == warm.counts["resolved"] == 0
    finally:
        services.close()
