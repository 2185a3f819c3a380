"""Secrets: long-lived (NHI7), leaked (NHI2), reused (NHI9, NHI8), static cloud keys
(NHI4, NHI6).
"""

from __future__ import annotations

from charter.domain.enums import Severity
from charter.domain.estate import SCANNER_SOURCE
from charter.domain.governance.facts import CredentialBrief, CredentialFacts, RuleContext
from charter.domain.governance.rule_registry import EntityType, Hit, rule
from charter.domain.governance.rules._common import active, days, iso

#: kinds that authenticate by knowing a secret the organisation holds (a public key or a
#: certificate is not one; a person's OAuth consent to an app is a grant, not a held secret)
SECRET_KINDS = frozenset(
    {
        "api_key",
        "access_key",
        "token",
        "client_secret",
        "private_key",
        "password",
        "connection_string",
    }
)
#: long-term cloud keys, and the federation that replaces each
FEDERATION = {
    "aws": "IAM roles with OIDC federation (IRSA on EKS, GitHub Actions OIDC, IAM Roles Anywhere)",
    "gcp": (
        "Workload Identity Federation (or GKE Workload Identity) instead of service account keys"
    ),
    "google": "Workload Identity Federation instead of service account keys",
    "azure": "federated identity credentials or managed identities instead of client secrets",
    "entra": "federated identity credentials or managed identities instead of client secrets",
    "microsoft": "federated identity credentials or managed identities instead of client secrets",
}
STATIC_KINDS = frozenset({"access_key", "private_key", "client_secret"})


def _rotate_every(credential: CredentialFacts, ctx: RuleContext) -> int:
    agent = ctx.agents.get(credential.agent) if credential.agent else None
    if agent is not None and agent.rotate_every:
        return agent.rotate_every
    return ctx.thresholds.rotate_every


@rule(
    id="long-lived-secret",
    title="Secret older than the rotation policy, or one that never expires",
    severity=Severity.HIGH,
    owasp=("NHI7",),
    entity=EntityType.CREDENTIAL,
    remediation=(
        "Rotate it ('charter rotation plan ID' gives the exact steps) and prefer credentials "
        "that expire: short-lived tokens from Charter or the provider's federation."
    ),
    evidence=("created_at", "last_rotated_at", "expires_at", "age_days", "rotate_every_days"),
    thresholds=("rotate_every",),
)
def long_lived_secret(credential: CredentialFacts, ctx: RuleContext) -> Hit | None:
    """Older than the cadence (the agent's charter ``credentials.rotate_every``, else the
    policy's ``rotate_every``; high), or issued without any expiry (medium while young)."""
    if credential.source == SCANNER_SOURCE or credential.kind not in SECRET_KINDS:
        return None
    if not active(credential.properties):
        return None
    born = credential.last_rotated_at or credential.created_at
    if born is None:
        return None  # the source does not say how old it is
    cadence = _rotate_every(credential, ctx)
    age = int(ctx.days_since(born) or 0)
    evidence = {
        "created_at": iso(credential.created_at),
        "last_rotated_at": iso(credential.last_rotated_at),
        "expires_at": iso(credential.expires_at),
        "age_days": age,
        "rotate_every_days": days(cadence),
    }
    name = f"{credential.kind.replace('_', ' ')} {credential.preview}"
    never = credential.expires_at is None
    if ctx.older_than(born, cadence):
        tail = " and never expires" if never else ""
        return Hit(f"{name} is {age} days old (rotate every {days(cadence)} days){tail}", evidence)
    if never:
        return Hit(f"{name} never expires", evidence, Severity.MEDIUM)
    return None  # young and expiring: the rotation policy still has time to act


def _live(holders: tuple[CredentialBrief, ...]) -> list[CredentialBrief]:
    return [h for h in holders if h.source != SCANNER_SOURCE]


@rule(
    id="secret-leaked",
    title="Secret found in code, configuration or history",
    severity=Severity.HIGH,
    owasp=("NHI2",),
    entity=EntityType.CREDENTIAL,
    remediation=(
        "Revoke the secret at its provider and issue a new one stored in a secret manager; "
        "remove it from the file and, if it was committed, from the repository history. "
        "Deleting the line alone does not help: the secret is already exposed."
    ),
    evidence=("location", "locations", "provider", "in_history_only", "live_in"),
)
def secret_leaked(credential: CredentialFacts, ctx: RuleContext) -> Hit | None:
    """A secret the scanner found in a file or in git history (source ``fs``). Critical when
    the same secret is also a live credential in a system Charter has ingested; info for a
    key id found without its secret and for an agent key Charter itself enrolled."""
    if credential.source != SCANNER_SOURCE:
        return None
    live = _live(credential.same_secret)
    locations = credential.properties.get("locations") or [credential.location]
    evidence = {
        "location": credential.location,
        "locations": list(locations)[:20],
        "provider": credential.provider,
        "in_history_only": bool(credential.properties.get("in_history_only")),
        "live_in": [f"{h.source}:{h.account} ({h.id})" for h in live],
    }
    where = credential.location or "a scanned file"
    kind = credential.kind.replace("_", " ")
    message = f"{credential.provider} {kind} {credential.preview} is written in {where}"
    enrolled = credential.properties.get("charter_agent")
    if enrolled:  # Charter's own agent key file: where the agent should have it
        return Hit(
            f"Charter-enrolled key for agent {enrolled} in {where}; keep it private",
            evidence,
            Severity.INFO,
        )
    if credential.properties.get("secret_nearby") is False:  # an AWS key id with no secret
        return Hit(
            f"{message}: an identifier without its secret, not a working credential",
            evidence,
            Severity.INFO,
        )
    if live:
        message += f"; it is live in {live[0].source}:{live[0].account}"
        return Hit(message, evidence, Severity.CRITICAL)
    return Hit(message, evidence)


@rule(
    id="credential-reuse",
    title="One secret shared across agents, workloads or environments",
    severity=Severity.HIGH,
    owasp=("NHI9", "NHI8"),
    entity=EntityType.CREDENTIAL,
    remediation=(
        "Give each agent, workload and environment its own credential (or its own short-lived "
        "token from Charter), then revoke the shared one."
    ),
    evidence=("holders", "agents", "accounts", "environments"),
)
def credential_reuse(credential: CredentialFacts, ctx: RuleContext) -> Hit | None:
    """The same fingerprint held by more than one agent, account or environment (copies in
    files are leaks, not reuse). Reported once, on the holder with the smallest id."""
    holders = _live(credential.same_secret)
    if credential.source == SCANNER_SOURCE or len(holders) < 2 or holders[0].id != credential.id:
        return None
    agents = sorted({h.agent for h in holders if h.agent})
    accounts = sorted({f"{h.source}:{h.account}" for h in holders})
    environments = sorted({h.environment for h in holders if h.environment})
    if len(agents) < 2 and len(accounts) < 2 and len(environments) < 2:
        return None
    parts = []
    if len(agents) > 1:
        parts.append(f"agents {', '.join(agents)}")
    if len(accounts) > 1:
        parts.append(f"{len(accounts)} accounts")
    if len(environments) > 1:
        parts.append(f"environments {', '.join(environments)}")
    return Hit(
        f"{credential.preview} is shared by " + " and ".join(parts),
        {
            "holders": [h.id for h in holders][:50],
            "agents": agents,
            "accounts": accounts,
            "environments": environments,
        },
        Severity.CRITICAL if len(environments) > 1 else None,
    )


@rule(
    id="static-cloud-key",
    title="Long-term cloud key where federation is available",
    severity=Severity.MEDIUM,
    owasp=("NHI4", "NHI6"),
    entity=EntityType.CREDENTIAL,
    remediation=(
        "Replace the static key with federation (the evidence names the provider's option), "
        "then deactivate and delete the key."
    ),
    evidence=("provider", "identity", "federation", "last_used_at"),
)
def static_cloud_key(credential: CredentialFacts, ctx: RuleContext) -> Hit | None:
    """A user-managed AWS access key, GCP service-account key or Entra client secret in use
    by a workload identity: every one of these clouds offers keyless federation."""
    provider = credential.provider.lower()
    if credential.source == SCANNER_SOURCE or provider not in FEDERATION:
        return None
    if credential.kind not in STATIC_KINDS or not active(credential.properties):
        return None
    if credential.properties.get("key_type") == "SYSTEM_MANAGED":
        return None  # Google-managed keys rotate themselves
    return Hit(
        f"{credential.identity_name or credential.identity or credential.location or credential.id}"
        " authenticates to "
        f"{provider} with a long-term {credential.kind.replace('_', ' ')} {credential.preview}",
        {
            "provider": provider,
            "identity": credential.identity,
            "federation": FEDERATION[provider],
            "last_used_at": iso(credential.last_used_at),
        },
    )
