"""Privilege: over-privileged agents and identities (NHI5), broad third-party AI apps (NHI3)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from charter.domain.enums import AgentState, Severity
from charter.domain.governance.facts import AgentFacts, GrantFacts, IdentityFacts, RuleContext
from charter.domain.governance.least_privilege import (
    capability_label,
    charter_least_privilege,
    grants_least_privilege,
    is_broad,
)
from charter.domain.governance.rule_registry import EntityType, Hit, rule
from charter.domain.governance.rules._common import active, days


@rule(
    id="agent-over-privileged",
    title="Agent charter allows more than the agent uses",
    severity=Severity.MEDIUM,
    owasp=("NHI5",),
    entity=EntityType.AGENT,
    remediation=(
        "Reduce the charter to the suggested least-privilege set: in an access review choose "
        "'reduce' ('charter review decide CAMPAIGN AGENT reduce'), or edit the charter. "
        "Charter keeps the old version."
    ),
    evidence=("unused", "used", "narrow", "broad", "window_days"),
    thresholds=("activity_window", "min_observation", "narrow_max_actions"),
)
def agent_over_privileged(agent: AgentFacts, ctx: RuleContext) -> Hit | None:
    """Capabilities no activity used over ``activity_window`` (for agents observed at least
    ``min_observation``), wildcard actions that a few exact ones would cover, and
    any-action-on-anything capabilities. Suggests the least-privilege charter."""
    if agent.state != AgentState.ACTIVE or agent.charter is None or not agent.charter.allow:
        return None
    broad = [capability_label(c) for c in agent.charter.allow if is_broad(c)]
    observed = ctx.older_than(agent.created_at, ctx.thresholds.min_observation) and any(
        not u.denied for u in agent.usage
    )
    if not observed and not broad:
        return None
    result = charter_least_privilege(
        agent.charter, agent.usage, narrow_max=ctx.thresholds.narrow_max_actions
    )
    unused = [capability_label(c) for c in result.removed] if observed else []
    narrow = result.summary()["narrow"] if observed else {}
    if not unused and not narrow and not broad:
        return None
    parts = []
    if unused:
        parts.append(f"{len(unused)} of {len(agent.charter.allow)} capabilities unused")
    if narrow:
        parts.append(f"{len(narrow)} wildcard action(s) could be exact")  # type: ignore[arg-type]
    if broad:
        parts.append("it may do anything anywhere")
    suggestion = (
        {
            "least_privilege": [
                c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in result.allow
            ],
            "summary": result.summary(),
        }
        if observed
        else None
    )
    return Hit(
        f"agent {agent.name}: " + "; ".join(parts),
        {
            "unused": unused,
            "used": [
                {
                    "capability": capability_label(u.capability),
                    "count": u.count,
                    "actions": list(u.actions[:10]),
                }
                for u in result.uses
                if u.used
            ],
            "narrow": narrow,
            "broad": broad,
            "window_days": days(ctx.thresholds.activity_window),
        },
        Severity.HIGH if broad else None,
        suggestion,
    )


def _admin(grants: Iterable[GrantFacts], ctx: RuleContext) -> list[str]:
    """Grants that confer administration: flagged by the source, or by a known admin policy."""
    admin_permissions = set(ctx.thresholds.admin_permissions)
    admin_policies = set(ctx.thresholds.admin_policies)
    found = []
    for grant in grants:
        named = {
            str(grant.properties.get(k)) for k in ("role", "policy") if grant.properties.get(k)
        }
        for via in grant.properties.get("via") or []:  # "managed policy AdministratorAccess"
            named.update(re.split(r"[\s/():]+", str(via)))
        if (
            grant.properties.get("admin") is True
            or admin_permissions.intersection(grant.permissions)
            or named & admin_policies
        ):
            found.append(grant.reason or grant.id)
    return found


def _wildcards(grants: Iterable[GrantFacts]) -> list[str]:
    """Wildcard permissions, as granted (sources that expand wildcards keep the written
    patterns in ``properties.patterns``)."""
    found: set[str] = set()
    for grant in grants:
        written = grant.properties.get("patterns")
        candidates = written if isinstance(written, list) else grant.permissions
        found.update(str(p) for p in candidates if "*" in str(p))
    return sorted(found)[:20]


@rule(
    id="identity-over-privileged",
    title="Identity with admin or wildcard grants, or permissions it never uses",
    severity=Severity.MEDIUM,
    owasp=("NHI5",),
    entity=EntityType.IDENTITY,
    remediation=(
        "Replace admin and wildcard policies with the exact permissions the identity uses "
        "(the suggestion lists them when activity is known); remove unused grants."
    ),
    evidence=("admin_grants", "wildcards", "unused_permissions", "window_days"),
    thresholds=("admin_permissions", "admin_policies", "activity_window"),
)
def identity_over_privileged(identity: IdentityFacts, ctx: RuleContext) -> Hit | None:
    """Admin grants (the source's ``admin`` flag, or a policy named in ``admin_policies``),
    wildcard permissions, and — when its activity is known — permissions it never used."""
    if not identity.grants or not active(identity.properties):
        return None
    grants = [
        g
        for g in identity.grants
        if "assumes" not in g.properties and "escalation" not in g.properties
    ]
    admin = _admin(grants, ctx)
    wildcards = _wildcards(grants)
    unused: list[str] = []
    suggestion = None
    if identity.usage:
        use = grants_least_privilege(grants, identity.usage)
        unused = list(use.unused[:50])
        suggestion = {"least_privilege": list(use.suggested)}
    if not (admin or wildcards or unused):
        return None
    parts = []
    if admin:
        parts.append(f"{len(admin)} admin grant(s)")
    if wildcards:
        parts.append(f"wildcard permissions ({', '.join(wildcards[:3])})")
    if unused:
        parts.append(f"{len(unused)} permission(s) never used")
    return Hit(
        f"{identity.kind.replace('_', ' ')} {identity.name} has " + ", ".join(parts),
        {
            "admin_grants": admin[:10],
            "wildcards": wildcards,
            "unused_permissions": unused,
            "window_days": days(ctx.thresholds.activity_window),
        },
        Severity.HIGH if admin else None,
        suggestion,
    )


@rule(
    id="third-party-ai-app-broad-scopes",
    title="Third-party AI app holding broad OAuth scopes",
    severity=Severity.HIGH,
    owasp=("NHI3",),
    entity=EntityType.IDENTITY,
    remediation=(
        "Review the app with the people who granted it; revoke the grant or limit it to "
        "narrow, read-only scopes, and restrict which third-party apps users may consent to."
    ),
    evidence=("scopes", "broad_scopes", "publisher", "users"),
    thresholds=("broad_scopes",),
)
def third_party_ai_app(identity: IdentityFacts, ctx: RuleContext) -> Hit | None:
    """An AI-related OAuth app from outside the organisation with a scope from
    ``broad_scopes`` (mail, drive, directory, repository admin, message history …)."""
    if identity.kind not in ("oauth_app", "oauth_grant") or not identity.ai_related:
        return None
    props = identity.properties
    if props.get("internal") is True or props.get("third_party") is False:
        return None
    scopes = {str(s) for s in props.get("scopes") or []}
    scopes.update(p for g in identity.grants for p in g.permissions)
    broad = set(ctx.thresholds.broad_scopes) & scopes
    broad.update(str(s) for s in props.get("broad_scopes") or [])
    broad.update(str(s) for s in props.get("sensitive_scopes") or [])
    if not broad:
        return None
    users = props.get("users")
    return Hit(
        f"AI app {identity.name} holds broad scopes: {', '.join(sorted(broad)[:5])}"
        + (f" (granted by {users} people)" if isinstance(users, int) and users else ""),
        {
            "scopes": sorted(scopes)[:50],
            "broad_scopes": sorted(broad),
            "publisher": props.get("publisher"),
            "users": users,
        },
    )


@rule(
    id="privilege-escalation",
    title="Identity that can make itself an administrator or a more privileged role",
    severity=Severity.HIGH,
    owasp=("NHI5", "ASI03"),
    entity=EntityType.IDENTITY,
    remediation=(
        "Break the first step of the path: remove the permission it names, constrain it to "
        "the resources the identity needs (no iam:PassRole on '*', no policy changes on "
        "itself), add a Deny or a permissions boundary, or narrow the trust policy of the "
        "role it can become. 'charter map --escalation' shows every path."
    ),
    evidence=("path", "steps", "target", "conditional", "owasp"),
)
def privilege_escalation(identity: IdentityFacts, ctx: RuleContext) -> Hit | None:
    """A path, found in the identity's policies as the cloud evaluates them (explicit
    Deny, permissions boundary, resource constraints, conditions), by which it can become
    an administrator: change its own policies, become another user or role (access
    keys, trust policies, passing a role to a service that runs its code). Each step
    names the permissions it uses; a condition that cannot be checked offline is named
    and the finding is then medium, as it is for a path that ends at a role which may do
    sensitive things the identity may not (a more privileged role, short of admin).
    ASI03 applies when an agent holds the identity."""
    path = identity.properties.get("escalation")
    if not isinstance(path, dict) or not path.get("steps") or not active(identity.properties):
        return None
    steps = [s for s in path["steps"] if isinstance(s, dict)]
    conditional = bool(path.get("conditional"))
    wider = path.get("reaches") == "more-privileged"
    first = steps[0]
    owasp = ["NHI5", "ASI03"] if identity.agent else ["NHI5"]
    how = ", then ".join(str(s.get("technique")) for s in steps)
    becomes = "a more privileged role" if wider else "an administrator"
    return Hit(
        f"{identity.kind.replace('_', ' ')} {identity.name} can become {becomes}: "
        f"{path.get('summary')} ({how}; first step: {', '.join(first.get('actions') or [])})",
        {
            "path": path.get("summary"),
            "steps": [
                {k: s.get(k) for k in ("technique", "to", "actions", "reason", "assumptions")}
                for s in steps
            ],
            "target": path.get("to"),
            "conditional": conditional,
            "owasp": owasp,
        },
        Severity.MEDIUM if conditional or wider else None,
    )
