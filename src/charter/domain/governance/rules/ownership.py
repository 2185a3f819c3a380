"""Ownership (NHI1, improper offboarding): every agent and identity has an active owner."""

from __future__ import annotations

from charter.domain.enums import AgentState, Severity
from charter.domain.governance.facts import AgentFacts, IdentityFacts, RuleContext
from charter.domain.governance.rule_registry import EntityType, Hit, rule
from charter.domain.governance.rules._common import iso, provider_managed


@rule(
    id="agent-owner-departed",
    title="Agent owner has left or is unknown",
    severity=Severity.HIGH,
    owasp=("NHI1",),
    entity=EntityType.AGENT,
    remediation=(
        "Give the agent an active owner: the suggested new owner (the leaver's nearest active "
        "manager) accepts it with 'charter agent accept NAME --by EMAIL', or transfer it with "
        "'charter agent transfer NAME --to EMAIL'. Decommission it if nobody needs it."
    ),
    evidence=("owner", "owner_status", "manager", "pending_owner", "pending_since"),
)
def agent_owner_departed(agent: AgentFacts, ctx: RuleContext) -> Hit | None:
    """The accountable person of a live agent is departed or not in the directory."""
    if agent.state == AgentState.DECOMMISSIONED:
        return None
    if agent.origin == "discovered" and agent.state == AgentState.DISCOVERED:
        return None  # a shadow agent's owner is only a suggestion: shadow-agent-unadopted
    person = ctx.person(agent.owner)
    if person is not None and person.active:
        return None
    status = "departed" if person is not None else "unknown"
    successor = agent.pending_owner or ctx.successor(agent.owner)
    words = "has left the organisation" if person else "is not in the directory"
    message = f"owner {agent.owner} {words}"
    if successor:
        message += f"; suggested new owner: {successor}"
    return Hit(
        message,
        {
            "owner": agent.owner,
            "owner_status": status,
            "manager": person.manager if person else None,
            "pending_owner": agent.pending_owner,
            "pending_since": iso(agent.pending_owner_since),
        },
        suggestion={"new_owner": successor} if successor else None,
    )


@rule(
    id="identity-owner-missing",
    title="Non-human identity without an active owner",
    severity=Severity.MEDIUM,
    owasp=("NHI1",),
    entity=EntityType.IDENTITY,
    remediation=(
        "Attribute the identity to an agent (name it in the agent's charter 'identities') or "
        "tag it with an owner in its system; if nobody claims it, disable it and delete it "
        "after a waiting period."
    ),
    evidence=("owner", "owner_status", "agent", "attribution"),
)
def identity_owner_missing(identity: IdentityFacts, ctx: RuleContext) -> Hit | None:
    """An identity that no agent claims has no owner, or its owner has left."""
    if identity.agent and identity.agent in ctx.agents:
        return None  # the agent's owner is accountable (agent-owner-departed covers a leaver)
    if provider_managed(identity.properties):
        return None
    owner = identity.owner or identity.person  # a person's own account is theirs
    person = ctx.person(owner)
    if person is not None and person.active:
        return None
    evidence = {
        "owner": identity.owner,
        "owner_status": "none" if identity.owner is None else ("departed" if person else "unknown"),
        "agent": identity.agent,
        "attribution": list(identity.evidence[:5]),
    }
    kind = identity.kind.replace("_", " ")
    if owner is None:
        # everything needs an owner; unowned AI identities are where shadow AI hides
        severity = None if identity.ai_related else Severity.LOW
        return Hit(f"{kind} {identity.name} has no owner", evidence, severity)
    if person is None:
        # a login or id the directory cannot resolve: unknown, not necessarily gone
        return Hit(f"owner {owner} of {kind} {identity.name} is not in the directory", evidence)
    successor = ctx.successor(owner)
    return Hit(
        f"owner {owner} of {kind} {identity.name} has left the organisation"
        + (f"; suggested new owner: {successor}" if successor else ""),
        evidence,
        severity=Severity.HIGH,
        suggestion={"new_owner": successor} if successor else None,
    )
