"""The governance commands in-process (formats, refusals, plans) on a small seeded store."""

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


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    monkeypatch.delenv("CHARTER_ACTOR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_services.cache_clear()
    services = get_services()
    seed.seed_people_and_agents(services)
    services.reconcile.apply(seed.aws_batch(services.clock.now()), actor="test")
    services.reconcile.apply(seed.fs_batch(), actor="test")
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


def test_findings_formats_filters_and_status_changes(cli: Run) -> None:
    listing = cli("findings")
    assert listing.exit_code == 0, listing.output
    assert "evaluated" in listing.stdout and "secret-leaked (NHI2)" in listing.stdout
    body = _json(cli("findings", "--json", "--rule", "secret-leaked"))
    (leak,) = body["findings"]  # type: ignore[index]
    assert leak["owasp"] == ["NHI2"] and leak["severity"] == "critical"
    assert leak["entity"]["identifiers"]["location"] == "deploy/.env:3"
    assert body["evaluation"] is None  # nothing changed since the listing above evaluated
    sarif = _json(cli("findings", "--format", "sarif", "--no-evaluate"))
    assert sarif["runs"][0]["tool"]["driver"]["name"] == "Charter"  # type: ignore[index]
    ocsf = _json(cli("findings", "--format", "ocsf", "--severity", "critical"))
    assert [e["severity_id"] for e in ocsf] == [5]  # type: ignore[union-attr]
    bad = cli("findings", "--format", "xml")
    assert bad.exit_code == 2 and "format" in bad.stderr
    done = cli("findings", "suppress", leak["id"][:8], "--reason", "test key", "--for", "7d")
    assert done.exit_code == 0 and "suppressed" in done.stdout, done.output
    shown = _json(cli("findings", "show", leak["id"], "--json"))
    assert shown["status"] == "suppressed"  # type: ignore[index]
    assert _json(cli("findings", "--json", "--rule", "secret-leaked"))["total"] == 0  # type: ignore[index]
    again = cli("findings", "ack", leak["id"])
    assert again.exit_code == 2 and "suppressed" in again.stderr
    reopened = cli("findings", "reopen", leak["id"])
    assert reopened.exit_code == 0 and "open" in reopened.stdout
    rules = _json(cli("findings", "rules", "--json"))
    assert {r["id"] for r in rules} >= {"secret-leaked", "runaway-agent"}  # type: ignore[union-attr]


def test_posture_explains_its_score(cli: Run) -> None:
    table = cli("posture", "--by", "owner")
    assert table.exit_code == 0 and "ada@acme.example" in table.stdout
    explained = cli("posture", "--by", "owner", "--explain", "ada@acme.example")
    assert "secret-leaked: 1 finding(s), worst critical → 25 points" in explained.stdout
    entries = _json(cli("posture", "--by", "agent", "--json"))
    assert all(
        e["score"] == min(100, sum(c["points"] for c in e["contributions"])) for e in entries
    )  # type: ignore[union-attr]


def test_review_plan_refusal_and_decision(cli: Run) -> None:
    plan = cli("review", "start", "--scope", "owner:ada@acme.example", "--plan")
    assert plan.exit_code == 0 and "summarizer → ada@acme.example" in plan.stdout
    campaign = _json(cli("review", "start", "--scope", "agent:summarizer", "--json"))
    cid = campaign["id"]  # type: ignore[index]
    nobody = cli("review", "decide", cid, "summarizer", "keep")
    assert nobody.exit_code == 2 and "--by" in nobody.stderr
    wrong = cli("review", "decide", cid, "summarizer", "keep", "--by", "sam@acme.example")
    assert wrong.exit_code == 2 and "may not review" in wrong.stderr
    revoke_plan = cli("review", "decide", cid, "summarizer", "revoke", "--plan")
    assert "suspended" in revoke_plan.stdout and "charter v1 → v2" in revoke_plan.stdout
    kept = cli("review", "decide", cid, "summarizer", "keep", "--by", "ada@acme.example")
    assert kept.exit_code == 0 and "kept" in kept.stdout
    shown = cli("review", "show", cid)
    assert "closed" in shown.stdout and "kept" in shown.stdout
    bad_scope = cli("review", "start", "--scope", "team:x")
    assert bad_scope.exit_code == 2 and "scope" in bad_scope.stderr


def test_decommission_accept_access_worker_tasks_notices(cli: Run) -> None:
    plan = cli("agent", "decommission", "summarizer", "--plan")
    assert plan.exit_code == 0 and "Charter will revoke" in plan.stdout
    assert f"aws iam delete-access-key --user-name etl --access-key-id {seed.LEAKED_KEY}" in (
        plan.stdout
    )
    refused = cli("agent", "decommission", "summarizer")
    assert refused.exit_code == 2 and "--reason" in refused.stdout
    done = _json(cli("agent", "decommission", "summarizer", "--reason", "retired", "--json"))
    assert done["state"] == "decommissioned" and done["filed_tasks"]  # type: ignore[index]
    tasks = _json(cli("tasks", "--agent", "summarizer", "--json"))
    assert len(tasks) == len(done["filed_tasks"])  # type: ignore[arg-type,index]
    closed = cli("tasks", "done", tasks[0]["id"])  # type: ignore[index]
    assert closed.exit_code == 0

    worker = _json(cli("worker", "--once", "--json"))
    assert worker["workflows"]["departures"][0]["agent"] == "release-notes"  # type: ignore[index]
    wrong = cli("agent", "accept", "release-notes", "--by", "sam@acme.example")
    assert wrong.exit_code == 2 and "ada@acme.example" in wrong.stderr
    accepted = cli("agent", "accept", "release-notes", "--by", "ada@acme.example")
    assert accepted.exit_code == 0 and "now owned by ada@acme.example" in accepted.stdout

    grant = _json(
        cli(
            "access",
            "request",
            "release-notes",
            "--action",
            "github.pulls.comment",
            "--resource",
            "github:acme/*",
            "--reason",
            "hotfix notes",
            "--for",
            "1h",
            "--json",
        )
    )
    too_long = cli(
        "access",
        "request",
        "release-notes",
        "--action",
        "a.b",
        "--resource",
        "x:y",
        "--reason",
        "r",
        "--for",
        "3d",
    )
    assert too_long.exit_code == 2 and "duration" in too_long.stderr
    approved = cli("access", "approve", grant["id"], "--by", "ada@acme.example")  # type: ignore[index]
    assert approved.exit_code == 0 and "approved" in approved.stdout
    notices = _json(cli("notices", "--to", "ada@acme.example", "--json"))
    kinds = {n["kind"] for n in notices}  # type: ignore[union-attr]
    assert {"access.request", "ownership.pending"} <= kinds
