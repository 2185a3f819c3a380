"""Shared fixtures: a store on SQLite and on PostgreSQL, and services over it.

Storage tests take ``database_url`` (or ``services``) and run twice: on a fresh
SQLite file and on a fresh schema of the PostgreSQL at
``CHARTER_TEST_DATABASE_URL``. Without a server they skip loudly, unless
``CHARTER_REQUIRE_POSTGRES=1`` (CI), where a missing server fails.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

# Rich sizes the CLI's consoles once, at import: give every worker the same width
# whichever test imports the CLI first, so table output never depends on test order.
os.environ.setdefault("COLUMNS", "200")

from charter.config import Settings
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.store.database import open_database
from charter.store.private_files import private_sqlite

# --timing-json FILE: seconds per test file and directory (docs/testing.md).
pytest_plugins = ["tests.support.timing"]

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _postgres_base_url() -> str | None:
    url = os.environ.get("CHARTER_TEST_DATABASE_URL", DEFAULT_PG)
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        if os.environ.get("CHARTER_REQUIRE_POSTGRES") == "1":
            raise RuntimeError(
                f"CHARTER_REQUIRE_POSTGRES=1 but PostgreSQL at {url} does not answer: {exc}"
            ) from exc
        return None
    return url


_PG_URL: str | bool | None = False  # False: not probed yet


def postgres_url() -> str | None:
    global _PG_URL
    if _PG_URL is False:
        _PG_URL = _postgres_base_url()
        if _PG_URL is None:
            message = (
                "\n\n*** PostgreSQL storage tests are SKIPPED: no server at "
                f"{os.environ.get('CHARTER_TEST_DATABASE_URL', DEFAULT_PG)}.\n"
                "*** Start one (or set CHARTER_TEST_DATABASE_URL) to run them; "
                "CI sets CHARTER_REQUIRE_POSTGRES=1 so they never skip there.\n"
            )
            warnings.warn(message, stacklevel=1)
    return _PG_URL  # type: ignore[return-value]


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite store per test process, migrated to the newest schema, to copy from."""
    path = tmp_path_factory.mktemp("template") / "charter.db"
    open_database(f"sqlite:///{path}").dispose()  # the last close folds the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _fresh_sqlite(template: Path, tmp_path: Path) -> str:
    """A new store file at the newest schema: a copy of the template, as private as a new one.

    Opening it still runs the migrations (which find nothing to do); copying saves
    running every migration again for every test.
    """
    path = tmp_path / "charter.db"
    private_sqlite(path)
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_url(_migrated_sqlite: Path, tmp_path: Path) -> str:
    return _fresh_sqlite(_migrated_sqlite, tmp_path)


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not available (see the warning above for how to enable it)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    with engine.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with engine.begin() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return _fresh_sqlite(request.getfixturevalue("_migrated_sqlite"), tmp_path)
    return str(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC))


@pytest.fixture
def services(database_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    settings = Settings(home=tmp_path, database_url=database_url)
    built = Services.from_settings(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def sqlite_services(sqlite_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    built = Services.from_settings(Settings(home=tmp_path, database_url=sqlite_url), clock=clock)
    yield built
    built.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow end-to-end tests (``@pytest.mark.slow``) start first, the rest keep their order.

    Test processes take tests from the front of the list: a long test collected
    last (the README walk-through: minutes under load) would otherwise run alone
    at the end while every other test process sits idle.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable
