"""Condition semantics: presence, strict types, exact numeric bounds, CIDR, schedules, validity."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from charter.domain.charter import Condition, Schedule, Validity
from charter.domain.conditions import (
    CompiledSchedule,
    CompiledValidity,
    Threshold,
    compile_condition,
    epoch_micros,
    scalar,
)
from charter.domain.enums import ConditionOp


def check(op: str, value: Any, context: dict[str, Any], attribute: str = "a.b") -> bool | None:
    condition = Condition(attribute=attribute, op=ConditionOp(op), value=value)
    return compile_condition(condition).test(context)


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"),
    [
        ("eq", "x", "x", True),
        ("eq", "5", 5, False),  # strict: a string is not a number
        ("eq", 1, 1.0, True),  # 1 equals 1.0
        ("eq", 1, True, False),  # true is not 1
        ("ne", "x", "y", True),
        ("ne", 5, "5", True),
        ("in", ["a", 2], 2, True),
        ("not_in", ["a", 2], "b", True),
        ("lt", 500, 499.9999, True),
        ("le", 500, 500, True),
        ("gt", 0.5, 0.5, False),
        ("ge", 0.5, 0.5, True),
        ("lt", 10, "5", None),  # ordering needs a number: unknown
        ("prefix", "eu-", "eu-west-1", True),
        ("prefix", "eu-", "us-east-1", False),
        ("prefix", "eu-", 7, None),
        ("cidr", "10.0.0.0/8", "10.20.1.2", True),
        ("cidr", "10.0.0.0/8", "11.0.0.1", False),
        ("cidr", "10.0.0.0/8", "::ffff:10.0.0.1", False),  # v6 is not in a v4 network
        ("cidr", "2001:db8::/32", "2001:db8::7", True),
        ("cidr", "10.0.0.0/8", "not-an-ip", None),
        ("cidr", "10.0.0.0/8", "10.0.0.1/32", None),  # a network is not an address
        ("cidr", "fe80::/10", "fe80::1%eth0", None),  # no zone index
    ],
)
def test_operators(op: str, value: Any, actual: Any, expected: bool | None) -> None:
    assert check(op, value, {"a": {"b": actual}}) is expected


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"a": {}},
        {"a": "not an object"},
        {"a": {"b": None}},
        {"a": {"b": [1]}},
        {"a": {"b": {"c": 1}}},
        {"a": {"b": 1e-5}},
        {"a": {"b": 10**20}},
        {"a": {"b": float("nan")}},
    ],
)
def test_missing_attributes_are_unknown_for_every_operator(context: dict[str, Any]) -> None:
    for op, value in [
        ("eq", 1),
        ("ne", 1),
        ("in", [1]),
        ("not_in", [1]),
        ("lt", 1),
        ("prefix", "x"),
        ("cidr", "10.0.0.0/8"),
    ]:
        assert check(op, value, context) is None, (op, context)


def test_numbers_are_exact_to_four_decimals() -> None:
    assert scalar(0.1) == (2, 1000)
    assert scalar(1.00005) is None  # five decimals: Cedar's decimal cannot hold it
    assert scalar(2**62) is None  # beyond decimal's range
    assert Threshold.of(ConditionOp.LT, 0.00005).bound == 1  # v < 0.00005 ⟺ scaled v < 1
    assert Threshold.of(ConditionOp.LE, 0.00005).bound == 0
    assert Threshold.of(ConditionOp.LT, float("inf")).constant is True
    assert Threshold.of(ConditionOp.GT, float("inf")).constant is False
    assert Threshold.of(ConditionOp.LT, float("nan")).constant is False
    assert check("lt", 0.00005, {"a": {"b": 0}}) is True
    assert check("lt", 0.00005, {"a": {"b": 0.0001}}) is False


def _at(text: str) -> int:
    return epoch_micros(dt.datetime.fromisoformat(text))


def test_schedules_in_time_zones_with_daylight_saving_and_midnight() -> None:
    office = CompiledSchedule.of(
        Schedule(
            timezone="Europe/Berlin",
            days=["mon", "tue", "wed", "thu", "fri"],
            start="08:00",
            end="18:00",
        )
    )
    assert office.holds(_at("2026-11-02T07:00:00+00:00"))  # 08:00 in Berlin (CET)
    assert not office.holds(_at("2026-11-02T06:59:59+00:00"))
    assert office.holds(_at("2026-07-06T06:00:00+00:00"))  # 08:00 in Berlin (CEST)
    assert not office.holds(_at("2026-11-02T17:00:00+00:00"))  # 18:00: end is exclusive
    assert not office.holds(_at("2026-11-07T10:00:00+00:00"))  # Saturday
    night = CompiledSchedule.of(Schedule(timezone="UTC", days=["tue"], start="22:00", end="06:00"))
    assert night.holds(_at("2026-11-03T23:00:00+00:00"))  # Tuesday 23:00
    assert night.holds(_at("2026-11-03T02:00:00+00:00"))  # Tuesday 02:00
    assert not night.holds(_at("2026-11-04T02:00:00+00:00"))  # Wednesday 02:00: its own weekday
    empty = CompiledSchedule.of(Schedule(timezone="UTC", start="09:00", end="09:00"))
    assert not empty.holds(_at("2026-11-03T09:00:00+00:00"))


def test_validity_from_inclusive_until_exclusive() -> None:
    window = CompiledValidity.of(
        Validity.model_validate({"from": "2026-11-01T00:00:00Z", "until": "2026-11-02T00:00:00Z"})
    )
    assert window.holds(_at("2026-11-01T00:00:00+00:00"))
    assert not window.holds(_at("2026-11-02T00:00:00+00:00"))
    assert not window.holds(_at("2026-10-31T23:59:59.999999+00:00"))
