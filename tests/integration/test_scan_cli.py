"""``charter discover fs`` as a user runs it: real processes, exit codes, outputs, store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.support import cli_fork
from tests.unit.scan.helpers import fake

ROOT = Path(__file__).resolve().parents[2]
WORKSTATION = ROOT / "examples" / "workstation"
CHARTER = Path(sys.executable).with_name("charter")


COMMAND = [str(CHARTER), "discover", "fs"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    import os

    environment = {**os.environ, "CHARTER_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    environment.pop("CHARTER_DATABASE_URL", None)
    return environment


def scan(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """A new ``charter`` process per call (forked from one that has imported the CLI)."""
    return cli_fork.run([*COMMAND, *args], env=env, cwd=cwd, input_text=None, timeout=120)


def _secrets_in(folder: Path) -> list[str]:
    values = []
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in {".env", ".json", ".sh", ""}:
            for line in path.read_text().splitlines():
                if "=" in line and not line.startswith("#"):
                    values.append(line.split("=", 1)[1].strip())
    return [v for v in values if len(v) > 24]


def test_workstation_table_json_and_store(env: dict[str, str], tmp_path: Path) -> None:
    table = scan(str(WORKSTATION), env=env)
    assert table.returncode == 1, table.stderr
    for text in (
        "Credentials found",
        "MCP servers",
        "Agent code",
        "candidate",
        "ghp_…",
        "support-bot/.env:3",
        "8 new finding(s) of 8",
    ):
        assert text in table.stdout
    for secret in _secrets_in(WORKSTATION):
        assert secret not in table.stdout and secret not in table.stderr
    database = tmp_path / "home" / "charter.db"
    assert database.exists()
    again = scan(str(WORKSTATION), "--format", "json", env=env)
    document = json.loads(again.stdout)
    assert again.returncode == 1
    assert document["summary"]["findings"] == 8 and document["summary"]["candidate_agents"] == 1
    recorded = document["recorded"][0]["credentials"]
    assert (recorded["created"], recorded["unchanged"]) == (0, 8)
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        count = connection.execute(sa.text("SELECT count(*) FROM credentials")).scalar()
    engine.dispose()
    assert count == 8


def test_exit_codes(env: dict[str, str], tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "main.py").write_text("print('hello')\n")
    assert scan(str(clean), "--no-record", env=env).returncode == 0
    assert scan(str(tmp_path / "missing"), env=env).returncode == 2
    assert scan(str(clean), "--max-file-size", "lots", env=env).returncode == 2
    assert scan(str(clean), "--jobs", "0", env=env).returncode == 2
    bad_baseline = tmp_path / "b.json"
    bad_baseline.write_text("[]")
    result = scan(str(clean), "--baseline", str(bad_baseline), env=env)
    assert result.returncode == 2 and "--baseline" in result.stderr


def test_baseline_lets_known_findings_pass(env: dict[str, str], tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    first = scan(str(WORKSTATION), "--format", "json", "-o", str(baseline), "--no-record", env=env)
    assert first.returncode == 1 and first.stdout == ""
    assert (
        scan(str(WORKSTATION), "--baseline", str(baseline), "--no-record", env=env).returncode == 0
    )


def test_sarif_output_file_and_parallel_jobs_agree(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "scan.sarif"
    result = scan(str(WORKSTATION), "-f", "sarif", "-o", str(out), "--no-record", env=env)
    assert result.returncode == 1 and "wrote sarif" in result.stderr
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == 8
    one = json.loads(scan(str(WORKSTATION), "-f", "json", "--no-record", env=env).stdout)
    two = json.loads(scan(str(WORKSTATION), "-f", "json", "-j", "2", "--no-record", env=env).stdout)
    assert one["findings"] == two["findings"] and one["projects"] == two["projects"]
    assert not (tmp_path / "home" / "charter.db").exists()  # --no-record writes nothing


def test_pre_commit_hook_blocks_staged_secrets_only(env: dict[str, str], tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.test"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "ok.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "ok.py"], check=True)
    assert scan("--pre-commit", env=env, cwd=repo).returncode == 0
    (repo / "leak.py").write_text(f"KEY = '{fake('anthropic-api-key').token}'\n")
    subprocess.run([*git, "add", "leak.py"], check=True)
    blocked = scan("--pre-commit", env=env, cwd=repo)
    assert blocked.returncode == 1 and "leak.py:1" in blocked.stdout
    assert not (tmp_path / "home" / "charter.db").exists()  # hooks never touch the store


def test_bad_input_is_summarised_not_fatal(env: dict[str, str], tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / ".cursor").mkdir(parents=True)
    (tree / ".cursor" / "mcp.json").write_text("{broken")
    (tree / "bytes.txt").write_bytes(b"\xff\xfe" + fake("groq-api-key").text.encode())
    (tree / "dangling").symlink_to(tree / "nowhere")
    (tree / "loop").symlink_to(tree)
    result = scan(str(tree), str(tmp_path / "absent"), "-f", "json", "--no-record", env=env)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    kinds = sorted(p["kind"] for p in document["problems"])
    assert kinds == sorted(
        [
            "malformed config",
            "invalid UTF-8",
            "broken symlink",
            "symlink loop",
            "path does not exist",
        ]
    )
    assert [f["rule"] for f in document["findings"]] == ["groq-api-key"]
