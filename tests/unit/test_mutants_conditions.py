"""Conditions: local clocks, windows as people read them, IP text, Cedar decimal text.

Written against surviving mutants of ``charter.domain.conditions``
(docs/mutation-testing.md). The schedule and validity descriptions are the
words a deny shows; ``decimal_text`` is what the Cedar export writes, so the
two engines agree on every number. The midnight-wrapping schedule and the
rounding of bounds below four decimals are known survivors
(tests/mutation/survivors.toml), tested with the others, not here.
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import pytest

from charter.domain.charter import Condition, Validity
from charter.domain.conditions import (
    EPOCH,
    MISSING,
    CompiledSchedule,
    CompiledValidity,
    Threshold,
    compile_condition,
    decimal_text,
    epoch_micros,
    from_epoch_micros,
    local_clock,
    lookup,
    parse_ip,
    scalar,
    scaled_number,
)
from charter.domain.enums import ConditionOp

MONDAY_10_UTC = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("scaled", "text"),
    [(0, "0.0000"), (5, "0.0005"), (10_000, "1.0000"), (-1, "-0.0001"), (-12_345, "-1.2345")],
)
def test_decimal_text_has_four_fractional_digits_and_a_sign_only_below_zero(
    scaled: int, text: str
) -> None:
    assert decimal_text(scaled) == text


def test_epoch_micros_round_trip() -> None:
    assert from_epoch_micros(1_500_000) == EPOCH + dt.timedelta(seconds=1.5)
    assert from_epoch_micros(epoch_micros(MONDAY_10_UTC)) == MONDAY_10_UTC


@pytest.mark.parametrize(
    ("zone", "moment", "clock"),
    [
        ("UTC", MONDAY_10_UTC, (0, 600)),
        ("Europe/Berlin", MONDAY_10_UTC, (0, 660)),
        ("America/New_York", MONDAY_10_UTC, (0, 300)),
        ("Asia/Tokyo", MONDAY_10_UTC + dt.timedelta(hours=14, minutes=7), (1, 547)),
        ("Europe/Berlin", MONDAY_10_UTC + dt.timedelta(seconds=59), (0, 660)),
    ],
)
def test_local_clock_is_the_weekday_and_minute_in_the_zone(
    zone: str, moment: dt.datetime, clock: tuple[int, int]
) -> None:
    micros = epoch_micros(moment)
    assert local_clock(zone, micros) == clock
    assert local_clock(zone, micros) == clock  # the second answer comes from the memo


def test_a_schedule_describes_itself_as_people_read_it() -> None:
    schedule = CompiledSchedule("Europe/Berlin", frozenset({4, 0}), 8 * 60 + 5, 17 * 60 + 59)
    assert schedule.describe() == "mon,fri 08:05–17:59 Europe/Berlin"


def test_a_validity_window_describes_its_open_ends() -> None:
    start = epoch_micros(MONDAY_10_UTC)
    end = start + 3_600_000_000
    assert CompiledValidity(start, end).describe() == (
        "valid 2026-11-02T10:00:00+00:00 – 2026-11-02T11:00:00+00:00"
    )
    assert CompiledValidity(None, end).describe() == "valid … – 2026-11-02T11:00:00+00:00"
    assert CompiledValidity(start, None).describe() == "valid 2026-11-02T10:00:00+00:00 – …"


def test_a_validity_with_one_open_end_compiles() -> None:
    until = MONDAY_10_UTC + dt.timedelta(days=1)
    assert CompiledValidity.of(Validity(until=until)) == CompiledValidity(None, epoch_micros(until))
    assert CompiledValidity.of(Validity(**{"from": MONDAY_10_UTC})) == CompiledValidity(
        epoch_micros(MONDAY_10_UTC), None
    )


def test_an_ip_with_a_zone_index_is_not_an_address() -> None:
    assert parse_ip("fe80::1%eth0") is None
    assert str(parse_ip("fe80::1")) == "fe80::1"


def test_lookup_tells_missing_from_null_and_walks_any_mapping() -> None:
    assert lookup({"a": {}}, ("a", "b")) is MISSING
    assert lookup({"a": {"b": None}}, ("a", "b")) is None
    assert lookup({"a": 5}, ("a", "b")) is MISSING
    assert lookup(MappingProxyType({"a": MappingProxyType({"b": 7})}), ("a", "b")) == 7


def test_a_huge_integer_is_missing_not_an_error() -> None:
    assert scaled_number(10**400) is None
    assert scaled_number(3) == 30_000
    assert scalar(10**400) is None


def test_epoch_micros_is_an_exact_integer_and_naive_means_utc() -> None:
    naive = dt.datetime(1970, 1, 1, 0, 0, 1)
    assert epoch_micros(naive) == 1_000_000
    assert type(epoch_micros(naive)) is int
    berlin = dt.datetime(1970, 1, 1, 1, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert epoch_micros(berlin) == 1_000_000


def test_thresholds_against_infinities_and_nan_are_constant() -> None:
    nan, inf = float("nan"), float("inf")
    for op in (ConditionOp.LT, ConditionOp.LE, ConditionOp.GT, ConditionOp.GE):
        never = Threshold.of(op, nan)
        assert never.constant is False
        assert never.holds(0) is False
    assert Threshold.of(ConditionOp.LT, inf).constant is True
    assert Threshold.of(ConditionOp.GT, inf).constant is False
    assert Threshold.of(ConditionOp.LT, -inf).constant is False
    assert Threshold.of(ConditionOp.GT, -inf).constant is True
    assert Threshold.of(ConditionOp.LE, 5).constant is None


def test_a_cidr_with_host_bits_set_is_its_network() -> None:
    condition = Condition(attribute="source_ip", op=ConditionOp.CIDR, value="10.0.0.1/8")
    compiled = compile_condition(condition)
    assert compiled.test({"source_ip": "10.200.0.9"}) is True
    assert compiled.test({"source_ip": "11.0.0.1"}) is False
    assert compiled.describe() == "source_ip cidr '10.0.0.1/8'"
    assert compiled.attribute == "source_ip"


def test_an_empty_schedule_window_holds_at_no_minute() -> None:
    empty = CompiledSchedule("UTC", frozenset(range(7)), 600, 600)
    assert not any(empty.minute_in_window(minute) for minute in range(1440))


def test_a_schedule_ending_on_the_hour_is_described_exactly() -> None:
    assert CompiledSchedule("UTC", frozenset({1}), 9 * 60, 10 * 60).describe() == (
        "tue 09:00–10:00 UTC"
    )
