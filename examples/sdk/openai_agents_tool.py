"""An OpenAI Agents SDK function tool behind Charter (pip install 'charter[openai-agents]').

    python examples/sdk/openai_agents_tool.py   # after examples/walkthrough.sh or make demo

``guard_function_tool`` wraps the tool the runner calls. To run without an API
key this example drives the agent with the Agents SDK's own scripted test
model, which asks for two refunds; with a real model, drop ``model=``.
"""

from __future__ import annotations

import asyncio

from _ready import require_agent
from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from charter.sdk.adapters.openai_agents import guard_function_tool

set_tracing_disabled(True)


@function_tool
def issue_refund(charge: str, amount: int, currency: str) -> str:
    """Refund part of a Stripe charge."""
    return f"refunded {amount} {currency} on {charge}"


require_agent("finance-reconciler", "ledger.entries.read", "ledger:books/acme-gmbh")
guarded = guard_function_tool(
    issue_refund,
    action="stripe.refunds.create",
    resource="stripe:acct_acme/charges/{charge}",
    agent="finance-reconciler",
    context={"source_ip": "10.20.4.2"},
)
model = ScriptedModel(
    [
        [
            function_call(
                "issue_refund", {"charge": "ch_1", "amount": 120, "currency": "EUR"}, call_id="c1"
            )
        ],
        [
            function_call(
                "issue_refund", {"charge": "ch_2", "amount": 900, "currency": "EUR"}, call_id="c2"
            )
        ],
        [assistant_message("Refunded ch_1; Charter refused ch_2 (over the 500 EUR limit).")],
    ]
)
agent = Agent(
    name="finance-reconciler", instructions="Refund duplicates.", model=model, tools=[guarded]
)
result = asyncio.run(Runner.run(agent, "refund the duplicates on ch_1 and ch_2"))
for item in result.new_items:
    if getattr(item, "type", "") == "tool_call_output_item":
        print(f"  tool output → {item.output}")
print(f"  final answer → {result.final_output}")
