"""Behaviour: intent drift and privilege abuse (ASI03), runaway agents (ASI10), humans
using non-human identities (NHI10)."""

from __future__ import annotations

from charter.domain.enums import AgentState, Severity
from charter.domain.governance.facts import AgentFacts, IdentityFacts, RuleContext, Usage
from charter.domain.governance.least_privilege import safe_pattern
from charter.domain.governance.rule_registry import EntityType, Hit, rule
from charter.domain.governance.rules._common import days, iso

_SAMPLES = 10


def _sample(usage: list[Usage]) -> list[dict[str, object]]:
    # A total order: usage arrives in whatever order the database grouped it (the same
    # action and resource can come twice, from two identities), and the sample is hashed.
    usage = sorted(
        usage, key=lambda u: (-u.count, u.action, u.resource, u.source, u.last, u.first)
    )[:_SAMPLES]
    return [
        {
            "action": u.action,
            "resource": u.resource,
            "count": u.count,
            "last": iso(u.last),
            "source": u.source,
        }
        for u in usage
    ]


def _named(agent: AgentFacts, usage: Usage) -> bool:
    """Whether the charter allows this action on this resource (and no deny names it)."""
    assert agent.charter is not None

    def hits(action: str, resource: str) -> bool:
        a, r = safe_pattern(action), safe_pattern(resource)
        return bool(a and r and a.matches(usage.action) and r.matches(usage.resource))

    if any(hits(c.action, c.resource) for c in agent.charter.deny):
        return False
    return any(hits(c.action, c.resource) for c in agent.charter.allow)


@rule(
    id="intent-drift",
    title="Agent acting outside its charter",
    severity=Severity.MEDIUM,
    owasp=("ASI03",),
    entity=EntityType.AGENT,
    remediation=(
        "Find out why the agent tries what its charter does not allow: a changed task "
        "(update the charter, with its owner's approval) or a compromised or confused agent "
        "(suspend it with 'charter agent suspend NAME' and investigate)."
    ),
    evidence=("denied", "unchartered", "denied_total", "window_days"),
    thresholds=("drift_min_denied", "activity_window"),
)
def intent_drift(agent: AgentFacts, ctx: RuleContext) -> Hit | None:
    """Denied attempts (at least ``drift_min_denied`` in the window) and actions seen in
    ingested logs that the charter does not name."""
    if agent.charter is None or agent.state == AgentState.DECOMMISSIONED:
        return None
    denied = [u for u in agent.usage if u.denied]
    denied_total = sum(u.count for u in denied)
    unchartered = [u for u in agent.usage if u.observed and not _named(agent, u)]
    if denied_total < ctx.thresholds.drift_min_denied:
        denied, denied_total = [], 0
    if not denied and not unchartered:
        return None
    parts = []
    if denied:
        parts.append(f"{denied_total} denied attempt(s)")
    if unchartered:
        parts.append(
            f"{len(unchartered)} action(s) in ingested logs that its charter does not name"
        )
    return Hit(
        f"agent {agent.name}: " + " and ".join(parts),
        {
            "denied": _sample(denied),
            "unchartered": _sample(unchartered),
            "denied_total": denied_total,
            "window_days": days(ctx.thresholds.activity_window),
        },
        Severity.HIGH if unchartered else None,
    )


@rule(
    id="runaway-agent",
    title="Agent request or denial rate far above its own baseline",
    severity=Severity.HIGH,
    owasp=("ASI10",),
    entity=EntityType.AGENT,
    remediation=(
        "Check the agent now: a machine-speed loop or a rogue agent. Suspend it "
        "('charter agent suspend NAME') if the activity is not expected, and set a "
        "rate_limit_per_minute on its capabilities."
    ),
    evidence=(
        "window_start",
        "window_end",
        "requests",
        "denials",
        "baseline_start",
        "expected_requests",
        "expected_denials",
        "factor",
    ),
    thresholds=(
        "runaway_window",
        "runaway_baseline",
        "runaway_factor",
        "runaway_min_requests",
        "runaway_min_denials",
    ),
)
def runaway_agent(agent: AgentFacts, ctx: RuleContext) -> Hit | None:
    """In the last ``runaway_window``, requests (or denials) at least ``runaway_factor``
    times what the agent's own ``runaway_baseline`` predicts, and above the minimums."""
    rate = agent.rate
    if rate is None or agent.state == AgentState.DECOMMISSIONED or rate.baseline_requests == 0:
        return None
    t = ctx.thresholds
    loud = rate.requests >= max(t.runaway_min_requests, t.runaway_factor * rate.expected_requests)
    denying = rate.denials >= max(
        t.runaway_min_denials, t.runaway_factor * max(rate.expected_denials, 1.0)
    )
    if not (loud or denying):
        return None
    what = []
    if loud:
        what.append(f"{rate.requests} requests (baseline {rate.expected_requests:.1f})")
    if denying:
        what.append(f"{rate.denials} denials (baseline {rate.expected_denials:.1f})")
    minutes = int((rate.end - rate.start).total_seconds() // 60)
    return Hit(
        f"agent {agent.name}: {' and '.join(what)} in the last {minutes} minutes",
        {
            "window_start": iso(rate.start),
            "window_end": iso(rate.end),
            "requests": rate.requests,
            "denials": rate.denials,
            "baseline_start": iso(rate.baseline_start),
            "expected_requests": round(rate.expected_requests, 2),
            "expected_denials": round(rate.expected_denials, 2),
            "factor": t.runaway_factor,
        },
        Severity.CRITICAL if loud and denying else None,
    )


_SERVICE_KINDS = frozenset(
    {"service_account", "cloud_user", "bot_user", "api_key_holder", "workload", "oauth_app"}
)


@rule(
    id="human-use-of-nhi",
    title="Interactive sign-in with a non-human identity",
    severity=Severity.HIGH,
    owasp=("NHI10",),
    entity=EntityType.IDENTITY,
    remediation=(
        "People sign in as themselves: remove the console password (or interactive sign-in) "
        "from the service identity, rotate its secrets, and give the person their own access."
    ),
    evidence=("signals", "password_last_used", "interactive_sign_in"),
)
def human_use_of_nhi(identity: IdentityFacts, ctx: RuleContext) -> Hit | None:
    """A service identity with a console password or interactive sign-in in use (for
    example an IAM user with ``password_enabled`` and a recent ``password_last_used``)."""
    if identity.kind not in _SERVICE_KINDS or identity.properties.get("root"):
        return None
    if identity.person is not None:
        return None  # a person's own account (named after them): people sign in to those
    props = identity.properties
    signals = []
    if props.get("console_access") is True or props.get("password_enabled") is True:
        signals.append("console password enabled")
    if props.get("password_last_used"):
        signals.append(f"console sign-in on {str(props['password_last_used'])[:10]}")
    interactive = props.get("interactive_sign_in") or props.get("last_interactive_sign_in")
    if interactive:
        signals.append(f"interactive sign-in on {str(interactive)[:10]}")
    signals.extend(f"password credential {c.id}" for c in identity.passwords if c.last_used_at)
    if not signals:
        return None
    in_use = bool(props.get("password_last_used") or interactive or identity.passwords)
    return Hit(
        f"{identity.kind.replace('_', ' ')} {identity.name}: " + "; ".join(signals),
        {
            "signals": signals,
            "password_last_used": props.get("password_last_used"),
            "interactive_sign_in": interactive,
        },
        None if in_use else Severity.MEDIUM,
    )


def _person_behind(identity: IdentityFacts) -> tuple[str, str] | None:
    """(person, how) when the identity acts with a person's own permissions."""
    props = identity.properties
    if identity.person is not None:
        return identity.person, "personal account"
    email = identity.owner if identity.owner and "@" in identity.owner else None
    if "PAT" in str(props.get("kind", "")) or "personal access token" in str(props.get("kind")):
        who = email or props.get("owner_login") or identity.owner or "a person"
        return str(who), "personal access token"
    for grant in identity.grants:
        inherits = grant.properties.get("inherits_user")
        if inherits:
            return str(email or inherits), "API token that inherits its creator's permissions"
    if identity.kind == "oauth_grant" and props.get("user"):
        return str(props["user"]), "OAuth grant of a person"
    if props.get("session_of") or props.get("acts_as_person"):
        return str(props.get("session_of") or props.get("acts_as_person")), "a person's session"
    return None


@rule(
    id="human-permissions-inherited",
    title="Agent using a person's token, grant or session instead of its own identity",
    severity=Severity.HIGH,
    owasp=("ASI03",),
    entity=EntityType.IDENTITY,
    remediation=(
        "Register the agent and let it authenticate as itself (its own key, short-lived "
        "tokens from Charter); where it must act for the person, use delegation so it gets "
        "the intersection of the person's access and its charter. Then revoke the person's token."
    ),
    evidence=("person", "via", "agent", "ai_signals"),
)
def human_permissions_inherited(identity: IdentityFacts, ctx: RuleContext) -> Hit | None:
    """A person-bound credential (PAT, user-inherited API token, OAuth grant, session) that
    an agent uses: attributed to an agent, or AI-related by its evidence."""
    if not (identity.agent or identity.ai_related):
        return None
    behind = _person_behind(identity)
    if behind is None:
        return None
    person, via = behind
    who = f"agent {identity.agent}" if identity.agent else f"AI identity {identity.name}"
    return Hit(
        f"{who} acts with the {via} of {person}",
        {
            "person": person,
            "via": via,
            "agent": identity.agent,
            "ai_signals": list(identity.evidence[:5]),
        },
    )
