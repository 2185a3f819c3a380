"""The agent registry: register, re-charter, transition, transfer, list, inspect.

Every change is one transaction that also appends its audit Event. Charter
versions are never overwritten: each update adds a version and keeps the old.
"""

from __future__ import annotations

import builtins
import datetime as dt
import difflib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Connection

from charter.domain.agent import Agent, CharterVersion
from charter.domain.audit import EventDraft
from charter.domain.charter import CharterSpec
from charter.domain.charter_parsing import parse_charter
from charter.domain.enums import AgentState, PersonStatus
from charter.domain.lifecycle import Transition, next_state
from charter.errors import Conflict, InvalidInput, NotFound
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.narrowing import check_parent
from charter.store import schema
from charter.store.database import Database
from charter.store.versions import bump_version

_A = schema.agents
_V = schema.charter_versions
_P = schema.people


@dataclass(frozen=True, slots=True)
class Registered:
    agent: Agent
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AgentPage:
    items: list[Agent]
    total: int
    limit: int
    offset: int


def _agent(row: Any, document: dict[str, Any] | None) -> Agent:
    return Agent(
        name=row.name,
        owner=row.owner,
        state=AgentState(row.state),
        charter=CharterSpec.model_validate(document) if document else None,
        charter_version=row.charter_version,
        created_at=_aware(row.created_at),
        updated_at=_aware(row.updated_at),
        labels=dict(row.labels or {}),
        purpose=row.purpose,
        pending_owner=row.pending_owner,
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class RegistryService:
    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock

    # -- helpers -----------------------------------------------------------------
    def _owner_problem(self, connection: Connection, email: str) -> str | None:
        row = connection.execute(sa.select(_P.c.status).where(_P.c.email == email)).first()
        if row is None:
            return f"owner {email} is not in the directory (import it with 'charter people import')"
        if row.status != PersonStatus.ACTIVE:
            return f"owner {email} has departed"
        return None

    def _check_expiry(self, spec: CharterSpec) -> None:
        if spec.expires and spec.expires < self._clock.now().date():
            raise InvalidInput(f"expiry {spec.expires} is in the past", field="expires")

    def _row(self, connection: Connection, name: str) -> Any:
        row = connection.execute(sa.select(_A).where(_A.c.name == name)).first()
        if row is None:
            raise NotFound(f"no agent named {name!r}", field="name")
        return row

    def _document(self, connection: Connection, name: str, version: int) -> dict[str, Any] | None:
        value = connection.execute(
            sa.select(_V.c.document).where(_V.c.agent == name, _V.c.version == version)
        ).scalar()
        return dict(value) if value else None

    def _bump(self, connection: Connection) -> None:
        """Tell running deciders that charters changed (a cheap version counter)."""
        bump_version(connection, "charters")

    # -- commands ------------------------------------------------------------------
    def register(
        self,
        spec: CharterSpec,
        *,
        actor: str,
        state: AgentState = AgentState.PROPOSED,
        origin: str = "registered",
        reason: str = "registered",
    ) -> Registered:
        self._check_expiry(spec)
        now = self._clock.now()
        with self._db.write() as connection:
            exists = connection.execute(sa.select(_A.c.name).where(_A.c.name == spec.name)).first()
            if exists:
                raise Conflict(f"an agent named {spec.name!r} already exists", field="name")
            check_parent(connection, spec)  # a sub-agent only narrows its parent
            warnings = [w for w in [self._owner_problem(connection, spec.owner)] if w]
            connection.execute(
                sa.insert(_A).values(
                    name=spec.name,
                    owner=spec.owner,
                    state=state.value,
                    charter_version=1,
                    purpose=spec.purpose,
                    environment=spec.environment,
                    labels=spec.labels,
                    expires=spec.expires,
                    origin=origin,
                    created_at=now,
                    updated_at=now,
                )
            )
            connection.execute(
                sa.insert(_V).values(
                    agent=spec.name,
                    version=1,
                    document=spec.document(),
                    created_at=now,
                    created_by=actor,
                    reason=reason,
                )
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "agent.register",
                    "agent",
                    spec.name,
                    None,
                    {**spec.summary(), "state": state.value, "version": 1},
                ),
            )
            self._bump(connection)
            row = self._row(connection, spec.name)
            return Registered(_agent(row, spec.document()), warnings)

    def update(self, spec: CharterSpec, *, actor: str, reason: str = "updated") -> Registered:
        """A new charter version; the old ones stay."""
        with self._db.write() as connection:
            return self.update_in(connection, spec, actor=actor, reason=reason)

    def update_in(
        self, connection: Connection, spec: CharterSpec, *, actor: str, reason: str = "updated"
    ) -> Registered:
        """:meth:`update` inside the caller's transaction (an approved proposal applies so)."""
        self._check_expiry(spec)
        now = self._clock.now()
        row = self._row(connection, spec.name)
        if row.state == AgentState.DECOMMISSIONED:
            raise Conflict(f"agent {spec.name!r} is decommissioned", field="state")
        if spec.owner != row.owner:
            raise InvalidInput(
                f"the charter names owner {spec.owner} but the agent is owned by {row.owner}; "
                "change owners with 'charter agent transfer'",
                field="owner",
            )
        check_parent(connection, spec)  # a sub-agent only narrows its parent
        old = self._document(connection, spec.name, row.charter_version)
        if old == spec.document():
            return Registered(_agent(row, old), ["the charter is unchanged; no new version"])
        version = row.charter_version + 1
        connection.execute(
            sa.insert(_V).values(
                agent=spec.name,
                version=version,
                document=spec.document(),
                created_at=now,
                created_by=actor,
                reason=reason,
            )
        )
        connection.execute(
            sa.update(_A)
            .where(_A.c.name == spec.name)
            .values(
                charter_version=version,
                purpose=spec.purpose,
                environment=spec.environment,
                labels=spec.labels,
                expires=spec.expires,
                updated_at=now,
            )
        )
        self._audit.record(
            connection,
            EventDraft(
                actor,
                "agent.update",
                "agent",
                spec.name,
                {"version": row.charter_version},
                {**spec.summary(), "version": version},
            ),
        )
        self._bump(connection)
        warnings = [w for w in [self._owner_problem(connection, spec.owner)] if w]
        return Registered(_agent(self._row(connection, spec.name), spec.document()), warnings)

    def transition(self, name: str, transition: Transition, *, actor: str, reason: str) -> Agent:
        with self._db.write() as connection:
            return self.transition_in(connection, name, transition, actor=actor, reason=reason)

    def transition_in(
        self, connection: Connection, name: str, transition: Transition, *, actor: str, reason: str
    ) -> Agent:
        """:meth:`transition` inside the caller's transaction."""
        if not reason.strip():
            raise InvalidInput("a reason is required", field="reason")
        now = self._clock.now()
        row = self._row(connection, name)
        current = AgentState(row.state)
        target = next_state(current, transition)
        if target == AgentState.ACTIVE:
            problem = self._owner_problem(connection, row.owner)
            if problem:
                raise Conflict(f"cannot {transition} {name}: {problem}", field="owner")
            if row.expires and row.expires < now.date():
                raise Conflict(
                    f"cannot {transition} {name}: its charter expired on {row.expires}",
                    field="expires",
                )
        connection.execute(
            sa.update(_A).where(_A.c.name == name).values(state=target.value, updated_at=now)
        )
        self._audit.record(
            connection,
            EventDraft(
                actor,
                f"agent.{transition.value}",
                "agent",
                name,
                {"state": current.value},
                {"state": target.value, "reason": reason},
            ),
        )
        self._bump(connection)
        return _agent(
            self._row(connection, name), self._document(connection, name, row.charter_version)
        )

    def transfer(self, name: str, to: str, *, actor: str, reason: str = "transferred") -> Agent:
        to = to.strip().lower()
        now = self._clock.now()
        with self._db.write() as connection:
            row = self._row(connection, name)
            if row.state == AgentState.DECOMMISSIONED:
                raise Conflict(f"agent {name!r} is decommissioned", field="state")
            problem = self._owner_problem(connection, to)
            if problem:
                raise InvalidInput(f"cannot transfer to {to}: {problem}", field="to")
            if to == row.owner:
                raise InvalidInput(f"{to} already owns {name}", field="to")
            document = self._document(connection, name, row.charter_version) or {}
            document = {**document, "owner": to}
            version = row.charter_version + 1
            connection.execute(
                sa.insert(_V).values(
                    agent=name,
                    version=version,
                    document=document,
                    created_at=now,
                    created_by=actor,
                    reason=f"transfer: {reason}",
                )
            )
            connection.execute(
                sa.update(_A)
                .where(_A.c.name == name)
                .values(
                    owner=to,
                    charter_version=version,
                    pending_owner=None,
                    pending_owner_since=None,
                    updated_at=now,
                )
            )
            self._audit.record(
                connection,
                EventDraft(
                    actor,
                    "agent.transfer",
                    "agent",
                    name,
                    {"owner": row.owner},
                    {"owner": to, "reason": reason, "version": version},
                ),
            )
            self._bump(connection)
            return _agent(self._row(connection, name), document)

    # -- queries -------------------------------------------------------------------
    def agent_in(self, connection: Connection, name: str) -> Agent:
        """:meth:`get` inside the caller's transaction."""
        row = self._row(connection, name)
        return _agent(row, self._document(connection, name, row.charter_version))

    def check_update(self, agent: Agent, spec: CharterSpec) -> None:
        """What :meth:`update` refuses, checked before a change is proposed instead."""
        self._check_expiry(spec)
        if agent.state == AgentState.DECOMMISSIONED:
            raise Conflict(f"agent {spec.name!r} is decommissioned", field="state")
        if spec.owner != agent.owner:
            raise InvalidInput(
                f"the charter names owner {spec.owner} but the agent is owned by {agent.owner}; "
                "change owners with 'charter agent transfer'",
                field="owner",
            )

    def get(self, name: str) -> Agent:
        with self._db.read() as connection:
            row = self._row(connection, name)
            return _agent(row, self._document(connection, name, row.charter_version))

    def list(
        self,
        *,
        owner: str | None = None,
        state: AgentState | None = None,
        labels: dict[str, str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> AgentPage:
        if not 1 <= limit <= 1000:
            raise InvalidInput("limit must be between 1 and 1000", field="limit")
        if offset < 0:
            raise InvalidInput("offset must not be negative", field="offset")
        query = sa.select(_A, _V.c.document).join(
            _V, sa.and_(_V.c.agent == _A.c.name, _V.c.version == _A.c.charter_version)
        )
        count = sa.select(sa.func.count()).select_from(_A)
        conditions = []
        if owner:
            conditions.append(_A.c.owner == owner.lower())
        if state:
            conditions.append(_A.c.state == state.value)
        for condition in conditions:
            query, count = query.where(condition), count.where(condition)
        with self._db.read() as connection:
            if labels:
                # label filters run in Python over the (owner/state-filtered) set: portable
                rows = [
                    r
                    for r in connection.execute(query.order_by(_A.c.name))
                    if all((r.labels or {}).get(k) == v for k, v in labels.items())
                ]
                total, rows = len(rows), rows[offset : offset + limit]
            else:
                total = int(connection.execute(count).scalar_one())
                rows = list(
                    connection.execute(query.order_by(_A.c.name).limit(limit).offset(offset))
                )
            return AgentPage([_agent(r, r.document) for r in rows], total, limit, offset)

    def active_charters(self) -> builtins.list[Agent]:
        """Every agent that may currently be allowed anything, with its charter."""
        with self._db.read() as connection:
            rows = connection.execute(
                sa.select(_A, _V.c.document)
                .join(_V, sa.and_(_V.c.agent == _A.c.name, _V.c.version == _A.c.charter_version))
                .where(_A.c.state == AgentState.ACTIVE.value)
            )
            return [_agent(r, r.document) for r in rows]

    def history(self, name: str) -> builtins.list[CharterVersion]:
        with self._db.read() as connection:
            self._row(connection, name)
            rows = connection.execute(
                sa.select(_V).where(_V.c.agent == name).order_by(_V.c.version)
            )
            return [
                CharterVersion(
                    r.agent,
                    r.version,
                    dict(r.document),
                    _aware(r.created_at),
                    r.created_by,
                    r.reason,
                )
                for r in rows
            ]


def render_yaml(document: dict[str, Any]) -> str:
    """The charter as a person would write it: the model's field order, defaults left out.

    (PostgreSQL's JSONB does not keep key order, so the order comes from the model.)
    """
    try:
        spec = CharterSpec.model_validate(document)
        document = spec.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        )
        document = {"name": spec.name, "owner": spec.owner, "purpose": spec.purpose, **document}
    except ValueError:
        pass  # a document from an older format: show it as stored
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def version_diff(old: CharterVersion | None, new: CharterVersion) -> str:
    """A unified diff of two charter versions, in the YAML a person wrote."""
    before = render_yaml(old.document).splitlines(keepends=True) if old else []
    after = render_yaml(new.document).splitlines(keepends=True)
    label_old = f"v{old.version}" if old else "(none)"
    return "".join(difflib.unified_diff(before, after, label_old, f"v{new.version}"))


__all__ = [
    "AgentPage",
    "Registered",
    "RegistryService",
    "parse_charter",
    "render_yaml",
    "version_diff",
]
