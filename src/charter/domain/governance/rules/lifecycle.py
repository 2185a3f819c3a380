"""Lifecycle: expired charters, overdue reviews, shadow agents nobody adopted (NHI1)."""

from __future__ import annotations

import datetime as dt

from charter.domain.enums import AgentState, Severity
from charter.domain.governance.facts import AgentFacts, RuleContext
from charter.domain.governance.rule_registry import EntityType, Hit, rule
from charter.domain.governance.rules._common import days, iso

_LIVE = frozenset({AgentState.ACTIVE, AgentState.SUSPENDED, AgentState.PROPOSED})


@rule(
    id="charter-expired",
    title="Agent charter has expired",
    severity=Severity.HIGH,
    owasp=("NHI1",),
    entity=EntityType.AGENT,
    remediation=(
        "Renew the charter with a new expiry ('charter agent update FILE') if the agent is "
        "still needed, or decommission it ('charter agent decommission NAME --plan')."
    ),
    evidence=("expires", "expired_days", "state"),
)
def charter_expired(agent: AgentFacts, ctx: RuleContext) -> Hit | None:
    """A charter past its ``expires`` date on an agent that is not decommissioned
    (decisions already deny it; its credentials and grants may still live elsewhere)."""
    if agent.state not in _LIVE or agent.expires is None:
        return None
    today = ctx.now.date()
    if agent.expires >= today:
        return None
    ago = (today - agent.expires).days
    return Hit(
        f"the charter of {agent.name} expired on {agent.expires} ({ago} days ago); "
        f"the agent is {agent.state}",
        {"expires": iso(agent.expires), "expired_days": ago, "state": agent.state.value},
        None if agent.state == AgentState.ACTIVE else Severity.MEDIUM,
    )


@rule(
    id="review-overdue",
    title="Agent access review overdue",
    severity=Severity.MEDIUM,
    owasp=("NHI1",),
    entity=EntityType.AGENT,
    remediation=(
        "Start a review ('charter review start --scope owner:EMAIL') and have the owner keep, "
        "reduce or revoke the agent's access."
    ),
    evidence=("last_review", "review_every_days", "overdue_days"),
    thresholds=("review_grace",),
)
def review_overdue(agent: AgentFacts, ctx: RuleContext) -> Hit | None:
    """No completed review within the charter's ``review.every`` (plus ``review_grace``)
    since the last review, or since registration if it was never reviewed."""
    if agent.state != AgentState.ACTIVE or agent.charter is None:
        return None
    every = agent.charter.review.every
    last = agent.last_review or agent.created_at
    due = last + dt.timedelta(seconds=every)
    if ctx.now <= due + dt.timedelta(seconds=ctx.thresholds.review_grace):
        return None
    overdue = (ctx.now - due).days
    since = "last reviewed" if agent.last_review else "registered"
    return Hit(
        f"agent {agent.name} was {since} on {last:%Y-%m-%d}; its review was due "
        f"{overdue} days ago (every {days(every)} days)",
        {
            "last_review": iso(agent.last_review),
            "review_every_days": days(every),
            "overdue_days": overdue,
        },
    )


@rule(
    id="shadow-agent-unadopted",
    title="Shadow agent discovered and not adopted",
    severity=Severity.MEDIUM,
    owasp=("NHI1",),
    entity=EntityType.AGENT,
    remediation=(
        "Find its owner (the suggested one is in the evidence) and adopt it with a charter "
        "('charter shadow adopt NAME --charter FILE'), or revoke its credentials and "
        "decommission it."
    ),
    evidence=("discovered_at", "suggested_owner", "credentials", "identities"),
    thresholds=("shadow_grace",),
)
def shadow_agent_unadopted(agent: AgentFacts, ctx: RuleContext) -> Hit | None:
    """An agent discovery created (origin ``discovered``) that is still only discovered
    after ``shadow_grace``. High when it holds credentials."""
    if agent.origin != "discovered" or agent.state != AgentState.DISCOVERED:
        return None
    grace = ctx.thresholds.shadow_grace
    if grace and not ctx.older_than(agent.created_at, grace):
        return None
    age = int(ctx.days_since(agent.created_at) or 0)
    return Hit(
        f"shadow agent {agent.name} was discovered {f'{age} days ago' if age else 'today'} "
        "and nobody has adopted it"
        + (f"; it holds {agent.credential_count} credential(s)" if agent.credential_count else ""),
        {
            "discovered_at": iso(agent.created_at),
            "suggested_owner": agent.owner,
            "credentials": agent.credential_count,
            "identities": list(agent.identity_ids[:20]),
        },
        Severity.HIGH if agent.credential_count else None,
        {"new_owner": agent.owner} if agent.owner else None,
    )
