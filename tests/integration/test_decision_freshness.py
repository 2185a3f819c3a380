"""No decision outlives the policy it was made on: the compiled snapshot and everything it
memoises (action lookups, role sets, delegated decisions) is replaced whole when the store
changes, and a deny's reasons, rendered on demand, say what they said when it was decided.

Each test warms the memos first, so a memo that survived a change would answer from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.server import ROOT

from charter.config import Settings
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.evaluation import explain
from charter.domain.lifecycle import Transition
from charter.domain.roles import parse_roles_text
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import parse_directory

EXAMPLES = ROOT / "examples"
INTERNAL = {"data": {"classification": "internal"}}
AGENT = "support-summarizer"
READ = ("tickets.read", "zendesk:tickets/1")
WILD = ("tickets.comments.read", "zendesk:tickets/1")
MARIA = "maria.garcia@acme.example"


@pytest.fixture
def estate(database_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Services]:
    services = Services.from_settings(Settings(home=tmp_path, database_url=database_url), clock)
    services.people.import_records(
        parse_directory((EXAMPLES / "people.json").read_bytes(), filename="people.json"), actor="t"
    )
    services.decisions.apply_roles(
        parse_roles_text((EXAMPLES / "policy" / "roles.yaml").read_text()), actor="t", source="t"
    )
    spec = parse_charter_text((EXAMPLES / "agents" / f"{AGENT}.yaml").read_text())
    services.registry.register(spec, actor="t")
    services.registry.transition(AGENT, Transition.ACTIVATE, actor="t", reason="approved")
    yield services
    services.decisions.close()
    services.close()


def _warm(services: Services) -> None:
    """Decide the requests the tests change, so every memo holds their answers."""
    decide = services.decisions.decide
    for _ in range(3):
        assert decide(AGENT, *READ, context=INTERNAL).allowed
        assert decide(AGENT, *WILD, context=INTERNAL).allowed
        assert decide(AGENT, *READ, context=INTERNAL, on_behalf_of=MARIA).allowed


def test_suspended_means_the_next_decision_denies(estate: Services) -> None:
    decisions = estate.decisions
    decisions.refresh()
    _warm(estate)
    estate.registry.transition(AGENT, Transition.SUSPEND, actor="t", reason="incident")
    decisions.refresh()
    for on_behalf_of in (None, MARIA):
        denied = decisions.decide(AGENT, *READ, context=INTERNAL, on_behalf_of=on_behalf_of)
        assert not denied.allowed and "agent_not_active" in denied.codes


def test_a_narrowed_charter_replaces_what_was_memoised(estate: Services) -> None:
    decisions = estate.decisions
    decisions.refresh()
    _warm(estate)
    before = decisions.snapshot()
    text = (EXAMPLES / "agents" / f"{AGENT}.yaml").read_text()
    comments = '  - action: tickets.comments.read\n    resource: "zendesk:tickets/*"\n'
    narrowed = text.replace(comments, "")
    assert narrowed != text
    estate.registry.update(parse_charter_text(narrowed), actor="t", reason="narrowed")
    after = decisions.refresh()
    assert after is not before
    denied = decisions.decide(AGENT, *WILD, context=INTERNAL)
    assert denied.codes == ["no_matching_capability"]
    assert decisions.decide(AGENT, *READ, context=INTERNAL, on_behalf_of=MARIA).allowed


def test_a_role_taken_away_ends_the_delegated_allow(estate: Services) -> None:
    decisions = estate.decisions
    decisions.refresh()
    _warm(estate)
    decisions.apply_roles(parse_roles_text("roles: []\n"), actor="t", source="t")
    decisions.refresh()
    denied = decisions.decide(AGENT, *READ, context=INTERNAL, on_behalf_of=MARIA)
    assert denied.codes == ["delegator_lacks_access"]
    assert decisions.decide(AGENT, *READ, context=INTERNAL).allowed


def test_a_deny_read_later_gives_the_reasons_of_its_own_moment(estate: Services) -> None:
    """Rendered after the agent was reactivated, a deny still says why it was denied then."""
    decisions = estate.decisions
    estate.registry.transition(AGENT, Transition.SUSPEND, actor="t", reason="incident")
    at_the_time = decisions.refresh()
    denied = decisions.decide(AGENT, *READ, context=INTERNAL, record=False)
    estate.registry.transition(AGENT, Transition.RESUME, actor="t", reason="resolved")
    decisions.refresh()
    assert decisions.decide(AGENT, *READ, context=INTERNAL, record=False).allowed
    eager = explain(at_the_time, AGENT, *READ, INTERNAL, None, decisions.now_us())
    assert not denied.allowed and denied.reasons == eager.reasons
    assert denied.codes == ["agent_not_active"]
