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

from charter.domain.compiled import (
    CompiledAgent,
    Rule,
    Snapshot,
    first_allow,
    first_deny,
)
from charter.domain.conditions import (
    KIND_NAMES,
    MISSING,
    WEEKDAYS,
    from_epoch_micros,
    local_clock,
    lookup,
    scalar,
)
from charter.domain.decision import (
    EMPTY_CONTEXT,
    Decision,
    Reason,
    ReasonCode,
    deferred_deny,
    deny,
)
from charter.domain.rule_index import scan_allows

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
        if type(context) is dict:  # denied; the reasons are rendered when first read
            if context:  # as it is now: a caller may reuse its dictionary
                context = dict(context)
            return deferred_deny(
                [explain, snapshot, agent, action, resource, context, on_behalf_of, now_us]
            )
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
    """The decision when it allows (or needs an approval), else ``None``: denied.

    With a ``dict`` context, ``None`` is a deny whose reasons :func:`explain` renders
    when they are read (it says why); any other context goes to :func:`explain` at once.
    So ``None`` must mean "explain() would deny": every branch below that gives up does
    so only where explain() finds a reason (tests compare both on generated estates)."""
    compiled = snapshot.agents.get(agent)
    if (
        compiled is None
        or now_us >= compiled.expires_us
        or type(action) is not str
        or type(resource) is not str
        or type(context) is not dict
        or len(action) > MAX_ACTION_LENGTH
        or len(resource) > MAX_RESOURCE_LENGTH
        or not action
        or not resource
        or not compiled.active
    ):
        return None
    index = compiled.index
    pair = index.by_action.get(action) or index.get(action)
    denies, allows = pair
    org = snapshot.org
    org_rules = org.by_action.get(action)
    if org_rules is None:
        org_rules = org.memo.get(action)
        if org_rules is None:
            org_rules = org.candidates(action)
    if org_rules and first_deny(org_rules, resource, context, now_us) is not None:
        return None
    if denies and first_deny(denies, resource, context, now_us) is not None:
        return None
    if on_behalf_of is None:
        if allows:
            found = scan_allows(allows, resource, context, now_us)
            if found is not False:
                # the applying rule, or a rule matched but did not hold: explain says why
                return found.decision if found is not True else None
        # the commonest deny: no allow rule covers the request; its one reason is cheap to word
        return deferred_deny([_no_match, agent, action, resource])
    if not allows or type(on_behalf_of) is not str:
        return None
    person = snapshot.find_person(on_behalf_of)
    if person is None or not person.active or not compiled.delegates_from(person.groups):
        return None
    role = snapshot.role_allowing(person.groups, action, resource, context, now_us)
    if role is None:
        return None
    rule = first_allow(allows, resource, context, now_us)
    return snapshot.delegated_decision(rule, role) if rule is not None else None


def _no_match(agent: str, action: str, resource: str) -> Decision:
    """What :func:`explain` gives when the fast path found no allow rule that covers a
    request and nothing else to report (its reader need not run explain() again)."""
    message = f"no allow rule in the charter of {agent!r} covers {action} on {resource}"
    return Decision(False, None, None, (Reason(_NO_MATCH, message),))


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


_UNKNOWN_AGENT = ReasonCode.UNKNOWN_AGENT
_NOT_ACTIVE = ReasonCode.AGENT_NOT_ACTIVE
_EXPIRED = ReasonCode.CHARTER_EXPIRED
_ORG = ReasonCode.ORG_POLICY_DENIED
_EXPLICIT = ReasonCode.EXPLICITLY_DENIED
_UNKNOWN_DELEGATOR = ReasonCode.UNKNOWN_DELEGATOR
_DEPARTED = ReasonCode.DELEGATOR_DEPARTED
_NO_DELEGATION = ReasonCode.DELEGATION_NOT_ALLOWED
_LACKS = ReasonCode.DELEGATOR_LACKS_ACCESS
_NO_MATCH = ReasonCode.NO_MATCHING_CAPABILITY
_CONDITION = ReasonCode.CONDITION_FAILED
_SCHEDULE = ReasonCode.OUTSIDE_SCHEDULE
_VALIDITY = ReasonCode.OUTSIDE_VALIDITY


def why_not(rule: Rule, context: Mapping[str, Any], now_us: int) -> list[Reason]:
    """Why an allow rule whose action and resource match does not apply."""
    reasons: list[Reason] = []
    if rule.validity is not None and not rule.validity.holds(now_us):
        moment = from_epoch_micros(now_us).isoformat()
        reasons.append(
            Reason(_VALIDITY, f"{rule.id} is {rule.validity.describe()}; it is {moment}", rule.id)
        )
    if rule.schedule is not None and not rule.schedule.holds(now_us):
        weekday, minute = local_clock(rule.schedule.zone, now_us)
        reasons.append(
            Reason(
                _SCHEDULE,
                f"{rule.id} applies {rule.schedule.describe()}; it is "
                f"{WEEKDAYS[weekday].value} {minute // 60:02d}:{minute % 60:02d} there",
                rule.id,
            )
        )
    for condition in rule.conditions:
        if condition.test(context) is not True:
            observed = _describe_value(context, condition.parts)
            if condition.other is not None:
                observed += f"; {_describe_value(context, condition.other)}"
            reasons.append(
                Reason(
                    _CONDITION,
                    f"{rule.id} requires {condition.describe()}; {observed}",
                    rule.id,
                    condition.attribute,
                )
            )
    return reasons


def _well_formed(agent: Any, action: Any, resource: Any, context: Any, on_behalf_of: Any) -> bool:
    """The cheap test that lets a normal request skip :func:`_invalid`'s messages."""
    return (
        type(agent) is str
        and type(action) is str
        and type(resource) is str
        and 0 < len(agent) <= MAX_PRINCIPAL_LENGTH
        and 0 < len(action) <= MAX_ACTION_LENGTH
        and 0 < len(resource) <= MAX_RESOURCE_LENGTH
        and (type(context) is dict or isinstance(context, Mapping))
        and (
            on_behalf_of is None
            or (type(on_behalf_of) is str and 0 < len(on_behalf_of) <= MAX_PRINCIPAL_LENGTH)
        )
    )


def _delegation_reasons(
    snapshot: Snapshot,
    compiled: CompiledAgent | None,
    agent: str,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    on_behalf_of: str,
    now_us: int,
    reasons: list[Reason],
) -> Rule | None:
    """Add the delegation reasons; return the role rule that gives the person this access."""
    person = snapshot.find_person(on_behalf_of)
    email = person.email if person is not None else on_behalf_of.lower()
    if person is None:
        reasons.append(Reason(_UNKNOWN_DELEGATOR, f"{email} is not in the directory"))
    elif not person.active:
        reasons.append(
            Reason(_DEPARTED, f"{email} has departed; a departed person delegates nothing")
        )
    groups = person.groups if person is not None else ()
    if compiled is not None and compiled.active and not compiled.delegates_from(groups):
        delegation = compiled.delegation
        if not delegation.allowed:
            words = f"the charter of {agent!r} does not accept delegation"
        else:
            words = (
                f"the charter of {agent!r} accepts delegation only from "
                f"{', '.join(delegation.groups)}; {email} is in {', '.join(groups) or 'no group'}"
            )
        reasons.append(Reason(_NO_DELEGATION, words))
    role = snapshot.role_allowing(groups, action, resource, context, now_us)
    if role is None:
        reasons.append(
            Reason(
                _LACKS,
                f"no role of {email} allows {action} on {resource}; an agent never gets more "
                "than the person it acts for",
            )
        )
    return role


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
    if not _well_formed(agent, action, resource, context, on_behalf_of):
        problem = _invalid(agent, action, resource, context, on_behalf_of)
        if problem:
            return deny(ReasonCode.INVALID_REQUEST, problem)
    reasons: list[Reason] = []
    compiled = snapshot.agents.get(agent)
    active = False
    if compiled is None:
        reasons.append(Reason(_UNKNOWN_AGENT, f"no agent named {agent!r} is registered"))
    else:
        active = compiled.active
        if not active:
            reasons.append(
                Reason(
                    _NOT_ACTIVE,
                    f"agent {agent!r} is {compiled.state.value}; only active agents are "
                    "allowed anything",
                )
            )
        if now_us >= compiled.expires_us:
            last_day = from_epoch_micros(compiled.expires_us - 1).date()
            reasons.append(Reason(_EXPIRED, f"the charter of {agent!r} expired after {last_day}"))
    org = snapshot.org
    org_rules = org.by_action.get(action)
    if org_rules is None:
        org_rules = org.candidates(action)
    for rule in org_rules:
        if rule.applies_as_deny(resource, context, now_us):
            description = rule.description or "no description"
            reasons.append(
                Reason(
                    _ORG,
                    f"organisation policy {rule.id} forbids {action} on {resource}: {description}",
                    rule.id,
                )
            )
    allows: tuple[Rule, ...] = ()
    if compiled is not None:
        denies, allows = compiled.index.get(action)
        for rule in denies:
            if rule.applies_as_deny(resource, context, now_us):
                reasons.append(
                    Reason(
                        _EXPLICIT,
                        f"the charter of {agent!r} denies {rule.action.text} on "
                        f"{rule.resource.text} ({rule.id})",
                        rule.id,
                    )
                )
    role: Rule | None = None
    if on_behalf_of is not None:
        role = _delegation_reasons(
            snapshot, compiled, agent, action, resource, context, on_behalf_of, now_us, reasons
        )
    allow: Rule | None = None
    if active:
        matched = [r for r in allows if r.resource_matches(resource)]
        if not matched:
            reasons.append(
                Reason(
                    _NO_MATCH,
                    f"no allow rule in the charter of {agent!r} covers {action} on {resource}",
                )
            )
        else:
            allow = first_allow(tuple(matched), resource, context, now_us)
            if allow is None:
                for rule in matched:
                    reasons.extend(why_not(rule, context, now_us))
    if not reasons and allow is not None:
        if role is not None:
            return snapshot.delegated_decision(allow, role)
        assert allow.decision is not None
        return allow.decision
    if not reasons:  # unreachable by construction; fail closed all the same
        reasons.append(Reason(_NO_MATCH, f"nothing allows {action} on {resource}"))
    if len(reasons) > 1:
        unique: dict[tuple[str, str | None], Reason] = {}
        for reason in reasons:
            unique.setdefault((reason.id, reason.rule), reason)
        return Decision(False, None, None, tuple(unique.values()))
    return Decision(False, None, None, (reasons[0],))
