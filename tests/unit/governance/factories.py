"""Facts with sensible defaults, for rule tests (pure: no store)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from charter.domain.charter_parsing import parse_charter
from charter.domain.enums import AgentState
from charter.domain.governance.facts import (
    AgentBrief,
    AgentFacts,
    CredentialFacts,
    IdentityFacts,
    PersonFacts,
    RuleContext,
    Usage,
)
from charter.domain.governance.policy import Thresholds

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

PEOPLE = {
    "ada@acme.example": PersonFacts("ada@acme.example", "Ada", True, "sam@acme.example"),
    "sam@acme.example": PersonFacts("sam@acme.example", "Sam", True, None),
    "tom@acme.example": PersonFacts("tom@acme.example", "Tom", False, "lea@acme.example"),
    "lea@acme.example": PersonFacts("lea@acme.example", "Lea", False, "ada@acme.example"),
}


def charter(**overrides: Any) -> Any:
    document: dict[str, Any] = {
        "name": "bot",
        "owner": "ada@acme.example",
        "purpose": "summarise support tickets for the team",
        "allow": [
            {"action": "tickets.*", "resource": "zendesk:tickets/*"},
            {"action": "slack.post_message", "resource": "slack:channels/digest"},
        ],
        "deny": [{"action": "tickets.delete", "resource": "*"}],
    }
    document.update(overrides)
    return parse_charter(document)


def usage(
    action: str,
    resource: str,
    *,
    allowed: bool | None = True,
    count: int = 5,
    source: str = "sdk",
    last: dt.datetime = NOW - DAY,
) -> Usage:
    return Usage(action, resource, allowed, source, count, last - 10 * DAY, last)


def agent(**overrides: Any) -> AgentFacts:
    values: dict[str, Any] = {
        "name": "bot",
        "owner": "ada@acme.example",
        "state": AgentState.ACTIVE,
        "origin": "registered",
        "environment": "production",
        "created_at": NOW - 200 * DAY,
        "updated_at": NOW - 200 * DAY,
        "expires": None,
        "charter": charter(),
        "last_activity": NOW - DAY,
        "last_review": NOW - 10 * DAY,
    }
    values.update(overrides)
    return AgentFacts(**values)


def identity(**overrides: Any) -> IdentityFacts:
    values: dict[str, Any] = {
        "id": "aws:111122223333:role/etl",
        "source": "aws",
        "account": "111122223333",
        "kind": "cloud_role",
        "name": "etl",
        "system": "aws:111122223333",
        "native_id": "arn:aws:iam::111122223333:role/etl",
        "owner": "ada@acme.example",
        "created_at": NOW - 400 * DAY,
        "last_used_at": NOW - DAY,
    }
    values.update(overrides)
    return IdentityFacts(**values)


def credential(**overrides: Any) -> CredentialFacts:
    values: dict[str, Any] = {
        "id": "aws:111122223333:access-key/AKIAEXAMPLE0001",
        "source": "aws",
        "account": "111122223333",
        "kind": "access_key",
        "provider": "aws",
        "fingerprint": "f" * 64,
        "preview": "AKIA…0001",
        "identity": "aws:111122223333:user/etl",
        "created_at": NOW - 10 * DAY,
        "last_rotated_at": NOW - 10 * DAY,
        "expires_at": NOW + 20 * DAY,
        "last_used_at": NOW - DAY,
        "properties": {"active": True},
    }
    values.update(overrides)
    return CredentialFacts(**values)


def ctx(**thresholds: Any) -> RuleContext:
    agents = {"bot": AgentBrief("bot", "ada@acme.example", AgentState.ACTIVE, "production", None)}
    return RuleContext(NOW, Thresholds(**thresholds), PEOPLE, agents)
