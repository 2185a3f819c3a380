"""Recording a file-system scan: one account per scanned root, without overlaps.

Scan records are keyed by absolute place (``charter.discovery.scan.records``),
so the same secret in the same file is the same record whichever folder was
scanned. Scans overlap, though: ``charter discover fs sub`` and later
``charter discover fs .`` both see ``sub``. Before a root's batch is
reconciled, every scan record whose place lies under that root — recorded by
any earlier scan, of a subfolder or of a parent — moves to that root's
account, in the same transaction. The root's complete batch then updates what
it still finds and marks gone what disappeared *under that root*; records
elsewhere stay as they are. So a re-scan replaces exactly that root's results
and no place is ever recorded twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.discovery.scan.records import account_of, batches
from charter.discovery.scan.report import ScanReport
from charter.domain.enums import IdentityKind
from charter.domain.estate import SCANNER_SOURCE
from charter.services.reconcile import ReconcileService
from charter.store import schema
from charter.store.database import Database
from charter.store.tokens_schema import agent_keys

_TABLES = (schema.identities, schema.credentials, schema.grants)
_CHUNK = 500


def is_under(path: str, root: str) -> bool:
    """``path`` is ``root`` itself or inside it (paths are resolved, ``/``-separated)."""
    base = root.rstrip("/")
    return path == root or path.startswith(base + "/")


def _place(row: Any) -> str:
    """Where a scan record stands; records written before places were kept: their root."""
    properties = row.properties if isinstance(row.properties, dict) else {}
    path = properties.get("path")
    return path if isinstance(path, str) else str(row.account)


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def claim_root(connection: Connection, root: str, account: str) -> int:
    """Move every scan record under ``root`` (from any other account) to ``account``."""
    moved = 0
    for table in _TABLES:
        rows = connection.execute(
            sa.select(table.c.id, table.c.account, table.c.properties).where(
                table.c.source == SCANNER_SOURCE, table.c.account != account
            )
        )
        ids = [row.id for row in rows if is_under(_place(row), root)]
        for chunk in _chunks(ids):
            connection.execute(
                sa.update(table).where(table.c.id.in_(chunk)).values(account=account)
            )
        moved += len(ids)
    return moved


class ScanRecorder:
    """Writes a scan report into the store, one transaction per scanned root."""

    def __init__(self, database: Database, reconcile: ReconcileService) -> None:
        self._db = database
        self._reconcile = reconcile

    def project_dirs(self) -> frozenset[str]:
        """Directories recorded as code projects: a later scan keeps them projects even
        without a manifest, so scanning a parent does not fold them into the parent."""
        table = schema.identities
        with self._db.read() as connection:
            rows = connection.execute(
                sa.select(table.c.properties).where(
                    table.c.source == SCANNER_SOURCE,
                    table.c.kind == str(IdentityKind.CODE_PROJECT),
                    table.c.gone_at.is_(None),
                )
            )
            paths = {(r.properties or {}).get("path") for r in rows}
        return frozenset(p for p in paths if isinstance(p, str))

    def mark_enrolled_keys(self, report: ScanReport) -> int:
        """Private keys whose public half is an enrolled agent key become info findings."""
        kids = {
            str(f.properties["public_kid"]) for f in report.findings if "public_kid" in f.properties
        }
        if not kids:
            return 0
        table = agent_keys
        with self._db.read() as connection:
            rows = connection.execute(
                sa.select(table.c.kid, table.c.agent).where(table.c.kid.in_(sorted(kids)))
            )
            agents = {row.kid: row.agent for row in rows}
        return report.mark_enrolled(agents)

    def record(self, report: ScanReport, *, actor: str) -> list[dict[str, Any]]:
        """Reconcile each root's batch after claiming what earlier scans saw under it
        (Charter's own agent keys marked first, so they are recorded as what they are)."""
        self.mark_enrolled_keys(report)
        summaries = []
        for root, batch in zip(report.roots, batches(report), strict=True):
            account = account_of(root)

            def claim(connection: Connection, path: str = root.resolved, to: str = account) -> None:
                claim_root(connection, path, to)

            summaries.append(self._reconcile.apply(batch, actor=actor, prepare=claim).summary())
        return summaries
