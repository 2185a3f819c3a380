"""``charter check --at`` takes the times a person types, and refuses the rest in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.server import ROOT, charter_env, run_cli


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    environment = charter_env(tmp_path_factory.mktemp("at"), TZ="UTC")
    for args in (
        ("people", "import", str(ROOT / "examples" / "people.json")),
        ("agent", "register", str(ROOT / "examples" / "agents" / "support-summarizer.yaml")),
        ("agent", "activate", "support-summarizer", "--reason", "approved"),
    ):
        assert run_cli(*args, env=environment).returncode == 0
    return environment


def check(env: dict[str, str], at: str) -> dict[str, object]:
    done = run_cli(
        "check",
        "--agent",
        "support-summarizer",
        "--action",
        "tickets.read",
        "--resource",
        "zendesk:tickets/4711",
        "--context",
        '{"data": {"classification": "internal"}}',
        "--at",
        at,
        "--json",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    body: dict[str, object] = json.loads(done.stdout)
    return body


@pytest.mark.parametrize(
    "at", ["next monday 10:00", "monday 10:00", "2027-03-01 10:00", "2026-11-02T10:00:00Z"]
)
def test_a_weekday_morning_is_inside_the_schedule_any_day(env: dict[str, str], at: str) -> None:
    assert check(env, at)["allowed"] is True


def test_a_sunday_is_outside_it(env: dict[str, str]) -> None:
    body = check(env, "sunday 10:00")
    assert body["allowed"] is False
    assert [r["code"] for r in body["reasons"]] == ["outside_schedule"]  # type: ignore[attr-defined]


def test_a_time_it_cannot_read_is_one_line_naming_at_and_the_forms(env: dict[str, str]) -> None:
    done = run_cli(
        "check",
        "-a",
        "support-summarizer",
        "--action",
        "x",
        "-r",
        "y:z",
        "--at",
        "next week",
        env=env,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: at: --at 'next week'"), done.stderr
    assert "ISO 8601" in lines[0] and "[next] monday 10:00" in lines[0]


def test_a_bad_time_on_a_fresh_home_creates_no_store(tmp_path: Path) -> None:
    env = charter_env(tmp_path / "fresh")
    done = run_cli("check", "-a", "x", "--action", "y", "-r", "z:w", "--at", "monday", env=env)
    assert done.returncode == 2 and "note:" not in done.stderr
    assert not (tmp_path / "fresh" / "charter.db").exists()
