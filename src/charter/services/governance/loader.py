"""Read the estate once, as facts for the rules (the only part of evaluation that queries).

Sized for large estates: people, agents and identities are held in memory
(hundreds of thousands of small records); credentials are streamed in chunks;
activity arrives pre-aggregated from the rollup (:mod:`.activity_facts`); rates for
runaway detection come from two time-bounded index scans. Gone rows (``gone_at``
set by reconciliation) are never evaluated.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.charter import CharterSpec
from charter.domain.enums import AgentState, IdentityKind, PersonStatus
from charter.domain.governance.facts import (
    AgentBrief,
    AgentFacts,
    CredentialBrief,
    CredentialFacts,
    GrantFacts,
    IdentityFacts,
    PersonFacts,
    RateWindow,
)
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.governance.prefilter import CredentialPrefilter
from charter.domain.moments import utc
from charter.services.governance.activity_facts import ActivityIndex, rates
from charter.services.governance.parsed_charters import parsed_charter
from charter.store import schema
from charter.store.governance_schema import review_items

logger = logging.getLogger("charter.governance")

_A, _V, _P = schema.agents, schema.charter_versions, schema.people
_I, _C, _G = schema.identities, schema.credentials, schema.grants
CREDENTIAL_CHUNK = 20000
#: the identity kind that may be a person's own account (an IAM user named after them)
PERSONAL_KIND = "cloud_user"
_REVIEWED = ("kept", "reduced", "revoked")
#: per agent: the last review, how many credentials, its first identities (see agent_extras)
AgentExtras = tuple[dict[str, Any], dict[str, int], dict[str, list[str]]]


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    return utc(moment) if moment is not None else None


def _time(value: Any) -> dt.datetime | None:
    """A time from a raw driver row: SQLite gives naive UTC text, PostgreSQL an aware datetime.

    Parsing the offset with the text is several times cheaper than ``replace(tzinfo=…)``,
    which matters at millions of rows.
    """
    if value is None:
        return None
    if isinstance(value, float):  # PostgreSQL: seconds since the epoch (see _times)
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str):
        if value.endswith("Z"):
            value = value[:-1]
        elif len(value) > 19 and value[-6] in "+-":
            return dt.datetime.fromisoformat(value)
        return dt.datetime.fromisoformat(value + "+00:00")
    if value.tzinfo is dt.UTC:
        return value  # type: ignore[no-any-return]
    # psycopg hands back ZoneInfo('Etc/UTC'): correct, but every later comparison and
    # subtraction then consults the zone database. A fixed UTC offset is many times faster.
    return utc(value)


def _times(connection: Connection, *columns: str) -> str:
    """Time columns for a raw select. PostgreSQL sends epoch seconds: a float decodes and
    converts several times faster than a timestamptz with its zone (millions of rows)."""
    if connection.dialect.name == "postgresql":
        return ", ".join(f"EXTRACT(EPOCH FROM {c})::float8" for c in columns)
    return ", ".join(columns)


def _json(value: Any, empty: Any) -> Any:
    """A JSON column from a raw driver row: SQLite gives text, PostgreSQL the parsed value."""
    if value is None:
        return empty
    if isinstance(value, str):
        return empty if value in ("{}", "[]", "") else json.loads(value)
    return value


class EstateReader:
    """Builds facts from one read transaction."""

    def __init__(
        self,
        connection: Connection,
        *,
        now: dt.datetime,
        policy: GovernancePolicy,
        activity: ActivityIndex,
    ) -> None:
        self.c = connection
        self.now = now
        self.policy = policy
        self.activity = activity
        self.agent_briefs: dict[str, AgentBrief] = {}
        self.identity_index: dict[str, tuple[str, str, str | None, str, str | None]] = {}

    # -- people ----------------------------------------------------------------------------
    def people(self) -> dict[str, PersonFacts]:
        rows = self.c.execute(sa.select(_P.c.email, _P.c.name, _P.c.status, _P.c.manager))
        return {
            row.email: PersonFacts(
                row.email, row.name, row.status == PersonStatus.ACTIVE.value, row.manager
            )
            for row in rows
        }

    # -- agents ----------------------------------------------------------------------------
    def rates(self) -> dict[str, RateWindow]:
        return rates(self.c, now=self.now, policy=self.policy)

    def agents(self) -> list[AgentFacts]:
        return self.agent_facts(self.load_agents(), self.rates())

    def load_agents(self) -> list[tuple[Any, CharterSpec | None]]:
        """Every agent row with its parsed charter; fills :attr:`agent_briefs` (what credential
        rules need), so credentials can be evaluated before activity is aggregated."""
        rows = self.c.execute(
            sa.select(_A, _V.c.document).join(
                _V, sa.and_(_V.c.agent == _A.c.name, _V.c.version == _A.c.charter_version)
            )
        ).all()
        loaded: list[tuple[Any, CharterSpec | None]] = []
        for row in rows:
            charter: CharterSpec | None
            try:
                charter = parsed_charter(row.name, row.charter_version, row.document)
            except ValueError:
                logger.warning("charter of %s does not validate; evaluated without it", row.name)
                charter = None
            self.agent_briefs[row.name] = AgentBrief(
                row.name,
                row.owner,
                AgentState(row.state),
                row.environment,
                charter.credentials.rotate_every if charter else None,
            )
            loaded.append((row, charter))
        return loaded

    def agent_facts(
        self,
        loaded: list[tuple[Any, CharterSpec | None]],
        rates: dict[str, RateWindow],
        extras: AgentExtras | None = None,
    ) -> list[AgentFacts]:
        """Agents' facts, with their activity (set :attr:`activity` first)."""
        reviewed, credentials, identities = extras or self.agent_extras()
        out: list[AgentFacts] = []
        for row, charter in loaded:
            state = AgentState(row.state)
            out.append(
                AgentFacts(
                    name=row.name,
                    owner=row.owner,
                    state=state,
                    origin=row.origin,
                    environment=row.environment,
                    created_at=utc(row.created_at),
                    updated_at=utc(row.updated_at),
                    expires=row.expires,
                    charter=charter,
                    charter_version=row.charter_version,
                    pending_owner=row.pending_owner,
                    pending_owner_since=_aware(row.pending_owner_since),
                    usage=tuple(self.activity.by_agent.get(row.name, ())),
                    rate=rates.get(row.name),
                    last_activity=self.activity.last_by_agent.get(row.name),
                    last_review=_aware(reviewed.get(row.name)),
                    credential_count=int(credentials.get(row.name, 0)),
                    identity_ids=tuple(identities.get(row.name, ())),
                )
            )
        return out

    def agent_extras(self) -> AgentExtras:
        """What agents' facts need besides activity: last reviews, credential counts, identities
        (read while the activity is still being aggregated)."""
        reviewed = dict(
            self.c.execute(
                sa.select(review_items.c.agent, sa.func.max(review_items.c.decided_at))
                .where(review_items.c.status.in_(_REVIEWED))
                .group_by(review_items.c.agent)
            ).all()
        )
        credentials: dict[str, int] = dict(
            self.c.execute(
                sa.select(_C.c.agent, sa.func.count())
                .where(_C.c.gone_at.is_(None), _C.c.agent.is_not(None))
                .group_by(_C.c.agent)
            ).all()
        )
        identities: dict[str, list[str]] = defaultdict(list)
        for agent, identity in self.c.execute(
            sa.select(_I.c.agent, _I.c.id)
            .where(_I.c.gone_at.is_(None), _I.c.agent.is_not(None))
            .order_by(_I.c.id)
        ):
            if len(identities[agent]) < 50:
                identities[agent].append(identity)
        return reviewed, credentials, identities

    # -- identities ------------------------------------------------------------------------
    def _grants(self) -> dict[str, list[GrantFacts]]:
        grants: dict[str, list[GrantFacts]] = defaultdict(list)
        rows = self._raw(
            "SELECT subject, id, system, resource, CAST(permissions AS TEXT), reason, "
            "CAST(properties AS TEXT) FROM grants "
            "WHERE gone_at IS NULL AND subject_type = 'identity'"
        )
        for subject, gid, system, resource, permissions, reason, properties in rows:
            grants[subject].append(
                GrantFacts(
                    gid,
                    system,
                    resource,
                    tuple(_json(permissions, ())),
                    reason,
                    _json(properties, {}),
                )
            )
        return grants

    def _raw(self, statement: str) -> Iterator[Any]:
        """Rows straight from the driver, streamed: the ORM-free path for big tables (SQLite
        hands back text for times and JSON, which :func:`_time`/:func:`_json` convert fast)."""
        result = self.c.execution_options(stream_results=True).exec_driver_sql(statement)
        for chunk in result.partitions(CREDENTIAL_CHUNK):
            yield from chunk

    def _passwords(self) -> dict[str, list[CredentialBrief]]:
        out: dict[str, list[CredentialBrief]] = defaultdict(list)
        rows = self.c.execute(
            sa.select(_C.c.id, _C.c.source, _C.c.account, _C.c.identity, _C.c.last_used_at).where(
                _C.c.gone_at.is_(None), _C.c.kind == "password", _C.c.identity.is_not(None)
            )
        )
        for cid, source, account, identity, last_used in rows:
            out[identity].append(
                CredentialBrief(
                    cid,
                    source,
                    account,
                    "password",
                    identity=identity,
                    last_used_at=_aware(last_used),
                )
            )
        return out

    def _tracked(self, table: sa.Table) -> set[tuple[str, str]]:
        """(source, kind) pairs for which some live record has a last use: usage is tracked."""
        return {
            (source, kind)
            for source, kind in self.c.execute(
                sa.select(table.c.source, table.c.kind)
                .where(table.c.last_used_at.is_not(None), table.c.gone_at.is_(None))
                .distinct()
            )
        }

    def _handles(self) -> dict[str, str]:
        """Account names that are a person: their e-mail and its local part."""
        handles: dict[str, str] = {}
        for (email,) in self.c.execute(sa.select(_P.c.email)):
            handles[email] = email
            handles.setdefault(email.split("@", 1)[0], email)
        return handles

    def identities(self) -> list[IdentityFacts]:
        return self.identity_facts(self.load_identities())

    def load_identities(self) -> list[tuple[Any, ...]]:
        """Every live identity row; fills :attr:`identity_index` (what credential rules need)."""
        rows = list(
            self._raw(
                "SELECT id, source, account, kind, name, system, native_id, owner, agent, "
                "ai_related, created_at, last_used_at, first_seen, CAST(properties AS TEXT), "
                "CAST(evidence AS TEXT) FROM identities WHERE gone_at IS NULL"
            )
        )
        for row in rows:
            self.identity_index[row[0]] = (row[3], row[4], row[7], row[5], row[8])
        return rows

    def identity_facts(self, loaded: list[tuple[Any, ...]]) -> list[IdentityFacts]:
        """Identities' facts, with their grants and activity (set :attr:`activity` first)."""
        return self.with_usage(self.identities_without_usage(loaded))

    def with_usage(self, facts: list[IdentityFacts]) -> list[IdentityFacts]:
        """``facts`` with each identity's activity (set :attr:`activity` first)."""
        by_identity = self.activity.by_identity
        if not by_identity:
            return facts
        return [
            replace(fact, usage=tuple(by_identity[fact.id])) if fact.id in by_identity else fact
            for fact in facts
        ]

    def identities_without_usage(self, loaded: list[tuple[Any, ...]]) -> list[IdentityFacts]:
        """Identities' facts with their grants but no activity yet (built while the activity is
        still being aggregated; :meth:`with_usage` adds it)."""
        grants = self._grants()
        passwords = self._passwords()
        tracked = self._tracked(_I)
        handles = self._handles()
        out: list[IdentityFacts] = []
        for (
            iid,
            source,
            account,
            kind,
            name,
            system,
            native_id,
            owner,
            agent,
            ai_related,
            created_at,
            last_used_at,
            first_seen,
            properties,
            evidence,
        ) in loaded:
            out.append(
                IdentityFacts(
                    id=iid,
                    source=source,
                    account=account,
                    kind=IdentityKind(kind),
                    name=name,
                    system=system,
                    native_id=native_id,
                    owner=owner,
                    agent=agent,
                    ai_related=bool(ai_related),
                    created_at=_time(created_at),
                    last_used_at=_time(last_used_at),
                    first_seen=_time(first_seen),
                    properties=_json(properties, {}),
                    evidence=tuple(_json(evidence, ())),
                    grants=tuple(grants.get(iid, ())),
                    passwords=tuple(passwords.get(iid, ())),
                    usage_tracked=(source, kind) in tracked,
                    person=handles.get(name.lower()) if kind == PERSONAL_KIND else None,
                )
            )
        return out

    # -- credentials -----------------------------------------------------------------------
    def shared_secrets(self) -> dict[str, tuple[CredentialBrief, ...]]:
        """Every fingerprint held by more than one live credential, with all its holders."""
        shared = (
            sa.select(_C.c.fingerprint)
            .where(_C.c.gone_at.is_(None))
            .group_by(_C.c.fingerprint)
            .having(sa.func.count() > 1)
        )
        rows = self.c.execute(
            sa.select(
                _C.c.fingerprint,
                _C.c.id,
                _C.c.source,
                _C.c.account,
                _C.c.kind,
                _C.c.agent,
                _C.c.identity,
                _C.c.last_used_at,
                _C.c.location,
            )
            .where(_C.c.gone_at.is_(None), _C.c.fingerprint.in_(shared))
            .order_by(_C.c.fingerprint, _C.c.id)
        )
        out: dict[str, list[CredentialBrief]] = defaultdict(list)
        for fp, cid, source, account, kind, agent, identity, last_used, location in rows:
            agent = agent or self._identity_agent(identity)
            brief = self.agent_briefs.get(agent) if agent else None
            out[fp].append(
                CredentialBrief(
                    cid,
                    source,
                    account,
                    kind,
                    agent,
                    identity,
                    brief.environment if brief else None,
                    _aware(last_used),
                    location,
                )
            )
        return {fp: tuple(holders) for fp, holders in out.items()}

    def _identity_agent(self, identity: str | None) -> str | None:
        known = self.identity_index.get(identity) if identity else None
        return known[4] if known else None

    def live_credentials(self) -> int:
        """How many live credentials there are (what an evaluation reports it looked at)."""
        return int(
            self.c.execute(
                sa.select(sa.func.count()).select_from(_C).where(_C.c.gone_at.is_(None))
            ).scalar_one()
        )

    def credentials(
        self, candidates: CredentialPrefilter | None = None
    ) -> Iterator[list[CredentialFacts]]:
        """Live credentials, in chunks (call after :meth:`load_identities`): all of them, or only
        those the ``candidates`` condition (:mod:`.prefilter`) holds for."""
        shared = self.shared_secrets()
        tracked = self._tracked(_C)
        times = _times(
            self.c, "created_at", "expires_at", "last_used_at", "last_rotated_at", "first_seen"
        )
        where, params = (f" AND {candidates.sql}", candidates.params) if candidates else ("", ())
        result = self.c.execution_options(stream_results=True).exec_driver_sql(
            "SELECT id, source, account, kind, provider, fingerprint, preview, identity, agent, "  # noqa: S608
            f"{times}, location, CAST(properties AS TEXT) FROM credentials "
            f"WHERE gone_at IS NULL{where}",
            params,
        )
        empty: tuple[CredentialBrief, ...] = ()
        index = self.identity_index
        for chunk in result.partitions(CREDENTIAL_CHUNK):
            out: list[CredentialFacts] = []
            for (
                cid,
                source,
                account,
                kind,
                provider,
                fingerprint,
                preview,
                identity,
                agent,
                created_at,
                expires_at,
                last_used_at,
                last_rotated_at,
                first_seen,
                location,
                properties,
            ) in chunk:
                known = index.get(identity) if identity else None
                out.append(
                    CredentialFacts(
                        cid,
                        source,
                        account,
                        kind,
                        provider,
                        fingerprint,
                        preview,
                        identity,
                        agent or (known[4] if known else None),
                        _time(created_at),
                        _time(expires_at),
                        _time(last_used_at),
                        _time(last_rotated_at),
                        _time(first_seen),
                        location,
                        _json(properties, {}),
                        known[0] if known else None,
                        known[1] if known else None,
                        known[2] if known else None,
                        known[3] if known else None,
                        shared.get(fingerprint, empty),
                        (source, kind) in tracked,
                    )
                )
            yield out
