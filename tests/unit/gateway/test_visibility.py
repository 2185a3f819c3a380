"""tools/list filtering: a tool is shown only if some allow rule could ever allow it."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from charter.domain.charter import CharterSpec
from charter.domain.patterns import parse_pattern
from charter.gateway.visibility import Visibility, intersects, template_pattern

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def charter(**fields: object) -> CharterSpec:
    return CharterSpec.model_validate(
        {"name": "bot", "owner": "o@acme.example", "purpose": "a test charter here", **fields}
    )


def test_allow_rules_show_tools_and_unconditional_denies_hide_them() -> None:
    spec = charter(
        allow=[
            {"action": "read_*", "resource": "helpdesk:*"},
            {
                "action": "send_email",
                "resource": "helpdesk:tools/send_email",
                "when": [{"attribute": "args.to", "op": "eq", "value": "a@b.c"}],
            },
            {"action": "delete_table", "resource": "*"},
        ],
        deny=[
            {"action": "delete_*", "resource": "*"},
            {
                "action": "read_secret",
                "resource": "*",
                "when": [{"attribute": "args.x", "op": "eq", "value": 1}],
            },
        ],
    )
    seen = Visibility.of(spec, NOW)
    assert seen.may_allow("read_ticket", "helpdesk:tools/read_ticket")
    assert seen.may_allow("send_email", "helpdesk:tools/send_email")  # conditions decided per call
    assert not seen.may_allow("read_ticket", "mail:tools/read_ticket")  # wrong system
    assert not seen.may_allow("delete_table", "helpdesk:tools/delete_table")  # deny wins
    assert seen.may_allow(
        "read_secret", "helpdesk:tools/read_secret"
    )  # a conditional deny may not apply
    assert not seen.may_allow("write_ticket", "helpdesk:tools/write_ticket")


def test_ended_rules_and_expired_charters_show_nothing() -> None:
    ended = charter(allow=[{"action": "*", "valid": {"until": "2026-01-01T00:00:00Z"}}])
    assert not Visibility.of(ended, NOW).may_allow("anything", "x:y")
    expired = charter(allow=[{"action": "*"}], expires="2026-10-01")
    assert not Visibility.of(expired, NOW).may_allow("anything", "x:y")
    assert not Visibility.of(None, NOW).may_allow("anything", "x:y")


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("a*", "*b", True),
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("x:resources/helpdesk://*", "x:resources/helpdesk://tickets/*", True),
        ("x:resources/mail://*", "x:resources/helpdesk://tickets/*", False),
        ("*", "anything", True),
        ("a*c", "ab*", True),
        ("a*c", "b*", False),
    ],
)
def test_pattern_intersection(first: str, second: str, expected: bool) -> None:
    assert intersects(parse_pattern(first), parse_pattern(second)) is expected
    assert intersects(parse_pattern(second), parse_pattern(first)) is expected


def test_intersection_agrees_with_brute_force() -> None:
    alphabet = "ab"
    patterns = ["".join(p) for n in range(1, 4) for p in itertools.product("ab*", repeat=n)]
    words = [""] + ["".join(w) for n in range(1, 6) for w in itertools.product(alphabet, repeat=n)]
    for first, second in itertools.product(patterns, repeat=2):
        p, q = parse_pattern(first), parse_pattern(second)
        brute = any(p.matches(w) and q.matches(w) for w in words)
        assert intersects(p, q) is brute, (first, second)


def test_uri_templates_become_patterns() -> None:
    pattern = template_pattern("helpdesk://tickets/{ticket_id}/notes{?limit}")
    assert pattern.matches("helpdesk://tickets/7/notes")
    assert pattern.matches("helpdesk://tickets/7/notes?limit=3")
    assert not pattern.matches("mail://tickets/7/notes")
    assert template_pattern("files://a*b/{x}").matches("files://a*b/1")
