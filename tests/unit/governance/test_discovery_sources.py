"""The policy's ``discovery`` section: what it accepts, what it refuses (naming the field),
the backoff, and the rule that turns repeated failures into a finding."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from charter.domain.governance.discovery_sources import SourceFacts, retry_delay
from charter.domain.governance.policy import parse_policy
from charter.domain.governance.rules.discovery import source_failing
from charter.errors import InvalidInput

from . import factories as f


def _policy(*sources: dict[str, Any], **section: Any) -> Any:
    return parse_policy({"discovery": {"sources": list(sources), **section}})


def test_a_live_source_and_a_watched_directory_parse() -> None:
    policy = _policy(
        {"name": "acme-github", "live": "github", "target": "acme", "every": "1h"},
        {"name": "exports", "watch": "/srv/exports", "every": "5m"},
        {"name": "aws-prod", "live": "aws", "target": "prod", "token_env": "AWS_PROFILE_TOKEN"},
        failures_before_finding=5,
    ).discovery
    assert [s.kind for s in policy.sources] == ["live", "watch", "live"]
    assert policy.sources[0].every == 3600 and policy.sources[1].every == 300
    assert policy.sources[1].describe == "watch /srv/exports"
    assert policy.failures_before_finding == 5
    assert policy.get("aws-prod") is not None and policy.get("nope") is None


def test_no_section_means_no_sources() -> None:
    assert parse_policy({}).discovery.sources == []


@pytest.mark.parametrize(
    ("source", "field", "says"),
    [
        ({"name": "x", "live": "myspace", "target": "a"}, "discovery.sources[0].live", "myspace"),
        ({"name": "x", "live": "github"}, "discovery.sources[0]", "'target' is required"),
        ({"name": "x"}, "discovery.sources[0]", "either 'live'"),
        (
            {"name": "x", "live": "github", "target": "a", "watch": "/d"},
            "discovery.sources[0]",
            "not both",
        ),
        ({"name": "x", "watch": "/d", "token_env": "T"}, "discovery.sources[0]", "no 'target'"),
        ({"name": "Bad Name", "watch": "/d"}, "discovery.sources[0].name", "pattern"),
        ({"name": "x", "watch": "/d", "every": "1s"}, "discovery.sources[0].every", "10s"),
        ({"name": "x", "watch": "/d", "every": "soon"}, "discovery.sources[0].every", "duration"),
        (
            {"name": "x", "live": "github", "target": "a", "token_env": "ghp_secretvalue"},
            "discovery.sources[0].token_env",
            "pattern",
        ),
        ({"name": "x", "watch": "/d", "colour": "red"}, "discovery.sources[0].colour", "unknown"),
    ],
)
def test_malformed_sources_are_refused_naming_the_field(
    source: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        _policy(source)
    assert caught.value.field == field, caught.value
    assert says.lower() in str(caught.value).lower()


def test_a_name_used_twice_is_refused() -> None:
    with pytest.raises(InvalidInput, match="used twice") as caught:
        _policy({"name": "x", "watch": "/a"}, {"name": "x", "watch": "/b"})
    assert caught.value.field == "discovery.sources"


def test_backoff_doubles_from_a_tenth_of_the_interval_up_to_the_ceiling() -> None:
    assert retry_delay(3600, 0, 21600) == 3600  # no failure: on schedule
    assert [retry_delay(3600, n, 21600) for n in (1, 2, 3, 4, 5, 6, 7)] == [
        360,
        720,
        1440,
        2880,
        5760,
        11520,
        21600,
    ]
    assert retry_delay(60, 1, 21600) == 10  # never faster than every 10 s
    assert retry_delay(60, 200, 3600) == 3600  # huge counts do not overflow


def _facts(failures: int, threshold: int = 3) -> SourceFacts:
    then = f.NOW - dt.timedelta(hours=5)
    return SourceFacts("gh", "github live acme", failures, threshold, "HTTP 401", f.NOW, then)


def test_the_rule_fires_at_the_threshold_and_not_before() -> None:
    ctx = f.ctx()
    assert source_failing(_facts(2), ctx) is None
    hit = source_failing(_facts(3), ctx)
    assert hit is not None
    assert "failed 3 times in a row" in hit.message and "HTTP 401" in hit.message
    assert hit.evidence["consecutive_failures"] == 3 and hit.evidence["threshold"] == 3
    assert source_failing(_facts(1, threshold=1), ctx) is not None
    assert source_failing(_facts(0, threshold=1), ctx) is None
