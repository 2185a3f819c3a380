"""``/readyz`` goes red for each reason it names, on SQLite and PostgreSQL (docs/operations.md)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from charter.config import Settings
from charter.server import create_app
from charter.services.context import Services
from charter.services.readiness import ReadinessProbe
from charter.store.database import Database


def _get(services: Services, path: str) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(services))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path)

    return asyncio.run(call())


def test_a_migrated_store_is_ready_and_the_policy_gets_loaded(services: Services) -> None:
    assert not services.decisions.loaded
    answer = _get(services, "/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ready"
    assert services.decisions.loaded  # the probe loaded it: the first decision will not wait


def test_a_store_behind_this_charters_migrations_is_not_ready(services: Services) -> None:
    with services.db.write() as connection:
        connection.execute(sa.text("DELETE FROM alembic_version"))
        connection.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES ('0001')"))
    answer = _get(services, "/readyz")
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["store"]["ok"] is True
    assert checks["migrations"]["ok"] is False
    assert "0001" not in checks["migrations"]["detail"]  # names what is missing, not the base
    assert "charter init" in checks["migrations"]["detail"]


def test_a_store_that_does_not_answer_is_not_ready_and_says_no_more(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/charter_ops_nowhere"
    services = Services(Database(url), Settings(home=tmp_path, database_url=url))
    try:
        with caplog.at_level(logging.WARNING, logger="charter.readiness"):
            answer = _get(services, "/readyz")
    finally:
        services.db.dispose()
    assert answer.status_code == 503
    body = answer.json()
    assert {name for name, c in body["checks"].items() if not c["ok"]} == {
        "store",
        "migrations",
        "decision_snapshot",
    }
    assert "127.0.0.1" not in answer.text and ":1" not in answer.text  # anonymous callers
    assert "127.0.0.1" in caplog.text  # the operator's log has the driver's words


def test_the_schema_verdict_is_cached_per_revision_set(services: Services) -> None:
    probe = ReadinessProbe(services)
    assert probe.check().ready
    with services.db.write() as connection:
        connection.execute(sa.text("DELETE FROM alembic_version"))
        connection.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES ('0001')"))
    assert not probe.check().ready  # a changed revision set is checked again
