"""The SDK guard in plain Python: Charter decides before each tool function runs.

    python examples/sdk/guard_example.py   # after the README walk-through, same CHARTER_HOME

Runs as the ``finance-reconciler`` agent (examples/agents/finance-reconciler.yaml),
whose charter allows refunds up to 500 EUR from the office network and never
payouts; it must be registered and active in the store first (the walk-through
and ``make demo`` do that). Decisions are made in-process over CHARTER_HOME's
store (set CHARTER_URL and CHARTER_PEP_KEY to ask a Charter server's AuthZEN
endpoint instead) and recorded as Activity.
"""

from __future__ import annotations

import asyncio

from _ready import require_agent

from charter.sdk import AccessDenied, configure, guard

configure(agent="finance-reconciler")
OFFICE = {"source_ip": "10.20.4.2"}  # what the charter's cidr condition looks at


@guard(action="stripe.refunds.create", resource="stripe:acct_acme/charges/{charge}", context=OFFICE)
def refund(charge: str, amount: int, currency: str) -> str:
    return f"refunded {amount} {currency} on {charge}"


@guard(action="stripe.refunds.create", resource="stripe:acct_acme/charges/{charge}", context=OFFICE)
async def refund_async(charge: str, amount: int, currency: str) -> str:
    return f"refunded {amount} {currency} on {charge} (async)"


def ready() -> None:
    """Stop with one line when the agent is not there to decide for: every call would deny."""
    require_agent("finance-reconciler", "ledger.entries.read", "ledger:books/acme-gmbh")


def attempt(label: str, call: object) -> None:
    try:
        result = call() if callable(call) else call
        print(f"  {label:<42} → {result}")
    except AccessDenied as denied:
        print(f"  {label:<42} → DENIED {denied.codes}")
        for reason in denied.reasons:
            print(f"      {reason.message}")


ready()
attempt("refund(ch_1, 120, EUR)", lambda: refund("ch_1", 120, "EUR"))
attempt("refund(ch_2, 900, EUR)", lambda: refund("ch_2", 900, "EUR"))
attempt("refund(ch_3, 50, USD)", lambda: refund("ch_3", 50, "USD"))
attempt("await refund_async(ch_4, 80, EUR)", lambda: asyncio.run(refund_async("ch_4", 80, "EUR")))

try:
    with guard(action="ledger.entries.read", resource="ledger:books/acme-gmbh") as decision:
        print(f"  {'with guard(ledger.entries.read)':<42} → allowed by {decision.rule}")
except AccessDenied as denied:
    print(f"  {'with guard(ledger.entries.read)':<42} → DENIED {denied.codes}")
try:
    with guard(action="stripe.payouts.create", resource="stripe:acct_acme/payouts/po_1"):
        print("  (never printed: the payout never starts)")
except AccessDenied as denied:
    print(f"  {'with guard(stripe.payouts.create)':<42} → DENIED {denied.codes}")
