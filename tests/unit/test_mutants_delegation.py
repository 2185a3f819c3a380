"""Delegation (charter ∩ the person's roles): the edges the older tests left open.

Written against surviving mutants of ``charter.domain.delegation``
(docs/mutation-testing.md): a deny rule narrower than ``*`` on the resource,
a denied or repeated pair followed by a good one, which rule a grant names,
and which grants are conditional.
"""

from __future__ import annotations

from typing import Any

from charter.domain.charter_parsing import parse_charter
from charter.domain.decision import ReasonCode
from charter.domain.delegation import (
    delegable_capabilities,
    delegation_permits_groups,
    delegation_refusal,
)
from charter.domain.people import Person
from charter.domain.roles import parse_roles

ANA = Person("ana@acme.example", "Ana", groups=("ops",))
SCHEDULE = {"days": ["mon"], "start": "08:00", "end": "18:00"}
VALID = {"from": "2026-11-01T00:00:00Z", "until": "2026-11-03T00:00:00Z"}
WHEN = [{"attribute": "args.length", "op": "le", "value": 10}]


def charter(allow: list[dict[str, Any]], deny: list[dict[str, Any]] | None = None) -> Any:
    return parse_charter(
        {
            "name": "ops-bot",
            "owner": "ana@acme.example",
            "purpose": "Operate things",
            "allow": allow,
            "deny": deny or [],
            "delegation": {"allowed": True, "groups": ["ops"]},
        }
    )


def roles(*allow: dict[str, Any]) -> Any:
    return parse_roles({"roles": [{"name": "ops", "groups": ["ops"], "allow": list(allow)}]})


def test_a_refused_delegator_gets_the_reason_and_permitted_false() -> None:
    outsider = Person("bo@acme.example", "Bo", groups=("finance",))
    access = delegable_capabilities(
        charter([{"action": "a.read"}]), outsider, roles({"action": "a.read"})
    )
    assert access.permitted is False
    assert access.refusal == ReasonCode.DELEGATION_NOT_ALLOWED
    assert access.grants == ()


def test_a_deny_on_one_resource_drops_only_that_grant_and_later_pairs_still_count() -> None:
    spec = charter(
        [{"action": "db.*", "resource": "db:*"}],
        deny=[{"action": "db.drop", "resource": "db:prod"}],
    )
    access = delegable_capabilities(
        spec,
        ANA,
        roles(
            {"action": "db.drop", "resource": "db:prod"},  # denied by the charter
            {"action": "db.drop", "resource": "db:test"},  # not denied: another resource
            {"action": "db.read", "resource": "db:prod"},
        ),
    )
    assert access.permitted is True
    assert access.refusal is None
    assert [(g.action, g.resource) for g in access.grants] == [
        ("db.drop", "db:test"),
        ("db.read", "db:prod"),
    ]


def test_a_repeated_pair_is_listed_once_and_later_pairs_still_count() -> None:
    access = delegable_capabilities(
        charter([{"action": "a.*", "resource": "s:*"}]),
        ANA,
        roles(
            {"action": "a.read", "resource": "s:x"},
            {"action": "a.read", "resource": "s:x"},
            {"action": "a.write", "resource": "s:x"},
        ),
    )
    assert [(g.action, g.resource) for g in access.grants] == [
        ("a.read", "s:x"),
        ("a.write", "s:x"),
    ]


def test_each_grant_names_the_charter_rule_and_the_role_rule() -> None:
    access = delegable_capabilities(
        charter([{"action": "x.read", "resource": "s:*"}, {"action": "a.*", "resource": "s:*"}]),
        ANA,
        roles({"action": "b.read", "resource": "s:x"}, {"action": "a.read", "resource": "s:x"}),
    )
    (grant,) = access.grants
    assert grant.charter_rule == "charter/ops-bot/allow/1"
    assert grant.role_rule == "role/ops/allow/1"
    assert grant.conditional is False


def test_a_grant_is_conditional_when_either_side_carries_a_condition() -> None:
    def conditional(charter_extra: dict[str, Any], role_extra: dict[str, Any]) -> bool:
        access = delegable_capabilities(
            charter([{"action": "a.read", "resource": "s:x", **charter_extra}]),
            ANA,
            roles({"action": "a.read", "resource": "s:x", **role_extra}),
        )
        (grant,) = access.grants
        return grant.conditional

    assert conditional({}, {}) is False
    assert conditional({"when": WHEN}, {}) is True
    assert conditional({"schedule": SCHEDULE}, {}) is True
    assert conditional({"valid": VALID}, {}) is True
    assert conditional({}, {"when": WHEN}) is True
    assert conditional({}, {"schedule": SCHEDULE}) is True


def test_a_conditional_deny_does_not_remove_a_grant() -> None:
    spec = charter(
        [{"action": "a.*", "resource": "s:*"}],
        deny=[{"action": "a.read", "resource": "s:x", "schedule": SCHEDULE}],
    )
    access = delegable_capabilities(spec, ANA, roles({"action": "a.read", "resource": "s:x"}))
    assert [(g.action, g.resource) for g in access.grants] == [("a.read", "s:x")]


def test_delegation_switched_off_refuses_everyone() -> None:
    document = {
        "name": "ops-bot",
        "owner": "ana@acme.example",
        "purpose": "Operate things",
        "allow": [{"action": "a.read"}],
        "delegation": {"allowed": False},
    }
    spec = parse_charter(document)
    assert delegation_permits_groups(spec.delegation, ("ops",)) is False
    assert delegation_refusal(spec.delegation, ANA) == ReasonCode.DELEGATION_NOT_ALLOWED
    access = delegable_capabilities(spec, ANA, roles({"action": "a.read"}))
    assert access.permitted is False
    assert access.grants == ()
