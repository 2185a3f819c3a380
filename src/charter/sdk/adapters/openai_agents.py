"""OpenAI Agents SDK function tools that ask Charter first: ``guard_function_tool(tool, ...)``.

.. code-block:: python

    from agents import Agent, function_tool
    from charter.sdk.adapters.openai_agents import guard_function_tool

    @function_tool
    def refund(charge: str, amount: int, currency: str) -> str:
        "Refund a charge."
        ...

    agent = Agent(name="finance", tools=[
        guard_function_tool(refund, action="stripe.refunds.create",
                            resource="stripe:acct_acme/charges/{charge}"),
    ])

The guarded tool is a copy of the original with the same name and schema; its
``on_invoke_tool`` — what the Agents SDK's runner calls with the model's JSON
arguments — decides first and runs the original only on an allow. By default a
deny becomes the tool's output (the model reads the reasons, as it reads any
tool failure); ``on_denied="raise"`` raises
:class:`~charter.sdk.guard.AccessDenied` out of the run instead.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from agents import FunctionTool
from agents.tool_context import ToolContext

from charter.sdk.guard import AccessDenied, Decider, Guard


def guard_function_tool(
    tool: FunctionTool,
    *,
    resource: str,
    action: str | None = None,
    agent: str | None = None,
    on_behalf_of: str | None = None,
    context: Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    decider: Decider | None = None,
    on_denied: Literal["message", "raise"] = "message",
) -> FunctionTool:
    """A copy of ``tool`` behind a Charter decision (the action defaults to the tool's name)."""
    check = Guard(
        action or tool.name,
        resource,
        agent=agent,
        on_behalf_of=on_behalf_of,
        context=context,
        decider=decider,
    )
    original = tool.on_invoke_tool

    async def invoke(ctx: ToolContext[Any], input_json: str) -> Any:
        try:
            parsed = json.loads(input_json) if input_json else {}
        except ValueError:
            parsed = None
        arguments = parsed if isinstance(parsed, dict) else {}
        try:
            await check.acheck(**arguments)
        except AccessDenied as denied:
            if on_denied == "raise":
                raise
            return str(denied)
        return await original(ctx, input_json)

    guarded = copy.copy(tool)
    guarded.on_invoke_tool = invoke
    return guarded
