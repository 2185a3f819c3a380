"""The decision semantics: default deny, deny wins, state, expiry, conditions, delegation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.unit.decisions.estate import MONDAY_US, agent, estate

from charter.domain.conditions import epoch_micros
from charter.domain.decision import ReasonCode
from charter.domain.enums import AgentState
from charter.domain.evaluation import evaluate

SUPPORT = agent(
    {
        "name": "support-bot",
        "allow": [
            {"action": "tickets.read", "resource": "zendesk:tickets/*"},
            {
                "action": "tickets.comment",
                "resource": "zendesk:tickets/*",
                "when": [{"attribute": "args.length", "op": "le", "value": 2000}],
            },
            {"action": "iam.read", "resource": "aws:*"},
            {"action": "data.export", "resource": "s3:*"},
            {"action": "slack.post_message", "resource": "slack:channels/support"},
        ],
        "deny": [
            {"action": "tickets.read", "resource": "zendesk:tickets/vip-*"},
            {
                "action": "*",
                "resource": "zendesk:*",
                "when": [{"attribute": "data.classification", "op": "eq", "value": "restricted"}],
            },
        ],
        "delegation": {"allowed": True, "groups": ["support"]},
        "expires": "2027-01-31",
    }
)


def decide(action: str, resource: str, context: dict[str, Any] | None = None, **kw: Any) -> Any:
    snapshot = kw.pop("snapshot", None) or estate(SUPPORT)
    return evaluate(
        snapshot,
        kw.pop("agent", "support-bot"),
        action,
        resource,
        context,
        kw.pop("on_behalf_of", None),
        kw.pop("now_us", MONDAY_US),
    )


SAFE = {"data": {"classification": "internal"}}


def test_allowed_names_the_rule() -> None:
    decision = decide("tickets.read", "zendesk:tickets/4711", SAFE)
    assert decision.allowed and decision.rule == "charter/support-bot/allow/0"
    assert decision.reasons == ()


def test_default_deny_and_deny_wins() -> None:
    nothing = decide("tickets.delete", "zendesk:tickets/1", SAFE)
    assert not nothing.allowed and nothing.codes == ["no_matching_capability"]
    vip = decide("tickets.read", "zendesk:tickets/vip-7", SAFE)
    assert not vip.allowed and vip.codes == ["explicitly_denied"]
    assert vip.reasons[0].rule == "charter/support-bot/deny/0"


def test_a_deny_whose_condition_cannot_be_evaluated_applies() -> None:
    unknown = decide("tickets.read", "zendesk:tickets/1", {})
    assert not unknown.allowed and unknown.codes == ["explicitly_denied"]
    restricted = decide(
        "tickets.read", "zendesk:tickets/1", {"data": {"classification": "restricted"}}
    )
    assert restricted.codes == ["explicitly_denied"]


def test_org_policy_denies_every_agent_and_is_reported_with_the_rest() -> None:
    iam = decide("iam.read", "aws:iam/role/x")
    assert not iam.allowed and iam.codes == ["org_policy_denied"]
    assert iam.reasons[0].rule == "org/no-iam"
    # a missing attribute in an org deny condition: the deny applies (fail closed)
    assert decide("data.export", "s3:bucket").codes == ["org_policy_denied"]
    assert decide("data.export", "s3:bucket", {"region": "us-east-1"}).codes == [
        "org_policy_denied"
    ]
    assert decide("data.export", "s3:bucket", {"region": "eu-west-1"}).allowed


def test_condition_failure_names_the_attribute() -> None:
    long = decide("tickets.comment", "zendesk:tickets/1", {**SAFE, "args": {"length": 5000}})
    assert long.codes == ["condition_failed:args.length"]
    assert "5000" in long.reasons[0].message
    missing = decide("tickets.comment", "zendesk:tickets/1", SAFE)
    assert missing.codes == ["condition_failed:args.length"]
    assert "missing" in missing.reasons[0].message
    wrong_type = decide("tickets.comment", "zendesk:tickets/1", {**SAFE, "args": {"length": "10"}})
    assert wrong_type.codes == ["condition_failed:args.length"]
    ok = decide("tickets.comment", "zendesk:tickets/1", {**SAFE, "args": {"length": 2000.0}})
    assert ok.allowed


@pytest.mark.parametrize(
    "state", [AgentState.PROPOSED, AgentState.SUSPENDED, AgentState.DECOMMISSIONED]
)
def test_only_active_agents_are_allowed(state: AgentState) -> None:
    snapshot = estate(agent({"name": "support-bot", "allow": [{"action": "*"}]}, state))
    decision = decide("tickets.read", "zendesk:tickets/1", SAFE, snapshot=snapshot)
    assert not decision.allowed and decision.codes == ["agent_not_active"]


def test_expired_charter_allows_nothing_from_the_day_after() -> None:
    last_day = epoch_micros(dt.datetime(2027, 1, 31, 23, 59, 59, tzinfo=dt.UTC))
    assert decide("tickets.read", "zendesk:tickets/1", SAFE, now_us=last_day).allowed
    after = decide("tickets.read", "zendesk:tickets/1", SAFE, now_us=last_day + 1_000_000)
    assert not after.allowed and after.codes == ["charter_expired"]


def test_unknown_agent_and_bad_input_never_allow() -> None:
    assert decide("tickets.read", "zendesk:tickets/1", agent="ghost").codes == ["unknown_agent"]
    too_long = decide("x" * 300, "zendesk:tickets/1", SAFE)
    assert too_long.codes == ["invalid_request"]
    not_a_mapping = evaluate(
        estate(SUPPORT),
        "support-bot",
        "tickets.read",
        "zendesk:tickets/1",
        ["list"],
        None,
        MONDAY_US,
    )  # type: ignore[arg-type]
    assert not_a_mapping.codes == ["invalid_request"]


class _BrokenIndex:
    def candidates(self, action: str) -> Any:
        raise RuntimeError("index corrupted")


def test_an_exception_is_a_logged_deny(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    snapshot = estate(SUPPORT)
    monkeypatch.setattr(snapshot, "org", _BrokenIndex())
    decision = evaluate(
        snapshot, "support-bot", "tickets.read", "zendesk:tickets/1", SAFE, None, MONDAY_US
    )
    assert not decision.allowed and decision.codes == [ReasonCode.EVALUATION_ERROR.value]
    assert "decision failed" in caplog.text


def test_on_behalf_of_is_the_intersection_of_charter_and_roles() -> None:
    maria = decide("tickets.read", "zendesk:tickets/1", SAFE, on_behalf_of="Maria@acme.example")
    assert maria.allowed and maria.role == "role/support-staff/allow/0"
    # the charter allows slack, maria's roles do not: the agent does not get it for her
    slack = decide(
        "slack.post_message", "slack:channels/support", SAFE, on_behalf_of="maria@acme.example"
    )
    assert slack.codes == ["delegator_lacks_access"]
    # alone, the agent may post to slack
    assert decide("slack.post_message", "slack:channels/support", SAFE).allowed


def test_delegation_refusals() -> None:
    priya = decide("tickets.read", "zendesk:tickets/1", SAFE, on_behalf_of="priya@acme.example")
    assert set(priya.codes) == {"delegation_not_allowed", "delegator_lacks_access"}
    tom = decide("tickets.read", "zendesk:tickets/1", SAFE, on_behalf_of="tom@acme.example")
    assert tom.codes == ["delegator_departed"]
    ghost = decide("tickets.read", "zendesk:tickets/1", SAFE, on_behalf_of="ghost@acme.example")
    assert set(ghost.codes) == {
        "unknown_delegator",
        "delegation_not_allowed",
        "delegator_lacks_access",
    }
    closed = agent(
        {"name": "support-bot", "allow": [{"action": "*"}], "delegation": {"allowed": False}}
    )
    refused = decide(
        "tickets.read",
        "zendesk:tickets/1",
        SAFE,
        on_behalf_of="maria@acme.example",
        snapshot=estate(closed),
    )
    assert refused.codes == ["delegation_not_allowed"]


def test_every_reason_is_listed() -> None:
    snapshot = estate(
        agent({"name": "support-bot", "allow": [{"action": "tickets.read"}]}, AgentState.SUSPENDED)
    )
    decision = decide("iam.write", "aws:iam", snapshot=snapshot, on_behalf_of="tom@acme.example")
    assert set(decision.codes) == {
        "agent_not_active",
        "org_policy_denied",
        "delegator_departed",
        "delegator_lacks_access",
    }
    assert "denied:" in decision.summary() and decision.to_dict()["allowed"] is False


def test_schedule_in_a_time_zone() -> None:
    office = agent(
        {
            "name": "support-bot",
            "allow": [
                {
                    "action": "tickets.read",
                    "schedule": {
                        "timezone": "Europe/Berlin",
                        "days": ["mon", "tue", "wed", "thu", "fri"],
                        "start": "08:00",
                        "end": "18:00",
                    },
                }
            ],
        }
    )
    snapshot = estate(office)
    monday_11_berlin = MONDAY_US
    assert decide(
        "tickets.read", "zendesk:tickets/1", snapshot=snapshot, now_us=monday_11_berlin
    ).allowed
    evening = monday_11_berlin + 8 * 3600 * 1_000_000  # 19:00 Berlin
    late = decide("tickets.read", "zendesk:tickets/1", snapshot=snapshot, now_us=evening)
    assert late.codes == ["outside_schedule"] and "mon 19:00" in late.reasons[0].message
    saturday = monday_11_berlin + 5 * 86400 * 1_000_000
    assert decide("tickets.read", "x:y", snapshot=snapshot, now_us=saturday).codes == [
        "outside_schedule"
    ]


def test_validity_window() -> None:
    window = agent(
        {
            "name": "support-bot",
            "allow": [
                {
                    "action": "tickets.read",
                    "valid": {"from": "2026-11-01T00:00:00Z", "until": "2026-11-03T00:00:00Z"},
                }
            ],
        }
    )
    snapshot = estate(window)
    assert decide("tickets.read", "x:y", snapshot=snapshot).allowed
    later = MONDAY_US + 86400 * 1_000_000
    assert decide("tickets.read", "x:y", snapshot=snapshot, now_us=later).codes == [
        "outside_validity"
    ]


def test_the_fast_path_gives_exactly_the_explained_decision() -> None:
    import random
    import sys
    from pathlib import Path

    from charter.domain.evaluation import explain

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    from tests.unit.decisions.estate import PEOPLE

    from decision_estate import generate

    generated = generate(agents=60, requests=3000, people=40, seed=11)
    agents = [agent(document) for document in generated.charters]
    people = [*PEOPLE]
    snapshot = estate(*agents)
    rng = random.Random(5)
    people_emails = [p.email for p in people] + [None, None, None]
    for name, action, resource, context, _ in generated.requests:
        person = rng.choice(people_emails)
        assert evaluate(snapshot, name, action, resource, context, person, MONDAY_US) == explain(
            snapshot, name, action, resource, context, person, MONDAY_US
        )
