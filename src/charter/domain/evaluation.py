"""The decision function: ``evaluate(snapshot, agent, action, resource, ...) -> Decision``.

Pure: no I/O, no clock unless none is given. The rules, in full:

1. Default deny. A request is allowed only when nothing below denies it *and*
   an allow rule of the agent's charter applies.
2. Only an ``active`` agent whose charter has not expired can be allowed anything.
3. Deny wins: a matching org policy rule or charter deny rule denies, whatever
   allows. A deny rule whose condition cannot be evaluated applies.
4. An allow rule applies when its action and resource patterns match, its
   schedule and validity window hold, and every condition is true.
5. On behalf of a person: the charter must accept delegation from the person's
   groups, the person must be in the directory and active, and one of the
   person's roles must allow the request too (charter ∩ person).
6. Any exception while deciding is a deny with ``evaluation_error``, logged.

Two paths share these rules: a fast path that only looks for the allowing rule
(and gives up at the first sign of a deny), and :func:`explain`, which
collects *every* reason a request is denied. A request the fast path cannot
allow is always re-decided by :func:`explain`, so the answer is the explained one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from charter.domain.compiled import NEVER_US, CompiledAgent, Rule, Snapshot
from charter.domain.conditions import (
    KIND_NAMES,
    MISSING,
    WEEKDAYS,
    from_epoch_micros,
    local_clock,
    lookup,
    scalar,
)
from charter.domain.decision import EMPTY_CONTEXT, Decision, Reason, ReasonCode, deny

logger = logging.getLogger("charter.decisions")

MAX_ACTION_LENGTH = 256
MAX_RESOURCE_LENGTH = 2048
MAX_PRINCIPAL_LENGTH = 320


def evaluate(
    snapshot: Snapshot,
    agent: str,
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
    on_behalf_of: str | None = None,
    now_us: int | None = None,
) -> Decision:
    """Decide one request. Never raises: a failure is a deny with ``evaluation_error``."""
    try:
        if now_us is None:
            now_us = time.time_ns() // 1000
        if context is None:
            context = EMPTY_CONTEXT
        decision = _fast(snapshot, agent, action, resource, context, on_behalf_of, now_us)
        if decision is not None:
            return decision
        return explain(snapshot, agent, action, resource, context, on_behalf_of, now_us)
    except Exception as exc:
        logger.exception(
            "decision failed for agent=%r action=%r resource=%r", agent, action, resource
        )
        return deny(
            ReasonCode.EVALUATION_ERROR,
            f"the decision could not be evaluated ({type(exc).__name__}); denied",
        )


def _fast(
    snapshot: Snapshot,
    agent: str,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    on_behalf_of: str | None,
    now_us: int,
) -> Decision | None:
    """The allowing decision, or ``None`` when anything (even a possible deny) needs a closer look."""
    compiled = snapshot.agents.get(agent)
    if (
        compiled is None
        or now_us >= compiled.expires_us
        or not compiled.allows.rules
        or type(action) is not str
        or type(resource) is not str
        or type(context) is not dict
        or len(action) > MAX_ACTION_LENGTH
        or len(resource) > MAX_RESOURCE_LENGTH
    ):
        return None
    for rule in snapshot.org.candidates(action):
        if rule.applies_as_deny(resource, context, now_us):
            return None
    for rule in compiled.denies.candidates(action):
        if rule.applies_as_deny(resource, context, now_us):
            return None
    if on_behalf_of is None:
        for rule in compiled.allows.candidates(action):
            if rule.applies_as_allow(resource, context, now_us):
                return rule.decision
        return None
    if type(on_behalf_of) is not str:
        return None
    person = snapshot.people.get(on_behalf_of.lower())
    if person is None or not person.active or not compiled.delegates_from(person.groups):
        return None
    role = None
    for rule in snapshot.access(person.groups).candidates(action):
        if rule.applies_as_allow(resource, context, now_us):
            role = rule
            break
    if role is None:
        return None
    for rule in compiled.allows.candidates(action):
        if rule.applies_as_allow(resource, context, now_us):
            return snapshot.delegated_decision(rule, role)
    return None


def _invalid(agent: Any, action: Any, resource: Any, context: Any, on_behalf_of: Any) -> str | None:
    if not isinstance(agent, str) or not agent or len(agent) > MAX_PRINCIPAL_LENGTH:
        return "the agent must be a name of 1 to 320 characters"
    if not isinstance(action, str) or not action or len(action) > MAX_ACTION_LENGTH:
        return f"the action must be a name of 1 to {MAX_ACTION_LENGTH} characters"
    if not isinstance(resource, str) or not resource or len(resource) > MAX_RESOURCE_LENGTH:
        return f"the resource must be 'system:path', 1 to {MAX_RESOURCE_LENGTH} characters"
    if not isinstance(context, Mapping):
        return "the context must be an object"
    if on_behalf_of is not None and (
        not isinstance(on_behalf_of, str)
        or not on_behalf_of
        or len(on_behalf_of) > MAX_PRINCIPAL_LENGTH
    ):
        return "on_behalf_of must be an e-mail address"
    return None


def _describe_value(context: Mapping[str, Any], parts: tuple[str, ...]) -> str:
    raw = lookup(context, parts)
    name = ".".join(parts)
    if raw is MISSING:
        return f"{name} is missing from the context"
    value = scalar(raw)
    if value is None:
        return f"{name} is {type(raw).__name__}, which conditions cannot compare"
    return f"{name} is {raw!r} ({KIND_NAMES[value[0]]})"


def _why_not(rule: Rule, context: Mapping[str, Any], now_us: int) -> list[Reason]:
    """Why an allow rule whose action and resource match does not apply."""
    reasons: list[Reason] = []
    if rule.validity is not None and not rule.validity.holds(now_us):
        reasons.append(
            Reason(
                ReasonCode.OUTSIDE_VALIDITY,
                f"{rule.id} is {rule.validity.describe()}; it is {from_epoch_micros(now_us).isoformat()}",
                rule.id,
            )
        )
    if rule.schedule is not None and not rule.schedule.holds(now_us):
        weekday, minute = local_clock(rule.schedule.zone, now_us)
        reasons.append(
            Reason(
                ReasonCode.OUTSIDE_SCHEDULE,
                f"{rule.id} applies {rule.schedule.describe()}; it is "
                f"{WEEKDAYS[weekday].value} {minute // 60:02d}:{minute % 60:02d} there",
                rule.id,
            )
        )
    for condition in rule.conditions:
        if condition.test(context) is not True:
            reasons.append(
                Reason(
                    ReasonCode.CONDITION_FAILED,
                    f"{rule.id} requires {condition.describe()}; "
                    f"{_describe_value(context, condition.parts)}",
                    rule.id,
                    condition.attribute,
                )
            )
    return reasons


def _agent_reasons(compiled: CompiledAgent | None, agent: str, now_us: int) -> list[Reason]:
    if compiled is None:
        return [Reason(ReasonCode.UNKNOWN_AGENT, f"no agent named {agent!r} is registered")]
    reasons = []
    if not compiled.active:
        reasons.append(
            Reason(
                ReasonCode.AGENT_NOT_ACTIVE,
                f"agent {agent!r} is {compiled.state.value}; only active agents are allowed anything",
            )
        )
    if compiled.expires_us != NEVER_US and now_us >= compiled.expires_us:
        last_day = from_epoch_micros(compiled.expires_us - 1).date()
        reasons.append(
            Reason(ReasonCode.CHARTER_EXPIRED, f"the charter of {agent!r} expired after {last_day}")
        )
    return reasons


def explain(
    snapshot: Snapshot,
    agent: str,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    on_behalf_of: str | None,
    now_us: int,
) -> Decision:
    """Decide with every reason: the slow path, taken for every request not plainly allowed."""
    problem = _invalid(agent, action, resource, context, on_behalf_of)
    if problem:
        return deny(ReasonCode.INVALID_REQUEST, problem)
    compiled = snapshot.agents.get(agent)
    reasons = _agent_reasons(compiled, agent, now_us)
    target = f"{action} on {resource}"
    for rule in snapshot.org.candidates(action):
        if rule.applies_as_deny(resource, context, now_us):
            description = rule.capability.description or "no description"
            reasons.append(
                Reason(
                    ReasonCode.ORG_POLICY_DENIED,
                    f"organisation policy {rule.id} forbids {target}: {description}",
                    rule.id,
                )
            )
    active = compiled is not None and compiled.active
    if compiled is not None:
        for rule in compiled.denies.candidates(action):
            if rule.applies_as_deny(resource, context, now_us):
                reasons.append(
                    Reason(
                        ReasonCode.EXPLICITLY_DENIED,
                        f"the charter of {agent!r} denies {rule.capability.action} on "
                        f"{rule.capability.resource} ({rule.id})",
                        rule.id,
                    )
                )
    role: Rule | None = None
    if on_behalf_of is not None:
        email = on_behalf_of.lower()
        person = snapshot.people.get(email)
        if person is None:
            reasons.append(Reason(ReasonCode.UNKNOWN_DELEGATOR, f"{email} is not in the directory"))
        elif not person.active:
            reasons.append(
                Reason(
                    ReasonCode.DELEGATOR_DEPARTED,
                    f"{email} has departed; a departed person delegates nothing",
                )
            )
        groups = person.groups if person is not None else ()
        if compiled is not None and active and not compiled.delegates_from(groups):
            delegation = compiled.delegation
            if not delegation.allowed:
                words = f"the charter of {agent!r} does not accept delegation"
            else:
                words = (
                    f"the charter of {agent!r} accepts delegation only from "
                    f"{', '.join(delegation.groups)}; {email} is in "
                    f"{', '.join(groups) or 'no group'}"
                )
            reasons.append(Reason(ReasonCode.DELEGATION_NOT_ALLOWED, words))
        for rule in snapshot.access(groups).candidates(action):
            if rule.applies_as_allow(resource, context, now_us):
                role = rule
                break
        if role is None:
            reasons.append(
                Reason(
                    ReasonCode.DELEGATOR_LACKS_ACCESS,
                    f"no role of {email} allows {target}; an agent never gets more than "
                    "the person it acts for",
                )
            )
    allow: Rule | None = None
    if active and compiled is not None:
        matched = [r for r in compiled.allows.candidates(action) if r.resource_matches(resource)]
        allow = next((r for r in matched if r.applies_as_allow(resource, context, now_us)), None)
        if not matched:
            reasons.append(
                Reason(
                    ReasonCode.NO_MATCHING_CAPABILITY,
                    f"no allow rule in the charter of {agent!r} covers {target}",
                )
            )
        elif allow is None:
            for rule in matched:
                reasons.extend(_why_not(rule, context, now_us))
    if not reasons and allow is not None:
        if role is not None:
            return snapshot.delegated_decision(allow, role)
        assert allow.decision is not None
        return allow.decision
    if not reasons:  # unreachable by construction; fail closed all the same
        reasons.append(Reason(ReasonCode.NO_MATCHING_CAPABILITY, f"nothing allows {target}"))
    unique: dict[tuple[str, str | None], Reason] = {}
    for reason in reasons:
        unique.setdefault((reason.id, reason.rule), reason)
    return Decision(False, reasons=tuple(unique.values()))
