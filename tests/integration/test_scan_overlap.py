"""Overlapping ``charter discover fs`` scans (a subfolder, then its parent, then the
subfolder again) record each place once: store, map and decommission plan."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.support import cli_fork
from tests.unit.scan.helpers import fake

from charter.config import Settings
from charter.services.context import Services
from charter.store import schema

ROOT = Path(__file__).resolve().parents[2]
CHARTER = str(Path(sys.executable).with_name("charter"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {**os.environ, "CHARTER_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    environment.pop("CHARTER_DATABASE_URL", None)
    return environment


def _charter(*args: str, env: dict[str, str], cwd: Path) -> str:
    done = cli_fork.run([CHARTER, *args], env=env, cwd=cwd, input_text=None, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def _tree(tmp_path: Path) -> Path:
    """A working directory whose ``sub`` folder (no manifest) holds an agent and its .env."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    openai, github = fake("openai-project-key", 1), fake("github-pat", 2)
    (work / "sub" / ".env").write_text(f"{openai.text}\n{github.text}\n")
    (work / "sub" / "agent.py").write_text(
        "import os\nfrom langchain_openai import ChatOpenAI\n"
        "from langchain_core.tools import tool\nimport github\n"
        'token = os.environ["GITHUB_TOKEN"]\n'
    )
    (work / "notes.txt").write_text(fake("slack-bot-token", 3).text + "\n")
    return work


def _live(services: Services, table: sa.Table) -> list[sa.Row[object]]:
    with services.db.read() as connection:
        return list(
            connection.execute(
                sa.select(table).where(table.c.source == "fs", table.c.gone_at.is_(None))
            )
        )


def test_sub_then_parent_then_sub_records_each_place_once(
    env: dict[str, str], tmp_path: Path
) -> None:
    work = _tree(tmp_path)
    first = _charter("discover", "fs", "sub", env=env, cwd=work)
    assert "candidate" in first and "LangChain" in first
    parent = _charter("discover", "fs", env=env, cwd=work)
    assert "credentials 1 new" in parent  # only the Slack token outside sub is new
    again = _charter("discover", "fs", "sub", env=env, cwd=work)
    assert "0 new" in again and "0 gone" in again
    services = Services.from_settings(Settings.from_env(env))
    credentials = _live(services, schema.credentials)
    assert sorted(c.provider for c in credentials) == ["GitHub", "OpenAI", "Slack"]
    assert len({c.fingerprint for c in credentials}) == 3
    projects = [i for i in _live(services, schema.identities) if i.kind == "code_project"]
    assert sorted(p.name for p in projects) == ["sub", "work"]  # work holds the Slack token
    candidates = [p.name for p in projects if p.properties["candidate_agent"]]
    assert candidates == ["sub"]  # sub's agent code is not folded into a "work" project
    agents = [s.name for s in services.estate.shadow.list()]
    assert agents == ["sub"]
    assert services.estate.map.shared_credentials() == []  # one secret, one place
    reach = services.estate.map.blast_radius(agent="sub").to_json()
    assert [n["label"] for n in reach["nodes"] if n["kind"] == "identity"] == ["sub"]
    assert len(reach["edges"]) == len({(e["source"], e["target"]) for e in reach["edges"]})
    plan = services.governance.decommission.plan("sub").to_dict()
    actions = [t["action"] for t in plan["tasks"]]
    assert len(actions) >= 3 and len(actions) == len(set(actions))
    # The parent scan, once more: it takes back what is under it; nothing doubles.
    _charter("discover", "fs", ".", env=env, cwd=work)
    accounts = {c.account for c in _live(services, schema.credentials)}
    assert accounts == {str(work.resolve())}
    assert len(_live(services, schema.credentials)) == 3


def test_a_rescan_resolves_only_what_disappeared_under_its_root(
    env: dict[str, str], tmp_path: Path
) -> None:
    work = _tree(tmp_path)
    _charter("discover", "fs", ".", env=env, cwd=work)
    (work / "sub" / ".env").write_text("")
    out = _charter("discover", "fs", "sub", env=env, cwd=work)
    assert "2 gone" in out
    services = Services.from_settings(Settings.from_env(env))
    assert [c.provider for c in _live(services, schema.credentials)] == ["Slack"]
