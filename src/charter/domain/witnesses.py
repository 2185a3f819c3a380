"""Concrete requests a rule covers: the candidates a containment counterexample is drawn from.

A refusal with a counterexample must be *real*: the containment check proposes
requests built from the child's rules (a value each pattern matches, a context
that meets each condition, moments inside each schedule and window, the edges of
the parent's) and keeps one only when the real engine allows it for the child and
not for the parent. Nothing here decides; it only proposes.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

from charter.domain.charter import AttributeRef, Condition
from charter.domain.conditions import epoch_micros
from charter.domain.enums import ConditionOp
from charter.domain.patterns import Pattern
from charter.domain.rule_index import Rule

__all__ = ["context_samples", "deny_breakers", "moment_samples", "pattern_samples"]

_FILLERS = ("", "x", "w~1")


def pattern_samples(pattern: Pattern) -> list[str]:
    """Values ``pattern`` matches: its wildcards filled with nothing, a letter, an odd word."""
    if pattern.is_exact:
        return [pattern.pieces[0]]
    found: list[str] = []
    for filler in _FILLERS:
        value = filler.join(pattern.pieces)
        if value and value not in found and pattern.matches(value):
            found.append(value)
    return found


def _set(context: dict[str, Any], attribute: str, value: Any) -> None:
    parts = attribute.split(".")
    node = context
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _literal_choices(op: ConditionOp, value: Any) -> list[Any]:
    """Values that meet ``op value``: the boundary first (it tells a stricter parent apart)."""
    if op == ConditionOp.EQ:
        return [value]
    if op == ConditionOp.IN:
        return list(value[:3])
    if op in (ConditionOp.NE, ConditionOp.NOT_IN):
        avoid = value if isinstance(value, list) else [value]
        return [c for c in ("other-value", 0, "zz") if c not in avoid][:2]
    if op == ConditionOp.LE:
        return [value, value - 1]
    if op == ConditionOp.LT:
        return [value - 1, value - 0.5]
    if op == ConditionOp.GE:
        return [value, value + 1]
    if op == ConditionOp.GT:
        return [value + 1, value + 0.5]
    if op == ConditionOp.PREFIX:
        return [value, f"{value}x"]
    if op == ConditionOp.CIDR:
        network = ipaddress.ip_network(value, strict=False)
        return [str(network.network_address), str(network[-1])]
    return []


_REFERENCE_PAIRS = {
    ConditionOp.EQ: (1, 1),
    ConditionOp.LE: (1, 1),
    ConditionOp.GE: (1, 1),
    ConditionOp.LT: (0, 1),
    ConditionOp.GT: (1, 0),
    ConditionOp.NE: (0, 1),
}


def _choices(condition: Condition) -> list[list[tuple[str, Any]]]:
    """Per way to meet the condition: the attribute values that meet it."""
    value = condition.value
    if isinstance(value, AttributeRef):
        left, right = _REFERENCE_PAIRS.get(condition.op, (None, None))
        if left is None:
            return []
        return [[(condition.attribute, left), (value.attribute, right)]]
    return [[(condition.attribute, v)] for v in _literal_choices(condition.op, value)]


def context_samples(rule: Rule, limit: int = 8) -> list[dict[str, Any]]:
    """Contexts meeting every condition of ``rule`` (first choice each, then variations)."""
    conditions = [c.condition for c in rule.conditions]
    options = [_choices(c) for c in conditions]
    if any(not o for o in options):
        return []
    found: list[dict[str, Any]] = []
    for variant in range(max((len(o) for o in options), default=1)):
        context: dict[str, Any] = {}
        for choices in options:
            for attribute, value in choices[min(variant, len(choices) - 1)]:
                _set(context, attribute, value)
        if context not in found:
            found.append(context)
        if len(found) >= limit:
            break
    return found or [{}]


def _falsifying(condition: Condition) -> Any:
    """A value for the condition's attribute that makes it false (``_NONE`` if none is known)."""
    value: Any = condition.value
    op = condition.op
    if isinstance(value, AttributeRef):
        return _NONE
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if op == ConditionOp.EQ:
        return value + 1 if number else "other-value"
    if op == ConditionOp.NE:
        return value
    if op == ConditionOp.IN:
        return "other-value" if "other-value" not in value else _NONE
    if op == ConditionOp.NOT_IN:
        return value[0] if isinstance(value, list) and value else _NONE
    if op in (ConditionOp.LE, ConditionOp.LT):
        return value + 1 if op == ConditionOp.LE else value
    if op in (ConditionOp.GE, ConditionOp.GT):
        return value - 1 if op == ConditionOp.GE else value
    if op == ConditionOp.PREFIX:
        return f"~{value}"
    if op == ConditionOp.CIDR:
        network = ipaddress.ip_network(str(value), strict=False)
        for candidate in ("255.255.255.254", "0.0.0.1", "ffff::1", "::1"):
            address = ipaddress.ip_address(candidate)
            if address.version == network.version and address not in network:
                return candidate
    return _NONE


_NONE = object()


def deny_breakers(rules: Iterable[Rule]) -> dict[str, Any]:
    """Attribute values that make one condition of each conditional deny rule false, so a
    candidate is not denied just because the context says nothing (unknown counts as met)."""
    found: dict[str, Any] = {}
    for rule in rules:
        for compiled in rule.conditions:
            condition = compiled.condition
            value = _falsifying(condition)
            if value is not _NONE and condition.attribute not in found:
                found[condition.attribute] = value
                break
    return found


def with_values(context: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``context`` plus ``values`` for the attributes it does not set already."""
    out = json_copy(context)
    for attribute, value in values.items():
        node: Any = out
        for part in attribute.split(".")[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and attribute.split(".")[-1] in node:
            continue
        _set(out, attribute, value)
    return out


def json_copy(context: dict[str, Any]) -> dict[str, Any]:
    return {k: json_copy(v) if isinstance(v, dict) else v for k, v in context.items()}


def _schedule_moments(rule: Rule, start: dt.datetime) -> Iterator[int]:
    schedule = rule.schedule
    if schedule is None:
        return
    yielded = 0
    for hour in range(24 * 8):
        for minute in (0, 30):
            moment = epoch_micros(start + dt.timedelta(hours=hour, minutes=minute))
            if schedule.holds(moment):
                yield moment
                yielded += 1
                if yielded >= 4:
                    return


def moment_samples(
    rules: Iterable[Rule], base: dt.datetime, edges: Iterable[int] = ()
) -> list[int]:
    """Moments to try: ``base``, the edges given (the parent's expiry, windows), each window's
    first and last microsecond and moments inside each schedule."""
    found: list[int] = [epoch_micros(base)]
    found.extend(edges)
    for rule in rules:
        validity = rule.validity
        if validity is not None:
            if validity.start is not None:
                found.append(validity.start)
            if validity.end is not None:
                found.append(validity.end - 1)
        found.extend(_schedule_moments(rule, base))
        if validity is not None and validity.start is not None:
            start = dt.datetime.fromtimestamp(validity.start / 1e6, dt.UTC)
            found.extend(_schedule_moments(rule, start))
    unique: list[int] = []
    for moment in found:
        if moment not in unique:
            unique.append(moment)
    return unique
