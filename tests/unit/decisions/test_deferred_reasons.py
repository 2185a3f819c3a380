"""Deny reasons rendered on demand: a deny is settled at once, its words when first read.

Each deferred deny must read exactly as the eager explanation (``explain``) of the same
request on the same compiled policy at the same instant, compare and pickle as that
plain decision, and never turn into an allow.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from tests.unit.decisions.estate import MONDAY_US, PEOPLE, agent, estate

from charter.domain.decision import Decision, DeferredDeny, ReasonCode, deferred_deny
from charter.domain.enums import AgentState
from charter.domain.evaluation import evaluate, explain

BOT = agent(
    {
        "name": "support-bot",
        "allow": [
            {"action": "tickets.read", "resource": "zendesk:tickets/*"},
            {
                "action": "tickets.comment",
                "resource": "zendesk:tickets/*",
                "when": [{"attribute": "args.length", "op": "le", "value": 2000}],
            },
        ],
        "deny": [{"action": "tickets.read", "resource": "zendesk:tickets/vip-*"}],
        "delegation": {"allowed": True, "groups": ["support"]},
    }
)
SNAPSHOT = estate(BOT, agent({"name": "idle-bot", "allow": []}, AgentState.SUSPENDED))

DENIED: list[tuple[str, str, str, dict[str, Any], str | None]] = [
    ("support-bot", "tickets.delete", "zendesk:tickets/1", {}, None),  # no rule covers it
    ("support-bot", "tickets.read", "zendesk:tickets/vip-1", {}, None),  # charter deny
    ("support-bot", "tickets.comment", "zendesk:tickets/1", {"args": {"length": 9000}}, None),
    ("support-bot", "tickets.comment", "zendesk:tickets/1", {}, None),  # attribute missing
    ("nobody", "tickets.read", "zendesk:tickets/1", {}, None),
    ("idle-bot", "tickets.read", "zendesk:tickets/1", {}, None),
    ("support-bot", "tickets.read", "zendesk:tickets/1", {}, "tom@acme.example"),  # departed
    ("support-bot", "tickets.read", "zendesk:tickets/1", {}, "priya@acme.example"),  # group
    ("support-bot", "tickets.read", "zendesk:tickets/1", {}, "ghost@acme.example"),
    ("support-bot", "", "zendesk:tickets/1", {}, None),  # not well formed
]


@pytest.mark.parametrize("request_", DENIED, ids=lambda r: f"{r[0]}-{r[1]}-{r[4]}")
def test_a_deferred_deny_reads_exactly_as_the_eager_explanation(
    request_: tuple[str, str, str, dict[str, Any], str | None],
) -> None:
    decision = evaluate(SNAPSHOT, *request_, MONDAY_US)
    eager = explain(SNAPSHOT, *request_, MONDAY_US)
    assert type(decision) is DeferredDeny and not decision.allowed and not eager.allowed
    assert decision.reasons == eager.reasons and decision.reasons  # rendered on first read
    assert decision.reasons is decision.reasons  # and kept
    assert decision == eager and eager == decision and hash(decision) == hash(eager)
    assert decision.to_dict() == eager.to_dict() and decision.summary() == eager.summary()
    assert decision.codes == eager.codes and not decision.needs_approval
    assert tuple(decision) == tuple(eager) and decision[3] == eager.reasons
    assert len(decision) == 4 and repr(decision) == repr(eager)
    revived = pickle.loads(pickle.dumps(decision))  # noqa: S301 - pickled just above
    assert type(revived) is Decision and revived == eager


def test_the_reasons_read_the_context_as_it_was_when_decided() -> None:
    context: dict[str, Any] = {"args": {"length": 9000}, "region": "eu"}
    decision = evaluate(
        SNAPSHOT, "support-bot", "tickets.comment", "zendesk:tickets/1", context, None, MONDAY_US
    )
    context["args"] = {"length": 1}  # the caller reuses its dictionary
    context.clear()
    assert decision.codes == ["condition_failed:args.length"]
    assert "9000" in decision.reasons[0].message


def test_an_allow_and_an_approval_are_never_deferred() -> None:
    allowed = evaluate(
        SNAPSHOT, "support-bot", "tickets.read", "zendesk:tickets/1", {}, None, MONDAY_US
    )
    assert type(allowed) is Decision and allowed.allowed
    delegated = evaluate(
        SNAPSHOT, "support-bot", "tickets.read", "zendesk:tickets/1", {}, PEOPLE[0].email, MONDAY_US
    )
    assert type(delegated) is Decision and delegated.allowed and delegated.role


def test_a_deny_explained_as_an_allow_stays_denied_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def allows(*_: Any) -> Decision:
        return Decision(True, rule="charter/x/allow/0")

    decision = deferred_deny([allows, SNAPSHOT, "support-bot", "a", "b:c", {}, None, 0])
    assert not decision.allowed
    assert decision.codes == [ReasonCode.EVALUATION_ERROR.value]
    assert "explained as an allow" in caplog.text


def test_an_explanation_that_fails_is_an_evaluation_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fails(*_: Any) -> Decision:
        raise RuntimeError("boom")

    decision = deferred_deny([fails, SNAPSHOT, "support-bot", "a", "b:c", {}, None, 0])
    assert not decision.allowed and decision.codes == ["evaluation_error"]
    assert "RuntimeError" in decision.reasons[0].message and "explaining a deny" in caplog.text


def test_a_context_that_is_not_a_dict_is_explained_at_once() -> None:
    from types import MappingProxyType

    decision = evaluate(
        SNAPSHOT,
        "support-bot",
        "tickets.delete",
        "zendesk:tickets/1",
        MappingProxyType({}),
        None,
        MONDAY_US,
    )
    assert type(decision) is Decision and decision.codes == ["no_matching_capability"]


def test_a_persons_deny_is_deferred_and_reads_as_the_eager_explanation() -> None:
    from charter.domain.person_decisions import _explain, evaluate_person, person_context
    from charter.domain.subjects import resolve_subject

    for email, action in (
        ("maria@acme.example", "payments.refund"),  # no role of hers covers it
        ("tom@acme.example", "tickets.read"),  # departed
    ):
        subject = resolve_subject(SNAPSHOT, "user", email)
        decision = evaluate_person(SNAPSHOT, subject, action, "zendesk:tickets/1", {}, MONDAY_US)
        full = person_context({}, subject)
        eager = _explain(SNAPSHOT, subject, action, "zendesk:tickets/1", full, MONDAY_US)
        assert type(decision) is DeferredDeny and not eager.allowed
        assert decision == eager and decision.reasons == eager.reasons and decision.codes
    allowed = evaluate_person(
        SNAPSHOT,
        resolve_subject(SNAPSHOT, "user", "maria@acme.example"),
        "tickets.read",
        "zendesk:tickets/1",
        {},
        MONDAY_US,
    )
    assert type(allowed) is Decision and allowed.allowed
