"""Lifecycle workflows on the store (SQLite and PostgreSQL), driven by a fake clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from tests.support import governance_seed as seed

from charter.domain.enums import AgentState
from charter.domain.governance.review_model import CampaignStatus, ItemStatus, ReviewDecision
from charter.errors import Conflict, InvalidInput, PermissionDenied
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.governance.jit import JitStatus
from charter.services.governance.rotation import RotationStatus

DAY = dt.timedelta(days=1)


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Iterator[Services]:
    seed.seed_people_and_agents(services)
    services.reconcile.apply(seed.aws_batch(clock.now()), actor="test")
    yield services
    if "decisions" in services.__dict__:  # stop its change watcher before the store goes
        services.decisions.close()


def _decide(services: Services, agent: str, action: str, resource: str) -> bool:
    return (
        services.decisions.refresh() is not None
        and services.decisions.decide(agent, action, resource, record=False).allowed
    )


# -- access reviews -----------------------------------------------------------------------------
def test_review_reduce_plans_then_applies_and_decisions_follow(
    estate: Services, clock: FixedClock
) -> None:
    clock.advance(days=60)
    now = clock.now()
    seed.add_activity(
        estate, seed.uses("summarizer", "tickets.read", "zendesk:tickets/7", now - DAY, n=3)
    )
    reviews = estate.governance.reviews
    plan = reviews.plan_start("owner:ada@acme.example")
    assert [i.agent for i in plan.items] == ["summarizer"]
    assert plan.items[0].suggestion["remove"] == [
        "slack.post_message on slack:channels/digest",
        "crm.read on salesforce:*",
    ]
    assert reviews.list() == []  # a plan changes nothing
    campaign = reviews.start("owner:ada@acme.example", actor="cli:sec")
    assert campaign.status == CampaignStatus.OPEN and campaign.items[0].reviewer == (
        "ada@acme.example"
    )
    assert _decide(estate, "summarizer", "crm.read", "salesforce:accounts")
    with pytest.raises(PermissionDenied):
        reviews.decide(
            campaign.id, "summarizer", ReviewDecision.REDUCE, by="sam@acme.example", actor="cli:sam"
        )
    decision_plan = reviews.plan_decision(campaign.id, "summarizer", ReviewDecision.REDUCE)
    assert "-  - action: crm.read" in decision_plan.diff or "crm.read" in decision_plan.diff
    assert decision_plan.charter_version == 1 and not decision_plan.suspend
    item = reviews.decide(
        campaign.id,
        "summarizer",
        ReviewDecision.REDUCE,
        by="ada@acme.example",
        actor="cli:ada",
        reason="only reads tickets",
    )
    assert item.status == ItemStatus.REDUCED and item.new_charter_version == 2
    agent = estate.registry.get("summarizer")
    assert agent.charter is not None
    assert [c.action for c in agent.charter.allow] == ["tickets.read"]
    assert agent.charter.deny  # deny rules stay
    assert [v.version for v in estate.registry.history("summarizer")] == [1, 2]  # v1 kept
    assert not _decide(estate, "summarizer", "crm.read", "salesforce:accounts")
    assert _decide(estate, "summarizer", "tickets.read", "zendesk:tickets/8")
    assert reviews.get(campaign.id).status == CampaignStatus.CLOSED
    actions = [e.action for e in estate.audit.list(newest_first=False, limit=1000)]
    for step in ("review.start", "agent.update", "review.decide", "review.close"):
        assert step in actions
    with pytest.raises(Conflict):
        reviews.decide(
            campaign.id, "summarizer", ReviewDecision.KEEP, by="ada@acme.example", actor="cli:ada"
        )


def test_review_revoke_suspends_and_nothing_to_reduce_is_refused(estate: Services) -> None:
    reviews = estate.governance.reviews
    campaign = reviews.start("agent:summarizer", actor="cli:sec")
    # no activity at all: the least-privilege set is empty, so reduce = remove everything;
    # revoke additionally suspends
    plan = reviews.plan_decision(campaign.id, "summarizer", ReviewDecision.REVOKE)
    assert plan.suspend and "suspended" in plan.changes[-1]
    reviews.decide(
        campaign.id, "summarizer", ReviewDecision.REVOKE, by="ada@acme.example", actor="cli:ada"
    )
    agent = estate.registry.get("summarizer")
    assert agent.state == AgentState.SUSPENDED and agent.charter is not None
    assert agent.charter.allow == []
    with pytest.raises(InvalidInput, match="scope"):
        reviews.plan_start("team:x")


def test_unreviewed_items_are_reminded_then_suspended(estate: Services, clock: FixedClock) -> None:
    reviews, deadlines = estate.governance.reviews, estate.governance.review_deadlines
    campaign = reviews.start("all", actor="cli:sec", due_in=14 * 86400)
    assert {i.agent for i in campaign.items} == {"summarizer", "release-notes"}
    # tom left: his agent is reviewed by his manager
    assert {i.agent: i.reviewer for i in campaign.items}["release-notes"] == "ada@acme.example"
    clock.advance(days=8)  # 6 days before the due date: the 7-day reminder
    assert deadlines.remind(actor="worker") == 2
    assert deadlines.remind(actor="worker") == 0  # once
    clock.advance(days=5, hours=12)  # half a day before: the 1-day reminder
    assert deadlines.remind(actor="worker") == 2
    clock.advance(days=1)
    actions = deadlines.enforce_deadlines(actor="worker")
    assert {a["agent"]: a["suspended"] for a in actions} == {
        "summarizer": "true",
        "release-notes": "true",
    }
    assert estate.registry.get("summarizer").state == AgentState.SUSPENDED
    assert reviews.get(campaign.id).status == CampaignStatus.CLOSED
    assert deadlines.enforce_deadlines(actor="worker") == []
    reminders = estate.governance.notices.list(kind="review.remind")
    assert len(reminders) == 4 and {n.recipient for n in reminders} == {"ada@acme.example"}


# -- just-in-time access --------------------------------------------------------------------------
def test_jit_is_effective_at_once_and_gone_at_its_end(estate: Services, clock: FixedClock) -> None:
    jit = estate.governance.jit
    assert not _decide(estate, "summarizer", "crm.write", "salesforce:accounts/1")
    with pytest.raises(InvalidInput, match="duration"):
        jit.request(
            "summarizer",
            action="crm.write",
            resource="salesforce:*",
            reason="x",
            actor="cli:bot",
            duration=24 * 3600,
        )
    grant = jit.request(
        "summarizer",
        action="crm.write",
        resource="salesforce:accounts/*",
        reason="fix duplicate accounts",
        actor="cli:bot",
        duration=2 * 3600,
    )
    assert grant.status == JitStatus.PENDING
    assert not _decide(estate, "summarizer", "crm.write", "salesforce:accounts/1")
    with pytest.raises(PermissionDenied):
        jit.approve(grant.id, by="sam@acme.example", actor="cli:sam")
    approved = jit.approve(grant.id, by="ada@acme.example", actor="cli:ada")
    assert approved.ends_at == clock.now() + dt.timedelta(hours=2)
    assert _decide(estate, "summarizer", "crm.write", "salesforce:accounts/1")  # at once
    assert not _decide(estate, "summarizer", "crm.write", "salesforce:leads/1")  # only its scope
    clock.advance(hours=2, seconds=1)  # nobody acts: the window closed
    assert not _decide(estate, "summarizer", "crm.write", "salesforce:accounts/1")
    assert jit.expire(actor="worker") == [grant.id]
    assert jit.get(grant.id).status == JitStatus.EXPIRED
    # a grant never beats a deny rule of the charter
    delete = jit.request(
        "summarizer",
        action="tickets.delete",
        resource="zendesk:tickets/*",
        reason="spam cleanup",
        actor="cli:bot",
    )
    jit.approve(delete.id, by="ada@acme.example", actor="cli:ada")
    assert not _decide(estate, "summarizer", "tickets.delete", "zendesk:tickets/1")
    refused = jit.request("summarizer", action="x.y", resource="a:b", reason="try", actor="cli:bot")
    assert jit.deny(refused.id, by="ada@acme.example", actor="cli:ada").status == JitStatus.DENIED
    with pytest.raises(Conflict):
        jit.approve(refused.id, by="ada@acme.example", actor="cli:ada")
    actions = [e.action for e in estate.audit.list(target_type="access", newest_first=False)]
    assert actions == [
        "access.request",
        "access.approve",
        "access.expire",
        "access.request",
        "access.approve",
        "access.request",
        "access.deny",
    ]


# -- owner departure ------------------------------------------------------------------------------
def test_departed_owner_pending_transfer_accept_or_suspend(
    estate: Services, clock: FixedClock
) -> None:
    seed.register(estate, {**seed.TOMS, "name": "changelog", "owner": "ada@acme.example"})
    estate.registry.transfer("changelog", "sam@acme.example", actor="test")
    departures = estate.governance.departures
    actions = departures.apply(actor="worker")
    assert actions == [
        {"agent": "release-notes", "action": "pending_transfer", "to": "ada@acme.example"}
    ]
    assert departures.apply(actor="worker") == []  # idempotent
    assert estate.registry.get("release-notes").pending_owner == "ada@acme.example"
    with pytest.raises(PermissionDenied):
        departures.accept("release-notes", by="sam@acme.example", actor="cli:sam")
    clock.advance(days=15)  # past the 14-day grace
    lapsed = departures.apply(actor="worker")
    assert lapsed == [{"agent": "release-notes", "action": "suspended", "to": "ada@acme.example"}]
    assert estate.registry.get("release-notes").state == AgentState.SUSPENDED
    accepted = departures.accept("release-notes", by="ada@acme.example", actor="cli:ada")
    assert accepted.owner == "ada@acme.example" and accepted.pending_owner is None
    events = [e.action for e in estate.audit.list(target="release-notes", newest_first=False)]
    assert events[-3:] == ["agent.pending_transfer", "agent.suspend", "agent.transfer"]
    assert estate.governance.notices.list(recipient="ada@acme.example", kind="ownership.pending")


# -- expiry ----------------------------------------------------------------------------------------
def test_expiry_warns_ahead_then_suspends(estate: Services, clock: FixedClock) -> None:
    expiry = estate.governance.expiry
    clock.advance(days=(dt.date(2027, 6, 30) - clock.now().date()).days - 20)
    assert [a["action"] for a in expiry.apply(actor="worker")] == ["warned"]  # 30-day warning
    assert expiry.apply(actor="worker") == []
    clock.advance(days=14)  # 6 days left: the 7-day warning
    assert [a["action"] for a in expiry.apply(actor="worker")] == ["warned"]
    clock.advance(days=7)  # expired yesterday
    assert [a["action"] for a in expiry.apply(actor="worker")] == ["suspended"]
    assert estate.registry.get("summarizer").state == AgentState.SUSPENDED
    assert expiry.apply(actor="worker") == []
    warnings = estate.governance.notices.list(kind="expiry.warn")
    assert len(warnings) == 2


# -- rotation --------------------------------------------------------------------------------------
def test_rotation_scheduled_stepped_and_verified_by_the_next_ingest(
    estate: Services, clock: FixedClock
) -> None:
    rotation = estate.governance.rotation
    (rotation_id,) = rotation.schedule(actor="worker")
    assert rotation.schedule(actor="worker") == []  # one open rotation per secret
    planned = rotation.get(rotation_id)
    assert planned.agent == "summarizer" and planned.owner == "ada@acme.example"
    assert planned.steps[0] == "aws iam create-access-key --user-name etl"
    assert any(seed.LEAKED_KEY in step for step in planned.steps)
    with pytest.raises(Conflict):
        rotation.verify(rotation_id, actor="cli:ada")
    started = rotation.start(rotation_id, actor="cli:ada")
    assert started.status == RotationStatus.IN_PROGRESS and started.note.startswith("task ")
    (task,) = estate.governance.tasks.list(agent="summarizer")
    assert task.steps == planned.steps and task.assignee == "ada@acme.example"
    check = rotation.verify(rotation_id, actor="cli:ada")
    assert not check.verified and any("still live" in r for r in check.reasons)
    clock.advance(hours=1)
    new = seed.aws_batch(clock.now(), with_old_key=False)
    from charter.domain.enums import CredentialKind
    from charter.domain.estate import Credential

    fresh = Credential(
        id=f"aws:{seed.ACCOUNT}:access-key/AKIANEW",
        source="aws",
        account=seed.ACCOUNT,
        kind=CredentialKind.ACCESS_KEY,
        provider="aws",
        fingerprint="b" * 64,
        preview="AKIA…NEW0",
        identity=f"aws:{seed.ACCOUNT}:user/etl",
        created_at=clock.now(),
    )
    estate.reconcile.apply(
        seed.Batch(
            "aws",
            seed.ACCOUNT,
            systems=new.systems,
            identities=new.identities,
            credentials=[fresh],
            grants=new.grants,
        ),
        actor="test",
    )
    assert rotation.verify_pending(actor="worker") == [rotation_id]
    assert rotation.get(rotation_id).status == RotationStatus.VERIFIED


# -- decommissioning -------------------------------------------------------------------------------
def test_decommission_plan_lists_everything_and_apply_files_tasks(estate: Services) -> None:
    grant = estate.governance.jit.request(
        "summarizer", action="x.y", resource="a:b", reason="try", actor="cli:bot"
    )
    service = estate.governance.decommission
    plan = service.plan("summarizer")
    by_kind = {i.kind: i for i in plan.items}
    assert by_kind["agent"].controlled and by_kind["jit"].id == grant.id
    assert "access token already issued is inactive" in by_kind["agent"].action
    tasks = {i.id for i in plan.task_items}
    assert f"aws:{seed.ACCOUNT}:access-key/{seed.LEAKED_KEY}" in tasks
    assert f"aws:{seed.ACCOUNT}:user/etl" in tasks  # the identity
    assert f"aws:{seed.ACCOUNT}:user/etl#grant/s3" in tasks  # its grant
    assert estate.registry.get("summarizer").state == AgentState.ACTIVE  # a plan changes nothing
    with pytest.raises(InvalidInput):
        service.apply("summarizer", actor="cli:ada", reason=" ")
    result = service.apply("summarizer", actor="cli:ada", reason="replaced by v2")
    assert estate.registry.get("summarizer").state == AgentState.DECOMMISSIONED
    assert result.revoked["jit_requests_denied"] == 1 and not result.problems
    (event,) = estate.audit.list(action="agent.decommission")
    assert event.after["tasks"] == len(plan.task_items) and event.after["reason"] == (
        "replaced by v2"
    )
    assert len(result.tasks) == len(plan.task_items)
    assert {t.target for t in estate.governance.tasks.list(agent="summarizer")} == tasks
    assert estate.governance.jit.get(grant.id).status == JitStatus.DENIED
    assert not _decide(estate, "summarizer", "tickets.read", "zendesk:tickets/1")
    with pytest.raises(Conflict, match="already decommissioned"):
        service.plan("summarizer")


def test_charter_issued_keys_rotate_on_the_charter_cadence(
    estate: Services, clock: FixedClock
) -> None:
    from charter.domain.tokens.jwk import generate_private_key
    from charter.services.tokens.keys import Alg

    estate.tokens.enrol("summarizer", generate_private_key(Alg.EDDSA).public_key(), actor="test")
    (old_key,) = estate.tokens.agent_keys("summarizer")
    rotation = estate.governance.rotation
    clock.advance(days=80)  # due at 90 days; scheduled two weeks ahead
    scheduled = [rotation.get(r) for r in rotation.schedule(actor="worker")]
    (mine,) = [r for r in scheduled if r.provider == "charter"]
    assert mine.credential == f"charter:summarizer/key/{old_key.kid}"
    assert mine.steps[0].startswith("charter agent enroll summarizer --generate")
    assert mine.due_at == old_key.created_at + dt.timedelta(days=90)
    rotation.start(mine.id, actor="cli:ada")
    assert not rotation.verify(mine.id, actor="cli:ada").verified
    clock.advance(minutes=1)
    estate.tokens.enrol("summarizer", generate_private_key(Alg.EDDSA).public_key(), actor="test")
    check = rotation.verify(mine.id, actor="cli:ada")
    assert not check.verified and "still accepted" in check.reasons[0]  # the overlap
    estate.tokens.revoke_agent_key("summarizer", old_key.kid, actor="test", reason="rotated")
    assert rotation.verify(mine.id, actor="cli:ada").verified
    plan = estate.governance.decommission.plan("summarizer")
    assert [i.kind for i in plan.charter_items].count("charter-key") == 1  # the new key
