"""Cedar expressions for Charter's values and conditions: the building blocks of the export.

Conditions become *total* Cedar expressions over the typed, flat context maps
(``context.str``/``num``/``bool``/``ip`` keyed by the dotted path; see
:mod:`charter.domain.cedar_export`): an allow condition is true only when ours is
true, a deny condition is true unless ours is false — so "missing" means the
same in both engines and Cedar never hits an evaluation error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from charter.domain.conditions import (
    BOOL,
    NUM,
    STR,
    CompiledCondition,
    Threshold,
    decimal_text,
    scalar,
)
from charter.domain.enums import ConditionOp
from charter.domain.patterns import Pattern

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def cedar_string(text: str) -> str:
    """A Cedar string literal."""
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def like_pattern(pattern: Pattern) -> str:
    """Our pattern as a Cedar ``like`` pattern literal (``*`` wildcard, ``\\*`` a star)."""
    pieces = [cedar_string(piece)[1:-1].replace("*", "\\*") for piece in pattern.pieces]
    return '"' + "*".join(pieces) + '"'


def _uid(kind: str, name: str) -> str:
    return f"{kind}::{cedar_string(name)}"


def _all(parts: Iterable[str]) -> str:
    items = [p for p in parts if p != "true"]
    if "false" in items:
        return "false"
    return " && ".join(items) if items else "true"


def _any(parts: Iterable[str]) -> str:
    items = [p for p in parts if p != "false"]
    if "true" in items:
        return "true"
    if not items:
        return "false"
    return items[0] if len(items) == 1 else "(" + " || ".join(items) + ")"


def _group(expression: str) -> str:
    """Parenthesise (always, unless a constant): precedence must never depend on the caller."""
    if expression in ("true", "false"):
        return expression
    return f"({expression})"


def _not(expression: str) -> str:
    if expression == "true":
        return "false"
    if expression == "false":
        return "true"
    return f"!{_group(expression)}"


_MAP = {STR: "context.str", NUM: "context.num", BOOL: "context.bool"}
_DECIMAL_METHOD = {
    ConditionOp.LT: "lessThan",
    ConditionOp.LE: "lessThanOrEqual",
    ConditionOp.GT: "greaterThan",
    ConditionOp.GE: "greaterThanOrEqual",
}


def _literal(kind: int, value: Any) -> str:
    if kind == NUM:
        return f'decimal("{decimal_text(value)}")'
    if kind == BOOL:
        return "true" if value else "false"
    return cedar_string(value)


def _present(key: str) -> str:
    return "(" + " || ".join(f"{_MAP[k]} has {key}" for k in (STR, NUM, BOOL)) + ")"


def _reference_condition(compiled: CompiledCondition, *, deny: bool) -> str:
    """Two attributes compared (``{attribute: …}`` as the value), total like the others."""
    condition = compiled.condition
    left, right = cedar_string(condition.attribute), cedar_string(str(condition.reference))
    op = condition.op
    if op in (ConditionOp.EQ, ConditionOp.NE):
        equal = _any(
            f"({_MAP[k]} has {left} && {_MAP[k]} has {right} && "
            f"{_MAP[k]}[{left}] == {_MAP[k]}[{right}])"
            for k in (STR, NUM, BOOL)
        )
        guard = f"{_present(left)} && {_present(right)}"
        outcome = equal if op == ConditionOp.EQ else _not(equal)
    else:
        guard = f"context.num has {left} && context.num has {right}"
        outcome = f"context.num[{left}].{_DECIMAL_METHOD[op]}(context.num[{right}])"
    if deny:
        return f"(if {guard} then {outcome} else true)"
    return _all([guard, outcome])


def _condition(compiled: CompiledCondition, *, deny: bool) -> str:
    """The condition as a total Cedar expression:
    true iff it is true (allow) or not false (deny).
    """
    condition = compiled.condition
    if condition.reference is not None:
        return _reference_condition(compiled, deny=deny)
    key = cedar_string(condition.attribute)
    op = condition.op
    if op in (ConditionOp.EQ, ConditionOp.NE, ConditionOp.IN, ConditionOp.NOT_IN):
        values = condition.value if isinstance(condition.value, list) else [condition.value]
        members = {s for s in (scalar(v) for v in values) if s is not None}
        tests = []
        for kind in (STR, NUM, BOOL):
            literals = sorted(_literal(k, v) for k, v in members if k == kind)
            if not literals:
                continue
            value = f"{_MAP[kind]}[{key}]"
            test = (
                f"{value} == {literals[0]}"
                if len(literals) == 1
                else f"[{', '.join(literals)}].contains({value})"
            )
            tests.append(f"({_MAP[kind]} has {key} && {test})")
        equal = _any(tests)
        present = "(" + " || ".join(f"{_MAP[k]} has {key}" for k in (STR, NUM, BOOL)) + ")"
        outcome = equal if op in (ConditionOp.EQ, ConditionOp.IN) else _not(equal)
        if deny:
            return f"(if {present} then {outcome} else true)"
        return _all([present, outcome])
    if op in (ConditionOp.LT, ConditionOp.LE, ConditionOp.GT, ConditionOp.GE):
        assert isinstance(condition.value, int | float)
        threshold = Threshold.of(op, condition.value)
        constant = threshold.constant
        guard, value = f"context.num has {key}", f"context.num[{key}]"
        if constant is None:
            outcome = f'{value}.{_DECIMAL_METHOD[op]}(decimal("{decimal_text(threshold.bound)}"))'
        else:
            outcome = "true" if constant else "false"
    elif op == ConditionOp.PREFIX:
        guard, value = f"context.str has {key}", f"context.str[{key}]"
        prefix = str(condition.value)
        outcome = f"{value} like {like_pattern(Pattern(prefix, (prefix, '')))}"
    else:
        guard, value = f"context.ip has {key}", f"context.ip[{key}]"
        network = ipaddress.ip_network(str(condition.value), strict=False)
        outcome = f'{value}.isInRange(ip("{network.network_address.exploded}/{network.prefixlen}"))'
    if deny:
        return f"(if {guard} then {outcome} else true)"
    return _all([guard, outcome])
