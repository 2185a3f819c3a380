"""Engines and transactions.

Two engines over one database: a *write* engine whose transactions take the
write lock up front (SQLite ``BEGIN IMMEDIATE``), so a read-modify-write such as
appending to the audit chain cannot interleave with another process; and a
*read* engine with ordinary deferred transactions. On PostgreSQL both are plain
pools and serialisation points take an advisory transaction lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from charter.errors import StoreError
from charter.store.database_url import (
    cannot_connect,
    missing_driver,
    parse_url,
    redact,
    sqlite_unusable,
)
from charter.store.private_files import private_sqlite

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: Advisory lock ids (PostgreSQL) for the store's serialisation points.
AUDIT_LOCK_ID = 0x43484152  # "CHAR"
#: held while migrating: replicas started together on an empty database migrate it once
MIGRATE_LOCK_ID = 0x4D494752  # "MIGR"


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The store's connection to SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        parsed = parse_url(url)
        self.url = parsed.render_as_string(hide_password=False)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            path = parsed.database
            if path and path != ":memory:" and not path.startswith("file:"):
                try:
                    private_sqlite(Path(path))  # before SQLite creates it with the umask's mode
                except OSError as exc:
                    raise sqlite_unusable(path, exc.strerror or str(exc)) from None
            self.write_engine = _sqlite_engine(self.url, immediate=True)
            self.read_engine = _sqlite_engine(self.url, immediate=False)
        else:
            # without a timeout an unreachable host holds the command for the OS's TCP timeout
            connect_args = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
            try:
                self.write_engine = sa.create_engine(
                    parsed, pool_pre_ping=True, pool_size=5, connect_args=connect_args
                )
            except (sa.exc.NoSuchModuleError, ImportError):
                raise missing_driver(parsed) from None
            self.read_engine = self.write_engine
        self.parsed_url = parsed

    @property
    def display_url(self) -> str:
        """The URL to show people: normalized, its password replaced by ``***``."""
        return redact(self.url)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction that may change state; commits on success, rolls back on error."""
        try:
            with self.write_engine.begin() as connection:
                yield connection
        except sa.exc.OperationalError as exc:
            raise StoreError(f"the store is not usable: {exc.orig}") from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.read_engine.connect() as connection:
                yield connection
        except sa.exc.OperationalError as exc:
            raise StoreError(f"the store is not usable: {exc.orig}") from exc

    def lock(self, connection: Connection, lock_id: int) -> None:
        """Serialise writers at one point within the current transaction.

        SQLite writers already hold the database write lock (BEGIN IMMEDIATE).
        """
        if self.is_postgres:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id})

    def migrate(self) -> None:
        """Bring the schema to the newest revision of every branch (idempotent)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.write_engine.connect() as connection:
            if self.is_postgres:  # the others wait, then find nothing left to do
                self.lock(connection, MIGRATE_LOCK_ID)
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")
            connection.commit()

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """The store at ``url``, migrated; a URL that cannot be used is a one-line StoreError."""
    database = Database(url)
    if migrate and os.environ.get("CHARTER_SKIP_MIGRATE") != "1":
        try:
            database.migrate()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            database.dispose()
            raise cannot_connect(database.parsed_url, exc) from None
        except sa.exc.DatabaseError as exc:
            if type(exc) is not sa.exc.DatabaseError:  # an integrity or programming error is ours
                raise
            database.dispose()
            raise cannot_connect(database.parsed_url, exc) from None
    return database
