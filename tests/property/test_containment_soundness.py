"""The widening check is sound: when it says "narrowing or equal", the new charter allows
nothing the old one did not.

Hypothesis draws an old charter and a new one — either independent, or derived
from the old by the edits people make (drop a rule, narrow a pattern, add a
condition, shorten a window, add or drop a deny) — and, whenever
:func:`charter.domain.containment.charter_widenings` finds nothing, decides a
grid of requests (actions, resources, contexts, moments) with the real engine:
every request the new charter allows, the old one must allow too.
``derandomize=True`` keeps the run reproducible.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from charter.domain.agent import Agent
from charter.domain.charter_parsing import parse_charter
from charter.domain.compiled import build_snapshot
from charter.domain.conditions import epoch_micros
from charter.domain.containment import charter_widenings
from charter.domain.enums import AgentState
from charter.domain.evaluation import evaluate

EXAMPLES = int(os.environ.get("CHARTER_CONTAINMENT_EXAMPLES", "400"))
BASE = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)  # a Monday

ACTION_PATTERNS = ["*", "tickets.*", "*.read", "tickets.read", "tickets.write", "iam.*", "t*e"]
RESOURCE_PATTERNS = ["*", "zendesk:*", "zendesk:tickets/*", "zendesk:tickets/1", "aws:*", "*vip*"]
ACTIONS = ["tickets.read", "tickets.write", "tickets.delete", "iam.put", "iam.read", "te"]
RESOURCES = ["zendesk:tickets/1", "zendesk:tickets/vip-2", "aws:iam/role", "github:acme/x"]
CONDITIONS = [
    {"attribute": "region", "op": "eq", "value": "eu"},
    {"attribute": "region", "op": "ne", "value": "us"},
    {"attribute": "args.amount", "op": "le", "value": 100},
]
CONTEXTS: list[dict[str, Any]] = [
    {},
    {"region": "eu"},
    {"region": "us"},
    {"region": "eu", "args": {"amount": 50}},
    {"region": "ap", "args": {"amount": 500}},
]
HOUR = dt.timedelta(hours=1)
WINDOWS: list[dict[str, str] | None] = [
    None,
    {"from": (BASE - HOUR).isoformat(), "until": (BASE + HOUR).isoformat()},
    {"until": (BASE + 10 * HOUR).isoformat()},
]
SCHEDULES: list[dict[str, Any] | None] = [
    None,
    {"timezone": "UTC", "days": ["mon", "tue"], "start": "08:00", "end": "18:00"},
]
MOMENTS = [BASE + dt.timedelta(hours=h) for h in (-30, -5, 0, 5, 20, 80, 1500)]
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
def charters(draw: st.DrawFn) -> dict[str, Any]:
    allows = draw(st.lists(capability_parts, min_size=1, max_size=4))
    denies = draw(st.lists(capability_parts, max_size=3))
    groups = draw(st.sampled_from([None, [], ["support"], ["support", "eng"]]))
    document: dict[str, Any] = {
        "name": "a",
        "owner": "o@acme.example",
        "purpose": "a property-test charter",
        "allow": [_clean(c) for c in allows],
        "deny": [_clean(c) for c in denies],
    }
    if groups is not None:
        document["delegation"] = {"allowed": True, "groups": groups}
    expires = draw(st.sampled_from(EXPIRIES))
    if expires:
        document["expires"] = expires
    return document


NARROWING_EDITS = ["drop", "condition", "narrow", "window", "schedule", "add_deny"]
WIDENING_EDITS = ["unconditioned", "unwindowed", "unscheduled", "broader", "add_allow"]
EDITS = [*NARROWING_EDITS, *WIDENING_EDITS, "drop_deny", "expiry"]


@st.composite
def derived(draw: st.DrawFn, old: dict[str, Any]) -> dict[str, Any]:
    """The old charter after a few of the edits people make: many narrow, some widen."""
    new = {**old, "allow": [dict(c) for c in old["allow"]], "deny": list(old["deny"])}
    for edit in draw(st.lists(st.sampled_from(EDITS), min_size=1, max_size=3)):
        allows, denies = new["allow"], new["deny"]
        at = draw(st.integers(0, max(len(allows) - 1, 0)))
        rule = allows[at] if allows else None
        if edit == "add_allow":
            allows.append(_clean(draw(capability_parts)))
        elif edit == "add_deny":
            denies.append(_clean(draw(capability_parts)))
        elif edit == "drop_deny" and denies:
            denies.pop(draw(st.integers(0, len(denies) - 1)))
        elif edit == "expiry":
            new["expires"] = draw(st.sampled_from(EXPIRIES))
        elif rule is None:
            continue
        elif edit == "drop":
            allows.pop(at)
        elif edit == "condition":
            rule["when"] = [*rule.get("when", []), draw(st.sampled_from(CONDITIONS))]
        elif edit == "narrow":
            rule["action"] = draw(st.sampled_from(ACTIONS))
        elif edit == "window":
            rule["valid"] = WINDOWS[1]
        elif edit == "schedule":
            rule["schedule"] = SCHEDULES[1]
        elif edit == "broader":
            rule["action"] = draw(st.sampled_from(ACTION_PATTERNS))
        else:  # unconditioned, unwindowed, unscheduled
            rule.pop({"unconditioned": "when", "unwindowed": "valid"}.get(edit, "schedule"), None)
    if new.get("expires") is None:
        new.pop("expires", None)
    return new


def _allowed(document: dict[str, Any]) -> set[tuple[int, int, int, int]]:
    spec = parse_charter(document)
    moment = BASE
    agent = Agent(spec.name, spec.owner, AgentState.ACTIVE, spec, 1, moment, moment)
    snapshot = build_snapshot([agent], [])
    out = set()
    for m, when in enumerate(MOMENTS):
        now_us = epoch_micros(when)
        for a, action in enumerate(ACTIONS):
            for r, resource in enumerate(RESOURCES):
                for c, context in enumerate(CONTEXTS):
                    if evaluate(snapshot, "a", action, resource, context, None, now_us).allowed:
                        out.add((m, a, r, c))
    return out


@st.composite
def pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    old = draw(charters())
    new = draw(st.one_of(charters(), derived(old)))
    return old, new


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(pairs())
def test_not_widening_means_new_allows_are_a_subset_of_old_allows(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    old, new = pair
    if charter_widenings(parse_charter(old), parse_charter(new)):
        event("widening")
        return
    event("narrowing or equal")
    extra = _allowed(new) - _allowed(old)
    assert not extra, f"called narrowing, but the new charter also allows {sorted(extra)[:5]}"


def test_adding_a_condition_narrows_and_a_wildcard_widens() -> None:
    """The check is not vacuous: it says "narrowing" and "widening" where it should."""
    for action in ACTION_PATTERNS:
        for resource in RESOURCE_PATTERNS:
            rule = {"action": action, "resource": resource}
            old = {
                "name": "a",
                "owner": "o@acme.example",
                "purpose": "a test charter",
                "allow": [rule],
            }
            narrowed = {**old, "allow": [{**rule, "when": [CONDITIONS[0]]}]}
            widened = {**old, "allow": [{"action": "*", "resource": "*"}]}
            assert not charter_widenings(parse_charter(old), parse_charter(narrowed))
            everything = action == "*" and resource == "*"
            assert bool(charter_widenings(parse_charter(old), parse_charter(widened))) != everything
