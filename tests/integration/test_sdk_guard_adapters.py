"""The framework adapters, through each framework's own tool-calling path (no model).

LangChain: ``tool.invoke(tool_call)`` — what agents and LangGraph's ToolNode do —
returns a ToolMessage. OpenAI Agents SDK: ``Runner.run`` with the SDK's own
``ScriptedModel`` test double issuing the function calls a model would.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool

from charter.domain.charter_parsing import load_document, parse_charter
from charter.domain.lifecycle import Transition
from charter.sdk.adapters.langchain import guard_tool
from charter.sdk.adapters.openai_agents import guard_function_tool
from charter.sdk.guard import AccessDenied, LocalDecider
from charter.services.context import Services
from charter.services.people import PersonRecord

CHARTER = """
name: mail-bot
owner: maria.garcia@acme.example
purpose: Write to customers about their tickets, only at known addresses.
allow:
  - action: send_email
    resource: "mail:outbox/*"
    when:
      - {attribute: args.to, op: in, value: [customer@example.com]}
  - action: stripe.refunds.create
    resource: "stripe:acct_acme/charges/*"
    when:
      - {attribute: args.amount, op: le, value: 500}
"""

SENT: list[str] = []
set_tracing_disabled(True)  # no model, no exporter: nothing leaves the test


@pytest.fixture
def decider(services: Services) -> Iterator[LocalDecider]:
    services.people.import_records(
        [PersonRecord(email="maria.garcia@acme.example", name="Maria")], actor="test"
    )
    services.registry.register(parse_charter(load_document(CHARTER)), actor="test")
    services.registry.transition("mail-bot", Transition.ACTIVATE, actor="test", reason="test")
    services.decisions.refresh()
    SENT.clear()
    yield LocalDecider(services)
    services.decisions.close()


@tool
def send_email(to: str, subject: str) -> str:
    """Send an e-mail to a customer."""
    SENT.append(to)
    return f"sent {subject!r} to {to}"


def call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"type": "tool_call", "name": name, "args": args, "id": call_id}


def test_langchain_tool_call_path(decider: LocalDecider) -> None:
    guarded = guard_tool(send_email, resource="mail:outbox/{to}", agent="mail-bot", decider=decider)
    assert guarded.name == "send_email"
    assert guarded.args == send_email.args  # the model sees the same tool

    allowed = guarded.invoke(
        call("send_email", {"to": "customer@example.com", "subject": "hi"}, "c1")
    )
    assert isinstance(allowed, ToolMessage)
    assert allowed.content == "sent 'hi' to customer@example.com"
    assert allowed.status == "success"

    denied = guarded.invoke(call("send_email", {"to": "ceo@rival.example", "subject": "hi"}, "c2"))
    assert isinstance(denied, ToolMessage)
    assert denied.status == "error"
    assert "Charter denied mail-bot send_email on mail:outbox/ceo@rival.example" in str(
        denied.content
    )
    assert "args.to" in str(denied.content)
    assert SENT == ["customer@example.com"]  # the denied e-mail was never sent

    async def main() -> None:
        result = await guarded.ainvoke(call("send_email", {"to": "x@y.z", "subject": "s"}, "c3"))
        assert result.status == "error"

    anyio.run(main)
    raising = guard_tool(
        send_email,
        resource="mail:outbox/{to}",
        agent="mail-bot",
        decider=decider,
        on_denied="raise",
    )
    with pytest.raises(AccessDenied):
        raising.invoke(call("send_email", {"to": "x@y.z", "subject": "s"}, "c4"))
    assert SENT == ["customer@example.com"]


@function_tool
def refund(charge: str, amount: int) -> str:
    """Refund part of a charge."""
    SENT.append(f"refund {charge} {amount}")
    return f"refunded {amount} on {charge}"


def test_openai_agents_runner_path(decider: LocalDecider) -> None:
    guarded = guard_function_tool(
        refund,
        action="stripe.refunds.create",
        resource="stripe:acct_acme/charges/{charge}",
        agent="mail-bot",
        decider=decider,
    )
    assert guarded.name == "refund" and guarded.params_json_schema == refund.params_json_schema
    model = ScriptedModel(
        [
            [function_call("refund", {"charge": "ch_1", "amount": 100}, call_id="call-1")],
            [function_call("refund", {"charge": "ch_2", "amount": 9000}, call_id="call-2")],
            [assistant_message("one refund done, one refused")],
        ]
    )
    agent = Agent(name="finance", instructions="refund things", model=model, tools=[guarded])

    async def main() -> Any:
        return await Runner.run(agent, "refund ch_1 and ch_2")

    result = anyio.run(main)
    assert result.final_output == "one refund done, one refused"
    assert SENT == ["refund ch_1 100"]  # the 9000 refund never ran
    outputs = [
        item.output
        for item in result.new_items
        if getattr(item, "type", "") == "tool_call_output_item"
    ]
    assert outputs[0] == "refunded 100 on ch_1"
    assert (
        "Charter denied mail-bot stripe.refunds.create on stripe:acct_acme/charges/ch_2"
        in outputs[1]
    )
    assert "args.amount" in outputs[1]
