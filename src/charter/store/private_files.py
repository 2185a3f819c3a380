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
import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger("charter.store")

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
        _tighten(path.with_name(path.name + suffix))


def _tighten(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:  # a companion SQLite has not made (or has just removed)
        return
    if mode & 0o077:
        try:
            os.chmod(path, mode & ~0o077)
        except OSError as exc:  # someone else's file: say so, but a store that opens still serves
            logger.warning("%s is mode %04o and cannot be made 0600: %s", path, mode, exc.strerror)
