"""End to end with real ``charter`` processes: discover → find → review → reduce → the decision
now denies what was removed → the audit log shows every step, in order."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.support.server import ROOT, charter_env, run_cli

from charter.config import Settings
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.lifecycle import Transition
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import parse_directory

SUMMARIZER = "support-summarizer"
MARIA = "maria.garcia@acme.example"
#: the charter denies restricted tickets, and a deny whose condition cannot be checked applies
CONTEXT = json.dumps({"data": {"classification": "internal"}})


def ok(*args: str, env: dict[str, str]) -> str:
    result = run_cli(*args, env=env)
    assert result.returncode == 0, f"charter {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def _setup(home: Path) -> None:
    """People and the agent, in-process (the commands for these are tested elsewhere)."""
    (home / "governance.yaml").write_text("thresholds:\n  min_observation: 1s\n")
    # Made a minute ago: the agent has been observed for longer than min_observation
    # however fast the commands below run.
    a_minute_ago = FixedClock(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'charter.db'}")
    services = Services.from_settings(settings, clock=a_minute_ago)
    try:
        people = ROOT / "examples" / "people.json"
        services.people.import_records(
            parse_directory(people.read_bytes(), filename="p.json"), actor="test"
        )
        path = ROOT / "examples" / "agents" / f"{SUMMARIZER}.yaml"
        services.registry.register(parse_charter_text(path.read_bytes()), actor="test")
        services.registry.transition(SUMMARIZER, Transition.ACTIVATE, actor="test", reason="ok")
        # it has been reading ticket comments, and nothing else
        for _ in range(3):
            decision = services.decisions.decide(
                SUMMARIZER,
                "tickets.comments.read",
                "zendesk:tickets/4711",
                context=json.loads(CONTEXT),
            )
            assert decision.allowed
        services.decisions.close()  # writes the activity
    finally:
        services.close()


def test_discover_find_review_reduce_deny_audit(tmp_path: Path) -> None:
    _setup(tmp_path)
    env = charter_env(tmp_path)
    ok("discover", "all", "examples/estate", env=env)

    found = json.loads(ok("findings", "--json", "--limit", "5000", env=env))
    assert found["evaluation"] is not None  # the ingest changed the store: it evaluated first
    over = next(
        f
        for f in found["findings"]
        if f["rule"] == "agent-over-privileged" and f["agent"] == SUMMARIZER
    )
    assert over["owasp"] == ["NHI5"] and over["entity"]["name"] == SUMMARIZER
    assert "slack.post_message on slack:channels/support-digest" in over["evidence"]["unused"]
    assert any(f["rule"] == "human-permissions-inherited" for f in found["findings"])

    campaign = json.loads(
        ok("review", "start", "--scope", f"agent:{SUMMARIZER}", "--json", env=env)
    )
    (item,) = campaign["items"]
    assert item["reviewer"] == MARIA
    assert item["snapshot"]["suggestion"]["keep"] == ["tickets.comments.read on zendesk:tickets/*"]
    ok(
        "review",
        "decide",
        campaign["id"],
        SUMMARIZER,
        "reduce",
        "--by",
        MARIA,
        "--reason",
        "it only reads comments",
        env=env,
    )

    denied = json.loads(
        ok(
            "check",
            "--agent",
            SUMMARIZER,
            "--action",
            "slack.post_message",
            "--resource",
            "slack:channels/support-digest",
            "--context",
            CONTEXT,
            "--json",
            env=env,
        )
    )
    assert denied["allowed"] is False  # it was allowed before the review

    events = json.loads(ok("audit", "list", "--json", "--limit", "1000", env=env))
    actions = [e["action"] for e in sorted(events, key=lambda e: e["seq"])]
    steps = [
        "agent.register",
        "estate.ingest",
        "findings.evaluate",
        "review.start",
        "agent.update",
        "review.decide",
        "review.close",
    ]
    positions = [actions.index(step) for step in steps]
    assert positions == sorted(positions), actions
    update = next(e for e in events if e["action"] == "agent.update")
    assert update["before"] == {"version": 1} and update["after"]["version"] == 2
