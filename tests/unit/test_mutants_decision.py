"""The exact shape of a decision as clients see it (AuthZEN context, activity, ``--json``).

Written against surviving mutants of ``charter.domain.decision``
(docs/mutation-testing.md): each assertion pins a key, a value or a word a
client or a person reads.
"""

from __future__ import annotations

import pytest

from charter.domain.decision import Decision, Reason, ReasonCode, deny


def test_a_reason_serialises_its_code_message_and_rule() -> None:
    reason = Reason(ReasonCode.EXPLICITLY_DENIED, "denied by rule", "deny-0")
    assert reason.to_dict() == {
        "code": "explicitly_denied",
        "message": "denied by rule",
        "rule": "deny-0",
    }
    assert Reason(ReasonCode.NO_MATCHING_CAPABILITY, "none").to_dict() == {
        "code": "no_matching_capability",
        "message": "none",
    }


def test_a_condition_failure_names_its_attribute_only_when_it_has_one() -> None:
    with_attribute = Reason(ReasonCode.CONDITION_FAILED, "m", attribute="amount")
    assert with_attribute.id == "condition_failed:amount"
    assert Reason(ReasonCode.CONDITION_FAILED, "m").id == "condition_failed"
    assert Reason(ReasonCode.EXPLICITLY_DENIED, "m", attribute="amount").id == "explicitly_denied"


def test_an_allow_serialises_its_rule_and_its_role_only_when_delegated() -> None:
    assert Decision(True, rule="allow-1").to_dict() == {"allowed": True, "rule": "allow-1"}
    assert Decision(True, rule="allow-1", role="role-2").to_dict() == {
        "allowed": True,
        "rule": "allow-1",
        "role": "role-2",
    }


def test_a_deny_serialises_every_reason_and_no_rule() -> None:
    decision = Decision(
        False,
        rule="ignored",
        reasons=(
            Reason(ReasonCode.OUTSIDE_SCHEDULE, "outside hours"),
            Reason(ReasonCode.EXPLICITLY_DENIED, "denied", "deny-0"),
        ),
    )
    assert decision.to_dict() == {
        "allowed": False,
        "reasons": [
            {"code": "outside_schedule", "message": "outside hours"},
            {"code": "explicitly_denied", "message": "denied", "rule": "deny-0"},
        ],
    }


def test_the_summary_says_what_allowed_or_every_reason_denied() -> None:
    assert Decision(True, rule="allow-1").summary() == "allowed by allow-1"
    assert (
        Decision(True, rule="allow-1", role="r").summary()
        == "allowed by allow-1 (delegator's access via r)"
    )
    denied = Decision(
        False,
        reasons=(
            Reason(ReasonCode.OUTSIDE_SCHEDULE, "outside hours"),
            Reason(ReasonCode.CONDITION_FAILED, "too much", attribute="amount"),
        ),
    )
    assert denied.summary() == (
        "denied: outside_schedule: outside hours; condition_failed:amount: too much"
    )


def test_deny_builds_a_single_reason_decision() -> None:
    decision = deny(ReasonCode.UNKNOWN_AGENT, "no such agent", rule="r")
    assert decision == Decision(
        False, None, None, (Reason(ReasonCode.UNKNOWN_AGENT, "no such agent", "r"),)
    )
    assert deny(ReasonCode.UNKNOWN_AGENT, "x").reasons[0].rule is None


def test_a_decision_refuses_to_be_a_truth_value() -> None:
    with pytest.raises(
        TypeError, match=r"^a Decision is not a truth value: test decision\.allowed$"
    ):
        bool(Decision(False))
    with pytest.raises(TypeError):
        bool(Decision(True, rule="r"))
