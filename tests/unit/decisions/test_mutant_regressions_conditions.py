"""Edges of condition semantics that hand-applied mutations showed no test pinned down.

* A numeric bound with more than four decimals is rounded to the exact
  integer bound for each operator (ceiling for ``lt``/``ge``, floor for
  ``le``/``gt``), for negative bounds too: rounding the wrong way, or toward
  zero, lets through a value one step past the bound.
* A schedule wrapping midnight (``22:00``–``06:00``) includes its start and
  excludes its end, as every schedule does (docs/charter-format.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from charter.domain.charter import Condition, Schedule
from charter.domain.conditions import CompiledSchedule, compile_condition, epoch_micros
from charter.domain.enums import ConditionOp


def check(op: str, bound: Any, actual: Any) -> bool | None:
    condition = Condition(attribute="args.amount", op=ConditionOp(op), value=bound)
    return compile_condition(condition).test({"args": {"amount": actual}})


# (op, bound, the two representable values around it: just below, just above)
BOUNDS = [
    (10.00005, 10.0, 10.0001),
    (-10.00005, -10.0001, -10.0),
    (0.00005, 0.0, 0.0001),
    (-0.00005, -0.0001, 0.0),
    (499.99999, 499.9999, 500),
]


@pytest.mark.parametrize(("bound", "below", "above"), BOUNDS)
def test_bounds_finer_than_four_decimals_round_the_right_way(
    bound: float, below: float, above: float
) -> None:
    assert (check("lt", bound, below), check("lt", bound, above)) == (True, False)
    assert (check("le", bound, below), check("le", bound, above)) == (True, False)
    assert (check("gt", bound, below), check("gt", bound, above)) == (False, True)
    assert (check("ge", bound, below), check("ge", bound, above)) == (False, True)


def test_a_bound_with_four_decimals_is_exact() -> None:
    assert (check("lt", 10.0001, 10.0001), check("le", 10.0001, 10.0001)) == (False, True)
    assert (check("gt", -10.0001, -10.0001), check("ge", -10.0001, -10.0001)) == (False, True)


def _utc(text: str) -> int:
    return epoch_micros(dt.datetime.fromisoformat(f"{text}+00:00"))


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        ("2026-11-03T21:59:59", False),  # Tuesday, one second before the start
        ("2026-11-03T22:00:00", True),  # start: inclusive
        ("2026-11-03T23:59:59", True),
        ("2026-11-03T00:00:00", True),  # after midnight, still Tuesday's own date
        ("2026-11-03T05:59:59", True),  # the last second before the end
        ("2026-11-03T06:00:00", False),  # end: exclusive
        ("2026-11-03T12:00:00", False),  # midday, outside the night
    ],
)
def test_the_edges_of_a_schedule_that_wraps_midnight(moment: str, inside: bool) -> None:
    night = CompiledSchedule.of(Schedule(timezone="UTC", days=["tue"], start="22:00", end="06:00"))
    assert night.holds(_utc(moment)) is inside


def test_a_context_value_finer_than_four_decimals_is_missing_not_rounded() -> None:
    """Cedar's decimal cannot hold it; rounding it would let 10.00001 pass ``le 10``."""
    assert check("le", 10, 10.00001) is None
    assert check("lt", 10, 9.99999) is None
    assert check("ge", 0, -0.00001) is None
