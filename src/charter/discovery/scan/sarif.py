"""SARIF 2.1.0 output that GitHub code scanning accepts.

One run; one rule per detector (id, name, short and full description, help
with the remediation, a help URI, a default level and a ``security-severity``
so GitHub ranks alerts); one result per finding with its file and start line,
``partialFingerprints`` that stay stable when lines move (rule + secret
fingerprint + path, hashed again so the secret's own fingerprint is not the
alert key), and ``baselineState`` against ``--baseline``.
Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from charter.discovery.scan.detector import NHI_RISKS, Detector
from charter.discovery.scan.detectors import all_detectors
from charter.discovery.scan.mcp_configs import MCP_INLINE_SECRET
from charter.discovery.scan.report import ScanReport, SecretFinding
from charter.domain.enums import Severity
from charter.version import __version__

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
#: GitHub maps 9.0+ to critical, 7.0–8.9 high, 4.0–6.9 medium, below that low.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}


def rules() -> list[Detector]:
    return [*all_detectors(), MCP_INLINE_SECRET]


def _rule_json(detector: Detector) -> dict[str, Any]:
    risks = ", ".join(f"OWASP {r} {NHI_RISKS[r]}" for r in detector.owasp)
    references = "\n".join(f"- {r}" for r in detector.references)
    return {
        "id": detector.id,
        "name": "".join(part.capitalize() for part in detector.id.split("-")),
        "shortDescription": {"text": detector.title},
        "fullDescription": {"text": detector.description},
        "help": {
            "text": f"{detector.description}\n\nRemediation: {detector.remediation}\n\n{risks}",
            "markdown": f"**{detector.title}** ({detector.provider})\n\n{detector.description}"
            f"\n\n**Remediation.** {detector.remediation}\n\n*{risks}*\n\n"
            f"References:\n{references}",
        },
        "helpUri": detector.references[0],
        "defaultConfiguration": {"level": _LEVEL[detector.severity]},
        "properties": {
            "tags": [
                "security",
                "secret",
                *(f"external/owasp/{r.lower()}" for r in detector.owasp),
            ],
            "security-severity": _SECURITY_SEVERITY[detector.severity],
            "precision": "medium" if detector.keyword_context else "high",
            "provider": detector.provider,
        },
    }


def _base_id(root: int) -> str:
    return "%SRCROOT%" if root == 0 else f"ROOT{root}"


def _result(finding: SecretFinding, index: dict[str, int]) -> dict[str, Any]:
    where = f" (committed in {finding.commit[:12]})" if finding.commit else ""
    key = f"{finding.rule.id}|{finding.fingerprint}|{finding.path}".encode()
    return {
        "ruleId": finding.rule.id,
        "ruleIndex": index[finding.rule.id],
        "level": _LEVEL[finding.severity],
        "message": {
            "text": f"{finding.rule.title} {finding.preview}{where}. {finding.rule.remediation}"
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": quote(finding.path),
                        "uriBaseId": _base_id(finding.root),
                    },
                    "region": {
                        "startLine": max(1, finding.line),
                        "startColumn": max(1, finding.column),
                    },
                }
            }
        ],
        "partialFingerprints": {"charterSecret/v1": hashlib.sha256(key).hexdigest()},
        "baselineState": str(finding.baseline),
        "properties": {
            "severity": str(finding.severity),
            "fingerprint": finding.fingerprint,
            "preview": finding.preview,
            "origin": finding.origin,
            **({"commit": finding.commit} if finding.commit else {}),
        },
    }


def to_sarif(report: ScanReport) -> dict[str, Any]:
    catalogue = rules()
    index = {d.id: i for i, d in enumerate(catalogue)}
    base_ids = {
        _base_id(r.index): {"uri": "file://" + quote(r.resolved.rstrip("/") + "/")}
        for r in report.roots
        if r.is_dir
    }
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "Charter",
                "semanticVersion": __version__,
                "version": __version__,
                "rules": [_rule_json(d) for d in catalogue],
            }
        },
        "automationDetails": {"id": "charter/discover-fs/"},
        "results": [_result(f, index) for f in report.findings],
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {
                        "level": "warning",
                        "message": {"text": f"{p.path}: {p.kind} {p.detail}".strip()},
                    }
                    for p in report.problems[:100]
                ],
            }
        ],
    }
    if base_ids:
        run["originalUriBaseIds"] = base_ids
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
