"""Narrowing proven, checked against brute force over a small universe.

Hypothesis draws a parent charter, a child charter (independent, or the parent after
the edits people make) and an organisation policy, with ``approve`` rules among them.
A brute-force pass decides every request of a grid (actions × resources × contexts ×
moments) for both with the real engine. Two properties:

* whenever :func:`~charter.domain.containment.containment` says "contained" (no
  widening), brute force finds no request the child gets more of than the parent
  (allowed > allowed once approved > denied);
* whenever it attaches a counterexample, the counterexample is real: the engine gives
  the child more than the parent for exactly that request.

``derandomize=True`` keeps the run reproducible; ``CHARTER_NARROWING_EXAMPLES`` sizes it.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from charter.domain.agent import Agent
from charter.domain.charter_parsing import parse_charter
from charter.domain.compiled import Snapshot, build_snapshot
from charter.domain.conditions import epoch_micros
from charter.domain.containment import access_level, containment
from charter.domain.enums import AgentState
from charter.domain.evaluation import evaluate
from charter.domain.org_policy import EMPTY_ORG_POLICY, OrgPolicy, parse_org_policy

EXAMPLES = int(os.environ.get("CHARTER_NARROWING_EXAMPLES", "300"))
BASE = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)  # a Monday

ACTION_PATTERNS = ["*", "tickets.*", "*.read", "tickets.read", "tickets.write", "iam.*"]
RESOURCE_PATTERNS = ["*", "zendesk:*", "zendesk:tickets/*", "zendesk:tickets/1", "aws:*"]
ACTIONS = ["tickets.read", "tickets.write", "iam.put", "iam.read", "x.read"]
RESOURCES = ["zendesk:tickets/1", "zendesk:tickets/2", "zendesk:users/1", "aws:iam/role"]
CONDITIONS = [
    {"attribute": "region", "op": "eq", "value": "eu"},
    {"attribute": "region", "op": "ne", "value": "us"},
    {"attribute": "args.amount", "op": "le", "value": 100},
    {"attribute": "args.amount", "op": "le", "value": 500},
]
CONTEXTS: list[dict[str, Any]] = [
    {},
    {"region": "eu"},
    {"region": "us"},
    {"region": "eu", "args": {"amount": 50}},
    {"region": "eu", "args": {"amount": 300}},
    {"region": "ap", "args": {"amount": 900}},
]
HOUR = dt.timedelta(hours=1)
WINDOWS: list[dict[str, str] | None] = [
    None,
    {"from": (BASE - HOUR).isoformat(), "until": (BASE + HOUR).isoformat()},
]
SCHEDULES: list[dict[str, Any] | None] = [
    None,
    {"timezone": "UTC", "days": ["mon", "tue"], "start": "08:00", "end": "18:00"},
]
APPROVALS: list[dict[str, str] | None] = [
    None,
    None,
    {"by": "owner", "ttl": "15m"},
    {"by": "role finance", "ttl": "5m"},
]
MOMENTS = [BASE + dt.timedelta(hours=h) for h in (-30, 0, 5, 20, 80)]
EXPIRIES = [None, "2026-11-03", "2027-01-01"]

capability_parts = st.fixed_dictionaries(
    {
        "action": st.sampled_from(ACTION_PATTERNS),
        "resource": st.sampled_from(RESOURCE_PATTERNS),
        "when": st.lists(st.sampled_from(CONDITIONS), max_size=2, unique_by=str),
        "valid": st.sampled_from(WINDOWS),
        "schedule": st.sampled_from(SCHEDULES),
    }
)


def _clean(capability: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in capability.items() if v not in (None, [])}


@st.composite
def allow_rule(draw: st.DrawFn) -> dict[str, Any]:
    rule = _clean(draw(capability_parts))
    approve = draw(st.sampled_from(APPROVALS))
    if approve:
        rule["approve"] = approve
    return rule


@st.composite
def charters(draw: st.DrawFn, name: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": name,
        "owner": "o@acme.example",
        "purpose": "a property-test charter",
        "allow": draw(st.lists(allow_rule(), min_size=1, max_size=4)),
        "deny": [_clean(c) for c in draw(st.lists(capability_parts, max_size=2))],
    }
    expires = draw(st.sampled_from(EXPIRIES))
    if expires:
        document["expires"] = expires
    return document


EDITS = ["drop", "condition", "narrow", "approve", "unapprove", "broader", "drop_deny", "expiry"]


@st.composite
def derived(draw: st.DrawFn, parent: dict[str, Any]) -> dict[str, Any]:
    """The parent after a few edits, as a child: many narrow, some widen."""
    child = {
        **parent,
        "name": "c",
        "allow": [dict(c) for c in parent["allow"]],
        "deny": list(parent["deny"]),
    }
    for edit in draw(st.lists(st.sampled_from(EDITS), min_size=1, max_size=3)):
        allows = child["allow"]
        at = draw(st.integers(0, max(len(allows) - 1, 0)))
        rule = allows[at] if allows else None
        if edit == "drop_deny" and child["deny"]:
            child["deny"].pop()
        elif edit == "expiry":
            child["expires"] = draw(st.sampled_from(EXPIRIES))
        elif rule is None:
            continue
        elif edit == "drop" and len(allows) > 1:
            allows.pop(at)
        elif edit == "condition":
            rule["when"] = [*rule.get("when", []), draw(st.sampled_from(CONDITIONS))]
        elif edit == "narrow":
            rule["action"] = draw(st.sampled_from(ACTIONS))
        elif edit == "approve":
            rule["approve"] = {"by": "owner", "ttl": "1m"}
        elif edit == "unapprove":
            rule.pop("approve", None)
        elif edit == "broader":
            rule["action"] = draw(st.sampled_from(ACTION_PATTERNS))
    if child.get("expires") is None:
        child.pop("expires", None)
    return child


org_policies = st.sampled_from(
    [
        None,
        {"version": 1, "deny": [{"id": "no-iam", "description": "no IAM", "action": "iam.*"}]},
        {
            "version": 1,
            "deny": [
                {
                    "id": "us-only-reads",
                    "description": "no writes from the US",
                    "action": "*.write",
                    "when": [{"attribute": "region", "op": "eq", "value": "us"}],
                }
            ],
        },
    ]
)


def _snapshot(parent: dict[str, Any], child: dict[str, Any], policy: OrgPolicy) -> Snapshot:
    agents = []
    for document in (parent, child):
        spec = parse_charter(document)
        agents.append(Agent(spec.name, spec.owner, AgentState.ACTIVE, spec, 1, BASE, BASE))
    return build_snapshot(agents, [], policy)


def _more(snapshot: Snapshot, request: tuple[str, str, dict[str, Any], int]) -> bool:
    action, resource, context, now_us = request
    child = evaluate(snapshot, "c", action, resource, context, None, now_us)
    parent = evaluate(snapshot, "p", action, resource, context, None, now_us)
    return access_level(child) > access_level(parent)


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    parent = draw(charters("p"))
    child = draw(st.one_of(charters("c"), derived(parent)))
    return parent, child, draw(org_policies)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(cases())
def test_contained_means_brute_force_finds_nothing_and_counterexamples_are_real(
    case: tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None],
) -> None:
    parent, child, policy_document = case
    policy = parse_org_policy(policy_document) if policy_document else EMPTY_ORG_POLICY
    snapshot = _snapshot(parent, child, policy)
    found = containment(parse_charter(parent), parse_charter(child), policy, at=BASE)
    examples = [w.example for w in found if w.example is not None]
    for example in examples:
        assert example.agent == "c"
        request = (example.action, example.resource, example.context, epoch_micros(example.at))
        assert _more(snapshot, request), f"counterexample {example.describe()} is not real"
    if found:
        event("refused with a counterexample" if examples else "refused (conservative)")
        return
    event("contained")
    for when in MOMENTS:
        now_us = epoch_micros(when)
        for action in ACTIONS:
            for resource in RESOURCES:
                for context in CONTEXTS:
                    request = (action, resource, context, now_us)
                    assert not _more(snapshot, request), f"called contained, but {request}: {case}"


def test_refusals_usually_come_with_a_counterexample() -> None:
    """Not vacuous: for plain widenings the counterexample is found, and it is the real one."""
    parent = {
        "name": "p",
        "owner": "o@acme.example",
        "purpose": "a property-test charter",
        "allow": [{"action": "tickets.read", "resource": "zendesk:tickets/*"}],
    }
    wider = [
        {"action": "tickets.*", "resource": "zendesk:tickets/*"},
        {"action": "tickets.read", "resource": "zendesk:*"},
        {"action": "tickets.read", "resource": "zendesk:tickets/*", "when": []},
    ]
    for rule in wider[:2]:
        child = {**parent, "name": "c", "allow": [rule]}
        found = containment(parse_charter(parent), parse_charter(child), at=BASE)
        assert found and found[0].example is not None
        snapshot = _snapshot(parent, child, EMPTY_ORG_POLICY)
        example = found[0].example
        request = (example.action, example.resource, example.context, epoch_micros(example.at))
        assert _more(snapshot, request)
    unapproved = {**parent, "allow": [{**parent["allow"][0], "approve": {"by": "owner"}}]}
    child = {**parent, "name": "c"}
    found = containment(parse_charter(unapproved), parse_charter(child), at=BASE)
    assert found and found[0].example is not None  # dropping the approval widens
    assert found[0].example.child.startswith("allowed by") and "approved" in found[0].example.parent
    narrower = {**unapproved, "name": "c"}
    assert containment(parse_charter(parent), parse_charter(narrower), at=BASE) == []
