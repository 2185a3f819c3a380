"""The SDK guard and approvals bound to the call: in-process (SQLite and PostgreSQL) and
through the AuthZEN endpoint of a real server (the access request and approval profile's
re-evaluation: the denial names the request, the same call asked again is allowed once)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.support.server import charter_env, live_server

from charter.config import Settings
from charter.domain.call_approval import ApprovalStatus
from charter.domain.charter_parsing import load_document, parse_charter
from charter.domain.enums import PersonStatus
from charter.domain.lifecycle import Transition
from charter.errors import Conflict, PermissionDenied
from charter.sdk import AccessDenied, ApprovalRequired
from charter.sdk.guard import LocalDecider, RemoteDecider, guard
from charter.services.context import Services
from charter.services.people import PersonRecord

CHARTER = """
name: refund-bot
owner: priya.nair@acme.example
purpose: Issue refunds; small ones alone, large ones once the owner approves each.
allow:
  - action: stripe.refunds.create
    resource: "stripe:acct_acme/charges/*"
    when: [{attribute: args.amount, op: le, value: 500}]
  - action: stripe.refunds.create
    resource: "stripe:acct_acme/charges/*"
    when: [{attribute: args.amount, op: le, value: 5000}]
    approve: {by: owner, ttl: 10m}
"""
OWNER = "priya.nair@acme.example"


def seed(services: Services) -> None:
    services.people.import_records(
        [
            PersonRecord(email=OWNER, name="Priya", groups=["finance"]),
            PersonRecord(email="noah.smith@acme.example", name="Noah", groups=["support"]),
        ],
        actor="test",
    )
    services.registry.register(parse_charter(load_document(CHARTER)), actor="test")
    services.registry.transition("refund-bot", Transition.ACTIVATE, actor="test", reason="test")
    services.decisions.refresh()


RAN: list[tuple[str, int]] = []


def refunder(decider: Any, wait: float = 0.0) -> Any:
    @guard(
        action="stripe.refunds.create",
        resource="stripe:acct_acme/charges/{charge}",
        agent="refund-bot",
        decider=decider,
        wait_for_approval=wait,
    )
    def refund(charge: str, amount: int) -> str:
        RAN.append((charge, amount))
        return f"refunded {amount} on {charge}"

    return refund


@pytest.fixture
def seeded(services: Services) -> Iterator[Services]:
    seed(services)
    yield services
    services.decisions.close()


def test_the_guard_holds_a_call_until_its_owner_approves_it(seeded: Services) -> None:
    RAN.clear()
    refund = refunder(LocalDecider(seeded))
    assert refund("ch_1", 100) == "refunded 100 on ch_1"  # under 500: no approval needed
    with pytest.raises(ApprovalRequired) as held:
        refund("ch_2", 900)
    assert RAN == [("ch_1", 100)]  # the held call never ran
    assert held.value.codes == ["approval_required"]
    ticket = held.value.approval
    assert ticket is not None
    assert refund_held(refund, "ch_2", 900) == ticket  # asking again: the same request

    approvals = seeded.call_approvals
    with pytest.raises(PermissionDenied, match="the agent's owner"):
        approvals.approve(ticket, approver="noah.smith@acme.example")
    approved = approvals.approve(ticket, approver=OWNER)
    assert approved.status == ApprovalStatus.APPROVED
    with pytest.raises(Conflict):
        approvals.deny(ticket, approver=OWNER)  # decided once

    assert refund_held(refund, "ch_2", 901) != ticket  # other arguments: another call
    assert refund("ch_2", 900) == "refunded 900 on ch_2"  # the approved call, once
    replay = refund_held(refund, "ch_2", 900)
    assert replay != ticket
    assert approvals.get(ticket).status == ApprovalStatus.USED
    assert RAN == [("ch_1", 100), ("ch_2", 900)]

    # a departed owner approves nothing
    seeded.people.import_records(
        [PersonRecord(email=OWNER, name="Priya", groups=["finance"], status=PersonStatus.DEPARTED)],
        actor="test",
    )
    with pytest.raises(PermissionDenied, match="departed"):
        approvals.approve(replay, approver=OWNER)
    assert approvals.get(replay).status == ApprovalStatus.PENDING


def refund_held(refund: Any, charge: str, amount: int) -> str:
    with pytest.raises(ApprovalRequired) as held:
        refund(charge, amount)
    assert held.value.approval
    return held.value.approval


def test_wait_for_approval_holds_the_call_until_it_is_approved(seeded: Services) -> None:
    RAN.clear()
    refund = refunder(LocalDecider(seeded), wait=20)
    out: dict[str, Any] = {}

    def agent() -> None:
        try:
            out["result"] = refund("ch_7", 700)
        except AccessDenied as error:
            out["error"] = error

    worker = threading.Thread(target=agent)
    started = time.monotonic()
    worker.start()
    pending: list[Any] = []
    while not pending and time.monotonic() - started < 10:
        time.sleep(0.1)
        pending = seeded.call_approvals.list(status=ApprovalStatus.PENDING, agent="refund-bot")
    assert pending, "the held call did not open an access request"
    assert pending[0].arguments == {"charge": "ch_7", "amount": 700}
    assert RAN == []  # still held
    seeded.call_approvals.approve(pending[0].id, approver=OWNER)
    worker.join(timeout=20)
    assert out.get("result") == "refunded 700 on ch_7", out
    assert RAN == [("ch_7", 700)]


def test_remote_re_evaluation_through_the_authzen_endpoint(tmp_path: Any) -> None:
    env = charter_env(tmp_path)
    services = Services.from_settings(Settings.from_env(env))
    try:
        seed(services)
    finally:
        services.decisions.close()
        services.close()
    RAN.clear()
    with live_server(env) as server:
        refund = refunder(RemoteDecider(server.url, pep_key=server.pep_key))
        ticket = refund_held(refund, "ch_r", 1200)
        body = {
            "subject": {"type": "agent", "id": "refund-bot"},
            "action": {"name": "stripe.refunds.create"},
            "resource": {"type": "stripe", "id": "acct_acme/charges/ch_r"},
            "context": {"args": {"charge": "ch_r", "amount": 1200}},
        }
        headers = {"Authorization": f"Bearer {server.pep_key}"}
        answer = httpx.post(f"{server.url}/access/v1/evaluation", json=body, headers=headers)
        assert answer.json()["decision"] is False
        assert answer.json()["context"]["access_request"] == {
            "id": ticket,
            "status": "pending",
            "rule": "charter/refund-bot/allow/1",
        }
        local = Services.from_settings(Settings.from_env(env))
        try:
            local.call_approvals.approve(ticket, approver=OWNER)
        finally:
            local.close()
        assert refund("ch_r", 1200) == "refunded 1200 on ch_r"
        assert refund_held(refund, "ch_r", 1200) != ticket  # used once
    assert RAN == [("ch_r", 1200)]
