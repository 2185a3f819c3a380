"""Drafted charters on a real store (SQLite and PostgreSQL): trained on days 1–20 of a generated
agent's traffic, registered, and checked on the held-out days 21–30 — by direct evaluation, by
what-if replay of the recorded days, and by the decision point once the draft is in force."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from tests.support import intent_traffic as traffic
from tests.support.server import ROOT, charter_env, run_cli

from charter.config import Settings
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.lifecycle import Transition
from charter.errors import InvalidInput
from charter.services.context import Services
from charter.services.people import parse_directory

#: floors the drafted charter must clear on the held-out days (measured: bench/draft_holdout.py)
LEGITIMATE_FLOOR = 0.9
OUT_OF_PURPOSE_FLOOR = 0.95


def _seed(services: Services) -> tuple[list[traffic.Call], dt.datetime]:
    services.people.import_records(
        parse_directory((ROOT / "examples" / "people.json").read_bytes(), filename="people.json"),
        actor="t",
    )
    services.registry.register(parse_charter_text(traffic.BROAD_CHARTER), actor="t")
    services.registry.transition(traffic.AGENT, Transition.ACTIVATE, actor="t", reason="ok")
    start = traffic.days_ago(services.clock.now(), 30)
    calls = traffic.traffic(start)
    traffic.record(services.db, calls)
    return calls, start


def test_a_draft_learns_days_1_to_20_and_holds_on_21_to_30(services: Services) -> None:
    calls, start = _seed(services)
    train, held_out = traffic.split(calls)
    draft = services.drafts.draft(traffic.AGENT, days=20, until=start + dt.timedelta(days=20))
    assert draft.calls == len(train)
    text = draft.text
    # a comment per rule naming its evidence, the generalisation, the range, the schedule
    assert text.count("# evidence:") == draft.rules == 4
    assert "resource: zendesk:tickets/*" in text
    assert "attribute: args.amount" in text and "value: 200" in text
    assert "days: [mon, tue, wed, thu, fri]" in text
    assert f"owner: {traffic.OWNER}" in text and "owner suggested by the registry" in text
    assert "expires: '2027-01-31'" in text  # 90 days after the store's today
    for unseen in ("tickets.delete", "users.export", "settings.update", "tickets.tags.update"):
        assert unseen not in text
    spec = parse_charter_text(text)  # valid charter input as written
    assert spec == draft.spec

    score = traffic.score(spec, held_out)
    assert score.legitimate_share >= LEGITIMATE_FLOOR, score
    assert score.denied_share >= OUT_OF_PURPOSE_FLOOR, score

    # what-if of the draft beside the broad charter in force, on the recorded held-out days:
    # it denies exactly what deciding the held-out calls one by one denies
    report = services.whatif.charter(spec, days=10)
    since = services.clock.now() - dt.timedelta(days=10)
    in_window = [c for c in calls if c.moment >= since]
    replayed = traffic.score(spec, in_window)
    expected = replayed.legitimate - replayed.legitimate_allowed + replayed.out_of_purpose_denied
    assert report.rows == len(in_window)
    assert report.newly_allowed == 0
    assert report.newly_denied == expected
    assert report.by_action["tickets.delete"]["newly_denied"] > 0

    # registered in force: the decision point follows the draft
    services.registry.update(spec, actor="t", reason="drafted")
    services.decisions.refresh()
    decide = services.decisions.decide
    monday_10 = services.clock.now()  # the store's clock: Monday 10:00 UTC
    assert monday_10.weekday() == 0
    assert decide(traffic.AGENT, "tickets.read", "zendesk:tickets/4711", record=False).allowed
    refund = {"args": {"amount": 120}}
    assert decide(
        traffic.AGENT,
        "stripe.refunds.create",
        "stripe:acct_acme/charges/ch_1",
        context=refund,
        record=False,
    ).allowed
    large = {"args": {"amount": 4000}}
    assert not decide(
        traffic.AGENT,
        "stripe.refunds.create",
        "stripe:acct_acme/charges/ch_1",
        context=large,
        record=False,
    ).allowed
    assert not decide(traffic.AGENT, "tickets.delete", "zendesk:tickets/1", record=False).allowed


def test_nothing_to_draft_is_a_clear_error(services: Services) -> None:
    with pytest.raises(InvalidInput) as caught:
        services.drafts.draft("nobody-seen", owner="a@acme.example")
    assert caught.value.field == "name" and "no observed calls" in caught.value.message


def test_charter_draft_cli_writes_a_file_register_accepts(tmp_path: Path) -> None:
    env = charter_env(tmp_path)
    built = Services.from_settings(Settings.from_env(env))
    try:
        _seed(built)
    finally:
        built.close()
    out = tmp_path / "draft.yaml"
    done = run_cli("draft", traffic.AGENT, "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert "drafted" in done.stderr and "what-if on charter support-triage" in done.stderr
    renamed = out.read_text().replace(f"name: {traffic.AGENT}", "name: support-triage-2")
    out.write_text(renamed)
    registered = run_cli("agent", "register", str(out), env=env)
    assert registered.returncode == 0, registered.stderr
    assert "registered support-triage-2" in registered.stdout
    missing = run_cli("draft", "nobody-seen", "--owner", "a@acme.example", env=env)
    assert missing.returncode == 2 and "no observed calls" in missing.stderr
