"""One IAM request, evaluated offline: may this principal do this action on this resource?

The escalation analysis asks many precise questions ("may it ``iam:PassRole``
on role X when the role is passed to Lambda?"), so it needs the policy logic
per request, not per resource pattern. This follows the IAM evaluation logic
(AWS IAM User Guide, "Policy evaluation logic") for what an export carries:
an explicit Deny in any applicable policy wins; then service control
policies and the permissions boundary must each allow; then an identity
policy must allow. ``Action``/``NotAction``, ``Resource``/``NotResource`` and
wildcards are matched as IAM matches them (actions case-insensitively,
resources case-sensitively).

Conditions are evaluated when their keys are known offline — the service a
role is passed to, the tags of the principal and of the target, the
principal's ARN and name, the policy being attached, the time — and
otherwise count as *may hold*: an Allow under such a condition still allows
(the verdict names the condition), a Deny under one does not block (the
verdict names it too). Reachability over-approximates, never silently.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from charter.connectors.aws_policy import AttachedPolicy, load_document

#: Condition keys whose value the request carries; a key absent here is "unknown offline".
Context = Mapping[str, str | tuple[str, ...] | None]

_TIME_KEYS = ("aws:currenttime", "aws:tokenissuetime", "aws:epochtime")


class LazyContext(Mapping[str, Any]):
    """A request context built only when a condition asks for it (most statements have none)."""

    __slots__ = ("_build", "_data")

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build
        self._data: dict[str, Any] | None = None

    def _get(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._build()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


@lru_cache(maxsize=8192)
def _action_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.strip().lower()))


@lru_cache(maxsize=8192)
def _resource_regex(pattern: str) -> re.Pattern[str]:
    # IAM resource wildcards: * any run of characters, ? one character (case-sensitive).
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern) + r"\Z",
        re.S,
    )


@lru_cache(maxsize=65536)
def action_matches(pattern: str, action: str) -> bool:
    if "*" not in pattern and "?" not in pattern:
        return pattern.strip().lower() == action.lower()
    return _action_regex(pattern).match(action.lower()) is not None


def resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    if resource == "*":  # an unknown resource: only patterns that could match anything do
        return False
    return _resource_regex(pattern).match(resource) is not None


@dataclass(frozen=True, slots=True)
class Rule:
    """One statement, compiled: what it covers and under which condition."""

    effect: str
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: Mapping[str, Any]
    source: str

    def covers_action(self, action: str) -> bool:
        hit = any(action_matches(p, action) for p in self.actions)
        return hit != self.not_action

    def covers_resource(self, resource: str) -> bool:
        hit = any(resource_matches(p, resource) for p in self.resources)
        if self.not_resource:
            # NotResource: an unknown resource ("*") may fall outside the exclusions
            return resource == "*" or not hit
        return hit

    def covers_some_resource(self) -> bool:
        """Whether the statement applies to at least one resource (for "create a new one")."""
        return bool(self.resources) and not (self.not_resource and "*" in self.resources)

    def covers_every_resource(self) -> bool:
        return not self.not_resource and "*" in self.resources


def compile_rules(document: dict[str, Any], source: str) -> list[Rule]:
    raw = document.get("Statement", [])
    items = [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    out = []
    for item in items:
        if not isinstance(item, dict) or item.get("Effect") not in ("Allow", "Deny"):
            continue
        not_action = "NotAction" in item
        not_resource = "NotResource" in item
        out.append(
            Rule(
                effect=str(item["Effect"]),
                actions=tuple(
                    str(a) for a in _as_list(item.get("NotAction" if not_action else "Action"))
                ),
                not_action=not_action,
                resources=tuple(
                    str(r)
                    for r in _as_list(item.get("NotResource" if not_resource else "Resource"))
                )
                or ("*",),
                not_resource=not_resource,
                condition=item.get("Condition") or {},
                source=source,
            )
        )
    return out


# -- conditions ---------------------------------------------------------------------------
def _lookup(context: Context, key: str) -> tuple[bool, tuple[str, ...] | None]:
    """(known, values): values None when the key is known to be absent."""
    low = key.lower()
    for name, value in context.items():
        if name.lower() == low:
            if value is None:
                return True, None
            return True, (value,) if isinstance(value, str) else tuple(value)
    for name in context:  # "aws:PrincipalTag/*": every such key is known, the others absent
        if name.endswith("/*") and low.startswith(name[:-1].lower()):
            return True, None
    return False, None


def _time(value: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _compare(operator: str, actual: str, expected: str) -> bool | None:
    op = operator
    if op.startswith(("String", "Arn")):
        negate = "Not" in op
        if op.endswith("IgnoreCase"):
            hit = actual.lower() == expected.lower()
        elif op.endswith("Like") or op.startswith("Arn"):
            hit = _resource_regex(expected).match(actual) is not None
        else:
            hit = actual == expected
        return hit != negate
    if op == "Bool":
        return actual.lower() == expected.lower()
    if op.startswith("Date"):
        a, e = _time(actual), _time(expected)
        if a is None or e is None:
            return None
        return {
            "DateEquals": a == e,
            "DateNotEquals": a != e,
            "DateLessThan": a < e,
            "DateLessThanEquals": a <= e,
            "DateGreaterThan": a > e,
            "DateGreaterThanEquals": a >= e,
        }.get(op)
    return None


def evaluate_condition(
    condition: Mapping[str, Any], context: Context, now: dt.datetime
) -> tuple[bool | None, list[str]]:
    """True / False when every key is known (or one known key fails); None with the unknown
    ones named when the outcome depends on what cannot be seen offline."""
    unknown: list[str] = []
    for raw_operator, pairs in condition.items():
        if not isinstance(pairs, dict):
            unknown.append(str(raw_operator))
            continue
        operator = str(raw_operator)
        qualifier = ""
        if ":" in operator:
            qualifier, _, operator = operator.partition(":")
        if_exists = operator.endswith("IfExists")
        operator = operator.removesuffix("IfExists")
        for key, expected_raw in pairs.items():
            expected = [str(v) for v in _as_list(expected_raw)]
            known, values = _lookup(context, str(key))
            if not known and str(key).lower() in _TIME_KEYS:
                known, values = True, (now.isoformat(),)
            if operator == "Null":
                if not known:
                    unknown.append(f"{raw_operator} {key}")
                    continue
                want_absent = any(e.lower() == "true" for e in expected)
                if (values is None) != want_absent:
                    return False, []
                continue
            if not known:
                unknown.append(f"{raw_operator} {key} {', '.join(expected)}")
                continue
            if values is None:
                if if_exists or (qualifier == "ForAllValues"):
                    continue
                if "Not" in operator and operator.startswith(("String", "Arn")):
                    continue  # a negated match on an absent key holds
                return False, []
            results = [[_compare(operator, v, e) for e in expected] for v in values]
            if any(r is None for row in results for r in row):
                unknown.append(f"{raw_operator} {key} {', '.join(expected)}")
                continue
            negated = "Not" in operator
            per_value = [all(row) if negated else any(row) for row in results]
            ok = all(per_value) if qualifier == "ForAllValues" else any(per_value)
            if not ok:
                return False, []
    return (None, unknown) if unknown else (True, [])


# -- the verdict -----------------------------------------------------------------------------
class Verdict(NamedTuple):
    allowed: bool
    #: conditions that cannot be checked offline and were taken to hold (or a Deny not to)
    assumptions: tuple[str, ...] = ()
    #: why not (the Deny, the boundary, no Allow)
    why: str = ""
    #: the policy whose Allow applies
    via: str = ""


@dataclass(slots=True)
class PolicySet:
    """Every policy that applies to one principal, compiled once and queried many times."""

    identity: list[Rule]
    boundary: list[Rule] | None = None
    scps: list[list[Rule]] | None = None
    #: action → (the rules of each layer that name it): most questions repeat an action
    _by_action: dict[str, tuple[list[Rule], list[Rule], list[list[Rule]]]] = field(
        default_factory=dict, repr=False
    )
    #: the services its Allow statements name ("*": any), for :meth:`mentions`
    _services: frozenset[str] | None = field(default=None, repr=False)

    def _rules(self, action: str) -> tuple[list[Rule], list[Rule], list[list[Rule]]]:
        found = self._by_action.get(action)
        if found is None:
            found = (
                [r for r in self.identity if r.covers_action(action)],
                [r for r in self.boundary or [] if r.covers_action(action)],
                [[r for r in scp if r.covers_action(action)] for scp in self.scps or []],
            )
            self._by_action[action] = found
        return found

    @classmethod
    def of(
        cls,
        policies: Sequence[AttachedPolicy],
        *,
        boundary: dict[str, Any] | None = None,
        scps: Sequence[tuple[str, dict[str, Any]]] = (),
    ) -> PolicySet:
        rules = [r for p in policies for r in compile_rules(p.document, p.describe())]
        bound = (
            compile_rules(boundary, "its permissions boundary") if boundary is not None else None
        )
        scp = [compile_rules(load_document(d, where=n), f"SCP {n}") for n, d in scps] or None
        return cls(rules, bound, scp)

    def _allowed_by(
        self,
        rules: list[Rule],
        action: str,
        resource: str,
        context: Context,
        now: dt.datetime,
        *,
        any_resource: bool,
    ) -> tuple[Rule | None, list[str]]:
        maybe: tuple[Rule | None, list[str]] = (None, [])
        for rule in rules:
            if rule.effect != "Allow":
                continue
            if any_resource:
                if not rule.covers_some_resource():
                    continue
            elif not rule.covers_resource(resource):
                continue
            holds, unknown = evaluate_condition(rule.condition, context, now)
            if holds:
                return rule, []
            if holds is None and maybe[0] is None:
                maybe = (rule, unknown)
        return maybe

    def check(
        self,
        action: str,
        resource: str = "*",
        context: Context | None = None,
        *,
        now: dt.datetime,
        any_resource: bool = False,
    ) -> Verdict:
        """``any_resource``: the principal would create the resource and may name it freely."""
        ctx = context or {}
        assumptions: list[str] = []
        identity, boundary, scps = self._rules(action)
        for rule in identity + boundary + [r for s in scps for r in s]:
            if rule.effect != "Deny":
                continue
            if any_resource:
                if not rule.covers_every_resource():
                    continue
            elif not rule.covers_resource(resource):
                continue
            holds, unknown = evaluate_condition(rule.condition, ctx, now)
            if holds:
                return Verdict(False, why=f"denied by {rule.source}")
            if holds is None:
                assumptions.append(
                    f"unless the Deny in {rule.source} applies ({'; '.join(unknown)})"
                )
        for scp in scps:
            found, unknown = self._allowed_by(
                scp, action, resource, ctx, now, any_resource=any_resource
            )
            if found is None:
                return Verdict(False, why=f"no service control policy allows {action}")
            assumptions += [f"if {u} (SCP)" for u in unknown]
        if self.boundary is not None:
            found, unknown = self._allowed_by(
                boundary, action, resource, ctx, now, any_resource=any_resource
            )
            if found is None:
                return Verdict(False, why=f"its permissions boundary does not allow {action}")
            assumptions += [f"if {u} (boundary)" for u in unknown]
        found, unknown = self._allowed_by(
            identity, action, resource, ctx, now, any_resource=any_resource
        )
        if found is None:
            return Verdict(False, why=f"no policy allows {action}")
        assumptions += [f"if {u}" for u in unknown]
        return Verdict(True, tuple(assumptions), via=found.source)

    def mentions(self, action: str) -> bool:
        """A quick test: does any Allow name this action (so detailed checks are worth it)?"""
        if self._services is None:
            services: set[str] = set()
            for rule in self.identity:
                if rule.effect != "Allow":
                    continue
                if rule.not_action:
                    services.add("*")
                for pattern in rule.actions:
                    head = pattern.partition(":")[0].strip().lower()
                    services.add("*" if "*" in head or "?" in head else head)
            self._services = frozenset(services)
        if "*" not in self._services and action.partition(":")[0] not in self._services:
            return False
        return any(r.effect == "Allow" for r in self._rules(action)[0])
