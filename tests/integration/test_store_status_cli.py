"""Which store a command uses: ``charter status``, the note on a new store, the default home."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.server import ROOT, charter_env, run_cli

from charter.config import Settings, default_home


def test_status_reports_a_missing_store_without_creating_it(tmp_path: Path) -> None:
    env = charter_env(tmp_path / "home")
    shown = run_cli("status", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["exists"] is False and body["source"] == "CHARTER_HOME"
    assert body["path"] == str((tmp_path / "home" / "charter.db").resolve())
    assert not (tmp_path / "home" / "charter.db").exists()
    assert "note:" not in shown.stderr
    table = run_cli("status", env=env)
    assert "not yet" in table.stdout and f"CHARTER_HOME={tmp_path / 'home'}" in table.stdout


def test_the_first_command_notes_the_new_store_once_then_status_counts(tmp_path: Path) -> None:
    env = charter_env(tmp_path / "home")
    first = run_cli("people", "import", str(ROOT / "examples" / "people.json"), env=env)
    assert first.returncode == 0, first.stderr
    path = (tmp_path / "home" / "charter.db").resolve()
    note = f"note: new store at {path} (CHARTER_HOME={tmp_path / 'home'})"
    assert first.stderr.startswith(note), first.stderr
    registered = run_cli(
        "agent", "register", str(ROOT / "examples" / "agents" / "support-summarizer.yaml"), env=env
    )
    assert registered.returncode == 0 and "note:" not in registered.stderr
    body = json.loads(run_cli("status", "--json", env=env).stdout)
    assert body["exists"] is True and body["schema"]["up_to_date"] is True
    assert body["schema"]["revisions"] and body["schema"]["pending"] == []
    assert body["counts"]["agents_by_state"] == {"proposed": 1}
    assert body["counts"]["people"] == 23
    table = run_cli("status", env=env).stdout
    assert "up to date" in table and "1 (1 proposed)" in table


def test_database_url_wins_and_says_so(tmp_path: Path, sqlite_url: str) -> None:
    env = charter_env(tmp_path / "home", sqlite_url)
    body = json.loads(run_cli("status", "--json", env=env).stdout)
    assert body["source"] == "CHARTER_DATABASE_URL" and body["url"] == sqlite_url
    unreachable = charter_env(
        tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/none", PGCONNECT_TIMEOUT="2"
    )
    down = run_cli("status", "--json", env=unreachable)
    assert down.returncode == 1  # said, then a status a script can test
    assert json.loads(down.stdout)["problem"], down.stdout
    secret = charter_env(
        tmp_path, "postgres://nobody:hunter2@127.0.0.1:1/none", PGCONNECT_TIMEOUT="2"
    )
    shown = run_cli("status", "--json", env=secret)
    assert "hunter2" not in shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["url"] == "postgresql+psycopg://nobody:***@127.0.0.1:1/none"


def test_the_default_home_is_per_user_whatever_the_directory(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "user")}
    assert default_home(env) == tmp_path / "user" / ".local" / "share" / "charter"
    assert default_home({**env, "XDG_DATA_HOME": str(tmp_path / "xdg")}) == tmp_path / "xdg" / (
        "charter"
    )
    assert default_home({**env, "XDG_DATA_HOME": "relative"}) == default_home(env)
    settings = Settings.from_env(env)
    assert settings.store_source == "default" and settings.home == default_home(env)
    # from two directories, one store
    run_env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    run_env |= {"HOME": str(tmp_path / "user"), "COLUMNS": "200"}
    run_env.pop("XDG_DATA_HOME", None)
    made = run_cli("init", env=run_env)
    assert made.returncode == 0, made.stderr
    assert "chosen by: the default home" in made.stdout
    assert "note: new store at" in made.stderr
    assert (tmp_path / "user" / ".local" / "share" / "charter" / "charter.db").exists()
    body = json.loads(run_cli("status", "--json", env=run_env).stdout)
    assert body["source"] == "default" and body["exists"] is True
