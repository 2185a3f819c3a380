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
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.enums import FindingStatus
from charter.domain.governance.engine import Evaluator, FindingDraft
from charter.domain.governance.facts import RateWindow, RuleContext
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.governance.prefilter import credential_prefilter
from charter.domain.governance.rule_registry import EntityType
from charter.domain.moments import utc
from charter.errors import Conflict
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.governance import rollup
from charter.services.governance.activity_facts import ActivityIndex, rates
from charter.services.governance.discovery_runs import source_facts
from charter.services.governance.finding_rows import (
    Spool,
    copy_new,
    finding_row,
    row_id,
    status_until,
    update_id,
    write_statements,
)
from charter.services.governance.leases import Leases, new_holder
from charter.services.governance.loader import EstateReader
from charter.services.metrics import EVALUATION_SECONDS
from charter.store.database import Database
from charter.store.governance_schema import finding_runs, findings
from charter.store.versions import read_versions
from charter.version import __version__

_F, _RUNS = findings, finding_runs
JOB = "findings.evaluate"
_LIVE = (FindingStatus.OPEN.value, FindingStatus.ACKNOWLEDGED.value, FindingStatus.SUPPRESSED.value)


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


#: SQLite page cache for an evaluation (KiB, as PRAGMA cache_size takes negative numbers):
#: the default 2 MiB makes bulk finding writes thrash on a large store.
EVALUATION_CACHE_KIB = 256 * 1024


@contextmanager
def _large_cache(connection: Connection) -> Iterator[None]:
    """A larger SQLite page cache for this connection while an evaluation uses it."""
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{EVALUATION_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


def store_fingerprint(
    connection: Connection, policy: GovernancePolicy, rules: Iterable[str]
) -> tuple[str, int]:
    """What the findings depend on: change counters, newest activity, policy, rule set."""
    versions = {
        k: v
        for k, v in sorted(read_versions(connection).items())
        if k != "audit_head" and not k.startswith("gov_")
    }
    newest = rollup.max_activity_id(connection)
    text = json.dumps(
        {
            "versions": versions,
            "activity": newest,
            "policy": policy.digest(),
            "rules": sorted(rules),
            "charter": __version__,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest(), newest


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
            with EVALUATION_SECONDS.time():
                result = self._evaluate(policy, actor)
        finally:
            self._leases.release(JOB, holder)
        return result

    def _evaluate(self, policy: GovernancePolicy, actor: str) -> EvaluationResult:
        started = time.perf_counter()
        now = self._clock.now()
        evaluator = Evaluator(policy)
        timings: dict[str, float] = {}
        counts = {
            "agents": 0,
            "identities": 0,
            "credentials": 0,
            "candidate_credentials": 0,
            "hits": 0,
            "new": 0,
            "changed": 0,
            "reopened": 0,
            "unsuppressed": 0,
            "resolved": 0,
            "unchanged": 0,
        }
        spool = Spool()
        try:
            with self._db.read() as connection, _large_cache(connection):
                if self._db.is_postgres:
                    connection = connection.execution_options(isolation_level="REPEATABLE READ")
                fingerprint, newest = store_fingerprint(connection, policy, evaluator.rule_ids)
                old = rollup.watermark(connection)
                target = rollup.settle_target(
                    connection, now=now, settle=policy.evaluation.activity_settle, current=newest
                )
                window = now - dt.timedelta(seconds=policy.thresholds.activity_window)
                lap = time.perf_counter()
                # The activity aggregation runs on another connection from the start: the
                # database works while Python loads the estate and runs every rule that needs
                # no activity (credentials), and prepares what the others need.
                with ThreadPoolExecutor(1, thread_name_prefix="charter-activity") as pool:
                    activity = pool.submit(self._activity, policy, now, old, target, newest, window)
                    reader = EstateReader(
                        connection, now=now, policy=policy, activity=ActivityIndex()
                    )
                    people = reader.people()
                    loaded_agents = reader.load_agents()
                    loaded_identities = reader.load_identities()
                    ctx = RuleContext(now, policy.thresholds, people, reader.agent_briefs)
                    seen: set[str] = set()
                    stored = self._stored(connection)
                    counts["credentials"] = reader.live_credentials()
                    candidates = credential_prefilter(
                        evaluator.rule_ids_for(EntityType.CREDENTIAL),
                        now=now,
                        thresholds=policy.thresholds,
                        agents=reader.agent_briefs,
                        postgres=self._db.is_postgres,
                    )
                    for chunk in reader.credentials(candidates):
                        counts["candidate_credentials"] += len(chunk)
                        self._compare(
                            evaluator.credentials(chunk, ctx), stored, spool, seen, counts, now
                        )
                    timings["credentials_s"] = round(time.perf_counter() - lap, 3)
                    extras = reader.agent_extras()
                    prepared = reader.identities_without_usage(loaded_identities)
                    del loaded_identities
                    timings["prepared_s"] = round(time.perf_counter() - lap, 3)
                    settled, groups, agent_rates, timings["activity_s"] = activity.result()
                timings["activity_ready_s"] = round(time.perf_counter() - lap, 3)
                counts["activity_groups"] = len(groups)
                reader.activity = ActivityIndex.build(groups, window)
                del groups
                agents = reader.agent_facts(loaded_agents, agent_rates, extras)
                counts["agents"] = len(agents)
                self._compare(evaluator.agents(agents, ctx), stored, spool, seen, counts, now)
                timings["agents_done_s"] = round(time.perf_counter() - lap, 3)
                identities = reader.with_usage(prepared)
                del prepared
                counts["identities"] = len(identities)
                self._compare(
                    evaluator.identities(identities, ctx), stored, spool, seen, counts, now
                )
                del identities
                sources = source_facts(connection, policy.discovery)
                self._compare(evaluator.sources(sources, ctx), stored, spool, seen, counts, now)
                timings["rules_s"] = round(time.perf_counter() - lap, 3)
                resolve = [
                    fid
                    for fid, (status, _, _) in stored.items()
                    if status in _LIVE and fid not in seen
                ]
                del stored, seen
            lap = time.perf_counter()
            with self._db.write() as connection, _large_cache(connection):
                rollup.merge(connection, settled, old=old, new=max(target, old))
                self._apply(connection, spool, resolve, now, counts)
                run_id = self._record(
                    connection, now, fingerprint, newest, started, counts, actor, evaluator.errors
                )
            timings["write_s"] = round(time.perf_counter() - lap, 3)
        finally:
            spool.close()
        return EvaluationResult(
            run_id,
            True,
            now,
            int((time.perf_counter() - started) * 1000),
            fingerprint,
            counts,
            timings,
            list(evaluator.errors),
        )

    def _activity(
        self,
        policy: GovernancePolicy,
        now: dt.datetime,
        old: int,
        target: int,
        newest: int,
        window: dt.datetime,
    ) -> tuple[
        dict[rollup.Key, rollup.Group], dict[rollup.Key, rollup.Group], dict[str, RateWindow], float
    ]:
        """On its own read connection: the activity to settle into the rollup, every group in
        the window (rollup + new rows), and each agent's recent rate. Activities are append-only
        and the id range is fixed, so a second snapshot sees the same rows for it."""
        started = time.perf_counter()
        with self._db.read() as connection, _large_cache(connection):
            settled = rollup.aggregate(connection, old, max(target, old))
            tail = rollup.aggregate(connection, max(target, old), newest)
            groups = rollup.combine(
                rollup.stored(connection, window), settled.items(), tail.items()
            )
            agent_rates = rates(connection, now=now, policy=policy)
        return settled, groups, agent_rates, round(time.perf_counter() - started, 3)

    def _stored(self, connection: Connection) -> dict[str, tuple[str, str, Any]]:
        """Every stored finding's (status, digest, suppressed-until), in one streamed read."""
        result = connection.execution_options(stream_results=True).exec_driver_sql(
            "SELECT id, status, digest, status_until FROM findings"
        )
        stored: dict[str, tuple[str, str, Any]] = {}
        for chunk in result.partitions(20000):
            for fid, status, digest, until in chunk:
                stored[fid] = (status, digest, until)
        return stored

    def _compare(
        self,
        drafts: Iterator[FindingDraft],
        stored: dict[str, tuple[str, str, Any]],
        spool: Spool,
        seen: set[str],
        counts: dict[str, int],
        now: dt.datetime,
    ) -> None:
        """Decide which hits change the store (the rest only count as seen)."""
        suppressed, resolved = FindingStatus.SUPPRESSED.value, FindingStatus.RESOLVED.value
        for draft in drafts:
            if draft.id in seen:
                continue  # the same rule on the same entity twice (duplicate facts): once
            seen.add(draft.id)
            counts["hits"] += 1
            old = stored.get(draft.id)
            if old is None:
                spool.add("new", finding_row(draft))
                continue
            status, digest, until = old
            if status == resolved:
                spool.add("reopened", finding_row(draft))
            elif status == suppressed and until is not None and status_until(until) <= now:
                spool.add("unsuppressed", finding_row(draft))
            elif digest != draft.digest:
                spool.add("changed", finding_row(draft))
            else:
                counts["unchanged"] += 1

    def _apply(
        self,
        connection: Connection,
        spool: Spool,
        resolve: list[str],
        now: dt.datetime,
        counts: dict[str, int],
    ) -> None:
        postgres = self._db.is_postgres
        statements = write_statements(postgres)
        stamp: Any = now if postgres else now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if postgres:  # new findings by COPY (one pass), the rest by executemany (another)
            counts["new"] += copy_new(connection, spool, now)
        for chunk in spool.chunks():
            by_op: dict[str, list[tuple[Any, ...]]] = {}
            for op, row in chunk:
                if op == "new":
                    if not postgres:
                        by_op.setdefault(op, []).append((*row, "open", stamp, stamp))
                else:  # SET content, last_changed … WHERE id
                    by_op.setdefault(op, []).append((*row[1:], stamp, row[0]))
            for op, rows in by_op.items():
                rows.sort(key=row_id if op == "new" else update_id)  # B-tree locality
                result = connection.exec_driver_sql(statements[op], rows)
                counts[op] += result.rowcount if result.rowcount >= 0 else len(rows)
        resolve_statement = (
            sa.update(_F)
            .where(_F.c.id.in_(sa.bindparam("ids", expanding=True)), _F.c.status.in_(_LIVE))
            .values(status=FindingStatus.RESOLVED.value, resolved_at=now, last_changed=now)
        )
        for start in range(0, len(resolve), 500):
            result = connection.execute(resolve_statement, {"ids": resolve[start : start + 500]})
            counts["resolved"] += max(result.rowcount, 0)

    def _record(
        self,
        connection: Connection,
        now: dt.datetime,
        fingerprint: str,
        newest: int,
        started: float,
        counts: dict[str, int],
        actor: str,
        errors: list[str],
    ) -> int:
        open_total = connection.execute(
            sa.select(sa.func.count()).select_from(_F).where(_F.c.status.in_(_LIVE))
        ).scalar_one()
        counts["live"] = int(open_total)
        duration = int((time.perf_counter() - started) * 1000)
        run_id = connection.execute(
            sa.insert(_RUNS)
            .values(
                started_at=now,
                finished_at=self._clock.now(),
                fingerprint=fingerprint,
                max_activity_id=newest,
                duration_ms=duration,
                counts=counts,
                actor=actor,
            )
            .returning(_RUNS.c.id)
        ).scalar_one()
        if counts["new"] or counts["resolved"] or counts["reopened"] or counts["unsuppressed"]:
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "findings.evaluate",
                    "findings",
                    f"run:{run_id}",
                    None,
                    {**counts, "errors": errors[:5]},
                ),
            )
        return int(run_id)
