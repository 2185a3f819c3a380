"""Rotation: schedule it on the charter's cadence, give the exact steps, verify the old is gone.

* **Scheduling** (the worker): every live secret attributed to an agent whose age
  reaches the agent's ``credentials.rotate_every`` (minus the policy's
  ``rotation.schedule_ahead``) gets a rotation with a due date, and its owner a
  notice. Charter-issued agent keys are scheduled the same way.
* **Steps**: per provider, the exact commands, declared by the connector that knows the
  provider (:mod:`.credential_steps`).
* **Doing it**: Charter's own keys rotate through the token service with an
  overlap window (``charter agent enroll NAME --generate``); for an external
  credential a connector that can write would act here (:data:`.credential_steps.ROTATORS`, empty
  today: every connector is read-only), otherwise starting the rotation files a
  task with the steps for its owner.
* **Verification**: a rotation is verified only when the store no longer holds
  the old secret (its row is gone or no live credential has its fingerprint)
  *and* a newer credential exists for the same identity — seen by the next
  ingest, so "done" means the system says so, not that someone said so.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.durations import parse_duration
from charter.domain.estate import SCANNER_SOURCE
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.governance.rotation_steps import charter_key_steps
from charter.domain.governance.rules.secrets import SECRET_KINDS
from charter.domain.moments import utc
from charter.errors import Conflict, NotFound
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.governance import notices
from charter.services.governance.credential_steps import ROTATORS, rotate_steps, scheduled
from charter.services.governance.tasks import file_task
from charter.store import schema
from charter.store.database import Database
from charter.store.governance_schema import rotations
from charter.store.tokens_schema import agent_keys as _K

_R, _C, _I, _A, _V = (
    rotations,
    schema.credentials,
    schema.identities,
    schema.agents,
    schema.charter_versions,
)
SCHEDULE_LIMIT = 5000


def charter_key_id(agent: str, kid: str) -> str:
    """How a rotation names an agent's enrolled key (it is not an estate credential)."""
    return f"charter:{agent}/key/{kid}"


class RotationStatus(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    VERIFIED = "verified"
    CANCELLED = "cancelled"


OPEN = (RotationStatus.SCHEDULED.value, RotationStatus.IN_PROGRESS.value)


@dataclass(frozen=True, slots=True)
class Rotation:
    id: str
    credential: str
    fingerprint: str
    identity: str | None
    agent: str | None
    owner: str | None
    provider: str
    status: RotationStatus
    due_at: dt.datetime
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    steps: list[str]
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        def iso(moment: dt.datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "id": self.id,
            "credential": self.credential,
            "identity": self.identity,
            "agent": self.agent,
            "owner": self.owner,
            "provider": self.provider,
            "status": self.status.value,
            "due_at": iso(self.due_at),
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "steps": self.steps,
            "note": self.note,
        }


@dataclass(slots=True)
class Verification:
    rotation: Rotation
    verified: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rotation": self.rotation.to_dict(),
            "verified": self.verified,
            "reasons": self.reasons,
        }


def _rotation(row: Any) -> Rotation:
    return Rotation(
        row.id,
        row.credential,
        row.fingerprint,
        row.identity,
        row.agent,
        row.owner,
        row.provider,
        RotationStatus(row.status),
        utc(row.due_at),
        utc(row.created_at),
        utc(row.started_at) if row.started_at else None,
        utc(row.finished_at) if row.finished_at else None,
        list(row.steps or []),
        row.note,
    )


class RotationService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        policy: Callable[[], GovernancePolicy],
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self._policy = policy

    # -- scheduling -----------------------------------------------------------------------------
    def _cadences(self, connection: Connection) -> dict[str, tuple[str, int]]:
        """agent → (owner, rotate_every seconds) from each live agent's current charter."""
        policy = self._policy()
        out: dict[str, tuple[str, int]] = {}
        rows = connection.execute(
            sa.select(_A.c.name, _A.c.owner, _V.c.document)
            .join(_V, sa.and_(_V.c.agent == _A.c.name, _V.c.version == _A.c.charter_version))
            .where(_A.c.state.in_(("active", "suspended", "proposed")))  # not shadow agents
        )
        for name, owner, document in rows:
            every = (document or {}).get("credentials", {}).get("rotate_every")
            try:
                seconds = parse_duration(every) if every else policy.thresholds.rotate_every
            except ValueError:
                seconds = policy.thresholds.rotate_every
            out[name] = (owner, seconds)
        return out

    def schedule(self, *, actor: str) -> builtins.list[str]:
        """Create rotations for agents' secrets that are due (idempotent: one open per secret)."""
        policy = self._policy()
        now = self._clock.now()
        created: list[str] = []
        with self._db.write() as connection:
            cadences = self._cadences(connection)
            if not cadences:
                return created
            shortest = min(seconds for _, seconds in cadences.values())
            horizon = now + dt.timedelta(seconds=policy.rotation.schedule_ahead - shortest)
            born = sa.func.coalesce(_C.c.last_rotated_at, _C.c.created_at)
            agent = sa.func.coalesce(_C.c.agent, _I.c.agent)
            open_rotation = sa.exists().where(_R.c.credential == _C.c.id, _R.c.status.in_(OPEN))
            rows = connection.execute(
                sa.select(
                    _C.c.id,
                    _C.c.fingerprint,
                    _C.c.identity,
                    _C.c.provider,
                    _C.c.kind,
                    _C.c.location,
                    _C.c.properties,
                    born.label("born"),
                    agent.label("agent"),
                    _I.c.name.label("identity_name"),
                    _I.c.native_id.label("native_id"),
                )
                .select_from(_C.outerjoin(_I, _I.c.id == _C.c.identity))
                .where(
                    _C.c.gone_at.is_(None),
                    _C.c.source != SCANNER_SOURCE,
                    _C.c.kind.in_(sorted(SECRET_KINDS)),
                    agent.is_not(None),
                    born.is_not(None),
                    born <= horizon,
                    ~open_rotation,
                )
                .order_by(born)
                .limit(SCHEDULE_LIMIT)
            ).all()
            for row in rows:
                if row.agent not in cadences or (row.properties or {}).get("active") is False:
                    continue
                owner, every = cadences[row.agent]
                due = utc(row.born) + dt.timedelta(seconds=every)
                if due - dt.timedelta(seconds=policy.rotation.schedule_ahead) > now:
                    continue
                rotation_id = f"rot-{uuid.uuid4().hex[:10]}"
                connection.execute(
                    sa.insert(_R).values(
                        id=rotation_id,
                        credential=row.id,
                        fingerprint=row.fingerprint,
                        identity=row.identity,
                        agent=row.agent,
                        owner=owner,
                        provider=row.provider,
                        status=RotationStatus.SCHEDULED.value,
                        due_at=due,
                        created_at=now,
                        steps=rotate_steps(scheduled(row)),
                    )
                )
                self._audit.record(
                    connection,
                    EventDraft(
                        actor,
                        "rotation.schedule",
                        "credential",
                        row.id,
                        None,
                        {"rotation": rotation_id, "agent": row.agent, "due_at": due.isoformat()},
                    ),
                )
                notices.send(
                    connection,
                    key=f"rotation.due:{rotation_id}",
                    recipient=owner,
                    kind="rotation.due",
                    agent=row.agent,
                    subject=f"Rotate {row.provider} {row.kind} of {row.agent} by {due:%Y-%m-%d}",
                    body=f"Steps: charter rotation plan {rotation_id}",
                    now=now,
                )
                created.append(rotation_id)
            created.extend(self._schedule_keys(connection, cadences, now, actor))
        return created

    def _schedule_keys(
        self,
        connection: Connection,
        cadences: dict[str, tuple[str, int]],
        now: dt.datetime,
        actor: str,
    ) -> builtins.list[str]:
        """Charter's own credentials: agents' enrolled keys, on their charter's cadence.

        The private key lives with the agent, so Charter cannot make the new one itself: the
        steps enrol a new key (the old one keeps working during the overlap) and revoke the old.
        """
        ahead = self._policy().rotation.schedule_ahead
        created = []
        for agent, kid, created_at in connection.execute(
            sa.select(_K.c.agent, _K.c.kid, _K.c.created_at).where(
                _K.c.revoked_at.is_(None), _K.c.expires_at.is_(None)
            )
        ):
            if agent not in cadences:
                continue
            owner, every = cadences[agent]
            due = utc(created_at) + dt.timedelta(seconds=every)
            credential = charter_key_id(agent, kid)
            if (
                due - dt.timedelta(seconds=ahead) > now
                or connection.execute(
                    sa.select(_R.c.id).where(_R.c.credential == credential, _R.c.status.in_(OPEN))
                ).first()
            ):
                continue
            rotation_id = f"rot-{uuid.uuid4().hex[:10]}"
            connection.execute(
                sa.insert(_R).values(
                    id=rotation_id,
                    credential=credential,
                    fingerprint=hashlib.sha256(credential.encode()).hexdigest(),
                    identity=None,
                    agent=agent,
                    owner=owner,
                    provider="charter",
                    status=RotationStatus.SCHEDULED.value,
                    due_at=due,
                    created_at=now,
                    steps=charter_key_steps(agent, kid),
                )
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "rotation.schedule",
                    "agent",
                    agent,
                    None,
                    {"rotation": rotation_id, "key": kid, "due_at": due.isoformat()},
                ),
            )
            notices.send(
                connection,
                key=f"rotation.due:{rotation_id}",
                recipient=owner,
                kind="rotation.due",
                agent=agent,
                subject=f"Rotate the enrolled key {kid} of {agent} by {due:%Y-%m-%d}",
                body=f"Steps: charter rotation plan {rotation_id}",
                now=now,
            )
            created.append(rotation_id)
        return created

    # -- doing and verifying --------------------------------------------------------------------
    def _row(self, connection: Connection, rotation_id: str) -> Any:
        row = connection.execute(sa.select(_R).where(_R.c.id == rotation_id)).first()
        if row is None:
            raise NotFound(f"no rotation {rotation_id!r}", field="id")
        return row

    def get(self, rotation_id: str) -> Rotation:
        with self._db.read() as connection:
            return _rotation(self._row(connection, rotation_id))

    def list(
        self, *, status: RotationStatus | None = None, agent: str | None = None, limit: int = 200
    ) -> builtins.list[Rotation]:
        query = sa.select(_R).order_by(_R.c.due_at, _R.c.id).limit(limit)
        if status is not None:
            query = query.where(_R.c.status == status.value)
        if agent:
            query = query.where(_R.c.agent == agent)
        with self._db.read() as connection:
            return [_rotation(r) for r in connection.execute(query)]

    def start(self, rotation_id: str, *, actor: str) -> Rotation:
        """Begin: a connector that can rotate does it; otherwise the owner gets a task."""
        now = self._clock.now()
        with self._db.write() as connection:
            row = self._row(connection, rotation_id)
            if row.status != RotationStatus.SCHEDULED.value:
                raise Conflict(f"rotation {rotation_id} is {row.status}", field="status")
            rotator = ROTATORS.get(row.provider)
            note = (
                rotator.rotate(dict(row._mapping))
                if rotator is not None
                else "task "
                + file_task(
                    connection,
                    kind="rotation",
                    target_type="credential",
                    target=row.credential,
                    title=f"Rotate {row.provider} credential {row.credential}",
                    steps=list(row.steps or []),
                    actor=actor,
                    now=now,
                    agent=row.agent,
                    assignee=row.owner,
                )
            )
            connection.execute(
                sa.update(_R)
                .where(_R.c.id == rotation_id, _R.c.status == RotationStatus.SCHEDULED.value)
                .values(status=RotationStatus.IN_PROGRESS.value, started_at=now, note=note)
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "rotation.start",
                    "credential",
                    row.credential,
                    {"status": "scheduled"},
                    {"rotation": rotation_id, "status": "in_progress", "note": note},
                ),
            )
            return _rotation(self._row(connection, rotation_id))

    def _check(self, connection: Connection, row: Any) -> builtins.list[str]:
        """Why the rotation is not verified yet (empty: it is)."""
        if row.provider == "charter":
            return self._check_key(connection, row)
        reasons: builtins.list[str] = []
        old_live = connection.execute(
            sa.select(_C.c.id)
            .where(
                _C.c.fingerprint == row.fingerprint,
                _C.c.gone_at.is_(None),
                _C.c.source != SCANNER_SOURCE,
            )
            .limit(1)
        ).scalar()
        if old_live is not None:
            reasons.append(f"the old secret is still live ({old_live}); revoke it and re-ingest")
        since = utc(row.started_at or row.created_at)
        if row.identity:
            newer = connection.execute(
                sa.select(_C.c.id)
                .where(
                    _C.c.identity == row.identity,
                    _C.c.gone_at.is_(None),
                    _C.c.fingerprint != row.fingerprint,
                    sa.or_(_C.c.first_seen >= since, _C.c.created_at >= since),
                )
                .limit(1)
            ).scalar()
            if newer is None:
                reasons.append(
                    f"no new credential for {row.identity} has been seen since "
                    f"{since:%Y-%m-%d %H:%M}; ingest the source again"
                )
        return reasons

    def _check_key(self, connection: Connection, row: Any) -> builtins.list[str]:
        agent, _, kid = row.credential.removeprefix("charter:").partition("/key/")
        now = self._clock.now()
        keys = connection.execute(sa.select(_K).where(_K.c.agent == agent)).all()
        old = next((k for k in keys if k.kid == kid), None)
        reasons = []
        if (
            old is not None
            and old.revoked_at is None
            and (old.expires_at is None or utc(old.expires_at) > now)
        ):
            reasons.append(
                f"key {kid} is still accepted; revoke it (charter agent revoke-key {agent} {kid})"
            )
        since = utc(row.started_at or row.created_at)
        if not any(
            k.kid != kid and k.revoked_at is None and utc(k.created_at) >= since for k in keys
        ):
            reasons.append(f"{agent} has enrolled no new key since {since:%Y-%m-%d %H:%M}")
        return reasons

    def verify(self, rotation_id: str, *, actor: str) -> Verification:
        now = self._clock.now()
        with self._db.write() as connection:
            row = self._row(connection, rotation_id)
            if row.status == RotationStatus.VERIFIED.value:
                return Verification(_rotation(row), True)
            if row.status != RotationStatus.IN_PROGRESS.value:
                raise Conflict(
                    f"rotation {rotation_id} is {row.status}; start it first", field="status"
                )
            reasons = self._check(connection, row)
            if not reasons:
                connection.execute(
                    sa.update(_R)
                    .where(_R.c.id == rotation_id, _R.c.status == RotationStatus.IN_PROGRESS.value)
                    .values(status=RotationStatus.VERIFIED.value, finished_at=now)
                )
                self._audit.record(
                    connection,
                    EventDraft(
                        actor,
                        "rotation.verify",
                        "credential",
                        row.credential,
                        {"status": "in_progress"},
                        {"rotation": rotation_id, "status": "verified"},
                    ),
                )
            return Verification(_rotation(self._row(connection, rotation_id)), not reasons, reasons)

    def verify_pending(self, *, actor: str) -> builtins.list[str]:
        """The worker's pass: verify every rotation in progress that now checks out."""
        with self._db.read() as connection:
            ids = list(
                connection.execute(
                    sa.select(_R.c.id).where(_R.c.status == RotationStatus.IN_PROGRESS.value)
                ).scalars()
            )
        return [i for i in ids if self.verify(i, actor=actor).verified]
