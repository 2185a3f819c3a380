"""The pure parts of intent: what-if replay (memoised where the clock cannot matter, decided at
each call's moment where it can) and drafting (generalise only where clear, bound arguments
only when every call carried them, a schedule only with enough calls)."""

from __future__ import annotations

import datetime as dt

import pytest

from charter.domain.agent import Agent
from charter.domain.charter_parsing import parse_charter, parse_charter_text
from charter.domain.compiled import build_snapshot
from charter.domain.conditions import epoch_micros
from charter.domain.drafting import Drafter, DraftEvidence
from charter.domain.enums import AgentState
from charter.domain.evaluation import evaluate
from charter.domain.whatif import Change, Replay
from charter.domain.whatif_input import ProposalKind, parse_proposal_text
from charter.errors import InvalidInput

MONDAY_10 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
SATURDAY_10 = dt.datetime(2026, 11, 7, 10, 0, tzinfo=dt.UTC)


def _agent(document: dict[str, object]) -> Agent:
    spec = parse_charter({"owner": "a@acme.example", "purpose": "a test agent here", **document})
    return Agent(spec.name, spec.owner, AgentState.ACTIVE, spec, 1, MONDAY_10, MONDAY_10)


def _replay(current: dict[str, object], proposed: dict[str, object]) -> Replay:
    return Replay(
        build_snapshot([_agent(current)], []),
        build_snapshot([_agent(proposed)], []),
        subject="charter bot",
    )


def test_replay_decides_timed_rules_at_each_calls_moment() -> None:
    plain = {"name": "bot", "allow": [{"action": "t.read", "resource": "t:*"}]}
    office = {
        "name": "bot",
        "allow": [
            {
                "action": "t.read",
                "resource": "t:*",
                "schedule": {"days": ["mon", "tue", "wed", "thu", "fri"]},
            }
        ],
    }
    replay = _replay(plain, office)
    rows = [
        (MONDAY_10.isoformat(), "bot", "t.read", "t:1", None, None, True),
        (SATURDAY_10.isoformat(), "bot", "t.read", "t:1", None, None, True),
        (SATURDAY_10, "bot", "t.read", "t:1", None, None, True),
    ]
    replay.feed(rows)
    report = replay.report(days=30, since=MONDAY_10, until=SATURDAY_10)
    assert (report.newly_denied, report.newly_allowed, report.rows) == (2, 0, 3)
    assert report.examples[0].first == SATURDAY_10
    assert "mon" in report.examples[0].reason or "schedule" in report.examples[0].reason


def test_replay_memo_keeps_expiry_and_context_apart() -> None:
    now = {"name": "bot", "allow": [{"action": "pay", "resource": "p:*"}]}
    proposed = {
        "name": "bot",
        "expires": "2026-11-03",
        "allow": [
            {
                "action": "pay",
                "resource": "p:*",
                "when": [{"attribute": "args.n", "op": "le", "value": 10}],
            }
        ],
    }
    replay = _replay(now, proposed)
    late = dt.datetime(2026, 11, 4, 9, 0, tzinfo=dt.UTC)
    small, large = '{"args": {"n": 5}}', '{"args": {"n": 50}}'
    replay.feed(
        [
            (MONDAY_10, "bot", "pay", "p:1", None, small, True),
            (MONDAY_10, "bot", "pay", "p:1", None, small, True),
            (late, "bot", "pay", "p:1", None, small, True),  # same request, after the expiry
            (MONDAY_10, "bot", "pay", "p:1", None, large, False),  # recorded otherwise
        ]
    )
    report = replay.report(days=30, since=MONDAY_10, until=late)
    assert report.newly_denied == 2 and report.allowed_proposed == 2
    assert report.differs_from_recorded == 1
    assert report.by_action == {"pay": {Change.NEWLY_DENIED.value: 2, "newly_allowed": 0}}


def _drafter(calls: list[tuple[dt.datetime, str, str, dict[str, object] | None]]) -> Drafter:
    drafter = Drafter()
    for moment, action, resource, context in calls:
        drafter.add(epoch_micros(moment), action, resource, None, context, "gateway")
    return drafter


EVIDENCE = DraftEvidence(
    name="bot", today=dt.date(2026, 11, 10), window_days=30, owner="a@acme.example"
)


def test_draft_generalises_only_where_the_pattern_is_clear() -> None:
    two = [(MONDAY_10, "t.read", f"t:tickets/{n}", None) for n in (1, 2)]
    three = [(MONDAY_10, "t.write", f"t:tickets/{n}", None) for n in (1, 2, 3)]
    starred = [(MONDAY_10, "t.read", "t:odd*name", None)]
    draft = _drafter(two + three + starred).draft(EVIDENCE)
    allows = {(c.action, c.resource) for c in draft.spec.allow}
    assert allows == {
        ("t.read", "t:tickets/1"),
        ("t.read", "t:tickets/2"),
        ("t.read", "t:odd\\*name"),  # a literal star stays literal
        ("t.write", "t:tickets/*"),
    }
    snapshot = build_snapshot(
        [Agent("bot", "a@acme.example", AgentState.ACTIVE, draft.spec, 1, MONDAY_10, MONDAY_10)], []
    )
    now = epoch_micros(MONDAY_10)
    assert not evaluate(snapshot, "bot", "t.read", "t:oddXname", {}, None, now).allowed
    assert evaluate(snapshot, "bot", "t.read", "t:odd*name", {}, None, now).allowed
    assert draft.spec.expires == dt.date(2027, 2, 8)
    assert parse_charter_text(draft.text) == draft.spec
    assert draft.spec.delegation.allowed is False
    assert draft.text.count("# evidence:") == 4


def test_ranges_and_schedules_need_enough_and_complete_evidence() -> None:
    few = [(MONDAY_10, "pay", "p:1", {"args": {"amount": 30}}) for _ in range(4)]
    assert "when" not in _drafter(few).draft(EVIDENCE).text  # four calls: no range
    enough = [(MONDAY_10, "pay", "p:1", {"args": {"amount": a}}) for a in (5, 30, 187, 60, 9)]
    rule = _drafter(enough).draft(EVIDENCE).spec.allow[0]
    assert [(c.attribute, c.op.value, c.value) for c in rule.when] == [
        ("args.amount", "ge", 0),
        ("args.amount", "le", 200),
    ]
    partial = [*enough, (MONDAY_10, "pay", "p:1", None)]
    assert _drafter(partial).draft(EVIDENCE).spec.allow[0].when == []
    office = [
        (MONDAY_10 + dt.timedelta(days=week * 7 + day, hours=hour), "r", "x:1", None)
        for week in range(2)
        for day in range(5)
        for hour in range(2)
    ]
    burst = [(MONDAY_10 + dt.timedelta(minutes=m), "r", "x:1", None) for m in range(30)]
    assert _drafter(burst).draft(EVIDENCE).spec.allow[0].schedule is None  # one date only
    spec = _drafter(office).draft(EVIDENCE).spec
    schedule = spec.allow[0].schedule
    assert schedule is not None
    assert [d.value for d in schedule.days] == ["mon", "tue", "wed", "thu", "fri"]
    assert (schedule.start, schedule.end) == ("10:00", "12:00")
    assert _drafter(office[:19]).draft(EVIDENCE).spec.allow[0].schedule is None


def test_draft_refuses_without_calls_or_owner() -> None:
    with pytest.raises(InvalidInput) as caught:
        Drafter().draft(EVIDENCE)
    assert caught.value.field == "name"
    calls = [(MONDAY_10, "r", "x:1", None)]
    with pytest.raises(InvalidInput) as caught:
        _drafter(calls).draft(DraftEvidence("bot", dt.date(2026, 11, 10), 30))
    assert caught.value.field == "owner"


def test_proposal_kinds_are_recognised_or_refused() -> None:
    assert parse_proposal_text("roles: []").kind is ProposalKind.ROLES
    assert parse_proposal_text("version: 1\ndeny: []").kind is ProposalKind.POLICY
    with pytest.raises(InvalidInput) as caught:
        parse_proposal_text("roles: []", kind="nonsense")
    assert caught.value.field == "kind"
    with pytest.raises(InvalidInput):
        parse_proposal_text("name: x")  # read as a charter: owner and purpose missing


def test_touched_actions_compare_rules_by_content() -> None:
    from charter.domain.org_policy import parse_org_policy
    from charter.domain.whatif_scope import Scope

    def policy(resource: str) -> object:
        return parse_org_policy(
            {
                "version": 1,
                "deny": [
                    {"id": "x", "action": "pay*", "resource": resource, "description": "no paying"}
                ],
            }
        )

    current = build_snapshot([_agent({"name": "bot"})], [], policy("p:*"))  # type: ignore[arg-type]
    same = current.with_changes(org_policy=policy("p:*"))  # type: ignore[arg-type]
    edited = current.with_changes(org_policy=policy("q:*"))  # type: ignore[arg-type]
    actions = ["pay", "payout", "read"]
    assert Scope(current, same).actions(actions) == set()
    scope = Scope(current, edited)
    assert scope.actions(actions) == {"pay", "payout"}
    assert scope.resource_patterns(["pay"]) == ["p:*", "q:*"]
    touch = scope.touch("bot", "pay")
    assert touch is not None and touch.applies("q:1") and not touch.applies("r:1")
