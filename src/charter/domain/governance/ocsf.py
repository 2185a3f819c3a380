"""Findings as OCSF Detection Finding events (class 2004, category 2 "Findings").

One event per finding, shaped by the OCSF schema (``events/findings/
detection_finding.json`` extending ``finding.json``): ``activity_id`` 1 Create
for a finding never closed, 3 Close once resolved, 2 Update otherwise;
``type_uid`` = class_uid × 100 + activity_id; ``severity_id`` 1–5
(Informational … Critical); ``status_id`` is the finding lifecycle (1 New,
2 In Progress = acknowledged, 3 Suppressed, 4 Resolved); ``finding_info``
names the rule as its analytic (type 1 Rule) and carries the OWASP ids as
``types``; ``resources`` name the entity; ``remediation.desc`` says what to do.
Times are epoch milliseconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from charter.domain.enums import FindingStatus, Severity
from charter.domain.governance.finding import Finding
from charter.domain.governance.rule_registry import get_rule
from charter.version import __version__

OCSF_VERSION = "1.3.0"
CLASS_UID = 2004
CATEGORY_UID = 2
SEVERITY_ID = {
    Severity.INFO: 1,
    Severity.LOW: 2,
    Severity.MEDIUM: 3,
    Severity.HIGH: 4,
    Severity.CRITICAL: 5,
}
STATUS_ID = {
    FindingStatus.OPEN: (1, "New"),
    FindingStatus.ACKNOWLEDGED: (2, "In Progress"),
    FindingStatus.SUPPRESSED: (3, "Suppressed"),
    FindingStatus.RESOLVED: (4, "Resolved"),
}
ACTIVITY = {1: "Create", 2: "Update", 3: "Close"}


def _ms(moment: dt.datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def to_ocsf(finding: Finding) -> dict[str, Any]:
    rule = get_rule(finding.rule)
    if finding.status == FindingStatus.RESOLVED:
        activity = 3
    elif finding.last_changed == finding.first_seen:
        activity = 1
    else:
        activity = 2
    status_id, status = STATUS_ID[finding.status]
    event: dict[str, Any] = {
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": activity,
        "activity_name": ACTIVITY[activity],
        "type_uid": CLASS_UID * 100 + activity,
        "time": _ms(finding.resolved_at or finding.last_changed),
        "severity_id": SEVERITY_ID[finding.severity],
        "severity": finding.severity.value.capitalize(),
        "status_id": status_id,
        "status": status,
        "message": finding.message,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "Charter", "vendor_name": "Charter", "version": __version__},
            "uid": finding.id,
        },
        "finding_info": {
            "uid": finding.id,
            "title": rule.meta.title if rule else finding.rule,
            "desc": finding.message,
            "types": list(rule.meta.owasp) if rule else [],
            "first_seen_time": _ms(finding.first_seen),
            "last_seen_time": _ms(finding.last_changed),
            "analytic": {"uid": finding.rule, "name": finding.rule, "type_id": 1, "type": "Rule"},
        },
        "resources": [
            {
                "uid": finding.entity_id,
                "name": finding.entity_name,
                "type": finding.entity_type,
                "data": dict(finding.identifiers),
                **({"owner": {"email_addr": finding.owner}} if finding.owner else {}),
            }
        ],
        "evidences": [{"data": dict(finding.evidence)}],
        "unmapped": {
            "agent": finding.agent,
            "system": finding.system,
            "suggestion": finding.suggestion,
        },
    }
    if rule is not None:
        event["remediation"] = {"desc": rule.meta.remediation}
    if finding.status == FindingStatus.OPEN and activity == 1:
        event["is_alert"] = True
    return event


def to_ocsf_events(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    return [to_ocsf(f) for f in findings]
