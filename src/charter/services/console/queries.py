"""Read-only queries the console needs and no service offers (yet).

Each answers one page's question in a bounded number of indexed queries, never
one per row (no N+1): a page of agents is one query, then one query per
enrichment (systems reached, last activity, open findings) for the whole
page. Counts over the large estate tables use indexes (``credentials``:
``first_seen``/``expires_at``, added by migration ``0002_console_indexes``;
``identities.system``, ``activities(agent, time)``). Everything here reads; all
changes go through the services.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import Event
from charter.domain.decision import RecordedReason, recorded_reasons
from charter.domain.enums import AgentState, FindingStatus
from charter.domain.estate import SCANNER_SOURCE
from charter.errors import InvalidInput
from charter.services.shadow import ShadowAgent, shadow_agents
from charter.store import console_schema as _indexes  # noqa: F401 - its indexes
from charter.store import schema
from charter.store.database import Database
from charter.store.governance_schema import findings as _F

_A, _I, _C, _G = schema.agents, schema.identities, schema.credentials, schema.grants
_ACT, _E = schema.activities, schema.events
T = TypeVar("T")

PER_PAGE = 50
#: Count exactly up to here; beyond, a list says "10,000+" (and pages that far).
COUNT_CAP = 10_000
OPEN_STATUSES = (FindingStatus.OPEN.value, FindingStatus.ACKNOWLEDGED.value)
AGENT_SORTS = {
    "name": _A.c.name,
    "owner": _A.c.owner,
    "state": _A.c.state,
    "updated": _A.c.updated_at,
}


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
    capped: bool = False  # ``total`` is a lower bound ("10,000+")

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first(self) -> int:
        return 0 if not self.total else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def page_number(value: int) -> int:
    if value < 1 or value > 1_000_000:
        raise InvalidInput("page must be between 1 and 1000000", field="page")
    return value


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def owned(owner: str | None) -> list[sa.ColumnElement[bool]]:
    return [_A.c.owner == owner] if owner else []


# -- agents ------------------------------------------------------------------------------------
@dataclass(slots=True)
class AgentRow:
    name: str
    owner: str
    state: str
    purpose: str
    origin: str
    updated_at: dt.datetime | None
    systems: list[str] = field(default_factory=list)
    last_activity: dt.datetime | None = None
    open_findings: int = 0


def agents_page(
    db: Database,
    *,
    q: str = "",
    state: AgentState | None = None,
    owner: str | None = None,
    sort: str = "name",
    descending: bool = False,
    page: int = 1,
    per_page: int = PER_PAGE,
    open_findings: dict[str, int] | None = None,
) -> Page[AgentRow]:
    """A searchable, sortable page of agents with what each reaches and how it is doing.

    ``open_findings`` (agent → count, from the finding summary) is used when given;
    otherwise the page's agents are counted here.
    """
    if sort not in AGENT_SORTS:
        raise InvalidInput(f"sort by one of: {', '.join(AGENT_SORTS)}", field="sort")
    conditions = owned(owner)
    if state is not None:
        conditions.append(_A.c.state == state.value)
    if q.strip():
        pattern = _like(q.strip()[:200])
        conditions.append(
            sa.or_(
                _A.c.name.like(pattern, escape="\\"),
                _A.c.owner.like(pattern, escape="\\"),
                sa.func.lower(_A.c.purpose).like(pattern, escape="\\"),
            )
        )
    column = AGENT_SORTS[sort]
    order = [column.desc() if descending else column.asc(), _A.c.name]
    query = (
        sa.select(_A.c.name, _A.c.owner, _A.c.state, _A.c.purpose, _A.c.origin, _A.c.updated_at)
        .where(*conditions)
        .order_by(*order)
        .limit(per_page)
        .offset((page_number(page) - 1) * per_page)
    )
    with db.read() as connection:
        total = int(
            connection.execute(
                sa.select(sa.func.count()).select_from(_A).where(*conditions)
            ).scalar_one()
        )
        rows = [
            AgentRow(r.name, r.owner, r.state, r.purpose, r.origin, aware(r.updated_at))
            for r in connection.execute(query)
        ]
        names = [r.name for r in rows]
        systems = systems_reached(connection, names)
        last = last_activity(connection, names)
        counts = (
            open_findings
            if open_findings is not None
            else open_findings_by_agent(connection, names)
        )
    for row in rows:
        row.systems = systems.get(row.name, [])
        row.last_activity = last.get(row.name)
        row.open_findings = counts.get(row.name, 0)
    return Page(rows, total, page, per_page)


def systems_reached(connection: Connection, agents: Sequence[str]) -> dict[str, list[str]]:
    """The systems each agent's identities live in or hold grants on (two grouped queries)."""
    if not agents:
        return {}
    out: dict[str, set[str]] = {}
    live = [_I.c.agent.in_(agents), _I.c.gone_at.is_(None)]
    for agent, system in connection.execute(
        sa.select(_I.c.agent, _I.c.system).where(*live).group_by(_I.c.agent, _I.c.system)
    ):
        out.setdefault(agent, set()).add(system)
    for agent, system in connection.execute(
        sa.select(_I.c.agent, _G.c.system)
        .select_from(_I.join(_G, _G.c.subject == _I.c.id))
        .where(*live, _G.c.gone_at.is_(None))
        .group_by(_I.c.agent, _G.c.system)
    ):
        out.setdefault(agent, set()).add(system)
    for agent, system in connection.execute(  # credentials held without an identity
        sa.select(_C.c.agent, _G.c.system)
        .select_from(_C.join(_G, _G.c.subject == _C.c.id))
        .where(
            _C.c.agent.in_(agents),
            _C.c.identity.is_(None),
            _C.c.gone_at.is_(None),
            _G.c.gone_at.is_(None),
        )
        .group_by(_C.c.agent, _G.c.system)
    ):
        out.setdefault(agent, set()).add(system)
    return {agent: sorted(found) for agent, found in out.items()}


def last_activity(connection: Connection, agents: Sequence[str]) -> dict[str, dt.datetime]:
    if not agents:
        return {}
    rows = connection.execute(
        sa.select(_ACT.c.agent, sa.func.max(_ACT.c.time))
        .where(_ACT.c.agent.in_(agents))
        .group_by(_ACT.c.agent)
    )
    return {agent: moment for agent, raw in rows if (moment := aware(raw)) is not None}


def open_findings_by_agent(connection: Connection, agents: Sequence[str]) -> dict[str, int]:
    if not agents:
        return {}
    rows = connection.execute(
        sa.select(_F.c.agent, sa.func.count())
        .where(_F.c.agent.in_(agents), _F.c.status.in_(OPEN_STATUSES))
        .group_by(_F.c.agent)
    )
    return {agent: int(n) for agent, n in rows}


# -- credentials -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CredentialRow:
    id: str
    kind: str
    provider: str
    preview: str
    agent: str | None
    identity: str | None
    location: str | None
    source: str
    first_seen: dt.datetime | None
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None


def _credential_row(r: Any) -> CredentialRow:
    """A credentials-table row as the console lists it (the page and the recent list alike)."""
    return CredentialRow(
        r.id,
        r.kind,
        r.provider,
        r.preview,
        r.agent,
        r.identity,
        r.location,
        r.source,
        aware(r.first_seen),
        aware(r.expires_at),
        aware(r.last_used_at),
    )


def credentials_page(
    db: Database,
    *,
    agent: str | None = None,
    owner: str | None = None,
    found_since: dt.datetime | None = None,
    expiring: tuple[dt.datetime, dt.datetime] | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    known_total: int | None = None,
) -> Page[CredentialRow]:
    """A page of live credentials; the total is counted up to :data:`COUNT_CAP`
    (beyond, "10,000+") unless the caller knows it (``known_total``)."""
    conditions: list[sa.ColumnElement[bool]] = [_C.c.gone_at.is_(None)]
    if agent:
        conditions.append(_C.c.agent == agent)
    if owner:
        conditions.append(_C.c.agent.in_(sa.select(_A.c.name).where(_A.c.owner == owner)))
    order: sa.ColumnElement[Any] = _C.c.id
    if found_since is not None:
        conditions.append(_C.c.first_seen >= found_since)
        order = _C.c.first_seen.desc()
    if expiring is not None:
        conditions += [_C.c.expires_at >= expiring[0], _C.c.expires_at <= expiring[1]]
        order = _C.c.expires_at
    capped = False
    with db.read() as connection:
        if known_total is not None:
            total = known_total
        else:
            total = int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(
                        sa.select(_C.c.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
                    )
                ).scalar_one()
            )
            if total > COUNT_CAP:
                total, capped = COUNT_CAP, True
        rows = connection.execute(
            sa.select(
                _C.c.id,
                _C.c.kind,
                _C.c.provider,
                _C.c.preview,
                _C.c.agent,
                _C.c.identity,
                _C.c.location,
                _C.c.source,
                _C.c.first_seen,
                _C.c.expires_at,
                _C.c.last_used_at,
            )
            .where(*conditions)
            .order_by(order, _C.c.id)
            .limit(per_page)
            .offset((page_number(page) - 1) * per_page)
        ).all()
    items = [_credential_row(r) for r in rows]
    return Page(items, total, page, per_page, capped=capped)


# -- decisions (activity) ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DecisionRow:
    time: dt.datetime | None
    action: str
    resource: str
    allowed: bool | None
    on_behalf_of: str | None
    reasons: tuple[RecordedReason, ...]
    source: str


def recent_decisions(db: Database, agent: str, *, limit: int = 20) -> list[DecisionRow]:
    with db.read() as connection:
        rows = connection.execute(
            sa.select(
                _ACT.c.time,
                _ACT.c.action,
                _ACT.c.resource,
                _ACT.c.allowed,
                _ACT.c.on_behalf_of,
                _ACT.c.reasons,
                _ACT.c.source,
            )
            .where(_ACT.c.agent == agent)
            .order_by(_ACT.c.time.desc())
            .limit(limit)
        ).all()
    return [
        DecisionRow(
            aware(r.time),
            r.action,
            r.resource,
            r.allowed,
            r.on_behalf_of,
            recorded_reasons(r.reasons),
            r.source,
        )
        for r in rows
    ]


# -- audit -------------------------------------------------------------------------------------
def events_page(
    db: Database,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    before: int | None = None,
    limit: int = PER_PAGE,
) -> tuple[list[Event], int | None]:
    """Newest first; returns the page and the ``before`` cursor of the next (older) page."""
    conditions: list[sa.ColumnElement[bool]] = []
    if actor:
        conditions.append(_E.c.actor == actor)
    if action:
        if action.endswith("."):  # a family, e.g. "agent."
            conditions.append(_E.c.action.like(_like(action).lstrip("%"), escape="\\"))
        else:
            conditions.append(_E.c.action == action)
    if target:
        conditions.append(_E.c.target == target)
    if before is not None:
        conditions.append(_E.c.seq < before)
    with db.read() as connection:
        rows = connection.execute(
            sa.select(_E).where(*conditions).order_by(_E.c.seq.desc()).limit(limit + 1)
        ).all()
    items = [Event(**row._mapping) for row in rows[:limit]]
    cursor = items[-1].seq if len(rows) > limit and items else None
    return items, cursor


def event_actions(db: Database) -> list[str]:
    with db.read() as connection:
        return sorted(connection.execute(sa.select(_E.c.action).distinct().limit(500)).scalars())


# -- shadow AI ---------------------------------------------------------------------------------
def shadow_page(db: Database, *, page: int = 1, per_page: int = 20) -> Page[ShadowAgent]:
    """Shadow agents awaiting adoption, a page at a time, with their identities (4 queries)."""
    conditions = [_A.c.origin == "discovered", _A.c.state == AgentState.DISCOVERED.value]
    with db.read() as connection:
        total = int(
            connection.execute(
                sa.select(sa.func.count()).select_from(_A).where(*conditions)
            ).scalar_one()
        )
        agents = connection.execute(
            sa.select(_A.c.name, _A.c.owner, _A.c.purpose, _A.c.created_at)
            .where(*conditions)
            .order_by(_A.c.created_at.desc(), _A.c.name)
            .limit(per_page)
            .offset((page_number(page) - 1) * per_page)
        ).all()
        rows = shadow_agents(connection, agents)
    return Page(rows, total, page, per_page)


def unclaimed_ai_credentials(
    db: Database, providers: frozenset[str], *, limit: int = 50
) -> list[CredentialRow]:
    """AI-provider secrets the scanner found that no agent claims (newest first)."""
    normalised = sa.func.lower(sa.func.replace(sa.func.replace(_C.c.provider, " ", ""), "-", ""))
    wanted = sorted({p.replace("-", "").replace(" ", "").lower() for p in providers})
    with db.read() as connection:
        rows = connection.execute(
            sa.select(
                _C.c.id,
                _C.c.kind,
                _C.c.provider,
                _C.c.preview,
                _C.c.agent,
                _C.c.identity,
                _C.c.location,
                _C.c.source,
                _C.c.first_seen,
                _C.c.expires_at,
                _C.c.last_used_at,
            )
            .where(
                _C.c.source == SCANNER_SOURCE,
                _C.c.agent.is_(None),
                _C.c.gone_at.is_(None),
                normalised.in_(wanted),
            )
            .order_by(_C.c.first_seen.desc(), _C.c.id)
            .limit(limit)
        ).all()
    return [_credential_row(r) for r in rows]


def allowed_activity(
    db: Database, agent: str, *, since: dt.datetime, limit: int = 1000
) -> list[tuple[str, str, int]]:
    """Distinct (action, resource) the agent was allowed since ``since``, with counts."""
    with db.read() as connection:
        rows = connection.execute(
            sa.select(_ACT.c.action, _ACT.c.resource, sa.func.count())
            .where(_ACT.c.agent == agent, _ACT.c.time >= since, _ACT.c.allowed.is_(True))
            .group_by(_ACT.c.action, _ACT.c.resource)
            .order_by(sa.func.count().desc())
            .limit(limit)
        ).all()
    return [(str(a), str(r), int(n)) for a, r, n in rows]


def agent_names(db: Database, *, owner: str | None, limit: int = 500) -> list[str]:
    query = sa.select(_A.c.name).where(_A.c.state != AgentState.DECOMMISSIONED.value)
    if owner:
        query = query.where(_A.c.owner == owner)
    with db.read() as connection:
        return list(connection.execute(query.order_by(_A.c.name).limit(limit)).scalars())
