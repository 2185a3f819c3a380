"""Compiled rules and the index that finds them by action without scanning the policy.

* every rule set (an agent's allow rules, its deny rules, the org policy, a
  role's rules) is a :class:`RuleIndex`: rules whose action is exact are found
  by a dictionary lookup on the action (each entry already merged with the
  wildcard rules that match that action, in rule order); wildcard rules are
  bucketed by a segment they spell out, and lookups for actions no rule names
  exactly are memoised (bounded);
* resource patterns are pre-classified (any / exact / prefix / general), so the
  common shapes cost one string comparison (:func:`first_allow`,
  :func:`first_deny` inline that test: they are the hot loop of every decision);
* an allow rule carries its ready-made :class:`Decision`, so an allow allocates
  nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Any

from charter.domain.charter import Capability
from charter.domain.conditions import (
    CompiledCondition,
    CompiledSchedule,
    CompiledValidity,
    Tri,
    compile_condition,
)
from charter.domain.decision import Decision, Reason, ReasonCode
from charter.domain.durations import format_duration
from charter.domain.patterns import Pattern, parse_pattern

MEMO_LIMIT = 4096  # shared indexes (org policy, roles): one memo each
AGENT_MEMO_LIMIT = 64  # per agent (agents use few actions): 10,000 agents stay bounded
SCAN_BELOW = 6  # wildcard rule sets smaller than this are scanned, not bucketed

ANY, EXACT, PREFIX, GENERAL = 0, 1, 2, 3


class RuleKind(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


@lru_cache(maxsize=65536)
def _resource_shape(text: str) -> tuple[Pattern, int, str]:
    """A resource pattern and its shape: any, exact text, a prefix, or general (cached)."""
    pattern = parse_pattern(text)
    pieces = pattern.pieces
    if pieces == ("", ""):
        return pattern, ANY, ""
    if len(pieces) == 1:
        return pattern, EXACT, pieces[0]
    if len(pieces) == 2 and pieces[1] == "":
        return pattern, PREFIX, pieces[0]
    return pattern, GENERAL, ""


class Rule:
    """One compiled allow or deny rule.

    It keeps what deciding and explaining need, not the parsed :class:`Capability`
    (pydantic models cost about as much memory as the whole index): the
    :attr:`capability` property rebuilds that on demand, for views.
    """

    __slots__ = (
        "_extra",
        "action",
        "approve",
        "conditions",
        "decision",
        "description",
        "id",
        "kind",
        "order",
        "plain",
        "res_mode",
        "res_text",
        "resource",
        "schedule",
        "validity",
    )

    def __init__(self, capability: Capability, rule_id: str, kind: RuleKind, order: int) -> None:
        self.description = capability.description
        self.id = rule_id
        self.kind = kind
        self.order = order
        self.action: Pattern = parse_pattern(capability.action)
        self.resource: Pattern
        self.resource, self.res_mode, self.res_text = _resource_shape(capability.resource)
        when, schedule, valid = capability.when, capability.schedule, capability.valid
        self.conditions: tuple[CompiledCondition, ...] = (
            tuple(compile_condition(c) for c in when) if when else ()
        )
        self.schedule = CompiledSchedule.of(schedule) if schedule else None
        self.validity = CompiledValidity.of(valid) if valid else None
        self.plain = not (when or schedule or valid)
        limit = capability.rate_limit_per_minute
        #: the source parts that are not compiled elsewhere (rare: kept only when present)
        self._extra = None if self.plain and limit is None else (schedule, valid, limit)
        self.approve = capability.approve if kind == RuleKind.ALLOW else None
        self.decision: Decision | None = None
        if self.approve is not None:
            self.decision = Decision(False, rule_id, None, (approval_reason(self),))
        elif kind == RuleKind.ALLOW:
            self.decision = Decision(True, rule_id, None, ())

    @property
    def capability(self) -> Capability:
        """The rule as a charter capability again (rebuilt on demand: views, not decisions)."""
        schedule, valid, limit = self._extra if self._extra is not None else (None, None, None)
        return Capability.model_construct(
            action=self.action.text,
            resource=self.resource.text,
            when=[c.condition for c in self.conditions],
            schedule=schedule,
            valid=valid,
            rate_limit_per_minute=limit,
            description=self.description,
            approve=self.approve,
        )

    def __repr__(self) -> str:
        return f"Rule({self.id}: {self.action.text} on {self.resource.text})"

    def resource_matches(self, resource: str) -> bool:
        mode = self.res_mode
        if mode == ANY:
            return True
        if mode == EXACT:
            return resource == self.res_text
        if mode == PREFIX:
            return resource.startswith(self.res_text)
        return self.resource.matches(resource)

    def gates_hold(self, now_us: int) -> bool:
        """Schedule and validity window (both always evaluable)."""
        if self.validity is not None and not self.validity.holds(now_us):
            return False
        return self.schedule is None or self.schedule.holds(now_us)

    def condition_results(self, context: Mapping[str, Any]) -> list[Tri]:
        return [condition.test(context) for condition in self.conditions]

    def allow_holds(self, context: Mapping[str, Any], now_us: int) -> bool:
        """Schedule, validity and every condition true (the resource already matched)."""
        if not self.gates_hold(now_us):
            return False
        return all(condition.test(context) is True for condition in self.conditions)

    def deny_holds(self, context: Mapping[str, Any], now_us: int) -> bool:
        """Schedule and validity hold and no condition is false (unknown counts as met)."""
        if not self.gates_hold(now_us):
            return False
        return all(condition.test(context) is not False for condition in self.conditions)

    def applies_as_allow(self, resource: str, context: Mapping[str, Any], now_us: int) -> bool:
        if not self.resource_matches(resource):
            return False
        if self.plain:
            return True
        if not self.gates_hold(now_us):
            return False
        return all(condition.test(context) is True for condition in self.conditions)

    def applies_as_deny(self, resource: str, context: Mapping[str, Any], now_us: int) -> bool:
        """A deny applies unless something rules it out: unknown conditions count as met."""
        if not self.resource_matches(resource):
            return False
        if self.plain:
            return True
        if not self.gates_hold(now_us):
            return False
        return all(condition.test(context) is not False for condition in self.conditions)


def approval_reason(rule: Rule) -> Reason:
    """Why a call an approval rule covers is not allowed yet (the rule's own decision)."""
    approve = rule.approve
    assert approve is not None
    who = "the agent's owner" if approve.by == "owner" else f"a member of role {approve.by[5:]!r}"
    return Reason(
        ReasonCode.APPROVAL_REQUIRED,
        f"{rule.id} allows {rule.action.text} on {rule.resource.text} only once {who} "
        f"approves this exact call (approvals last {format_duration(approve.ttl)})",
        rule.id,
    )


def _order(rule: Rule) -> int:
    return rule.order


class RuleIndex:
    """Rules of one kind, found by action without scanning (see the module docstring).

    Wildcard action patterns are bucketed by a segment they spell out: the first
    segment when their literal head ends one (``zendesk.*.export`` → ``zendesk``),
    else the last segment when their literal tail starts one (``*.read`` → ``read``);
    only patterns with neither (``*``, ``t*s.read``) are tried for every action.
    A lookup tries one bucket of each kind, so a miss costs a few matches, not one
    per rule; results are memoised (bounded).
    """

    __slots__ = ("by_action", "by_first", "by_last", "memo", "rules", "unbucketed", "wild")

    def __init__(self, rules: Iterable[Rule]) -> None:
        ordered = tuple(rules)
        if any(a.order > b.order for a, b in itertools.pairwise(ordered)):
            ordered = tuple(sorted(ordered, key=_order))
        self.rules: tuple[Rule, ...] = ordered
        self.wild: tuple[Rule, ...] = tuple(r for r in self.rules if not r.action.is_exact)
        by_first: dict[str, list[Rule]] = {}
        by_last: dict[str, list[Rule]] = {}
        unbucketed: list[Rule] = []
        for rule in self.wild:
            head, tail = rule.action.pieces[0], rule.action.pieces[-1]
            if "." in head:
                by_first.setdefault(head.split(".", 1)[0], []).append(rule)
            elif "." in tail:
                by_last.setdefault(tail.rsplit(".", 1)[1], []).append(rule)
            else:
                unbucketed.append(rule)
        self.by_first = {k: tuple(v) for k, v in by_first.items()}
        self.by_last = {k: tuple(v) for k, v in by_last.items()}
        self.unbucketed = tuple(unbucketed)
        exact: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.action.is_exact:
                exact.setdefault(rule.action.pieces[0], []).append(rule)
        if self.wild:
            self.by_action: dict[str, tuple[Rule, ...]] = {}
            for action, named in exact.items():
                wild = self._wild_matching(action)
                merged = [*named, *wild]
                if wild:
                    merged.sort(key=_order)
                self.by_action[action] = tuple(merged)
        else:
            self.by_action = {action: tuple(named) for action, named in exact.items()}
        self.memo: dict[str, tuple[Rule, ...]] = {}

    def __len__(self) -> int:
        return len(self.rules)

    def _wild_matching(self, action: str) -> list[Rule]:
        wild = self.wild
        if len(wild) <= SCAN_BELOW:  # a handful of rules: trying them all is cheapest
            return [r for r in wild if r.action.matches(action)]
        first = self.by_first.get(action.partition(".")[0], ())
        last = self.by_last.get(action.rpartition(".")[2], ())
        found = [
            r for group in (first, last, self.unbucketed) for r in group if r.action.matches(action)
        ]
        if len(found) > 1:
            found.sort(key=_order)
        return found

    def lookup(self, action: str) -> tuple[Rule, ...]:
        """Like :meth:`candidates`, without the memo (for callers that memoise themselves)."""
        found = self.by_action.get(action)
        if found is not None:
            return found
        return tuple(self._wild_matching(action)) if self.wild else ()

    def candidates(self, action: str) -> tuple[Rule, ...]:
        """Every rule whose action pattern matches ``action``, in rule order."""
        found = self.by_action.get(action)
        if found is not None:
            return found
        if not self.wild:
            return ()
        found = self.memo.get(action)
        if found is None:
            found = tuple(self._wild_matching(action))
            if len(self.memo) >= MEMO_LIMIT:
                self.memo.clear()
            self.memo[action] = found
        return found


EMPTY_INDEX = RuleIndex(())


def first_deny(
    rules: tuple[Rule, ...], resource: str, context: Mapping[str, Any], now_us: int
) -> Rule | None:
    """The first deny rule (of rules already matched on action) that applies.

    Resource matching is inlined: this loop is the hot path of every decision.
    """
    for rule in rules:
        mode = rule.res_mode
        if mode == EXACT:
            if resource != rule.res_text:
                continue
        elif mode == PREFIX:
            if not resource.startswith(rule.res_text):
                continue
        elif mode == GENERAL and not rule.resource.matches(resource):
            continue
        if rule.plain or rule.deny_holds(context, now_us):
            return rule
    return None


def first_allow(
    rules: tuple[Rule, ...], resource: str, context: Mapping[str, Any], now_us: int
) -> Rule | None:
    """The first allow rule (of rules already matched on action) that applies; a rule that
    asks for approval only when no rule that does not applies (allows are a union)."""
    held: Rule | None = None
    for rule in rules:
        mode = rule.res_mode
        if mode == EXACT:
            if resource != rule.res_text:
                continue
        elif mode == PREFIX:
            if not resource.startswith(rule.res_text):
                continue
        elif mode == GENERAL and not rule.resource.matches(resource):
            continue
        if rule.plain or rule.allow_holds(context, now_us):
            if rule.approve is None:
                return rule
            if held is None:
                held = rule
    return held


#: what :func:`scan_allows` returns when a rule's resource matched but the rule did not hold
MATCHED_ONLY = True


def scan_allows(
    rules: tuple[Rule, ...], resource: str, context: Mapping[str, Any], now_us: int
) -> Rule | bool:
    """:func:`first_allow` that also says, in the same pass, whether any rule's resource
    matched: the applying rule, else :data:`MATCHED_ONLY` (a rule matched but did not
    hold: its conditions need explaining), else ``False`` (no rule covers the resource)."""
    matched = False
    held: Rule | None = None
    for rule in rules:
        mode = rule.res_mode
        if mode == EXACT:
            if resource != rule.res_text:
                continue
        elif mode == PREFIX:
            if not resource.startswith(rule.res_text):
                continue
        elif mode == GENERAL and not rule.resource.matches(resource):
            continue
        if rule.plain or rule.allow_holds(context, now_us):
            if rule.approve is None:
                return rule
            if held is None:
                held = rule
            continue
        matched = True
    return held if held is not None else matched


Pair = tuple[tuple[Rule, ...], tuple[Rule, ...]]


class ActionIndex:
    """An agent's deny and allow rules for an action, in one lookup (the fast path's index)."""

    __slots__ = ("allows", "by_action", "denies", "memo")

    def __init__(self, allows: RuleIndex, denies: RuleIndex) -> None:
        self.allows = allows
        self.denies = denies
        named = set(allows.by_action) | set(denies.by_action)
        self.by_action: dict[str, Pair] = {
            action: (denies.lookup(action), allows.lookup(action)) for action in named
        }
        self.memo: dict[str, Pair] = {}

    def get(self, action: str) -> Pair:
        found = self.by_action.get(action)
        if found is None:
            found = self.memo.get(action)
            if found is None:
                found = (self.denies.lookup(action), self.allows.lookup(action))
                if len(self.memo) >= AGENT_MEMO_LIMIT:  # one per agent: keep each small
                    self.memo.clear()
                self.memo[action] = found
        return found


EMPTY_ACTIONS = ActionIndex(EMPTY_INDEX, EMPTY_INDEX)
