"""The console's agent page with recorded decisions of every stored reason shape.

The recorder stores an allow as ``{"code": "allowed", "rule": …}`` (no
``message``) and a deny as each reason's ``code``/``message``/``rule``; rows
written by older versions or by hand may hold less. The page must answer 200
and show a readable reason for each, not fail on a missing key.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from starlette.testclient import TestClient

from charter.domain.charter_parsing import parse_charter_text
from charter.domain.decision import Decision, Reason, ReasonCode, RecordedReason
from charter.domain.lifecycle import Transition
from charter.server import create_app
from charter.services.auth import UserRole
from charter.services.context import Services
from charter.services.people import parse_directory
from charter.store import schema

ROOT = Path(__file__).resolve().parents[2]
AGENT = "support-summarizer"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _record_every_shape(services: Services) -> None:
    decisions = services.decisions
    decisions.decide(AGENT, "slack.post_message", "slack:channels/support-digest", source="test")
    decisions.decide(AGENT, "tickets.delete", "zendesk:tickets/9", source="test")
    decisions.decide(AGENT, "github.repos.delete", "github:acme/app", source="test")
    failed = Decision(
        False, reasons=(Reason(ReasonCode.EVALUATION_ERROR, "the PDP failed; denied"),)
    )
    decisions.recorder.record(decisions.now_us(), AGENT, "x.read", "x:y", None, failed, "test")
    decisions.recorder.flush()
    odd = [
        [{"code": "no_matching_capability"}],  # a deny without its message
        ["a bare string reason"],
        [{"rule": "allow[0]"}],  # no code at all
        [17, None],  # nothing readable
    ]
    with services.db.write() as connection:
        for n, reasons in enumerate(odd):
            connection.execute(
                sa.insert(schema.activities).values(
                    time=services.clock.now(),
                    agent=AGENT,
                    action=f"odd.{n}",
                    resource="x:y",
                    allowed=False,
                    reasons=reasons,
                    source="legacy",
                )
            )


def test_agent_page_renders_every_recorded_reason_shape(services: Services) -> None:
    people = (ROOT / "examples" / "people.json").read_bytes()
    services.people.import_records(parse_directory(people, filename="people.json"), actor="t")
    spec = parse_charter_text((ROOT / "examples" / "agents" / f"{AGENT}.yaml").read_bytes())
    services.registry.register(spec, actor="t")
    services.registry.transition(AGENT, Transition.ACTIVATE, actor="t", reason="test")
    services.auth.add_user(
        "admin@acme.example", role=UserRole.ADMIN, password="admin-pass-1234", actor="t"
    )
    _record_every_shape(services)
    with TestClient(create_app(services), base_url="http://console.test") as client:
        token = _CSRF.search(client.get("/login").text)
        assert token
        signed_in = client.post(
            "/login",
            data={
                "email": "admin@acme.example",
                "password": "admin-pass-1234",
                "csrf_token": token.group(1),
            },
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        page = client.get(f"/agents/{AGENT}")
    assert page.status_code == 200, page.text[-2000:]
    html = page.text
    for text in (
        "allowed by charter/support-summarizer/allow/2",  # an allow: the rule that allowed it
        "explicitly_denied",  # a deny rule
        "no_matching_capability",  # the default deny
        "the PDP failed; denied",  # an evaluation error
        "no matching capability",  # a deny stored without a message: words from its code
        "a bare string reason",
    ):
        assert text in html, f"{text!r} is not on the agent page"


def test_recorded_reason_reads_every_shape() -> None:
    allow = RecordedReason.parse({"code": "allowed", "rule": "allow[1]", "role": "engineering"})
    assert allow == RecordedReason(
        "allowed", "allowed by allow[1] (delegator's access via engineering)", "allow[1]"
    )
    deny = RecordedReason.parse(
        {"code": "explicitly_denied", "message": "deny[0] matches", "rule": "deny[0]"}
    )
    assert deny is not None and deny.text == "deny[0] matches"
    bare = RecordedReason.parse({"code": "condition_failed:time", "rule": "allow[0]"})
    assert bare is not None and bare.text == "condition failed: time (allow[0])"
    assert RecordedReason.parse({"code": 5}) == RecordedReason("unknown", "unknown")
    assert RecordedReason.parse(None) is None
    assert RecordedReason.parse("  ") is None
