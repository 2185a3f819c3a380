"""How token checks follow the store: at once across processes (SQLite's data_version,
PostgreSQL's LISTEN/NOTIFY), and the group-commit ledger's single-use guarantees."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.tokens.estate import Estate

from charter.config import Settings
from charter.domain.audit import EventDraft
from charter.domain.lifecycle import Transition
from charter.domain.tokens.errors import InvalidToken
from charter.domain.tokens.one_time_use import OneTimeUse
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.tokens.ledger import Entry

AGENT = "support-summarizer"


@pytest.fixture
def two(database_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[tuple[Estate, Services]]:
    """Two service containers on one store, as two processes would have."""
    first = Services.from_settings(Settings(home=tmp_path, database_url=database_url), clock=clock)
    second = Services.from_settings(Settings(home=tmp_path, database_url=database_url), clock=clock)
    estate = Estate(first, clock)
    yield estate, second
    for services in (first, second):
        services.tokens.close()
        services.decisions.close()
        services.close()


def test_another_process_sees_a_suspension_without_being_told(two: tuple[Estate, Services]) -> None:
    estate, other = two
    token = estate.issue(AGENT, estate.enrol(AGENT)).access_token
    assert other.tokens.verify_access_token(token).agent == AGENT  # other has a snapshot now
    estate.clock.advance(seconds=0.5)
    estate.transition(AGENT, Transition.SUSPEND)
    deadline = time.monotonic() + 3  # SQLite: at once; PostgreSQL: once NOTIFY arrives
    while (reason := _reason(other, token)) is None:
        assert other.db.is_postgres, "SQLite must see the commit within a millisecond"
        assert time.monotonic() < deadline, "PostgreSQL's NOTIFY never arrived"
        time.sleep(0.01)
    assert reason == "agent_not_active"


def _reason(services: Services, token: str) -> str | None:
    """Why the (non-fresh, hot-path) check refuses ``token``, or None."""
    try:
        services.tokens.verify_access_token(token)
    except InvalidToken as exc:
        return exc.reason
    return None


def test_a_revocation_in_one_process_is_seen_by_the_other(two: tuple[Estate, Services]) -> None:
    estate, other = two
    token = estate.issue(AGENT, estate.enrol(AGENT)).access_token
    assert other.tokens.introspect(token)["active"] is True
    estate.tokens.revoke(token, client_id=None, actor="ops")
    assert other.tokens.introspect(token) == {"active": False}  # introspection reads fresh


def _entry(*jtis: str) -> Entry:
    uses = [OneTimeUse("assertion", "a", jti, 2_000_000_000) for jti in jtis]
    return Entry(
        uses,
        EventDraft("a", "token.issue", "agent", "a", None, {"jtis": list(jtis)}),
        lambda use: EventDraft("a", "token.refuse", "agent", "a", None, {"jti": use.jti}),
    )


def test_the_ledger_lets_each_jti_win_once_within_and_across_batches(
    sqlite_services: Services,
) -> None:
    ledger = sqlite_services.tokens.ledger
    shared = uuid.uuid4().hex
    batch = [_entry(shared), _entry(shared, uuid.uuid4().hex), _entry(uuid.uuid4().hex)]
    ledger._commit(batch)
    assert [e.future.result() is None for e in batch] == [True, False, True]
    later = _entry(shared)
    assert ledger.write(later) == later.uses[0]
    actions = [e.action for e in sqlite_services.audit.list(limit=10, newest_first=False)]
    assert actions == ["token.issue", "token.refuse", "token.issue", "token.refuse"]
    sqlite_services.tokens.close()


def test_event_loop_waiters_are_settled_on_their_loop(services: Services) -> None:
    """SQLite: the loop commits its own batch inline; PostgreSQL: the writer thread does."""
    ledger = services.tokens.ledger

    async def main() -> list[OneTimeUse | None]:
        loop = asyncio.get_running_loop()
        entries = [_entry(uuid.uuid4().hex) for _ in range(20)]
        replay = _entry(entries[0].uses[0].jti)
        for entry in [*entries, replay]:
            ledger.submit(entry, loop)
        return [await e.waiter for e in [*entries, replay] if e.waiter is not None]

    results = asyncio.run(main())
    assert results[:20] == [None] * 20 and results[20] is not None
    assert [e.action for e in services.audit.list(limit=30)].count("token.issue") == 20
    services.tokens.close()
