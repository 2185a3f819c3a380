"""What the first pass over a GCP project learns: its accounts, their last use, their roles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from charter.connectors.dates import parse_time
from charter.connectors.streaming import Rec


@dataclass(slots=True)
class Seen:
    emails: set[str] = field(default_factory=set)
    last_used: dict[str, Any] = field(default_factory=dict)  # key name or SA email → time
    roles: dict[str, list[str]] = field(default_factory=dict)  # SA email → roles


def learn_activity(rec: Rec, found: Seen) -> None:
    activity = rec.data.get("activity") or {}
    when = parse_time(
        activity.get("lastAuthenticatedTime"), where=rec.where, field="lastAuthenticatedTime"
    )
    target = (activity.get("serviceAccountKey") or activity.get("serviceAccount") or {}).get(
        "fullResourceName", ""
    )
    if when and target:
        key = str(target).removeprefix("//iam.googleapis.com/")
        found.last_used[key] = max(when, found.last_used.get(key, when))


def learn_roles(rec: Rec, found: Seen) -> None:
    for member in rec.data.get("members") or []:
        if str(member).startswith("serviceAccount:"):
            found.roles.setdefault(str(member).split(":", 1)[1], []).append(
                str(rec.data.get("role"))
            )
