"""Audit entries read as ``key: before → after`` lines in ``charter audit list``, ``charter agent
show`` and the console's audit page, never as a Python dict cut at a column."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from charter.cli.main import app
from charter.cli.runtime import get_services
from charter.domain.charter_parsing import parse_charter_text
from charter.server import create_app
from charter.services.auth import UserRole
from charter.services.context import Services
from charter.services.people import parse_directory

ROOT = Path(__file__).resolve().parents[2]
AGENT = "support-summarizer"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_services.cache_clear()
    services = get_services()
    people = (ROOT / "examples" / "people.json").read_bytes()
    services.people.import_records(parse_directory(people, filename="people.json"), actor="t")
    spec = parse_charter_text((ROOT / "examples" / "agents" / f"{AGENT}.yaml").read_bytes())
    services.registry.register(spec, actor="t")
    yield services
    services.close()
    get_services.cache_clear()


def test_changes_read_as_key_value_lines(home: Services) -> None:
    runner = CliRunner()
    activated = runner.invoke(app, ["agent", "activate", AGENT, "--reason", "approved in SEC-1"])
    assert activated.exit_code == 0, activated.output
    for command in (["audit", "list", "--limit", "3"], ["agent", "show", AGENT]):
        shown = runner.invoke(app, command)
        assert shown.exit_code == 0, shown.output
        assert "state: proposed → active" in shown.stdout
        assert "reason: approved in SEC-1" in shown.stdout
        assert "{'" not in shown.stdout and "'state'" not in shown.stdout

    home.auth.add_user(
        "admin@acme.example", role=UserRole.ADMIN, password="admin-pass-1234", actor="t"
    )
    with TestClient(create_app(home), base_url="http://console.test") as client:
        token = _CSRF.search(client.get("/login").text)
        assert token
        client.post(
            "/login",
            data={
                "email": "admin@acme.example",
                "password": "admin-pass-1234",
                "csrf_token": token.group(1),
            },
            follow_redirects=False,
        )
        page = client.get("/audit", params={"target": AGENT})
    assert page.status_code == 200
    assert "<div>state: proposed → active</div>" in page.text
    assert "<div>reason: approved in SEC-1</div>" in page.text
