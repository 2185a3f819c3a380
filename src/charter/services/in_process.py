"""``charter.decide``: one process-wide decision point, built from the environment on first use.

An agent's code asks ``charter.decide(agent, action, resource)`` without wiring
services; this module keeps the one :class:`~charter.services.decisions.DecisionService`
(and its :class:`~charter.services.context.Services`) those calls share, and settles a call
held for a person's approval the same way the gateway does.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from charter.domain.decision import Decision
from charter.services.decisions import DecisionService

if TYPE_CHECKING:
    from charter.services.context import Services

_default: DecisionService | None = None
_default_services: Services | None = None
_default_lock = threading.Lock()


def decide(
    agent: str,
    action: str,
    resource: str,
    *,
    context: Mapping[str, Any] | None = None,
    on_behalf_of: str | None = None,
    at: dt.datetime | None = None,
    services: Services | None = None,
) -> Decision:
    """Decide in-process: may ``agent`` do ``action`` on ``resource`` (``system:path``)?

    Uses ``services`` if given, else one process-wide decision point built from
    the environment (``CHARTER_HOME`` / ``CHARTER_DATABASE_URL``), which follows
    charter, policy and role changes within a second. The decision is recorded
    as Activity, unless ``at`` asks about another moment. Never raises for a
    request: a failure is a deny.
    """
    global _default, _default_services
    if services is not None:
        service = services.decisions
        holder = services
    else:
        service = _default  # type: ignore[assignment]
        if service is None:
            with _default_lock:
                if _default is None:
                    from charter.services.context import Services as _Services

                    _default_services = _Services.from_settings()
                    _default = _default_services.decisions
                service = _default
        holder = _default_services  # type: ignore[assignment]
    decision = service.decide(
        agent, action, resource, context=context, on_behalf_of=on_behalf_of, at=at
    )
    if decision.needs_approval and at is None and holder is not None:
        settle = holder.call_approvals.settle  # a call held for a person's approval
        decision = settle(decision, agent, action, resource, context, on_behalf_of)
    return decision
