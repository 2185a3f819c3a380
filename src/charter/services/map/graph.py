"""The map's model, pure: nodes, edges that say why, and risk colours.

Risk is for the picture (which node a person should look at first), not a
finding: governance rules own findings. Every risk comes with its
reasons, so a red box is never unexplained.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from charter.connectors import registry
from charter.domain.estate import SCANNER_SOURCE

STALE_AFTER = dt.timedelta(days=90)
ROTATE_AFTER = dt.timedelta(days=365)
#: Sources whose exports say when an identity was last used: only there does "no date" mean "never".
REPORTS_USE = frozenset(c.id for c in registry.CONNECTORS.values() if c.reports_last_use)


class NodeKind(StrEnum):
    AGENT = "agent"
    IDENTITY = "identity"
    CREDENTIAL = "credential"
    SYSTEM = "system"


class EdgeKind(StrEnum):
    ACTS_AS = "acts-as"  # agent → identity / credential
    AUTHENTICATES = "authenticates"  # credential → identity
    GRANT = "grant"  # identity / credential → system (resource, permissions)
    ASSUMES = "assumes"  # identity → identity (trust, IRSA, runs-as)
    SAME_SECRET = "same-secret"  # noqa: S105 - an edge kind, not a secret
    ESCALATES = "escalates"  # identity → identity it can become, or → its system as admin


class Risk(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NONE = "none"

    @property
    def rank(self) -> int:
        return _RANK[self.value]


_RANK = {"high": 3, "medium": 2, "low": 1, "none": 0}


def worst(*risks: Risk) -> Risk:
    return max(risks, key=lambda r: r.rank, default=Risk.NONE)


@dataclass(slots=True)
class Node:
    id: str
    kind: NodeKind
    label: str
    risk: Risk = Risk.NONE
    reasons: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "label": self.label,
            "risk": self.risk.value,
            "risk_reasons": self.reasons,
            **({"detail": self.detail} if self.detail else {}),
        }


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    kind: EdgeKind
    reason: str
    resource: str = ""
    permissions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "target": self.target,
            "kind": self.kind.value,
            "reason": self.reason,
        }
        if self.resource:
            out["resource"] = self.resource
        if self.permissions:
            out["permissions"] = list(self.permissions)
        return out


@dataclass(slots=True)
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    _edge_keys: set[tuple[str, str, str, str]] = field(default_factory=set)

    def add(self, node: Node) -> Node:
        existing = self.nodes.get(node.id)
        if existing is None:
            self.nodes[node.id] = node
            return node
        if node.risk.rank > existing.risk.rank:
            existing.risk = node.risk
        existing.reasons += [r for r in node.reasons if r not in existing.reasons]
        return existing

    def connect(self, edge: Edge) -> None:
        key = (edge.source, edge.target, edge.kind.value, edge.resource)
        if key not in self._edge_keys:
            self._edge_keys.add(key)
            self.edges.append(edge)

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": [n.to_json() for n in self.nodes.values()],
            "edges": [e.to_json() for e in self.edges],
        }


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def identity_risk(
    row: Any, now: dt.datetime, *, admin: bool, departed: set[str]
) -> tuple[Risk, list[str]]:
    """How worrying an identity is, from its stored row and its grants."""
    reasons: list[tuple[Risk, str]] = []
    props = row.properties or {}
    if admin:
        reasons.append((Risk.HIGH, "has administrator-level access"))
    if row.owner and row.owner in departed:
        reasons.append((Risk.HIGH, f"owner {row.owner} has left"))
    if props.get("console_access") and not props.get("mfa_active"):
        reasons.append((Risk.HIGH, "console password without MFA"))
    attribution = props.get("attribution") or {}
    if attribution.get("shadow"):
        reasons.append((Risk.MEDIUM, "shadow AI: no registered agent claims it"))
    last = _aware(row.last_used_at)
    created = _aware(row.created_at)
    if last and now - last > STALE_AFTER:
        reasons.append((Risk.MEDIUM, f"unused since {last:%Y-%m-%d}"))
    elif last is None and created and now - created > STALE_AFTER and row.source in REPORTS_USE:
        reasons.append((Risk.MEDIUM, "never used"))
    if not row.owner:
        reasons.append((Risk.LOW, "no owner"))
    if not reasons:
        return Risk.LOW, []
    return worst(*(r for r, _ in reasons)), [text for _, text in reasons]


def credential_risk(row: Any, now: dt.datetime, *, copies: int) -> tuple[Risk, list[str]]:
    """How worrying a credential is: shared or leaked copies, expiry, rotation, staleness."""
    reasons: list[tuple[Risk, str]] = []
    props = row.properties or {}
    if copies > 1:
        reasons.append((Risk.HIGH, f"the same secret is in {copies} places"))
    if row.source == SCANNER_SOURCE or props.get("stored_in"):
        reasons.append((Risk.HIGH, f"stored outside a secret manager: {row.location}"))
    expires = _aware(row.expires_at)
    if expires and expires < now:
        reasons.append((Risk.MEDIUM, f"expired on {expires:%Y-%m-%d} but still present"))
    rotated = _aware(row.last_rotated_at) or _aware(row.created_at)
    if (
        rotated
        and now - rotated > ROTATE_AFTER
        and row.kind in ("access_key", "api_key", "client_secret", "private_key", "token")
    ):
        reasons.append((Risk.MEDIUM, f"not rotated since {rotated:%Y-%m-%d}"))
    last = _aware(row.last_used_at)
    if last and now - last > STALE_AFTER:
        reasons.append((Risk.MEDIUM, f"unused since {last:%Y-%m-%d}"))
    if not reasons:
        return Risk.LOW, []
    return worst(*(r for r, _ in reasons)), [text for _, text in reasons]
