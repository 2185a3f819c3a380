"""``charter changes`` and a widening ``charter agent update``, in process on a seeded store."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from tests.support import governance_seed as seed
from typer.testing import CliRunner, Result

from charter.cli.main import app
from charter.cli.runtime import get_services
from charter.services.auth import UserRole

Run = Callable[..., Result]
ADA = "ada@acme.example"  # owns summarizer
ROOT_ADMIN = "root@acme.example"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("CHARTER_ACTOR", ADA)  # the owner runs the update
    monkeypatch.setenv("COLUMNS", "200")
    get_services.cache_clear()
    services = get_services()
    seed.seed_people_and_agents(services)
    services.auth.add_user(ROOT_ADMIN, role=UserRole.ADMIN, password=None, actor="test")
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    get_services().close()
    get_services.cache_clear()


def _widened(tmp_path: Path) -> Path:
    document = {
        **seed.SUMMARIZER,
        "allow": [
            *seed.SUMMARIZER["allow"],  # type: ignore[misc]
            {"action": "github.*", "resource": "github:*"},
        ],
    }
    path = tmp_path / "summarizer.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_widening_update_waits_for_someone_else(cli: Run, tmp_path: Path) -> None:
    update = cli("agent", "update", str(_widened(tmp_path)), "--reason", "release notes too")
    assert update.exit_code == 0, update.output
    assert "waits for approval" in update.stdout and "github.* on github:*" in update.stdout
    assert get_services().registry.get("summarizer").charter_version == 1

    (change,) = json.loads(cli("changes", "list", "--json").stdout)
    assert change["requested_by"] == ADA and change["kind"] == "charter_update"
    assert change["id"] in cli("changes", "list").stdout
    shown = cli("changes", "show", change["id"])
    assert shown.exit_code == 0 and "action: github.*" in shown.stdout

    own = cli("changes", "approve", change["id"], "--by", ADA)
    assert own.exit_code == 2 and "someone else" in own.stderr
    nobody = cli("changes", "approve", change["id"], "--by", "sam@acme.example")
    assert nobody.exit_code == 2 and "needs an admin" in nobody.stderr
    approved = cli("changes", "approve", change["id"], "--by", ROOT_ADMIN, "--json")
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.stdout)["decided_by"] == ROOT_ADMIN
    assert get_services().registry.get("summarizer").charter_version == 2
    assert cli("changes", "list", "--json").stdout.strip() == "[]"


def test_bad_input_exits_2_with_the_field(cli: Run, tmp_path: Path) -> None:
    missing = cli("changes", "show", "chg-nope")
    assert missing.exit_code == 2 and "no change 'chg-nope'" in missing.stderr
    assert cli("changes", "list", "--status", "bogus").exit_code == 2
    cli("agent", "update", str(_widened(tmp_path)))
    (change,) = json.loads(cli("changes", "list", "--json").stdout)
    assert cli("changes", "reject", change["id"]).exit_code == 2  # --reason is required
    anonymous = cli("changes", "approve", change["id"], "--by", "not-an-email")
    assert anonymous.exit_code == 2 and "--by" in anonymous.stderr
    withdrawn = cli("changes", "reject", change["id"], "--reason", "wrong file", "--by", ADA)
    assert withdrawn.exit_code == 0 and "rejected" in withdrawn.stdout
    wildcard = cli(
        "access",
        "request",
        "summarizer",
        "--action",
        "*",
        "--resource",
        "zendesk:x",
        "--reason",
        "everything",
    )
    assert wildcard.exit_code == 2 and "action" in wildcard.stderr


def test_a_proposal_nobody_decides_expires(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "governance.yaml"
    policy.write_text("approvals:\n  expire_after: 1s\n")
    monkeypatch.setenv("CHARTER_GOVERNANCE_POLICY", str(policy))
    cli("agent", "update", str(_widened(tmp_path)))
    (change,) = json.loads(cli("changes", "list", "--json").stdout)
    time.sleep(1.2)
    late = cli("changes", "approve", change["id"], "--by", ROOT_ADMIN)
    assert late.exit_code == 2 and "expired" in late.stderr
    services = get_services()
    assert services.governance.changes.expire(actor="worker") == [change["id"]]
    assert services.registry.get("summarizer").charter_version == 1
