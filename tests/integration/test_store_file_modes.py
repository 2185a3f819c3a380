"""The store's files are the operator's alone, whatever the umask (0700 directory, 0600 files).

``charter.db`` holds the audit log, sealed keys and every charter; with the
common umask 022 SQLite would create it, its ``-wal`` and its ``-shm`` 0644,
readable by every local user.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from charter.config import Settings
from charter.services.context import Services
from charter.store.database import open_database


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("loose_umask")
def test_a_new_home_and_its_store_are_private(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    services = Services.from_settings(Settings.from_env({"CHARTER_HOME": str(home)}))
    try:
        services.tokens.signing_keys.ensure()  # creates master.key and writes to the store
        with services.db.write() as connection:
            connection.execute(sa.text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
        files = {p.name: _mode(p) for p in home.iterdir()}
    finally:
        services.close()
    assert _mode(home) == 0o700 and _mode(home.parent) == 0o700
    assert {"charter.db", "charter.db-wal", "charter.db-shm", "master.key"} <= set(files)
    assert {name: mode for name, mode in files.items() if mode != 0o600} == {}


@pytest.mark.usefixtures("loose_umask")
def test_an_existing_store_is_tightened_and_a_chosen_directory_kept(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    path = tmp_path / "charter.db"
    old = sqlite3.connect(path)  # a store an older version made with the umask: 0644
    old.execute("PRAGMA journal_mode=WAL")
    old.close()
    assert _mode(path) == 0o644
    database = open_database(f"sqlite:///{path}")
    try:
        with database.write() as connection:
            connection.execute(sa.text("CREATE TABLE probe (x INTEGER)"))
        modes = {p.name: _mode(p) for p in tmp_path.iterdir() if p.name.startswith("charter.db")}
    finally:
        database.dispose()
    assert _mode(tmp_path) == 0o755  # the operator's own directory keeps its mode
    assert {"charter.db", "charter.db-wal", "charter.db-shm"} <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
