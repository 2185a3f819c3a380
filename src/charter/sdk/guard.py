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
* otherwise :class:`LocalDecider`, the in-process engine over the store at
  ``CHARTER_HOME`` / ``CHARTER_DATABASE_URL`` (decisions recorded as Activity).

Anything that prevents a decision — no agent configured, a PDP that does not
answer, a resource template that cannot be filled — is a deny (fail closed).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import logging
import os
import string
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ParamSpec, Protocol, TypeVar, cast

import httpx

from charter.domain.decision import Decision, Reason, ReasonCode
from charter.domain.patterns import split_resource
from charter.errors import PermissionDenied

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
    def codes(self) -> list[str]:
        return self.decision.codes


# -- deciders ----------------------------------------------------------------------------------
class Decider(Protocol):
    """Where a guard's decisions come from (one method each for sync and async callers)."""

    def decide(
        self,
        agent: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any],
        on_behalf_of: str | None,
    ) -> Decision: ...

    async def adecide(
        self,
        agent: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any],
        on_behalf_of: str | None,
    ) -> Decision: ...


def _deny(code: ReasonCode, message: str) -> Decision:
    return Decision(False, reasons=(Reason(code, message),))


class LocalDecider:
    """The in-process decision engine (``charter.decide``), over ``services`` or the environment."""

    def __init__(self, services: Any | None = None, *, source: str = "sdk") -> None:
        self._services = services
        self._source = source

    def decide(
        self,
        agent: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any],
        on_behalf_of: str | None,
    ) -> Decision:
        from charter.services.decisions import decide

        if self._services is not None:
            return cast(
                Decision,
                self._services.decisions.decide(
                    agent,
                    action,
                    resource,
                    context=context,
                    on_behalf_of=on_behalf_of,
                    source=self._source,
                ),
            )
        return decide(agent, action, resource, context=context, on_behalf_of=on_behalf_of)

    async def adecide(
        self,
        agent: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any],
        on_behalf_of: str | None,
    ) -> Decision:
        # In memory and microseconds: no thread hop needed.
        return self.decide(agent, action, resource, context=context, on_behalf_of=on_behalf_of)


def authzen_request(
    agent: str, action: str, resource: str, context: Mapping[str, Any], on_behalf_of: str | None
) -> dict[str, Any]:
    """An AuthZEN 1.0 §6.1 evaluation request for a Charter access request."""
    system, path = split_resource(resource)
    subject: dict[str, Any] = {"type": "agent", "id": agent}
    if on_behalf_of:
        subject["properties"] = {"on_behalf_of": on_behalf_of}
    return {
        "subject": subject,
        "action": {"name": action},
        "resource": {"type": system, "id": path},
        "context": dict(context),
    }


def _reason(item: Mapping[str, Any]) -> Reason:
    text = str(item.get("code", ReasonCode.EVALUATION_ERROR.value))
    base, _, attribute = text.partition(":")
    try:
        code = ReasonCode(base)
    except ValueError:
        code = ReasonCode.EVALUATION_ERROR
    admin = item.get("reason_admin")
    message = str(admin.get("en", text)) if isinstance(admin, dict) else text
    rule = item.get("rule")
    return Reason(code, message, str(rule) if rule else None, attribute or None)


def decision_from_authzen(body: Any) -> Decision:
    """An AuthZEN §6.2 response as a :class:`Decision`; anything but ``decision: true`` denies."""
    if isinstance(body, dict) and body.get("decision") is True:
        found = body.get("context")
        allowing: dict[str, Any] = found if isinstance(found, dict) else {}
        return Decision(True, rule=allowing.get("rule"), role=allowing.get("role"))
    context = body.get("context") if isinstance(body, dict) else None
    items = context.get("reasons") if isinstance(context, dict) else None
    reasons = (
        tuple(_reason(r) for r in items if isinstance(r, dict)) if isinstance(items, list) else ()
    )
    return Decision(
        False, reasons=reasons or (Reason(ReasonCode.EVALUATION_ERROR, "the PDP denied"),)
    )


class RemoteDecider:
    """A Charter server's AuthZEN endpoint (``CHARTER_URL``), authenticated with a PEP key."""

    def __init__(
        self,
        base_url: str,
        *,
        pep_key: str | None = None,
        timeout: float = 5.0,
        http: httpx.Client | None = None,
        async_http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/access/v1/evaluation"
        self._headers = {"Authorization": f"Bearer {pep_key}"} if pep_key else {}
        self._timeout = timeout
        self._http = http
        self._async_http = async_http
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(timeout=self._timeout)
            return self._http

    @staticmethod
    def _answer(response: httpx.Response) -> Decision:
        if response.status_code != 200:
            return _deny(
                ReasonCode.EVALUATION_ERROR, f"the PDP answered HTTP {response.status_code}; denied"
            )
        try:
            return decision_from_authzen(response.json())
        except ValueError:
            return _deny(ReasonCode.EVALUATION_ERROR, "the PDP's answer is not JSON; denied")

    def decide(
        self,
        agent: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any],
        on_behalf_of: str | None,
    ) -> Decision:
        body = authzen_request(agent, action, resource, context, on_behalf_of)
        try:
            response = self._client().post(self.url, json=body, headers=self._headers)
        except httpx.HTTPError as error:
            return _deny(
                ReasonCode.EVALUATION_ERROR,
                f"the PDP did not answer ({type(error).__name__}); denied",
            )
        return self._answer(response)

    async def adecide(
        self,
        agent: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any],
        on_behalf_of: str | None,
    ) -> Decision:
        body = authzen_request(agent, action, resource, context, on_behalf_of)
        try:
            if self._async_http is None:
                async with httpx.AsyncClient(timeout=self._timeout) as client:
                    response = await client.post(self.url, json=body, headers=self._headers)
            else:
                response = await self._async_http.post(self.url, json=body, headers=self._headers)
        except httpx.HTTPError as error:
            return _deny(
                ReasonCode.EVALUATION_ERROR,
                f"the PDP did not answer ({type(error).__name__}); denied",
            )
        return self._answer(response)


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


def default_decider(environ: Mapping[str, str] | None = None) -> Decider:
    env = os.environ if environ is None else environ
    url = env.get("CHARTER_URL")
    if url:
        return RemoteDecider(url, pep_key=env.get("CHARTER_PEP_KEY"))
    return LocalDecider()


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
    ) -> None:
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
                _deny(
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
                _deny(
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
        decision = decider.decide(
            agent, self.action, resource, context=context, on_behalf_of=person
        )
        return self._verdict(decision, agent, resource)

    async def acheck(self, /, **arguments: Any) -> Decision:
        """Decide now (async); raise :class:`AccessDenied` on a deny, return the allow."""
        agent, resource, context, person, decider = self.request({**self.args, **arguments})
        decision = await decider.adecide(
            agent, self.action, resource, context=context, on_behalf_of=person
        )
        return self._verdict(decision, agent, resource)

    def _verdict(self, decision: Decision, agent: str, resource: str) -> Decision:
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
) -> Guard:
    """A guard for ``action`` on ``resource`` (``system:path``, ``{arg}`` placeholders allowed).

    Use it as a decorator (``@guard(...)`` on a sync or async function) or a
    context manager (``with guard(...):`` / ``async with guard(...):``; the
    latter decides with ``args`` as the arguments).
    """
    return Guard(
        action,
        resource,
        agent=agent,
        on_behalf_of=on_behalf_of,
        context=context,
        decider=decider,
        args=args,
    )


__all__ = [
    "AccessDenied",
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
