"""The console's read queries on the sample estate, SQLite and PostgreSQL.

The big-estate paths (the precomputed summary, the index walk of findings, the
capped counts) are exercised here on a small store by turning their thresholds
down, and must give exactly what the plain queries give.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from charter.domain.charter_parsing import parse_charter_text
from charter.domain.enums import FindingStatus, Severity
from charter.services.clock import FixedClock
from charter.services.console import governance_queries, queries, summaries
from charter.services.console.governance_queries import FindingQuery
from charter.services.console.summaries import Summaries
from charter.services.context import Services
from charter.services.people import parse_directory
from charter.store.governance_schema import findings as F

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def estate(services: Services) -> Services:
    people = (EXAMPLES / "people.json").read_bytes()
    services.people.import_records(parse_directory(people, filename="people.json"), actor="t")
    for path in sorted((EXAMPLES / "agents").glob("*.yaml")):
        services.registry.register(parse_charter_text(path.read_bytes()), actor="t")
    report = services.estate.ingest.ingest_tree(EXAMPLES / "estate", actor="t")
    assert report.ok, report.failures
    services.governance.evaluation.evaluate(actor="t")
    return services


def _all_ids(services: Services, query: FindingQuery, summary: object, per_page: int) -> list[str]:
    out: list[str] = []
    page = 1
    while True:
        got = governance_queries.finding_ids_page(
            services.db,
            query,
            page=page,
            per_page=per_page,
            summary=summary,  # type: ignore[arg-type]
        )
        out += got.items
        if page >= got.pages:
            return out
        page += 1


def test_the_summary_counts_what_the_table_holds(estate: Services) -> None:
    summary = Summaries(estate.db, estate.clock).findings()
    assert summary is not None and not summary.stale
    with estate.db.read() as connection:
        open_ = F.c.status.in_(["open", "acknowledged"])
        total = connection.execute(sa.select(sa.func.count()).where(open_)).scalar_one()
        agents = dict(
            connection.execute(
                sa.select(F.c.agent, sa.func.count())
                .where(open_, F.c.agent.is_not(None))
                .group_by(F.c.agent)
            ).all()
        )
    assert total > 50 and sum(summary.by_severity.values()) == total
    assert sum(summary.by_rule.values()) == total
    assert summary.by_agent == agents
    assert sum(summary.opened_per_day.values()) >= total
    # a person's change moves the version: the next read recounts (small table: at once)
    first = estate.governance.findings.list(limit=1)[0][0]
    estate.governance.findings.suppress(
        first.id, actor="t", reason="known", until=estate.clock.now() + dt.timedelta(days=3)
    )
    after = Summaries(estate.db, estate.clock).findings()
    assert after is not None and after.version != summary.version
    assert sum(after.by_severity.values()) == total - 1


def test_the_index_walk_pages_like_the_plain_sort(
    estate: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = Summaries(estate.db, estate.clock).findings()
    assert summary is not None
    plain = _all_ids(estate, FindingQuery(), summary, per_page=7)
    rank = {s.value: i for i, s in enumerate(reversed(Severity))}
    with estate.db.read() as connection:
        rows = {r.id: r for r in connection.execute(sa.select(F.c.id, F.c.severity, F.c.status))}
    assert len(plain) == sum(summary.by_severity.values()) == len(set(plain))
    assert [rank[rows[i].severity] for i in plain] == sorted(rank[rows[i].severity] for i in plain)
    monkeypatch.setattr(governance_queries, "SORT_UP_TO", 0)  # as if there were millions
    walked = _all_ids(estate, FindingQuery(), summary, per_page=7)
    assert set(walked) == set(plain) and len(walked) == len(plain)
    by_rule = FindingQuery(rules=("long-lived-secret", "stale-credential"))
    walked_rule = _all_ids(estate, by_rule, summary, per_page=5)
    monkeypatch.setattr(governance_queries, "COUNT_CAP", 3)  # and without the summary
    capped = governance_queries.finding_ids_page(estate.db, by_rule, page=1, per_page=5)
    assert capped.capped and capped.total <= 3 * 2 * len(Severity)
    monkeypatch.setattr(governance_queries, "SORT_UP_TO", 10**9)
    sorted_rule = _all_ids(estate, by_rule, summary, per_page=5)
    assert set(walked_rule) == set(sorted_rule)
    assert all(rows[i].status in ("open", "acknowledged") for i in walked_rule)


def test_findings_load_in_one_query_in_page_order(estate: Services) -> None:
    page = governance_queries.finding_ids_page(
        estate.db, FindingQuery(severity=Severity.HIGH), per_page=10
    )
    loaded = governance_queries.load_findings(estate.db, page.items)
    assert [f.id for f in loaded] == page.items
    assert all(f.severity == Severity.HIGH for f in loaded)
    resolved = governance_queries.finding_ids_page(
        estate.db, FindingQuery(status=FindingStatus.RESOLVED)
    )
    assert resolved.total == 0


def test_agents_page_search_sort_and_enrichment(estate: Services) -> None:
    first = queries.agents_page(estate.db, sort="name", per_page=5)
    assert first.total > 5 and [a.name for a in first.items] == sorted(a.name for a in first.items)
    last = queries.agents_page(estate.db, sort="name", descending=True, per_page=5)
    assert last.items[0].name > first.items[-1].name
    found = queries.agents_page(estate.db, q="Summarise")  # purpose, case-insensitive
    assert [a.name for a in found.items] == ["support-summarizer"]
    assert found.items[0].systems  # what it reaches, from the estate's grants
    assert queries.agents_page(estate.db, q="%").total == 0  # LIKE wildcards are literal
    mine = queries.agents_page(estate.db, owner="priya.nair@acme.example")
    assert {a.owner for a in mine.items} == {"priya.nair@acme.example"}


def test_the_estate_summary_and_capped_credential_counts(
    estate: Services, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    board = Summaries(estate.db, estate.clock)
    estate_summary = board.estate()
    assert estate_summary is not None
    live = queries.credentials_page(estate.db, found_since=clock.now() - dt.timedelta(days=7))
    assert estate_summary.found_this_week == live.total > 0
    assert estate_summary.identities_by_system[0][1] >= estate_summary.identities_by_system[-1][1]
    monkeypatch.setattr(queries, "COUNT_CAP", 4)
    capped = queries.credentials_page(estate.db, per_page=2)
    assert capped.capped and capped.total == 4 and len(capped.items) == 2


def test_a_large_table_is_recounted_in_the_background(
    estate: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summaries, "INLINE_UP_TO", 1)
    board = Summaries(estate.db, estate.clock)
    assert board.findings() is None  # first time, large: counting, nobody waits
    board.wait()
    ready = board.findings()
    assert ready is not None and not ready.stale
    first = estate.governance.findings.list(limit=1)[0][0]
    estate.governance.findings.acknowledge(first.id, actor="t")
    stale = board.findings()  # the old counts, marked, while the new ones are made
    assert stale is not None and stale.stale and stale.version == ready.version
    board.wait()
    fresh = board.findings()
    assert fresh is not None and not fresh.stale and fresh.version != ready.version
