"""A LangChain tool behind Charter: ``guard_tool`` (pip install 'charter[langchain]').

    python examples/sdk/langchain_tool.py       # after examples/walkthrough.sh or make demo

The tool is invoked exactly as LangChain agents (and LangGraph's ToolNode)
invoke tools: ``tool.invoke(tool_call)`` returns a ToolMessage for the model.
A denied call never runs; the model reads the denial and its reasons.
"""

from __future__ import annotations

from _ready import require_agent
from langchain_core.tools import tool

from charter.sdk.adapters.langchain import guard_tool


@tool
def issue_refund(charge: str, amount: int, currency: str) -> str:
    """Refund part of a Stripe charge."""
    return f"refunded {amount} {currency} on {charge}"


require_agent("finance-reconciler", "ledger.entries.read", "ledger:books/acme-gmbh")
guarded = guard_tool(
    issue_refund,
    action="stripe.refunds.create",
    resource="stripe:acct_acme/charges/{charge}",
    agent="finance-reconciler",
    context={"source_ip": "10.20.4.2"},
)

for call_id, args in (
    ("call-1", {"charge": "ch_1", "amount": 120, "currency": "EUR"}),
    ("call-2", {"charge": "ch_2", "amount": 900, "currency": "EUR"}),
):
    message = guarded.invoke(
        {"type": "tool_call", "name": "issue_refund", "args": args, "id": call_id}
    )
    print(f"  {call_id} {args} → [{message.status}] {message.content}")
