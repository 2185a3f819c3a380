"""A governance finding: one rule's verdict on one entity, with its lifecycle status.

The one read model of a finding: the store reads rows into it, and the API, the
console, the CLI and the OCSF and SARIF exports all take it as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.enums import FindingStatus, Severity
from charter.domain.governance.rule_registry import OWASP_TITLES, get_rule


@dataclass(frozen=True, slots=True)
class Finding:
    id: str
    rule: str
    severity: Severity
    status: FindingStatus
    entity_type: str
    entity_id: str
    entity_name: str
    identifiers: Mapping[str, Any]
    agent: str | None
    owner: str | None
    system: str | None
    message: str
    evidence: Mapping[str, Any]
    suggestion: Mapping[str, Any] | None
    first_seen: dt.datetime
    last_changed: dt.datetime
    resolved_at: dt.datetime | None = None
    status_reason: str | None = None
    status_by: str | None = None
    status_until: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: rule id and OWASP ids, the entity's name and identifiers, evidence."""
        rule = get_rule(self.rule)
        return {
            "id": self.id,
            "rule": self.rule,
            "title": rule.meta.title if rule else self.rule,
            "severity": self.severity.value,
            "status": self.status.value,
            "owasp": list(rule.meta.owasp) if rule else [],
            "owasp_titles": [OWASP_TITLES.get(o, o) for o in (rule.meta.owasp if rule else ())],
            "entity": {
                "type": self.entity_type,
                "id": self.entity_id,
                "name": self.entity_name,
                "identifiers": dict(self.identifiers),
            },
            "agent": self.agent,
            "owner": self.owner,
            "system": self.system,
            "message": self.message,
            "evidence": dict(self.evidence),
            "suggestion": dict(self.suggestion) if self.suggestion is not None else None,
            "remediation": rule.meta.remediation if rule else None,
            "first_seen": self.first_seen.isoformat(),
            "last_changed": self.last_changed.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "status_reason": self.status_reason,
            "status_by": self.status_by,
            "status_until": self.status_until.isoformat() if self.status_until else None,
        }
