"""Does a new charter allow anything the old one did not? Decided on the compiled rules.

Separation of duties needs one question answered before a charter change on an
active agent is applied: is it *narrowing or equal* (apply at once) or does it
*widen* access (a proposal someone else approves)? The answer must never be
"narrowing" for a change that widens, so every test here is a sufficient
condition for containment and anything it cannot prove counts as widening:

* every new allow rule must be covered by one old allow rule: both patterns
  contain the new ones (:func:`charter.domain.patterns.covers`), and the old
  rule's gates are no stricter (its conditions a subset of the new rule's, the
  same schedule or none, a validity window that contains the new one, no rate
  limit or a higher one);
* every old deny rule must be kept by one new deny rule that is at least as
  broad in the same sense, unless no new allow rule can possibly overlap it
  (patterns provably disjoint);
* the charter expires no later, delegation accepts no new group and no longer
  chain, and the credential limits are no looser.

Unions are not reasoned about (two old rules that together cover a new one still
count as widening): the check is conservative, not complete.

The same check proves *narrowing* for sub-agents (a charter that names a
``parent`` must be contained in the parent's) and for each hop of a token
exchange chain: :func:`containment` runs it with the parent as "old" and the
child as "new", and for each way the child may allow more it looks for a
:class:`Counterexample` — a concrete request (action, resource, context, moment)
that the real engine, org policy included, allows (or holds for approval) for the
child and denies the parent. A counterexample is only ever reported when the engine
confirms it; a widening without one is refused all the same (conservative).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from charter.domain.agent import Agent
from charter.domain.charter import Capability, CharterSpec, Validity
from charter.domain.compiled import CompiledAgent, Snapshot, compile_agent
from charter.domain.conditions import from_epoch_micros
from charter.domain.decision import Decision
from charter.domain.enums import AgentState
from charter.domain.evaluation import evaluate
from charter.domain.org_policy import EMPTY_ORG_POLICY, OrgPolicy
from charter.domain.patterns import Pattern, covers, parse_pattern
from charter.domain.rule_index import Rule
from charter.domain.witnesses import (
    context_samples,
    deny_breakers,
    moment_samples,
    pattern_samples,
    with_values,
)

__all__ = [
    "Counterexample",
    "Widening",
    "access_level",
    "charter_widenings",
    "containment",
    "hop_widenings",
    "is_narrowing_or_equal",
    "may_overlap",
    "refusal_message",
    "widenings",
]


@dataclass(frozen=True, slots=True)
class Counterexample:
    """A request the child would be allowed (or may have approved) and the parent is denied."""

    agent: str
    action: str
    resource: str
    context: dict[str, Any]
    at: dt.datetime
    child: str  # the child's decision, in words
    parent: str  # the parent's

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "action": self.action,
            "resource": self.resource,
            "context": self.context,
            "at": self.at.isoformat(),
            "child": self.child,
            "parent": self.parent,
        }

    def describe(self) -> str:
        context = json.dumps(self.context, sort_keys=True) if self.context else "{}"
        return (
            f"{self.agent} {self.action} on {self.resource} with context {context} at "
            f"{self.at:%Y-%m-%dT%H:%M:%SZ}: {self.child}, but the parent is {self.parent}"
        )


@dataclass(frozen=True, slots=True)
class Widening:
    """One way the new version allows more than the old, in words a reviewer reads."""

    kind: str  # allow | deny | expiry | delegation | credentials
    message: str
    rule: str | None = None
    example: Counterexample | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "rule": self.rule, "message": self.message}
        if self.example is not None:
            out["counterexample"] = self.example.to_dict()
        return out


def may_overlap(a: Pattern, b: Pattern) -> bool:
    """False only when no value can match both patterns (a proof); True when unsure."""
    if a.is_exact and b.is_exact:
        return a.pieces[0] == b.pieces[0]
    if a.is_exact:
        return b.matches(a.pieces[0])
    if b.is_exact:
        return a.matches(b.pieces[0])
    head_a, head_b = a.pieces[0], b.pieces[0]
    if not (head_a.startswith(head_b) or head_b.startswith(head_a)):
        return False
    tail_a, tail_b = a.pieces[-1], b.pieces[-1]
    return tail_a.endswith(tail_b) or tail_b.endswith(tail_a)


def _conditions(capability: Capability) -> frozenset[str]:
    return frozenset(json.dumps(c.model_dump(mode="json"), sort_keys=True) for c in capability.when)


def _window(valid: Validity | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    return (valid.from_, valid.until) if valid is not None else (None, None)


def _window_contains(outer: Validity | None, inner: Validity | None) -> bool:
    outer_from, outer_until = _window(outer)
    inner_from, inner_until = _window(inner)
    if outer_from is not None and (inner_from is None or inner_from < outer_from):
        return False
    return outer_until is None or (inner_until is not None and inner_until <= outer_until)


#: the most rule pairs compared in full; beyond it the change counts as widening (a charter
#: holds up to 1,000 rules of each kind: an answer must not cost minutes)
MAX_COMPARISONS = 200_000


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the comparison needs from one rule, computed once."""

    rule: Rule
    capability: Capability
    conditions: frozenset[str]
    key: str  # the rule as text: equal keys allow (or deny) exactly the same

    @classmethod
    def of(cls, rule: Rule) -> _Facts:
        capability = rule.capability
        gates = {
            "when": sorted(_conditions(capability)),
            "schedule": capability.schedule.model_dump(mode="json")
            if capability.schedule
            else None,
            "valid": [str(v) for v in _window(capability.valid)],
            "limit": capability.rate_limit_per_minute,
            "approve": capability.approve.model_dump(mode="json") if capability.approve else None,
        }
        key = json.dumps([rule.action.text, rule.resource.text, gates], sort_keys=True)
        return cls(rule, capability, _conditions(capability), key)


def _approval_no_stricter(outer: Capability, inner: Capability) -> bool:
    """An allow that needs approval is covered only by one that needs the same, sooner."""
    if outer.approve is None:
        return True
    approve = inner.approve
    return (
        approve is not None and approve.by == outer.approve.by and approve.ttl <= outer.approve.ttl
    )


def _gates_no_stricter(outer: _Facts, inner: _Facts) -> bool:
    """Whenever ``inner``'s conditions, schedule and window hold, so do ``outer``'s."""
    if not outer.conditions <= inner.conditions:
        return False
    schedule = outer.capability.schedule
    if schedule is not None and schedule != inner.capability.schedule:
        return False
    return _window_contains(outer.capability.valid, inner.capability.valid)


def _may_cover(outer: Pattern, inner: Pattern) -> bool:
    """A necessary condition for ``covers(outer, inner)``, in two string tests."""
    return inner.pieces[0].startswith(outer.pieces[0]) and inner.pieces[-1].endswith(
        outer.pieces[-1]
    )


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _patterns_cover(outer: Rule, inner: Rule, budget: _Budget) -> bool:
    if not (_may_cover(outer.action, inner.action) and _may_cover(outer.resource, inner.resource)):
        return False
    if not budget.spend():
        return False  # unsure: not covered
    return covers(outer.action, inner.action) and covers(outer.resource, inner.resource)


def _allow_covered(old: _Facts, new: _Facts, budget: _Budget) -> bool:
    if not _patterns_cover(old.rule, new.rule, budget):
        return False
    old_limit = old.capability.rate_limit_per_minute
    new_limit = new.capability.rate_limit_per_minute
    if old_limit is not None and (new_limit is None or new_limit > old_limit):
        return False
    if not _approval_no_stricter(old.capability, new.capability):
        return False
    return _gates_no_stricter(old, new)


def _deny_kept(new: _Facts, old: _Facts, budget: _Budget) -> bool:
    """``new`` denies everything ``old`` denied (a deny applies unless a condition is false)."""
    return _patterns_cover(new.rule, old.rule, budget) and _gates_no_stricter(new, old)


def _describe(rule: Rule) -> str:
    capability = rule.capability
    gates = []
    if capability.when:
        gates.append("when " + " and ".join(c.describe() for c in rule.conditions))
    if capability.schedule is not None:
        gates.append("on a schedule")
    if capability.valid is not None:
        gates.append("in a validity window")
    if capability.rate_limit_per_minute is not None:
        gates.append(f"at most {capability.rate_limit_per_minute}/min")
    suffix = f" ({'; '.join(gates)})" if gates else ""
    return f"{rule.action.text} on {rule.resource.text}{suffix}"


def _short_id(rule: Rule) -> str:
    """``charter/NAME/allow/3`` → ``allow[3]``: the position in the charter file."""
    parts = rule.id.rsplit("/", 2)
    return f"{parts[-2]}[{parts[-1]}]" if len(parts) == 3 else rule.id


def _rule_widenings(old: CompiledAgent, new: CompiledAgent) -> list[Widening]:
    budget = _Budget(MAX_COMPARISONS)
    old_allows = [_Facts.of(r) for r in old.allows.rules]
    new_allows = [_Facts.of(r) for r in new.allows.rules]
    new_denies = [_Facts.of(r) for r in new.denies.rules]
    kept_allows = {f.key for f in old_allows}
    kept_denies = {f.key for f in new_denies}
    found: list[Widening] = []
    for facts in new_allows:
        if facts.key in kept_allows or any(_allow_covered(o, facts, budget) for o in old_allows):
            continue
        message = f"allows {_describe(facts.rule)}, which no old rule allowed"
        found.append(Widening("allow", message, _short_id(facts.rule)))
    for rule in old.denies.rules:
        facts = _Facts.of(rule)
        if facts.key in kept_denies or any(_deny_kept(d, facts, budget) for d in new_denies):
            continue
        if any(
            may_overlap(a.action, rule.action) and may_overlap(a.resource, rule.resource)
            for a in new.allows.rules
        ):
            found.append(Widening("deny", f"no longer denies {_describe(rule)}", _short_id(rule)))
    if budget.left < 0:
        found.append(Widening("allow", "too many rules to compare in full: counted as widening"))
    return found


def _day(expires_us: int) -> str:
    moment = dt.datetime.fromtimestamp(expires_us / 1e6, dt.UTC) - dt.timedelta(days=1)
    return moment.date().isoformat()


def widenings(old: CompiledAgent, new: CompiledAgent) -> list[Widening]:
    """What ``new`` may allow beyond ``old`` (empty: narrowing or equal).
    Both compiled as active.
    """
    found = _rule_widenings(old, new)
    if new.expires_us > old.expires_us:
        after = "never" if new.expires_us >= 2**63 else _day(new.expires_us)
        before = "never" if old.expires_us >= 2**63 else _day(old.expires_us)
        found.append(Widening("expiry", f"expires {after} instead of {before}"))
    old_groups, new_groups = old.delegation_groups, new.delegation_groups
    if new_groups is None and old_groups is not None:
        found.append(Widening("delegation", "accepts delegation from anyone"))
    elif new_groups is not None and old_groups is not None and new_groups - old_groups:
        added = ", ".join(sorted(new_groups - old_groups))
        found.append(Widening("delegation", f"accepts delegation from {added}"))
    if new.delegation.allowed and new.delegation.max_chain > old.delegation.max_chain:
        chains = f"{new.delegation.max_chain} instead of {old.delegation.max_chain}"
        found.append(Widening("delegation", f"accepts act chains of {chains}"))
    return found


def is_narrowing_or_equal(old: CompiledAgent, new: CompiledAgent) -> bool:
    return not widenings(old, new)


def _compiled(spec: CharterSpec) -> CompiledAgent:
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    agent = Agent(spec.name, spec.owner, AgentState.ACTIVE, spec, 0, moment, moment)
    return compile_agent(agent)


def charter_widenings(old: CharterSpec, new: CharterSpec) -> list[Widening]:
    """:func:`widenings` of two charter files, plus their credential limits."""
    found = widenings(_compiled(old), _compiled(new))
    before, after = old.credentials, new.credentials
    if after.max_token_lifetime > before.max_token_lifetime:
        lifetimes = f"{after.max_token_lifetime} s instead of {before.max_token_lifetime} s"
        found.append(Widening("credentials", f"tokens live {lifetimes}"))
    if before.require_proof_of_possession and not after.require_proof_of_possession:
        found.append(Widening("credentials", "no longer requires proof of possession (DPoP)"))
    if after.rotate_every > before.rotate_every:
        periods = f"{after.rotate_every} s instead of {before.rotate_every} s"
        found.append(Widening("credentials", f"secrets rotate every {periods}"))
    return found


def access_level(decision: Decision) -> int:
    """2 allowed, 1 allowed once someone approves the call, 0 denied."""
    if decision.allowed:
        return 2
    return 1 if decision.needs_approval else 0


#: the most requests tried when looking for one counterexample
MAX_TRIES = 4000


def _words(decision: Decision) -> str:
    if decision.allowed:
        return f"allowed by {decision.rule}"
    if decision.needs_approval:
        return "allowed once approved"
    return "denied (" + ", ".join(decision.codes) + ")"


def _search(
    snapshot: Snapshot,
    parent: CompiledAgent,
    child: CompiledAgent,
    first: Rule | None,
    base: dt.datetime,
) -> Counterexample | None:
    """The first request the engine allows the child more than the parent, or ``None``."""
    rules = [r for r in child.allows.rules if r is not first]
    if first is not None:
        rules.insert(0, first)
    denies = list(parent.denies.rules)
    edges = [parent.expires_us] if parent.expires_us < child.expires_us else []
    moments = moment_samples([*rules, *parent.allows.rules, *denies], base, edges)
    own = deny_breakers(child.denies.rules)
    every = {**deny_breakers(denies), **own}
    tries = MAX_TRIES
    for rule in rules:
        actions = pattern_samples(rule.action)
        resources = pattern_samples(rule.resource)
        for deny in denies:  # where the parent's denies bite, the child's allows may not
            actions += [a for a in pattern_samples(deny.action) if rule.action.matches(a)]
            resources += [r for r in pattern_samples(deny.resource) if rule.resource.matches(r)]
        for action in dict.fromkeys(actions):
            for resource in dict.fromkeys(resources):
                samples = context_samples(rule)
                variants = [
                    c
                    for base_context in samples
                    for c in (
                        base_context,
                        with_values(base_context, own),
                        with_values(base_context, every),
                    )
                ]
                for context in [c for i, c in enumerate(variants) if c not in variants[:i]]:
                    for now_us in moments:
                        tries -= 1
                        if tries < 0:
                            return None
                        mine = evaluate(
                            snapshot, child.name, action, resource, context, None, now_us
                        )
                        level = access_level(mine)
                        if level == 0:
                            continue
                        theirs = evaluate(
                            snapshot, parent.name, action, resource, context, None, now_us
                        )
                        if access_level(theirs) < level:
                            return Counterexample(
                                child.name,
                                action,
                                resource,
                                context,
                                from_epoch_micros(now_us),
                                _words(mine),
                                _words(theirs),
                            )
    return None


def containment(
    parent: CharterSpec,
    child: CharterSpec,
    org_policy: OrgPolicy = EMPTY_ORG_POLICY,
    *,
    at: dt.datetime | None = None,
) -> list[Widening]:
    """How ``child`` may allow more than ``parent`` (empty: contained), each allow, deny and
    expiry widening with a counterexample when the engine confirms one (see the module doc).

    The org policy is the same for both, so it cannot make a child contained that is not;
    it only rules candidates out (a request it denies is no counterexample).
    """
    if parent.name == child.name:
        child = child.model_copy(update={"name": f"{child.name}-child"})
    found = charter_widenings(parent, child)
    if not found:
        return []
    compiled_parent = _compiled(parent)
    compiled_child = _compiled(child)
    snapshot = Snapshot({parent.name: compiled_parent, child.name: compiled_child}, {}, org_policy)
    base = at or dt.datetime.now(dt.UTC)
    by_id = {_short_id(r): r for r in compiled_child.allows.rules}
    out: list[Widening] = []
    for widening in found:
        if widening.kind in ("allow", "deny", "expiry"):
            first = by_id.get(widening.rule or "") if widening.kind == "allow" else None
            example = _search(snapshot, compiled_parent, compiled_child, first, base)
            if example is not None:
                widening = Widening(widening.kind, widening.message, widening.rule, example)
        out.append(widening)
    return out


def first_counterexample(widenings_found: list[Widening]) -> Counterexample | None:
    return next((w.example for w in widenings_found if w.example is not None), None)


def refusal_message(child: str, parent: str, found: list[Widening]) -> str:
    """One line: the first widening, and the counterexample that proves it if there is one."""
    example = first_counterexample(found)
    first = found[0].message.replace("which no old rule allowed", "which no rule of it allows")
    first = first.replace("no longer denies", "does not deny what it denies:")
    text = f"{child} is not contained in {parent}: {first}"
    if len(found) > 1:
        text += f" (and {len(found) - 1} more)"
    if example is not None:
        return f"{text}; counterexample: {example.describe()}"
    return f"{text}; no single request shows it, but containment cannot be proven (refused)"


def _literal(action: str) -> str:
    return action.replace("\\", "\\\\").replace("*", "\\*")


def hop_widenings(
    earlier: CharterSpec, agent: CharterSpec, scopes: Iterable[str], *, at: dt.datetime
) -> list[Widening]:
    """One hop of a delegation chain: how ``agent``'s charter, restricted to the token's
    ``scopes``, allows more than the ``earlier`` agent's (allow and deny rules only: the
    token's lifetime and chain are capped by the exchange itself)."""
    wanted = sorted(set(scopes))
    allow = [
        rule.model_copy(update={"action": _literal(scope)})
        for rule in agent.allow
        for scope in wanted
        if parse_pattern(rule.action).matches(scope)
    ]
    restricted = agent.model_copy(update={"allow": allow})
    return [w for w in containment(earlier, restricted, at=at) if w.kind in ("allow", "deny")]
