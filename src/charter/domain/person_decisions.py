"""Deciding for a person directly: their roles are their policy.

When a policy enforcement point asks about a person (an AuthZEN subject of a
type mapped to ``person``), the rules are those of agents, with the roles file
in place of a charter:

1. Default deny: only an active person in the directory can be allowed.
2. Deny wins: a matching organisation policy rule denies, whatever a role says.
3. A role rule of one of the person's groups allows when its action and
   resource patterns match, its schedule and validity window hold, and every
   condition is true — conditions see the directory's attributes of the person
   as ``subject.properties.*`` (``email``, ``name``, ``manager``, ``active``).
4. Any exception while deciding is a deny with ``evaluation_error``.

An agent acting on behalf of a person is decided by
:mod:`charter.domain.evaluation` (charter ∩ the person's roles), not here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from charter.domain.compiled import PersonEntry, Rule, Snapshot, first_allow, first_deny
from charter.domain.decision import (
    EMPTY_CONTEXT,
    Decision,
    Reason,
    ReasonCode,
    deferred_deny,
    deny,
)
from charter.domain.evaluation import MAX_ACTION_LENGTH, MAX_RESOURCE_LENGTH, why_not
from charter.domain.subjects import ResolvedSubject

logger = logging.getLogger("charter.decisions")


def person_context(context: Mapping[str, Any], subject: ResolvedSubject) -> dict[str, Any]:
    """The context with ``subject`` = what the PEP sent, plus ``type``, ``id`` and
    ``properties`` where the directory's attributes win over the PEP's."""
    given = context.get("subject")
    merged: dict[str, Any] = dict(given) if isinstance(given, Mapping) else {}
    sent = merged.get("properties")
    properties: dict[str, Any] = dict(sent) if isinstance(sent, Mapping) else {}
    if subject.person is not None:
        properties.update(subject.person.properties)
    merged["type"] = subject.type
    merged["id"] = subject.id
    merged["properties"] = properties
    return {**context, "subject": merged}


def _org_rules(snapshot: Snapshot, action: str) -> tuple[Rule, ...]:
    org = snapshot.org
    found = org.by_action.get(action)
    return found if found is not None else org.candidates(action)


def evaluate_person(
    snapshot: Snapshot,
    subject: ResolvedSubject,
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
    now_us: int | None = None,
) -> Decision:
    """Decide for a resolved person subject. Never raises: a failure is a deny."""
    try:
        if now_us is None:
            now_us = time.time_ns() // 1000
        person = subject.person
        if person is None and subject.reason is None:  # an agent has no roles; fail closed
            return deny(ReasonCode.UNKNOWN_SUBJECT, f"{subject.id!r} is not a person")
        if (
            type(action) is not str
            or type(resource) is not str
            or not 0 < len(action) <= MAX_ACTION_LENGTH
            or not 0 < len(resource) <= MAX_RESOURCE_LENGTH
        ):
            return deny(
                ReasonCode.INVALID_REQUEST,
                f"the action must be 1 to {MAX_ACTION_LENGTH} characters and the resource "
                f"'system:path', 1 to {MAX_RESOURCE_LENGTH}",
            )
        full = person_context(context if context is not None else EMPTY_CONTEXT, subject)
        if person is None:  # unknown: denied, with every reason (org policy too)
            return _explain(snapshot, subject, action, resource, full, now_us)
        org_clear = False  # known: no org policy rule applies (then explain skips them)
        if person.active:
            org_rules = _org_rules(snapshot, action)
            if not org_rules or first_deny(org_rules, resource, full, now_us) is None:
                org_clear = True
                role = snapshot.role_allowing(person.groups, action, resource, full, now_us)
                if role is not None and role.decision is not None:
                    return role.decision
        # denied (departed, an org rule, or no role rule applies): the words when read
        return deferred_deny(
            [_explained, snapshot, subject, action, resource, full, now_us, org_clear]
        )
    except Exception as exc:
        logger.exception("decision failed for person=%r action=%r", subject.id, action)
        return deny(
            ReasonCode.EVALUATION_ERROR,
            f"the decision could not be evaluated ({type(exc).__name__}); denied",
        )


def _explained(
    snapshot: Snapshot,
    subject: ResolvedSubject,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    now_us: int,
    org_clear: bool,
) -> Decision:
    """:func:`_explain`, its arguments all positional (what a deferred deny calls)."""
    return _explain(snapshot, subject, action, resource, context, now_us, org_clear=org_clear)


def _explain(
    snapshot: Snapshot,
    subject: ResolvedSubject,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    now_us: int,
    *,
    org_clear: bool = False,
) -> Decision:
    reasons: list[Reason] = [subject.reason] if subject.reason is not None else []
    person = subject.person
    if person is not None and not person.active:
        reasons.append(
            Reason(
                ReasonCode.PERSON_DEPARTED,
                f"{person.email} has departed; only active people are allowed anything",
            )
        )
    for rule in () if org_clear else _org_rules(snapshot, action):
        if rule.applies_as_deny(resource, context, now_us):
            reasons.append(
                Reason(
                    ReasonCode.ORG_POLICY_DENIED,
                    f"organisation policy {rule.id} forbids {action} on {resource}: "
                    f"{rule.description or 'no description'}",
                    rule.id,
                )
            )
    if person is None:
        return Decision(False, None, None, tuple(reasons))
    matched: list[Rule] = []
    for index in snapshot.access(person.groups):
        matched.extend(r for r in index.candidates(action) if r.resource_matches(resource))
    allow = first_allow(tuple(matched), resource, context, now_us) if matched else None
    if allow is None:
        groups = ", ".join(person.groups) or "no group"
        reasons.append(
            Reason(
                ReasonCode.NO_ROLE_ALLOWS,
                f"no role of {person.email} (groups: {groups}) allows {action} on {resource}",
            )
        )
        for rule in matched:
            reasons.extend(why_not(rule, context, now_us))
    if not reasons and allow is not None and allow.decision is not None:
        return allow.decision
    if not reasons:  # unreachable by construction; fail closed all the same
        reasons.append(Reason(ReasonCode.NO_ROLE_ALLOWS, f"nothing allows {action} on {resource}"))
    return Decision(False, None, None, tuple(reasons))


def person_access(snapshot: Snapshot, person: PersonEntry) -> dict[str, Any]:
    """What a person decided on directly may do: their roles' rules, and the org policy's
    deny rules over them (``charter explain --person``)."""

    def row(rule: Rule, effect: str) -> dict[str, Any]:
        return {
            "effect": effect,
            "action": rule.action.text,
            "resource": rule.resource.text,
            "when": [c.describe() for c in rule.conditions],
            "rule": rule.id,
        }

    rules = [row(r, "allow") for index in snapshot.access(person.groups) for r in index.rules]
    return {
        "email": person.email,
        "active": person.active,
        "groups": list(person.groups),
        "external_ids": list(person.external_ids),
        "rules": [row(r, "org deny") for r in snapshot.org.rules] + rules,
    }
