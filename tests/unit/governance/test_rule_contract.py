"""Every registered rule describes itself fully and behaves like a pure rule.

Cloud Custodian's lesson: a registry is only as good as the test that lints it.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from charter.domain.enums import Severity
from charter.domain.governance.discovery_sources import SourceFacts
from charter.domain.governance.facts import AgentFacts, CredentialFacts, IdentityFacts
from charter.domain.governance.policy import Thresholds
from charter.domain.governance.rule_registry import (
    OWASP_ID,
    OWASP_TITLES,
    RULE_ID,
    EntityType,
    all_rules,
)

from . import factories as f

RULES = all_rules()
DOCS = Path(__file__).resolve().parents[3] / "docs" / "governance.md"
ISSUE_FAMILIES = {
    "agent-owner-departed",
    "identity-owner-missing",
    "stale-identity",
    "stale-credential",
    "long-lived-secret",
    "secret-leaked",
    "agent-over-privileged",
    "identity-over-privileged",
    "intent-drift",
    "human-use-of-nhi",
    "human-permissions-inherited",
    "credential-reuse",
    "static-cloud-key",
    "third-party-ai-app-broad-scopes",
    "runaway-agent",
    "charter-expired",
    "review-overdue",
    "shadow-agent-unadopted",
}


def test_the_issue_s_rules_are_all_registered() -> None:
    assert {r.id for r in RULES} >= ISSUE_FAMILIES


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_metadata_is_complete(rule) -> None:  # type: ignore[no-untyped-def]
    meta = rule.meta
    assert RULE_ID.match(meta.id), f"{meta.id} is not kebab-case"
    assert meta.title and meta.title[0].isupper() and not meta.title.endswith(".")
    assert isinstance(meta.severity, Severity)
    assert meta.owasp, "every rule maps to OWASP"
    for owasp in meta.owasp:
        assert OWASP_ID.match(owasp) and owasp in OWASP_TITLES
    assert len(meta.remediation) >= 40 and meta.remediation.endswith((".", ")"))
    assert meta.evidence and all(key.isidentifier() for key in meta.evidence)
    assert len(meta.description) >= 20, "the docstring says what the rule checks"
    for name in meta.thresholds:
        assert name in Thresholds.model_fields, f"{meta.id} reads unknown threshold {name}"


def test_ids_are_unique_and_sorted_stably() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert [r.id for r in all_rules()] == ids


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rules_are_documented(rule) -> None:  # type: ignore[no-untyped-def]
    assert f"`{rule.id}`" in DOCS.read_text(encoding="utf-8")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_modules_do_no_io(rule) -> None:  # type: ignore[no-untyped-def]
    """Rules are pure: their modules import nothing that reaches the store or the network."""
    source = Path(inspect.getfile(rule.check)).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    forbidden = {
        m
        for m in imported
        if m.startswith(
            (
                "sqlalchemy",
                "charter.store",
                "charter.services",
                "httpx",
                "requests",
                "socket",
                "subprocess",
                "os",
            )
        )
    }
    assert not forbidden, f"{rule.id} imports {forbidden}"


FACT_TYPES = {
    EntityType.AGENT: AgentFacts,
    EntityType.IDENTITY: IdentityFacts,
    EntityType.CREDENTIAL: CredentialFacts,
    EntityType.SOURCE: SourceFacts,
}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_signature_names_its_fact_type(rule) -> None:  # type: ignore[no-untyped-def]
    hints = inspect.get_annotations(rule.check, eval_str=True)
    first = next(iter(inspect.signature(rule.check).parameters))
    assert hints[first] is FACT_TYPES[rule.meta.entity]


SAMPLES = {
    EntityType.AGENT: [
        f.agent(),
        f.agent(owner="tom@acme.example"),
        f.agent(last_activity=None),
        f.agent(expires=f.NOW.date() - f.DAY),
        f.agent(origin="discovered", state=f.AgentState.DISCOVERED),
        f.agent(
            usage=(
                f.usage("tickets.read", "zendesk:tickets/1"),
                f.usage("tickets.delete", "zendesk:tickets/2", allowed=False, count=9),
                f.usage("crm.export", "salesforce:accounts", allowed=None),
            )
        ),
        f.agent(last_review=None),
        f.agent(charter=f.charter(allow=[{"action": "*"}])),
    ],
    EntityType.IDENTITY: [
        f.identity(),
        f.identity(owner=None),
        f.identity(owner="tom@acme.example"),
        f.identity(last_used_at=f.NOW - 300 * f.DAY),
        f.identity(
            kind="cloud_user",
            properties={"console_access": True, "password_last_used": "2026-10-01"},
        ),
        f.identity(
            kind="oauth_app",
            ai_related=True,
            properties={"scopes": ["https://mail.google.com/"], "third_party": True},
        ),
        f.identity(
            kind="api_key_holder",
            agent="bot",
            properties={"kind": "fine-grained PAT", "owner_login": "ada"},
        ),
    ],
    EntityType.CREDENTIAL: [
        f.credential(),
        f.credential(expires_at=None),
        f.credential(created_at=f.NOW - 400 * f.DAY, last_rotated_at=None),
        f.credential(source="fs", location="src/app.py:3", kind="api_key", provider="openai"),
        f.credential(last_used_at=f.NOW - 200 * f.DAY),
    ],
    EntityType.SOURCE: [
        SourceFacts("exports", "watch /exports", 0, 3, None, None, f.NOW),
        SourceFacts("gh", "github live acme", 3, 3, "HTTP 401", f.NOW, None),
        SourceFacts("k8s", "k8s live https://k", 5, 3, "timeout", f.NOW, f.NOW - f.DAY),
    ],
}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_hits_cite_only_declared_evidence(rule) -> None:  # type: ignore[no-untyped-def]
    context = f.ctx()
    for fact in SAMPLES[rule.meta.entity]:
        hit = rule.check(fact, context)
        if hit is None:
            continue
        assert hit.message and not hit.message.endswith(" ")
        assert set(hit.evidence) == set(rule.meta.evidence), rule.id
        assert hit.severity is None or isinstance(hit.severity, Severity)
