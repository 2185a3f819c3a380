"""The decision function's edges: bad requests, delegation reasons, the words of each deny.

Written against surviving mutants of ``charter.domain.evaluation``
(docs/mutation-testing.md). Every request that is not well formed is an
``invalid_request`` deny naming what is wrong, at each bound; a request on
behalf of a person lists every delegation reason in words a person can act on.
"""

from __future__ import annotations

import datetime as dt
import logging
from types import MappingProxyType
from typing import Any

import pytest
from tests.unit.decisions.estate import MONDAY_US, PEOPLE, ROLES, agent, estate

from charter.domain.compiled import build_snapshot
from charter.domain.decision import Decision, Reason, ReasonCode
from charter.domain.enums import AgentState
from charter.domain.evaluation import (
    MAX_ACTION_LENGTH,
    MAX_PRINCIPAL_LENGTH,
    MAX_RESOURCE_LENGTH,
    evaluate,
    explain,
)
from charter.domain.org_policy import parse_org_policy
from charter.domain.people import Person
from charter.domain.roles import parse_roles

BOT = agent(
    {
        "name": "support-bot",
        "allow": [
            {"action": "tickets.read", "resource": "zendesk:*"},
            {
                "action": "tickets.update",
                "resource": "zendesk:*",
                "when": [{"attribute": "args.size", "op": "le", "value": 10}],
            },
        ],
        "delegation": {"allowed": True, "groups": ["support", "ops"]},
    }
)
VALID = {"from": "2026-11-02T00:00:00Z", "until": "2026-11-03T00:00:00Z"}
WHOLE_MONDAY = {"days": ["mon"], "start": "00:00", "end": "23:59"}
LONER = agent({"name": "loner", "allow": [{"action": "tickets.read", "resource": "zendesk:*"}]})
SNAPSHOT = estate(BOT, LONER)


def decide(
    agent_name: Any = "support-bot",
    action: Any = "tickets.read",
    resource: Any = "zendesk:tickets/1",
    context: Any = None,
    on_behalf_of: Any = None,
) -> Decision:
    return evaluate(SNAPSHOT, agent_name, action, resource, context, on_behalf_of, MONDAY_US)


def invalid(decision: Decision) -> str:
    assert decision.allowed is False
    (reason,) = decision.reasons
    assert reason.code is ReasonCode.INVALID_REQUEST
    return reason.message


AGENT_WORDS = "the agent must be a name of 1 to 320 characters"
ACTION_WORDS = f"the action must be a name of 1 to {MAX_ACTION_LENGTH} characters"
RESOURCE_WORDS = f"the resource must be 'system:path', 1 to {MAX_RESOURCE_LENGTH} characters"
PERSON_WORDS = "on_behalf_of must be an e-mail address"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"agent_name": ""}, AGENT_WORDS),
        ({"agent_name": 7}, AGENT_WORDS),
        ({"agent_name": "a" * (MAX_PRINCIPAL_LENGTH + 1)}, AGENT_WORDS),
        ({"action": ""}, ACTION_WORDS),
        ({"action": None}, ACTION_WORDS),
        ({"action": "a" * (MAX_ACTION_LENGTH + 1)}, ACTION_WORDS),
        ({"resource": ""}, RESOURCE_WORDS),
        ({"resource": ["zendesk:x"]}, RESOURCE_WORDS),
        ({"resource": "z:" + "a" * MAX_RESOURCE_LENGTH}, RESOURCE_WORDS),
        ({"context": ["not", "an", "object"]}, "the context must be an object"),
        ({"on_behalf_of": ""}, PERSON_WORDS),
        ({"on_behalf_of": 5}, PERSON_WORDS),
        ({"on_behalf_of": "p" * (MAX_PRINCIPAL_LENGTH + 1)}, PERSON_WORDS),
    ],
)
def test_a_malformed_request_is_an_invalid_request_naming_the_field(
    kwargs: dict[str, Any], words: str
) -> None:
    assert invalid(decide(**kwargs)) == words


def test_the_longest_well_formed_values_are_decided_not_refused() -> None:
    """Exactly at each bound the request is decided on its merits."""
    longest_agent = decide(agent_name="a" * MAX_PRINCIPAL_LENGTH)
    assert longest_agent.codes == ["unknown_agent"]
    longest_action = decide(action="t" * MAX_ACTION_LENGTH)
    assert longest_action.codes == ["no_matching_capability"]
    longest_resource = decide(resource="zendesk:" + "a" * (MAX_RESOURCE_LENGTH - 8))
    assert longest_resource.allowed is True
    person = "p" * (MAX_PRINCIPAL_LENGTH - 13) + "@acme.example"
    assert "unknown_delegator" in decide(on_behalf_of=person).codes


def test_explain_refuses_malformed_input_by_itself() -> None:
    """explain() is also called directly (the CLI's explain): it checks input itself."""
    bad = explain(SNAPSHOT, "support-bot", "", "zendesk:x", {}, None, MONDAY_US)
    assert invalid(bad) == ACTION_WORDS
    odd = explain(SNAPSHOT, "support-bot", "tickets.read", "zendesk:x", [], None, MONDAY_US)
    assert invalid(odd) == "the context must be an object"
    person = explain(SNAPSHOT, "support-bot", "tickets.read", "zendesk:x", {}, "", MONDAY_US)
    assert invalid(person) == PERSON_WORDS


def test_any_mapping_is_a_context() -> None:
    context = MappingProxyType({"args": MappingProxyType({"size": 3})})
    assert decide(action="tickets.update", context=context).allowed is True
    assert explain(
        SNAPSHOT, "support-bot", "tickets.update", "zendesk:x", context, None, MONDAY_US
    ).allowed


def reasons(decision: Decision) -> dict[str, str]:
    return {reason.id: reason.message for reason in decision.reasons}


def test_delegation_reasons_name_the_person_and_the_groups() -> None:
    unknown = reasons(decide(on_behalf_of="Nobody@Acme.Example"))
    assert unknown["unknown_delegator"] == "nobody@acme.example is not in the directory"
    assert unknown["delegation_not_allowed"] == (
        "the charter of 'support-bot' accepts delegation only from support, ops; "
        "nobody@acme.example is in no group"
    )
    assert unknown["delegator_lacks_access"] == (
        "no role of nobody@acme.example allows tickets.read on zendesk:tickets/1; an agent "
        "never gets more than the person it acts for"
    )
    departed = reasons(decide(on_behalf_of="tom@acme.example"))
    assert departed["delegator_departed"] == (
        "tom@acme.example has departed; a departed person delegates nothing"
    )
    outsider = reasons(decide(on_behalf_of="priya@acme.example"))
    assert outsider["delegation_not_allowed"] == (
        "the charter of 'support-bot' accepts delegation only from support, ops; "
        "priya@acme.example is in finance"
    )


def test_a_charter_without_delegation_says_so() -> None:
    words = reasons(decide(agent_name="loner", on_behalf_of="maria@acme.example"))
    assert words["delegation_not_allowed"] == "the charter of 'loner' does not accept delegation"
    allowed = decide(on_behalf_of="maria@acme.example")
    assert allowed.allowed is True
    assert allowed.role == "role/support-staff/allow/0"


def test_a_person_in_several_groups_is_named_with_all_of_them() -> None:
    people = [*PEOPLE, Person("ana@acme.example", "Ana", groups=("finance", "legal"))]
    snapshot = build_snapshot((BOT,), people, parse_org_policy({}), ROLES)
    decision = evaluate(
        snapshot, "support-bot", "tickets.read", "zendesk:t", None, "ana@acme.example", MONDAY_US
    )
    assert reasons(decision)["delegation_not_allowed"].endswith(
        "ana@acme.example is in finance, legal"
    )


def test_a_conditional_role_decides_on_the_context_and_the_time() -> None:
    """The person's role rule is checked with the request's context and time too."""
    roles = parse_roles(
        {
            "roles": [
                {
                    "name": "support-staff",
                    "groups": ["support"],
                    "allow": [
                        {
                            "action": "tickets.*",
                            "resource": "zendesk:*",
                            "when": [{"attribute": "ticket.open", "op": "eq", "value": True}],
                            "schedule": {"days": ["mon"], "start": "09:00", "end": "12:00"},
                        }
                    ],
                }
            ]
        }
    )
    snapshot = build_snapshot((BOT,), PEOPLE, parse_org_policy({}), roles)

    def codes(context: dict[str, Any], now_us: int) -> list[str]:
        decision = evaluate(
            snapshot,
            "support-bot",
            "tickets.read",
            "zendesk:t",
            context,
            "maria@acme.example",
            now_us,
        )
        return decision.codes

    assert codes({"ticket": {"open": True}}, MONDAY_US) == []
    assert codes({"ticket": {"open": False}}, MONDAY_US) == ["delegator_lacks_access"]
    evening = MONDAY_US + 8 * 3600 * 1_000_000
    assert codes({"ticket": {"open": True}}, evening) == ["delegator_lacks_access"]


def test_a_value_conditions_cannot_compare_is_named_with_its_type() -> None:
    words = reasons(decide(action="tickets.update", context={"args": {"size": [1, 2]}}))
    rule = "charter/support-bot/allow/1"
    assert words["condition_failed:args.size"] == (
        f"{rule} requires args.size le 10; args.size is list, which conditions cannot compare"
    )
    missing = reasons(decide(action="tickets.update", context={}))
    assert missing["condition_failed:args.size"] == (
        f"{rule} requires args.size le 10; args.size is missing from the context"
    )
    wrong = reasons(decide(action="tickets.update", context={"args": {"size": 11}}))
    assert (
        wrong["condition_failed:args.size"]
        == f"{rule} requires args.size le 10; args.size is 11 (number)"
    )


def test_an_exception_while_deciding_is_an_evaluation_error_deny() -> None:
    class Exploding(dict[str, Any]):
        def get(self, *args: Any) -> Any:
            raise RuntimeError("boom")

    decision = decide(action="tickets.update", context=Exploding(args={"size": 1}))
    assert decision == Decision(
        False,
        reasons=(
            Reason(
                ReasonCode.EVALUATION_ERROR,
                "the decision could not be evaluated (RuntimeError); denied",
            ),
        ),
    )


def only(decision: Decision) -> Reason:
    assert decision.allowed is False
    (reason,) = decision.reasons
    return reason


def test_each_deny_reason_in_words() -> None:
    assert only(decide(agent_name="ghost")).message == "no agent named 'ghost' is registered"
    paused = agent({"name": "paused", "allow": [{"action": "a.read"}]}, AgentState.SUSPENDED)
    snapshot = estate(paused)
    assert only(evaluate(snapshot, "paused", "a.read", "s:x", None, None, MONDAY_US)).message == (
        "agent 'paused' is suspended; only active agents are allowed anything"
    )
    old = agent({"name": "old", "expires": "2026-10-31", "allow": [{"action": "a.read"}]})
    expired = only(evaluate(estate(old), "old", "a.read", "s:x", None, None, MONDAY_US))
    assert expired.message == "the charter of 'old' expired after 2026-10-31"


def test_org_policy_and_charter_denies_in_words() -> None:
    guarded = agent(
        {
            "name": "guarded",
            "allow": [{"action": "*", "resource": "*"}],
            "deny": [{"action": "db.drop", "resource": "db:prod", "valid": VALID}],
        }
    )
    org = parse_org_policy(
        {
            "deny": [
                {"id": "no-iam", "description": "No IAM changes", "action": "iam.*"},
                {
                    "id": "quiet",
                    "description": "Quiet hours",
                    "action": "mail.send",
                    "schedule": WHOLE_MONDAY,
                },
            ]
        }
    )
    snapshot = build_snapshot((guarded,), PEOPLE, org, ROLES)

    def message(action: str, resource: str) -> str:
        return only(evaluate(snapshot, "guarded", action, resource, {}, None, MONDAY_US)).message

    assert message("iam.put", "aws:1") == (
        "organisation policy org/no-iam forbids iam.put on aws:1: No IAM changes"
    )
    assert message("mail.send", "m:x") == (
        "organisation policy org/quiet forbids mail.send on m:x: Quiet hours"
    )
    assert message("db.drop", "db:prod") == (
        "the charter of 'guarded' denies db.drop on db:prod (charter/guarded/deny/0)"
    )
    assert only(evaluate(snapshot, "guarded", "db.drop", "db:prod", {}, None, MONDAY_US)).rule == (
        "charter/guarded/deny/0"
    )


def test_why_an_allow_rule_did_not_apply_names_the_rule() -> None:
    windowed = agent(
        {
            "name": "windowed",
            "allow": [
                {
                    "action": "a.read",
                    "valid": {"from": "2026-12-01T00:00:00Z"},
                    "schedule": {"days": ["tue"], "start": "09:00", "end": "10:00"},
                    "when": [{"attribute": "size", "op": "le", "value": 3}],
                }
            ],
        }
    )
    decision = evaluate(estate(windowed), "windowed", "a.read", "s:x", {"size": 1}, None, MONDAY_US)
    rule = "charter/windowed/allow/0"
    assert decision.reasons == (
        Reason(
            ReasonCode.OUTSIDE_VALIDITY,
            f"{rule} is valid 2026-12-01T00:00:00+00:00 – …; it is 2026-11-02T10:00:00+00:00",
            rule,
        ),
        Reason(
            ReasonCode.OUTSIDE_SCHEDULE,
            f"{rule} applies tue 09:00–10:00 UTC; it is mon 10:00 there",
            rule,
        ),
    )
    failing = evaluate(estate(windowed), "windowed", "a.read", "s:x", {"size": 9}, None, MONDAY_US)
    assert failing.reasons[-1] == Reason(
        ReasonCode.CONDITION_FAILED,
        f"{rule} requires size le 3; size is 9 (number)",
        rule,
        "size",
    )


def test_a_delegated_allow_explained_names_both_rules() -> None:
    """A context that is a Mapping but not a dict takes the explained path."""
    context = MappingProxyType({})
    decision = evaluate(
        SNAPSHOT,
        "support-bot",
        "tickets.read",
        "zendesk:t",
        context,
        "maria@acme.example",
        MONDAY_US,
    )
    assert decision.allowed is True
    assert decision.rule == "charter/support-bot/allow/0"
    assert decision.role == "role/support-staff/allow/0"


def test_without_a_time_the_decision_uses_the_clock() -> None:
    now = dt.datetime.now(dt.UTC)
    current = agent(
        {
            "name": "current",
            "allow": [
                {
                    "action": "a.read",
                    "valid": {
                        "from": (now - dt.timedelta(hours=1)).isoformat(),
                        "until": (now + dt.timedelta(hours=1)).isoformat(),
                    },
                }
            ],
        }
    )
    assert evaluate(estate(current), "current", "a.read", "s:x").allowed is True


def test_a_failed_decision_is_logged_with_the_request(caplog: pytest.LogCaptureFixture) -> None:
    class Exploding(dict[str, Any]):
        def get(self, *args: Any) -> Any:
            raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="charter.decisions"):
        decide(action="tickets.update", context=Exploding())
    assert caplog.records[-1].getMessage() == (
        "decision failed for agent='support-bot' action='tickets.update' "
        "resource='zendesk:tickets/1'"
    )


def test_a_delegated_request_whose_charter_condition_fails_is_explained() -> None:
    decision = decide(
        action="tickets.update", context={"args": {"size": 99}}, on_behalf_of="maria@acme.example"
    )
    assert decision.codes == ["condition_failed:args.size"]
    allowed = decide(
        action="tickets.update", context={"args": {"size": 1}}, on_behalf_of="Maria@Acme.Example"
    )
    assert (allowed.allowed, allowed.rule, allowed.role) == (
        True,
        "charter/support-bot/allow/1",
        "role/support-staff/allow/0",
    )


def test_an_explained_delegation_checks_the_role_against_the_context() -> None:
    """A Mapping context that is not a dict is decided by explain(): the role sees it too."""
    roles = parse_roles(
        {
            "roles": [
                {
                    "name": "support-staff",
                    "groups": ["support"],
                    "allow": [
                        {
                            "action": "tickets.*",
                            "resource": "zendesk:*",
                            "when": [{"attribute": "ticket.open", "op": "eq", "value": True}],
                        }
                    ],
                }
            ]
        }
    )
    snapshot = build_snapshot((BOT,), PEOPLE, parse_org_policy({}), roles)
    context = MappingProxyType({"ticket": MappingProxyType({"open": True})})
    decision = evaluate(
        snapshot,
        "support-bot",
        "tickets.read",
        "zendesk:t",
        context,
        "maria@acme.example",
        MONDAY_US,
    )
    assert decision.allowed is True
    assert decision.role == "role/support-staff/allow/0"


def test_with_two_bad_fields_the_first_is_named() -> None:
    assert invalid(decide(agent_name="a" * MAX_PRINCIPAL_LENGTH, action="")) == ACTION_WORDS
    assert invalid(decide(action="a" * MAX_ACTION_LENGTH, resource="")) == RESOURCE_WORDS
    assert invalid(decide(resource="z:" + "a" * (MAX_RESOURCE_LENGTH - 2), context=[])) == (
        "the context must be an object"
    )
