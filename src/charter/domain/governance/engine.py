"""Run the rules over facts: pure, so it is the same on the store, on fixtures and in tests.

Each hit becomes a :class:`FindingDraft` about one entity, carrying what the
JSON output promises: the rule id, its OWASP ids, the entity's name and
identifiers, and the agent, owner and system it is charged to (posture sums by
those). A finding's id is a hash of (rule, entity type, entity id), so the
same problem on the same entity is the same finding on every evaluation;
its digest changes only when what it says changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from charter.domain.enums import Severity
from charter.domain.governance.discovery_sources import SourceFacts
from charter.domain.governance.facts import AgentFacts, CredentialFacts, IdentityFacts, RuleContext
from charter.domain.governance.policy import GovernancePolicy
from charter.domain.governance.rule_registry import EntityType, GovernanceRule, all_rules

logger = logging.getLogger("charter.governance")


def finding_id(rule: str, entity_type: str, entity_id: str) -> str:
    material = "\x1f".join((rule, entity_type, entity_id)).encode()
    return hashlib.blake2b(material, digest_size=16).hexdigest()


class Subject(NamedTuple):
    """Who or what a finding is about, and who it is charged to."""

    type: EntityType
    id: str
    name: str
    identifiers: Mapping[str, Any]
    agent: str | None
    owner: str | None
    system: str | None


class FindingDraft(NamedTuple):
    """One hit, ready to store (named tuples: evaluations build hundreds of thousands)."""

    id: str
    rule: str
    severity: Severity
    subject: Subject
    message: str
    evidence: Mapping[str, Any]
    suggestion: Mapping[str, Any] | None
    digest: str
    #: the evidence and suggestion as canonical JSON (hashed for the digest, and stored)
    evidence_json: str = "{}"
    suggestion_json: str | None = None


#: one encoder, built once: ``json.dumps`` with options builds a new encoder per call
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)
canonical_json = _CANONICAL.encode


def _digest(
    severity: Severity, subject: Subject, message: str, evidence: str, suggestion: str | None
) -> str:
    """What the finding says, hashed: a change of any of it rewrites the stored finding.
    (The identifiers follow from the entity id, which is part of the finding's id.)"""
    text = "\x1f".join(
        (
            severity.value,
            subject.name,
            subject.agent or "",
            subject.owner or "",
            subject.system or "",
            message,
            evidence,
            suggestion or "",
        )
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def agent_subject(agent: AgentFacts, ctx: RuleContext) -> Subject:
    return Subject(
        EntityType.AGENT,
        agent.name,
        agent.name,
        {"name": agent.name, "charter_version": agent.charter_version, "origin": agent.origin},
        agent.name,
        agent.owner,
        None,
    )


def identity_subject(identity: IdentityFacts, ctx: RuleContext) -> Subject:
    brief = ctx.agents.get(identity.agent) if identity.agent else None
    return Subject(
        EntityType.IDENTITY,
        identity.id,
        identity.name,
        {
            "id": identity.id,
            "native_id": identity.native_id,
            "source": identity.source,
            "account": identity.account,
            "kind": identity.kind,
        },
        identity.agent,
        brief.owner if brief else identity.owner,
        identity.system,
    )


def credential_subject(credential: CredentialFacts, ctx: RuleContext) -> Subject:
    brief = ctx.agents.get(credential.agent) if credential.agent else None
    return Subject(
        EntityType.CREDENTIAL,
        credential.id,
        credential.preview,
        {
            "id": credential.id,
            "fingerprint": credential.fingerprint,
            "preview": credential.preview,
            "provider": credential.provider,
            "kind": credential.kind,
            "identity": credential.identity,
            "location": credential.location,
        },
        credential.agent,
        brief.owner if brief else credential.identity_owner,
        credential.identity_system or f"{credential.source}:{credential.account}",
    )


def source_subject(source: SourceFacts, ctx: RuleContext) -> Subject:
    return Subject(
        EntityType.SOURCE,
        source.name,
        source.name,
        {"name": source.name, "source": source.describe},
        None,
        None,
        None,
    )


class Evaluator:
    """The enabled rules, split by entity type, with the policy's severity overrides."""

    def __init__(
        self, policy: GovernancePolicy, rules: Iterable[GovernanceRule] | None = None
    ) -> None:
        chosen = list(rules) if rules is not None else all_rules()
        policy.check_rules(r.id for r in (all_rules() if rules is None else chosen))
        self.policy = policy
        self.rules = [r for r in chosen if policy.setting(r.id).enabled]
        self._severity = {r.id: policy.setting(r.id).severity for r in self.rules}
        self._by_entity: dict[EntityType, list[GovernanceRule]] = {t: [] for t in EntityType}
        for rule in self.rules:
            self._by_entity[rule.meta.entity].append(rule)
        self.errors: list[str] = []

    @property
    def rule_ids(self) -> list[str]:
        return [r.id for r in self.rules]

    def rule_ids_for(self, entity: EntityType) -> list[str]:
        """The enabled rules about one kind of entity."""
        return [r.id for r in self._by_entity[entity]]

    def _run(
        self,
        entity: EntityType,
        fact: Any,
        describe: Callable[[Any, RuleContext], Subject],
        ctx: RuleContext,
    ) -> Iterator[FindingDraft]:
        subject: Subject | None = None  # described only when something hits (most facts pass)
        for rule in self._by_entity[entity]:
            try:
                hit = rule.check(fact, ctx)
            except Exception as exc:  # a broken rule must not hide the others' findings
                what = getattr(fact, "id", None) or getattr(fact, "name", "?")
                logger.exception("rule %s failed on %s %s", rule.id, entity, what)
                if len(self.errors) < 100:
                    self.errors.append(f"{rule.id} on {entity} {what}: {exc!r}")
                continue
            if hit is None:
                continue
            if subject is None:
                subject = describe(fact, ctx)
            severity = self._severity[rule.id] or hit.severity or rule.meta.severity
            evidence = _CANONICAL.encode(hit.evidence)
            suggestion = _CANONICAL.encode(hit.suggestion) if hit.suggestion is not None else None
            yield FindingDraft(
                finding_id(rule.id, entity.value, subject.id),
                rule.id,
                severity,
                subject,
                hit.message,
                hit.evidence,
                hit.suggestion,
                _digest(severity, subject, hit.message, evidence, suggestion),
                evidence,
                suggestion,
            )

    def agents(self, facts: Iterable[AgentFacts], ctx: RuleContext) -> Iterator[FindingDraft]:
        for agent in facts:
            yield from self._run(EntityType.AGENT, agent, agent_subject, ctx)

    def identities(
        self, facts: Iterable[IdentityFacts], ctx: RuleContext
    ) -> Iterator[FindingDraft]:
        for identity in facts:
            yield from self._run(EntityType.IDENTITY, identity, identity_subject, ctx)

    def credentials(
        self, facts: Iterable[CredentialFacts], ctx: RuleContext
    ) -> Iterator[FindingDraft]:
        for credential in facts:
            yield from self._run(EntityType.CREDENTIAL, credential, credential_subject, ctx)

    def sources(self, facts: Iterable[SourceFacts], ctx: RuleContext) -> Iterator[FindingDraft]:
        for source in facts:
            yield from self._run(EntityType.SOURCE, source, source_subject, ctx)
