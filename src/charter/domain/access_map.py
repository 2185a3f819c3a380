"""What an agent can do, by system: the view behind ``charter explain``.

Built from the compiled snapshot (the same rules decisions use), so it shows
what *is* enforced, not what a file once said: the agent's allow rules grouped
by the system their resource pattern names, the deny rules and organisation
rules that cut into them, and who may delegate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from charter.domain.compiled import NEVER_US, CompiledAgent, Rule, Snapshot
from charter.domain.conditions import from_epoch_micros
from charter.domain.patterns import Pattern

ANY_SYSTEM = "*"


def may_overlap(first: Pattern, second: Pattern) -> bool:
    """Whether two patterns can match one value (a quick necessary test: heads and tails agree)."""
    head_a, head_b = first.pieces[0], second.pieces[0]
    tail_a, tail_b = first.pieces[-1], second.pieces[-1]
    if first.is_exact and second.is_exact:
        return head_a == head_b
    if first.is_exact:
        return second.matches(head_a)
    if second.is_exact:
        return first.matches(head_b)
    heads = head_a.startswith(head_b) or head_b.startswith(head_a)
    tails = tail_a.endswith(tail_b) or tail_b.endswith(tail_a)
    return heads and tails


def rule_system(rule: Rule) -> str:
    """The system a rule's resource pattern is confined to, or ``*`` when it spans systems."""
    pieces = rule.resource.pieces
    head = pieces[0]
    system, colon, _ = head.partition(":")
    if colon:
        return system
    if len(pieces) == 1:  # exact resource without a colon: a system-wide name
        return head
    return ANY_SYSTEM


@dataclass(frozen=True, slots=True)
class RuleView:
    id: str
    effect: str
    action: str
    resource: str
    conditions: tuple[str, ...] = ()
    description: str | None = None
    #: calls a minute an enforcement point lets through under this allow rule (the gateway)
    rate_limit_per_minute: int | None = None

    @classmethod
    def of(cls, rule: Rule) -> RuleView:
        terms = [c.describe() for c in rule.conditions]
        if rule.schedule is not None:
            terms.append(f"schedule {rule.schedule.describe()}")
        if rule.validity is not None:
            terms.append(rule.validity.describe())
        return cls(
            rule.id,
            rule.kind.value,
            rule.action.text,
            rule.resource.text,
            tuple(terms),
            rule.description,
            rule.capability.rate_limit_per_minute,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "effect": self.effect,
            "action": self.action,
            "resource": self.resource,
        }
        if self.conditions:
            out["conditions"] = list(self.conditions)
        if self.description:
            out["description"] = self.description
        if self.rate_limit_per_minute is not None:
            out["rate_limit_per_minute"] = self.rate_limit_per_minute
        return out


@dataclass(frozen=True, slots=True)
class AccessMap:
    agent: str
    state: str
    owner: str
    charter_version: int
    expires: str | None
    can_be_allowed: bool
    systems: dict[str, list[RuleView]] = field(default_factory=dict)
    delegation: str = ""
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "state": self.state,
            "owner": self.owner,
            "charter_version": self.charter_version,
            "expires": self.expires,
            "can_be_allowed": self.can_be_allowed,
            "systems": {name: [r.to_dict() for r in rules] for name, rules in self.systems.items()},
            "delegation": self.delegation,
            "notes": list(self.notes),
        }


def _delegation_words(compiled: CompiledAgent) -> str:
    if not compiled.delegation.allowed:
        return "does not act on behalf of people"
    if compiled.delegation_groups is None:
        return "may act on behalf of any active person, within that person's roles"
    groups = ", ".join(sorted(compiled.delegation_groups))
    return f"may act on behalf of active members of {groups}, within their roles"


def access_map(snapshot: Snapshot, compiled: CompiledAgent, now_us: int) -> AccessMap:
    """Group an agent's rules, and the org rules that reach them, by system."""
    notes: list[str] = []
    expired = compiled.expires_us != NEVER_US and now_us >= compiled.expires_us
    expires = (
        from_epoch_micros(compiled.expires_us - 1).date().isoformat()
        if compiled.expires_us != NEVER_US
        else None
    )
    if not compiled.active:
        notes.append(f"the agent is {compiled.state.value}: every request is denied")
    if expired:
        notes.append(f"the charter expired after {expires}: every request is denied")
    systems: dict[str, list[RuleView]] = {}
    own = [*compiled.allows.rules, *compiled.denies.rules]
    for rule in own:
        systems.setdefault(rule_system(rule), []).append(RuleView.of(rule))
    allowed_in: dict[str, list[Rule]] = {}
    for rule in compiled.allows.rules:
        allowed_in.setdefault(rule_system(rule), []).append(rule)
    for rule in snapshot.org.rules:  # show an org rule where it can cut into an allow rule
        system = rule_system(rule)
        for name, allows in allowed_in.items():
            if (system in (ANY_SYSTEM, name) or name == ANY_SYSTEM) and any(
                may_overlap(rule.action, allow.action) for allow in allows
            ):
                systems[name].append(RuleView.of(rule))
    for rule in own:
        if rule.schedule is not None and rule.schedule.start == rule.schedule.end:
            notes.append(f"{rule.id} has an empty schedule window (start = end): it never applies")
    ordered = dict(sorted(systems.items(), key=lambda item: (item[0] == ANY_SYSTEM, item[0])))
    return AccessMap(
        agent=compiled.name,
        state=compiled.state.value,
        owner=compiled.owner,
        charter_version=compiled.charter_version,
        expires=expires,
        can_be_allowed=compiled.active and not expired and bool(compiled.allows.rules),
        systems=ordered,
        delegation=_delegation_words(compiled),
        notes=tuple(notes),
    )
