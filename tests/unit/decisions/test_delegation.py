"""Delegation: charter ∩ the person's roles, and who may delegate at all."""

from __future__ import annotations

from charter.domain.charter_parsing import parse_charter
from charter.domain.decision import ReasonCode
from charter.domain.delegation import delegable_capabilities, delegation_refusal
from charter.domain.enums import PersonStatus
from charter.domain.patterns import covers, parse_pattern
from charter.domain.people import Person
from charter.domain.roles import parse_roles

CHARTER = parse_charter(
    {
        "name": "support-summarizer",
        "owner": "maria@acme.example",
        "purpose": "Summarise support tickets for the team",
        "allow": [
            {"action": "tickets.*", "resource": "zendesk:tickets/*"},
            {"action": "slack.post_message", "resource": "slack:channels/support-digest"},
            {"action": "billing.read", "resource": "stripe:*"},
        ],
        "deny": [{"action": "tickets.delete", "resource": "*"}],
        "delegation": {"allowed": True, "groups": ["support"]},
    }
)
ROLES = parse_roles(
    {
        "roles": [
            {
                "name": "support-staff",
                "groups": ["support"],
                "allow": [
                    {"action": "tickets.read", "resource": "zendesk:*"},
                    {"action": "tickets.delete", "resource": "zendesk:tickets/*"},
                    {"action": "*", "resource": "slack:channels/*"},
                ],
            },
            {"name": "finance", "groups": ["finance"], "allow": [{"action": "billing.read"}]},
        ]
    }
)
MARIA = Person("maria@acme.example", "Maria", groups=("support",))


def test_intersection_takes_the_narrower_pattern_and_never_the_persons_extra_access() -> None:
    access = delegable_capabilities(CHARTER, MARIA, ROLES)
    assert access.permitted
    pairs = {(g.action, g.resource) for g in access.grants}
    # charter tickets.* ∩ role tickets.read on zendesk:* → tickets.read on zendesk:tickets/*
    assert ("tickets.read", "zendesk:tickets/*") in pairs
    # charter slack.post_message ∩ role * on slack:channels/* → the charter's narrower rule
    assert ("slack.post_message", "slack:channels/support-digest") in pairs
    # tickets.delete is denied by the charter: never delegable, although the role has it
    assert all(g.action != "tickets.delete" for g in access.grants)
    # billing.read is in the charter but Maria's roles lack it
    assert all(not g.action.startswith("billing") for g in access.grants)
    assert access.actions == ["slack.post_message", "tickets.read"]


def test_who_may_delegate() -> None:
    assert delegation_refusal(CHARTER.delegation, None) == ReasonCode.UNKNOWN_DELEGATOR
    departed = Person("tom@acme.example", "Tom", PersonStatus.DEPARTED, groups=("support",))
    assert delegation_refusal(CHARTER.delegation, departed) == ReasonCode.DELEGATOR_DEPARTED
    outsider = Person("priya@acme.example", "Priya", groups=("finance",))
    assert delegation_refusal(CHARTER.delegation, outsider) == ReasonCode.DELEGATION_NOT_ALLOWED
    refused = delegable_capabilities(CHARTER, outsider, ROLES)
    assert not refused.permitted and refused.grants == ()
    assert delegable_capabilities(CHARTER, departed, ROLES).grants == ()


def test_covers_is_language_inclusion() -> None:
    cases = [
        ("*", "anything", True),
        ("tickets.*", "tickets.read", True),
        ("tickets.read", "tickets.*", False),
        ("a*c", "a*b*c", True),
        ("a*b*c", "a*c", False),
        ("a\\*", "a*", False),
        ("a*", "a\\*", True),
    ]
    for outer, inner, expected in cases:
        assert covers(parse_pattern(outer), parse_pattern(inner)) is expected, (outer, inner)
