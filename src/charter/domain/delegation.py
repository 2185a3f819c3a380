"""Delegation: what an agent may do on behalf of a person (charter ∩ the person's roles).

Pure functions, shared by the decision engine and the token service (RFC 8693
token exchange with ``act``: a token an agent obtains for a person must never
carry more than this).

The rule (DESIGN, job 4): an agent acting for a person is allowed a request
only if

1. its charter permits delegation from that person — ``delegation.allowed`` is
   true and the person belongs to one of ``delegation.groups`` (an empty
   ``groups`` list means any person in the directory);
2. the person is in the directory and active — a departed delegator gives nothing;
3. its charter allows the request, **and** the person's roles allow it too.

An agent never gains what its delegator has and its charter lacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from charter.domain.charter import Capability, CharterSpec, Delegation
from charter.domain.decision import ReasonCode
from charter.domain.patterns import Pattern, covers, parse_pattern
from charter.domain.people import Person
from charter.domain.roles import RolesFile


def delegation_refusal(delegation: Delegation, person: Person | None) -> ReasonCode | None:
    """Why ``person`` cannot delegate to an agent with this ``delegation`` block, or ``None``.

    Checks the charter and the person's standing only, not the request: see
    :func:`delegable_capabilities` for what may actually be delegated.
    """
    if person is None:
        return ReasonCode.UNKNOWN_DELEGATOR
    if not person.is_active:
        return ReasonCode.DELEGATOR_DEPARTED
    if not delegation_permits_groups(delegation, person.groups):
        return ReasonCode.DELEGATION_NOT_ALLOWED
    return None


def delegation_permits_groups(delegation: Delegation, groups: tuple[str, ...]) -> bool:
    """The charter half of rule 1: delegation allowed, from one of these groups."""
    if not delegation.allowed:
        return False
    return not delegation.groups or any(group in delegation.groups for group in groups)


@dataclass(frozen=True, slots=True)
class DelegatedGrant:
    """One thing an agent may do for a person: the narrower of a charter rule and a role rule.

    ``action`` and ``resource`` are patterns; ``conditional`` says that the
    charter rule or the role rule carries conditions, a schedule or a validity
    window, which are checked at decision time (a token scoped to this grant is
    still subject to every decision).
    """

    action: str
    resource: str
    charter_rule: str
    role_rule: str
    conditional: bool


@dataclass(frozen=True, slots=True)
class DelegableAccess:
    """The answer to "what may this agent do for this person?"."""

    permitted: bool
    refusal: ReasonCode | None
    grants: tuple[DelegatedGrant, ...] = ()

    @property
    def actions(self) -> list[str]:
        """The distinct action patterns, sorted (what a token's scope would list)."""
        return sorted({grant.action for grant in self.grants})


def _narrower(first: Pattern, second: Pattern) -> Pattern | None:
    if covers(first, second):
        return second
    if covers(second, first):
        return first
    return None


def _conditional(capability: Capability) -> bool:
    return bool(capability.when or capability.schedule or capability.valid)


def delegable_capabilities(
    charter: CharterSpec, person: Person | None, roles: RolesFile
) -> DelegableAccess:
    """What ``charter``'s agent may do on behalf of ``person``: charter ∩ the person's roles.

    For every pair (charter allow rule, role rule of one of the person's groups)
    whose action patterns and resource patterns each nest (one covers the
    other), the narrower pattern of each is a grant. Pairs whose patterns
    overlap without nesting are left out: the intersection of two ``*``
    patterns is not always a pattern, and leaving it out can only give less.
    Grants wholly inside an unconditional charter ``deny`` rule are dropped.
    Conditions are not evaluated here (they need a request); grants that carry
    them are marked ``conditional``.
    """
    refusal = delegation_refusal(charter.delegation, person)
    if refusal is not None or person is None:
        return DelegableAccess(False, refusal)
    role_capabilities = roles.capabilities_for(person.groups)
    denied = [
        (parse_pattern(rule.action), parse_pattern(rule.resource))
        for rule in charter.deny
        if not _conditional(rule)
    ]
    grants: list[DelegatedGrant] = []
    seen: set[tuple[str, str]] = set()
    for index, allow in enumerate(charter.allow):
        allow_action, allow_resource = parse_pattern(allow.action), parse_pattern(allow.resource)
        for role_rule, role_capability in role_capabilities:
            action = _narrower(allow_action, parse_pattern(role_capability.action))
            resource = _narrower(allow_resource, parse_pattern(role_capability.resource))
            if action is None or resource is None:
                continue
            if any(covers(a, action) and covers(r, resource) for a, r in denied):
                continue
            key = (action.text, resource.text)
            if key in seen:
                continue
            seen.add(key)
            grants.append(
                DelegatedGrant(
                    action=action.text,
                    resource=resource.text,
                    charter_rule=f"charter/{charter.name}/allow/{index}",
                    role_rule=role_rule,
                    conditional=_conditional(allow) or _conditional(role_capability),
                )
            )
    return DelegableAccess(True, None, tuple(grants))
