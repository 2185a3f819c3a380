"""The decision service on a real store (SQLite and PostgreSQL): policy and roles as audited
versions, activity written in batches with nothing lost, changes picked up within a second —
also when another process makes them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.support.server import ROOT, charter_env, run_cli

from charter.config import Settings
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.lifecycle import Transition
from charter.domain.org_policy import parse_org_policy_text
from charter.domain.roles import parse_roles_text
from charter.errors import Conflict
from charter.services.clock import SystemClock
from charter.services.context import Services
from charter.services.people import parse_directory

EXAMPLES = ROOT / "examples"
INTERNAL = {"data": {"classification": "internal"}}
MONDAY = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def _estate(services: Services) -> None:
    services.people.import_records(
        parse_directory((EXAMPLES / "people.json").read_bytes(), filename="people.json"), actor="t"
    )
    for name in ("support-summarizer", "code-reviewer"):
        spec = parse_charter_text((EXAMPLES / "agents" / f"{name}.yaml").read_text())
        services.registry.register(spec, actor="t")
        services.registry.transition(name, Transition.ACTIVATE, actor="t", reason="approved")


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[Services]:
    """Services on the real clock (the watcher and the activity writer run as in a server)."""
    services = Services.from_settings(
        Settings(home=tmp_path, database_url=database_url), SystemClock()
    )
    _estate(services)
    yield services
    services.decisions.close()
    services.close()


def _within(seconds: float, check: Callable[[], bool]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} s")


def test_policy_and_roles_are_versioned_audited_and_enforced(live: Services) -> None:
    decisions = live.decisions
    assert decisions.decide("code-reviewer", "iam.roles.update", "aws:123/roles/x").codes == [
        "no_matching_capability"
    ]
    policy = parse_org_policy_text((EXAMPLES / "policy" / "org-policy.yaml").read_text())
    applied = decisions.apply_policy(policy, actor="alice", source="org-policy.yaml")
    assert applied.changed and applied.version == 1 and "no-iam-changes" in applied.added
    again = decisions.apply_policy(policy, actor="alice", source="org-policy.yaml")
    assert not again.changed and again.version == 1
    roles = parse_roles_text((EXAMPLES / "policy" / "roles.yaml").read_text())
    assert decisions.apply_roles(roles, actor="alice", source="roles.yaml").version == 1
    decisions.refresh()
    denied = decisions.decide("code-reviewer", "iam.roles.update", "aws:123/roles/x")
    assert "org_policy_denied" in denied.codes
    delegated = decisions.decide(
        "support-summarizer",
        "tickets.read",
        "zendesk:tickets/1",
        context=INTERNAL,
        on_behalf_of="maria.garcia@acme.example",
        at=MONDAY,
    )
    assert delegated.allowed and delegated.role == "role/support-agent/allow/0"
    events = live.audit.list(target_type="policy")
    assert [e.action for e in events] == ["policy.apply"]
    assert "no-iam-changes" in events[0].after["added"]
    assert live.audit.list(target_type="roles")[0].action == "roles.apply"
    smaller = parse_org_policy_text(
        "version: 1\ndeny:\n  - {id: no-iam-changes, description: No IAM, action: 'iam.*'}\n"
    )
    changed = decisions.apply_policy(smaller, actor="alice", source="v2.yaml")
    assert changed.version == 2 and changed.modified == ["no-iam-changes"]
    assert "payouts-need-humans" in changed.removed
    document, version = decisions.current("policy")
    assert version == 2 and len(document["deny"]) == 1
    assert live.audit.verify().ok


def test_conflicting_org_policy_is_refused_before_anything_is_stored(live: Services) -> None:
    with pytest.raises(Conflict) as caught:
        parse_org_policy_text(
            "deny:\n"
            "  - {id: a, description: one, action: 'x.*'}\n"
            "  - {id: a, description: two, action: 'y.*'}\n"
        )
    assert caught.value.field == "deny[1].id"
    with pytest.raises(Conflict, match="can never apply"):
        parse_org_policy_text(
            "deny:\n  - id: b\n    description: contradictory\n    when:\n"
            "      - {attribute: n, op: lt, value: 5}\n      - {attribute: n, op: gt, value: 10}\n"
        )
    with pytest.raises(Conflict, match="every action on every resource"):
        parse_org_policy_text("deny:\n  - {id: c, description: stop everything}\n")
    assert live.decisions.current("policy")[1] == 0


def test_every_decision_is_recorded_and_nothing_is_lost_on_close(live: Services) -> None:
    decisions = live.decisions
    for index in range(2500):
        decisions.decide("code-reviewer", "github.pulls.read", f"github:acme/platform-{index}")
        decisions.decide(
            "code-reviewer",
            "github.pulls.merge",
            f"github:acme/platform-{index}",
            on_behalf_of="jonas.berg@acme.example",
        )
    decisions.close()
    with live.db.read() as connection:
        rows = connection.execute(
            sa.text("SELECT allowed, count(*) FROM activities GROUP BY allowed ORDER BY allowed")
        ).all()
        sample = connection.execute(
            sa.text(
                "SELECT agent, on_behalf_of, reasons FROM activities WHERE allowed = :f LIMIT 1"
            ),
            {"f": False},
        ).one()
    assert [(bool(a), n) for a, n in rows] == [(False, 2500), (True, 2500)]
    assert sample.agent == "code-reviewer" and sample.on_behalf_of == "jonas.berg@acme.example"
    assert "delegation_not_allowed" in str(sample.reasons)


def test_denies_are_never_sampled(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_ACTIVITY_ALLOW_SAMPLE", "0")
    services = Services.from_settings(
        Settings(home=tmp_path, database_url=database_url), SystemClock()
    )
    try:
        _estate(services)
        for _ in range(300):
            services.decisions.decide(
                "code-reviewer", "github.pulls.read", "github:acme/platform-api"
            )
            services.decisions.decide(
                "code-reviewer", "github.pulls.merge", "github:acme/platform-api"
            )
        services.decisions.close()
        stats = services.decisions.recorder.stats
        assert stats.sampled_out == 300 and stats.written == 300
        with services.db.read() as connection:
            allowed = connection.execute(sa.text("SELECT allowed FROM activities")).scalars().all()
        assert len(allowed) == 300 and not any(allowed)
    finally:
        services.decisions.close()
        services.close()


def test_changes_take_effect_within_a_second_across_processes(
    live: Services, database_url: str, tmp_path: Path
) -> None:
    decisions = live.decisions
    assert decisions.decide(
        "code-reviewer", "github.pulls.read", "github:acme/platform-api"
    ).allowed
    env = charter_env(tmp_path, database_url)
    # another process suspends the agent: this process must deny within a second
    result = run_cli("agent", "suspend", "code-reviewer", "--reason", "incident", env=env)
    assert result.returncode == 0, result.stderr
    took = _within(
        1.0,
        lambda: (
            not decisions.decide(
                "code-reviewer", "github.pulls.read", "github:acme/platform-api"
            ).allowed
        ),
    )
    assert took < 1.0
    assert decisions.decide("code-reviewer", "github.pulls.read", "github:a/b").codes == [
        "agent_not_active"
    ]
    # ...and an org policy applied by another process, too
    result = run_cli("policy", "apply", str(EXAMPLES / "policy" / "org-policy.yaml"), env=env)
    assert result.returncode == 0, result.stderr
    _within(
        1.0,
        lambda: (
            "org_policy_denied"
            in decisions.decide("support-summarizer", "iam.users.create", "aws:1/users/x").codes
        ),
    )
