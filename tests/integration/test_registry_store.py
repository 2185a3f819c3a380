"""The registry, people and audit services on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from charter.domain.charter_parsing import parse_charter, parse_charter_text
from charter.domain.enums import AgentState, PersonStatus
from charter.domain.lifecycle import Transition
from charter.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from charter.services.agent_registry import version_diff
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import parse_directory
from charter.store import schema

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "people"
ACTOR = "test:admin"


def _load_people(services: Services) -> int:
    """Import the example directory; returns how many people (one audit event each)."""
    data = (ROOT / "examples" / "people.json").read_bytes()
    records = parse_directory(data, filename="people.json")
    services.people.import_records(records, actor=ACTOR)
    return len(records)


def _charter(name: str = "ticket-bot", owner: str = "maria.garcia@acme.example", **extra: object):  # type: ignore[no-untyped-def]
    return parse_charter({"name": name, "owner": owner, "purpose": "summarise tickets", **extra})


def _event_count(services: Services) -> int:
    return services.audit.count()


def test_register_list_show_history(services: Services) -> None:
    _load_people(services)
    for file in sorted((ROOT / "examples" / "agents").glob("*.yaml")):
        services.registry.register(parse_charter_text(file.read_text()), actor=ACTOR)
    page = services.registry.list()
    assert page.total == 4
    assert [a.name for a in page.items] == sorted(a.name for a in page.items)
    assert all(a.state == AgentState.PROPOSED for a in page.items)
    assert services.registry.list(owner="priya.nair@acme.example").total == 1
    assert services.registry.list(labels={"team": "platform"}).total == 2
    assert services.registry.list(limit=1, offset=1).items[0].name == page.items[1].name
    agent = services.registry.get("support-summarizer")
    assert agent.charter is not None and agent.charter.delegation.allowed


def test_departed_owner_warns_at_register_and_refuses_at_activate(services: Services) -> None:
    _load_people(services)
    result = services.registry.register(_charter(owner="tom.keller@acme.example"), actor=ACTOR)
    assert any("departed" in w for w in result.warnings)
    before = _event_count(services)
    with pytest.raises(Conflict, match="departed") as caught:
        services.registry.transition("ticket-bot", Transition.ACTIVATE, actor=ACTOR, reason="go")
    assert caught.value.field == "owner"
    assert services.registry.get("ticket-bot").state == AgentState.PROPOSED
    assert _event_count(services) == before  # nothing written


def test_unknown_owner_warns(services: Services) -> None:
    result = services.registry.register(_charter(owner="ghost@acme.example"), actor=ACTOR)
    assert any("not in the directory" in w for w in result.warnings)


def test_every_transition_through_the_service(services: Services) -> None:
    _load_people(services)
    services.registry.register(_charter(), actor=ACTOR)
    steps = [
        (Transition.ACTIVATE, AgentState.ACTIVE),
        (Transition.SUSPEND, AgentState.SUSPENDED),
        (Transition.RESUME, AgentState.ACTIVE),
        (Transition.DECOMMISSION, AgentState.DECOMMISSIONED),
    ]
    for transition, state in steps:
        agent = services.registry.transition("ticket-bot", transition, actor=ACTOR, reason="test")
        assert agent.state == state
        assert agent.charter is not None
    for transition in Transition:
        with pytest.raises(IllegalTransition):
            services.registry.transition("ticket-bot", transition, actor=ACTOR, reason="again")
    actions = [e.action for e in services.audit.list(target="ticket-bot", newest_first=False)]
    assert actions == [
        "agent.register",
        "agent.activate",
        "agent.suspend",
        "agent.resume",
        "agent.decommission",
    ]


def test_transition_needs_a_reason(services: Services) -> None:
    _load_people(services)
    services.registry.register(_charter(), actor=ACTOR)
    with pytest.raises(InvalidInput) as caught:
        services.registry.transition("ticket-bot", Transition.ACTIVATE, actor=ACTOR, reason=" ")
    assert caught.value.field == "reason"


def test_update_keeps_versions_and_diffs(services: Services) -> None:
    _load_people(services)
    services.registry.register(_charter(), actor=ACTOR)
    services.registry.update(
        _charter(allow=[{"action": "tickets.read", "resource": "zendesk:tickets/*"}]),
        actor=ACTOR,
        reason="needs tickets",
    )
    unchanged = services.registry.update(
        _charter(allow=[{"action": "tickets.read", "resource": "zendesk:tickets/*"}]), actor=ACTOR
    )
    assert unchanged.agent.charter_version == 2 and unchanged.warnings
    versions = services.registry.history("ticket-bot")
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].document["allow"] == []
    diff = version_diff(versions[0], versions[1])
    assert "+- action: tickets.read" in diff
    assert "+allow:" in diff
    assert services.registry.get("ticket-bot").charter_version == 2


def test_update_cannot_change_owner_or_touch_decommissioned(services: Services) -> None:
    _load_people(services)
    services.registry.register(_charter(), actor=ACTOR)
    with pytest.raises(InvalidInput) as caught:
        services.registry.update(_charter(owner="li.wei@acme.example"), actor=ACTOR)
    assert caught.value.field == "owner"
    services.registry.transition("ticket-bot", Transition.DECOMMISSION, actor=ACTOR, reason="x")
    with pytest.raises(Conflict):
        services.registry.update(_charter(purpose="something else entirely"), actor=ACTOR)


def test_transfer(services: Services) -> None:
    _load_people(services)
    services.registry.register(_charter(), actor=ACTOR)
    agent = services.registry.transfer("ticket-bot", "LI.WEI@acme.example", actor=ACTOR)
    assert agent.owner == "li.wei@acme.example"
    assert agent.charter is not None and agent.charter.owner == "li.wei@acme.example"
    assert services.registry.history("ticket-bot")[-1].reason.startswith("transfer")
    with pytest.raises(InvalidInput, match="departed") as caught:
        services.registry.transfer("ticket-bot", "tom.keller@acme.example", actor=ACTOR)
    assert caught.value.field == "to"
    with pytest.raises(InvalidInput, match="not in the directory"):
        services.registry.transfer("ticket-bot", "nobody@acme.example", actor=ACTOR)


def test_duplicate_name_is_a_conflict_and_writes_nothing(services: Services) -> None:
    _load_people(services)
    services.registry.register(_charter(), actor=ACTOR)
    before = _event_count(services)
    with pytest.raises(Conflict) as caught:
        services.registry.register(_charter(), actor=ACTOR)
    assert caught.value.field == "name"
    assert _event_count(services) == before
    assert len(services.registry.history("ticket-bot")) == 1


def test_expiry_in_the_past_is_refused(services: Services, clock: FixedClock) -> None:
    with pytest.raises(InvalidInput) as caught:
        services.registry.register(_charter(expires="2020-01-01"), actor=ACTOR)
    assert caught.value.field == "expires"
    assert services.registry.list().total == 0


def test_expired_charter_cannot_be_activated(services: Services, clock: FixedClock) -> None:
    _load_people(services)
    services.registry.register(_charter(expires="2026-12-01"), actor=ACTOR)
    clock.advance(days=60)
    with pytest.raises(Conflict, match="expired"):
        services.registry.transition("ticket-bot", Transition.ACTIVATE, actor=ACTOR, reason="go")


def test_unknown_agent(services: Services) -> None:
    with pytest.raises(NotFound):
        services.registry.get("nope")
    with pytest.raises(NotFound):
        services.registry.transition("nope", Transition.SUSPEND, actor=ACTOR, reason="x")


def test_people_import_json_csv_scim(services: Services) -> None:
    counts = services.people.import_records(
        parse_directory((FIXTURES / "directory.csv").read_bytes(), filename="directory.csv"),
        actor=ACTOR,
    )
    assert counts == {"created": 3, "changed": 0, "unchanged": 0}
    assert services.people.get("tom.keller@acme.example").status == PersonStatus.DEPARTED
    assert services.people.get("maria.garcia@acme.example").groups == ("support", "support-leads")
    scim = parse_directory((FIXTURES / "scim-users.json").read_bytes(), filename="scim.json")
    services.people.import_records(scim, actor=ACTOR)
    alan = services.people.get("alan.turing@acme.example")
    assert alan.manager == "grace.hopper@acme.example"
    assert alan.name == "Alan Turing"
    assert services.people.get("ken.thompson@acme.example").status == PersonStatus.DEPARTED
    # re-import: unchanged, no new events
    before = _event_count(services)
    again = services.people.import_records(scim, actor=ACTOR)
    assert again == {"created": 0, "changed": 0, "unchanged": 3}
    assert _event_count(services) == before


def test_bad_directory_writes_nothing(services: Services) -> None:
    bad = b'[{"email": "a@acme.example", "name": "A"}, {"email": "broken", "name": "B"}]'
    with pytest.raises(InvalidInput) as caught:
        parse_directory(bad, filename="people.json")
    assert caught.value.field == "[1].email"
    with pytest.raises(InvalidInput, match="email"):
        parse_directory(b"name,status\nA,active\n", filename="people.csv")
    with pytest.raises(InvalidInput, match="twice"):
        parse_directory(
            b'[{"email": "a@acme.example", "name": "A"}, {"email": "A@acme.example", "name": "B"}]',
            filename="p.json",
        )
    assert services.people.list()[1] == 0


def test_audit_chain_verifies_and_names_a_tampered_row(services: Services) -> None:
    people = _load_people(services)
    services.registry.register(_charter(), actor=ACTOR)
    report = services.audit.verify()
    assert report.ok and report.events == people + 1
    with services.db.write() as connection:
        connection.execute(
            sa.update(schema.events).where(schema.events.c.seq == 4).values(actor="mallory")
        )
    report = services.audit.verify()
    assert not report.ok
    assert report.first_broken_seq == 4
    assert "altered" in (report.problem or "")


def test_audit_chain_detects_deleted_rows(services: Services) -> None:
    _load_people(services)
    with services.db.write() as connection:
        connection.execute(sa.delete(schema.events).where(schema.events.c.seq == 5))
    report = services.audit.verify()
    assert not report.ok and report.first_broken_seq == 5 and "missing" in (report.problem or "")


def test_audit_chain_detects_truncation(services: Services) -> None:
    last = _load_people(services)
    with services.db.write() as connection:
        connection.execute(sa.delete(schema.events).where(schema.events.c.seq == last))
    report = services.audit.verify()
    assert not report.ok and report.first_broken_seq == last


def test_relinked_rewrite_is_still_caught_by_the_hash(services: Services) -> None:
    """An attacker who rewrites a row must recompute every later hash; a partial job shows."""
    _load_people(services)
    with services.db.write() as connection:
        connection.execute(
            sa.update(schema.events).where(schema.events.c.seq == 3).values(hash="f" * 64)
        )
    report = services.audit.verify()
    assert report.first_broken_seq == 3
