"""Scheduled discovery through its interfaces: worker processes, ``charter discover status``,
the API and the console page; and a malformed ``discovery`` section refused with its field.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import sqlalchemy as sa
import yaml
from starlette.testclient import TestClient
from tests.integration.test_console_security import app, sign_in
from tests.support.server import charter_env, live_server, run_cli

from charter.services.context import Services

__all__ = ["app"]  # the console fixture, shared with the console security tests

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "examples" / "estate" / "github"


def _policy(home: Path, sources: list[dict[str, object]]) -> Path:
    path = home / "governance.yaml"
    path.write_text(yaml.safe_dump({"discovery": {"sources": sources}}))
    return path


def test_two_worker_processes_ingest_a_dropped_export_once(
    tmp_path: Path, database_url: str
) -> None:
    home, exports = tmp_path / "home", tmp_path / "exports"
    home.mkdir()
    exports.mkdir()
    shutil.copytree(GITHUB, exports, dirs_exist_ok=True)
    _policy(home, [{"name": "exports", "watch": str(exports), "every": "1h"}])
    env = charter_env(home, database_url)
    assert run_cli("init", env=env).returncode == 0  # the store exists before the race
    results: list[str] = []
    failed: list[str] = []

    def worker() -> None:
        done = run_cli("worker", "--once", env=env)
        (results if done.returncode == 0 else failed).append(done.stdout + done.stderr)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not failed, failed
    assert len(results) == 2
    pulled = [r for r in results if '"exports": {"records"' in r]
    assert len(pulled) == 1, results  # one process pulled; the other found it not due
    status = run_cli("discover", "status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    (row,) = json.loads(status.stdout)
    assert row["runs"] == 1 and row["health"] == "ok" and row["records_seen"] > 0
    assert row["changes"] == row["records_seen"] and row["kind"] == "watch"
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        files = connection.execute(sa.text("SELECT path FROM discovery_files")).scalars().all()
    engine.dispose()
    assert sorted(Path(p).name for p in files) == sorted(p.name for p in GITHUB.iterdir())

    table = run_cli("discover", "status", env=env)
    assert table.returncode == 0 and "exports" in table.stdout and "ok" in table.stdout
    again = run_cli("discover", "pull", "exports", env=env)  # forced: nothing new to read
    assert again.returncode == 0 and "0 records seen, 0 changes" in again.stdout, again.stdout
    missing = run_cli("discover", "pull", "nope", env=env)
    assert missing.returncode == 2 and "no discovery source 'nope'" in missing.stderr


def test_a_malformed_discovery_section_is_refused_naming_the_field(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    _policy(home, [{"name": "gh", "live": "github", "target": "acme", "every": "2s"}])
    env = charter_env(home)
    for command in (("discover", "status"), ("worker", "--once")):
        refused = run_cli(*command, env=env)
        assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
        lines = [line for line in refused.stderr.splitlines() if line.startswith("error")]
        assert len(lines) == 1 and "discovery.sources[0].every" in lines[0], refused.stderr
    with live_server(env) as server, server.client() as client:
        answer = client.get("/v1/discovery/sources")
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["field"] == "discovery.sources[0].every"
        _policy(home, [{"name": "gh", "live": "github", "target": "acme", "every": "2m"}])
        fixed = client.get("/v1/discovery/sources")
        assert fixed.status_code == 200 and fixed.json()[0]["health"] == "pending"


def test_the_console_page_shows_each_sources_health(
    app: TestClient, services: Services, tmp_path: Path
) -> None:
    exports = tmp_path / "drop"
    exports.mkdir()
    shutil.copytree(GITHUB, exports, dirs_exist_ok=True)
    path = _policy(
        tmp_path,
        [
            {"name": "drop", "watch": str(exports), "every": "10m"},
            {"name": "gone-dir", "watch": str(tmp_path / "nowhere"), "every": "10m"},
        ],
    )
    services.governance.use_policy_file(path)
    services.governance.worker().run_once()
    sign_in(app, "ada.osei@acme.example")  # an auditor sees it
    page = app.get("/discovery")
    assert page.status_code == 200
    assert 'href="/discovery"' in page.text  # linked from the navigation
    assert 'id="source-drop" class="health-ok"' in page.text
    assert 'id="source-gone-dir" class="health-retrying"' in page.text
    assert "is not a directory" in page.text and "1 failure in a row" in page.text
    sign_in(app, "maria.garcia@acme.example")  # an owner does not
    assert app.get("/discovery").status_code == 403
    assert 'href="/discovery"' not in app.get("/").text
