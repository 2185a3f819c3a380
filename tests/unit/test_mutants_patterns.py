"""Patterns: several wildcards, escapes, inclusion and the field named on a bad one.

Written against surviving mutants of ``charter.domain.patterns``
(docs/mutation-testing.md). The middle pieces of a pattern with two or more
wildcards must be found in order, without overlapping each other or the fixed
ends; an escape is one literal character.
"""

from __future__ import annotations

import pytest

from charter.domain.patterns import covers, matches, parse_pattern, split_resource
from charter.errors import InvalidInput


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("a*b*c", "axc", False),  # the middle piece is checked, not only the ends
        ("a*b*c", "abc", True),
        ("*b*", "b", True),  # a middle piece found at index 0
        ("*b*", "xbx", True),
        ("b*b*c", "bxc", False),  # the middle may not reuse the prefix
        ("a*c*c", "axc", False),  # ...nor the suffix
        ("a*c*c", "acxc", True),
        ("a*b*c*d", "axcd", False),  # the first middle piece counts
        ("a*b*c*d", "abxd", False),  # ...and the last one
        ("a*b*c*d", "abcd", True),
        ("a*b*x*c", "abxbc", True),  # the first occurrence of each middle piece is taken
        ("x*ab*ab*y", "xzzzabzy", False),  # two middle pieces may not overlap
        ("x*ab*ab*y", "xababy", True),
    ],
)
def test_several_wildcards(pattern: str, value: str, expected: bool) -> None:
    assert parse_pattern(pattern).matches(value) is expected


@pytest.mark.parametrize(
    ("pattern", "pieces", "value"),
    [
        (r"a\*b", ("a*b",), "a*b"),
        (r"a\\b", ("a\\b",), "a\\b"),
        (r"a\**b", ("a*", "b"), "a*xb"),
        (r"\\*x", ("\\", "x"), "\\yx"),
        (r"p*\*q*r", ("p", "*q", "r"), "pz*qzr"),
        (r"p\\q*", ("p\\q", ""), "p\\qrest"),
    ],
)
def test_escapes_are_one_literal_character(
    pattern: str, pieces: tuple[str, ...], value: str
) -> None:
    parsed = parse_pattern(pattern)
    assert parsed.pieces == pieces
    assert parsed.text == pattern
    assert parsed.matches(value) is True


def test_an_escaped_star_is_not_a_wildcard() -> None:
    assert matches(r"a\*b", "axb") is False
    assert matches(r"a\**b", "axb") is False


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("bad\\q", "invalid escape '\\q' in pattern 'bad\\\\q': only \\* and \\\\ exist"),
        ("a\\", "pattern 'a\\\\' ends with a lone backslash"),
        ("a b", "pattern 'a b' contains white space or control characters"),
    ],
)
def test_a_bad_pattern_names_the_field_and_says_why(bad: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_pattern(bad, field="allow[0].action")
    assert caught.value.field == "allow[0].action"
    assert caught.value.message == message


def test_an_empty_pattern_names_the_field_default_pattern() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_pattern("")
    assert caught.value.field == "pattern"
    assert caught.value.message == "a pattern must be a non-empty string"
    with pytest.raises(InvalidInput) as named:
        parse_pattern("", field="deny[2].resource")
    assert named.value.field == "deny[2].resource"


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("a", "xa", False),  # an exact outer must consume the inner text from its start
        ("ab", "xab", False),
        ("a", "a", True),
        ("*", "a*b", True),
        ("a*", "a", True),
        ("*a", "ba", True),
        ("*a", "b", False),
    ],
)
def test_covers_exact_and_wildcard_outers(outer: str, inner: str, expected: bool) -> None:
    assert covers(parse_pattern(outer), parse_pattern(inner)) is expected


def test_split_resource_splits_at_the_first_colon() -> None:
    assert split_resource("k8s:ns:default/pods") == ("k8s", "ns:default/pods")


def test_only_star_and_backslash_may_be_escaped() -> None:
    for bad in (r"a\X", r"a\x", r"a\."):
        with pytest.raises(InvalidInput):
            parse_pattern(bad)
