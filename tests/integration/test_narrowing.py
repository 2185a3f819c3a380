"""Narrowing proven: a sub-agent is registered only inside its parent, and each hop of a token
exchange chain only narrows — refusals name a counterexample the engine confirms.

On SQLite and PostgreSQL (the ``services`` fixture), and through the real CLI.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.server import run_cli
from tests.unit.tokens.estate import EXAMPLES, Estate

from charter.domain.agent import Agent
from charter.domain.charter_parsing import parse_charter, parse_charter_text
from charter.domain.compiled import build_snapshot
from charter.domain.conditions import epoch_micros
from charter.domain.containment import Counterexample, containment
from charter.domain.enums import AgentState
from charter.domain.evaluation import evaluate
from charter.errors import InvalidInput, NotFound
from charter.services.clock import FixedClock
from charter.services.context import Services

PARENT = "support-summarizer"
MARIA = "maria.garcia@acme.example"

INSIDE = {
    "name": "digest-reader",
    "owner": MARIA,
    "purpose": "Reads ticket comments for the digest, for its parent agent.",
    "parent": PARENT,
    "allow": [
        {
            "action": "tickets.comments.read",
            "resource": "zendesk:tickets/*",
            "when": [{"attribute": "args.limit", "op": "le", "value": 10}],
        }
    ],
    "deny": [
        {
            "action": "*",
            "resource": "zendesk:tickets/*",
            "when": [{"attribute": "data.classification", "op": "eq", "value": "restricted"}],
        }
    ],
    "expires": "2027-06-30",
}

#: reads tickets at any hour, and posts to any channel: two ways beyond its parent
OUTSIDE = {
    **INSIDE,
    "name": "digest-poster",
    "allow": [
        {"action": "tickets.comments.read", "resource": "zendesk:tickets/*"},
        {"action": "slack.post_message", "resource": "slack:channels/*"},
    ],
}


@pytest.fixture
def estate(services: Services, clock: FixedClock) -> Iterator[Estate]:
    built = Estate(services, clock)
    yield built
    services.tokens.close()
    services.decisions.close()


def _engine_agrees(
    parent_doc: dict[str, Any], child_doc: dict[str, Any], example: Counterexample
) -> None:
    """The counterexample is real: the engine allows the child and denies the parent."""
    parent, child = parse_charter(parent_doc), parse_charter(child_doc)
    moment = example.at
    agents = [
        Agent(s.name, s.owner, AgentState.ACTIVE, s, 1, moment, moment) for s in (parent, child)
    ]
    snapshot = build_snapshot(agents, [])
    now_us = epoch_micros(example.at)
    args = (example.action, example.resource, example.context, None, now_us)
    assert evaluate(snapshot, child.name, *args).allowed
    assert not evaluate(snapshot, parent.name, *args).allowed


def test_a_sub_agent_inside_its_parent_registers_and_one_outside_is_refused(
    estate: Estate, services: Services
) -> None:
    registered = services.registry.register(parse_charter(INSIDE), actor="test")
    assert registered.agent.charter.parent == PARENT

    with pytest.raises(InvalidInput) as refused:
        services.registry.register(parse_charter(OUTSIDE), actor="test")
    assert refused.value.field == "parent"
    message = refused.value.message
    assert "digest-poster is not contained in support-summarizer" in message
    assert "counterexample: digest-poster" in message
    with pytest.raises(NotFound):
        services.registry.get("digest-poster")  # nothing was stored

    # an update that widens an existing sub-agent is refused the same way
    wider = {**INSIDE, "allow": [{"action": "tickets.*", "resource": "*"}]}
    with pytest.raises(InvalidInput) as update:
        services.registry.update(parse_charter(wider), actor="test")
    assert "counterexample" in update.value.message
    assert services.registry.get("digest-reader").charter_version == 1

    with pytest.raises(NotFound):
        services.registry.register(
            parse_charter({**INSIDE, "name": "x-1", "parent": "nobody"}), actor="test"
        )


def test_counterexamples_are_confirmed_by_the_engine() -> None:
    parent_doc = parse_charter_text((EXAMPLES / "agents" / f"{PARENT}.yaml").read_text())
    parent = parent_doc.document()
    for child in (OUTSIDE, {**INSIDE, "expires": "2028-01-01"}):
        found = containment(parse_charter(parent), parse_charter(child))
        assert found
        examples = [w.example for w in found if w.example is not None]
        assert examples, found
        for example in examples:
            _engine_agrees(parent, child, example)
    assert containment(parse_charter(parent), parse_charter(INSIDE)) == []


def test_each_hop_of_a_token_exchange_chain_only_narrows(
    estate: Estate, services: Services
) -> None:
    wide = {
        "name": "wide-triager",
        "owner": "li.wei@acme.example",
        "purpose": "Triages tickets at any hour, which its predecessor in the chain may not.",
        "allow": [{"action": "tickets.read", "resource": "zendesk:tickets/*"}],
        "delegation": {"allowed": True, "groups": ["support"], "max_chain": 2},
    }
    services.registry.register(parse_charter(wide), actor="test")
    estate.activate("wide-triager")
    support, wide_key, triager = (
        estate.enrol(PARENT),
        estate.enrol("wide-triager"),
        estate.enrol("ticket-triager"),
    )
    first = estate.tokens.issue(
        estate.exchange_request(PARENT, support, estate.person_token(MARIA), scope="tickets.read")
    )
    refused = estate.refused(
        estate.exchange_request("wide-triager", wide_key, first.access_token, scope="tickets.read")
    )
    assert refused.reason == "not_narrowing"
    assert "counterexample: wide-triager tickets.read on zendesk:tickets/" in refused.message
    # the narrowing triager (same schedule, same deny) extends the same chain
    second = estate.tokens.issue(
        estate.exchange_request("ticket-triager", triager, first.access_token, scope="tickets.read")
    )
    assert second.claims["act"]["act"]["sub"] == PARENT


def test_the_cli_refuses_with_the_counterexample_on_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "CHARTER_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    env.pop("CHARTER_DATABASE_URL", None)
    assert run_cli("people", "import", str(EXAMPLES / "people.json"), env=env).returncode == 0
    parent = run_cli("agent", "register", str(EXAMPLES / "agents" / f"{PARENT}.yaml"), env=env)
    assert parent.returncode == 0, parent.stderr
    child = tmp_path / "digest-poster.json"
    child.write_text(json.dumps(OUTSIDE))
    done = run_cli("agent", "register", str(child), env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "parent" in lines[0]
    assert "counterexample" in lines[0]
    listed = run_cli("agent", "list", "--json", env=env)
    assert "digest-poster" not in listed.stdout
