"""The approval service on both stores: what binds an approval, who may give it, and limits."""

from __future__ import annotations

from typing import Any

import pytest

import charter
from charter.domain.call_approval import ApprovalStatus, call_digest
from charter.domain.charter_parsing import parse_charter
from charter.domain.lifecycle import Transition
from charter.domain.roles import parse_roles
from charter.errors import PermissionDenied
from charter.services import call_approvals as module
from charter.services.auth import UserRole
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import PersonRecord

OWNER = "priya.nair@acme.example"
BOT = {
    "name": "payer",
    "owner": OWNER,
    "purpose": "Pays invoices once its owner approves each payment.",
    "allow": [{"action": "pay", "resource": "bank:*", "approve": {"by": "owner", "ttl": "5m"}}],
    "delegation": {"allowed": True},
}


@pytest.fixture
def payer(services: Services) -> Services:
    services.people.import_records(
        [
            PersonRecord(email=OWNER, name="Priya", groups=["finance"]),
            PersonRecord(email="noah.smith@acme.example", name="Noah", groups=["finance"]),
        ],
        actor="t",
    )
    roles = {
        "version": 1,
        "roles": [{"name": "payers", "groups": ["finance"], "allow": [{"action": "pay"}]}],
    }
    services.decisions.apply_roles(parse_roles(roles), actor="t", source="test")
    services.registry.register(parse_charter(BOT), actor="t")
    services.registry.transition("payer", Transition.ACTIVATE, actor="t", reason="ok")
    services.decisions.refresh()
    return services


def ask(services: Services, amount: int, person: str | None = None) -> Any:
    return charter.decide(
        "payer",
        "pay",
        "bank:acct/1",
        context={"args": {"amount": amount}},
        on_behalf_of=person,
        services=services,
    )


def test_the_digest_binds_every_part_of_the_call() -> None:
    base = call_digest("a", "pay", "bank:1", {"amount": 1, "to": "x"}, None)
    assert base == call_digest("a", "pay", "bank:1", {"to": "x", "amount": 1}, None)  # order
    for other in (
        call_digest("b", "pay", "bank:1", {"amount": 1, "to": "x"}, None),
        call_digest("a", "refund", "bank:1", {"amount": 1, "to": "x"}, None),
        call_digest("a", "pay", "bank:2", {"amount": 1, "to": "x"}, None),
        call_digest("a", "pay", "bank:1", {"amount": 1.5, "to": "x"}, None),
        call_digest("a", "pay", "bank:1", {"amount": 1, "to": "x", "memo": ""}, None),
        call_digest("a", "pay", "bank:1", {"amount": 1, "to": "x"}, "p@acme.example"),
    ):
        assert other != base


def test_an_approval_for_one_person_is_not_one_for_another(payer: Services) -> None:
    held = ask(payer, 10, person=OWNER)
    ticket = held.reasons[0].approval
    payer.call_approvals.approve(ticket, approver=OWNER)
    assert not ask(payer, 10).allowed  # the agent on its own: another call
    assert not ask(payer, 10, person="noah.smith@acme.example").allowed
    assert ask(payer, 10, person=OWNER).allowed


def test_a_disabled_console_user_approves_nothing(payer: Services) -> None:
    payer.auth.add_user(OWNER, role=UserRole.OWNER, password="priya-pass-1234", actor="t")
    payer.auth.disable_user(OWNER, actor="t")
    ticket = ask(payer, 11).reasons[0].approval
    with pytest.raises(PermissionDenied, match="disabled"):
        payer.call_approvals.approve(ticket, approver=OWNER)


def test_an_approval_expires(payer: Services, clock: FixedClock) -> None:
    ticket = ask(payer, 12).reasons[0].approval
    payer.call_approvals.approve(ticket, approver=OWNER)
    clock.advance(seconds=301)
    assert not ask(payer, 12).allowed
    assert payer.call_approvals.get(ticket).status == ApprovalStatus.EXPIRED


def test_an_agent_cannot_flood_its_approvers(
    payer: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "MAX_PENDING_PER_AGENT", 2)
    assert ask(payer, 1).reasons[0].approval
    assert ask(payer, 2).reasons[0].approval
    third = ask(payer, 3)
    assert not third.allowed
    assert third.reasons[0].approval is None
    assert "awaiting approval" in third.reasons[0].message
    assert len(payer.call_approvals.list(status=ApprovalStatus.PENDING)) == 2


def test_a_held_call_waits_in_its_approvers_inbox_and_nobody_elses(payer: Services) -> None:
    held = ask(payer, 120)
    assert held.needs_approval
    (pending,) = payer.call_approvals.list(status=ApprovalStatus.PENDING)
    items = [i for i in payer.governance.inbox.for_person(OWNER) if i.id == pending.id]
    assert len(items) == 1
    assert items[0].section == "approval"
    assert items[0].action == f"charter approvals approve {pending.id} --by {OWNER}"
    assert "payer asks to pay on bank:acct/1" in items[0].title
    # the rule names the owner: a colleague in the same group may not decide it
    assert pending.id not in {
        i.id for i in payer.governance.inbox.for_person("noah.smith@acme.example")
    }
    payer.call_approvals.approve(pending.id, approver=OWNER)
    assert pending.id not in {i.id for i in payer.governance.inbox.for_person(OWNER)}
