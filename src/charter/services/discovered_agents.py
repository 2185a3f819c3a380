"""Shadow agents: the ``discovered`` agent Charter registers for an AI identity nobody claims.

Attribution decides when one is needed; this module names it (a stable slug, so a
re-ingest finds the same agent), writes its first charter version, and words its
audit events. The charter names the identity, so the next ingest attributes it.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from charter.domain.audit import EventDraft
from charter.domain.charter import CharterSpec
from charter.domain.enums import AgentState
from charter.domain.estate import Identity
from charter.store import schema

SHADOW_CONFIDENCE = 0.8
#: The same words whether the shadow agent was just created or found again (stable re-ingest).
SHADOW_EVIDENCE = "shadow (discovered): AI-related and claimed by no registered agent"

_SUFFIX = re.compile(r"-(?:role|sa|svc|service-account|serviceaccount|identity)$")
_SLUG = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_GENERATED_PREFIXES = (
    "AmazonBedrockExecutionRoleForAgents_",
    "AmazonBedrockExecutionRoleForKnowledgeBase_",
    "AmazonSageMaker-ExecutionRole-",
    "AWSServiceRoleFor",
)
_PRODUCT_WORDS = ("SageMaker", "OpenAI", "GitHub", "ChatGPT", "DynamoDB", "PagerDuty")


def shadow_name(identity_name: str) -> str:
    """A charter-valid slug for a discovered agent:
    ``ClaimsTriageAgentRole`` → ``claims-triage-agent``.

    Product words are kept whole (``SageMaker`` → ``sagemaker``) and AWS's generated
    prefixes are dropped (``AmazonBedrockExecutionRoleForAgents_SupportBot`` →
    ``support-bot``).
    """
    base = identity_name.rsplit("/", 1)[-1].split("@", 1)[0]
    for prefix in _GENERATED_PREFIXES:
        if base.startswith(prefix) and len(base) > len(prefix):
            base = base[len(prefix) :]
    for word in _PRODUCT_WORDS:
        base = base.replace(word, word.capitalize() if base.startswith(word) else word.lower())
    base = _CAMEL.sub(r"\1-\2", base)
    slug = _SUFFIX.sub("", _SLUG.sub("-", base.lower()).strip("-"))[:54].strip("-")
    return slug or "discovered-agent"


def joined_event(actor: str, agent: str, identity: Identity) -> EventDraft:
    """An identity joins an existing shadow agent (the same product seen in another source)."""
    return EventDraft(
        actor,
        "agent.discover",
        "agent",
        agent,
        None,
        {
            "identity": identity.id,
            "source": identity.source,
            "joined": True,
            "evidence": list(identity.evidence[:5]),
        },
    )


def discovered_charter(identity: Identity, name: str, owner: str) -> CharterSpec:
    """The first charter of a shadow agent: it names the identity and allows nothing."""
    reason = "; ".join(identity.evidence[:2]) or "AI-related"
    return CharterSpec(
        name=name,
        owner=owner,
        purpose=f"Discovered {identity.kind.value.replace('_', ' ')} {identity.name} in "
        f"{identity.system} "
        f"({reason}). Nobody registered it: adopt it with a charter, or decommission it.",
        environment="unknown",
        labels={
            "origin": "discovered",
            "source": identity.source,
            "account": identity.account[:60],
        },
        identities=[identity.id],
    )


def insert_discovered(
    connection: Connection, spec: CharterSpec, *, actor: str, now: dt.datetime, scope: str
) -> None:
    """Store the shadow agent and its charter version 1 (inside the ingest transaction)."""
    document = spec.document()
    connection.execute(
        sa.insert(schema.agents).values(
            name=spec.name,
            owner=spec.owner,
            state=AgentState.DISCOVERED.value,
            charter_version=1,
            purpose=spec.purpose,
            environment=spec.environment,
            labels=spec.labels,
            expires=None,
            origin="discovered",
            created_at=now,
            updated_at=now,
        )
    )
    connection.execute(
        sa.insert(schema.charter_versions).values(
            agent=spec.name,
            version=1,
            document=document,
            created_at=now,
            created_by=actor,
            reason=f"discovered in {scope}",
        )
    )


def discovered_event(
    actor: str, agent: str, identity: Identity, owner: str, why_owner: str
) -> EventDraft:
    """A shadow agent was created, with the owner suggested for it and why."""
    return EventDraft(
        actor,
        "agent.discover",
        "agent",
        agent,
        None,
        {
            "identity": identity.id,
            "source": identity.source,
            "account": identity.account,
            "evidence": list(identity.evidence[:5]),
            "suggested_owner": owner,
            "why_owner": why_owner,
            "state": AgentState.DISCOVERED.value,
        },
    )
