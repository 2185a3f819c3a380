"""The bundled sample estate (examples/estate + examples/workstation): named findings on named
entities, and none on the clean ones — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import pytest
from tests.support.server import ROOT

from charter.discovery.scan.engine import ScanOptions, run_scan
from charter.discovery.scan.records import batches
from charter.domain.charter_parsing import parse_charter_text
from charter.domain.enums import Severity
from charter.domain.governance.finding import Finding
from charter.domain.lifecycle import Transition
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import parse_directory

EXAMPLES = ROOT / "examples"


@pytest.fixture
def clock() -> FixedClock:
    """A week after the sample exports were taken (examples/estate/generate.py: NOW)."""
    return FixedClock(dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC))


def _evaluate(services: Services) -> dict[tuple[str, str], list[Finding]]:
    people = EXAMPLES / "people.json"
    services.people.import_records(
        parse_directory(people.read_bytes(), filename=people.name), actor="test"
    )
    for path in sorted((EXAMPLES / "agents").glob("*.yaml")):
        services.registry.register(
            parse_charter_text(path.read_bytes(), source=str(path)), actor="test"
        )
    for name in ("support-summarizer", "finance-reconciler", "code-reviewer"):
        services.registry.transition(name, Transition.ACTIVATE, actor="test", reason="approved")
    services.estate.ingest.ingest_tree(EXAMPLES / "estate", actor="test")
    for batch in batches(run_scan([str(EXAMPLES / "workstation")], ScanOptions())):
        services.reconcile.apply(batch, actor="test")
    services.governance.evaluation.evaluate(actor="test")
    found, _ = services.governance.findings.list(limit=10_000)
    by: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for finding in found:
        by[(finding.rule, finding.entity_name)].append(finding)
    return by


EXPECTED = [
    ("agent-owner-departed", "release-notes-writer", Severity.HIGH),
    ("secret-leaked", "AKIA…O2FM", Severity.CRITICAL),  # in scripts/backup.sh, and live in AWS
    ("secret-leaked", "sk-proj-…7-mW", Severity.HIGH),
    ("credential-reuse", "AKIA…CY01", Severity.HIGH),
    ("human-permissions-inherited", "gpt-pr-summarizer", Severity.HIGH),
    ("human-permissions-inherited", "ai-helpdesk-bot", Severity.HIGH),
    ("third-party-ai-app-broad-scopes", "Fireflies.ai", Severity.HIGH),
    ("identity-over-privileged", "OrganizationAccountAccessRole", Severity.HIGH),
    ("static-cloud-key", "AKIA…EPL1", Severity.MEDIUM),
    ("long-lived-secret", "AKIA…CY01", Severity.HIGH),
    ("shadow-agent-unadopted", "otter-ai", Severity.HIGH),
    ("stale-identity", "legacy-batch", Severity.MEDIUM),
]
#: registered agents with active owners and charters; provider-managed identities nobody owns
CLEAN = [
    "support-summarizer",
    "finance-reconciler",
    "aws:345678901234:root",
    "AWSServiceRoleForSupport",
    "service-842113970211@gcp-sa-aiplatform.iam.gserviceaccount.com",
]


def test_sample_estate_named_findings_and_clean_entities(services: Services) -> None:
    findings = _evaluate(services)
    missing = [(rule, entity) for rule, entity, _ in EXPECTED if (rule, entity) not in findings]
    assert not missing, f"expected findings not raised: {missing}"
    for rule, entity, severity in EXPECTED:
        hits = findings[(rule, entity)]
        assert severity in {h.severity for h in hits}, (rule, entity, [h.severity for h in hits])
        body = hits[0].to_dict()
        assert body["owasp"] and body["entity"]["identifiers"] and body["remediation"]
        json.dumps(body)  # the JSON contract holds on real data
    (departed,) = findings[("agent-owner-departed", "release-notes-writer")]
    assert departed.suggestion == {"new_owner": "ada.osei@acme.example"}
    (leak,) = findings[("secret-leaked", "AKIA…O2FM")]
    assert leak.evidence["location"].startswith("scripts/backup.sh:")
    assert leak.evidence["live_in"] and leak.evidence["live_in"][0].startswith("aws:")
    for entity in CLEAN:
        on_it = [
            rule
            for (rule, name), hits in findings.items()
            for h in hits
            if entity in (name, h.entity_id)
        ]
        assert on_it == [], f"{entity} should be clean: {on_it}"
