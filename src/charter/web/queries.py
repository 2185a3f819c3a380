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

from charter.domain.enums import AgentState, FindingStatus, Severity
from charter.errors import InvalidInput
from charter.store import schema
from charter.store.database import Database
from charter.store.governance_schema import findings as _F
from charter.store.governance_schema import review_campaigns as _RC
from charter.store.governance_schema import review_items as _RI

_A, _I, _C, _G = schema.agents, schema.identities, schema.credentials, schema.grants
_ACT, _E = schema.activities, schema.events
T = TypeVar("T")

PER_PAGE = 50
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


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def _owned(owner: str | None) -> list[sa.ColumnElement[bool]]:
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
) -> Page[AgentRow]:
    """A searchable, sortable page of agents with what each reaches and how it is doing."""
    if sort not in AGENT_SORTS:
        raise InvalidInput(f"sort by one of: {', '.join(AGENT_SORTS)}", field="sort")
    conditions = _owned(owner)
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
            AgentRow(r.name, r.owner, r.state, r.purpose, r.origin, _aware(r.updated_at))
            for r in connection.execute(query)
        ]
        names = [r.name for r in rows]
        systems = systems_reached(connection, names)
        last = last_activity(connection, names)
        counts = open_findings_by_agent(connection, names)
    for row in rows:
        row.systems = systems.get(row.name, [])
        row.last_activity = last.get(row.name)
        row.open_findings = counts.get(row.name, 0)
    return Page(rows, total, page, per_page)


def systems_reached(connection: Connection, agents: Sequence[str]) -> dict[str, list[str]]:
    """Which systems each agent's identities and credentials hold grants on (3 queries)."""
    if not agents:
        return {}
    subjects: dict[str, str] = {}
    for subject, agent in connection.execute(
        sa.select(_I.c.id, _I.c.agent).where(_I.c.agent.in_(agents), _I.c.gone_at.is_(None))
    ):
        subjects[subject] = agent
    for subject, agent in connection.execute(
        sa.select(_C.c.id, _C.c.agent).where(_C.c.agent.in_(agents), _C.c.gone_at.is_(None))
    ):
        subjects[subject] = agent
    out: dict[str, set[str]] = {}
    ids = list(subjects)
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for subject, system in connection.execute(
            sa.select(_G.c.subject, _G.c.system)
            .where(_G.c.subject.in_(chunk), _G.c.gone_at.is_(None))
            .distinct()
        ):
            out.setdefault(subjects[subject], set()).add(system)
    return {agent: sorted(found) for agent, found in out.items()}


def last_activity(connection: Connection, agents: Sequence[str]) -> dict[str, dt.datetime]:
    if not agents:
        return {}
    rows = connection.execute(
        sa.select(_ACT.c.agent, sa.func.max(_ACT.c.time))
        .where(_ACT.c.agent.in_(agents))
        .group_by(_ACT.c.agent)
    )
    return {agent: moment for agent, raw in rows if (moment := _aware(raw)) is not None}


def open_findings_by_agent(connection: Connection, agents: Sequence[str]) -> dict[str, int]:
    if not agents:
        return {}
    rows = connection.execute(
        sa.select(_F.c.agent, sa.func.count())
        .where(_F.c.agent.in_(agents), _F.c.status.in_(OPEN_STATUSES))
        .group_by(_F.c.agent)
    )
    return {agent: int(n) for agent, n in rows}


# -- the overview ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Overview:
    states: dict[str, int]
    shadow: int
    findings_by_severity: dict[str, int]
    findings_by_rule: dict[str, int]
    findings_per_day: list[tuple[dt.date, int]]
    secrets_this_week: int
    credentials_expiring: int
    reviews_due: int
    identities_by_system: list[tuple[str, int]]


def overview(db: Database, *, now: dt.datetime, owner: str | None, days: int = 30) -> Overview:
    """Every number on the overview page, owner-scoped when ``owner`` is given."""
    week_ago = now - dt.timedelta(days=7)
    soon = now + dt.timedelta(days=30)
    since = (now - dt.timedelta(days=days - 1)).date()
    with db.read() as connection:
        states: dict[Any, Any] = dict(
            connection.execute(
                sa.select(_A.c.state, sa.func.count()).where(*_owned(owner)).group_by(_A.c.state)
            ).all()
        )
        shadow = 0
        if owner is None:
            shadow = int(
                connection.execute(
                    sa.select(sa.func.count())
                    .select_from(_A)
                    .where(_A.c.origin == "discovered", _A.c.state == AgentState.DISCOVERED.value)
                ).scalar_one()
            )
        finding_scope: list[sa.ColumnElement[bool]] = [_F.c.status.in_(OPEN_STATUSES)]
        if owner:
            finding_scope.append(_F.c.owner == owner)
        by_severity: dict[Any, Any] = dict(
            connection.execute(
                sa.select(_F.c.severity, sa.func.count())
                .where(*finding_scope)
                .group_by(_F.c.severity)
            ).all()
        )
        by_rule: dict[Any, Any] = dict(
            connection.execute(
                sa.select(_F.c.rule, sa.func.count()).where(*finding_scope).group_by(_F.c.rule)
            ).all()
        )
        day = sa.func.date(_F.c.first_seen)
        opened = (
            sa.select(day, sa.func.count())
            .where(_F.c.first_seen >= dt.datetime.combine(since, dt.time(), tzinfo=dt.UTC))
            .group_by(day)
        )
        if owner:
            opened = opened.where(_F.c.owner == owner)
        per_day: dict[dt.date, int] = {}
        for raw_day, n in connection.execute(opened):
            parsed = (
                raw_day if isinstance(raw_day, dt.date) else dt.date.fromisoformat(str(raw_day))
            )
            per_day[parsed] = per_day.get(parsed, 0) + int(n)
        creds = _C.c.gone_at.is_(None)
        owned_creds = (
            [_C.c.agent.in_(sa.select(_A.c.name).where(_A.c.owner == owner))] if owner else []
        )
        secrets = int(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(_C)
                .where(_C.c.first_seen >= week_ago, creds, *owned_creds)
            ).scalar_one()
        )  # fmt: skip
        expiring = int(
            connection.execute(
                sa.select(sa.func.count())
                .select_from(_C)
                .where(_C.c.expires_at >= now, _C.c.expires_at <= soon, creds, *owned_creds)
            ).scalar_one()
        )
        due = sa.select(sa.func.count()).select_from(_RI.join(_RC, _RC.c.id == _RI.c.campaign))
        due = due.where(_RI.c.status == "pending", _RC.c.status == "open")
        if owner:
            due = due.where(_RI.c.reviewer == owner)
        reviews_due = int(connection.execute(due).scalar_one())
        systems_query = sa.select(_I.c.system, sa.func.count()).where(_I.c.gone_at.is_(None))
        if owner:
            systems_query = systems_query.where(
                _I.c.agent.in_(sa.select(_A.c.name).where(_A.c.owner == owner))
            )
        by_system = sorted(
            ((str(s), int(n)) for s, n in connection.execute(systems_query.group_by(_I.c.system))),
            key=lambda item: (-item[1], item[0]),
        )[:10]
    return Overview(
        states={str(k): int(v) for k, v in states.items()},
        shadow=shadow,
        findings_by_severity={str(k): int(v) for k, v in by_severity.items()},
        findings_by_rule={str(k): int(v) for k, v in by_rule.items()},
        findings_per_day=[
            (since + dt.timedelta(days=i), per_day.get(since + dt.timedelta(days=i), 0))
            for i in range(days)
        ],
        secrets_this_week=secrets,
        credentials_expiring=expiring,
        reviews_due=reviews_due,
        identities_by_system=by_system,
    )


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


def credentials_page(
    db: Database,
    *,
    agent: str | None = None,
    owner: str | None = None,
    found_since: dt.datetime | None = None,
    expiring: tuple[dt.datetime, dt.datetime] | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Page[CredentialRow]:
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
    with db.read() as connection:
        total = int(
            connection.execute(
                sa.select(sa.func.count()).select_from(_C).where(*conditions)
            ).scalar_one()
        )
        rows = connection.execute(
            sa.select(_C.c.id, _C.c.kind, _C.c.provider, _C.c.preview, _C.c.agent,
                      _C.c.identity, _C.c.location, _C.c.source, _C.c.first_seen,
                      _C.c.expires_at, _C.c.last_used_at)
            .where(*conditions)
            .order_by(order, _C.c.id)
            .limit(per_page)
            .offset((page_number(page) - 1) * per_page)
        ).all()  # fmt: skip
    items = [
        CredentialRow(r.id, r.kind, r.provider, r.preview, r.agent, r.identity, r.location,
                      r.source, _aware(r.first_seen), _aware(r.expires_at),
                      _aware(r.last_used_at))
        for r in rows
    ]  # fmt: skip
    return Page(items, total, page, per_page)


# -- decisions (activity) ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DecisionRow:
    time: dt.datetime | None
    action: str
    resource: str
    allowed: bool | None
    on_behalf_of: str | None
    reasons: list[dict[str, Any]]
    source: str


def recent_decisions(db: Database, agent: str, *, limit: int = 20) -> list[DecisionRow]:
    with db.read() as connection:
        rows = connection.execute(
            sa.select(_ACT.c.time, _ACT.c.action, _ACT.c.resource, _ACT.c.allowed,
                      _ACT.c.on_behalf_of, _ACT.c.reasons, _ACT.c.source)
            .where(_ACT.c.agent == agent)
            .order_by(_ACT.c.time.desc())
            .limit(limit)
        ).all()  # fmt: skip
    out = []
    for r in rows:
        reasons = r.reasons if isinstance(r.reasons, list) else []
        out.append(DecisionRow(_aware(r.time), r.action, r.resource, r.allowed, r.on_behalf_of,
                               [x for x in reasons if isinstance(x, dict)], r.source))  # fmt: skip
    return out


# -- findings ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FindingQuery:
    rules: tuple[str, ...] = ()  # any of these rule ids (an OWASP id expands to its rules)
    severity: Severity | None = None
    status: FindingStatus | None = None  # None: open and acknowledged
    owner: str | None = None
    system: str | None = None
    agent: str | None = None


def finding_ids_page(
    db: Database, query: FindingQuery, *, page: int = 1, per_page: int = PER_PAGE
) -> Page[str]:
    """The ids of one page of findings, worst first (the service loads each by id)."""
    conditions: list[sa.ColumnElement[bool]] = []
    if query.status is None:
        conditions.append(_F.c.status.in_(OPEN_STATUSES))
    else:
        conditions.append(_F.c.status == query.status.value)
    if query.rules:
        conditions.append(_F.c.rule.in_(query.rules))
    for column, value in ((_F.c.severity, query.severity), (_F.c.owner, query.owner),
                          (_F.c.system, query.system), (_F.c.agent, query.agent)):  # fmt: skip
        if value:
            conditions.append(column == str(value))
    rank = sa.case(*((_F.c.severity == s.value, i) for i, s in enumerate(Severity)), else_=-1)
    with db.read() as connection:
        total = int(
            connection.execute(
                sa.select(sa.func.count()).select_from(_F).where(*conditions)
            ).scalar_one()
        )
        ids = list(
            connection.execute(
                sa.select(_F.c.id)
                .where(*conditions)
                .order_by(rank.desc(), _F.c.last_changed.desc(), _F.c.id)
                .limit(per_page)
                .offset((page_number(page) - 1) * per_page)
            ).scalars()
        )
    return Page(ids, total, page, per_page)


def finding_facets(db: Database, *, owner: str | None) -> dict[str, list[str]]:
    """The values a findings filter can take (for the drop-downs)."""
    scope = [_F.c.owner == owner] if owner else []
    with db.read() as connection:
        rules = list(connection.execute(sa.select(_F.c.rule).where(*scope).distinct()).scalars())
        systems = list(
            connection.execute(
                sa.select(_F.c.system).where(_F.c.system.is_not(None), *scope).distinct().limit(200)
            ).scalars()
        )
        owners = [] if owner else list(
            connection.execute(
                sa.select(_F.c.owner).where(_F.c.owner.is_not(None)).distinct().limit(500)
            ).scalars()
        )  # fmt: skip
    return {"rules": sorted(rules), "systems": sorted(systems), "owners": sorted(owners)}


# -- audit -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EventRow:
    seq: int
    time: str
    actor: str
    action: str
    target_type: str
    target: str
    summary: str


def events_page(
    db: Database,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    before: int | None = None,
    limit: int = PER_PAGE,
) -> tuple[list[EventRow], int | None]:
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
            sa.select(_E.c.seq, _E.c.time, _E.c.actor, _E.c.action, _E.c.target_type,
                      _E.c.target, _E.c.summary)
            .where(*conditions)
            .order_by(_E.c.seq.desc())
            .limit(limit + 1)
        ).all()  # fmt: skip
    items = [EventRow(*row) for row in rows[:limit]]
    cursor = items[-1].seq if len(rows) > limit and items else None
    return items, cursor


def event_actions(db: Database) -> list[str]:
    with db.read() as connection:
        return sorted(connection.execute(sa.select(_E.c.action).distinct().limit(500)).scalars())


# -- shadow AI ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ShadowIdentityRow:
    id: str
    source: str
    account: str
    kind: str
    name: str
    system: str
    last_used_at: dt.datetime | None
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ShadowRow:
    name: str
    suggested_owner: str
    purpose: str
    discovered_at: dt.datetime | None
    identities: list[ShadowIdentityRow]


def shadow_page(db: Database, *, page: int = 1, per_page: int = 20) -> Page[ShadowRow]:
    """Shadow agents awaiting adoption, a page at a time, with their identities (2 queries)."""
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
        names = [a.name for a in agents]
        by_agent: dict[str, list[ShadowIdentityRow]] = {n: [] for n in names}
        if names:
            for r in connection.execute(
                sa.select(_I.c.id, _I.c.source, _I.c.account, _I.c.kind, _I.c.name, _I.c.system,
                          _I.c.last_used_at, _I.c.evidence, _I.c.agent)
                .where(_I.c.agent.in_(names), _I.c.gone_at.is_(None))
                .order_by(_I.c.id)
            ):  # fmt: skip
                by_agent[r.agent].append(
                    ShadowIdentityRow(
                        r.id,
                        r.source,
                        r.account,
                        r.kind,
                        r.name,
                        r.system,
                        _aware(r.last_used_at),
                        tuple(r.evidence or ()),
                    )
                )
    rows = [
        ShadowRow(a.name, a.owner, a.purpose, _aware(a.created_at), by_agent[a.name])
        for a in agents
    ]
    return Page(rows, total, page, per_page)


def unclaimed_ai_credentials(
    db: Database, providers: frozenset[str], *, limit: int = 50
) -> list[CredentialRow]:
    """AI-provider secrets the scanner found that no agent claims (newest first)."""
    normalised = sa.func.lower(sa.func.replace(sa.func.replace(_C.c.provider, " ", ""), "-", ""))
    wanted = sorted({p.replace("-", "").replace(" ", "").lower() for p in providers})
    with db.read() as connection:
        rows = connection.execute(
            sa.select(_C.c.id, _C.c.kind, _C.c.provider, _C.c.preview, _C.c.agent,
                      _C.c.identity, _C.c.location, _C.c.source, _C.c.first_seen,
                      _C.c.expires_at, _C.c.last_used_at)
            .where(_C.c.source == "fs", _C.c.agent.is_(None), _C.c.gone_at.is_(None),
                   normalised.in_(wanted))
            .order_by(_C.c.first_seen.desc(), _C.c.id)
            .limit(limit)
        ).all()  # fmt: skip
    return [
        CredentialRow(r.id, r.kind, r.provider, r.preview, r.agent, r.identity, r.location,
                      r.source, _aware(r.first_seen), _aware(r.expires_at),
                      _aware(r.last_used_at))
        for r in rows
    ]  # fmt: skip


# -- reviews -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QueueItem:
    campaign: str
    agent: str
    reviewer: str
    due_at: dt.datetime | None
    snapshot: dict[str, Any]


def review_queue(
    db: Database, *, reviewer: str | None, page: int = 1, per_page: int = PER_PAGE
) -> Page[QueueItem]:
    """Pending review items in open campaigns, soonest due first (all, or one reviewer's)."""
    conditions = [_RI.c.status == "pending", _RC.c.status == "open"]
    if reviewer:
        conditions.append(_RI.c.reviewer == reviewer)
    joined = _RI.join(_RC, _RC.c.id == _RI.c.campaign)
    with db.read() as connection:
        total = int(
            connection.execute(
                sa.select(sa.func.count()).select_from(joined).where(*conditions)
            ).scalar_one()
        )
        rows = connection.execute(
            sa.select(_RI.c.campaign, _RI.c.agent, _RI.c.reviewer, _RC.c.due_at, _RI.c.snapshot)
            .select_from(joined)
            .where(*conditions)
            .order_by(_RC.c.due_at, _RI.c.agent)
            .limit(per_page)
            .offset((page_number(page) - 1) * per_page)
        ).all()
    items = [
        QueueItem(r.campaign, r.agent, r.reviewer, _aware(r.due_at), dict(r.snapshot or {}))
        for r in rows
    ]
    return Page(items, total, page, per_page)


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


@dataclass(frozen=True, slots=True)
class CampaignRow:
    id: str
    scope: str
    status: str
    created_at: dt.datetime | None
    created_by: str
    due_at: dt.datetime | None
    progress: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.progress.values())

    @property
    def done(self) -> int:
        return self.total - self.progress.get("pending", 0)


def campaigns(db: Database, *, limit: int = 20) -> list[CampaignRow]:
    """Recent review campaigns with their progress (2 queries, however many items)."""
    with db.read() as connection:
        rows = connection.execute(
            sa.select(_RC).order_by(_RC.c.created_at.desc(), _RC.c.id).limit(limit)
        ).all()
        ids = [r.id for r in rows]
        progress: dict[str, dict[str, int]] = {i: {} for i in ids}
        if ids:
            for campaign, status, n in connection.execute(
                sa.select(_RI.c.campaign, _RI.c.status, sa.func.count())
                .where(_RI.c.campaign.in_(ids))
                .group_by(_RI.c.campaign, _RI.c.status)
            ):
                progress[campaign][status] = int(n)
    return [
        CampaignRow(r.id, r.scope, r.status, _aware(r.created_at), r.created_by,
                    _aware(r.due_at), progress[r.id])
        for r in rows
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class ItemRow:
    campaign: str
    agent: str
    reviewer: str
    status: str
    snapshot: dict[str, Any]
    due_at: dt.datetime | None
    decided_by: str | None
    reason: str | None


def review_item(db: Database, campaign: str, agent: str) -> ItemRow | None:
    with db.read() as connection:
        row = connection.execute(
            sa.select(_RI, _RC.c.due_at)
            .select_from(_RI.join(_RC, _RC.c.id == _RI.c.campaign))
            .where(_RI.c.campaign == campaign, _RI.c.agent == agent)
        ).first()
    if row is None:
        return None
    return ItemRow(row.campaign, row.agent, row.reviewer, row.status, dict(row.snapshot or {}),
                   _aware(row.due_at), row.decided_by, row.reason)  # fmt: skip
