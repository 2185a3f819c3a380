"""Staleness (NHI1): identities, credentials and agents nobody has used for too long.

"Unused" needs a known last use, or a known creation date long enough ago with
no use since — and "never used" only where the source records use for that
kind of record (the loader sees whether any record of the same source and kind
has a last use; ``usage_tracked: false`` in properties says so explicitly).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from charter.domain.enums import AgentState, Severity
from charter.domain.estate import SCANNER_SOURCE
from charter.domain.governance.facts import AgentFacts, CredentialFacts, IdentityFacts, RuleContext
from charter.domain.governance.rule_registry import EntityType, Hit, rule
from charter.domain.governance.rules._common import active, days, iso, provider_managed

_EVIDENCE = ("last_used_at", "created_at", "unused_days", "stale_after_days")


def _stale(
    kind: str,
    name: str,
    last_used: dt.datetime | None,
    born: dt.datetime | None,
    properties: Mapping[str, Any],
    ctx: RuleContext,
    tracked: bool,
) -> Hit | None:
    limit = ctx.thresholds.stale_after
    if properties.get("usage_tracked") is False or (last_used is None and not tracked):
        return None
    if last_used is not None:
        if not ctx.older_than(last_used, limit):
            return None
        since = ctx.days_since(last_used) or 0
        message = f"{kind} {name} was last used {int(since)} days ago"
    elif ctx.older_than(born, limit):
        since = ctx.days_since(born) or 0
        message = f"{kind} {name} has never been used in the {int(since)} days since it was created"
    else:
        return None
    return Hit(
        message + f" (stale after {days(limit)} days)",
        {
            "last_used_at": iso(last_used),
            "created_at": iso(born),
            "unused_days": int(since),
            "stale_after_days": days(limit),
        },
    )


@rule(
    id="stale-identity",
    title="Identity unused for longer than the staleness threshold",
    severity=Severity.MEDIUM,
    owasp=("NHI1",),
    entity=EntityType.IDENTITY,
    remediation=(
        "Confirm with the owner that nothing depends on it, disable it, and delete it after a "
        "waiting period; for an agent's identity, decommission the agent "
        "('charter agent decommission NAME --plan')."
    ),
    evidence=_EVIDENCE,
    thresholds=("stale_after",),
)
def stale_identity(identity: IdentityFacts, ctx: RuleContext) -> Hit | None:
    """An identity whose last use (or creation, if never used) is older than ``stale_after``."""
    if not active(identity.properties) or provider_managed(identity.properties):
        return None
    return _stale(
        identity.kind.replace("_", " "),
        identity.name,
        identity.last_used_at,
        identity.created_at,
        identity.properties,
        ctx,
        identity.usage_tracked,
    )


@rule(
    id="stale-credential",
    title="Credential unused for longer than the staleness threshold",
    severity=Severity.MEDIUM,
    owasp=("NHI1",),
    entity=EntityType.CREDENTIAL,
    remediation=(
        "Deactivate the credential now and delete it after a waiting period; an unused secret "
        "is pure risk. If something still needs it, rotate it instead."
    ),
    evidence=_EVIDENCE,
    thresholds=("stale_after",),
)
def stale_credential(credential: CredentialFacts, ctx: RuleContext) -> Hit | None:
    """A credential whose last use (or creation, if never used) is older than ``stale_after``.

    Secrets found in files are judged by the leak rule; they carry no usage.
    """
    if (
        credential.source == SCANNER_SOURCE
        or credential.properties.get("last_used_derived") is False
    ):
        return None
    hit = _stale(
        credential.kind.replace("_", " "),
        credential.preview,
        credential.last_used_at,
        credential.created_at,
        credential.properties,
        ctx,
        credential.usage_tracked,
    )
    if hit is not None and not active(credential.properties):
        return Hit(hit.message + "; it is inactive: delete it", hit.evidence, Severity.LOW)
    return hit


@rule(
    id="stale-agent",
    title="Active agent with no activity for longer than the staleness threshold",
    severity=Severity.LOW,
    owasp=("NHI1",),
    entity=EntityType.AGENT,
    remediation=(
        "Ask the owner whether the agent is still needed; suspend it "
        "('charter agent suspend NAME') and decommission it if not."
    ),
    evidence=("last_activity", "created_at", "unused_days", "stale_after_days"),
    thresholds=("stale_after",),
)
def stale_agent(agent: AgentFacts, ctx: RuleContext) -> Hit | None:
    """An active agent older than ``stale_after`` with no recorded activity within it."""
    limit = ctx.thresholds.stale_after
    if agent.state != AgentState.ACTIVE or not ctx.older_than(agent.created_at, limit):
        return None
    if agent.last_activity is not None and not ctx.older_than(agent.last_activity, limit):
        return None
    since = ctx.days_since(agent.last_activity or agent.created_at) or 0
    what = (
        f"no activity for {int(since)} days"
        if agent.last_activity
        else f"no recorded activity since it was registered {int(since)} days ago"
    )
    return Hit(
        f"agent {agent.name} is active with {what}",
        {
            "last_activity": iso(agent.last_activity),
            "created_at": iso(agent.created_at),
            "unused_days": int(since),
            "stale_after_days": days(limit),
        },
    )
