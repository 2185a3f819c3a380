"""Where a guard's decisions come from: a :class:`Decider`.

* :class:`RemoteDecider`: a Charter server's AuthZEN 1.0 endpoint
  (``POST /access/v1/evaluation``), authenticated with a PEP key;
* :class:`LocalDecider`: a decision point in this process, handed in by the
  caller, by default :func:`charter.decide`;
* anything else with ``decide`` and ``adecide`` (tests, caches, other PDPs).

:func:`default_decider` picks between the first two from the environment.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, cast

import httpx

from charter.domain.decision import Decision, Reason, ReasonCode
from charter.domain.patterns import split_resource


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


def deny(code: ReasonCode, message: str) -> Decision:
    """A deny for one reason (the SDK fails closed: anything that prevents a decision)."""
    return Decision(False, reasons=(Reason(code, message),))


class DecideFunction(Protocol):
    """An in-process decision point: ``charter.decide``, or a ``DecisionService``'s ``decide``."""

    def __call__(
        self,
        agent: str,
        action: str,
        resource: str,
        *,
        context: Mapping[str, Any],
        on_behalf_of: str | None,
    ) -> Decision: ...


#: the entry-point group an in-process decision point registers under (pyproject.toml)
DECISION_POINTS = "charter.decision_points"


@functools.cache
def _in_process_entry() -> EntryPoint:
    found = entry_points(group=DECISION_POINTS, name="in_process")
    if not found:
        raise LookupError(
            f"no in-process decision point is installed (entry point {DECISION_POINTS}:"
            "in_process); install charter, or set CHARTER_URL to decide remotely"
        )
    return next(iter(found))


def in_process_decide() -> DecideFunction:
    """``charter.decide``, Charter's public in-process entry point, looked up when first used.

    The SDK names no server module: the distribution declares the decision point
    as an entry point, so an agent process that never decides locally never
    loads the engine, SQLAlchemy or the store; one that does loads them on its
    first decision, through the same function an application would call.
    """
    return cast(DecideFunction, _in_process_entry().load())


class LocalDecider:
    """Decisions made in this process, by a decision point the caller hands in.

    ``LocalDecider(decide=services.decisions.decide)`` (any :class:`DecideFunction`);
    ``LocalDecider(services)`` for a ``Services`` object, as before; ``LocalDecider()``
    for :func:`charter.decide` over ``CHARTER_HOME`` / ``CHARTER_DATABASE_URL``.
    """

    def __init__(
        self,
        services: Any | None = None,
        *,
        decide: DecideFunction | None = None,
        source: str = "sdk",
    ) -> None:
        if services is not None and decide is not None:
            raise TypeError("give LocalDecider services or decide=, not both")
        self._services = services
        self._decide = decide
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
        if self._services is not None:
            decision = cast(
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
            if decision.needs_approval:  # held for a person: the approval settles it
                settle = self._services.call_approvals.settle
                decision = settle(decision, agent, action, resource, context, on_behalf_of)
            return decision
        decide = self._decide or in_process_decide()
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
    approval = item.get("approval")
    return Reason(
        code,
        message,
        str(rule) if rule else None,
        attribute or None,
        str(approval) if approval else None,
    )


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
            return deny(
                ReasonCode.EVALUATION_ERROR, f"the PDP answered HTTP {response.status_code}; denied"
            )
        try:
            return decision_from_authzen(response.json())
        except ValueError:
            return deny(ReasonCode.EVALUATION_ERROR, "the PDP's answer is not JSON; denied")

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
            return deny(
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
            return deny(
                ReasonCode.EVALUATION_ERROR,
                f"the PDP did not answer ({type(error).__name__}); denied",
            )
        return self._answer(response)


def default_decider(environ: Mapping[str, str] | None = None) -> Decider:
    """``CHARTER_URL`` set: a :class:`RemoteDecider` (with ``CHARTER_PEP_KEY``); else local."""
    env = os.environ if environ is None else environ
    url = env.get("CHARTER_URL")
    if url:
        return RemoteDecider(url, pep_key=env.get("CHARTER_PEP_KEY"))
    return LocalDecider()


__all__ = [
    "DecideFunction",
    "Decider",
    "LocalDecider",
    "RemoteDecider",
    "authzen_request",
    "decision_from_authzen",
    "default_decider",
    "deny",
    "in_process_decide",
]
