"""The AuthZEN client side (guard and remote gateway): requests out, decisions in, fail closed."""

from __future__ import annotations

from typing import Any

import pytest

from charter.domain.decision import ReasonCode
from charter.sdk.guard import authzen_request, decision_from_authzen


def test_requests_follow_the_charter_mapping() -> None:
    body = authzen_request(
        "refund-bot",
        "stripe.refunds.create",
        "stripe:acct_acme/charges/ch_1",
        {"args": {"amount": 5}},
        "priya@acme.example",
    )
    assert body == {
        "subject": {
            "type": "agent",
            "id": "refund-bot",
            "properties": {"on_behalf_of": "priya@acme.example"},
        },
        "action": {"name": "stripe.refunds.create"},
        "resource": {"type": "stripe", "id": "acct_acme/charges/ch_1"},
        "context": {"args": {"amount": 5}},
    }
    assert "properties" not in authzen_request("a", "x", "s:p", {}, None)["subject"]


def test_allow_and_deny_answers_become_decisions() -> None:
    allowed = decision_from_authzen({"decision": True, "context": {"rule": "charter/a/allow/0"}})
    assert allowed.allowed and allowed.rule == "charter/a/allow/0"
    denied = decision_from_authzen(
        {
            "decision": False,
            "context": {
                "reasons": [
                    {
                        "id": "0",
                        "code": "condition_failed:args.amount",
                        "rule": "charter/a/allow/0",
                        "reason_admin": {"en": "requires args.amount le 500"},
                    },
                    {
                        "id": "1",
                        "code": "explicitly_denied",
                        "reason_admin": {"en": "denied by charter/a/deny/0"},
                    },
                ]
            },
        }
    )
    assert not denied.allowed
    assert denied.codes == ["condition_failed:args.amount", "explicitly_denied"]
    assert denied.reasons[0].message == "requires args.amount le 500"


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "yes",
        {"decision": "true"},
        {"decision": 1},
        {},
        {"decision": False, "context": "x"},
        {"decision": False, "context": {"reasons": [{"code": "brand_new_code"}]}},
    ],
)
def test_anything_but_a_true_decision_denies(body: Any) -> None:
    decision = decision_from_authzen(body)
    assert not decision.allowed
    assert decision.reasons
    assert all(isinstance(reason.code, ReasonCode) for reason in decision.reasons)
