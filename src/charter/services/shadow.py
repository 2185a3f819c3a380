"""Shadow agents: AI identities nobody registered, listed for review and adopted into the registry.

Discovery creates them (``charter.services.attribution``) as agents in state
``discovered`` with origin ``discovered``. ``adopt`` turns one into a registered
agent from a charter written by a person, in one transaction that keeps its
history: its charter versions (the discovered one stays as v1), its audit
events, and its links to identities and credentials — the new charter keeps
naming every identity the shadow agent held, so the next ingest attributes
them to the adopted agent instead of discovering them again. A new name is
allowed; the old name's history then ends with an ``agent.rename`` event.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.charter import CharterSpec
from charter.domain.enums import AgentState, PersonStatus
from charter.domain.estate import Identity
from charter.domain.lifecycle import Transition, next_state
from charter.errors import Conflict, InvalidInput, NotFound
from charter.services.attribution import UNOWNED
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.inventory import identity_of
from charter.store import schema
from charter.store.database import Database
from charter.store.versions import bump_version

_A, _V, _I, _C = schema.agents, schema.charter_versions, schema.identities, schema.credentials


@dataclass(frozen=True, slots=True)
class ShadowAgent:
    """A shadow agent: the identities it holds, and each one's live credentials."""

    name: str
    suggested_owner: str
    purpose: str
    discovered_at: dt.datetime
    identities: tuple[Identity, ...]
    #: live credentials of this agent per identity id (an identity without any is absent)
    credentials: Mapping[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "suggested_owner": None if self.suggested_owner == UNOWNED else self.suggested_owner,
            "purpose": self.purpose,
            "discovered_at": self.discovered_at.isoformat(),
            "identities": [
                {
                    "id": i.id,
                    "source": i.source,
                    "account": i.account,
                    "kind": i.kind.value,
                    "name": i.name,
                    "system": i.system,
                    "last_used_at": i.last_used_at.isoformat() if i.last_used_at else None,
                    "evidence": list(i.evidence),
                    "credentials": self.credentials.get(i.id, 0),
                }
                for i in self.identities
            ],
        }


def shadow_agents(connection: Connection, agents: Sequence[Any]) -> list[ShadowAgent]:
    """``agents`` (rows of name, owner, purpose, created_at) with their live identities and
    credential counts: two queries whatever the number of agents."""
    names = [a.name for a in agents]
    by_agent: dict[str, list[Identity]] = {n: [] for n in names}
    counts: dict[str, int] = {}
    if names:
        counts = {
            identity: int(count)
            for identity, count in connection.execute(
                sa.select(_C.c.identity, sa.func.count())
                .where(_C.c.agent.in_(names), _C.c.gone_at.is_(None))
                .group_by(_C.c.identity)
            )
        }
        for row in connection.execute(
            sa.select(_I).where(_I.c.agent.in_(names), _I.c.gone_at.is_(None)).order_by(_I.c.id)
        ):
            by_agent[row.agent].append(identity_of(row).record)
    return [
        ShadowAgent(
            a.name,
            a.owner,
            a.purpose,
            _aware(a.created_at),
            tuple(by_agent[a.name]),
            {i.id: counts[i.id] for i in by_agent[a.name] if i.id in counts},
        )
        for a in agents
    ]


@dataclass(frozen=True, slots=True)
class Adopted:
    name: str
    previous_name: str
    owner: str
    state: AgentState
    charter_version: int
    identities: tuple[str, ...]
    warnings: tuple[str, ...]


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class ShadowService:
    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock

    def list(self) -> list[ShadowAgent]:
        """Every agent still in state ``discovered`` that discovery created, with its identities."""
        with self._db.read() as connection:
            agents = connection.execute(
                sa.select(_A.c.name, _A.c.owner, _A.c.purpose, _A.c.created_at)
                .where(_A.c.origin == "discovered", _A.c.state == AgentState.DISCOVERED.value)
                .order_by(_A.c.name)
            ).all()
            return shadow_agents(connection, agents)

    def adopt(self, name: str, spec: CharterSpec, *, actor: str) -> Adopted:
        """Register shadow agent ``name`` under the charter ``spec`` (state ``proposed``)."""
        now = self._clock.now()
        if spec.owner == UNOWNED:
            raise InvalidInput("an adopted agent needs a real owner", field="owner")
        with self._db.write() as connection:
            row = connection.execute(sa.select(_A).where(_A.c.name == name)).first()
            if row is None:
                raise NotFound(f"no agent named {name!r}", field="name")
            if row.origin != "discovered" or row.state != AgentState.DISCOVERED.value:
                raise Conflict(
                    f"{name} is not a shadow agent (origin {row.origin}, state {row.state})",
                    field="name",
                )
            if spec.expires and spec.expires < now.date():
                raise InvalidInput(f"expiry {spec.expires} is in the past", field="expires")
            target = next_state(AgentState.DISCOVERED, Transition.PROPOSE)
            held = self._held(connection, name, row.charter_version)
            identities = list(dict.fromkeys([*spec.identities, *held]))
            if len(identities) > 256:
                raise InvalidInput("a charter names at most 256 identities", field="identities")
            document = {**spec.document(), "identities": identities}
            warnings = self._owner_warnings(connection, spec.owner)
            if spec.name != name:
                self._rename(connection, row, spec.name, now, actor)
            version = row.charter_version + 1
            connection.execute(
                sa.insert(_V).values(
                    agent=spec.name,
                    version=version,
                    document=document,
                    created_at=now,
                    created_by=actor,
                    reason=f"adopted from shadow agent {name}",
                )
            )
            connection.execute(
                sa.update(_A)
                .where(_A.c.name == spec.name)
                .values(
                    owner=spec.owner,
                    state=target.value,
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
                    "agent.adopt",
                    "agent",
                    spec.name,
                    {"name": name, "state": AgentState.DISCOVERED.value, "owner": row.owner},
                    {
                        **spec.summary(),
                        "state": target.value,
                        "version": version,
                        "identities": identities,
                    },
                ),
            )
            bump_version(connection, "charters")
        return Adopted(
            spec.name, name, spec.owner, target, version, tuple(identities), tuple(warnings)
        )

    # -- helpers ---------------------------------------------------------------------------
    def _held(self, connection: Connection, name: str, version: int) -> builtins.list[str]:
        document = connection.execute(
            sa.select(_V.c.document).where(_V.c.agent == name, _V.c.version == version)
        ).scalar()
        named = list((document or {}).get("identities") or [])
        linked = connection.execute(
            sa.select(_I.c.id).where(_I.c.agent == name, _I.c.gone_at.is_(None)).order_by(_I.c.id)
        ).scalars()
        return list(dict.fromkeys([*named, *linked]))

    def _owner_warnings(self, connection: Connection, owner: str) -> builtins.list[str]:
        status = connection.execute(
            sa.select(schema.people.c.status).where(schema.people.c.email == owner)
        ).scalar()
        if status is None:
            return [f"owner {owner} is not in the directory"]
        if status != PersonStatus.ACTIVE:
            return [f"owner {owner} has departed"]
        return []

    def _rename(
        self, connection: Connection, row: Any, new: str, now: dt.datetime, actor: str
    ) -> None:
        if connection.execute(sa.select(_A.c.name).where(_A.c.name == new)).first():
            raise Conflict(f"an agent named {new!r} already exists", field="name")
        values = {c.name: getattr(row, c.name) for c in _A.columns}
        connection.execute(sa.insert(_A).values({**values, "name": new, "updated_at": now}))
        connection.execute(sa.update(_V).where(_V.c.agent == row.name).values(agent=new))
        connection.execute(sa.update(_I).where(_I.c.agent == row.name).values(agent=new))
        connection.execute(sa.update(_C).where(_C.c.agent == row.name).values(agent=new))
        connection.execute(sa.delete(_A).where(_A.c.name == row.name))
        self._audit.record(
            connection,
            EventDraft(actor, "agent.rename", "agent", row.name, {"name": row.name}, {"name": new}),
        )
