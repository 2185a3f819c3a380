"""Decisions and findings as OCSF 1.3 events for a SIEM, and the checks every event passes.

* A decision is an **Authorize Session** event (class 3003, category 3 Identity &
  Access Management), activity 1 *Assign Privileges*: the agent (``user``, type
  99 *AI Agent*) asked for one privilege (the action) on a resource; ``status_id``
  1 *Success* when allowed, 2 *Failure* when denied (the reason codes in
  ``status_detail``). A delegated decision names the person as ``actor.user``.
* A finding is an **IAM Analysis Finding** (class 2008, category 2 Findings): the
  Detection Finding shape of :mod:`charter.domain.governance.ocsf` (``finding_info``,
  ``resources``, ``remediation``; activity 1 Create / 2 Update / 3 Close) under
  the IAM class.

Both carry an ``ai_agent`` object naming the agent, its charter version and the
SHA-256 of that charter (``hash``, an OCSF fingerprint), when the event is about
an agent. OCSF 1.3 has no such object yet, so a strict validator sees it as an
extension attribute; the class, category, type, activity and severity rules are
checked by :func:`problems` before anything leaves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.governance.finding import Finding
from charter.domain.governance.ocsf import OCSF_VERSION, to_ocsf
from charter.version import __version__

AUTHORIZE_SESSION = 3003
IAM_ANALYSIS_FINDING = 2008
#: class → (name, category uid, category name, activity ids allowed)
CLASSES: dict[int, tuple[str, int, str, frozenset[int]]] = {
    AUTHORIZE_SESSION: (
        "Authorize Session",
        3,
        "Identity & Access Management",
        frozenset({0, 1, 2, 99}),
    ),
    IAM_ANALYSIS_FINDING: ("IAM Analysis Finding", 2, "Findings", frozenset({0, 1, 2, 3, 99})),
}
SEVERITY_IDS = frozenset({0, 1, 2, 3, 4, 5, 6, 99})
STATUS_IDS = frozenset({0, 1, 2, 99})
PRODUCT = {"name": "Charter", "vendor_name": "Charter", "version": __version__}


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """What the ``ai_agent`` object says: the agent, and the charter in force."""

    name: str
    charter_version: int
    charter_sha256: str
    owner: str | None = None


def ai_agent(facts: AgentFacts) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "uid": facts.name,
        "name": facts.name,
        "version": str(facts.charter_version),
        "hash": {"algorithm_id": 3, "algorithm": "SHA-256", "value": facts.charter_sha256},
    }
    if facts.owner:
        agent["owner"] = {"email_addr": facts.owner}
    return agent


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class DecisionRow:
    """One recorded decision (a row of ``activities``)."""

    id: int
    time: dt.datetime
    agent: str
    on_behalf_of: str | None
    action: str
    resource: str
    allowed: bool | None
    reasons: Any
    source: str


def decision_event(row: DecisionRow, facts: AgentFacts | None) -> dict[str, Any]:
    if row.allowed is None:
        status_id, status, severity_id = 99, "Other", 3
    elif row.allowed:
        status_id, status, severity_id = 1, "Success", 1
    else:
        status_id, status, severity_id = 2, "Failure", 2
    verdict = {1: "allowed", 2: "denied", 99: "not decided"}[status_id]
    reasons = row.reasons if isinstance(row.reasons, list) else [row.reasons]
    event: dict[str, Any] = {
        "class_uid": AUTHORIZE_SESSION,
        "class_name": "Authorize Session",
        "category_uid": 3,
        "category_name": "Identity & Access Management",
        "activity_id": 1,
        "activity_name": "Assign Privileges",
        "type_uid": AUTHORIZE_SESSION * 100 + 1,
        "type_name": "Authorize Session: Assign Privileges",
        "time": _ms(row.time),
        "severity_id": severity_id,
        "severity": {1: "Informational", 2: "Low", 3: "Medium"}[severity_id],
        "status_id": status_id,
        "status": status,
        "status_detail": ", ".join(str(r) for r in reasons if r) or None,
        "message": f"{row.agent} {verdict} {row.action} on {row.resource}",
        "metadata": {
            "version": OCSF_VERSION,
            "product": PRODUCT,
            "uid": f"decision-{row.id}",
            "log_name": "decisions",
        },
        "user": {"uid": row.agent, "name": row.agent, "type_id": 99, "type": "AI Agent"},
        "privileges": [row.action],
        "unmapped": {"resource": row.resource, "source": row.source, "reasons": reasons},
    }
    if row.on_behalf_of:
        event["actor"] = {"user": {"uid": row.on_behalf_of, "email_addr": row.on_behalf_of}}
    if facts is not None:
        event["ai_agent"] = ai_agent(facts)
    return event


def finding_event(finding: Finding, facts: AgentFacts | None) -> dict[str, Any]:
    event = to_ocsf(finding)
    event["class_uid"] = IAM_ANALYSIS_FINDING
    event["class_name"] = "IAM Analysis Finding"
    event["type_uid"] = IAM_ANALYSIS_FINDING * 100 + int(event["activity_id"])
    event["metadata"] = {**event["metadata"], "log_name": "findings"}
    if facts is not None:
        event["ai_agent"] = ai_agent(facts)
    return event


def problems(event: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``event`` by OCSF's base rules (empty: it is well formed)."""
    out: list[str] = []
    class_uid = event.get("class_uid")
    known = CLASSES.get(class_uid) if isinstance(class_uid, int) else None
    if known is None:
        return [f"class_uid {class_uid!r} is not a class Charter emits"]
    name, category, category_name, activities = known
    assert isinstance(class_uid, int)
    if event.get("class_name") != name:
        out.append(f"class_name must be {name!r}")
    if event.get("category_uid") != category or category != class_uid // 1000:
        out.append(f"category_uid must be {category}")
    if event.get("category_name") != category_name:
        out.append(f"category_name must be {category_name!r}")
    activity = event.get("activity_id")
    if activity not in activities:
        out.append(f"activity_id {activity!r} is not defined for {name}")
    elif event.get("type_uid") != class_uid * 100 + activity:
        out.append("type_uid must be class_uid * 100 + activity_id")
    if event.get("severity_id") not in SEVERITY_IDS:
        out.append(f"severity_id {event.get('severity_id')!r} is not 0-6 or 99")
    if class_uid == AUTHORIZE_SESSION and event.get("status_id", 0) not in STATUS_IDS:
        out.append("status_id must be 0, 1, 2 or 99")
    time = event.get("time")
    if not isinstance(time, int) or isinstance(time, bool) or time <= 0:
        out.append("time must be epoch milliseconds")
    metadata = event.get("metadata")
    if not isinstance(metadata, Mapping) or not metadata.get("version"):
        out.append("metadata.version is required")
    elif not isinstance(metadata.get("product"), Mapping):
        out.append("metadata.product is required")
    return out
