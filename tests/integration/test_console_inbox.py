"""The console's inbox: the signed-in person's items; another person's only for an admin."""

from __future__ import annotations

from starlette.testclient import TestClient
from tests.integration.test_console_security import app, sign_in

from charter.services.context import Services
from charter.services.governance import notices
from charter.services.governance.tasks import file_task

__all__ = ["app"]

MARIA = "maria.garcia@acme.example"


def _items(services: Services) -> str:
    now = services.clock.now()
    with services.db.write() as connection:
        notices.send(
            connection,
            key="t:1",
            recipient=MARIA,
            kind="review.due",
            subject="Review of support-summarizer is due",
            body="Decide by Friday.",
            now=now,
            agent="support-summarizer",
        )
        return file_task(
            connection,
            kind="revoke",
            target_type="credential",
            target="aws:key/1",
            title="Delete key AKIA-OLD in AWS",
            steps=["aws iam delete-access-key --access-key-id AKIA-OLD"],
            actor="t",
            now=now,
            agent="support-summarizer",
            assignee=MARIA,
        )


def test_the_inbox_shows_the_signed_in_persons_items_with_their_actions(
    app: TestClient, services: Services
) -> None:
    task_id = _items(services)
    sign_in(app, MARIA)
    page = app.get("/inbox")
    assert page.status_code == 200
    assert 'href="/inbox"' in page.text  # in the navigation
    assert "Review of support-summarizer is due" in page.text
    assert "Delete key AKIA-OLD in AWS" in page.text
    assert f"charter tasks done {task_id}" in page.text
    # an owner may not open someone else's inbox
    assert app.get("/inbox?person=admin@acme.example").status_code == 403


def test_an_admin_opens_another_persons_inbox(app: TestClient, services: Services) -> None:
    _items(services)
    sign_in(app, "admin@acme.example")
    own = app.get("/inbox")
    assert own.status_code == 200 and "Delete key AKIA-OLD" not in own.text
    marias = app.get(f"/inbox?person={MARIA}")
    assert marias.status_code == 200 and "Delete key AKIA-OLD in AWS" in marias.text
