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
from charter.store.private_files import private_sqlite

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: Advisory lock ids (PostgreSQL) for the store's serialisation points.
AUDIT_LOCK_ID = 0x43484152  # "CHAR"


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
        self.url = url
        self.dialect = sa.engine.make_url(url).get_backend_name()
        if self.dialect == "sqlite":
            path = sa.engine.make_url(url).database
            if path and path != ":memory:" and not path.startswith("file:"):
                private_sqlite(Path(path))  # before SQLite creates it with the umask's mode
            self.write_engine = _sqlite_engine(url, immediate=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
        else:
            self.write_engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5)
            self.read_engine = self.write_engine

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
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")
            connection.commit()

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    database = Database(url)
    if migrate and os.environ.get("CHARTER_SKIP_MIGRATE") != "1":
        database.migrate()
    return database
