"""Read-only queries behind the console's governance pages: the overview's numbers,
findings, and access reviews.

Same rules as :mod:`charter.services.console.queries`: a bounded number of indexed queries
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
from charter.domain.governance.finding import Finding
from charter.services.console.queries import COUNT_CAP, PER_PAGE, Page, aware, owned, page_number
from charter.services.console.summaries import EstateSummary, FindingSummary
from charter.services.governance.findings import row_to_finding
from charter.store import console_schema as _indexes  # noqa: F401 - its indexes
from charter.store import schema
from charter.store.database import Database
from charter.store.governance_schema import findings as _F
from charter.store.governance_schema import review_campaigns as _RC
from charter.store.governance_schema import review_items as _RI

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
    findings_as_of: dt.datetime | None  # when the finding counts were made
    findings_stale: bool  # a recount is under way
    secrets_this_week: int | None  # None while first counted
    credentials_expiring: int
    reviews_due: int
    identities_by_system: list[tuple[str, int]]


def overview(
    db: Database,
    findings: FindingSummary | None,
    estate: EstateSummary | None,
    *,
    now: dt.datetime,
    owner: str | None,
    days: int = 30,
) -> Overview:
    """Every number on the overview page, owner-scoped when ``owner`` is given.

    Finding counts come from the precomputed summary (``findings``; None while it
    is first being counted); the rest are indexed counts made here.
    """
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
        creds = _C.c.gone_at.is_(None)
        owned_creds = (
            [_C.c.agent.in_(sa.select(_A.c.name).where(_A.c.owner == owner))] if owner else []
        )
        secrets: int | None = None
        if owner:  # an owner's agents' credentials: a few, through the agent index
            secrets = int(
                connection.execute(
                    sa.select(sa.func.count())
                    .select_from(_C)
                    .where(_C.c.first_seen >= week_ago, creds, *owned_creds)
                ).scalar_one()
            )
        elif estate is not None:
            secrets = estate.found_this_week
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
        by_system: list[tuple[str, int]] = []
        if owner:
            by_system = sorted(
                (
                    (str(s), int(n))
                    for s, n in connection.execute(
                        sa.select(_I.c.system, sa.func.count())
                        .where(
                            _I.c.gone_at.is_(None),
                            _I.c.agent.in_(sa.select(_A.c.name).where(_A.c.owner == owner)),
                        )
                        .group_by(_I.c.system)
                    )
                ),
                key=lambda item: (-item[1], item[0]),
            )[:10]
        elif estate is not None:
            by_system = estate.identities_by_system
    days_since = [since + dt.timedelta(days=i) for i in range(days)]
    by_severity: dict[str, int] = {}
    by_rule: dict[str, int] = {}
    per_day: dict[str, int] = {}
    if findings is not None:
        if owner:
            by_severity, by_rule = findings.for_owner(owner)
        else:
            by_severity, by_rule = findings.by_severity, findings.by_rule
        per_day = findings.opened_per_day if owner is None else findings.for_owner_days(owner)
    return Overview(
        states={str(k): int(v) for k, v in states.items()},
        shadow=shadow,
        findings_by_severity=by_severity,
        findings_by_rule=by_rule,
        findings_per_day=[(day, per_day.get(day.isoformat(), 0)) for day in days_since],
        findings_as_of=findings.computed_at if findings else None,
        findings_stale=findings is None
        or findings.stale
        or (owner is None and (estate is None or estate.stale)),
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


#: With at most this many matches (by the summary), sort them all; else walk the index.
SORT_UP_TO = 20_000


def _estimate(query: FindingQuery, summary: FindingSummary | None) -> int | None:
    """How many findings match, from the summary, or None when it cannot say."""
    if summary is None or summary.stale or query.status is not None or query.system:
        return None
    guesses = []
    if query.rules:
        guesses.append(sum(summary.by_rule.get(r, 0) for r in query.rules))
    if query.severity:
        guesses.append(summary.by_severity.get(query.severity.value, 0))
    if query.owner:
        guesses.append(sum(summary.for_owner(query.owner)[0].values()))
    if query.agent:
        guesses.append(summary.by_agent.get(query.agent, 0))
    return min(guesses) if guesses else sum(summary.by_severity.values())


def finding_ids_page(
    db: Database,
    query: FindingQuery,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
    summary: FindingSummary | None = None,
) -> Page[str]:
    """The ids of one page of findings, worst first, then oldest first.

    Few matches (an agent's, an owner's, a rare rule's): count and sort them all.
    Many (millions, unfiltered): walk the ``(status, severity, id)`` index one
    severity and status at a time, each a range read in order, counting each
    range only up to :data:`COUNT_CAP` — so no page sorts millions of rows.
    """
    conditions: list[sa.ColumnElement[bool]] = []
    if query.rules:
        conditions.append(_F.c.rule.in_(query.rules))
    for column, value in (
        (_F.c.owner, query.owner),
        (_F.c.system, query.system),
        (_F.c.agent, query.agent),
    ):
        if value:
            conditions.append(column == str(value))
    statuses = [query.status.value] if query.status else list(OPEN_STATUSES)
    severities = [query.severity] if query.severity else list(reversed(Severity))
    offset = (page_number(page) - 1) * per_page
    estimate = _estimate(query, summary)
    selective = bool(query.agent or query.owner or query.system)
    # the summary knows each (status, severity, rule) bucket exactly unless stale
    known = summary is not None and not summary.stale and not selective
    with db.read() as connection:
        if selective or (estimate is not None and estimate <= SORT_UP_TO):
            where = [
                *conditions,
                _F.c.status.in_(statuses),
                _F.c.severity.in_([s.value for s in severities]),
            ]
            rank = sa.case(
                *((_F.c.severity == s.value, i) for i, s in enumerate(Severity)), else_=-1
            )
            total = int(
                connection.execute(
                    sa.select(sa.func.count()).select_from(_F).where(*where)
                ).scalar_one()
            )
            ids = list(
                connection.execute(
                    sa.select(_F.c.id)
                    .where(*where)
                    .order_by(rank.desc(), _F.c.id)
                    .limit(per_page)
                    .offset(offset)
                ).scalars()
            )
            return Page(ids, total, page, per_page)
        ids, total, capped = [], 0, False
        for severity in severities:
            for status in statuses:
                bucket = [*conditions, _F.c.status == status, _F.c.severity == severity.value]
                if known and summary is not None:
                    n = summary.bucket(status, severity.value, query.rules)
                else:
                    n = int(
                        connection.execute(
                            sa.select(sa.func.count()).select_from(
                                sa.select(_F.c.id).where(*bucket).limit(COUNT_CAP + 1).subquery()
                            )
                        ).scalar_one()
                    )
                    if n > COUNT_CAP:
                        n, capped = COUNT_CAP, True
                if n == 0:
                    continue
                total += n
                if offset >= n:
                    offset -= n
                    continue
                if len(ids) < per_page:
                    ids += list(
                        connection.execute(
                            sa.select(_F.c.id)
                            .where(*bucket)
                            .order_by(_F.c.id)
                            .limit(per_page - len(ids))
                            .offset(offset)
                        ).scalars()
                    )
                offset = 0
    return Page(ids, total, page, per_page, capped=capped)


def load_findings(db: Database, ids: list[str]) -> list[Finding]:
    """The findings with these ids, in this order (one query, not one per row)."""
    if not ids:
        return []
    with db.read() as connection:
        rows = {r.id: r for r in connection.execute(sa.select(_F).where(_F.c.id.in_(ids)))}
    return [row_to_finding(rows[i]) for i in ids if i in rows]


def finding_facets(summary: FindingSummary | None, *, owner: str | None) -> dict[str, list[str]]:
    """The values a findings filter can take (for the drop-downs), from the summary."""
    if summary is None:
        return {"rules": [], "systems": [], "owners": []}
    rules = summary.for_owner(owner)[1] if owner else summary.by_rule
    return {
        "rules": sorted(rules),
        "systems": sorted(summary.by_system)[:500],
        "owners": [] if owner else sorted(summary.by_owner)[:1000],
    }


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
        CampaignRow(
            r.id,
            r.scope,
            r.status,
            aware(r.created_at),
            r.created_by,
            aware(r.due_at),
            progress[r.id],
        )
        for r in rows
    ]


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
    return ItemRow(
        row.campaign,
        row.agent,
        row.reviewer,
        row.status,
        dict(row.snapshot or {}),
        aware(row.due_at),
        row.decided_by,
        row.reason,
    )
