"""The CLI end to end, as a user runs it: real processes, a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.server import ROOT, charter_env, run_cli

AGENTS = ROOT / "examples" / "agents"


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    environment = charter_env(tmp_path, database_url if "postgresql" in database_url else None)
    assert (
        run_cli(
            "people", "import", str(ROOT / "examples" / "people.json"), env=environment
        ).returncode
        == 0
    )
    return environment


def test_register_activate_list_show_history(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("agent", "register", str(AGENTS / "support-summarizer.yaml"), env=env)
    assert result.returncode == 0, result.stderr
    assert "registered support-summarizer" in result.stdout
    result = run_cli("agent", "activate", "support-summarizer", "--reason", "approved", env=env)
    assert result.returncode == 0 and "active" in result.stdout
    listed = json.loads(run_cli("agent", "list", "--json", env=env).stdout)
    assert listed["total"] == 1 and listed["items"][0]["state"] == "active"
    assert (
        json.loads(run_cli("agent", "list", "--json", "--state", "suspended", env=env).stdout)[
            "total"
        ]
        == 0
    )
    assert (
        json.loads(run_cli("agent", "list", "--json", "--label", "team=support", env=env).stdout)[
            "total"
        ]
        == 1
    )
    table = run_cli("agent", "list", env=env).stdout
    assert "support-summarizer" in table and "maria.garcia@acme.example" in table
    shown = json.loads(run_cli("agent", "show", "support-summarizer", "--json", env=env).stdout)
    assert [h["action"] for h in shown["history"]] == ["agent.activate", "agent.register"]
    # a new charter version
    changed = (
        (AGENTS / "support-summarizer.yaml")
        .read_text()
        .replace("expires: 2027-09-30", "expires: 2027-06-30")
    )
    new_file = tmp_path / "support-summarizer.yaml"
    new_file.write_text(changed)
    result = run_cli("agent", "update", str(new_file), "--reason", "shorter", env=env)
    assert result.returncode == 0 and "v2" in result.stdout
    history = run_cli("agent", "history", "support-summarizer", env=env).stdout
    assert "-expires: '2027-09-30'" in history and "+expires: '2027-06-30'" in history
    # transfer, suspend, decommission, and the audit trail
    assert (
        run_cli(
            "agent", "transfer", "support-summarizer", "--to", "li.wei@acme.example", env=env
        ).returncode
        == 0
    )
    assert (
        run_cli(
            "agent", "suspend", "support-summarizer", "--reason", "incident", env=env
        ).returncode
        == 0
    )
    assert (
        run_cli(
            "agent", "decommission", "support-summarizer", "--reason", "retired", env=env
        ).returncode
        == 0
    )
    result = run_cli("agent", "resume", "support-summarizer", "--reason", "oops", env=env)
    assert result.returncode == 2 and "decommissioned" in result.stderr
    events = json.loads(
        run_cli("audit", "list", "--json", "--target", "support-summarizer", env=env).stdout
    )
    assert [e["action"] for e in events][:4] == [
        "agent.decommission",
        "agent.suspend",
        "agent.transfer",
        "agent.update",
    ]
    verify = run_cli("audit", "verify", env=env)
    assert verify.returncode == 0 and "intact" in verify.stdout


def test_schema_command_prints_json_schema(env: dict[str, str]) -> None:
    schema = json.loads(run_cli("schema", env=env).stdout)
    assert schema["title"] == "Charter" and "owner" in schema["required"]


BAD_CHARTERS = {
    "missing-owner.yaml": ("name: x-bot\npurpose: summarise tickets\n", "owner"),
    "unknown-field.yaml": (
        "name: x-bot\nowner: maria.garcia@acme.example\npurpose: summarise tickets\ncolour: red\n",
        "colour",
    ),
    "bad-pattern.yaml": (
        "name: x-bot\nowner: maria.garcia@acme.example\npurpose: summarise tickets\n"
        "allow:\n  - action: 'tickets read'\n",
        "allow[0].action",
    ),
    "past-expiry.yaml": (
        "name: x-bot\nowner: maria.garcia@acme.example\npurpose: summarise tickets\n"
        "expires: 2001-01-01\n",
        "expires",
    ),
    "bomb.yaml": ("a: &a [1, 2]\nb: [*a, *a]\n", "file"),
}


@pytest.mark.parametrize("name", sorted(BAD_CHARTERS))
def test_bad_charters_exit_2_name_the_field_and_write_nothing(
    env: dict[str, str], tmp_path: Path, name: str
) -> None:
    text, field = BAD_CHARTERS[name]
    path = tmp_path / name
    path.write_text(text)
    before = json.loads(run_cli("audit", "list", "--json", env=env).stdout)
    result = run_cli("agent", "register", str(path), env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert field in result.stderr
    assert json.loads(run_cli("audit", "list", "--json", env=env).stdout) == before
    assert json.loads(run_cli("agent", "list", "--json", env=env).stdout)["total"] == 0


def test_huge_file_and_missing_file_and_duplicate(env: dict[str, str], tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("w") as handle:
        handle.write("name: x\npurpose: ")
        handle.write("y" * (50 * 1024 * 1024))
    result = run_cli("agent", "register", str(huge), env=env)
    assert result.returncode == 2 and "file" in result.stderr and "limit" in result.stderr
    result = run_cli("agent", "register", str(tmp_path / "nope.yaml"), env=env)
    assert result.returncode == 2 and "cannot read" in result.stderr
    assert run_cli("agent", "register", str(AGENTS / "code-reviewer.yaml"), env=env).returncode == 0
    result = run_cli("agent", "register", str(AGENTS / "code-reviewer.yaml"), env=env)
    assert result.returncode == 2 and "name" in result.stderr and "already exists" in result.stderr


def test_departed_owner_warns_then_cannot_activate(env: dict[str, str]) -> None:
    result = run_cli("agent", "register", str(AGENTS / "release-notes-writer.yaml"), env=env)
    assert result.returncode == 0 and "departed" in result.stderr
    result = run_cli("agent", "activate", "release-notes-writer", "--reason", "go", env=env)
    assert result.returncode == 2 and "owner" in result.stderr


def test_tampered_database_fails_verify(tmp_path: Path) -> None:
    """Tamper with the SQLite file behind Charter's back (PostgreSQL: the service tests)."""
    import sqlite3

    env = charter_env(tmp_path)
    assert (
        run_cli("people", "import", str(ROOT / "examples" / "people.json"), env=env).returncode == 0
    )
    connection = sqlite3.connect(tmp_path / "charter.db")
    connection.execute("UPDATE events SET target = 'someone-else' WHERE seq = 3")
    connection.commit()
    connection.close()
    result = run_cli("audit", "verify", env=env)
    assert result.returncode == 1 and "event 3" in result.stdout
