"""Files under ``$CHARTER_HOME`` are the operator's alone: directories 0700, files 0600.

The SQLite store holds the audit log, sealed keys and every agent's charter;
the umask of whoever first starts Charter (often 022) must not decide that
other local users may read it. SQLite creates a database's ``-wal`` and
``-shm`` files with the database file's own mode, so creating that file 0600
first is enough for all three. A store from an older version is tightened
when it is opened. Directories are made 0700 only when Charter creates them: a
directory the operator chose (``/var/lib``) keeps its mode.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
#: Companions SQLite creates beside a database in WAL mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) 0700; an existing directory is left as it is."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # another process made it meanwhile
        os.chmod(directory, PRIVATE_DIR)  # mkdir's mode is filtered by the umask


def private_file(path: Path) -> None:
    """Make sure ``path`` exists and only its owner may read or write it."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    _tighten(path)


def private_sqlite(path: Path) -> None:
    """The database file 0600 before SQLite opens it; any existing companions tightened too."""
    private_dir(path.parent)
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _tighten(companion)


def _tighten(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, mode & ~0o077)
