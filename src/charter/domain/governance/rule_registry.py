"""The rule registry: every finding rule, self-described, registered by decorator.

A rule is a small pure function ``check(fact, ctx) -> Hit | None`` plus
metadata: a stable kebab-case id, a title, a default severity, its OWASP
mapping (Non-Human Identities Top 10 ``NHI1``–``NHI10``; Top 10 for Agentic
Applications ``ASI01``–``ASI10``), remediation text, the evidence keys it
cites and the policy thresholds it reads. ``tests/unit/governance/
test_rule_contract.py`` lints every registered rule against this (Cloud
Custodian's lesson: a registry is only as good as the test that checks it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

from charter.domain.enums import Severity

RULE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")
OWASP_ID = re.compile(r"^(NHI([1-9]|10)|ASI(0[1-9]|10))$")

#: OWASP ids → their names, for output and docs.
OWASP_TITLES: Mapping[str, str] = {
    "NHI1": "Improper Offboarding",
    "NHI2": "Secret Leakage",
    "NHI3": "Vulnerable Third-Party NHI",
    "NHI4": "Insecure Authentication",
    "NHI5": "Overprivileged NHI",
    "NHI6": "Insecure Cloud Deployment Configurations",
    "NHI7": "Long-Lived Secrets",
    "NHI8": "Environment Isolation",
    "NHI9": "NHI Reuse",
    "NHI10": "Human Use of NHI",
    "ASI01": "Agent Goal Hijack",
    "ASI02": "Tool Misuse and Exploitation",
    "ASI03": "Identity and Privilege Abuse",
    "ASI04": "Agentic Supply Chain Vulnerabilities",
    "ASI05": "Unexpected Code Execution",
    "ASI06": "Memory and Context Poisoning",
    "ASI07": "Insecure Inter-Agent Communication",
    "ASI08": "Cascading Failures",
    "ASI09": "Human-Agent Trust Exploitation",
    "ASI10": "Rogue Agents",
}


class EntityType(StrEnum):
    """What a rule looks at (and what its findings are about)."""

    AGENT = "agent"
    IDENTITY = "identity"
    CREDENTIAL = "credential"
    SOURCE = "source"  # a scheduled discovery source (the policy's ``discovery`` section)


class Hit(NamedTuple):
    """A rule's verdict on one entity: what is wrong, the evidence, and what to do instead.

    ``severity`` overrides the rule's default for this hit (a leaked key that is
    live somewhere is worse than one that is not); ``suggestion`` carries a
    machine-usable remedy (the suggested owner, the least-privilege set). A named tuple:
    immutable, and built in a fraction of a frozen dataclass's time (rules make millions).
    """

    message: str
    evidence: Mapping[str, Any]
    severity: Severity | None = None
    suggestion: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RuleMeta:
    id: str
    title: str
    severity: Severity
    owasp: tuple[str, ...]
    entity: EntityType
    remediation: str
    evidence: tuple[str, ...]
    thresholds: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class GovernanceRule:
    meta: RuleMeta
    check: Callable[[Any, Any], Hit | None] = field(repr=False)

    @property
    def id(self) -> str:
        return self.meta.id


REGISTRY: dict[str, GovernanceRule] = {}

F = TypeVar("F")
C = TypeVar("C")
Check = Callable[[F, C], Hit | None]


def rule(
    *,
    id: str,
    title: str,
    severity: Severity,
    owasp: tuple[str, ...],
    entity: EntityType,
    remediation: str,
    evidence: tuple[str, ...],
    thresholds: tuple[str, ...] = (),
) -> Callable[[Check[F, C]], Check[F, C]]:
    """Register ``check`` under ``id``. Ids are forever: rename a rule and suppressions break."""

    def register(check: Check[F, C]) -> Check[F, C]:
        if id in REGISTRY:
            raise ValueError(f"rule id {id!r} is registered twice")
        meta = RuleMeta(
            id=id,
            title=title,
            severity=severity,
            owasp=owasp,
            entity=entity,
            remediation=remediation,
            evidence=evidence,
            thresholds=thresholds,
            description=(check.__doc__ or "").strip(),
        )
        REGISTRY[id] = GovernanceRule(meta, check)
        return check

    return register


def all_rules() -> list[GovernanceRule]:
    """Every registered rule, in a stable order (importing the rule modules registers them)."""
    import charter.domain.governance.rules  # noqa: F401  (registration by import)

    return sorted(REGISTRY.values(), key=lambda r: (r.meta.entity.value, r.meta.id))


def get_rule(rule_id: str) -> GovernanceRule | None:
    all_rules()
    return REGISTRY.get(rule_id)
