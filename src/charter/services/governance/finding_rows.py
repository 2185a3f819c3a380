"""The write phase of a finding run: the rows it spools, and the SQL that writes them.

The read phase decides what must change and spools those rows to a temporary
file (memory stays bounded however many findings change); the write phase reads
them back in chunks and writes them through the driver: ``executemany`` with
prepared statements, and on PostgreSQL ``COPY`` for new findings.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy.engine import Connection

from charter.domain.governance.engine import FindingDraft
from charter.domain.moments import utc

CHUNK = 10000


class Spool:
    """Rows to write, pickled to a temporary file in chunks (our own data, read back once)."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="charter-findings-")  # noqa: SIM115
        self._pending: list[tuple[str, tuple[Any, ...]]] = []
        self.size = 0

    def add(self, op: str, row: tuple[Any, ...]) -> None:
        self._pending.append((op, row))
        self.size += 1
        if len(self._pending) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            pickle.dump(self._pending, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._pending = []

    def chunks(self) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
        self._flush()
        self._file.seek(0)
        while True:
            try:
                yield pickle.load(self._file)  # noqa: S301 - written by this process just now
            except EOFError:
                return

    def close(self) -> None:
        self._file.close()


#: the content columns evaluation writes, in this order (see :func:`finding_row`)
CONTENT = (
    "rule",
    "severity",
    "entity_type",
    "entity_id",
    "entity_name",
    "identifiers",
    "agent",
    "owner",
    "system",
    "message",
    "evidence",
    "suggestion",
    "digest",
)
_JSON_COLUMNS = frozenset({"identifiers", "evidence", "suggestion"})


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)
_dumps = _ENCODER.encode  # one encoder for every row (json.dumps with options builds one per call)


def status_until(value: Any) -> dt.datetime:
    return utc(dt.datetime.fromisoformat(value) if isinstance(value, str) else value)


def finding_row(draft: FindingDraft) -> tuple[Any, ...]:
    """(id, *CONTENT) with JSON already serialised: written straight through the driver."""
    s = draft.subject
    return (
        draft.id,
        draft.rule,
        draft.severity.value,
        s.type.value,
        s.id[:512],
        s.name[:512],
        _dumps(s.identifiers),
        s.agent,
        s.owner,
        s.system[:256] if s.system else None,
        draft.message,
        draft.evidence_json,
        draft.suggestion_json,
        draft.digest,
    )


def write_statements(postgres: bool) -> dict[str, str]:
    """Driver-level SQL for the write phase (executemany without per-row ORM work)."""
    mark = "%s" if postgres else "?"

    def value(column: str) -> str:
        return f"{mark}::jsonb" if postgres and column in _JSON_COLUMNS else mark

    live = "('open', 'acknowledged', 'suppressed')"
    columns = ("id", *CONTENT, "status", "first_seen", "last_changed")
    values = ", ".join(value(c) for c in columns)
    sets = ", ".join(f"{c} = {value(c)}" for c in (*CONTENT, "last_changed"))
    reopen = (
        "status = 'open', resolved_at = NULL, status_until = NULL, status_reason = NULL, "
        "status_by = NULL"
    )
    return {
        "new": f"INSERT INTO findings ({', '.join(columns)}) VALUES ({values}) "  # noqa: S608
        "ON CONFLICT (id) DO NOTHING",
        "changed": f"UPDATE findings SET {sets} WHERE id = {mark} AND status IN {live}",  # noqa: S608
        "reopened": f"UPDATE findings SET {sets}, {reopen} WHERE id = {mark} "  # noqa: S608
        "AND status = 'resolved'",
        "unsuppressed": f"UPDATE findings SET {sets}, {reopen} WHERE id = {mark} "  # noqa: S608
        "AND status = 'suppressed'",
    }


def row_id(row: tuple[Any, ...]) -> Any:
    return row[0]


def update_id(row: tuple[Any, ...]) -> Any:
    return row[-1]


def copy_new(connection: Connection, spool: Spool, now: dt.datetime) -> int:
    """PostgreSQL: COPY new findings straight into the table — hundreds of thousands of rows
    a second, where row-by-row inserts manage thousands. They are new by the stored map read
    under the evaluation lease; should one exist after all (a lapsed lease), the savepoint
    rolls back and they go through a temporary table with ``ON CONFLICT DO NOTHING``."""
    import psycopg

    columns = ("id", *CONTENT, "status", "first_seen", "last_changed")
    try:
        with connection.begin_nested():
            return _copy_rows(connection, spool, now, "findings", columns)
    except psycopg.errors.UniqueViolation:
        pass
    connection.exec_driver_sql(
        "CREATE TEMPORARY TABLE charter_new_findings (LIKE findings) ON COMMIT DROP"
    )
    written = _copy_rows(connection, spool, now, "charter_new_findings", columns)
    if not written:
        return 0
    result = connection.exec_driver_sql(
        f"INSERT INTO findings ({', '.join(columns)}) "  # noqa: S608 - fixed column names
        f"SELECT {', '.join(columns)} FROM charter_new_findings ON CONFLICT (id) DO NOTHING"
    )
    return result.rowcount if result.rowcount >= 0 else written


def _copy_rows(
    connection: Connection, spool: Spool, now: dt.datetime, table: str, columns: tuple[str, ...]
) -> int:
    driver = connection.connection.driver_connection
    assert driver is not None
    written = 0
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for chunk in spool.chunks():
            for op, row in chunk:
                if op == "new":
                    copy.write_row((*row, "open", now, now))
                    written += 1
    return written
