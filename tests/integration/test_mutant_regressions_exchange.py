"""A delegated token's scope is a ceiling for the next hop of the chain (RFC 8693 §2.1).

Hand-applied mutation removed the subject token's scopes from the
intersection and no test noticed: every chain test asked the second hop for a
scope the first hop already had. Here the second agent asks for one the first
lacks, although both charters and the person would allow it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.unit.tokens.estate import Estate

from charter.domain.tokens.errors import OAuthErrorCode
from charter.services.clock import FixedClock
from charter.services.context import Services

FIRST, SECOND = "support-summarizer", "ticket-triager"
MARIA = "maria.garcia@acme.example"


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Iterator[Estate]:
    built = Estate(services, clock)
    yield built
    services.tokens.close()
    services.decisions.close()


def test_a_second_hop_cannot_widen_the_first_hops_scope(estate: Estate) -> None:
    support, triager = estate.enrol(FIRST), estate.enrol(SECOND)
    person = estate.person_token(MARIA)
    # Maria may delegate comments.read: a first hop that asks for it gets it
    wide = estate.tokens.issue(
        estate.exchange_request(FIRST, support, person, scope="tickets.read tickets.comments.read")
    )
    assert wide.scope == "tickets.read tickets.comments.read"
    narrow = estate.tokens.issue(
        estate.exchange_request(FIRST, support, person, scope="tickets.read")
    )
    assert narrow.scope == "tickets.read"

    beyond = estate.refused(
        estate.exchange_request(SECOND, triager, narrow.access_token, scope="tickets.comments.read")
    )
    assert (beyond.error, beyond.reason) == (OAuthErrorCode.INVALID_SCOPE, "delegator_lacks_access")

    both = estate.tokens.issue(
        estate.exchange_request(
            SECOND, triager, narrow.access_token, scope="tickets.read tickets.comments.read"
        )
    )
    assert both.scope == "tickets.read"  # narrowed to the first hop's scope, never widened
