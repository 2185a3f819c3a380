"""Read-only queries behind the console's governance pages: the overview's numbers,
findings, and access reviews.

Same rules as :mod:`charter.web.queries`: a bounded number of indexed queries
per page, aggregates in SQL, never one query per row. The governance tables
are read directly only where the governance services have no read that fits
(a filtered, paged list of finding ids; campaign progress counts; one review
item): every change still goes through ``services.governance``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from charter.domain.enums import AgentState, FindingStatus, Severity
from charter.store import console_schema as _indexes  # noqa: F401 - its indexes
from charter.store import schema
from charter.store.database import Database
from charter.store.governance_schema import findings as _F
from charter.store.governance_schema import review_campaigns as _RC
from charter.store.governance_schema import review_items as _RI
from charter.web.queries import PER_PAGE, Page, aware, owned, page_number

_A, _I, _C = schema.agents, schema.identities, schema.credentials
OPEN_STATUSES = (FindingStatus.OPEN.value, FindingStatus.ACKNOWLEDGED.value)


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
                sa.select(_A.c.state, sa.func.count()).where(*owned(owner)).group_by(_A.c.state)
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
        QueueItem(r.campaign, r.agent, r.reviewer, aware(r.due_at), dict(r.snapshot or {}))
        for r in rows
    ]
    return Page(items, total, page, per_page)


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
        CampaignRow(r.id, r.scope, r.status, aware(r.created_at), r.created_by,
                    aware(r.due_at), progress[r.id])
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
                   aware(row.due_at), row.decided_by, row.reason)  # fmt: skip
