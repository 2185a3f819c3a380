"""The MCP errors the gateway answers with, and the codes agents can switch on.

JSON-RPC 2.0 leaves -32000…-32099 to implementations; the MCP SDK uses
-32000…-32019 itself (connection closed, request timeout, …), so the gateway's
own codes start at -32030. An unknown tool is the spec's ``-32602`` (invalid
params), as MCP prescribes. Every refusal's ``data`` says who was refused, for
what, and why, in the same shape as a decision's ``reasons``; upstream failures
say which upstream and what kind of failure — never an empty success.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from charter.domain.decision import Decision
from charter.gateway.upstream import UpstreamError, UpstreamRefused
from charter.services.metrics import GATEWAY_CALLS, GATEWAY_REFUSALS

ACCESS_DENIED = -32030
RATE_LIMITED = -32031
AGENT_CUT_OFF = -32032
NOT_AUTHENTICATED = -32033
#: the call is held for a person's approval; ``data.access_request`` names the request, and the
#: agent retries the same call (same arguments) once it is approved
APPROVAL_REQUIRED = -32034
UPSTREAM_UNAVAILABLE = -32040
UPSTREAM_TIMEOUT = -32041
UPSTREAM_FAILED = -32042
UNKNOWN_NAME = types.INVALID_PARAMS

_UPSTREAM_CODES = {
    "unavailable": UPSTREAM_UNAVAILABLE,
    "timeout": UPSTREAM_TIMEOUT,
    "failed": UPSTREAM_FAILED,
}


def safe_name(value: object, limit: int = 80) -> str:
    """A caller-supplied name, printable and short, for messages and logs."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:limit])
    return text + ("…" if isinstance(value, str) and len(value) > limit else "")


def denied(agent: str, what: str, decision: Decision, *, action: str, resource: str) -> MCPError:
    GATEWAY_REFUSALS.labels("denied").inc()
    reasons = "; ".join(reason.message for reason in decision.reasons) or "denied"
    data: dict[str, Any] = {
        "agent": agent,
        "action": action,
        "resource": resource,
        "decision": decision.to_dict(),
    }
    waiting = next((r.approval for r in decision.reasons if r.approval), None)
    if decision.needs_approval and waiting:
        data["access_request"] = {"id": waiting, "status": "pending", "retry": "same call"}
        message = f"Charter holds {agent} {what} for approval: {reasons}"
        return MCPError(code=APPROVAL_REQUIRED, message=message, data=data)
    message = f"Charter denied {agent} {what}: {reasons}"
    return MCPError(code=ACCESS_DENIED, message=message, data=data)


def rate_limited(agent: str, what: str, limit: int, retry_after: float, *, scope: str) -> MCPError:
    GATEWAY_REFUSALS.labels("rate_limited").inc()
    return MCPError(
        code=RATE_LIMITED,
        message=(
            f"rate limit: {agent} may make {limit} {scope} per minute; "
            f"try again in {max(retry_after, 0.01):.2f} s ({what})"
        ),
        data={"agent": agent, "limit_per_minute": limit, "retry_after": round(retry_after, 3)},
    )


def cut_off(agent: str, reason: str) -> MCPError:
    return MCPError(
        code=AGENT_CUT_OFF,
        message=f"agent {agent} was cut off: {reason}",
        data={"agent": agent, "reason": reason},
    )


def not_authenticated(detail: str) -> MCPError:
    """stdio only: over HTTP an unauthenticated request never reaches MCP (it gets a 401)."""
    return MCPError(code=NOT_AUTHENTICATED, message=f"not authenticated: {detail}")


def unknown(kind: str, name: object) -> MCPError:
    return MCPError(
        code=UNKNOWN_NAME,
        message=f"Unknown {kind}: {safe_name(name)} (not offered through this gateway)",
        data={"kind": kind, "name": safe_name(name, 256)},
    )


def upstream_failure(error: UpstreamError) -> MCPError:
    """An upstream's own JSON-RPC error passes through; our own failures say what failed."""
    GATEWAY_CALLS.labels(error.upstream, "upstream_error").inc()
    if isinstance(error, UpstreamRefused):
        data: Any = error.error.data
        return MCPError(code=error.error.code, message=error.error.message, data=data)
    return MCPError(
        code=_UPSTREAM_CODES.get(error.kind, UPSTREAM_FAILED),
        message=error.message,
        data={"upstream": error.upstream, "failure": error.kind},
    )
