from __future__ import annotations

import pytest

from charter.domain.patterns import MAX_WILDCARDS, matches, parse_pattern, split_resource
from charter.errors import InvalidInput


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("tickets.read", "tickets.read", True),
        ("tickets.read", "tickets.reads", False),
        ("tickets.read", "Tickets.read", False),  # case-sensitive
        ("tickets.*", "tickets.read", True),
        ("tickets.*", "tickets.", True),  # '*' matches the empty run
        ("tickets.*", "tickets", False),
        ("*", "", True),
        ("zendesk:tickets/*", "zendesk:tickets/4711/comments", True),  # crosses '/'
        ("stripe.*.read", "stripe.charges.read", True),
        ("stripe.*.read", "stripe.charges.write", False),
        ("a*b*c", "abc", True),
        ("a*b*c", "acb", False),
        ("a*a", "a", False),  # pieces may not overlap
        ("a**b", "ab", True),
        (r"lit\*eral", "lit*eral", True),
        (r"lit\*eral", "litXeral", False),
        (r"back\\slash", "back\\slash", True),
    ],
)
def test_matching(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


def test_exact_and_prefix_shapes() -> None:
    assert parse_pattern("a.b").is_exact
    assert not parse_pattern("a.*").is_exact
    assert parse_pattern("zendesk:tickets/*").literal_prefix == "zendesk:tickets/"


@pytest.mark.parametrize(
    "bad",
    ["", "has space", "tab\there", "x" * 257, "a" + "*b" * (MAX_WILDCARDS + 1), "bad\\q", "end\\"],
)
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_pattern(bad, field="allow[0].action")


def test_split_resource() -> None:
    assert split_resource("zendesk:tickets/4711") == ("zendesk", "tickets/4711")
    assert split_resource("plain") == ("plain", "")
