"""The SDK guard: decided before the function runs, sync and async, in-process and remote."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from tests.support.server import charter_env, live_server

import charter
from charter.config import Settings
from charter.domain.charter_parsing import load_document, parse_charter
from charter.domain.lifecycle import Transition
from charter.sdk.guard import (
    AccessDenied,
    LocalDecider,
    RemoteDecider,
    acting_for,
    configure,
    guard,
)
from charter.services.context import Services
from charter.services.people import PersonRecord
from charter.store import schema

CHARTER = """
name: refund-bot
owner: priya.nair@acme.example
purpose: Issue small refunds for duplicate charges, and read the ledger.
allow:
  - action: stripe.refunds.create
    resource: "stripe:acct_acme/charges/*"
    when:
      - {attribute: args.amount, op: le, value: 500}
      - {attribute: args.currency, op: in, value: [EUR]}
  - action: ledger.read
    resource: "ledger:books/acme"
deny:
  - action: stripe.payouts.create
    resource: "*"
delegation:
  allowed: true
  groups: [finance-approvers]
"""


def seed(services: Services) -> None:
    services.people.import_records(
        [
            PersonRecord(
                email="priya.nair@acme.example", name="Priya", groups=["finance-approvers"]
            ),
            PersonRecord(email="noah.smith@acme.example", name="Noah", groups=["support"]),
        ],
        actor="test",
    )
    services.registry.register(parse_charter(load_document(CHARTER)), actor="test")
    services.registry.transition("refund-bot", Transition.ACTIVATE, actor="test", reason="test")
    services.decisions.refresh()


@pytest.fixture
def seeded(services: Services) -> Iterator[Services]:
    """The store with people and an active refund-bot; activity flushed before the store goes."""
    seed(services)
    yield services
    services.decisions.close()


@pytest.fixture
def decider(seeded: Services) -> Iterator[LocalDecider]:
    configure(agent="refund-bot", decider=LocalDecider(seeded))
    yield LocalDecider(seeded)
    configure()


def activity(services: Services) -> list[tuple[Any, ...]]:
    services.decisions.recorder.flush()
    table = schema.activities
    with services.db.read() as connection:
        rows = connection.execute(
            sa.select(
                table.c.agent,
                table.c.action,
                table.c.resource,
                table.c.allowed,
                table.c.source,
                table.c.on_behalf_of,
            ).order_by(table.c.id)
        )
        return [tuple(row) for row in rows]


@guard(action="stripe.refunds.create", resource="stripe:acct_acme/charges/{charge}")
def refund(charge: str, amount: int, currency: str = "EUR") -> str:
    RAN.append(charge)
    return f"refunded {amount} {currency} on {charge}"


@guard(action="stripe.refunds.create", resource="stripe:acct_acme/charges/{charge}")
async def refund_async(charge: str, amount: int, currency: str = "EUR") -> str:
    RAN.append(charge)
    return f"refunded {amount} {currency} on {charge}"


RAN: list[str] = []


@pytest.mark.usefixtures("decider")
def test_the_decorator_decides_before_the_function_runs(seeded: Services) -> None:
    RAN.clear()
    assert refund("ch_1", 120) == "refunded 120 EUR on ch_1"
    with pytest.raises(AccessDenied) as caught:
        refund("ch_2", 900)  # the charter caps refunds at 500
    assert RAN == ["ch_1"]  # the denied call never ran
    assert caught.value.codes == ["condition_failed:args.amount"]
    assert "args.amount" in str(caught.value)
    with pytest.raises(AccessDenied) as caught:
        refund("ch_3", 10, currency="USD")
    assert caught.value.codes == ["condition_failed:args.currency"]
    assert caught.value.resource == "stripe:acct_acme/charges/ch_3"
    assert [row[1:5] for row in activity(seeded)] == [
        ("stripe.refunds.create", "stripe:acct_acme/charges/ch_1", True, "sdk"),
        ("stripe.refunds.create", "stripe:acct_acme/charges/ch_2", False, "sdk"),
        ("stripe.refunds.create", "stripe:acct_acme/charges/ch_3", False, "sdk"),
    ]


@pytest.mark.usefixtures("decider")
def test_async_functions_and_context_managers() -> None:
    RAN.clear()

    async def main() -> None:
        assert await refund_async("ch_4", amount=50) == "refunded 50 EUR on ch_4"
        with pytest.raises(AccessDenied):
            await refund_async("ch_5", amount=5000)
        async with guard(action="ledger.read", resource="ledger:books/acme") as decision:
            assert decision.rule == "charter/refund-bot/allow/1"
        with pytest.raises(AccessDenied) as caught:
            async with guard(action="stripe.payouts.create", resource="stripe:acct_acme/payouts/1"):
                RAN.append("payout")
        assert "explicitly_denied" in caught.value.codes

    anyio.run(main)
    with guard(action="ledger.read", resource="ledger:books/acme"):
        RAN.append("ledger")
    with pytest.raises(AccessDenied), guard(action="ledger.write", resource="ledger:books/acme"):
        RAN.append("write")
    assert RAN == ["ch_4", "ledger"]


def test_on_behalf_of_a_person_is_the_intersection(seeded: Services) -> None:
    decider = LocalDecider(seeded)
    read = guard(
        action="ledger.read", resource="ledger:books/acme", agent="refund-bot", decider=decider
    )
    read.check()  # its own access
    with acting_for("noah.smith@acme.example"), pytest.raises(AccessDenied) as caught:
        read.check()  # noah is not in a group the charter accepts delegation from
    assert "delegation_not_allowed" in caught.value.codes
    with acting_for("priya.nair@acme.example"), pytest.raises(AccessDenied) as caught:
        read.check()  # priya may delegate, but no role gives her the ledger: charter ∩ person
    assert "delegator_lacks_access" in caught.value.codes
    assert activity(seeded)[-1][5] == "priya.nair@acme.example"


def test_fail_closed_without_an_agent_or_with_an_unfillable_resource(seeded: Services) -> None:
    configure(decider=LocalDecider(seeded))
    try:
        with pytest.raises(AccessDenied, match="no agent is configured"):
            guard(action="ledger.read", resource="ledger:books/acme").check()
        templated = guard(action="ledger.read", resource="ledger:books/{book}", agent="refund-bot")
        with pytest.raises(AccessDenied, match="cannot be filled"):
            templated.check()
        templated.check(book="acme")
    finally:
        configure()


def test_remote_authzen_decider(tmp_path: Any) -> None:
    env = charter_env(tmp_path)
    services = Services.from_settings(Settings.from_env(env))
    try:
        seed(services)
    finally:
        services.decisions.close()
        services.close()
    with live_server(env) as server:
        remote = RemoteDecider(server.url, pep_key=server.pep_key)
        allowed = guard(
            action="stripe.refunds.create",
            resource="stripe:acct_acme/charges/{charge}",
            agent="refund-bot",
            decider=remote,
        )
        assert (
            allowed.check(charge="ch_9", amount=100, currency="EUR").rule
            == "charter/refund-bot/allow/0"
        )
        with pytest.raises(AccessDenied) as caught:
            allowed.check(charge="ch_9", amount=600, currency="EUR")
        assert caught.value.codes == ["condition_failed:args.amount"]

        async def main() -> None:
            with pytest.raises(AccessDenied):
                await allowed.acheck(charge="ch_9", amount=600, currency="EUR")

        anyio.run(main)
        without_key = guard(
            action="ledger.read",
            resource="ledger:books/acme",
            agent="refund-bot",
            decider=RemoteDecider(server.url),
        )
        with pytest.raises(AccessDenied, match="HTTP 401"):
            without_key.check()
    unreachable = guard(
        action="ledger.read",
        resource="ledger:books/acme",
        agent="refund-bot",
        decider=RemoteDecider(server.url, timeout=1),
    )
    with pytest.raises(AccessDenied, match="did not answer"):
        unreachable.check()


def test_an_in_process_decision_point_handed_in(seeded: Services) -> None:
    """The caller hands the guard its decision point: a service's, or ``charter.decide``."""
    for decide in (seeded.decisions.decide, functools.partial(charter.decide, services=seeded)):
        read = guard(
            action="ledger.read",
            resource="ledger:books/acme",
            agent="refund-bot",
            decider=LocalDecider(decide=decide),
        )
        assert read.check().rule == "charter/refund-bot/allow/1"
    assert [row[1:5] for row in activity(seeded)] == [
        ("ledger.read", "ledger:books/acme", True, "sdk"),
        ("ledger.read", "ledger:books/acme", True, "sdk"),
    ]


ZERO_CONFIG = """
import json, sys
from charter.sdk import AccessDenied, configure, guard

configure(agent="refund-bot")
loaded = lambda: any(name.startswith("charter.services") for name in sys.modules)
before = loaded()
allowed = guard(action="ledger.read", resource="ledger:books/acme").check().rule
try:
    guard(action="stripe.payouts.create", resource="stripe:acct_acme/payouts/1").check()
    denied = []
except AccessDenied as error:
    denied = error.codes
print(json.dumps({"before": before, "after": loaded(), "allowed": allowed, "denied": denied}))
"""


def test_with_nothing_configured_it_decides_in_process_over_charter_home(tmp_path: Any) -> None:
    """The zero-configuration default is unchanged: the engine over ``CHARTER_HOME``, loaded
    by the first decision (``charter.decide``), not by importing the SDK."""
    env = charter_env(tmp_path)
    env.pop("CHARTER_URL", None)
    services = Services.from_settings(Settings.from_env(env))
    try:
        seed(services)
    finally:
        services.decisions.close()
        services.close()
    result = subprocess.run(
        [sys.executable, "-c", ZERO_CONFIG],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "before": False,
        "after": True,
        "allowed": "charter/refund-bot/allow/1",
        "denied": ["explicitly_denied", "no_matching_capability"],
    }
