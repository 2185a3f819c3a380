"""Least privilege from use (pure), and the posture arithmetic."""

from __future__ import annotations

from charter.domain.enums import Severity
from charter.domain.governance.facts import GrantFacts
from charter.domain.governance.least_privilege import (
    capability_label,
    charter_least_privilege,
    grants_least_privilege,
)
from charter.services.governance.posture import PostureBy, grade, score_entry

from . import factories as f


def test_unused_capabilities_go_and_wildcards_narrow_to_what_was_used() -> None:
    spec = f.charter(
        allow=[
            {
                "action": "tickets.*",
                "resource": "zendesk:tickets/*",
                "when": [{"attribute": "region", "op": "eq", "value": "eu"}],
            },
            {"action": "slack.post_message", "resource": "slack:channels/digest"},
            {"action": "crm.*", "resource": "salesforce:*"},
        ]
    )
    usage = [
        f.usage("tickets.read", "zendesk:tickets/1", count=9),
        f.usage("tickets.comments.read", "zendesk:tickets/2"),
        f.usage("tickets.delete", "zendesk:tickets/3", allowed=False),  # a denial is not use
        f.usage("crm.read", "salesforce:accounts", allowed=None),  # seen in a log: use
    ]
    result = charter_least_privilege(spec, usage, narrow_max=10)
    assert [capability_label(c) for c in result.removed] == [
        "slack.post_message on slack:channels/digest"
    ]
    assert [capability_label(c) for c in result.allow] == [
        "tickets.comments.read on zendesk:tickets/*",
        "tickets.read on zendesk:tickets/*",
        "crm.read on salesforce:*",
    ]
    assert result.allow[0].when == spec.allow[0].when  # conditions stay with what is kept
    reduced = result.apply(spec)
    assert reduced.deny == spec.deny and reduced.owner == spec.owner
    assert result.uses[0].count == 9 + 5 and result.changed


def test_narrowing_stops_at_the_limit_and_escapes_literal_stars() -> None:
    spec = f.charter(allow=[{"action": "svc.*", "resource": "svc:*"}])
    many = [f.usage(f"svc.op{i}", "svc:x") for i in range(5)]
    assert charter_least_privilege(spec, many, narrow_max=3).allow == tuple(spec.allow)
    odd = charter_least_privilege(spec, [f.usage("svc.a*b", "svc:x")], narrow_max=3)
    assert odd.allow[0].action == "svc.a\\*b"  # the literal star, not a new wildcard
    unchanged = charter_least_privilege(
        f.charter(allow=[{"action": "a.b", "resource": "x:y"}]), [f.usage("a.b", "x:y")]
    )
    assert not unchanged.changed


def test_grants_least_privilege_matches_permission_patterns() -> None:
    grants = [GrantFacts("g", "aws:1", "*", ("s3:Get*", "s3:PutObject", "iam:PassRole"), "r")]
    use = grants_least_privilege(
        grants, [f.usage("s3:GetObject", "arn:x"), f.usage("iam:PassRole", "arn:y", allowed=False)]
    )
    assert use.used == ("s3:Get*",) and use.unused == ("iam:PassRole", "s3:PutObject")
    assert use.suggested == ("s3:GetObject",)


def test_posture_points_caps_and_grades() -> None:
    rows = [
        ("secret-leaked", Severity.CRITICAL, 1),
        ("stale-credential", Severity.MEDIUM, 40),
        ("stale-credential", Severity.LOW, 5),
        ("long-lived-secret", Severity.HIGH, 1),
    ]
    entry = score_entry(PostureBy.OWNER, "ada@acme.example", rows)
    points = {c.rule: (c.points, c.capped) for c in entry.contributions}
    assert points == {
        "secret-leaked": (25, False),
        "stale-credential": (8, True),
        "long-lived-secret": (10, False),
    }
    assert entry.score == 43 and entry.grade == "medium" and entry.findings == 47
    assert entry.contributions[0].rule == "secret-leaked"  # biggest first
    assert "capped at 2×4" in entry.explanation()[2]
    flood = score_entry(
        PostureBy.AGENT, "x", [(f"rule-{i}", Severity.CRITICAL, 1) for i in range(6)]
    )
    assert flood.score == 100 and flood.explanation()[-1] == "sum 150 capped at 100"
    assert [grade(s) for s in (0, 5, 20, 50, 80)] == ["none", "low", "medium", "high", "critical"]
