"""Scheduled discovery: the worker pulls each source of the policy's ``discovery`` section when due.

Each source is pulled under its own lease (``discovery:<name>``, :mod:`.leases`) and
is due-checked *after* the lease is taken, from the state row the previous pull left
(``next_run_at``): two workers racing for a source pull it once per period. A pull
goes through the same entry points a person uses — :meth:`EstateIngest.ingest_live`
for ``charter discover <source> --live`` and :meth:`EstateIngest.ingest_plan` for
``charter discover all`` — so reconciliation, attribution and audit events are the
same. A watched directory is classified, each export hashed (SHA-256), and only the
exports of a source with a new or changed file are read; their hashes are kept so the
next pass skips them.

A failure (an API that refuses or is unreachable, a token not set, a directory gone,
an export that does not parse) is caught and recorded with its reason; the next try
backs off exponentially (:func:`~charter.domain.governance.discovery_sources.retry_delay`),
and ``failures_before_finding`` failures in a row raise the ``discovery-source-failing``
finding at the next evaluation. Token values are read from the environment at pull
time and never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.governance.discovery_sources import (
    DiscoveryPolicy,
    DiscoverySource,
    SourceFacts,
    retry_delay,
)
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.moments import utc
from charter.errors import CharterError, NotFound
from charter.services.clock import Clock
from charter.services.governance.leases import Leases
from charter.store.database import Database
from charter.store.discovery_schema import discovery_files, discovery_sources
from charter.store.versions import bump_version

if TYPE_CHECKING:
    from charter.services.estate_ingest import EstateIngest, IngestReport

logger = logging.getLogger("charter.worker.discovery")
_S, _F = discovery_sources, discovery_files
#: the change counter a source's health bumps (the findings' fingerprint reads it)
HEALTH_VERSION = "discovery_health"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One configured source and the state its pulls left (what ``discover status`` shows)."""

    source: DiscoverySource
    last_attempt_at: dt.datetime | None = None
    last_success_at: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    records_seen: int = 0
    changes: int = 0
    runs: int = 0
    next_run_at: dt.datetime | None = None
    consecutive_failures: int = 0
    threshold: int = 3

    @property
    def health(self) -> str:
        if self.runs == 0:
            return "pending"
        if self.consecutive_failures >= self.threshold:
            return "failing"
        return "retrying" if self.consecutive_failures else "ok"

    def summary(self) -> dict[str, Any]:
        def when(moment: dt.datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "name": self.source.name,
            "kind": self.source.kind,
            "source": self.source.describe,
            "every": self.source.every,
            "token_env": self.source.token_env,
            "health": self.health,
            "last_attempt_at": when(self.last_attempt_at),
            "last_success_at": when(self.last_success_at),
            "last_error": self.last_error,
            "last_error_at": when(self.last_error_at),
            "records_seen": self.records_seen,
            "changes": self.changes,
            "runs": self.runs,
            "next_run_at": when(self.next_run_at),
            "consecutive_failures": self.consecutive_failures,
        }


@dataclass(frozen=True, slots=True)
class FileStat:
    """An export file as a watch saw it: its content's SHA-256, and where and how it lay."""

    sha256: str
    path: str
    size: int
    mtime_ns: int


def _stat(path: Path, by_stat: dict[tuple[str, int, int], str]) -> FileStat:
    """The file's hash: from the last pass when its path, size and time are the same."""
    info = path.stat()
    key = (str(path), info.st_size, info.st_mtime_ns)
    sha = by_stat.get(key) or sha256_of(path)
    return FileStat(sha, *key)


@dataclass(frozen=True, slots=True)
class PullOutcome:
    """What one pull did: records read, records changed, and the error if it failed."""

    records: int = 0
    changes: int = 0
    error: str | None = None
    files: tuple[FileStat, ...] = ()  # the export files a watch ingested (or saw moved)
    ingested: int = 0  # how many of them were read this pull

    def summary(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        return {"records": self.records, "changes": self.changes, "files": self.ingested}


def _when(value: Any) -> dt.datetime | None:
    return utc(value) if value is not None else None


def next_run(row: Any, source: DiscoverySource, policy: DiscoveryPolicy) -> dt.datetime | None:
    """When a source is due: as its last pull planned, or sooner if the policy now says so
    (a shorter interval or backoff ceiling applies at once, not after the old wait)."""
    planned = _when(row.next_run_at)
    attempted = _when(row.last_attempt_at)
    if planned is None or attempted is None:
        return planned
    wait = retry_delay(source.every, int(row.consecutive_failures), policy.backoff_max)
    return min(planned, attempted + dt.timedelta(seconds=wait))


def source_facts(connection: Connection, policy: DiscoveryPolicy) -> list[SourceFacts]:
    """The configured sources' health, for the rules (a source removed from the policy: none)."""
    if not policy.sources:
        return []
    rows = {
        row.name: row
        for row in connection.execute(
            sa.select(_S).where(_S.c.name.in_([s.name for s in policy.sources]))
        )
    }
    facts = []
    for source in policy.sources:
        row = rows.get(source.name)
        if row is None:
            continue
        facts.append(
            SourceFacts(
                source.name,
                source.describe,
                int(row.consecutive_failures),
                policy.failures_before_finding,
                row.last_error,
                _when(row.last_error_at),
                _when(row.last_success_at),
            )
        )
    return facts


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _counts(report: IngestReport) -> tuple[int, int]:
    seen = changed = 0
    for result in report.results:
        for kind in (result.identities, result.credentials, result.grants):
            seen += kind.seen
            changed += kind.created + kind.updated + kind.gone
    return seen, changed


class DiscoveryRuns:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        policy: Callable[[], GovernancePolicy],
        leases: Leases,
        ingest: Callable[[], EstateIngest],
    ) -> None:
        self._db = database
        self._clock = clock
        self._policy = policy
        self._leases = leases
        self._ingest = ingest

    # -- reading -------------------------------------------------------------------------------
    def status(self) -> list[SourceStatus]:
        """Every configured source with its state, in the policy's order."""
        policy = self._policy().discovery
        with self._db.read() as connection:
            rows = {row.name: row for row in connection.execute(sa.select(_S))}
        out = []
        for source in policy.sources:
            row = rows.get(source.name)
            if row is None:
                out.append(SourceStatus(source, threshold=policy.failures_before_finding))
                continue
            out.append(
                SourceStatus(
                    source,
                    _when(row.last_attempt_at),
                    _when(row.last_success_at),
                    row.last_error,
                    _when(row.last_error_at),
                    int(row.records_seen),
                    int(row.changes),
                    int(row.runs),
                    next_run(row, source, policy),
                    int(row.consecutive_failures),
                    policy.failures_before_finding,
                )
            )
        return out

    def _due(self, sources: list[DiscoverySource]) -> list[DiscoverySource]:
        """The sources that are due now (never pulled, or their next run has come)."""
        policy = self._policy().discovery
        names = [s.name for s in sources]
        with self._db.read() as connection:
            rows = {
                row.name: row
                for row in connection.execute(
                    sa.select(
                        _S.c.name, _S.c.next_run_at, _S.c.last_attempt_at, _S.c.consecutive_failures
                    ).where(_S.c.name.in_(names))
                )
            }
        now = self._clock.now()
        due = []
        for source in sources:
            row = rows.get(source.name)
            when = next_run(row, source, policy) if row is not None else None
            if when is None or when <= now:
                due.append(source)
        return due

    # -- pulling -------------------------------------------------------------------------------
    def run_due(self, holder: str, *, actor: str, ttl: int) -> dict[str, Any]:
        """Pull every source that is due and not being pulled elsewhere; per source, what it did."""
        out: dict[str, Any] = {}
        sources = self._policy().discovery.sources
        if not sources:
            return out
        for source in self._due(sources):  # one read: most passes find nothing due
            outcome = self._locked(source, holder, actor=actor, ttl=ttl, force=False)
            if outcome is not None:
                out[source.name] = outcome.summary()
        return out

    def pull(self, name: str, holder: str, *, actor: str, ttl: int) -> PullOutcome | None:
        """Pull one source now, due or not (None: another worker is pulling it)."""
        source = self._policy().discovery.get(name)
        if source is None:
            known = ", ".join(s.name for s in self._policy().discovery.sources) or "none"
            raise NotFound(f"no discovery source {name!r}; configured: {known}", field="name")
        return self._locked(source, holder, actor=actor, ttl=ttl, force=True)

    def _locked(
        self, source: DiscoverySource, holder: str, *, actor: str, ttl: int, force: bool
    ) -> PullOutcome | None:
        lease = f"discovery:{source.name}"
        if not self._leases.acquire(lease, holder, ttl=ttl):
            return None
        try:
            if not force and not self._due([source]):  # another worker pulled it meanwhile
                return None
            started = self._clock.now()
            outcome = self._pull(source, actor)
            self._record(source, started, outcome)
            return outcome
        finally:
            self._leases.release(lease, holder)

    def _pull(self, source: DiscoverySource, actor: str) -> PullOutcome:
        try:
            if source.live is not None:
                return self._live(source, actor)
            return self._watch(source, actor)
        except CharterError as exc:
            return PullOutcome(error=str(exc))
        except Exception as exc:  # a pull must never stop the worker; record why it failed
            logger.exception("discovery source %s failed", source.name)
            return PullOutcome(error=f"{type(exc).__name__}: {exc}")

    def _live(self, source: DiscoverySource, actor: str) -> PullOutcome:
        assert source.live is not None
        assert source.target is not None
        token: str | None = None
        if source.token_env is not None:
            token = os.environ.get(source.token_env)
            if not token:
                return PullOutcome(error=f"the environment variable {source.token_env} is not set")
        try:
            report = self._ingest().ingest_live(
                source.live, source.target, actor=actor, token=token
            )
        except CharterError as exc:  # an API may echo what it was sent: never keep the token
            message = str(exc)
            return PullOutcome(error=message.replace(token, "[token]") if token else message)
        seen, changed = _counts(report)
        return PullOutcome(seen, changed)

    def _watch(self, source: DiscoverySource, actor: str) -> PullOutcome:
        assert source.watch is not None
        ingest = self._ingest()
        found = ingest.plan_tree(Path(source.watch).expanduser())
        with self._db.read() as connection:
            rows = connection.execute(
                sa.select(_F.c.sha256, _F.c.path, _F.c.size, _F.c.mtime_ns).where(
                    _F.c.source == source.name
                )
            ).all()
        known = {row.sha256 for row in rows}
        by_stat = {(row.path, row.size, row.mtime_ns): row.sha256 for row in rows}
        stats: dict[str, FileStat] = {}
        for files in found.by_connector.values():
            for export in files:
                stats[str(export.path)] = _stat(export.path, by_stat)
        changed = {
            cid: files
            for cid, files in found.by_connector.items()
            if any(stats[str(f.path)].sha256 not in known for f in files)
        }
        # files whose content is known but whose name, size or time is new: remember them
        # so the next pass does not hash them again
        moved = tuple(
            stat
            for stat in stats.values()
            if stat.sha256 in known and (stat.path, stat.size, stat.mtime_ns) not in by_stat
        )
        if not changed:
            return PullOutcome(files=moved)
        from charter.connectors.registry import Found  # the connectors load only for a pull

        report = ingest.ingest_plan(Found(found.root, changed, []), actor=actor)
        failed = {name for name, _ in report.failures}
        ingested = tuple(
            stats[str(f.path)] for cid, batch in changed.items() if cid not in failed for f in batch
        )
        seen, count = _counts(report)
        error = "; ".join(f"{name}: {message}" for name, message in report.failures) or None
        return PullOutcome(seen, count, error, ingested + moved, len(ingested))

    def _record(self, source: DiscoverySource, started: dt.datetime, outcome: PullOutcome) -> None:
        policy = self._policy().discovery
        now = self._clock.now()
        with self._db.write() as connection:
            row = connection.execute(sa.select(_S).where(_S.c.name == source.name)).first()
            failures = int(row.consecutive_failures) if row is not None else 0
            values: dict[str, Any] = {
                "kind": source.kind,
                "describe": source.describe[:600],
                "last_attempt_at": started,
                "runs": (int(row.runs) if row is not None else 0) + 1,
            }
            if outcome.error is None:
                values.update(
                    last_success_at=now,
                    records_seen=outcome.records,
                    changes=outcome.changes,
                    consecutive_failures=0,
                    next_run_at=now + dt.timedelta(seconds=source.every),
                )
                if failures:
                    bump_version(connection, HEALTH_VERSION)
            else:
                failures += 1
                delay = retry_delay(source.every, failures, policy.backoff_max)
                values.update(
                    last_error=outcome.error[:2000],
                    last_error_at=now,
                    consecutive_failures=failures,
                    next_run_at=now + dt.timedelta(seconds=delay),
                )
                bump_version(connection, HEALTH_VERSION)
            if row is None:
                connection.execute(sa.insert(_S).values(name=source.name, **values))
            else:
                connection.execute(sa.update(_S).where(_S.c.name == source.name).values(**values))
            for stat in outcome.files:
                self._remember(connection, source.name, stat, now)

    def _remember(
        self, connection: Connection, source: str, stat: FileStat, now: dt.datetime
    ) -> None:
        where = (_F.c.source == source, _F.c.sha256 == stat.sha256)
        values = {"path": stat.path, "size": stat.size, "mtime_ns": stat.mtime_ns}
        updated = connection.execute(sa.update(_F).where(*where).values(**values))
        if updated.rowcount == 0:
            connection.execute(
                sa.insert(_F).values(source=source, sha256=stat.sha256, ingested_at=now, **values)
            )
