"""A generated agent's 30 days of traffic, for drafted-charter tests and ``bench/draft_holdout.py``.

``support-triage`` reads and comments on Zendesk tickets, refunds small Stripe
charges (5–200 EUR) and posts one digest a day to Slack, on weekdays between
07:00 and 19:00 UTC. Days 1–30 carry its legitimate calls; from day 21 an
incident adds out-of-purpose calls (deleting tickets, exporting users, large
refunds, posting elsewhere, reading at night and on Sundays), and from day 22
the team starts a legitimate new habit the first 20 days never showed (tagging
tickets) — so a draft is measured on drift as well as on abuse.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from charter.domain.agent import Agent
from charter.domain.charter import CharterSpec
from charter.domain.compiled import build_snapshot
from charter.domain.conditions import epoch_micros
from charter.domain.enums import AgentState
from charter.domain.evaluation import evaluate
from charter.store import schema
from charter.store.database import Database

AGENT = "support-triage"
OWNER = "maria.garcia@acme.example"
BROAD_CHARTER = f"""\
name: {AGENT}
owner: {OWNER}
purpose: Triage support tickets, refund small charges and post the daily digest.
allow:
  - action: "*"
    resource: "*"
"""


@dataclass(frozen=True, slots=True)
class Call:
    moment: dt.datetime
    action: str
    resource: str
    context: dict[str, Any]
    legitimate: bool
    day: int  # 1..30


def _legit(rng: random.Random, moment: dt.datetime) -> tuple[str, str, dict[str, Any]]:
    roll = rng.random()
    ticket = f"zendesk:tickets/{rng.randint(1000, 99999)}"
    if roll < 0.55:
        return "tickets.read", ticket, {}
    if roll < 0.85:
        return "tickets.comments.create", ticket, {}
    charge = f"stripe:acct_acme/charges/ch_{rng.randint(10**5, 10**6)}"
    return "stripe.refunds.create", charge, {"args": {"amount": rng.randint(5, 195)}}


def _abuse(rng: random.Random) -> tuple[str, str, dict[str, Any], bool]:
    """(action, resource, context, off-hours?) of one out-of-purpose call."""
    kind = rng.randrange(6)
    ticket = f"zendesk:tickets/{rng.randint(1000, 99999)}"
    if kind == 0:
        return "tickets.delete", ticket, {}, False
    if kind == 1:
        return "users.export", "zendesk:users", {}, False
    if kind == 2:
        charge = f"stripe:acct_acme/charges/ch_{rng.randint(10**5, 10**6)}"
        return "stripe.refunds.create", charge, {"args": {"amount": rng.randint(900, 5000)}}, False
    if kind == 3:
        return (
            "slack.post_message",
            f"slack:channels/{rng.choice(['general', 'random'])}",
            {},
            False,
        )
    if kind == 4:
        return "tickets.read", ticket, {}, True  # at night or on a Sunday
    return "settings.update", "zendesk:admin/settings", {}, False


def traffic(
    start: dt.datetime, *, per_day: int = 120, abuse_per_day: int = 12, seed: int = 7
) -> list[Call]:
    """Thirty days from ``start`` (a UTC midnight), in time order."""
    rng = random.Random(seed)
    calls: list[Call] = []
    for day in range(1, 31):
        midnight = start + dt.timedelta(days=day - 1)
        weekday = midnight.weekday() < 5
        if weekday:
            for _ in range(per_day):
                moment = midnight + dt.timedelta(seconds=rng.randint(7 * 3600, 19 * 3600 - 1))
                action, resource, context = _legit(rng, moment)
                calls.append(Call(moment, action, resource, context, True, day))
            digest = midnight + dt.timedelta(hours=17, minutes=rng.randint(0, 59))
            calls.append(
                Call(digest, "slack.post_message", "slack:channels/support-digest", {}, True, day)
            )
            if day >= 22:
                for _ in range(per_day // 25):
                    moment = midnight + dt.timedelta(seconds=rng.randint(7 * 3600, 19 * 3600 - 1))
                    ticket = f"zendesk:tickets/{rng.randint(1000, 99999)}"
                    calls.append(Call(moment, "tickets.tags.update", ticket, {}, True, day))
        if day >= 21:
            for _ in range(abuse_per_day):
                action, resource, context, night = _abuse(rng)
                if night:
                    sunday = midnight + dt.timedelta(days=(6 - midnight.weekday()) % 7)
                    moment = sunday + dt.timedelta(hours=3, seconds=rng.randint(0, 3599))
                    if moment >= start + dt.timedelta(days=30):
                        moment = midnight + dt.timedelta(hours=2, seconds=rng.randint(0, 3599))
                else:
                    moment = midnight + dt.timedelta(seconds=rng.randint(8 * 3600, 18 * 3600))
                calls.append(Call(moment, action, resource, context, False, day))
    calls.sort(key=lambda call: call.moment)
    return calls


def record(database: Database, calls: Iterable[Call], *, agent: str = AGENT) -> int:
    """Write the calls as the gateway records them (allowed by the broad charter)."""
    allowed = orjson.dumps([{"code": "allowed", "rule": f"charter/{agent}/allow/0"}]).decode()
    rows = [
        {
            "time": call.moment,
            "agent": agent,
            "on_behalf_of": None,
            "action": call.action,
            "resource": call.resource,
            "allowed": True,
            "reasons": orjson.loads(allowed),
            "source": "gateway",
            "latency_us": 5.0,
            "context": call.context or None,
        }
        for call in calls
    ]
    with database.write() as connection:
        for start in range(0, len(rows), 2000):
            connection.execute(sa.insert(schema.activities), rows[start : start + 2000])
    return len(rows)


@dataclass(frozen=True, slots=True)
class HoldoutScore:
    legitimate: int
    legitimate_allowed: int
    out_of_purpose: int
    out_of_purpose_denied: int

    @property
    def legitimate_share(self) -> float:
        return self.legitimate_allowed / self.legitimate if self.legitimate else 0.0

    @property
    def denied_share(self) -> float:
        return self.out_of_purpose_denied / self.out_of_purpose if self.out_of_purpose else 0.0


def score(spec: CharterSpec, calls: Iterable[Call]) -> HoldoutScore:
    """Decide each held-out call under the drafted charter (as if active)."""
    now = dt.datetime.now(dt.UTC)
    agent = Agent(spec.name, spec.owner, AgentState.ACTIVE, spec, 1, now, now)
    snapshot = build_snapshot([agent], [])
    legit = legit_ok = abuse = abuse_denied = 0
    for call in calls:
        decision = evaluate(
            snapshot,
            spec.name,
            call.action,
            call.resource,
            dict(call.context),
            None,
            epoch_micros(call.moment),
        )
        if call.legitimate:
            legit += 1
            legit_ok += decision.allowed
        else:
            abuse += 1
            abuse_denied += not decision.allowed
    return HoldoutScore(legit, legit_ok, abuse, abuse_denied)


def split(calls: list[Call]) -> tuple[list[Call], list[Call]]:
    """Days 1–20 (training) and 21–30 (held out)."""
    return [c for c in calls if c.day <= 20], [c for c in calls if c.day > 20]


def days_ago(now: dt.datetime, days: int) -> dt.datetime:
    midnight = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - dt.timedelta(days=days)


def describe(calls: Iterable[Call]) -> Iterator[str]:
    for call in calls:
        yield f"{call.moment:%a %H:%M} {call.action} {call.resource}"
