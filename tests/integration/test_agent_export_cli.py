"""``charter agent export``: the stored charter as a file ``charter agent update`` takes back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.support.server import ROOT, charter_env, run_cli

from charter.domain.charter_file import charter_file_text
from charter.domain.charter_parsing import parse_charter_text

AGENTS = ROOT / "examples" / "agents"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = charter_env(tmp_path / "home")
    for args in (
        ("people", "import", str(ROOT / "examples" / "people.json")),
        ("agent", "register", str(AGENTS / "support-summarizer.yaml")),
        ("agent", "activate", "support-summarizer", "--reason", "approved"),
    ):
        done = run_cli(*args, env=environment)
        assert done.returncode == 0, done.stderr
    return environment


def versions(env: dict[str, str]) -> list[int]:
    history = json.loads(
        run_cli("agent", "history", "support-summarizer", "--json", env=env).stdout
    )
    return [entry["version"] for entry in history]


def test_export_update_round_trip_then_an_edit_is_a_new_version(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "support-summarizer.yaml"
    exported = run_cli("agent", "export", "support-summarizer", "--out", str(path), env=env)
    assert exported.returncode == 0, exported.stderr
    text = path.read_text()
    assert text.startswith("# support-summarizer, charter v1.")
    assert "every: 90d" in text and "max_token_lifetime: 15m" in text  # defaults spelled out
    assert "when: []" not in text

    unchanged = run_cli("agent", "update", str(path), env=env)
    assert unchanged.returncode == 0, unchanged.stderr
    assert "unchanged; no new version" in unchanged.stderr
    assert versions(env) == [1]

    path.write_text(text.replace("every: 90d", "every: 30d"))  # a narrowing: applies at once
    edited = run_cli("agent", "update", str(path), "--reason", "review monthly", env=env)
    assert edited.returncode == 0, edited.stderr
    assert "now at charter v2" in edited.stdout
    assert versions(env) == [1, 2]
    stdout = run_cli("agent", "export", "support-summarizer", env=env).stdout
    assert "every: 30d" in stdout and "charter v2" in stdout
    old = run_cli("agent", "export", "support-summarizer", "--version", "1", env=env).stdout
    assert "every: 90d" in old and yaml.safe_load(old)["name"] == "support-summarizer"


def test_export_refuses_what_is_not_there(env: dict[str, str], tmp_path: Path) -> None:
    for args, words in [
        (("agent", "export", "ghost"), "no agent named 'ghost'"),
        (("agent", "export", "support-summarizer", "--version", "7"), "versions 1 to 1, not 7"),
        (
            ("agent", "export", "support-summarizer", "--out", str(tmp_path / "no" / "x.yaml")),
            "error: out: cannot write",
        ),
    ]:
        done = run_cli(*args, env=env)
        assert done.returncode == 2 and words in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("path", sorted(AGENTS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_charter_survives_the_file(path: Path) -> None:
    spec = parse_charter_text(path.read_bytes(), source=str(path))
    text = charter_file_text(spec.document(), version=3)
    again = parse_charter_text(text.encode(), source="export")
    assert again.document() == spec.document()
