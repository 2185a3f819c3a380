"""Findings as SARIF 2.1.0 (OASIS), for code-scanning dashboards and pipelines.

One run, one ``reportingDescriptor`` per rule (id, title, remediation as help,
OWASP ids as tags, a ``security-severity`` GitHub ranks by), one result per
finding. A finding with a file location (a leaked secret: ``path:line``) gets a
``physicalLocation``; every other finding names its entity as a
``logicalLocation`` (SARIF §3.33), since an IAM role has no line number.
``partialFingerprints`` carry the finding id, stable across evaluations.
Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from charter.domain.enums import FindingStatus, Severity
from charter.domain.governance.finding import Finding
from charter.domain.governance.rule_registry import OWASP_TITLES, GovernanceRule, all_rules
from charter.version import __version__

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
#: "path/to/file:12" or "path:12@commit" (the scanner's location format)
_FILE_LOCATION = re.compile(r"^(?P<path>[^@]+?):(?P<line>\d+)(?:@(?P<commit>[0-9a-f]{7,40}))?$")


def _descriptor(rule: GovernanceRule) -> dict[str, Any]:
    meta = rule.meta
    risks = "; ".join(f"OWASP {o} {OWASP_TITLES.get(o, '')}".strip() for o in meta.owasp)
    return {
        "id": meta.id,
        "name": "".join(part.capitalize() for part in meta.id.split("-")),
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.description or meta.title},
        "help": {
            "text": f"{meta.description}\n\nRemediation: {meta.remediation}\n\n{risks}",
            "markdown": f"**{meta.title}**\n\n{meta.description}\n\n"
            f"**Remediation.** {meta.remediation}\n\n*{risks}*",
        },
        "defaultConfiguration": {"level": LEVEL[meta.severity]},
        "properties": {
            "tags": [
                "security",
                "non-human-identity",
                *(f"external/owasp/{o.lower()}" for o in meta.owasp),
            ],
            "security-severity": SECURITY_SEVERITY[meta.severity],
            "entity": meta.entity.value,
        },
    }


def _location(finding: Finding) -> dict[str, Any]:
    where = finding.identifiers.get("location")
    match = _FILE_LOCATION.match(where) if isinstance(where, str) else None
    if finding.entity_type == "credential" and match:
        return {
            "physicalLocation": {
                "artifactLocation": {"uri": quote(match.group("path"))},
                "region": {"startLine": max(1, int(match.group("line")))},
            },
            "logicalLocations": [_logical(finding)],
        }
    return {"logicalLocations": [_logical(finding)]}


def _logical(finding: Finding) -> dict[str, Any]:
    return {
        "name": finding.entity_name,
        "fullyQualifiedName": f"{finding.entity_type}:{finding.entity_id}",
        "kind": "resource",
    }


def _result(finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "level": LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [_location(finding)],
        "partialFingerprints": {"charterFinding/v1": finding.id},
        "properties": {
            "severity": finding.severity.value,
            "status": finding.status.value,
            "entity": {
                "type": finding.entity_type,
                "id": finding.entity_id,
                "name": finding.entity_name,
                "identifiers": dict(finding.identifiers),
            },
            "agent": finding.agent,
            "owner": finding.owner,
            "system": finding.system,
            "evidence": dict(finding.evidence),
        },
    }
    if finding.rule in index:
        result["ruleIndex"] = index[finding.rule]
    if finding.status == FindingStatus.SUPPRESSED:
        result["suppressions"] = [
            {"kind": "external", "status": "accepted", "justification": finding.status_reason or ""}
        ]
    return result


def to_sarif(findings: Iterable[Finding]) -> dict[str, Any]:
    rules = all_rules()
    index = {r.id: i for i, r in enumerate(rules)}
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "Charter",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": "https://charter.dev/docs/governance",
                        "rules": [_descriptor(r) for r in rules],
                    }
                },
                "automationDetails": {"id": "charter/findings/"},
                "results": [_result(f, index) for f in findings],
            }
        ],
    }
