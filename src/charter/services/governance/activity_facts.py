"""Activity as facts for the rules: usage from the rollup, and request rates.

Usage comes pre-aggregated (:mod:`.rollup`), indexed per agent and per identity
within the activity window; rates for runaway detection come from two
time-bounded scans of ``activities`` (the recent window and the baseline before it).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.governance.facts import RateWindow, Usage
from charter.domain.governance.policy import GovernancePolicy
from charter.services.governance.rollup import Group, Key
from charter.store import schema

_ACT = schema.activities


def _usage(key: Key, group: Group) -> Usage:
    flag = key[4]
    allowed = None if flag < 0 else bool(flag)
    return Usage(key[2], key[3], allowed, key[5], group.count, group.first, group.last)


@dataclass(slots=True)
class ActivityIndex:
    """Usage per agent and per identity, within the activity window."""

    by_agent: dict[str, list[Usage]] = field(default_factory=lambda: defaultdict(list))
    by_identity: dict[str, list[Usage]] = field(default_factory=lambda: defaultdict(list))
    last_by_agent: dict[str, dt.datetime] = field(default_factory=dict)

    @classmethod
    def build(cls, groups: Mapping[Key, Group], since: dt.datetime) -> ActivityIndex:
        index = cls()
        for key, group in groups.items():
            agent, identity = key[0], key[1]
            last = index.last_by_agent.get(agent)
            if last is None or group.last > last:
                index.last_by_agent[agent] = group.last
            if group.last < since:
                continue
            usage = _usage(key, group)
            index.by_agent[agent].append(usage)
            if identity:
                index.by_identity[identity].append(usage)
        return index


def rates(
    connection: Connection, *, now: dt.datetime, policy: GovernancePolicy
) -> dict[str, RateWindow]:
    """Per agent: requests and denials in the recent window and in the baseline before it."""
    t = policy.thresholds
    end = now
    start = end - dt.timedelta(seconds=t.runaway_window)
    base = start - dt.timedelta(seconds=t.runaway_baseline)
    recent = _ACT.c.time >= start
    denied = _ACT.c.allowed.is_(False)
    one = sa.literal(1)
    query = (
        sa.select(
            _ACT.c.agent,
            sa.func.sum(sa.case((recent, one), else_=0)),
            sa.func.sum(sa.case((sa.and_(recent, denied), one), else_=0)),
            sa.func.sum(sa.case((recent, 0), else_=1)),
            sa.func.sum(sa.case((sa.and_(~recent, denied), one), else_=0)),
        )
        .where(_ACT.c.time >= base, _ACT.c.time <= end)
        .group_by(_ACT.c.agent)
    )
    return {
        agent: RateWindow(start, end, int(r or 0), int(rd or 0), base, int(b or 0), int(bd or 0))
        for agent, r, rd, b, bd in connection.execute(query)
    }
