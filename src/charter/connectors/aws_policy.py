"""IAM policy logic, pure: documents, wildcard expansion and effective permissions.

Follows the IAM policy evaluation logic (AWS IAM User Guide, "Policy evaluation
logic"), restricted to what an export shows: identity-based policies (inline
and managed, including those inherited from groups), explicit denies and the
permissions boundary. Service control policies, session policies and
resource-based policies are not in ``get-account-authorization-details`` and
are not modelled; conditions are kept as a flag, never evaluated, so the
result over-approximates — the right direction for a blast radius.
"""

from __future__ import annotations

import fnmatch
import json
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from charter.connectors.aws_actions import CATALOGUE
from charter.errors import InvalidInput

#: Patterns that make a principal an administrator of the account, or of IAM.
ADMIN_PATTERNS = frozenset({"*", "*:*", "iam:*"})


def load_document(value: Any, *, where: str) -> dict[str, Any]:
    """A policy document as a dict: the CLI decodes them, the raw API URL-encodes them."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        decoded = urllib.parse.unquote(value) if value.lstrip().startswith("%") else value
        try:
            document = json.loads(decoded)
        except json.JSONDecodeError:
            try:
                document = json.loads(urllib.parse.unquote(value))
            except json.JSONDecodeError as exc:
                raise InvalidInput(
                    f"the policy document is neither JSON nor URL-encoded JSON: {exc.msg}",
                    field=where,
                ) from exc
        if isinstance(document, dict):
            return document
    raise InvalidInput("the policy document is not an object", field=where)


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


@dataclass(frozen=True, slots=True)
class Statement:
    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resource: bool
    conditional: bool


def statements(document: dict[str, Any], *, where: str) -> list[Statement]:
    raw = document.get("Statement", [])
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise InvalidInput("Statement is neither an object nor a list", field=where)
    out: list[Statement] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidInput(f"statement {index} is not an object", field=where)
        effect = str(item.get("Effect", ""))
        if effect not in ("Allow", "Deny"):
            raise InvalidInput(f"statement {index} has Effect {effect!r}", field=where)
        resources = _list(item.get("Resource")) or (["*"] if "NotResource" in item else [])
        out.append(
            Statement(
                effect=effect,
                actions=tuple(_list(item.get("Action"))),
                not_actions=tuple(_list(item.get("NotAction"))),
                resources=tuple(resources or ["*"]),
                not_resource="NotResource" in item,
                conditional=bool(item.get("Condition")),
            )
        )
    return out


def named_actions(document: dict[str, Any]) -> set[str]:
    """Actions a document names literally (no wildcard): they join the catalogue."""
    found: set[str] = set()
    raw = document.get("Statement", [])
    for item in [raw] if isinstance(raw, dict) else raw if isinstance(raw, list) else []:
        if isinstance(item, dict):
            for key in ("Action", "NotAction"):
                for action in _list(item.get(key)):
                    if ":" in action and "*" not in action and "?" not in action:
                        found.add(action)
    return found


class ActionCatalog:
    """Expands ``s3:Get*`` against the known action names (case-insensitive, as IAM is)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        by_service: dict[str, dict[str, str]] = {}
        for action in (*CATALOGUE, *extra):
            service, _, name = action.partition(":")
            by_service.setdefault(service.lower(), {})[f"{service.lower()}:{name.lower()}"] = (
                f"{service.lower()}:{name}"
            )
        self._by_service = by_service

    @property
    def size(self) -> int:
        return sum(len(v) for v in self._by_service.values())

    def expand(self, pattern: str) -> frozenset[str]:
        return self._expand(pattern.strip())

    @lru_cache(maxsize=4096)  # noqa: B019 - one catalog per export, a bounded cache
    def _expand(self, pattern: str) -> frozenset[str]:
        if "*" not in pattern and "?" not in pattern:
            service, _, name = pattern.partition(":")
            canonical = self._by_service.get(service.lower(), {}).get(pattern.lower())
            return frozenset({canonical or f"{service.lower()}:{name}"})
        regex = re.compile(fnmatch.translate(pattern.lower()))
        service = pattern.partition(":")[0].lower()
        pools = (
            self._by_service.values()
            if "*" in service or "?" in service or ":" not in pattern
            else [self._by_service.get(service, {})]
        )
        hits = frozenset(
            canonical for pool in pools for low, canonical in pool.items() if regex.match(low)
        )
        return hits or frozenset({pattern})


@dataclass(frozen=True, slots=True)
class AttachedPolicy:
    """A policy that applies to a principal, and how it got there (for the reason)."""

    name: str
    kind: str  # "inline" | "managed"
    document: dict[str, Any]
    via: str | None = None  # "group developers"

    def describe(self) -> str:
        what = f"{self.kind} policy {self.name}"
        return f"{what} (via {self.via})" if self.via else what


@dataclass(slots=True)
class Access:
    """What a principal may do on one resource pattern, and why."""

    resource: str
    actions: set[str] = field(default_factory=set)
    patterns: set[str] = field(default_factory=set)
    via: list[str] = field(default_factory=list)
    conditional: bool = False
    not_resource: bool = False

    @property
    def admin(self) -> bool:
        return bool(self.patterns & ADMIN_PATTERNS) and self.resource == "*"


def _covers(deny_resource: str, resource: str) -> bool:
    return deny_resource == "*" or fnmatch.fnmatchcase(resource, deny_resource)


def effective_access(
    policies: Sequence[AttachedPolicy],
    catalog: ActionCatalog,
    *,
    boundary: dict[str, Any] | None = None,
    where: str,
) -> list[Access]:
    """Allowed actions per resource pattern: allows, minus unconditional denies,
    within the boundary.
    """
    by_resource: dict[str, Access] = {}
    denies: list[tuple[Statement, frozenset[str], str]] = []
    for policy in policies:
        for statement in statements(policy.document, where=f"{where} {policy.describe()}"):
            expanded = _expand_statement(statement, catalog)
            if statement.effect == "Deny":
                if not statement.conditional:
                    denies.append((statement, expanded, policy.describe()))
                continue
            for resource in statement.resources:
                access = by_resource.setdefault(resource, Access(resource))
                access.actions |= expanded
                access.patterns |= set(statement.actions) or {
                    f"NotAction:{a}" for a in statement.not_actions
                }
                if policy.describe() not in access.via:
                    access.via.append(policy.describe())
                access.conditional = access.conditional or statement.conditional
                access.not_resource = access.not_resource or statement.not_resource
    if boundary is not None:
        bounded: set[str] = set()
        for statement in statements(boundary, where=f"{where} permissions boundary"):
            if statement.effect == "Allow":
                bounded |= _expand_statement(statement, catalog)
        bounded_all = "*" in bounded
        for access in by_resource.values():
            if not bounded_all:
                access.actions &= bounded
            access.via.append("limited by its permissions boundary")
    for statement, expanded, source in denies:
        for access in by_resource.values():
            if any(_covers(r, access.resource) for r in statement.resources):
                removed = access.actions & expanded
                if removed:
                    access.actions -= removed
                    access.via.append(f"minus {len(removed)} action(s) denied by {source}")
    return [a for _, a in sorted(by_resource.items()) if a.actions]


def _expand_statement(statement: Statement, catalog: ActionCatalog) -> frozenset[str]:
    if statement.actions:
        out: set[str] = set()
        for pattern in statement.actions:
            out |= catalog.expand(pattern)
        return frozenset(out)
    excluded: set[str] = set()
    for pattern in statement.not_actions:
        excluded |= catalog.expand(pattern)
    return catalog.expand("*") - excluded


def trust_principals(document: dict[str, Any] | None, *, where: str) -> list[str]:
    """Who a role's trust policy lets assume it: services, accounts, roles, OIDC providers."""
    if not document:
        return []
    found: list[str] = []
    statements(document, where=f"{where} trust policy")  # validates the shape, naming the role
    raw = document.get("Statement", [])
    for item in [raw] if isinstance(raw, dict) else raw:
        if not isinstance(item, dict) or item.get("Effect") != "Allow":
            continue
        principal = item.get("Principal")
        if principal == "*":
            found.append("*")
        elif isinstance(principal, dict):
            for key in ("Service", "AWS", "Federated", "CanonicalUser"):
                for value in _list(principal.get(key)):
                    if value not in found:
                        found.append(value)
    return found
