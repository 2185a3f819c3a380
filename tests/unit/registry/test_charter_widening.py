"""The widening check on concrete charters: what a reviewer would be asked to approve."""

from __future__ import annotations

from typing import Any

import pytest

from charter.domain.charter_parsing import parse_charter
from charter.domain.containment import charter_widenings, may_overlap
from charter.domain.patterns import parse_pattern

BASE: dict[str, Any] = {
    "name": "support-summarizer",
    "owner": "maria.garcia@acme.example",
    "purpose": "Summarise support tickets for the team.",
    "allow": [
        {
            "action": "tickets.read",
            "resource": "zendesk:tickets/*",
            "when": [{"attribute": "region", "op": "eq", "value": "eu"}],
        },
        {"action": "tickets.comments.*", "resource": "zendesk:tickets/*"},
    ],
    "deny": [{"action": "tickets.delete", "resource": "*"}],
    "expires": "2027-09-30",
}


def _kinds(new: dict[str, Any]) -> list[str]:
    return [w.kind for w in charter_widenings(parse_charter(BASE), parse_charter(new))]


def test_the_same_charter_and_a_purpose_edit_are_not_widening() -> None:
    assert _kinds(BASE) == []
    assert _kinds({**BASE, "purpose": "Summarise tickets, weekly.", "labels": {"t": "x"}}) == []


def test_everything_on_everything_widens_and_names_the_rule() -> None:
    widened = charter_widenings(
        parse_charter(BASE),
        parse_charter({**BASE, "allow": [{"action": "*", "resource": "*"}]}),
    )
    assert [(w.kind, w.rule) for w in widened] == [("allow", "allow[0]")]
    assert "allows * on *" in widened[0].message


@pytest.mark.parametrize(
    ("change", "kind"),
    [
        ({"allow": [{"action": "tickets.read", "resource": "zendesk:tickets/*"}]}, "allow"),
        ({"allow": [{"action": "tickets.*", "resource": "zendesk:tickets/*"}]}, "allow"),
        ({"allow": [{"action": "tickets.comments.read", "resource": "zendesk:*"}]}, "allow"),
        ({"deny": []}, None),  # no allow overlaps tickets.delete: nothing to widen
        ({"deny": [], "allow": [{"action": "tickets.*", "resource": "zendesk:tickets/1"}]}, "deny"),
        ({"expires": "2028-01-01"}, "expiry"),
        ({"expires": None}, "expiry"),
        ({"delegation": {"allowed": True}}, "delegation"),
        ({"credentials": {"max_token_lifetime": "1h"}}, "credentials"),
    ],
)
def test_each_kind_of_widening_is_found(change: dict[str, Any], kind: str | None) -> None:
    new = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    assert (kind in _kinds(new)) if kind else _kinds(new) == []


@pytest.mark.parametrize(
    "change",
    [
        {"allow": BASE["allow"][:1]},  # a rule dropped
        {"allow": [{**BASE["allow"][1], "action": "tickets.comments.read"}, BASE["allow"][0]]},
        {"deny": [*BASE["deny"], {"action": "tickets.export", "resource": "*"}]},
        {"deny": [{"action": "tickets.*", "resource": "*"}]},  # a broader deny keeps the old one
        {"expires": "2027-01-01"},
        {"credentials": {"max_token_lifetime": "5m", "require_proof_of_possession": True}},
    ],
)
def test_narrowing_edits_apply_at_once(change: dict[str, Any]) -> None:
    assert _kinds({**BASE, **change}) == []


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("tickets.read", "tickets.read", True),
        ("tickets.read", "tickets.write", False),
        ("tickets.*", "tickets.read", True),
        ("tickets.*", "iam.*", False),
        ("*.read", "*.write", False),
        ("*", "iam.put", True),
        ("a*b", "ab*", True),
    ],
)
def test_may_overlap_is_false_only_when_disjoint(a: str, b: str, overlap: bool) -> None:
    assert may_overlap(parse_pattern(a), parse_pattern(b)) is overlap
    assert may_overlap(parse_pattern(b), parse_pattern(a)) is overlap


def test_a_comparison_too_large_to_finish_counts_as_widening(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import charter.domain.containment as containment

    wider = {
        **BASE,
        "allow": [{"action": "tickets.comments.read", "resource": "zendesk:tickets/1"}],
    }
    assert _kinds(wider) == []  # covered by allow[1]
    monkeypatch.setattr(containment, "MAX_COMPARISONS", 0)
    found = charter_widenings(parse_charter(BASE), parse_charter(wider))
    assert [w.rule for w in found] == ["allow[0]", None]
    assert "too many rules" in found[-1].message


def test_a_thousand_rules_compare_within_the_budget() -> None:
    """Indexed comparison finds the one new allow without falling back to 'too many rules'."""
    allow = [{"action": f"svc{i}.read", "resource": f"sys{i}:items/*"} for i in range(1000)]
    deny = [{"action": f"svc{i}.delete", "resource": "*"} for i in range(1000)]
    old = parse_charter({**BASE, "allow": allow, "deny": deny})
    new = parse_charter(
        {**BASE, "allow": [*allow[:-1], {"action": "x.y", "resource": "z:*"}], "deny": deny}
    )
    assert [w.kind for w in charter_widenings(old, new)] == ["allow"]
