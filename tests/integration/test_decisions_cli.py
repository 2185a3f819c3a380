"""``charter check | explain | policy | roles | export cedar`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import cedarpy
import pytest
from tests.support.server import ROOT, charter_env, run_cli

from charter.config import Settings
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.lifecycle import Transition
from charter.services.context import Services
from charter.services.people import parse_directory

EXAMPLES = ROOT / "examples"
AT = "2026-11-02T10:00:00Z"  # Monday, 11:00 in Berlin


def seed(home: Path, database_url: str) -> None:
    """People and two active agents, set up in-process (the CLI under test runs after)."""
    services = Services.from_settings(Settings(home=home, database_url=database_url))
    try:
        services.people.import_records(
            parse_directory((EXAMPLES / "people.json").read_bytes(), filename="people.json"),
            actor="t",
        )
        for name in ("support-summarizer", "finance-reconciler"):
            spec = parse_charter_text((EXAMPLES / "agents" / f"{name}.yaml").read_text())
            services.registry.register(spec, actor="t")
            services.registry.transition(name, Transition.ACTIVATE, actor="t", reason="ok")
    finally:
        services.close()


@pytest.fixture
def sqlite_env(sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    seed(tmp_path, sqlite_url)
    return charter_env(tmp_path, sqlite_url)


def test_check_explain_policy_roles_export(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    env = sqlite_env  # the store itself is tested on SQLite and PostgreSQL in test_decisions_store
    internal = json.dumps({"data": {"classification": "internal"}})
    allowed = run_cli(
        "check",
        "--agent",
        "support-summarizer",
        "--action",
        "tickets.read",
        "--resource",
        "zendesk:tickets/4711",
        "--context",
        internal,
        "--at",
        AT,
        env=env,
    )
    assert allowed.returncode == 0 and "ALLOW" in allowed.stdout
    assert "charter/support-summarizer/allow/0" in allowed.stdout
    denied = run_cli(
        "check",
        "--agent",
        "support-summarizer",
        "--action",
        "tickets.read",
        "--resource",
        "zendesk:tickets/4711",
        "--at",
        AT,
        "--json",
        "--exit-code",
        env=env,
    )
    assert denied.returncode == 1
    body = json.loads(denied.stdout)
    assert body["allowed"] is False and body["reasons"][0]["code"] == "explicitly_denied"

    assert (
        run_cli("policy", "apply", str(EXAMPLES / "policy" / "org-policy.yaml"), env=env).returncode
        == 0
    )
    roles = run_cli("roles", "apply", str(EXAMPLES / "policy" / "roles.yaml"), "--json", env=env)
    assert roles.returncode == 0 and json.loads(roles.stdout)["version"] == 1
    shown = json.loads(run_cli("policy", "show", env=env).stdout)
    assert shown["version_applied"] == 1 and len(shown["deny"]) == 5
    payout = run_cli(
        "check",
        "-a",
        "finance-reconciler",
        "--action",
        "stripe.payouts.create",
        "-r",
        "stripe:acct_acme/payouts",
        "--json",
        env=env,
    )
    assert "org_policy_denied" in [r["code"] for r in json.loads(payout.stdout)["reasons"]]
    delegated = run_cli(
        "check",
        "-a",
        "support-summarizer",
        "--action",
        "tickets.read",
        "-r",
        "zendesk:tickets/1",
        "-c",
        internal,
        "--at",
        AT,
        "--on-behalf-of",
        "maria.garcia@acme.example",
        "--json",
        env=env,
    )
    assert json.loads(delegated.stdout)["role"] == "role/support-agent/allow/0"

    explained = json.loads(
        run_cli("explain", "--agent", "finance-reconciler", "--json", env=env).stdout
    )
    assert explained["state"] == "active" and "stripe" in explained["systems"]
    refund = next(
        r for r in explained["systems"]["stripe"] if r["action"] == "stripe.refunds.create"
    )
    assert "args.amount le 500" in refund["conditions"]
    assert any(r["id"] == "org/payouts-need-humans" for r in explained["systems"]["stripe"])
    table = run_cli("explain", "--agent", "support-summarizer", env=env).stdout
    assert "zendesk" in table and "Europe/Berlin" in table
    assert "10/min" in table  # its slack.post_message rule's rate limit
    summarizer = json.loads(
        run_cli("explain", "--agent", "support-summarizer", "--json", env=env).stdout
    )
    limits = {r["action"]: r.get("rate_limit_per_minute") for r in summarizer["systems"]["slack"]}
    assert limits == {"slack.post_message": 10}

    out = tmp_path / "cedar"
    exported = run_cli("export", "cedar", "--out", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    policies = (out / "policies.cedar").read_text()
    assert '@id("charter/finance-reconciler/allow/3")' in policies
    assert cedarpy.validate_policies(
        policies, (out / "schema.cedarschema").read_text()
    ).validation_passed
    assert any(
        e["uid"]["type"] == "Person" for e in json.loads((out / "entities.json").read_text())
    )


def test_bad_input_exits_2_naming_the_problem(sqlite_env: dict[str, str]) -> None:
    for args, words in [
        (
            ["check", "-a", "x", "--action", "y", "-r", "z:w", "--context", "{nope"],
            "not valid JSON",
        ),
        (["check", "-a", "x", "--action", "y", "-r", "z:w", "--at", "yesterday"], "ISO 8601"),
        (["explain", "--agent", "ghost"], "no agent named 'ghost'"),
    ]:
        result = run_cli(*args, env=sqlite_env)
        assert result.returncode == 2 and words in result.stderr, (args, result.stderr)


def test_conflicting_files_are_refused(sqlite_env: dict[str, str], tmp_path: Path) -> None:
    env = sqlite_env
    policy = tmp_path / "policy.yaml"  # conflicting files
    policy.write_text(
        "deny:\n  - {id: a, description: one, action: 'x.*'}\n"
        "  - {id: b, description: two, action: 'x.*'}\n"
    )
    result = run_cli("policy", "apply", str(policy), env=env)
    assert result.returncode == 2 and "repeats rule 'a'" in result.stderr
    roles = tmp_path / "roles.yaml"
    roles.write_text(
        "roles:\n  - {name: r, groups: [g], allow: [{action: a}]}\n"
        "  - {name: r, groups: [h], allow: [{action: b}]}\n"
    )
    result = run_cli("roles", "apply", str(roles), env=env)
    assert result.returncode == 2 and "defined twice" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("deny:\n  - {id: a, description: one, action: 'x \\q'}\n")
    result = run_cli("policy", "apply", str(bad), env=env)
    assert result.returncode == 2 and "deny[0].action" in result.stderr
