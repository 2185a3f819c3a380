"""A question a person asks is not something the agent did.

``charter check`` (with or without a future ``--at``) and the console's tester
decide exactly as AuthZEN does, but record nothing: no activity row, so no
intent-drift finding, no last activity in a review and an empty "Recent
decisions" panel. The same denials asked for by a PEP over AuthZEN, against a
real ``charter serve``, are the agent's activity and show up in all three.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import sqlalchemy as sa
from tests.support.console import add_user, sign_in
from tests.support.server import ROOT, charter_env, live_server, run_cli

from charter.config import Settings
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.lifecycle import Transition
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import parse_directory

AGENT = "support-summarizer"
DENIED = ("--action", "tickets.delete", "--resource", "zendesk:tickets/4711")
EMPTY = "No requests from this agent decided yet."


def _setup(home: Path) -> None:
    (home / "governance.yaml").write_text("thresholds:\n  min_observation: 1s\n")
    a_minute_ago = FixedClock(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'charter.db'}")
    services = Services.from_settings(settings, clock=a_minute_ago)
    try:
        people = (ROOT / "examples" / "people.json").read_bytes()
        services.people.import_records(parse_directory(people, filename="p.json"), actor="t")
        path = ROOT / "examples" / "agents" / f"{AGENT}.yaml"
        services.registry.register(parse_charter_text(path.read_bytes()), actor="t")
        services.registry.transition(AGENT, Transition.ACTIVATE, actor="t", reason="ok")
    finally:
        services.close()


def _activities(env: dict[str, str]) -> list[tuple[str, bool, str]]:
    services = Services.from_settings(Settings.from_env(env))
    try:
        with services.db.read() as connection:
            query = sa.text("SELECT agent, allowed, source FROM activities ORDER BY id")
            return [(a, bool(allowed), s) for a, allowed, s in connection.execute(query)]
    finally:
        services.close()


def _drift(env: dict[str, str]) -> list[dict[str, object]]:
    ran = run_cli("findings", "evaluate", env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    shown = run_cli("findings", "--json", "--rule", "intent-drift", "--agent", AGENT, env=env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return list(json.loads(shown.stdout)["findings"])


def test_checks_are_not_activity_but_authzen_requests_are(tmp_path: Path) -> None:
    _setup(tmp_path)
    env = charter_env(tmp_path)
    for at in (None, None, None, "2031-01-05T10:00:00Z"):
        extra = ("--at", at) if at else ()
        asked = run_cli("check", "--agent", AGENT, *DENIED, "--json", *extra, env=env)
        assert asked.returncode == 0, asked.stdout + asked.stderr
        assert json.loads(asked.stdout)["allowed"] is False
    assert _activities(env) == []
    assert _drift(env) == []
    campaign = run_cli("review", "start", "--scope", f"agent:{AGENT}", "--json", env=env)
    assert campaign.returncode == 0, campaign.stdout + campaign.stderr
    (item,) = json.loads(campaign.stdout)["items"]
    assert item["snapshot"]["last_activity"] is None  # not 2031, not now

    with live_server(env) as server:
        add_user(server, "admin@acme.example", "admin", "admin-pass-1234")
        console = sign_in(server, "admin@acme.example", "admin-pass-1234")
        tester = console.get(
            "/decisions",
            params={"agent": AGENT, "action": "tickets.delete", "resource": "zendesk:x/1"},
        )
        assert tester.status_code == 200 and "Denied" in tester.text
        page = console.get(f"/agents/{AGENT}")
        assert page.status_code == 200 and EMPTY in page.text
        assert _activities(env) == []

        request = {
            "subject": {"type": "agent", "id": AGENT},
            "action": {"name": "tickets.delete"},
            "resource": {"type": "zendesk", "id": "tickets/4711"},
        }
        with server.client() as pep:
            for _ in range(3):
                answer = pep.post("/access/v1/evaluation", json=request)
                assert answer.status_code == 200 and answer.json()["decision"] is False
        deadline = time.monotonic() + 10
        while len(_activities(env)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _activities(env) == [(AGENT, False, "authzen")] * 3
        page = console.get(f"/agents/{AGENT}")
        assert EMPTY not in page.text and "authzen" in page.text
        agents = console.get("/agents")
        row = agents.text.split(f"<strong>{AGENT}</strong>", 1)[1].split("</tr>", 1)[0]
        assert "never" not in row  # its last activity is the AuthZEN requests
        console.close()

    (drift,) = _drift(env)
    assert drift["evidence"]["denied_total"] == 3  # type: ignore[index]
    assert {d["source"] for d in drift["evidence"]["denied"]} == {"authzen"}  # type: ignore[index]
