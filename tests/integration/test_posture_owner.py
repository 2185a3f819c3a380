"""Posture by owner: the placeholder owner of shadow agents nobody owns is not ranked as a person.

Findings are written straight into the store (the rules that raise them are tested
elsewhere); the ranking, its JSON and the CLI table read them back on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from charter.cli.main import app
from charter.cli.runtime import get_services
from charter.services.attribution import UNOWNED
from charter.services.context import Services
from charter.services.governance.posture import PostureBy
from charter.store.governance_schema import findings

#: owner → (severity, count) of open findings: nobody's agents score between the two people
OWNERS = {
    "ada@acme.example": ("critical", 4),
    UNOWNED: ("high", 5),
    "sam@acme.example": ("medium", 2),
}


def _findings(services: Services) -> None:
    now = services.clock.now()
    rows = [
        {
            "id": f"f-{owner[:3]}-{n}",
            "rule": "long-lived-secret",
            "severity": severity,
            "status": "open",
            "entity_type": "agent",
            "entity_id": f"agent:{owner[:3]}-{n}",
            "entity_name": f"{owner[:3]}-{n}",
            "identifiers": {},
            "agent": f"{owner[:3]}-{n}",
            "owner": owner,
            "message": "m",
            "evidence": {},
            "digest": "d",
            "first_seen": now,
            "last_changed": now,
        }
        for owner, (severity, count) in OWNERS.items()
        for n in range(count)
    ]
    with services.db.write() as connection:
        connection.execute(sa.insert(findings), rows)


def test_no_owner_comes_last_outside_the_ranking(services: Services) -> None:
    _findings(services)
    posture = services.governance.posture
    ranked = posture.summary(PostureBy.OWNER)
    assert [e.key for e in ranked] == ["ada@acme.example", "sam@acme.example", UNOWNED]
    assert ranked[1].score < ranked[2].score  # last although it scores higher
    assert [e.no_owner for e in ranked] == [False, False, True]
    top = posture.summary(PostureBy.OWNER, limit=1)
    assert [e.key for e in top] == ["ada@acme.example", UNOWNED]  # never cut by --limit
    assert top[1].to_dict()["no_owner"] is True and "no_owner" not in (
        posture.summary(PostureBy.AGENT, limit=1)[0].to_dict()
    )


def test_the_cli_shows_no_owner_on_its_own_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    get_services.cache_clear()
    try:
        _findings(get_services())
        runner = CliRunner()
        table = runner.invoke(app, ["posture", "--by", "owner", "--no-evaluate"])
        assert table.exit_code == 0, table.output
        rows = [line for line in table.stdout.splitlines() if "@" in line or "no owner" in line]
        assert "(no owner)" in rows[-1] and UNOWNED not in table.stdout
        assert "ada@acme.example" in rows[0]
        shown = runner.invoke(app, ["posture", "--by", "owner", "--no-evaluate", "--json"])
        body = json.loads(shown.stdout)
        assert [(e["key"], e["no_owner"]) for e in body][-1] == (UNOWNED, True)
    finally:
        get_services().close()
        get_services.cache_clear()
