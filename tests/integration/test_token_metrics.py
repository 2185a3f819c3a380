"""Token issuances and refusals are counted once each, when their answer is final."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from tests.unit.tokens.estate import Estate

from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.metrics import TOKENS_ISSUED, TOKENS_REFUSED

AGENT = "support-summarizer"


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Iterator[Estate]:
    built = Estate(services, clock)
    yield built
    services.tokens.close()
    services.decisions.close()


def _value(name: str, labels: dict[str, str]) -> float:
    registry = CollectorRegistry()
    registry.register(TOKENS_ISSUED)
    registry.register(TOKENS_REFUSED)
    return registry.get_sample_value(name, labels) or 0.0


def test_an_issuance_a_refusal_and_a_replay_are_each_counted_once(estate: Estate) -> None:
    issued = {"grant_type": "client_credentials"}
    bad_scope, replayed = {"error": "invalid_scope"}, {"error": "invalid_client"}
    issued_before = _value("charter_tokens_issued_total", issued)
    bad_before = _value("charter_token_refusals_total", bad_scope)
    replayed_before = _value("charter_token_refusals_total", replayed)
    key = estate.enrol(AGENT)
    estate.issue(AGENT, key, scope="tickets.read")
    estate.refused(estate.request(AGENT, key, scope="payroll.export"))
    assertion = estate.assertion(AGENT, key)
    estate.tokens.issue(estate.request(AGENT, key, assertion=assertion, scope="tickets.read"))
    replay = estate.refused(estate.request(AGENT, key, assertion=assertion, scope="tickets.read"))
    assert replay.error.value == "invalid_client"  # the assertion's jti was used before
    assert _value("charter_tokens_issued_total", issued) - issued_before == 2
    assert _value("charter_token_refusals_total", bad_scope) - bad_before == 1
    assert _value("charter_token_refusals_total", replayed) - replayed_before == 1
