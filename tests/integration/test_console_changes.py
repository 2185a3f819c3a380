"""The console's "Pending changes" page: the diff,
and approval by someone other than the requester.
"""

from __future__ import annotations

from starlette.testclient import TestClient
from tests.integration.test_console_security import app, sign_in

from charter.domain.charter_parsing import parse_charter
from charter.domain.lifecycle import Transition
from charter.services.changes import Proposal
from charter.services.context import Services

__all__ = ["app"]  # the fixture, shared with the console security tests

MARIA = "maria.garcia@acme.example"


def _propose_everything(services: Services) -> Proposal:
    services.registry.transition(
        "support-summarizer", Transition.ACTIVATE, actor="t", reason="approved"
    )
    document = services.registry.get("support-summarizer").charter.document()  # type: ignore[union-attr]
    document["allow"] = [{"action": "*", "resource": "*"}]
    proposal = services.governance.changes.update_charter(parse_charter(document), actor=MARIA)
    assert isinstance(proposal, Proposal)
    return proposal


def test_the_requester_sees_the_diff_but_cannot_approve(
    app: TestClient, services: Services
) -> None:
    proposal = _propose_everything(services)
    token = sign_in(app, MARIA)
    page = app.get("/changes")
    assert page.status_code == 200 and proposal.id in page.text
    assert "allows * on *" in page.text and "action: &#39;*&#39;" in page.text
    assert f"/changes/{proposal.id}/approve" not in page.text  # no button for her own
    forced = app.post(
        f"/changes/{proposal.id}/approve", data={"csrf_token": token}, follow_redirects=True
    )
    assert "someone else must approve it" in forced.text
    assert services.registry.get("support-summarizer").charter_version == 1
    no_token = app.post(f"/changes/{proposal.id}/approve", data={}, follow_redirects=False)
    assert no_token.status_code == 403


def test_an_admin_approves_from_the_page(app: TestClient, services: Services) -> None:
    proposal = _propose_everything(services)
    sign_in(app, "ada.osei@acme.example")  # an auditor reads, decides nothing
    page = app.get("/changes")
    assert proposal.id in page.text and f"/changes/{proposal.id}/approve" not in page.text
    token = sign_in(app, "admin@acme.example")
    page = app.get("/changes")
    assert f"/changes/{proposal.id}/approve" in page.text
    done = app.post(
        f"/changes/{proposal.id}/approve",
        data={"csrf_token": token, "reason": "ok"},
        follow_redirects=True,
    )
    assert done.status_code == 200 and "approved" in done.text
    assert services.registry.get("support-summarizer").charter_version == 2
    assert proposal.id in app.get("/changes?status=approved").text


def test_an_owner_resuming_an_admins_suspension_gets_a_proposal(
    app: TestClient, services: Services
) -> None:
    registry = services.registry
    registry.transition("support-summarizer", Transition.ACTIVATE, actor="t", reason="ok")
    registry.transition(
        "support-summarizer",
        Transition.SUSPEND,
        actor="admin@acme.example",
        reason="incident INC-7",
    )
    token = sign_in(app, MARIA)
    response = app.post(
        "/agents/support-summarizer/transition",
        data={"csrf_token": token, "transition": "resume", "reason": "fine now"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/changes"
    assert registry.get("support-summarizer").state.value == "suspended"
    (change,) = services.governance.changes.list()
    assert change.kind.value == "resume" and change.requested_by == MARIA
    assert "incident INC-7" in app.get("/changes").text
