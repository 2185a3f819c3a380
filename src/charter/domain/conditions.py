"""Conditions: how context attributes, schedules and validity windows are evaluated.

The semantics here are the contract shared with the Cedar export
(:mod:`charter.domain.cedar_export` encodes requests with these very functions),
so the two engines cannot drift apart:

* **Attributes** are dotted paths into the request context (``args.amount``)
  walked through nested objects. A value is *present* only if it is a string,
  a boolean or a number a Cedar ``decimal`` can hold exactly (at most four
  decimal places, magnitude below 922,337,203,685,477). Anything else — absent
  key, ``null``, list, object, a number with more digits — is *missing*.
* **Attribute references**: a condition's value may be another attribute
  (``{attribute: subject.properties.email}``), compared with ``eq``, ``ne``,
  ``lt``, ``le``, ``gt`` or ``ge`` under the same rules; when either side is
  missing the condition is unknown.
* **Types are strict**: ``"5"`` is not ``5``; ``true`` is not ``1``; ``1`` equals
  ``1.0``. ``eq``/``ne``/``in``/``not_in`` compare values of the same type;
  ``lt``/``le``/``gt``/``ge`` need a number, ``prefix`` a string, ``cidr`` a
  string holding one IP address (IPv4 or IPv6, no zone index, no prefix length).
* A condition is **true**, **false** or **unknown**. Unknown means the
  attribute is missing, or has the wrong type for an ordering, ``prefix`` or
  ``cidr``. An *allow* rule applies only when every condition is true; a
  *deny* rule applies when every condition is true *or unknown* — what cannot
  be evaluated never opens access.
* **Schedules** take the request time in the schedule's time zone (IANA tz
  database, so daylight saving is handled): the local weekday must be listed
  and the local minute inside ``[start, end)``; when ``end`` is before
  ``start`` the window wraps midnight (``22:00``–``06:00``), the weekday being
  that of the moment checked; ``start == end`` is an empty window.
* **Validity**: ``from`` inclusive, ``until`` exclusive, to the microsecond.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from charter.domain.charter import Condition, Schedule, Validity
from charter.domain.enums import ConditionOp, Weekday

SCALE: Final = 10_000  # Cedar decimal: four fractional digits, stored as a 64-bit integer
I64_MIN: Final = -(2**63)
I64_MAX: Final = 2**63 - 1

STR, NUM, BOOL = 1, 2, 3  # value kinds
KIND_NAMES: Final = {STR: "string", NUM: "number", BOOL: "boolean"}

MISSING: Final = object()

EPOCH: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO: Final = dt.timedelta(microseconds=1)
WEEKDAYS: Final = tuple(Weekday)  # index 0 = Monday, as datetime.weekday()

Scalar = tuple[int, Any]  # (kind, normalised value); numbers are integers scaled by SCALE
Tri = bool | None  # a condition's outcome: True, False, or None (unknown)


def scaled_number(value: int | float) -> int | None:
    """``value`` × 10⁴ as an exact integer within 64 bits, or ``None`` if Cedar cannot hold it."""
    if type(value) is int:
        scaled = value * SCALE
    else:
        if not math.isfinite(value):
            return None
        exact = Decimal(repr(value)) * SCALE
        if exact != exact.to_integral_value():
            return None
        scaled = int(exact)
    return scaled if I64_MIN <= scaled <= I64_MAX else None


def scalar(value: Any) -> Scalar | None:
    """The normalised form of a context or condition value, or ``None`` if it is not present."""
    kind = type(value)
    if kind is str:
        return (STR, value)
    if kind is bool:
        return (BOOL, value)
    if kind is int or kind is float:
        number = scaled_number(value)
        return None if number is None else (NUM, number)
    return None


def lookup(context: Mapping[str, Any], parts: tuple[str, ...]) -> Any:
    """The raw value at a dotted path, or :data:`MISSING`."""
    value: Any = context
    for part in parts:
        if type(value) is not dict and not isinstance(value, Mapping):
            return MISSING
        value = value.get(part, MISSING)
        if value is MISSING:
            return MISSING
    return value


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """One IP address in plain text form, or ``None``."""
    if "%" in text or "/" in text or len(text) > 64:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def ceil_scaled(value: int | float) -> int:
    return int((Decimal(repr(value)) * SCALE).to_integral_value(rounding=ROUND_CEILING))


def floor_scaled(value: int | float) -> int:
    return int((Decimal(repr(value)) * SCALE).to_integral_value(rounding=ROUND_FLOOR))


@dataclass(frozen=True, slots=True)
class Threshold:
    """A numeric comparison reduced to an exact integer bound on the scaled value."""

    op: ConditionOp  # one of lt, le, gt, ge
    bound: int  # may lie outside 64 bits: then the comparison is constant
    never: bool = False  # a comparison with NaN holds for no number

    @classmethod
    def of(cls, op: ConditionOp, value: int | float) -> Threshold:
        if isinstance(value, float) and not math.isfinite(value):
            if math.isnan(value):
                return cls(op, 0, never=True)
            return cls(op, 2**64 if value > 0 else -(2**64))
        # For an integer v: v < x ⟺ v < ⌈x⌉, v ≤ x ⟺ v ≤ ⌊x⌋, v > x ⟺ v > ⌊x⌋, v ≥ x ⟺ v ≥ ⌈x⌉.
        if op in (ConditionOp.LT, ConditionOp.GE):
            return cls(op, ceil_scaled(value))
        return cls(op, floor_scaled(value))

    @property
    def constant(self) -> bool | None:
        """The outcome for every 64-bit number when the bound lies outside that range."""
        if self.never:
            return False
        if I64_MIN <= self.bound <= I64_MAX:
            return None
        return self.holds(0)

    def holds(self, scaled: int) -> bool:
        if self.never:
            return False
        op = self.op
        if op == ConditionOp.LT:
            return scaled < self.bound
        if op == ConditionOp.LE:
            return scaled <= self.bound
        if op == ConditionOp.GT:
            return scaled > self.bound
        return scaled >= self.bound


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    """A condition ready to test against a context: ``test(context) -> True | False | None``."""

    condition: Condition
    parts: tuple[str, ...]
    test: Callable[[Mapping[str, Any]], Tri]
    #: the path of the attribute compared with, when the value is an attribute reference
    other: tuple[str, ...] | None = None

    @property
    def attribute(self) -> str:
        return self.condition.attribute

    def describe(self) -> str:
        reference = self.condition.reference
        value = reference if reference is not None else repr(self.condition.value)
        return f"{self.condition.attribute} {self.condition.op.value} {value}"


def _members(value: Any) -> frozenset[Scalar]:
    values = value if isinstance(value, list) else [value]
    return frozenset(s for s in (scalar(v) for v in values) if s is not None)


def compare(op: ConditionOp, left: Scalar | None, right: Scalar | None) -> Tri:
    """Two attribute values compared: unknown when either is missing, or when an ordering
    meets a value that is not a number; ``eq``/``ne`` of two kinds are false/true."""
    if left is None or right is None:
        return None
    if op == ConditionOp.EQ:
        return left == right
    if op == ConditionOp.NE:
        return left != right
    if left[0] != NUM or right[0] != NUM:
        return None
    if op == ConditionOp.LT:
        return bool(left[1] < right[1])
    if op == ConditionOp.LE:
        return bool(left[1] <= right[1])
    if op == ConditionOp.GT:
        return bool(left[1] > right[1])
    return bool(left[1] >= right[1])


def _compile_reference(condition: Condition, parts: tuple[str, ...]) -> CompiledCondition:
    reference = condition.reference
    assert reference is not None
    other = tuple(reference.split("."))
    op = condition.op

    def test(context: Mapping[str, Any]) -> Tri:
        left = lookup(context, parts)
        right = lookup(context, other)
        if left is MISSING or right is MISSING:
            return None
        return compare(op, scalar(left), scalar(right))

    return CompiledCondition(condition, parts, test, other)


def compile_condition(condition: Condition) -> CompiledCondition:
    parts = tuple(condition.attribute.split("."))
    if condition.reference is not None:
        return _compile_reference(condition, parts)
    op = condition.op
    test: Callable[[Mapping[str, Any]], Tri]

    def present(context: Mapping[str, Any]) -> Scalar | None:
        raw = lookup(context, parts)
        return None if raw is MISSING else scalar(raw)

    if op in (ConditionOp.EQ, ConditionOp.NE, ConditionOp.IN, ConditionOp.NOT_IN):
        members = _members(condition.value)
        positive = op in (ConditionOp.EQ, ConditionOp.IN)

        def test(context: Mapping[str, Any]) -> Tri:
            value = present(context)
            if value is None:
                return None
            return (value in members) is positive

    elif op in (ConditionOp.LT, ConditionOp.LE, ConditionOp.GT, ConditionOp.GE):
        assert isinstance(condition.value, int | float)
        threshold = Threshold.of(op, condition.value)

        def test(context: Mapping[str, Any]) -> Tri:
            value = present(context)
            if value is None or value[0] != NUM:
                return None
            return threshold.holds(value[1])

    elif op == ConditionOp.PREFIX:
        prefix = str(condition.value)

        def test(context: Mapping[str, Any]) -> Tri:
            value = present(context)
            if value is None or value[0] != STR:
                return None
            return bool(value[1].startswith(prefix))

    else:  # CIDR
        network = ipaddress.ip_network(str(condition.value), strict=False)

        def test(context: Mapping[str, Any]) -> Tri:
            value = present(context)
            if value is None or value[0] != STR:
                return None
            address = parse_ip(value[1])
            if address is None:
                return None
            return address.version == network.version and address in network

    return CompiledCondition(condition, parts, test)


def epoch_micros(moment: dt.datetime) -> int:
    """Exact microseconds since the Unix epoch (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - EPOCH) // _MICRO


def from_epoch_micros(micros: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=micros)


_ZONES: dict[str, ZoneInfo] = {}
_CLOCKS: dict[tuple[str, int], tuple[int, int]] = {}


def local_clock(zone: str, now_us: int) -> tuple[int, int]:
    """(weekday 0=Monday, minute of the day) at ``now_us`` in ``zone``; cached per minute."""
    key = (zone, now_us // 60_000_000)
    hit = _CLOCKS.get(key)
    if hit is not None:
        return hit
    info = _ZONES.get(zone)
    if info is None:
        info = _ZONES[zone] = ZoneInfo(zone)
    local = (EPOCH + dt.timedelta(microseconds=now_us)).astimezone(info)
    result = (local.weekday(), local.hour * 60 + local.minute)
    if len(_CLOCKS) > 4096:
        _CLOCKS.clear()
    _CLOCKS[key] = result
    return result


@dataclass(frozen=True, slots=True)
class CompiledSchedule:
    zone: str
    days: frozenset[int]
    start: int  # minute of the day
    end: int  # minute of the day, exclusive; 1440 = midnight

    @classmethod
    def of(cls, schedule: Schedule) -> CompiledSchedule:
        days = frozenset(WEEKDAYS.index(day) for day in schedule.days)
        return cls(schedule.timezone, days, schedule.start_minute, schedule.end_minute)

    def minute_in_window(self, minute: int) -> bool:
        if self.start < self.end:
            return self.start <= minute < self.end
        if self.start > self.end:
            return minute >= self.start or minute < self.end
        return False

    def holds(self, now_us: int) -> bool:
        weekday, minute = local_clock(self.zone, now_us)
        return weekday in self.days and self.minute_in_window(minute)

    def describe(self) -> str:
        names = ",".join(WEEKDAYS[d].value for d in sorted(self.days))
        start = f"{self.start // 60:02d}:{self.start % 60:02d}"
        end = f"{self.end // 60:02d}:{self.end % 60:02d}"
        return f"{names} {start}–{end} {self.zone}"


@dataclass(frozen=True, slots=True)
class CompiledValidity:
    start: int | None  # epoch µs, inclusive
    end: int | None  # epoch µs, exclusive

    @classmethod
    def of(cls, valid: Validity) -> CompiledValidity:
        return cls(
            epoch_micros(valid.from_) if valid.from_ else None,
            epoch_micros(valid.until) if valid.until else None,
        )

    def holds(self, now_us: int) -> bool:
        if self.start is not None and now_us < self.start:
            return False
        return self.end is None or now_us < self.end

    def describe(self) -> str:
        def moment(us: int | None) -> str:
            return from_epoch_micros(us).isoformat(timespec="seconds") if us is not None else "…"

        start, end = moment(self.start), moment(self.end)
        return f"valid {start} – {end}"


def decimal_text(scaled: int) -> str:
    """Cedar ``decimal`` literal text for a scaled integer (exactly four fractional digits)."""
    sign = "-" if scaled < 0 else ""
    whole, fraction = divmod(abs(scaled), SCALE)
    return f"{sign}{whole}.{fraction:04d}"
