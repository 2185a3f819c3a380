"""Ask the person the agent acts for to approve a held call, through MCP elicitation.

A call an ``approve`` rule holds is normally answered ``-32034`` naming the access
request, for an approver to decide elsewhere (``charter approvals approve``, the
console). When the approver *is* the person on the agent's token (its delegator —
``by: owner`` where they own the agent, or a role they hold — and not the
requester), and the agent's MCP client declared the ``elicitation`` capability,
the gateway asks that person right there: an ``elicitation/create`` on the held
call's own stream that shows the exact call (tool, arguments, rule, access request)
with one yes/no field.

- ``accept`` with ``approve: true`` → the approval is recorded through
  :class:`~charter.services.call_approvals.CallApprovalService` as that person
  (audited ``approval.approve`` with ``via: mcp-elicitation``, single use, bound to
  the call's digest) and the call is **decided again**: only that decision (allowed
  once) lets it through;
- ``decline``, or ``accept`` with ``approve: false`` → a recorded denial; the call is
  decided again and refused (``-32030``, ``approval_denied``);
- ``cancel``, no answer within ``gateway.approval_wait``, a malformed answer or a
  failure → nothing is recorded; the call stays held (``-32034``, still pending).

Any other held call — no delegator, an approver who is someone else, a client
without elicitation, an authority that cannot record a person's answer (a gateway
deciding over HTTP) — gets the ``-32034`` answer unchanged.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import anyio
import mcp_types as types

from charter.domain.call_approval import call_arguments
from charter.domain.decision import Decision
from charter.gateway.authority import AgentPrincipal
from charter.gateway.refusals import cut_off

if TYPE_CHECKING:
    from charter.gateway.server import Ctx, Gateway

logger = logging.getLogger("charter.gateway.approval_elicitation")

VIA = "mcp-elicitation"
FIELD = "approve"
#: The longest arguments (as JSON text) a question shows; a call with longer ones is not
#: asked about (the person approves only what they could read in full): it stays held for
#: the console or the CLI, which show everything.
SHOWN_ARGUMENTS = 8000

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        FIELD: {
            "type": "boolean",
            "title": "Approve this exact call",
            "description": "true lets this one call run once; false refuses it",
        }
    },
    "required": [FIELD],
}


@runtime_checkable
class DelegatorApprovals(Protocol):
    """An authority that can record the delegator's own answer (the in-process one)."""

    async def delegator_may_decide(self, principal: AgentPrincipal, request_id: str) -> bool: ...

    async def decide_as_delegator(
        self, principal: AgentPrincipal, request_id: str, *, approve: bool, via: str
    ) -> None: ...


def can_elicit(ctx: Ctx) -> bool:
    """The agent's client declared form elicitation and this call's stream can carry it."""
    session = ctx.session
    capabilities = session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None:
        return False
    # an empty ``elicitation: {}`` means form mode (MCP 2025-11-25, backwards compatible)
    if elicitation.form is None and elicitation.url is not None:
        return False
    return ctx.request_id is not None and session.can_send_request


def shown_arguments(context: dict[str, Any]) -> str | None:
    """The call's arguments as one line of JSON, every invisible or line-breaking character
    escaped (no argument can fake a line of the question); None when too long to show."""
    text = json.dumps(call_arguments(context), sort_keys=True, ensure_ascii=False, default=str)
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return text if len(text) <= SHOWN_ARGUMENTS else None


def _text(
    principal: AgentPrincipal,
    what: str,
    action: str,
    resource: str,
    decision: Decision,
    ask: str,
    arguments: str,
) -> str:
    rule = decision.reasons[0].rule if decision.reasons else None
    return (
        f"Agent {principal.agent}, acting for you ({principal.on_behalf_of}), asks to run "
        f"{what}.\n"
        f"Action: {action}\nResource: {resource}\nArguments: {arguments}\n"
        f"Rule {rule} needs your approval of this exact call (access request {ask}). "
        "Approve it to let it run once, exactly as shown."
    )


async def settle_in_person(
    gateway: Gateway,
    ctx: Ctx,
    principal: AgentPrincipal,
    what: str,
    action: str,
    resource: str,
    context: dict[str, Any],
    decision: Decision,
) -> Decision:
    """The decision for a held call once its delegator was asked (see the module doc)."""
    ask = next((r.approval for r in decision.reasons if r.approval), None)
    authority = gateway.authority
    if (
        ask is None
        or not principal.on_behalf_of
        or not isinstance(authority, DelegatorApprovals)
        or not can_elicit(ctx)
    ):
        return decision
    try:
        if not await authority.delegator_may_decide(principal, ask):
            return decision
    except Exception:  # fail closed: the call stays held
        logger.exception("checking who may decide access request %s failed", ask)
        return decision
    arguments = shown_arguments(context)
    if arguments is None:
        return decision
    message = _text(principal, what, action, resource, decision, ask, arguments)
    approve = await _ask(gateway, ctx, principal, message, ask)
    if approve is None:
        return decision
    try:
        await authority.decide_as_delegator(principal, ask, approve=approve, via=VIA)
    except Exception as exc:  # decided meanwhile, no longer qualified, …: decide again below
        logger.warning("recording %s's answer to %s failed: %s", principal.on_behalf_of, ask, exc)
    if gateway.sessions.cut_reason(principal.agent) is not None:
        raise cut_off(principal.agent, gateway.sessions.cut_reason(principal.agent) or "cut off")
    # the answer is recorded; only a fresh decision (allowed once, or denied) settles the call
    return await authority.decide(principal, action, resource, context)


async def _ask(
    gateway: Gateway, ctx: Ctx, principal: AgentPrincipal, message: str, ask: str
) -> bool | None:
    """The person's answer: True, False, or None when there is none to record."""
    answer: types.ElicitResult | None = None
    with gateway.sessions.call(principal.agent) as scope:  # the kill switch reaches the wait
        with anyio.move_on_after(gateway.settings.approval_wait):
            try:
                answer = await ctx.session.elicit_form(
                    message, SCHEMA, related_request_id=ctx.request_id
                )
            except Exception as exc:
                logger.info("asking %s about %s failed: %s", principal.on_behalf_of, ask, exc)
    reason = gateway.sessions.cut_reason(principal.agent)
    if scope.cancelled_caught or reason is not None:  # cut off while the person was reading
        raise cut_off(principal.agent, reason or "cut off")
    if answer is None:
        logger.info("%s did not answer access request %s in time", principal.on_behalf_of, ask)
        return None
    if answer.action == "decline":
        return False
    if answer.action != "accept":
        return None
    value = (answer.content or {}).get(FIELD)
    return value if isinstance(value, bool) else None
