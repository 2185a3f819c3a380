"""AuthZEN search agrees with evaluation, on generated estates.

The estates of the Cedar equivalence test (patterns with escapes, every condition
operator, schedules, validity windows, expiry, agent states, delegation, people,
roles, org policy) are searched in every direction and each answer is checked
against per-candidate evaluations of the same request:

* soundness: every result, fed back into :func:`evaluate`, is allowed;
* subject search is *exact*: the agents returned are precisely those an
  evaluation allows (every agent is a candidate), the people those their roles allow;
* coverage: every concrete resource (action) an evaluation allows is returned,
  or matched by a returned pattern — the pattern convention loses nothing.

Coverage is checked without a delegator: on behalf of a person the allowed set is
the intersection of two patterns, which one pattern cannot always spell.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.property.test_cedar_equivalence import ACTIONS, BASE, EMAILS, RESOURCES, estates

from charter.domain.compiled import Snapshot, build_snapshot, compile_agent
from charter.domain.conditions import epoch_micros
from charter.domain.evaluation import evaluate
from charter.domain.patterns import Pattern
from charter.domain.search import (
    Found,
    Subject,
    SubjectKind,
    person_allows,
    resolve_subject,
    search_actions,
    search_resources,
    search_subjects,
)
from charter.domain.search_vocabulary import VocabularyIndex, vocabulary

SYSTEMS = sorted({r.partition(":")[0] for r in RESOURCES if ":" in r})


def _as_pattern(text: str) -> Pattern:
    return Pattern(text, tuple(text.split("*")))


def _covered(value: str, found: list[Found], prefix: str = "") -> bool:
    for item in found:
        if prefix + item.id == value:
            return True
        pattern = bool(item.properties and item.properties.get("pattern"))
        if pattern and _as_pattern(prefix + item.id).matches(value):
            return True
    return False


def _check(snapshot: Snapshot, subject: Subject, context: dict[str, Any], now_us: int) -> None:
    known = vocabulary(snapshot)
    name = subject.id
    for action in ACTIONS:
        for system in SYSTEMS:
            prefix = f"{system}:"
            found = search_resources(
                snapshot, known, subject, action, system, context, None, now_us
            )
            for item in found:
                assert evaluate(
                    snapshot, name, action, prefix + item.id, context, None, now_us
                ).allowed, f"{item} returned but denied"
            for resource in RESOURCES:
                if not resource.startswith(prefix):
                    continue
                if evaluate(snapshot, name, action, resource, context, None, now_us).allowed:
                    assert _covered(resource, found, prefix), f"{resource} allowed, not found"
    for resource in RESOURCES:
        found = search_actions(snapshot, known, subject, resource, context, None, now_us)
        for item in found:
            decision = evaluate(snapshot, name, item.id, resource, context, None, now_us)
            assert decision.allowed, f"{item} returned for {resource} but denied"
        for action in ACTIONS:
            if evaluate(snapshot, name, action, resource, context, None, now_us).allowed:
                assert _covered(action, found), f"{action} on {resource} allowed, not found"


def _check_vocabulary_follows_changes(snapshot: Snapshot, estate: dict[str, Any]) -> None:
    """The incremental vocabulary equals the one built from scratch, change after change."""
    index = VocabularyIndex()
    assert index.of(snapshot) == vocabulary(snapshot)
    first, *rest = estate["agents"]
    dropped = snapshot.with_changes(agents={first.name: None})
    assert index.of(dropped) == vocabulary(dropped)
    back = dropped.with_changes(agents={first.name: compile_agent(first)})
    assert index.of(back) == vocabulary(back)
    if rest:  # recompiled (a new object, same rules) and another one removed
        again = back.with_changes(agents={first.name: compile_agent(first), rest[0].name: None})
        assert index.of(again) == vocabulary(again)


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(estates(), st.data())
def test_search_results_are_what_evaluation_allows(estate: dict[str, Any], data: Any) -> None:
    snapshot = build_snapshot(estate["agents"], estate["people"], estate["org"], estate["roles"])
    _check_vocabulary_follows_changes(snapshot, estate)
    for agent, _action, _resource, context, on_behalf_of, minutes in estate["requests"][:3]:
        now_us = epoch_micros(BASE + dt.timedelta(minutes=minutes))
        subject = resolve_subject(snapshot, "agent", agent)
        if subject is None:
            assert agent not in snapshot.agents
            continue
        _check(snapshot, subject, context, now_us)
        delegator = data.draw(st.sampled_from([*EMAILS, None]))
        known = vocabulary(snapshot)
        for action in ACTIONS:
            for resource in RESOURCES:
                who = search_subjects(
                    snapshot, "agent", action, resource, context, on_behalf_of, now_us
                )
                expected = sorted(
                    name
                    for name in snapshot.agents
                    if evaluate(
                        snapshot, name, action, resource, context, on_behalf_of, now_us
                    ).allowed
                )
                assert [f.id for f in who] == expected
                people = search_subjects(snapshot, "user", action, resource, context, None, now_us)
                assert [f.id for f in people] == sorted(
                    email
                    for email in snapshot.people
                    if person_allows(snapshot, email, action, resource, context, now_us)
                )
            for system in SYSTEMS:
                for item in search_resources(
                    snapshot, known, subject, action, system, context, delegator, now_us
                ):
                    resource = f"{system}:{item.id}"
                    decision = evaluate(
                        snapshot, agent, action, resource, context, delegator, now_us
                    )
                    assert decision.allowed, f"{item} returned on behalf of {delegator}, denied"
        person = resolve_subject(snapshot, "user", EMAILS[0].upper())
        if person is not None:
            assert person.kind is SubjectKind.PERSON
            for action in ACTIONS:
                for system in SYSTEMS:
                    for item in search_resources(
                        snapshot, known, person, action, system, context, None, now_us
                    ):
                        assert person_allows(
                            snapshot, person.id, action, f"{system}:{item.id}", context, now_us
                        )
