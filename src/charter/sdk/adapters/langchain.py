"""LangChain tools that ask Charter first: ``guard_tool(tool, resource=...)``.

.. code-block:: python

    from langchain_core.tools import tool
    from charter.sdk.adapters.langchain import guard_tool

    @tool
    def send_email(to: str, subject: str) -> str:
        "Send an e-mail."
        ...

    send_email = guard_tool(send_email, resource="mail:outbox/{to}")

The guarded tool keeps the name, description and argument schema, so a model
sees the same tool. On every invocation — ``tool.invoke(tool_call)``, which is
what LangChain agents and LangGraph's ``ToolNode`` do — the call is decided
first with the tool's name as the action (or ``action=``) and its arguments as
``args`` in the context. A deny never runs the tool: by default the model gets
the denial and its reasons as the tool's (error) result, so it can tell the
user; ``on_denied="raise"`` raises :class:`~charter.sdk.guard.AccessDenied`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool, ToolException

from charter.sdk.guard import AccessDenied, Decider, Guard


class ToolDenied(ToolException):
    """A Charter deny, as LangChain's tool-error mechanism carries it to the model."""

    def __init__(self, denied: AccessDenied) -> None:
        super().__init__(str(denied))
        self.denied = denied


def _only_denials(error: ToolException) -> str:
    if isinstance(error, ToolDenied):
        return str(error)
    raise error  # the wrapped tool's own errors behave as before


def guard_tool(
    tool: BaseTool,
    *,
    resource: str,
    action: str | None = None,
    agent: str | None = None,
    on_behalf_of: str | None = None,
    context: Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    decider: Decider | None = None,
    on_denied: Literal["message", "raise"] = "message",
) -> StructuredTool:
    """``tool`` behind a Charter decision (the action defaults to the tool's name)."""
    if tool.args_schema is None:
        raise TypeError(f"{tool.name}: only structured tools (with an args schema) can be guarded")
    check = Guard(
        action or tool.name,
        resource,
        agent=agent,
        on_behalf_of=on_behalf_of,
        context=context,
        decider=decider,
    )

    def run(**arguments: Any) -> Any:
        try:
            check.check(**arguments)
        except AccessDenied as denied:
            if on_denied == "raise":
                raise
            raise ToolDenied(denied) from None
        return tool.invoke(arguments)

    async def arun(**arguments: Any) -> Any:
        try:
            await check.acheck(**arguments)
        except AccessDenied as denied:
            if on_denied == "raise":
                raise
            raise ToolDenied(denied) from None
        return await tool.ainvoke(arguments)

    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        infer_schema=False,
        return_direct=tool.return_direct,
        handle_tool_error=_only_denials,
        metadata={
            **(tool.metadata or {}),
            "charter_action": check.action,
            "charter_resource": resource,
        },
    )
