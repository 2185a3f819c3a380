"""Attribution: which agent and which owner each identity and credential belongs to.

Runs inside the ingest transaction (``ReconcileService`` calls it per chunk), so
attributed fields are part of what reconciliation compares: re-ingesting the
same export with the same registry attributes the same way and changes nothing.

Evidence, strongest first (confidence in brackets):

- **charter** — a charter's ``identities`` list names the identity (its id,
  native id / ARN / client id / e-mail, or a glob) or the credential
  (``sha256:<fingerprint>`` or its key id) [1.0; 0.9 for a glob];
- **label** — a tag or label ``charter.dev/agent`` / ``charter-agent`` names an agent [0.95];
- **shared fingerprint** — the same secret was already attributed elsewhere
  (e.g. the file-system scanner found it in the agent's repository) [0.9];
- **link** — the identity assumes one that belongs to an agent (IRSA, GKE
  Workload Identity, a Slack bot of an app) [0.9 of the linked confidence];
- **naming** — the identity's name contains a registered agent's name [0.6];
- a credential inherits its identity's agent.

Owners come from the connector (creator, tags, app owners, token owner),
resolved against the directory: e-mails directly, logins by the local part of
an e-mail [×0.8]; an identity of a registered agent without one gets the
agent's owner [0.7]. A departed owner is kept, and flagged.

AI-related identities that no agent claims become **shadow agents**
(:mod:`charter.services.discovered_agents`): a
``discovered`` agent (origin ``discovered``) whose charter names the identity,
with a suggested owner (the identity's owner, or their manager when they have
left). Identities linked to one another share one shadow agent.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.batch import Batch
from charter.domain.enums import AgentState, PersonStatus
from charter.domain.estate import Credential, Identity
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.discovered_agents import (
    SHADOW_CONFIDENCE,
    SHADOW_EVIDENCE,
    discovered_charter,
    discovered_event,
    insert_discovered,
    joined_event,
    shadow_name,
)
from charter.store import estate_schema as _estate_schema  # noqa: F401 - its index
from charter.store import schema
from charter.store.database import Database
from charter.store.sqlite_cursor import sqlite_in
from charter.store.versions import bump_version

__all__ = ["UNOWNED", "AttributionRun", "AttributionService"]

#: The placeholder owner of a shadow agent nobody could be suggested for (RFC 2606 ``.example``).
UNOWNED = "unowned@charter.example"
_LABEL_KEYS = ("charter.dev/agent", "charter-agent", "charter_agent")


def _squash(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())


@dataclass(frozen=True, slots=True)
class _Person:
    email: str
    status: str
    manager: str | None


@dataclass(slots=True)
class _Claims:
    """What registered charters say, indexed for lookups."""

    exact: dict[str, str] = field(default_factory=dict)  # lower-cased entry → agent
    globs: list[tuple[str, str]] = field(default_factory=list)  # (pattern, agent)
    owners: dict[str, str] = field(default_factory=dict)  # agent → owner
    discovered: set[str] = field(default_factory=set)  # agents with origin "discovered"
    names: re.Pattern[str] | None = None  # registered agent names, for naming matches

    def lookup(self, *keys: str) -> tuple[str, str, float] | None:
        for key in keys:
            if key and key.lower() in self.exact:
                return self.exact[key.lower()], key, 1.0
        for pattern, agent in self.globs:
            for key in keys:
                if key and fnmatch.fnmatchcase(key.lower(), pattern):
                    return agent, key, 0.9
        return None


class AttributionService:
    """Builds one :class:`AttributionRun` per ingest (the ReconcileService hook factory)."""

    def __init__(self, database: Database, audit: AuditService, clock: Clock) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock

    def begin(self, connection: Connection, batch: Batch, actor: str) -> AttributionRun:
        return AttributionRun(connection, batch, actor, self._clock)


class AttributionRun:
    """Attributes the records of one batch; creates shadow agents; reports their events."""

    def __init__(self, connection: Connection, batch: Batch, actor: str, clock: Clock) -> None:
        self._batch = batch
        self._actor = actor
        self._now = clock.now()
        self._drafts: list[EventDraft] = []
        self._identity_agents: dict[str, tuple[str, float]] = {}  # this batch's attributed ids
        self._people = {
            r.email: _Person(r.email, r.status, r.manager)
            for r in connection.execute(
                sa.select(schema.people.c.email, schema.people.c.status, schema.people.c.manager)
            )
        }
        self._by_local = {_squash(e.split("@")[0]): e for e in self._people}
        self._claims = self._load_claims(connection)
        self._taken = set(connection.execute(sa.select(schema.agents.c.name)).scalars())

    # -- context ----------------------------------------------------------------------
    def _load_claims(self, connection: Connection) -> _Claims:
        agents, versions = schema.agents, schema.charter_versions
        rows = connection.execute(
            sa.select(
                agents.c.name, agents.c.owner, agents.c.origin, agents.c.state, versions.c.document
            ).join(
                versions,
                sa.and_(
                    versions.c.agent == agents.c.name,
                    versions.c.version == agents.c.charter_version,
                ),
            )
        )
        claims = _Claims()
        registered: list[str] = []
        for row in rows:
            claims.owners[row.name] = row.owner
            if row.origin == "discovered" and row.state == AgentState.DISCOVERED:
                claims.discovered.add(row.name)
            else:
                registered.append(row.name)
            for entry in (row.document or {}).get("identities") or []:
                self._claim(claims, str(entry), row.name, discovered=row.name in claims.discovered)
        names = sorted((n for n in registered if len(n) >= 6), key=len, reverse=True)
        if names:
            claims.names = re.compile("|".join(re.escape(n) for n in names))
        return claims

    @staticmethod
    def _claim(claims: _Claims, entry: str, agent: str, *, discovered: bool) -> None:
        key = entry.strip().lower()
        if key.startswith("sha256:"):
            key = key.removeprefix("sha256:")
        if "*" in key or "?" in key:
            claims.globs.append((key, agent))
        elif not (discovered and key in claims.exact):  # a registered claim wins over a shadow one
            claims.exact[key] = agent

    # -- owners -------------------------------------------------------------------------
    def _owner(
        self, raw: str | None, confidence: float
    ) -> tuple[str | None, float, list[str], bool]:
        """(owner, confidence, evidence, departed) for a raw hint: e-mail, login or id."""
        if not raw:
            return None, 0.0, [], False
        value = raw.strip().lower()
        evidence: list[str] = []
        person = self._people.get(value)
        if person is None and "@" not in value:
            email = self._by_local.get(_squash(value))
            if email:
                person = self._people[email]
                confidence *= 0.8
                evidence.append(f"login {raw} matches {email} in the directory")
        if person is None:
            return value, confidence * 0.5, [f"owner {raw} is not in the directory"], False
        departed = person.status == PersonStatus.DEPARTED
        if departed:
            evidence.append(f"owner {person.email} has left the company")
        return person.email, confidence, evidence, departed

    def _suggest(self, owner: str | None, departed: bool) -> tuple[str, str]:
        if owner and owner in self._people and not departed:
            return owner, f"the identity's owner {owner}"
        if owner and departed:
            manager = self._people[owner].manager
            if (
                manager
                and manager in self._people
                and self._people[manager].status == PersonStatus.ACTIVE
            ):
                return manager, f"{manager}, manager of the departed owner {owner}"
        return UNOWNED, "nobody: no owner evidence; assign one when adopting"

    # -- identities ---------------------------------------------------------------------
    def identities(
        self,
        connection: Connection,
        records: Sequence[Identity],
        existing: Mapping[str, str | None],
    ) -> list[Identity]:
        out: list[Identity] = []
        for identity in records:
            out.append(self._identity(connection, identity, existing.get(identity.id)))
        return out

    def _identity(
        self, connection: Connection, identity: Identity, stored_agent: str | None = None
    ) -> Identity:
        props = identity.properties
        keys = [
            identity.id,
            identity.native_id,
            identity.name,
            str(props.get("arn") or ""),
            str(props.get("client_id") or ""),
        ]
        agent: str | None = None
        confidence = 0.0
        agent_evidence: list[str] = []
        hit = self._claims.lookup(*keys)
        if hit and hit[0] in self._claims.discovered:
            agent, confidence = hit[0], SHADOW_CONFIDENCE
            agent_evidence.append(SHADOW_EVIDENCE)
        elif hit:
            agent, key, confidence = hit
            agent_evidence.append(f"{key} is named in the charter of {agent}")
        if agent is None:
            labels: dict[str, Any] = {}
            for key in (
                "tags",
                "labels",
            ):  # AWS tags and Kubernetes labels are maps; some sources list
                if isinstance(props.get(key), dict):
                    labels.update(props[key])
            for label in _LABEL_KEYS:
                value = str(labels.get(label) or "")
                if value and value in self._claims.owners:
                    agent, confidence = value, 0.95
                    agent_evidence.append(f"label {label}={value}")
                    break
        if agent is None:
            agent, confidence, agent_evidence = self._linked(connection, identity)
        if agent is None and self._claims.names is not None:
            match = self._claims.names.search(identity.name.lower())
            if match:
                agent, confidence = match.group(0), 0.6
                agent_evidence.append(f"its name contains the agent name {agent}")
        owner, owner_confidence, owner_evidence, departed = self._owner(
            identity.owner, identity.owner_confidence
        )
        if owner is None:
            named = self._by_local.get(_squash(identity.name.rsplit("/", 1)[-1]))
            if named:
                owner, owner_confidence, owner_evidence, departed = self._owner(named, 0.6)
                owner_evidence.insert(0, f"named after {named}")

        if owner is None and agent and agent not in self._claims.discovered:
            owner, owner_confidence = self._claims.owners.get(agent), 0.7
            owner_evidence.append(f"owner of agent {agent}")
        if agent is None and identity.ai_related and stored_agent in self._claims.discovered:
            agent, confidence = (
                stored_agent,
                SHADOW_CONFIDENCE,
            )  # joined an existing shadow agent earlier
            agent_evidence = [SHADOW_EVIDENCE]
        if agent is None and identity.ai_related:
            agent, confidence, agent_evidence = self._shadow(connection, identity, owner, departed)
        if agent:
            self._identity_agents[identity.id] = (agent, confidence)
        attribution: dict[str, Any] = {
            "agent": {"name": agent, "confidence": round(confidence, 2), "evidence": agent_evidence}
            if agent
            else None,
            "owner": {
                "email": owner,
                "confidence": round(owner_confidence, 2),
                "departed": departed,
                "evidence": owner_evidence,
            }
            if owner
            else None,
            "shadow": agent in self._claims.discovered if agent else False,
        }
        evidence = list(identity.evidence)
        evidence += [f"agent {agent}: {e}" for e in agent_evidence]
        evidence += [e for e in owner_evidence if e not in evidence]
        return dataclasses.replace(
            identity,
            agent=agent,
            owner=owner,
            owner_confidence=round(owner_confidence, 2),
            evidence=tuple(evidence),
            properties={**props, "attribution": attribution},
        )

    def _linked(
        self, connection: Connection, identity: Identity
    ) -> tuple[str | None, float, list[str]]:
        """The agent of an identity this one assumes (IRSA, Workload Identity, a bot's app)."""
        links = identity.properties.get("links") or {}
        for kind, target in sorted(links.items()) if isinstance(links, dict) else []:
            target = str(target)
            local = self._identity_agents.get(target)
            if local:
                return (
                    local[0],
                    round(local[1] * 0.9, 2),
                    [f"linked ({kind}) to {target}, which belongs to {local[0]}"],
                )
            ids = schema.identities
            linked = None
            for column in (ids.c.id, ids.c.native_id):  # primary key, then ix_identities_native_id
                linked = connection.execute(
                    sa.select(ids.c.id, ids.c.agent, ids.c.properties)
                    .where(column == target, ids.c.agent.is_not(None), ids.c.gone_at.is_(None))
                    .limit(1)
                ).first()
                if linked is not None:
                    break
            if linked is not None:
                found = ((linked.properties or {}).get("attribution") or {}).get("agent") or {}
                confidence = round(float(found.get("confidence") or 0.9) * 0.9, 2)
                return (
                    linked.agent,
                    confidence,
                    [f"linked ({kind}) to {linked.id}, which belongs to {linked.agent}"],
                )
        return None, 0.0, []

    def _shadow(
        self, connection: Connection, identity: Identity, owner: str | None, departed: bool
    ) -> tuple[str, float, list[str]]:
        """Create a discovered agent for an AI identity nobody claims (inside the ingest).

        An identity whose name gives the same slug as an existing *shadow* agent
        joins it (the same product seen in several sources: ChatGPT in Workspace
        and in Slack); a registered agent's name is never joined, only avoided.
        """
        name = base = shadow_name(identity.name)
        if base in self._claims.discovered:
            self._drafts.append(joined_event(self._actor, base, identity))
            return base, SHADOW_CONFIDENCE, [SHADOW_EVIDENCE]
        counter = 2
        while name in self._taken:
            name = f"{base}-{counter}"
            counter += 1
        suggested, why = self._suggest(owner, departed)
        spec = discovered_charter(identity, name, suggested)
        insert_discovered(
            connection, spec, actor=self._actor, now=self._now, scope=self._batch.scope
        )
        self._taken.add(name)
        self._claims.owners[name] = suggested
        self._claims.discovered.add(name)
        self._claims.exact[identity.id.lower()] = name
        self._drafts.append(discovered_event(self._actor, name, identity, suggested, why))
        return name, SHADOW_CONFIDENCE, [SHADOW_EVIDENCE]

    # -- credentials --------------------------------------------------------------------
    def credentials(
        self,
        connection: Connection,
        records: Sequence[Credential],
        existing: Mapping[str, str | None],
    ) -> list[Credential]:
        fingerprints = sorted({c.fingerprint for c in records})
        elsewhere: dict[str, tuple[str, str]] = {}
        for fingerprint, agent, credential_id in self._attributed_elsewhere(
            connection, fingerprints
        ):
            elsewhere.setdefault(fingerprint, (agent, credential_id))
        wanted = sorted(
            {c.identity for c in records if c.identity and c.identity not in self._identity_agents}
        )
        stored: dict[str, str] = dict(self._identity_agents_stored(connection, wanted))
        return [self._credential(c, elsewhere, stored) for c in records]

    def _attributed_elsewhere(
        self, connection: Connection, fingerprints: list[str]
    ) -> list[tuple[str, str, str]]:
        """(fingerprint, agent, credential id) of live attributed credentials of other scopes."""
        if not fingerprints:
            return []
        if connection.dialect.name == "sqlite":
            # Raw SQL on the driver's cursor: compiling an IN of thousands of literals through
            # Core cost more than the lookups themselves. Same statement as below.
            out: list[tuple[str, str, str]] = []
            for start in range(0, len(fingerprints), 5000):  # within SQLite's parameter limit
                out += sqlite_in(
                    connection,
                    "SELECT fingerprint, agent, id FROM credentials WHERE fingerprint IN ",
                    fingerprints[start : start + 5000],
                    " AND agent IS NOT NULL AND gone_at IS NULL"
                    " AND NOT (source = ? AND account = ?)",
                    (self._batch.source, self._batch.account),
                )
            return out
        creds = schema.credentials
        return [
            (row.fingerprint, row.agent, row.id)
            for row in connection.execute(
                sa.select(creds.c.fingerprint, creds.c.agent, creds.c.id).where(
                    creds.c.fingerprint.in_(fingerprints),
                    creds.c.agent.is_not(None),
                    creds.c.gone_at.is_(None),
                    sa.not_(
                        sa.and_(
                            creds.c.source == self._batch.source,
                            creds.c.account == self._batch.account,
                        )
                    ),
                )
            )
        ]

    @staticmethod
    def _identity_agents_stored(connection: Connection, wanted: list[str]) -> list[tuple[str, str]]:
        """(identity id, agent) of stored identities among ``wanted`` that have an agent."""
        ids = schema.identities
        out: list[tuple[str, str]] = []
        for start in range(0, len(wanted), 1000):
            part = wanted[start : start + 1000]
            if connection.dialect.name == "sqlite":
                out += sqlite_in(
                    connection,
                    "SELECT id, agent FROM identities WHERE id IN ",
                    part,
                    " AND agent IS NOT NULL",
                )
            else:
                out += [
                    (found.id, found.agent)
                    for found in connection.execute(
                        sa.select(ids.c.id, ids.c.agent).where(
                            ids.c.id.in_(part), ids.c.agent.is_not(None)
                        )
                    )
                ]
        return out

    def _credential(
        self, credential: Credential, elsewhere: dict[str, tuple[str, str]], stored: dict[str, str]
    ) -> Credential:
        agent: str | None = None
        confidence = 0.0
        evidence: list[str] = []
        key_id = str(credential.properties.get("key_id") or "")
        hit = self._claims.lookup(credential.fingerprint, credential.id, key_id)
        if hit:
            agent, confidence = hit[0], hit[2]
            evidence.append(f"named in the charter of {agent}")
        elif credential.fingerprint in elsewhere:
            agent, other = elsewhere[credential.fingerprint]
            confidence = 0.9
            evidence.append(f"the same secret as {other}, which belongs to {agent}")
        elif credential.identity:
            local = self._identity_agents.get(credential.identity)
            if local:
                agent, confidence = local
            elif credential.identity in stored:
                agent, confidence = stored[credential.identity], 0.8
            if agent:
                evidence.append(f"a credential of {credential.identity}, which belongs to {agent}")
        if agent is None:
            return credential
        attribution = {
            "agent": {"name": agent, "confidence": round(confidence, 2), "evidence": evidence}
        }
        return dataclasses.replace(
            credential,
            agent=agent,
            properties={**credential.properties, "attribution": attribution},
        )

    def finish(self, connection: Connection) -> list[EventDraft]:
        if self._drafts:
            bump_version(connection, "charters")
        return list(self._drafts)
