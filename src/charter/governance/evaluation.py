"""Evaluate every rule over the store and bring the findings up to date.

Two phases, so a long evaluation never holds the write lock while it thinks:

1. **read** (one snapshot: SQLite's read transaction, PostgreSQL ``REPEATABLE
   READ``): fingerprint the store, aggregate new activity, load facts, run the
   rules, and compare each hit with the stored finding chunk by chunk. Only
   what must change (new, changed, reopened, no-longer-suppressed) is spooled,
   to a temporary file, so memory stays bounded however many findings there are;
   stored findings nobody hit any more are collected for resolution.
2. **write** (one transaction): move the activity rollup, insert and update the
   spooled findings, resolve the rest (guarded by status, so a person's
   acknowledgement in between is not overwritten), record the run and one
   ``findings.evaluate`` audit event with the counts.

One evaluation runs at a time (a lease); a second caller waits for it. The
store's *fingerprint* — its change counters, the newest activity id, the
policy and the rule set — tells ``charter findings`` whether it must evaluate
first: right after an ingest it always does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from charter import __version__
from charter.domain.audit import EventDraft
from charter.domain.enums import FindingStatus
from charter.errors import Conflict
from charter.governance import rollup
from charter.governance.engine import Evaluator, FindingDraft
from charter.governance.facts import RuleContext
from charter.governance.leases import Leases, new_holder
from charter.governance.loader import ActivityIndex, EstateReader
from charter.governance.policy import GovernancePolicy
from charter.governance.rollup import utc
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store.database import Database
from charter.store.governance_schema import finding_runs, findings
from charter.store.versions import read_versions

_F, _RUNS = findings, finding_runs
JOB = "findings.evaluate"
CHUNK = 2000
_LIVE = (FindingStatus.OPEN.value, FindingStatus.ACKNOWLEDGED.value,
         FindingStatus.SUPPRESSED.value)  # fmt: skip


@dataclass(slots=True)
class EvaluationResult:
    run_id: int | None
    evaluated: bool
    started_at: dt.datetime
    duration_ms: int
    fingerprint: str
    counts: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "evaluated": self.evaluated,
            "started_at": self.started_at.isoformat(),
            "duration_ms": self.duration_ms,
            "fingerprint": self.fingerprint,
            "counts": self.counts,
            "timings": self.timings,
            "errors": self.errors,
        }


def store_fingerprint(connection: Connection, policy: GovernancePolicy, rules: Iterable[str]
                      ) -> tuple[str, int]:  # fmt: skip
    """What the findings depend on: change counters, newest activity, policy, rule set."""
    versions = {
        k: v
        for k, v in sorted(read_versions(connection).items())
        if k != "audit_head" and not k.startswith("gov_")
    }
    newest = rollup.max_activity_id(connection)
    text = json.dumps(
        {"versions": versions, "activity": newest, "policy": policy.digest(),
         "rules": sorted(rules), "charter": __version__},
        sort_keys=True,
    )  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest(), newest


class _Spool:
    """Rows to write, pickled to a temporary file in chunks (our own data, read back once)."""

    def __init__(self) -> None:
        self._file: IO[bytes] = tempfile.TemporaryFile(prefix="charter-findings-")  # noqa: SIM115
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self.size = 0

    def add(self, op: str, row: dict[str, Any]) -> None:
        self._pending.append((op, row))
        self.size += 1
        if len(self._pending) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            pickle.dump(self._pending, self._file, protocol=pickle.HIGHEST_PROTOCOL)
            self._pending = []

    def chunks(self) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        self._flush()
        self._file.seek(0)
        while True:
            try:
                yield pickle.load(self._file)  # noqa: S301 - written by this process just now
            except EOFError:
                return

    def close(self) -> None:
        self._file.close()


def _row(draft: FindingDraft) -> dict[str, Any]:
    s = draft.subject
    return {
        "id": draft.id, "rule": draft.rule, "severity": draft.severity.value,
        "entity_type": s.type.value, "entity_id": s.id[:512], "entity_name": s.name[:512],
        "identifiers": dict(s.identifiers), "agent": s.agent, "owner": s.owner,
        "system": s.system[:256] if s.system else None, "message": draft.message,
        "evidence": dict(draft.evidence),
        "suggestion": dict(draft.suggestion) if draft.suggestion is not None else None,
        "digest": draft.digest,
    }  # fmt: skip


class EvaluationService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        policy: Callable[[], GovernancePolicy],
        leases: Leases,
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._policy = policy
        self._leases = leases

    # -- is an evaluation needed? ------------------------------------------------------------
    def last_run(self) -> Any:
        with self._db.read() as connection:
            return connection.execute(sa.select(_RUNS).order_by(_RUNS.c.id.desc()).limit(1)).first()

    def is_current(self) -> bool:
        """True when nothing the findings depend on changed and the last run is recent."""
        policy = self._policy()
        evaluator = Evaluator(policy)
        last = self.last_run()
        if last is None:
            return False
        age = (self._clock.now() - utc(last.started_at)).total_seconds()
        if age > policy.evaluation.max_age:
            return False
        with self._db.read() as connection:
            fingerprint, _ = store_fingerprint(connection, policy, evaluator.rule_ids)
        return bool(fingerprint == last.fingerprint)

    def ensure_current(self, *, actor: str) -> EvaluationResult | None:
        """Evaluate if the store changed since the last evaluation (None: it was current)."""
        if self.is_current():
            return None
        return self.evaluate(actor=actor)

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, *, actor: str, wait: float = 600.0) -> EvaluationResult:
        """Run every enabled rule now. Waits (up to ``wait`` s) for a running evaluation."""
        holder = new_holder()
        policy = self._policy()
        deadline = time.monotonic() + wait
        while not self._leases.acquire(JOB, holder, ttl=int(policy.worker.lease)):
            if time.monotonic() > deadline:
                raise Conflict("another evaluation is still running", field="findings")
            time.sleep(0.2)
        try:
            result = self._evaluate(policy, actor)
        finally:
            self._leases.release(JOB, holder)
        return result

    def _evaluate(self, policy: GovernancePolicy, actor: str) -> EvaluationResult:
        started = time.perf_counter()
        now = self._clock.now()
        evaluator = Evaluator(policy)
        timings: dict[str, float] = {}
        counts = {"agents": 0, "identities": 0, "credentials": 0, "hits": 0, "new": 0,
                  "changed": 0, "reopened": 0, "unsuppressed": 0, "resolved": 0,
                  "unchanged": 0}  # fmt: skip
        spool = _Spool()
        try:
            with self._db.read() as connection:
                if self._db.is_postgres:
                    connection = connection.execution_options(isolation_level="REPEATABLE READ")
                fingerprint, newest = store_fingerprint(connection, policy, evaluator.rule_ids)
                old = rollup.watermark(connection)
                target = rollup.settle_target(
                    connection, now=now, settle=policy.evaluation.activity_settle, current=newest
                )
                lap = time.perf_counter()
                settled = rollup.aggregate(connection, old, max(target, old))
                tail = rollup.aggregate(connection, max(target, old), newest)
                window = now - dt.timedelta(seconds=policy.thresholds.activity_window)
                groups = rollup.combine(
                    rollup.stored(connection, window), settled.items(), tail.items()
                )
                counts["activity_groups"] = len(groups)
                timings["activity_s"] = round(time.perf_counter() - lap, 3)
                lap = time.perf_counter()
                reader = EstateReader(
                    connection, now=now, policy=policy,
                    activity=ActivityIndex.build(groups, window),
                )  # fmt: skip
                people = reader.people()
                agents = reader.agents()
                ctx = RuleContext(now, policy.thresholds, people, reader.agent_briefs)
                seen: set[str] = set()
                drafts = evaluator.agents(agents, ctx)
                self._compare(connection, drafts, spool, seen, counts, now)
                counts["agents"] = len(agents)
                identities = reader.identities()
                counts["identities"] = len(identities)
                self._compare(connection, evaluator.identities(identities, ctx), spool, seen,
                              counts, now)  # fmt: skip
                del identities
                for chunk in reader.credentials():
                    counts["credentials"] += len(chunk)
                    self._compare(connection, evaluator.credentials(chunk, ctx), spool, seen,
                                  counts, now)  # fmt: skip
                timings["rules_s"] = round(time.perf_counter() - lap, 3)
                resolve = [
                    fid
                    for fid in connection.execute(
                        sa.select(_F.c.id).where(_F.c.status.in_(_LIVE))
                    ).scalars()
                    if fid not in seen
                ]
            lap = time.perf_counter()
            with self._db.write() as connection:
                rollup.merge(connection, settled, old=old, new=max(target, old))
                self._apply(connection, spool, resolve, now, counts)
                run_id = self._record(connection, now, fingerprint, newest, started, counts,
                                      actor, evaluator.errors)  # fmt: skip
            timings["write_s"] = round(time.perf_counter() - lap, 3)
        finally:
            spool.close()
        return EvaluationResult(
            run_id, True, now, int((time.perf_counter() - started) * 1000), fingerprint,
            counts, timings, list(evaluator.errors),
        )  # fmt: skip

    def _compare(
        self,
        connection: Connection,
        drafts: Iterator[FindingDraft],
        spool: _Spool,
        seen: set[str],
        counts: dict[str, int],
        now: dt.datetime,
    ) -> None:
        """Decide, chunk by chunk, which hits change the store (the rest only count as seen)."""
        batch: list[FindingDraft] = []
        for draft in drafts:
            batch.append(draft)
            if len(batch) >= CHUNK:
                self._compare_batch(connection, batch, spool, seen, counts, now)
                batch = []
        if batch:
            self._compare_batch(connection, batch, spool, seen, counts, now)

    def _compare_batch(self, connection: Connection, batch: list[FindingDraft], spool: _Spool,
                       seen: set[str], counts: dict[str, int], now: dt.datetime) -> None:  # fmt: skip
        stored = {
            row.id: row
            for row in connection.execute(
                sa.select(_F.c.id, _F.c.status, _F.c.digest, _F.c.status_until).where(
                    _F.c.id.in_([d.id for d in batch])
                )
            )
        }
        for draft in batch:
            if draft.id in seen:
                continue  # the same rule on the same entity twice (duplicate facts): once
            seen.add(draft.id)
            counts["hits"] += 1
            old = stored.get(draft.id)
            if old is None:
                spool.add("new", _row(draft))
            elif old.status == FindingStatus.RESOLVED.value:
                spool.add("reopened", _row(draft))
            elif (
                old.status == FindingStatus.SUPPRESSED.value
                and old.status_until is not None
                and utc(old.status_until) <= now
            ):
                spool.add("unsuppressed", _row(draft))
            elif old.digest != draft.digest:
                spool.add("changed", _row(draft))
            else:
                counts["unchanged"] += 1

    def _apply(self, connection: Connection, spool: _Spool, resolve: list[str],
               now: dt.datetime, counts: dict[str, int]) -> None:  # fmt: skip
        insert = postgresql.insert(_F) if self._db.is_postgres else sqlite.insert(_F)
        insert = insert.on_conflict_do_nothing(index_elements=[_F.c.id])
        content = [c.name for c in _F.c if c.name not in (
            "id", "status", "first_seen", "last_changed", "resolved_at", "status_reason",
            "status_by", "status_until")]  # fmt: skip
        live = sa.or_(*(_F.c.status == status for status in _LIVE))  # no IN: executemany
        guards = {
            "changed": live,
            "reopened": _F.c.status == FindingStatus.RESOLVED.value,
            "unsuppressed": _F.c.status == FindingStatus.SUPPRESSED.value,
        }
        updates = {
            op: sa.update(_F)
            .where(_F.c.id == sa.bindparam("b_id"), guard)
            .values({c: sa.bindparam(f"b_{c}") for c in content} | {"last_changed": now}
                    | ({} if op == "changed" else {
                        "status": FindingStatus.OPEN.value, "resolved_at": None,
                        "status_until": None, "status_reason": None, "status_by": None}))
            for op, guard in guards.items()
        }  # fmt: skip
        for chunk in spool.chunks():
            new = [
                {**row, "status": FindingStatus.OPEN.value, "first_seen": now,
                 "last_changed": now}
                for op, row in chunk if op == "new"
            ]  # fmt: skip
            if new:
                connection.execute(insert, new)
                counts["new"] += len(new)
            for op, statement in updates.items():
                rows = [{f"b_{k}": v for k, v in row.items()} for o, row in chunk if o == op]
                if rows:
                    result = connection.execute(statement, rows)
                    counts[op] += max(result.rowcount, 0)
        resolve_statement = (
            sa.update(_F)
            .where(_F.c.id.in_(sa.bindparam("ids", expanding=True)), _F.c.status.in_(_LIVE))
            .values(status=FindingStatus.RESOLVED.value, resolved_at=now, last_changed=now)
        )
        for start in range(0, len(resolve), 500):
            result = connection.execute(resolve_statement, {"ids": resolve[start : start + 500]})
            counts["resolved"] += max(result.rowcount, 0)

    def _record(self, connection: Connection, now: dt.datetime, fingerprint: str, newest: int,
                started: float, counts: dict[str, int], actor: str, errors: list[str]) -> int:  # fmt: skip
        open_total = connection.execute(
            sa.select(sa.func.count()).select_from(_F).where(_F.c.status.in_(_LIVE))
        ).scalar_one()
        counts["live"] = int(open_total)
        duration = int((time.perf_counter() - started) * 1000)
        run_id = connection.execute(
            sa.insert(_RUNS)
            .values(started_at=now, finished_at=self._clock.now(), fingerprint=fingerprint,
                    max_activity_id=newest, duration_ms=duration, counts=counts, actor=actor)
            .returning(_RUNS.c.id)
        ).scalar_one()  # fmt: skip
        if counts["new"] or counts["resolved"] or counts["reopened"] or counts["unsuppressed"]:
            self._audit.record(
                connection,
                EventDraft(actor, "findings.evaluate", "findings", f"run:{run_id}", None,
                           {**counts, "errors": errors[:5]}),
            )  # fmt: skip
        return int(run_id)
