"""Scan results recorded in the store: idempotent, first-seen kept, gone marked (SQLite
and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from tests.unit.scan.helpers import fake

from charter.discovery.scan import ScanOptions, run_scan
from charter.discovery.scan.records import batches
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.store import schema

ROOT = Path(__file__).resolve().parents[2]


def _record(services: Services, path: Path) -> list[dict[str, object]]:
    report = run_scan([str(path)], ScanOptions())
    return [services.reconcile.apply(b, actor="test").summary() for b in batches(report)]


def _rows(services: Services, table: sa.Table) -> dict[str, sa.Row[object]]:
    with services.db.read() as connection:
        return {row.id: row for row in connection.execute(sa.select(table))}


def test_workstation_is_recorded_once_and_rescans_change_nothing(
    services: Services, clock: FixedClock, tmp_path: Path
) -> None:
    first = _record(services, ROOT / "examples" / "workstation")[0]
    assert first["credentials"]["created"] == 8  # type: ignore[index]
    identities = _rows(services, schema.identities)
    kinds = sorted(row.kind for row in identities.values())
    assert kinds == [
        "code_project",
        "code_project",
        "mcp_server",
        "mcp_server",
        "mcp_server",
        "mcp_server",
    ]
    agent = next(r for r in identities.values() if r.name == "support-bot")
    assert agent.ai_related and agent.properties["candidate_agent"] is True
    assert "LangGraph" in agent.properties["frameworks"]
    credentials = _rows(services, schema.credentials)
    assert all(row.source == "fs" for row in credentials.values())
    assert {row.provider for row in credentials.values()} >= {"OpenAI", "GitHub", "AWS"}
    for row in credentials.values():  # fingerprints and previews only
        assert len(row.fingerprint) == 64 and "…" in row.preview
    grants = _rows(services, schema.grants)
    assert any("candidate agent" in g.reason for g in grants.values())
    clock.advance(days=1)
    again = _record(services, ROOT / "examples" / "workstation")[0]
    for kind in ("credentials", "identities", "grants"):
        counts = again[kind]  # type: ignore[index]
        assert (counts["created"], counts["updated"], counts["gone"]) == (0, 0, 0), kind
    after = _rows(services, schema.credentials)
    assert {k: r.first_seen for k, r in after.items()} == {
        k: r.first_seen for k, r in credentials.items()
    }


def test_a_removed_secret_is_marked_gone_and_a_new_one_created(
    services: Services, clock: FixedClock, tmp_path: Path
) -> None:
    old, new = fake("github-pat", 1), fake("openai-project-key", 2)
    (tmp_path / ".env").write_text(old.text + "\n")
    _record(services, tmp_path)
    clock.advance(hours=1)
    (tmp_path / ".env").write_text(new.text + "\n")
    result = _record(services, tmp_path)[0]
    assert result["credentials"]["created"] == 1 and result["credentials"]["gone"] == 1  # type: ignore[index]
    rows = {r.provider: r for r in _rows(services, schema.credentials).values()}
    assert rows["GitHub"].gone_at is not None and rows["OpenAI"].gone_at is None


def test_overlapping_roots_share_their_records(
    services: Services, clock: FixedClock, tmp_path: Path
) -> None:
    """A subfolder, then its parent, then the subfolder again: one row per place, and each
    root's re-scan resolves only what disappeared under it."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / ".env").write_text(fake("github-pat", 1).text + "\n")
    (tmp_path / "notes.txt").write_text(fake("openai-project-key", 2).text + "\n")

    def record(path: Path) -> dict[str, object]:
        report = run_scan([str(path)], ScanOptions())
        return services.scans.record(report, actor="test")[0]

    record(sub)
    clock.advance(hours=1)
    parent = record(tmp_path)
    assert parent["credentials"]["created"] == 1  # type: ignore[index]
    live = [r for r in _rows(services, schema.credentials).values() if r.gone_at is None]
    assert len(live) == 2 and {r.account for r in live} == {str(tmp_path.resolve())}
    (sub / ".env").write_text("")
    again = record(sub)
    assert again["credentials"]["gone"] == 1  # type: ignore[index]
    rows = {r.provider: r for r in _rows(services, schema.credentials).values()}
    assert rows["GitHub"].gone_at is not None and rows["OpenAI"].gone_at is None
    assert rows["GitHub"].properties["path"] == str((sub / ".env").resolve())
