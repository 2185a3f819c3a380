"""Just-in-time access from a shell: an allow from a grant names the grant, and revoking one
says what the agent lost."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.support import governance_seed as seed
from typer.testing import CliRunner, Result

from charter.cli.main import app
from charter.cli.runtime import get_services

Run = Callable[..., Result]
CHECK = ("check", "--agent", "summarizer", "--action", "crm.write")


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    monkeypatch.delenv("CHARTER_ACTOR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_services.cache_clear()
    services = get_services()
    seed.seed_people_and_agents(services)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args))

    yield run
    if "decisions" in services.__dict__:
        services.decisions.close()
    get_services().close()
    get_services.cache_clear()


def _json(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_grant_allows_by_its_own_name_and_revoking_it_says_what_ended(cli: Run) -> None:
    grant = _json(
        cli(
            "access",
            "request",
            "summarizer",
            "--action",
            "crm.write",
            "--resource",
            "salesforce:accounts/*",
            "--reason",
            "fix duplicate accounts",
            "--for",
            "2h",
            "--json",
        )
    )
    grant_id = grant["id"]  # type: ignore[index]
    approved = cli("access", "approve", grant_id, "--by", "ada@acme.example")
    assert approved.exit_code == 0, approved.output

    allowed = cli(*CHECK, "--resource", "salesforce:accounts/1")
    assert allowed.exit_code == 0, allowed.output
    lines = allowed.stdout.splitlines()
    assert lines[0].split() == ["ALLOW", "by", f"grant/{grant_id}"]
    assert f"just-in-time grant {grant_id}: fix duplicate accounts" in lines[1]
    assert "(valid " in lines[1]  # its window
    assert "charter/summarizer/allow" not in allowed.stdout
    body = _json(cli(*CHECK, "--resource", "salesforce:accounts/1", "--json"))
    assert body == {"allowed": True, "rule": f"grant/{grant_id}"}
    explained = _json(cli("explain", "--agent", "summarizer", "--json"))
    rules = [r for rules in explained["systems"].values() for r in rules]  # type: ignore[index]
    (from_grant,) = [r for r in rules if r["id"] == f"grant/{grant_id}"]
    assert from_grant["action"] == "crm.write"

    revoked = cli("access", "revoke", grant_id)  # no --reason: it has a default
    assert revoked.exit_code == 0, revoked.output
    assert revoked.stdout.strip() == (
        f"revoked grant {grant_id}; summarizer no longer has crm.write on salesforce:accounts/*"
    )
    (event,) = get_services().audit.list(action="access.revoke")
    assert event.target == grant_id and event.after["reason"] == "revoked before its window closed"
    denied = cli(*CHECK, "--resource", "salesforce:accounts/1", "--json")
    assert _json(denied)["allowed"] is False  # type: ignore[index]
    again = cli("access", "revoke", grant_id, "--reason", "twice")
    assert again.exit_code == 2 and "status" in again.stderr
    helped = cli("access", "revoke", "--help")
    assert "--reason" in helped.stdout and "audit log" in helped.stdout
