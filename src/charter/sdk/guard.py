"""``guard``: ask Charter before a tool function runs, in plain Python, sync or async.

.. code-block:: python

    from charter.sdk import AccessDenied, configure, guard

    configure(agent="support-summarizer")          # or CHARTER_AGENT

    @guard(action="tickets.read", resource="zendesk:tickets/{ticket_id}")
    def read_ticket(ticket_id: str) -> str: ...

    @guard(action="stripe.refunds.create", resource="stripe:acct_acme/charges/{charge}")
    async def refund(charge: str, amount: int, currency: str) -> None: ...

    with guard(action="slack.post_message", resource="slack:channels/support-digest"):
        post_digest()

The decision is made *before* the function runs; a deny raises
:class:`AccessDenied` carrying every reason, and the function never runs.
``{name}`` placeholders in the resource are filled from the call's arguments,
and the arguments are the decision's context under ``args`` — so a charter
condition like ``args.amount le 500`` constrains the call itself.

Where decisions come from (:func:`configure`, else the environment):

* ``CHARTER_URL`` set → :class:`RemoteDecider`, the AuthZEN 1.0 endpoint
  ``POST /access/v1/evaluation`` of that server, with ``CHARTER_PEP_KEY``;
* otherwise :class:`LocalDecider`, the in-process engine (:func:`charter.decide`)
  over the store at ``CHARTER_HOME`` / ``CHARTER_DATABASE_URL`` (decisions
  recorded as Activity), loaded on the first decision, never on import.

The deciders live in :mod:`charter.sdk.deciders` (and are importable from here).

Anything that prevents a decision — no agent configured, a PDP that does not
answer, a resource template that cannot be filled — is a deny (fail closed).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import json
import logging
import os
import string
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast

from charter.domain.decision import Decision, Reason, ReasonCode
from charter.errors import PermissionDenied
from charter.sdk.deciders import (
    DecideFunction,
    Decider,
    LocalDecider,
    RemoteDecider,
    authzen_request,
    decision_from_authzen,
    default_decider,
    deny,
)

logger = logging.getLogger("charter.sdk.guard")

P = ParamSpec("P")
R = TypeVar("R")


class AccessDenied(PermissionDenied):
    """Charter denied the call; ``reasons`` says every why (stable ``codes`` for programs)."""

    code = "access-denied"

    def __init__(self, decision: Decision, *, agent: str, action: str, resource: str) -> None:
        why = "; ".join(reason.message for reason in decision.reasons) or "denied"
        super().__init__(f"Charter denied {agent} {action} on {resource}: {why}", field="action")
        self.decision = decision
        self.agent = agent
        self.action = action
        self.resource = resource

    def __str__(self) -> str:
        return self.message  # the whole sentence, without a "field:" prefix

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return self.decision.reasons

    @property
    def approval(self) -> str | None:
        """The access request the call waits on (``approval_required``), if any."""
        return next((r.approval for r in self.decision.reasons if r.approval), None)

    @property
    def codes(self) -> list[str]:
        return self.decision.codes


class ApprovalRequired(AccessDenied):
    """The call is held until a person approves it (the charter rule says ``approve``).

    ``approval`` names the access request (``charter approvals approve ID``); the same
    call, with the same arguments, is allowed once after that. A guard with
    ``wait_for_approval=SECONDS`` asks again until then instead of raising at once.
    """

    code = "approval-required"


# -- configuration -------------------------------------------------------------------------------
@dataclass
class _Settings:
    agent: str | None = None
    decider: Decider | None = None
    on_behalf_of: str | None = None


_settings = _Settings()
_acting_for: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "charter_acting_for", default=None
)


def configure(
    *, agent: str | None = None, decider: Decider | None = None, on_behalf_of: str | None = None
) -> None:
    """Set the process-wide defaults guards use (each guard may override them)."""
    _settings.agent = agent
    _settings.decider = decider
    _settings.on_behalf_of = on_behalf_of


@contextmanager
def acting_for(person: str | None) -> Iterator[None]:
    """Guards inside this block decide on behalf of ``person`` (delegation: charter ∩ person)."""
    token = _acting_for.set(person)
    try:
        yield
    finally:
        _acting_for.reset(token)


# -- the guard -------------------------------------------------------------------------------------
_FORMATTER = string.Formatter()


def _jsonable(value: Any) -> Any:
    """Arguments as the context sees them: JSON data; anything else as its text."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


class Guard:
    """A decision point around one action: a decorator or a (sync or async) context manager."""

    def __init__(
        self,
        action: str,
        resource: str,
        *,
        agent: str | None = None,
        on_behalf_of: str | None = None,
        context: Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
        decider: Decider | None = None,
        args: Mapping[str, Any] | None = None,
        wait_for_approval: float = 0.0,
        poll_interval: float = 1.0,
    ) -> None:
        self.wait_for_approval = max(float(wait_for_approval), 0.0)
        self.poll_interval = max(float(poll_interval), 0.05)
        self.action = action
        self.resource = resource
        self.agent = agent
        self.on_behalf_of = on_behalf_of
        self.context = context
        self.decider = decider
        self.args = dict(args or {})

    # -- the request ---------------------------------------------------------------------------
    def request(
        self, arguments: Mapping[str, Any]
    ) -> tuple[str, str, dict[str, Any], str | None, Decider]:
        """(agent, resource, context, on_behalf_of, decider) for a call with ``arguments``.

        Raises :class:`AccessDenied` (a deny that names why) when no request can be formed.
        """
        agent = self.agent or _settings.agent or os.environ.get("CHARTER_AGENT")
        if not agent:
            raise AccessDenied(
                deny(
                    ReasonCode.INVALID_REQUEST,
                    "no agent is configured: "
                    "pass agent=, call configure(agent=...) or set CHARTER_AGENT",
                ),
                agent="(none)",
                action=self.action,
                resource=self.resource,
            )
        args = {name: _jsonable(value) for name, value in arguments.items()}
        try:
            names = {field for _, field, _, _ in _FORMATTER.parse(self.resource) if field}
            values = {name: str(arguments[name]) for name in names}
            resource = self.resource.format(**values)
        except (KeyError, IndexError, ValueError, AttributeError) as error:
            raise AccessDenied(
                deny(
                    ReasonCode.INVALID_REQUEST,
                    f"the resource {self.resource!r} cannot be filled "
                    f"from the call's arguments ({error})",
                ),
                agent=agent,
                action=self.action,
                resource=self.resource,
            ) from None
        context: dict[str, Any] = {"args": args}
        extra = self.context(arguments) if callable(self.context) else self.context
        if extra:
            context.update(extra)
        person = self.on_behalf_of or _acting_for.get() or _settings.on_behalf_of
        decider = self.decider or _settings.decider or default_decider()
        return agent, resource, context, person, decider

    def check(self, /, **arguments: Any) -> Decision:
        """Decide now (sync); raise :class:`AccessDenied` on a deny, return the allow."""
        agent, resource, context, person, decider = self.request({**self.args, **arguments})
        deadline = time.monotonic() + self.wait_for_approval
        while True:  # held for approval: ask again (the same call) until approved or out of time
            decision = decider.decide(
                agent, self.action, resource, context=context, on_behalf_of=person
            )
            if not decision.needs_approval or time.monotonic() >= deadline:
                return self._verdict(decision, agent, resource)
            time.sleep(min(self.poll_interval, max(deadline - time.monotonic(), 0.0)))

    async def acheck(self, /, **arguments: Any) -> Decision:
        """Decide now (async); raise :class:`AccessDenied` on a deny, return the allow."""
        agent, resource, context, person, decider = self.request({**self.args, **arguments})
        deadline = time.monotonic() + self.wait_for_approval
        while True:
            decision = await decider.adecide(
                agent, self.action, resource, context=context, on_behalf_of=person
            )
            if not decision.needs_approval or time.monotonic() >= deadline:
                return self._verdict(decision, agent, resource)
            await asyncio.sleep(min(self.poll_interval, max(deadline - time.monotonic(), 0.0)))

    def _verdict(self, decision: Decision, agent: str, resource: str) -> Decision:
        if decision.needs_approval:
            raise ApprovalRequired(decision, agent=agent, action=self.action, resource=resource)
        if not decision.allowed:
            raise AccessDenied(decision, agent=agent, action=self.action, resource=resource)
        return decision

    # -- as a decorator -------------------------------------------------------------------------
    def __call__(self, function: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(function)

        def arguments(*args: Any, **kwargs: Any) -> dict[str, Any]:
            bound = signature.bind_partial(*args, **kwargs)
            bound.apply_defaults()
            out = dict(bound.arguments)
            for name, parameter in signature.parameters.items():  # flatten **kwargs
                if parameter.kind is inspect.Parameter.VAR_KEYWORD and name in out:
                    out.update(out.pop(name))
            return out

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                await self.acheck(**arguments(*args, **kwargs))
                return await cast(Callable[..., Awaitable[Any]], function)(*args, **kwargs)

            guarded_async.__charter_guard__ = self  # type: ignore[attr-defined]
            return cast(Callable[P, R], guarded_async)

        @functools.wraps(function)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            self.check(**arguments(*args, **kwargs))
            return function(*args, **kwargs)

        guarded.__charter_guard__ = self  # type: ignore[attr-defined]
        return guarded

    # -- as a context manager -------------------------------------------------------------------
    def __enter__(self) -> Decision:
        return self.check()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def __aenter__(self) -> Decision:
        return await self.acheck()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def guard(
    action: str,
    resource: str,
    *,
    agent: str | None = None,
    on_behalf_of: str | None = None,
    context: Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    decider: Decider | None = None,
    args: Mapping[str, Any] | None = None,
    wait_for_approval: float = 0.0,
) -> Guard:
    """A guard for ``action`` on ``resource`` (``system:path``, ``{arg}`` placeholders allowed).

    Use it as a decorator (``@guard(...)`` on a sync or async function) or a
    context manager (``with guard(...):`` / ``async with guard(...):``; the
    latter decides with ``args`` as the arguments). A call a charter rule holds for
    approval raises :class:`ApprovalRequired`, or, with ``wait_for_approval=SECONDS``,
    is held (asked again each second) until it is approved or the time is up.
    """
    return Guard(
        action,
        resource,
        agent=agent,
        on_behalf_of=on_behalf_of,
        context=context,
        decider=decider,
        args=args,
        wait_for_approval=wait_for_approval,
    )


__all__ = [
    "AccessDenied",
    "ApprovalRequired",
    "DecideFunction",
    "Decider",
    "Guard",
    "LocalDecider",
    "RemoteDecider",
    "acting_for",
    "authzen_request",
    "configure",
    "decision_from_authzen",
    "default_decider",
    "guard",
]
