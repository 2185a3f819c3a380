"""Findings in the store: the lifecycle, people's status changes, and queries.

Lifecycle (``FindingStatus``)::

    open ──acknowledge──▶ acknowledged
      │  ◀────reopen──────┘
      ├──suppress (reason + expiry)──▶ suppressed ──expiry passes──▶ open
      └── no longer holds (re-evaluation) ──▶ resolved ──holds again──▶ open

People acknowledge, suppress and reopen; only evaluation resolves (a finding
is resolved when the problem is gone, not when someone says so). Each change
by a person is one transaction with its audit event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.enums import FindingStatus, Severity
from charter.domain.governance.finding import Finding
from charter.domain.moments import utc
from charter.errors import Conflict, InvalidInput, NotFound
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store.database import Database
from charter.store.governance_schema import findings

_F = findings
MAX_SUPPRESSION = dt.timedelta(days=366)
SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    return utc(moment) if moment is not None else None


def row_to_finding(row: Any) -> Finding:
    return Finding(
        id=row.id,
        rule=row.rule,
        severity=Severity(row.severity),
        status=FindingStatus(row.status),
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        entity_name=row.entity_name,
        identifiers=row.identifiers or {},
        agent=row.agent,
        owner=row.owner,
        system=row.system,
        message=row.message,
        evidence=row.evidence or {},
        suggestion=row.suggestion,
        first_seen=utc(row.first_seen),
        last_changed=utc(row.last_changed),
        resolved_at=_aware(row.resolved_at),
        status_reason=row.status_reason,
        status_by=row.status_by,
        status_until=_aware(row.status_until),
    )


@dataclass(frozen=True, slots=True)
class FindingFilter:
    status: tuple[FindingStatus, ...] = (FindingStatus.OPEN, FindingStatus.ACKNOWLEDGED)
    severity_at_least: Severity | None = None
    rule: str | None = None
    agent: str | None = None
    owner: str | None = None
    system: str | None = None
    entity_id: str | None = None

    def where(self) -> list[sa.ColumnElement[bool]]:
        conditions: list[sa.ColumnElement[bool]] = []
        if self.status:
            conditions.append(_F.c.status.in_([s.value for s in self.status]))
        if self.severity_at_least is not None:
            floor = SEVERITY_ORDER[self.severity_at_least]
            conditions.append(
                _F.c.severity.in_([s.value for s in Severity if SEVERITY_ORDER[s] >= floor])
            )
        for column, value in (
            (_F.c.rule, self.rule),
            (_F.c.agent, self.agent),
            (_F.c.owner, self.owner),
            (_F.c.system, self.system),
            (_F.c.entity_id, self.entity_id),
        ):
            if value:
                conditions.append(column == value)
        return conditions


MIN_PREFIX = 6


def normal_id(finding_id: str) -> str:
    return (finding_id or "").strip().lower()


def _row(connection: Connection, finding_id: str, owner: str | None = None) -> Any:
    """A finding by id, or by a unique prefix of at least six characters (as tables show it);
    with ``owner``, prefixes match only that owner's findings (so they probe nobody else's)."""
    finding_id = normal_id(finding_id)
    row = connection.execute(sa.select(_F).where(_F.c.id == finding_id)).first()
    if row is None and MIN_PREFIX <= len(finding_id) < 32 and finding_id.isalnum():
        query = sa.select(_F).where(_F.c.id.like(f"{finding_id}%"))
        if owner is not None:
            query = query.where(_F.c.owner == owner)
        rows = connection.execute(query.limit(2)).all()
        if len(rows) > 1:
            raise InvalidInput(
                f"{finding_id!r} matches several findings; give more of the id", field="id"
            )
        row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"no finding {finding_id!r}", field="id")
    return row


class FindingStore:
    """Queries and people's status changes (evaluation writes through :mod:`.evaluation`)."""

    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock

    def list(
        self, where: FindingFilter = FindingFilter(), *, limit: int = 1000, offset: int = 0
    ) -> tuple[list[Finding], int]:
        if not 1 <= limit <= 100_000:
            raise InvalidInput("limit must be between 1 and 100000", field="limit")
        severity_rank = sa.case(
            *((_F.c.severity == s.value, SEVERITY_ORDER[s]) for s in Severity), else_=-1
        )
        conditions = where.where()
        query = sa.select(_F).where(*conditions)
        count = sa.select(sa.func.count()).select_from(_F).where(*conditions)
        with self._db.read() as connection:
            total = int(connection.execute(count).scalar_one())
            rows = connection.execute(
                query.order_by(severity_rank.desc(), _F.c.rule, _F.c.entity_name, _F.c.id)
                .limit(limit)
                .offset(offset)
            )
            return [row_to_finding(r) for r in rows], total

    def get(self, finding_id: str, *, owner: str | None = None) -> Finding:
        with self._db.read() as connection:
            return row_to_finding(_row(connection, finding_id, owner))

    def counts(self) -> dict[str, dict[str, int]]:
        """Findings by status and severity (for summaries)."""
        out: dict[str, dict[str, int]] = {}
        with self._db.read() as connection:
            for status, severity, n in connection.execute(
                sa.select(_F.c.status, _F.c.severity, sa.func.count()).group_by(
                    _F.c.status, _F.c.severity
                )
            ):
                out.setdefault(status, {})[severity] = int(n)
        return out

    # -- people's status changes --------------------------------------------------------------
    def _change(
        self,
        finding_id: str,
        *,
        allowed_from: tuple[FindingStatus, ...],
        to: FindingStatus,
        actor: str,
        reason: str | None,
        until: dt.datetime | None = None,
    ) -> Finding:
        with self._db.write() as connection:
            row = _row(connection, finding_id)
            finding_id = row.id
            current = FindingStatus(row.status)
            if current not in allowed_from:
                allowed = ", ".join(s.value for s in allowed_from)
                raise Conflict(
                    f"finding {finding_id} is {current}; this applies to: {allowed}",
                    field="status",
                )
            connection.execute(
                sa.update(_F)
                .where(_F.c.id == finding_id)
                .values(status=to.value, status_reason=reason, status_by=actor, status_until=until)
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    f"finding.{_VERB[to]}",
                    "finding",
                    finding_id,
                    {"status": current.value},
                    {
                        "status": to.value,
                        "rule": row.rule,
                        "entity": row.entity_id,
                        "reason": reason,
                        "until": until.isoformat() if until else None,
                    },
                ),
            )
            updated = connection.execute(sa.select(_F).where(_F.c.id == finding_id)).one()
            return row_to_finding(updated)

    def acknowledge(self, finding_id: str, *, actor: str, reason: str | None = None) -> Finding:
        return self._change(
            finding_id,
            allowed_from=(FindingStatus.OPEN,),
            to=FindingStatus.ACKNOWLEDGED,
            actor=actor,
            reason=reason,
        )

    def suppress(self, finding_id: str, *, actor: str, reason: str, until: dt.datetime) -> Finding:
        """Hide a finding until ``until`` (required, at most a year ahead), for a stated reason."""
        if not reason or not reason.strip():
            raise InvalidInput("a suppression needs a reason", field="reason")
        until = utc(until)
        now = self._clock.now()
        if until <= now:
            raise InvalidInput("the suppression must end in the future", field="until")
        if until - now > MAX_SUPPRESSION:
            raise InvalidInput("a suppression may last at most a year", field="until")
        return self._change(
            finding_id,
            allowed_from=(FindingStatus.OPEN, FindingStatus.ACKNOWLEDGED),
            to=FindingStatus.SUPPRESSED,
            actor=actor,
            reason=reason.strip(),
            until=until,
        )

    def reopen(self, finding_id: str, *, actor: str, reason: str | None = None) -> Finding:
        return self._change(
            finding_id,
            allowed_from=(FindingStatus.ACKNOWLEDGED, FindingStatus.SUPPRESSED),
            to=FindingStatus.OPEN,
            actor=actor,
            reason=reason,
        )


_VERB = {
    FindingStatus.ACKNOWLEDGED: "acknowledge",
    FindingStatus.SUPPRESSED: "suppress",
    FindingStatus.OPEN: "reopen",
    FindingStatus.RESOLVED: "resolve",
}
