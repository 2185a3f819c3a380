"""The decision point (PDP): decide, record, explain, apply org policy and roles, export.

``decide`` evaluates against the current compiled snapshot (see
:mod:`charter.domain.evaluation`), records the decision as Activity through a
background writer, and returns. Snapshots follow the store within a second
(:mod:`charter.services.decision_snapshot`). Org policy and roles are applied
from files as new versions, each with an audit event and a change counter bump.

``charter.decide(...)`` (this module's :func:`decide`) is the in-process entry
point for SDKs and gateways.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from charter.domain.access_map import AccessMap, RuleView, access_map
from charter.domain.audit import EventDraft
from charter.domain.cedar_export import CedarExport, export_cedar
from charter.domain.conditions import epoch_micros
from charter.domain.decision import Decision, ReasonCode, deny
from charter.domain.evaluation import evaluate
from charter.domain.org_policy import OrgPolicy
from charter.domain.person_decisions import evaluate_person, person_access
from charter.domain.roles import RolesFile
from charter.domain.subjects import ResolvedSubject, SubjectKind, resolve_subject, subject_kind
from charter.errors import NotFound
from charter.services.activity import ActivityRecorder
from charter.services.audit import AuditService
from charter.services.clock import Clock, SystemClock
from charter.services.decision_snapshot import ChangeWatcher, SnapshotLoader, latest_document
from charter.store.database import Database
from charter.store.decisions_schema import policy_documents
from charter.store.versions import bump_version

if TYPE_CHECKING:
    import datetime as dt

    from charter.domain.compiled import Snapshot

_D = policy_documents

#: Decides ``(agent, action, resource, context, on_behalf_of)`` on the policy and at the
#: instant a :meth:`DecisionService.decider` fixed, and records it as Activity.
Decide = Callable[[str, str, str, Mapping[str, Any] | None, str | None], Decision]

#: Decides ``(subject type, subject id, action, resource, context, on_behalf_of)``: any
#: AuthZEN subject (:meth:`DecisionService.subject_decider`).
DecideSubject = Callable[[str, str, str, str, Mapping[str, Any] | None, str | None], Decision]


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of ``charter policy apply`` / ``charter roles apply``."""

    kind: str
    changed: bool
    version: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "changed": self.changed,
            "version": self.version,
            "added": self.added,
            "removed": self.removed,
            "modified": self.modified,
            "warnings": self.warnings,
        }


def _digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _by_id(items: list[tuple[str, Any]]) -> dict[str, str]:
    return {key: json.dumps(value, sort_keys=True, default=str) for key, value in items}


FREEZE_FROM_AGENTS = 1000  # smaller estates gain little, and a host process keeps its GC as is


def _freeze_heap(snapshot: Snapshot) -> None:
    """Move what is alive now — above all the compiled snapshot — out of the cyclic GC's sight.

    Only for estates of :data:`FREEZE_FROM_AGENTS` agents or more.
    A compiled estate is millions of long-lived objects; every full collection
    would walk them all, which made decisions 2-3× slower and gave them 100 ms
    pauses. The snapshot holds no reference cycles, so when a newer one replaces
    it, reference counting still frees it. ``CHARTER_GC_FREEZE=0`` turns this off
    (e.g. in a host process that relies on collecting cycles created before).
    """
    if (
        len(snapshot.agents) >= FREEZE_FROM_AGENTS
        and os.environ.get("CHARTER_GC_FREEZE", "1") != "0"
    ):
        gc.freeze()


def _sample_rate() -> float:
    try:
        return min(1.0, max(0.0, float(os.environ.get("CHARTER_ACTIVITY_ALLOW_SAMPLE", "1"))))
    except ValueError:
        return 1.0


class DecisionService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        *,
        watch: bool = True,
        recorder: ActivityRecorder | None = None,
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._watch = watch
        self._loader = SnapshotLoader(database)
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()
        self._watcher: ChangeWatcher | None = None
        self.recorder = recorder or ActivityRecorder(database, allow_sample=_sample_rate())
        self._system_clock = isinstance(clock, SystemClock)
        #: ``time.monotonic()`` when the snapshot was last loaded or found current
        self.checked_at: float | None = None

    # -- the compiled policy -----------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The current compiled policy (loaded on first use; then kept current by a watcher)."""
        current = self._snapshot
        if current is not None:
            return current
        with self._lock:
            if self._snapshot is None:
                self._snapshot = self._loader.load(None)
                self.checked_at = time.monotonic()
                _freeze_heap(self._snapshot)
                if self._watch and self._watcher is None:
                    self._watcher = ChangeWatcher(self._db, self._reload)
                    self._watcher.start()
            return self._snapshot

    def _reload(self) -> None:
        with self._lock:
            previous = self._snapshot
            self._snapshot = self._loader.load(previous)
            self.checked_at = time.monotonic()
            if self._snapshot is not previous:
                _freeze_heap(self._snapshot)

    def refresh(self) -> Snapshot:
        """Bring the snapshot up to date now (the watcher does this on its own)."""
        self.snapshot()
        self._reload()
        assert self._snapshot is not None
        return self._snapshot

    @property
    def loaded(self) -> bool:
        """Whether the compiled policy is in memory (the first decision will not wait for it)."""
        return self._snapshot is not None

    def now_us(self) -> int:
        if self._system_clock:
            return time.time_ns() // 1000
        return epoch_micros(self._clock.now())

    # -- deciding ----------------------------------------------------------------------
    def decide(
        self,
        agent: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any] | None = None,
        on_behalf_of: str | None = None,
        at: dt.datetime | None = None,
        source: str = "sdk",
        record: bool = True,
    ) -> Decision:
        """Decide one request and record it as Activity.

        Not recorded when ``record`` is false (a person's question: ``charter check``, the
        console's tester) or when ``at`` is given: a decision as of another moment answers
        a question about that moment, it is not a request the agent made now, so it must
        not count as the agent's activity (findings, last activity, reviews).
        """
        snapshot = self._snapshot or self.snapshot()
        if at is not None:
            now_us = epoch_micros(at)
        elif self._system_clock:
            now_us = time.time_ns() // 1000
        else:
            now_us = epoch_micros(self._clock.now())
        started = time.perf_counter_ns()
        decision = evaluate(snapshot, agent, action, resource, context, on_behalf_of, now_us)
        if record and at is None:
            self.recorder.record(
                now_us,
                agent if type(agent) is str else str(agent),
                action if type(action) is str else str(action),
                resource if type(resource) is str else str(resource),
                on_behalf_of if isinstance(on_behalf_of, str) else None,
                decision,
                source,
                (time.perf_counter_ns() - started) / 1000,
            )
        return decision

    def decider(self, source: str) -> Decide:
        """Decide requests that are answered together (an AuthZEN call) as one.

        Every request the returned function decides sees the compiled policy in force
        and the instant taken now, so a batch of evaluations cannot straddle a policy
        change or a time window, and the lookups are paid once, not per item. Each
        decision is recorded as Activity under ``source``, as :meth:`decide` records
        it, but without a latency: a batch item has none of its own.
        """
        now_us = self.now_us()
        snapshot = self._snapshot or self.snapshot()
        record = self.recorder.record

        def decide(
            agent: str,
            action: str,
            resource: str,
            context: Mapping[str, Any] | None,
            on_behalf_of: str | None,
        ) -> Decision:
            decision = evaluate(snapshot, agent, action, resource, context, on_behalf_of, now_us)
            record(now_us, agent, action, resource, on_behalf_of, decision, source)
            return decision

        return decide

    def resolve_subject(
        self, subject_type: str, subject_id: str, properties: Mapping[str, Any] | None = None
    ) -> ResolvedSubject:
        """Who ``{type, id}`` names under the policy and directory in force (agent, person,
        or nobody with the reason)."""
        snapshot = self._snapshot or self.snapshot()
        return resolve_subject(snapshot, subject_type, subject_id, properties)

    def decide_subject(
        self,
        subject_type: str,
        subject_id: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any] | None = None,
        on_behalf_of: str | None = None,
        at: dt.datetime | None = None,
        source: str = "sdk",
        record: bool = True,
    ) -> Decision:
        """Decide for any subject type (an agent, or a person by their roles) and record it.

        As with :meth:`decide`, a decision as of another time (``at``) is a question, never
        recorded.
        """
        now_us = epoch_micros(at) if at is not None else self.now_us()
        snapshot = self._snapshot or self.snapshot()
        decide = self._subject_decide(snapshot, now_us, source, record and at is None)
        return decide(subject_type, subject_id, action, resource, context, on_behalf_of)

    def subject_decider(self, source: str) -> DecideSubject:
        """:meth:`decider` for AuthZEN subjects of every type, on one policy and instant."""
        return self._subject_decide(self._snapshot or self.snapshot(), self.now_us(), source, True)

    def _subject_decide(
        self, snapshot: Snapshot, now_us: int, source: str, record: bool
    ) -> DecideSubject:
        recorder = self.recorder.record

        def decide(
            subject_type: str,
            subject_id: str,
            action: str,
            resource: str,
            context: Mapping[str, Any] | None,
            on_behalf_of: str | None,
        ) -> Decision:
            kind = subject_kind(snapshot, subject_type)
            if kind is SubjectKind.AGENT:
                decision = evaluate(
                    snapshot, subject_id, action, resource, context, on_behalf_of, now_us
                )
                principal = subject_id
            else:
                subject = resolve_subject(snapshot, subject_type, subject_id)
                principal = subject.principal
                if on_behalf_of is not None and subject.reason is None:
                    decision = deny(
                        ReasonCode.INVALID_REQUEST,
                        "on_behalf_of is for agents; a person acts for themselves",
                    )
                else:
                    decision = evaluate_person(snapshot, subject, action, resource, context, now_us)
            if record:
                recorder(now_us, principal, action, resource, on_behalf_of, decision, source)
            return decision

        return decide

    # -- org policy and roles ------------------------------------------------------------
    def _apply(
        self,
        kind: str,
        document: dict[str, Any],
        items: list[tuple[str, Any]],
        *,
        actor: str,
        source: str,
        warnings: list[str],
    ) -> Applied:
        now = self._clock.now()
        digest = _digest(document)
        with self._db.write() as connection:
            current = latest_document(connection, kind)
            if current is not None and current.digest == digest:
                return Applied(kind, False, current.version, warnings=warnings)
            before: dict[str, str] = {}
            if current is not None:
                before = _by_id(self._items(kind, dict(current.document)))
            after = _by_id(items)
            version = (current.version if current is not None else 0) + 1
            connection.execute(
                sa.insert(_D).values(
                    kind=kind,
                    version=version,
                    document=document,
                    digest=digest,
                    source=source[:1024],
                    applied_at=now,
                    applied_by=actor,
                )
            )
            applied = Applied(
                kind,
                True,
                version,
                added=sorted(set(after) - set(before)),
                removed=sorted(set(before) - set(after)),
                modified=sorted(k for k in set(after) & set(before) if after[k] != before[k]),
                warnings=warnings,
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    f"{kind}.apply",
                    kind,
                    "org-policy" if kind == "policy" else "roles",
                    {"version": current.version, "digest": current.digest} if current else None,
                    {
                        "version": version,
                        "digest": digest,
                        "source": source,
                        "added": applied.added,
                        "removed": applied.removed,
                        "modified": applied.modified,
                    },
                ),
            )
            bump_version(connection, kind)
        return applied

    @staticmethod
    def _items(kind: str, document: dict[str, Any]) -> list[tuple[str, Any]]:
        if kind == "policy":
            return [(rule.get("id", ""), rule) for rule in document.get("deny", [])]
        return [(role.get("name", ""), role) for role in document.get("roles", [])]

    def apply_policy(self, policy: OrgPolicy, *, actor: str, source: str) -> Applied:
        """Make ``policy`` the organisation policy in force (a new version, audited)."""
        document = policy.document()
        return self._apply(
            "policy",
            document,
            self._items("policy", document),
            actor=actor,
            source=source,
            warnings=[],
        )

    def apply_roles(self, roles: RolesFile, *, actor: str, source: str) -> Applied:
        """Make ``roles`` the role mapping in force; warns about groups nobody is in."""
        document = roles.document()
        known = {group for person in self.snapshot().people.values() for group in person.groups}
        warnings = [
            f"role {role.name!r}: group {group!r} has no members in the directory"
            for role in roles.roles
            for group in role.groups
            if group not in known
        ]
        return self._apply(
            "roles",
            document,
            self._items("roles", document),
            actor=actor,
            source=source,
            warnings=warnings,
        )

    def current(self, kind: str) -> tuple[dict[str, Any], int]:
        """The document in force for ``kind`` ("policy" or "roles") and its version (0: none)."""
        with self._db.read() as connection:
            row = latest_document(connection, kind)
        if row is None:
            return (
                {"version": 1, "deny": []} if kind == "policy" else {"version": 1, "roles": []}
            ), 0
        return dict(row.document), int(row.version)

    # -- views ---------------------------------------------------------------------------
    def allow_rule(self, agent: str, rule_id: str | None) -> RuleView | None:
        """The allow rule ``rule_id`` of ``agent`` in force now, to say what allowed a request
        (a just-in-time grant's reason and window); None when it has no such rule."""
        compiled = self.snapshot().agents.get(agent)
        if compiled is None or not rule_id:
            return None
        found = next((r for r in compiled.allows.rules if r.id == rule_id), None)
        return RuleView.of(found) if found is not None else None

    def explain_agent(self, name: str) -> AccessMap:
        snapshot = self.refresh()
        compiled = snapshot.agents.get(name)
        if compiled is None:
            raise NotFound(f"no agent named {name!r}", field="agent")
        return access_map(snapshot, compiled, self.now_us())

    def explain_person(self, key: str) -> dict[str, Any]:
        """What the person an e-mail or external id names may do, by their roles."""
        snapshot = self.refresh()
        person = snapshot.find_person(key)
        if person is None:
            raise NotFound(
                f"no person in the directory has the e-mail or external id {key!r}", field="person"
            )
        return person_access(snapshot, person)

    def export_cedar(self) -> CedarExport:
        return export_cedar(self.refresh(), generated_at=self._clock.now())

    def close(self) -> None:
        """Stop watching and write every recorded decision (clean shutdown)."""
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        self.recorder.close()
