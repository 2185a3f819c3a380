"""What-if on recorded activity (SQLite and PostgreSQL): a proposed charter, org policy or roles
file replayed beside the policy in force; nothing recorded, nothing changed; the CLI asks for
--yes before a change denies what happened; the API answers problems for bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tests.support.console import DEFAULT_PASSWORD, add_user, csrf_of, sign_in
from tests.support.server import (
    ROOT,
    TEST_ADMIN_EMAIL,
    TEST_ADMIN_PASSWORD,
    charter_env,
    live_server,
    run_cli,
)

from charter.config import Settings
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.conditions import epoch_micros
from charter.domain.decision import Decision
from charter.domain.lifecycle import Transition
from charter.domain.org_policy import parse_org_policy_text
from charter.domain.whatif import Change
from charter.errors import InvalidInput
from charter.services.context import Services
from charter.services.people import parse_directory
from charter.store import schema

EXAMPLES = ROOT / "examples"
REVIEWER = (EXAMPLES / "agents" / "code-reviewer.yaml").read_text()
#: code-reviewer without pull-request comments, and allowed to merge (its deny rule gone)
NARROWED = REVIEWER.replace('"github.pulls.comment"', '"github.pulls.approve"').replace(
    '  - action: "github.pulls.merge"\n    resource: "*"\n', ""
)
NARROWED = NARROWED.replace(
    "deny:\n", 'deny:\n  - action: "github.pulls.delete"\n    resource: "*"\n'
).replace(
    "allow:\n", 'allow:\n  - action: "github.pulls.merge"\n    resource: "github:acme/platform-*"\n'
)
NO_SLACK_POLICY = """\
version: 1
deny:
  - id: no-slack-posts
    action: "slack.post_message"
    resource: "*"
    description: posting to Slack needs a human
"""


def _estate(services: Services) -> None:
    services.people.import_records(
        parse_directory((EXAMPLES / "people.json").read_bytes(), filename="people.json"), actor="t"
    )
    for name in ("support-summarizer", "code-reviewer"):
        spec = parse_charter_text((EXAMPLES / "agents" / f"{name}.yaml").read_text())
        services.registry.register(spec, actor="t")
        services.registry.transition(name, Transition.ACTIVATE, actor="t", reason="approved")


def _traffic(services: Services) -> None:
    """Recorded through the decision point, as gateways and SDKs record it."""
    decide = services.decisions.decide
    for _ in range(3):
        assert decide("code-reviewer", "github.pulls.read", "github:acme/platform-api").allowed
    for _ in range(2):
        assert decide("code-reviewer", "github.pulls.comment", "github:acme/platform-web").allowed
    assert not decide("code-reviewer", "github.pulls.merge", "github:acme/platform-api").allowed
    for _ in range(2):
        assert decide(
            "support-summarizer", "slack.post_message", "slack:channels/support-digest"
        ).allowed
    # forty days ago: outside the default window
    old = epoch_micros(services.clock.now() - dt.timedelta(days=40))
    services.decisions.recorder.record(
        old,
        "code-reviewer",
        "github.pulls.comment",
        "github:acme/platform-web",
        None,
        Decision(True, "charter/code-reviewer/allow/2"),
        "sdk",
    )
    # a person's question is not activity
    services.decisions.decide(
        "code-reviewer", "github.pulls.comment", "github:acme/x", record=False
    )
    services.decisions.recorder.flush()


def _seeded(home: Path) -> dict[str, str]:
    """A SQLite home with the estate and its traffic, for the CLI and the server."""
    env = charter_env(home)
    built = Services.from_settings(Settings.from_env(env))
    try:
        _estate(built)
        _traffic(built)
    finally:
        built.close()
    return env


def _counts(services: Services) -> tuple[int, int]:
    with services.db.read() as connection:
        activities = connection.execute(sa.select(sa.func.count()).select_from(schema.activities))
        events = connection.execute(sa.select(sa.func.count()).select_from(schema.events))
        return int(activities.scalar() or 0), int(events.scalar() or 0)


def test_charter_and_policy_what_if_on_recorded_activity(services: Services) -> None:
    _estate(services)
    _traffic(services)
    before = _counts(services)
    report = services.whatif.charter(parse_charter_text(NARROWED))
    # only the agent's own calls of the last 30 days count; of them only those a changed
    # rule applies to are decided (pull-request reads are decided alike: not replayed)
    assert (report.rows_in_window, report.rows) == (6, 3)
    assert report.subject == "charter code-reviewer"
    assert report.allowed_now == 2 and report.allowed_proposed == 1
    assert (report.newly_denied, report.newly_allowed) == (2, 1)
    assert report.denies_recent
    assert report.differs_from_recorded == 0
    denied = [e for e in report.examples if e.change is Change.NEWLY_DENIED]
    allowed = [e for e in report.examples if e.change is Change.NEWLY_ALLOWED]
    assert [(e.action, e.resource, e.count) for e in denied] == [
        ("github.pulls.comment", "github:acme/platform-web", 2)
    ]
    assert "no allow rule" in denied[0].reason
    assert [(e.action, e.count) for e in allowed] == [("github.pulls.merge", 1)]
    assert "explicitly" in allowed[0].reason or "denies" in allowed[0].reason
    assert report.by_agent == {"code-reviewer": {"newly_denied": 2, "newly_allowed": 1}}
    assert report.by_action["github.pulls.comment"]["newly_denied"] == 2
    # a longer window reaches the call of forty days ago
    assert services.whatif.charter(parse_charter_text(NARROWED), days=60).newly_denied == 3

    policy = services.whatif.org_policy(parse_org_policy_text(NO_SLACK_POLICY))
    # only slack.post_message is touched by the policy: the other calls are not even read
    assert (policy.rows_in_window, policy.rows, policy.subject) == (8, 2, "org policy")
    assert (policy.newly_denied, policy.newly_allowed) == (2, 0)
    assert policy.by_agent == {"support-summarizer": {"newly_denied": 2, "newly_allowed": 0}}
    assert "no-slack-posts" in policy.examples[0].reason

    # the store's resource filter keeps characters its own pattern languages treat specially
    odd = "github:acme/platform-a_b[1]?%*x"
    assert services.decisions.decide("code-reviewer", "github.pulls.read", odd).allowed
    assert services.decisions.decide("code-reviewer", "github.pulls.read", odd[:-1]).allowed
    services.decisions.recorder.flush()
    literal = NO_SLACK_POLICY.replace('"slack.post_message"', '"github.pulls.read"').replace(
        'resource: "*"', 'resource: "github:acme/platform-a_b[1]?%\\\\**"'
    )
    special = services.whatif.org_policy(parse_org_policy_text(literal))
    assert (special.rows, special.newly_denied) == (2, 2), special.to_dict()
    near = literal.replace("a_b", "aXb")
    assert services.whatif.org_policy(parse_org_policy_text(near)).rows == 0
    before = _counts(services)

    # the same charter again changes nothing
    same = services.whatif.charter(parse_charter_text(REVIEWER))
    assert (same.newly_denied, same.newly_allowed, same.rows_in_window, same.rows) == (0, 0, 8, 0)
    # a replay is a question: nothing recorded, nothing audited, no charter version added
    assert _counts(services) == before
    assert services.registry.get("code-reviewer").charter_version == 1
    with pytest.raises(InvalidInput) as caught:
        services.whatif.charter(parse_charter_text(REVIEWER), days=0)
    assert caught.value.field == "days"


def test_the_cli_asks_for_yes_before_denying_recent_calls(tmp_path: Path) -> None:
    env = _seeded(tmp_path)
    narrowed = tmp_path / "code-reviewer.yaml"
    narrowed.write_text(NARROWED)

    shown = run_cli("what-if", str(narrowed), "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert '"newly_denied": 2' in shown.stdout

    refused = run_cli("agent", "update", str(narrowed), env=env)
    assert refused.returncode == 2
    assert "github.pulls.comment on github:acme/platform-web" in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("error: the change would deny 2")
    assert "--yes" in refused.stderr
    version = run_cli("agent", "show", "code-reviewer", "--json", env=env)
    assert '"charter_version": 1' in version.stdout

    # a change that denies nothing recent goes through without a question
    wider = tmp_path / "wider.yaml"
    wider.write_text(
        REVIEWER.replace(
            "allow:\n", 'allow:\n  - action: "github.issues.read"\n    resource: "github:acme/*"\n'
        )
    )
    assert "what-if" not in run_cli("agent", "update", str(wider), env=env).stderr

    policy = tmp_path / "policy.yaml"
    policy.write_text(NO_SLACK_POLICY)
    blocked = run_cli("policy", "apply", str(policy), env=env)
    assert blocked.returncode == 2 and "support-summarizer" in blocked.stderr
    assert '"deny": []' in run_cli("policy", "show", env=env).stdout
    applied = run_cli("policy", "apply", str(policy), "--yes", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "no-slack-posts" in run_cli("policy", "show", env=env).stdout

    forced = run_cli("agent", "update", str(narrowed), "--yes", env=env)
    assert forced.returncode == 0, forced.stderr


def test_the_api_replays_and_refuses_bad_input(tmp_path: Path) -> None:
    env = _seeded(tmp_path)
    with live_server(env) as server, server.client() as client:
        answer = client.post(
            "/v1/what-if", json={"document": parse_charter_text(NARROWED).document(), "days": 30}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["newly_denied"] == 2 and body["subject"] == "charter code-reviewer"
        bad = client.post("/v1/what-if", json={"document": {"name": "x"}, "kind": "charter"})
        assert bad.status_code in (400, 422)
        assert bad.headers["content-type"].startswith("application/problem+json")
        days = client.post("/v1/what-if", json={"document": {"roles": []}, "days": 0})
        assert days.status_code == 422 and "days" in days.text
        anonymous = httpx.post(f"{server.url}/v1/what-if", json={"document": {}})
        assert anonymous.status_code == 401

        # the console view: admins replay a pasted proposal; owners are refused
        add_user(server, "owner@acme.example", "owner")
        admin = sign_in(server, TEST_ADMIN_EMAIL, TEST_ADMIN_PASSWORD)
        page = admin.get("/what-if")
        assert page.status_code == 200
        shown = admin.post(
            "/what-if",
            data={"document": NARROWED, "days": "30", "csrf_token": csrf_of(page.text)},
        )
        assert shown.status_code == 200, shown.text
        assert "2 newly denied" in shown.text and "github.pulls.comment" in shown.text
        refused = admin.post(
            "/what-if",
            data={"document": NARROWED, "days": "0", "csrf_token": csrf_of(page.text)},
        )
        assert refused.status_code == 400 and "days must be" in refused.text
        admin.close()
        owner = sign_in(server, "owner@acme.example", DEFAULT_PASSWORD)
        assert owner.get("/what-if").status_code == 403
        owner.close()
