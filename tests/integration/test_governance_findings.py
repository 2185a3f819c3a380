"""Findings on the store (SQLite and PostgreSQL): evaluation, lifecycle, currency, rollup."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from tests.support import governance_seed as seed

from charter.domain.enums import FindingStatus, Severity
from charter.domain.governance.ocsf import to_ocsf_events
from charter.domain.governance.sarif import to_sarif
from charter.errors import Conflict, InvalidInput
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.governance.findings import FindingFilter
from charter.services.governance.posture import PostureBy
from charter.store.governance_schema import activity_rollup

ALL = FindingFilter(status=tuple(FindingStatus))


def _by_rule(services: Services, rule: str, **where: str) -> list:  # type: ignore[type-arg]
    found, _ = services.governance.findings.list(
        FindingFilter(status=tuple(FindingStatus), rule=rule, **where)
    )
    return found


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Services:
    seed.seed_people_and_agents(services)
    services.reconcile.apply(seed.aws_batch(clock.now()), actor="test")
    services.reconcile.apply(seed.fs_batch(), actor="test")
    return services


def test_evaluation_finds_named_problems_with_the_json_contract(estate: Services) -> None:
    result = estate.governance.evaluation.evaluate(actor="test")
    assert result.counts["new"] == result.counts["hits"] > 0
    (leak,) = _by_rule(estate, "secret-leaked")
    body = leak.to_dict()
    assert body["rule"] == "secret-leaked" and body["owasp"] == ["NHI2"]
    assert body["severity"] == "critical"  # the same key is live in AWS
    assert body["entity"]["name"] == "AKIA…ED01"
    assert body["entity"]["identifiers"]["fingerprint"] == seed.FP_LEAKED
    assert body["entity"]["identifiers"]["location"] == "deploy/.env:3"
    assert body["evidence"]["live_in"] == [
        f"aws:{seed.ACCOUNT} (aws:{seed.ACCOUNT}:access-key/{seed.LEAKED_KEY})"
    ]
    (old,) = _by_rule(estate, "long-lived-secret")
    assert old.to_dict()["owasp"] == ["NHI7"] and old.owner == "ada@acme.example"
    (departed,) = _by_rule(estate, "agent-owner-departed")
    assert departed.entity_name == "release-notes"
    assert departed.suggestion == {"new_owner": "ada@acme.example"}
    # the clean role has nothing
    assert not [
        f
        for f in estate.governance.findings.list(ALL)[0]
        if f.entity_id == f"aws:{seed.ACCOUNT}:role/clean"
    ]
    # one audit event for the run, with the counts
    (event,) = estate.audit.list(action="findings.evaluate")
    assert event.after["new"] == result.counts["new"]


def test_evaluation_is_idempotent_and_current_after_ingest(
    estate: Services, clock: FixedClock
) -> None:
    evaluation = estate.governance.evaluation
    first = evaluation.evaluate(actor="test")
    assert evaluation.ensure_current(actor="test") is None  # nothing changed
    again = evaluation.evaluate(actor="test")
    assert again.counts["unchanged"] == first.counts["hits"]
    assert again.counts["new"] == again.counts["resolved"] == 0
    # an ingest that removes the leaked file: the next listing evaluates first
    estate.reconcile.apply(seed.fs_batch(leaked=False), actor="test")
    assert not evaluation.is_current()
    result = evaluation.ensure_current(actor="test")
    assert result is not None and result.counts["resolved"] == 1
    (leak,) = _by_rule(estate, "secret-leaked")
    assert leak.status == FindingStatus.RESOLVED and leak.resolved_at == clock.now()
    # and it comes back: the same finding reopens
    estate.reconcile.apply(seed.fs_batch(), actor="test")
    result = evaluation.ensure_current(actor="test")
    assert result is not None and result.counts["reopened"] == 1
    (back,) = _by_rule(estate, "secret-leaked")
    assert back.id == leak.id and back.status == FindingStatus.OPEN


def test_acknowledge_suppress_with_expiry_and_reopen(estate: Services, clock: FixedClock) -> None:
    estate.governance.evaluation.evaluate(actor="test")
    store = estate.governance.findings
    (old,) = _by_rule(estate, "long-lived-secret")
    acked = store.acknowledge(old.id, actor="ada", reason="rotation planned")
    assert acked.status == FindingStatus.ACKNOWLEDGED
    with pytest.raises(Conflict):
        store.acknowledge(old.id, actor="ada")
    estate.governance.evaluation.evaluate(actor="test")
    assert store.get(old.id).status == FindingStatus.ACKNOWLEDGED  # evaluation keeps it
    with pytest.raises(InvalidInput, match="reason"):
        store.suppress(old.id, actor="ada", reason=" ", until=clock.now() + dt.timedelta(days=1))
    with pytest.raises(InvalidInput, match="year"):
        store.suppress(old.id, actor="ada", reason="x", until=clock.now() + dt.timedelta(days=400))
    until = clock.now() + dt.timedelta(days=7)
    suppressed = store.suppress(old.id, actor="ada", reason="vendor migration", until=until)
    assert suppressed.status == FindingStatus.SUPPRESSED and suppressed.status_until == until
    estate.governance.evaluation.evaluate(actor="test")
    assert store.get(old.id).status == FindingStatus.SUPPRESSED
    clock.advance(days=8)  # the suppression lapses: open again on the next evaluation
    result = estate.governance.evaluation.evaluate(actor="test")
    assert result.counts["unsuppressed"] == 1
    assert store.get(old.id).status == FindingStatus.OPEN
    actions = [e.action for e in estate.audit.list(target=old.id, newest_first=False)]
    assert actions == ["finding.acknowledge", "finding.suppress"]


def test_activity_rollup_is_incremental_and_feeds_privilege_and_drift(
    estate: Services, clock: FixedClock
) -> None:
    clock.advance(days=60)  # the agent has been observed long enough
    now = clock.now()
    seed.add_activity(
        estate,
        seed.uses(
            "summarizer", "tickets.read", "zendesk:tickets/1", now - dt.timedelta(days=3), n=4
        ),
    )
    estate.governance.evaluation.evaluate(actor="test")
    clock.advance(minutes=5)
    seed.add_activity(
        estate,
        seed.uses(
            "summarizer", "tickets.read", "zendesk:tickets/1", now - dt.timedelta(days=1), n=3
        )
        + seed.uses(
            "summarizer",
            "tickets.delete",
            "zendesk:tickets/2",
            now - dt.timedelta(hours=5),
            n=3,
            allowed=False,
        )
        + seed.uses(
            "summarizer",
            "crm.export",
            "salesforce:accounts",
            now - dt.timedelta(hours=2),
            allowed=None,
            source="cloudtrail",
        ),
    )
    estate.governance.evaluation.evaluate(actor="test")
    # PostgreSQL only rolls up what an evaluation saw two minutes earlier (ids may commit out
    # of order); a later evaluation settles it. SQLite settles at once. Either way: no double count.
    clock.advance(minutes=5)
    estate.governance.evaluation.evaluate(actor="test")
    with estate.db.read() as connection:
        rows = (
            connection.execute(
                sa.select(activity_rollup).where(activity_rollup.c.action == "tickets.read")
            )
            .mappings()
            .all()
        )
    assert len(rows) == 1 and rows[0]["count"] == 7  # 4 + 3: nothing counted twice
    (over,) = _by_rule(estate, "agent-over-privileged", agent="summarizer")
    assert over.evidence["unused"] == [
        "slack.post_message on slack:channels/digest",
        "crm.read on salesforce:*",
    ]
    assert [c["action"] for c in over.suggestion["least_privilege"]] == ["tickets.read"]
    (drift,) = _by_rule(estate, "intent-drift", agent="summarizer")
    assert drift.severity == Severity.HIGH and drift.evidence["denied_total"] == 3
    assert drift.evidence["unchartered"][0]["action"] == "crm.export"


def test_posture_sarif_and_ocsf(estate: Services) -> None:
    estate.governance.evaluation.evaluate(actor="test")
    (ada,) = estate.governance.posture.summary(PostureBy.OWNER, key="ada@acme.example")
    assert 0 < ada.score <= 100 and ada.explanation()
    assert sum(c.count for c in ada.contributions) == ada.findings
    findings, _ = estate.governance.findings.list()
    sarif = to_sarif(findings)
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    leak = next(r for r in results if r["ruleId"] == "secret-leaked")
    assert leak["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "deploy/.env"
    assert leak["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    events = to_ocsf_events(findings)
    assert {e["class_uid"] for e in events} == {2004}
    leak_event = next(e for e in events if e["finding_info"]["analytic"]["uid"] == "secret-leaked")
    assert leak_event["severity_id"] == 5 and leak_event["finding_info"]["types"] == ["NHI2"]
    assert leak_event["type_uid"] == 200401 and leak_event["status_id"] == 1
