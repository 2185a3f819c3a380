"""Aggregates for the overview and the agents table, computed once per change.

Counting millions of findings by severity, rule, owner, agent and day, or a
million credentials by when they were found, takes seconds however it is
indexed — and findings change only when an evaluation runs or a person
acknowledges, suppresses or reopens one; the estate only on ingest. So the
counts are kept in ``console_summaries`` with the *version* they were computed
for (findings: the newest evaluation run and ``finding.*`` audit event; the
estate: its change counter and the day), read with a few primary-key look-ups,
and shared by every process through the store.

When the version moved: a small table (at most :data:`INLINE_UP_TO` findings)
is recounted on the spot; a large one keeps serving the previous counts,
marked with when they were computed, while one background thread (one per
deployment, by a lease in the same row) recounts. A page never waits seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.enums import FindingStatus
from charter.services.clock import Clock
from charter.store import schema
from charter.store.console_schema import console_summaries as _S
from charter.store.database import Database
from charter.store.governance_schema import finding_runs as _R
from charter.store.governance_schema import findings as _F
from charter.store.versions import read_version

__all__ = ["INLINE_UP_TO", "EstateSummary", "FindingSummary", "Summaries", "summaries_of"]

log = logging.getLogger(__name__)

INLINE_UP_TO = 50_000
#: Part of every version: bump it when what is counted changes, so old rows are recounted.
FORMAT = 3
LEASE = dt.timedelta(minutes=10)
DAYS = 60
NAME = "findings"
_OPEN = (FindingStatus.OPEN.value, FindingStatus.ACKNOWLEDGED.value)


@dataclass(frozen=True, slots=True)
class FindingSummary:
    """Open (and acknowledged) findings, counted every way the console shows them."""

    version: str
    computed_at: dt.datetime
    by_severity: dict[str, int] = field(default_factory=dict)
    by_rule: dict[str, int] = field(default_factory=dict)
    by_agent: dict[str, int] = field(default_factory=dict)
    by_system: dict[str, int] = field(default_factory=dict)
    #: every status (not only open): status → severity → rule → count
    by_status: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    by_owner: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    opened_per_day: dict[str, int] = field(default_factory=dict)  # ISO day → opened, any status
    stale: bool = False

    def for_owner(self, owner: str) -> tuple[dict[str, int], dict[str, int]]:
        mine = self.by_owner.get(owner, {})
        return dict(mine.get("severity", {})), dict(mine.get("rule", {}))

    def bucket(self, status: str, severity: str, rules: tuple[str, ...]) -> int:
        """How many findings have this status and severity (and one of ``rules``, if any)."""
        counts = self.by_status.get(status, {}).get(severity, {})
        return sum(n for rule, n in counts.items() if not rules or rule in rules)

    def for_owner_days(self, owner: str) -> dict[str, int]:
        return dict(self.by_owner.get(owner, {}).get("day", {}))


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def current_version(connection: Connection) -> str:
    run = connection.execute(sa.select(sa.func.max(_R.c.id))).scalar()
    change = connection.execute(
        sa.select(sa.func.max(schema.events.c.seq)).where(schema.events.c.target_type == "finding")
    ).scalar()
    return f"v{FORMAT}:{run or 0}:{change or 0}"


def count(connection: Connection, now: dt.datetime) -> dict[str, Any]:
    """Every aggregate, in five grouped queries over the findings table."""
    open_ = _F.c.status.in_(_OPEN)
    by_status: dict[str, dict[str, dict[str, int]]] = {}
    by_severity: dict[str, int] = {}
    by_rule: dict[str, int] = {}
    for status, severity, rule, n in connection.execute(
        sa.select(_F.c.status, _F.c.severity, _F.c.rule, sa.func.count()).group_by(
            _F.c.status, _F.c.severity, _F.c.rule
        )
    ):
        by_status.setdefault(status, {}).setdefault(severity, {})[rule] = int(n)
        if status in _OPEN:
            by_severity[severity] = by_severity.get(severity, 0) + int(n)
            by_rule[rule] = by_rule.get(rule, 0) + int(n)
    by_agent: dict[Any, Any] = dict(
        connection.execute(
            sa.select(_F.c.agent, sa.func.count())
            .where(open_, _F.c.agent.is_not(None))
            .group_by(_F.c.agent)
        ).all()
    )
    by_system: dict[Any, Any] = dict(
        connection.execute(
            sa.select(_F.c.system, sa.func.count())
            .where(open_, _F.c.system.is_not(None))
            .group_by(_F.c.system)
        ).all()
    )
    by_owner: dict[str, dict[str, dict[str, int]]] = {}
    for owner, severity, rule, n in connection.execute(
        sa.select(_F.c.owner, _F.c.severity, _F.c.rule, sa.func.count())
        .where(open_, _F.c.owner.is_not(None))
        .group_by(_F.c.owner, _F.c.severity, _F.c.rule)
    ):
        mine = by_owner.setdefault(owner, {"severity": {}, "rule": {}})
        mine["severity"][severity] = mine["severity"].get(severity, 0) + int(n)
        mine["rule"][rule] = mine["rule"].get(rule, 0) + int(n)
    day = sa.func.date(_F.c.first_seen)
    since = now - dt.timedelta(days=DAYS)
    per_day: dict[str, int] = {}
    for owner, raw, n in connection.execute(
        sa.select(_F.c.owner, day, sa.func.count())
        .where(_F.c.first_seen >= since)
        .group_by(_F.c.owner, day)
    ):
        key = raw.isoformat() if isinstance(raw, dt.date) else str(raw)
        per_day[key] = per_day.get(key, 0) + int(n)
        if owner is not None:
            days = by_owner.setdefault(owner, {"severity": {}, "rule": {}}).setdefault("day", {})
            days[key] = days.get(key, 0) + int(n)
    return {
        "by_status": by_status,
        "by_severity": {str(k): int(v) for k, v in by_severity.items()},
        "by_rule": {str(k): int(v) for k, v in by_rule.items()},
        "by_agent": {str(k): int(v) for k, v in by_agent.items()},
        "by_system": {str(k): int(v) for k, v in by_system.items()},
        "by_owner": by_owner,
        "opened_per_day": per_day,
    }


def _summary(
    version: str, computed_at: dt.datetime, data: dict[str, Any], *, stale: bool
) -> FindingSummary:
    return FindingSummary(
        version=version,
        computed_at=_aware(computed_at),
        by_severity=dict(data.get("by_severity", {})),
        by_rule=dict(data.get("by_rule", {})),
        by_agent=dict(data.get("by_agent", {})),
        by_system=dict(data.get("by_system", {})),
        by_status=dict(data.get("by_status", {})),
        by_owner=dict(data.get("by_owner", {})),
        opened_per_day=dict(data.get("opened_per_day", {})),
        stale=stale,
    )


@dataclass(frozen=True, slots=True)
class EstateSummary:
    """Estate-wide counts for the overview (admins and auditors see the whole estate)."""

    computed_at: dt.datetime
    found_this_week: int
    identities_by_system: list[tuple[str, int]]
    systems: list[tuple[str, int]] = field(default_factory=list)  # every system, its grants
    stale: bool = False


@dataclass(frozen=True, slots=True)
class _Kind:
    """One cached aggregate: how to tell its version, whether it is small, how to count it."""

    name: str
    version: Callable[[Connection, dt.datetime], str]
    small: Callable[[Connection], bool]
    count: Callable[[Connection, dt.datetime], dict[str, Any]]


def _at_most(connection: Connection, column: sa.Column[Any], limit: int) -> bool:
    rows = connection.execute(
        sa.select(sa.func.count()).select_from(sa.select(column).limit(limit + 1).subquery())
    ).scalar_one()
    return int(rows) <= limit


def estate_version(connection: Connection, now: dt.datetime) -> str:
    """The estate changes on ingest (its counter); "this week" moves with the day."""
    return f"v{FORMAT}:{read_version(connection, 'estate')}:{now.date().isoformat()}"


def count_estate(connection: Connection, now: dt.datetime) -> dict[str, Any]:
    _C, _I = schema.credentials, schema.identities
    found = connection.execute(
        sa.select(sa.func.count())
        .select_from(_C)
        .where(_C.c.first_seen >= now - dt.timedelta(days=7), _C.c.gone_at.is_(None))
    ).scalar_one()
    systems = connection.execute(
        sa.select(_I.c.system, sa.func.count()).where(_I.c.gone_at.is_(None)).group_by(_I.c.system)
    ).all()
    top = sorted(((str(s), int(n)) for s, n in systems), key=lambda i: (-i[1], i[0]))[:10]
    _G = schema.grants
    grants: dict[Any, Any] = dict(
        connection.execute(
            sa.select(_G.c.system, sa.func.count())
            .where(_G.c.gone_at.is_(None))
            .group_by(_G.c.system)
        ).all()
    )
    every = [
        (str(system), int(grants.get(system, 0)))
        for system in connection.execute(
            sa.select(schema.systems.c.id).order_by(schema.systems.c.id)
        ).scalars()
    ][:2000]
    return {"found_this_week": int(found), "identities_by_system": top, "systems": every}


FINDINGS = _Kind(
    NAME,
    lambda connection, _now: current_version(connection),
    lambda connection: _at_most(connection, _F.c.id, INLINE_UP_TO),
    count,
)
ESTATE = _Kind(
    "estate",
    estate_version,
    lambda connection: _at_most(connection, schema.credentials.c.id, INLINE_UP_TO),
    count_estate,
)


class Summaries:
    """One per process (kept on the app); safe to call from many request threads."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._db = database
        self._clock = clock
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}

    def findings(self) -> FindingSummary | None:
        """The current counts; stale ones (``stale=True``) while a large table is recounted;
        None only the very first time a large table is being counted."""
        got = self._get(FINDINGS)
        if got is None:
            return None
        version, computed_at, data, stale = got
        return _summary(version, computed_at, data, stale=stale)

    def estate(self) -> EstateSummary | None:
        got = self._get(ESTATE)
        if got is None:
            return None
        _, computed_at, data, stale = got
        top = [(str(s), int(n)) for s, n in data.get("identities_by_system", [])]
        every = [(str(s), int(n)) for s, n in data.get("systems", [])]
        return EstateSummary(
            _aware(computed_at), int(data.get("found_this_week", 0)), top, every, stale
        )

    def _get(self, kind: _Kind) -> tuple[str, dt.datetime, dict[str, Any], bool] | None:
        now = self._clock.now()
        with self._db.read() as connection:
            version = kind.version(connection, now)
            row = connection.execute(sa.select(_S).where(_S.c.name == kind.name)).first()
            if row is not None and row.version == version:
                return version, _aware(row.computed_at), dict(row.data), False
            small = kind.small(connection)
        if small:
            data = self._recount(kind, version)
            return version, now, data, False
        self._refresh_in_background(kind)
        if row is None or not row.data:
            return None
        return row.version, _aware(row.computed_at), dict(row.data), True

    def _recount(self, kind: _Kind, version: str) -> dict[str, Any]:
        now = self._clock.now()
        with self._db.read() as connection:
            data = kind.count(connection, now)
        with self._db.write() as connection:
            updated = connection.execute(
                sa.update(_S)
                .where(_S.c.name == kind.name)
                .values(version=version, computed_at=now, data=data, refreshing_until=None)
            )
            if updated.rowcount == 0:
                connection.execute(
                    sa.insert(_S).values(
                        name=kind.name, version=version, computed_at=now, data=data
                    )
                )
        return data

    def _lease(self, kind: _Kind) -> bool:
        """Take the deployment-wide right to recount (compare-and-set in the row)."""
        now = self._clock.now()
        with self._db.write() as connection:
            row = connection.execute(sa.select(_S.c.name).where(_S.c.name == kind.name)).first()
            if row is None:
                connection.execute(
                    sa.insert(_S).values(
                        name=kind.name,
                        version="",
                        computed_at=now,
                        data={},
                        refreshing_until=now + LEASE,
                    )
                )
                return True
            taken = connection.execute(
                sa.update(_S)
                .where(
                    _S.c.name == kind.name,
                    sa.or_(_S.c.refreshing_until.is_(None), _S.c.refreshing_until < now),
                )
                .values(refreshing_until=now + LEASE)
            )
            return taken.rowcount == 1

    def _refresh_in_background(self, kind: _Kind) -> None:
        with self._lock:
            running = self._threads.get(kind.name)
            if running is not None and running.is_alive():
                return
            if not self._lease(kind):
                return
            thread = threading.Thread(
                target=self._refresh, args=(kind,), name=f"console-summary-{kind.name}", daemon=True
            )
            self._threads[kind.name] = thread
            thread.start()

    def _refresh(self, kind: _Kind) -> None:
        try:
            with self._db.read() as connection:
                version = kind.version(connection, self._clock.now())
            self._recount(kind, version)
        except Exception:  # a failed recount must not take a page down; the next one retries
            log.exception("recounting the console's %s summary failed", kind.name)
            with self._db.write() as connection:
                connection.execute(
                    sa.update(_S).where(_S.c.name == kind.name).values(refreshing_until=None)
                )

    def wait(self, timeout: float = 600.0) -> None:
        """Wait for background recounts (benchmarks and tests)."""
        for thread in list(self._threads.values()):
            thread.join(timeout)


_app_lock = threading.Lock()


def summaries_of(request: Any) -> Summaries:
    """The process's :class:`Summaries`, kept on the app (created on first use)."""
    state = request.app.state
    with _app_lock:
        if not hasattr(state, "summaries"):
            services = state.services
            state.summaries = Summaries(services.db, services.clock)
    summaries: Summaries = state.summaries
    return summaries
