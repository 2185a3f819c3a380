"""SIEM export: recorded decisions and findings as OCSF events, to a JSON-lines file or a URL.

Read from the store after the fact (the decision point records decisions in
the background; this reads them later), so exporting never slows a decision.
Each source has a cursor in ``export_cursors`` (``siem:decisions``: the last
``activities.id``; ``siem:findings``: the last ``(last_changed, id)``), moved
only after a batch was written, so a failed write is retried by the next run
and nothing is skipped. Every event is checked (:func:`siem_ocsf.problems`)
before it is written; a malformed one stops the export (it is a bug, not data).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain import siem_ocsf
from charter.domain.audit import canonical_json
from charter.domain.moments import utc
from charter.errors import CharterError, InvalidInput
from charter.services.clock import Clock
from charter.services.governance.findings import row_to_finding
from charter.store import schema
from charter.store.database import Database
from charter.store.governance_schema import findings as _F
from charter.store.ssf_schema import export_cursors as _C

_A, _G, _V = schema.activities, schema.agents, schema.charter_versions
DECISIONS, FINDINGS = "siem:decisions", "siem:findings"
BATCH = 500


class Sink(Protocol):
    def write(self, events: Sequence[Mapping[str, Any]]) -> None: ...


class FileSink:
    """Appends one JSON object per line (created 0600 if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, events: Sequence[Mapping[str, Any]]) -> None:
        text = "".join(json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n" for e in events)
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())


class HttpSink:
    """POSTs each batch as a JSON array; any answer but 2xx fails the batch."""

    def __init__(self, url: str, authorization: str | None = None) -> None:
        parts = urlsplit(url)
        loopback = False
        try:
            loopback = ipaddress.ip_address(parts.hostname or "").is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise InvalidInput("the SIEM URL must be https (http only on loopback)", field="to")
        self.url = url
        self.authorization = authorization

    def write(self, events: Sequence[Mapping[str, Any]]) -> None:
        headers = {"Content-Type": "application/json"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        try:
            response = httpx.post(
                self.url, content=json.dumps(list(events)), headers=headers, timeout=30
            )
        except httpx.HTTPError as exc:
            raise CharterError(f"the SIEM endpoint did not answer: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise CharterError(f"the SIEM endpoint answered HTTP {response.status_code}")


def sink_for(target: str, authorization: str | None = None) -> Sink:
    if target.startswith(("http://", "https://")):
        return HttpSink(target, authorization)
    path = Path(target)
    if not path.parent.is_dir():
        raise InvalidInput(f"{path.parent} is not a directory", field="to")
    return FileSink(path)


@dataclass(frozen=True, slots=True)
class Exported:
    decisions: int
    findings: int


class SiemExport:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock

    def _cursor(self, name: str) -> str | None:
        with self._db.read() as connection:
            row = connection.execute(sa.select(_C.c.position).where(_C.c.name == name)).first()
        return None if row is None else str(row.position)

    def _move(self, name: str, position: str) -> None:
        now = self._clock.now()
        with self._db.write() as connection:
            query = sa.update(_C).where(_C.c.name == name).values(position=position, updated_at=now)
            if connection.execute(query).rowcount == 0:
                connection.execute(
                    sa.insert(_C).values(name=name, position=position, updated_at=now)
                )

    def export(self, sink: Sink, *, batch: int = BATCH, limit: int | None = None) -> Exported:
        """Everything new since the last export, in batches; returns how many of each."""
        counts = {DECISIONS: 0, FINDINGS: 0}
        for name, pages in ((DECISIONS, self._decisions(batch)), (FINDINGS, self._findings(batch))):
            for events, position in pages:
                for event in events:
                    wrong = siem_ocsf.problems(event)
                    if wrong:
                        raise CharterError(f"an OCSF event is malformed: {'; '.join(wrong)}")
                sink.write(events)
                self._move(name, position)
                counts[name] += len(events)
                if limit is not None and counts[name] >= limit:
                    break
        return Exported(counts[DECISIONS], counts[FINDINGS])

    def _facts(self, connection: Connection, names: set[str]) -> dict[str, siem_ocsf.AgentFacts]:
        if not names:
            return {}
        rows = connection.execute(
            sa.select(_G.c.name, _G.c.owner, _G.c.charter_version, _V.c.document)
            .join(_V, (_V.c.agent == _G.c.name) & (_V.c.version == _G.c.charter_version))
            .where(_G.c.name.in_(sorted(names)))
        )
        return {
            r.name: siem_ocsf.AgentFacts(
                r.name,
                int(r.charter_version),
                hashlib.sha256(canonical_json(r.document).encode()).hexdigest(),
                r.owner,
            )
            for r in rows
        }

    def _decisions(self, batch: int) -> Iterator[tuple[list[dict[str, Any]], str]]:
        after = int(self._cursor(DECISIONS) or 0)
        while True:
            with self._db.read() as connection:
                rows = list(
                    connection.execute(
                        sa.select(_A).where(_A.c.id > after).order_by(_A.c.id).limit(batch)
                    )
                )
                facts = self._facts(connection, {r.agent for r in rows})
            if not rows:
                return
            events = [
                siem_ocsf.decision_event(
                    siem_ocsf.DecisionRow(
                        r.id,
                        utc(r.time),
                        r.agent,
                        r.on_behalf_of,
                        r.action,
                        r.resource,
                        r.allowed,
                        r.reasons,
                        r.source,
                    ),
                    facts.get(r.agent),
                )
                for r in rows
            ]
            after = int(rows[-1].id)
            yield events, str(after)

    def _findings(self, batch: int) -> Iterator[tuple[list[dict[str, Any]], str]]:
        cursor = self._cursor(FINDINGS)
        since, last_id = cursor.split("|", 1) if cursor else ("", "")
        while True:
            query = sa.select(_F).order_by(_F.c.last_changed, _F.c.id).limit(batch)
            if since:
                moment = dt.datetime.fromisoformat(since)
                query = query.where(
                    sa.or_(
                        _F.c.last_changed > moment,
                        sa.and_(_F.c.last_changed == moment, _F.c.id > last_id),
                    )
                )
            with self._db.read() as connection:
                rows = list(connection.execute(query))
                facts = self._facts(connection, {r.agent for r in rows if r.agent})
            if not rows:
                return
            findings = [row_to_finding(r) for r in rows]
            events = [siem_ocsf.finding_event(f, facts.get(f.agent or "")) for f in findings]
            since, last_id = rows[-1].last_changed.isoformat(), str(rows[-1].id)
            yield events, f"{since}|{last_id}"
