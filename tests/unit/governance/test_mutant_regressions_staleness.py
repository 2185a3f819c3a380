"""Staleness at exactly the threshold: unused for *longer* than ``stale_after`` is stale.

docs/governance.md says "unused for longer than the threshold"; a record last
used exactly ``stale_after`` ago is not stale yet, one second more is. A
hand-applied mutation (``>`` to ``>=``) went unnoticed because every test used
ages far from the limit.
"""

from __future__ import annotations

import datetime as dt

import pytest

from charter.domain.governance.rule_registry import get_rule

from . import factories as f
from .factories import DAY, NOW

LIMIT = 90 * DAY  # the default stale_after
SECOND = dt.timedelta(seconds=1)


def check(rule_id: str, fact: object) -> object:
    rule = get_rule(rule_id)
    assert rule is not None
    return rule.check(fact, f.ctx())


@pytest.mark.parametrize(
    ("rule_id", "make"),
    [
        ("stale-identity", lambda at: f.identity(last_used_at=at)),
        ("stale-credential", lambda at: f.credential(last_used_at=at, created_at=at)),
        ("stale-agent", lambda at: f.agent(last_activity=at)),
    ],
)
def test_last_use_exactly_at_the_threshold_is_not_stale(rule_id: str, make: object) -> None:
    assert callable(make)
    assert check(rule_id, make(NOW - LIMIT)) is None
    assert check(rule_id, make(NOW - LIMIT - SECOND)) is not None


@pytest.mark.parametrize(
    ("rule_id", "make"),
    [
        ("stale-identity", lambda at: f.identity(last_used_at=None, created_at=at)),
        ("stale-agent", lambda at: f.agent(last_activity=None, created_at=at)),
    ],
)
def test_never_used_and_created_exactly_at_the_threshold_is_not_stale(
    rule_id: str, make: object
) -> None:
    assert callable(make)
    assert check(rule_id, make(NOW - LIMIT)) is None
    assert check(rule_id, make(NOW - LIMIT - SECOND)) is not None
