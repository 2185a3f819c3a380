"""The console's "Calls awaiting approval" page: the held call with its arguments, and
approve/deny buttons (POST with the CSRF token) that only the right person can use."""

from __future__ import annotations

from starlette.testclient import TestClient
from tests.integration.test_console_security import app, sign_in

import charter
from charter.domain.call_approval import ApprovalStatus
from charter.domain.charter_parsing import parse_charter
from charter.domain.lifecycle import Transition
from charter.services.context import Services

__all__ = ["app"]  # the fixture, shared with the console security tests

MARIA = "maria.garcia@acme.example"
MAILER = {
    "name": "ticket-mailer",
    "owner": MARIA,
    "purpose": "E-mails customers about tickets, each e-mail approved by its owner.",
    "allow": [
        {
            "action": "email.send",
            "resource": "mail:outbox",
            "approve": {"by": "owner", "ttl": "15m"},
        }
    ],
}


def _held(services: Services, subject: str) -> str:
    services.registry.register(parse_charter(MAILER), actor="t")
    services.registry.transition("ticket-mailer", Transition.ACTIVATE, actor="t", reason="ok")
    services.decisions.refresh()
    decision = charter.decide(
        "ticket-mailer",
        "email.send",
        "mail:outbox",
        context={"args": {"to": "customer@example.com", "subject": subject}},
        services=services,
    )
    assert decision.needs_approval
    ticket = decision.reasons[0].approval
    assert ticket
    return ticket


def test_the_owner_approves_the_call_they_see_with_its_arguments(
    app: TestClient, services: Services
) -> None:
    ticket = _held(services, "<b>refund</b>")
    sign_in(app, "ada.osei@acme.example")  # an auditor reads, decides nothing
    page = app.get("/approvals")
    assert ticket in page.text and "customer@example.com" in page.text
    assert "&lt;b&gt;refund&lt;/b&gt;" in page.text  # the arguments are shown, escaped
    assert f"/approvals/{ticket}/approve" not in page.text

    token = sign_in(app, "admin@acme.example")  # an admin, but not the agent's owner
    refused = app.post(
        f"/approvals/{ticket}/approve", data={"csrf_token": token}, follow_redirects=True
    )
    assert "may not approve" in refused.text
    assert services.call_approvals.get(ticket).status == ApprovalStatus.PENDING

    token = sign_in(app, MARIA)
    page = app.get("/approvals")
    assert f"/approvals/{ticket}/approve" in page.text
    forged = app.post(f"/approvals/{ticket}/approve", data={}, follow_redirects=False)
    assert forged.status_code == 403  # no CSRF token, nothing changes
    assert services.call_approvals.get(ticket).status == ApprovalStatus.PENDING
    done = app.post(
        f"/approvals/{ticket}/approve", data={"csrf_token": token}, follow_redirects=True
    )
    assert done.status_code == 200 and "approved" in done.text
    assert services.call_approvals.get(ticket).decided_by == MARIA
    assert ticket in app.get("/approvals?status=approved").text


def test_the_owner_denies_and_strangers_get_a_404(app: TestClient, services: Services) -> None:
    ticket = _held(services, "discount")
    token = sign_in(app, MARIA)
    done = app.post(f"/approvals/{ticket}/deny", data={"csrf_token": token}, follow_redirects=True)
    assert "denied" in done.text
    assert services.call_approvals.get(ticket).status == ApprovalStatus.DENIED
    missing = app.post(
        "/approvals/apr-000000000000/approve",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert missing.status_code == 404
