"""Posture: a risk score per agent, per owner and per system that explains itself.

The score is arithmetic anyone can redo from the findings:

* each live finding (open or acknowledged; suppressed ones were accepted, resolved
  ones are gone) is worth points by severity: critical 25, high 10, medium 4,
  low 1, info 0;
* one rule contributes at most twice the points of its worst finding, so a
  thousand stale keys do not drown one leaked secret;
* the score is the sum, capped at 100. Grades: 0 none, < 20 low, < 50 medium,
  < 80 high, else critical.

Every entry lists its contributions (rule, count, worst severity, points, whether
capped), so "why 64?" has an answer. By owner, the placeholder owner of shadow
agents nobody could be attributed to is not ranked among people: its line
(``no_owner``) comes last.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from charter.domain.enums import FindingStatus, Severity
from charter.domain.governance.rule_registry import get_rule
from charter.errors import InvalidInput
from charter.services.attribution import UNOWNED
from charter.store.database import Database
from charter.store.governance_schema import findings

_F = findings
POINTS = {
    Severity.CRITICAL: 25,
    Severity.HIGH: 10,
    Severity.MEDIUM: 4,
    Severity.LOW: 1,
    Severity.INFO: 0,
}
RULE_CAP_FACTOR = 2
MAX_SCORE = 100
_RANK = {s: i for i, s in enumerate(Severity)}


class PostureBy(StrEnum):
    AGENT = "agent"
    OWNER = "owner"
    SYSTEM = "system"


def grade(score: int) -> str:
    if score == 0:
        return "none"
    if score < 20:
        return "low"
    if score < 50:
        return "medium"
    if score < 80:
        return "high"
    return "critical"


@dataclass(frozen=True, slots=True)
class Contribution:
    rule: str
    title: str
    count: int
    worst: Severity
    points: int
    capped: bool

    def explain(self) -> str:
        cap = f", capped at {RULE_CAP_FACTOR}×{POINTS[self.worst]}" if self.capped else ""
        return (
            f"{self.rule}: {self.count} finding(s), worst {self.worst} → {self.points} points{cap}"
        )


@dataclass(slots=True)
class PostureEntry:
    by: PostureBy
    key: str
    score: int = 0
    findings: int = 0
    by_severity: dict[str, int] = field(default_factory=dict)
    contributions: list[Contribution] = field(default_factory=list)

    @property
    def grade(self) -> str:
        return grade(self.score)

    @property
    def no_owner(self) -> bool:
        """The placeholder owner of shadow agents nobody could be suggested for: not a person."""
        return self.by == PostureBy.OWNER and self.key == UNOWNED

    def explanation(self) -> list[str]:
        lines = [c.explain() for c in self.contributions]
        total = sum(c.points for c in self.contributions)
        if total > MAX_SCORE:
            lines.append(f"sum {total} capped at {MAX_SCORE}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by.value,
            "key": self.key,
            "score": self.score,
            "grade": self.grade,
            "findings": self.findings,
            "by_severity": self.by_severity,
            "contributions": [
                {
                    "rule": c.rule,
                    "title": c.title,
                    "count": c.count,
                    "worst": c.worst.value,
                    "points": c.points,
                    "capped": c.capped,
                }
                for c in self.contributions
            ],
            "explanation": self.explanation(),
            **({"no_owner": self.no_owner} if self.by == PostureBy.OWNER else {}),
        }


def score_entry(by: PostureBy, key: str, rows: list[tuple[str, Severity, int]]) -> PostureEntry:
    """The posture of one key from its (rule, severity, count) rows (pure)."""
    entry = PostureEntry(by, key)
    per_rule: dict[str, list[tuple[Severity, int]]] = defaultdict(list)
    for rule, severity, count in rows:
        per_rule[rule].append((severity, count))
        entry.findings += count
        entry.by_severity[severity.value] = entry.by_severity.get(severity.value, 0) + count
    for rule, items in per_rule.items():
        worst = max((s for s, _ in items), key=lambda s: _RANK[s])
        raw = sum(POINTS[s] * n for s, n in items)
        cap = RULE_CAP_FACTOR * POINTS[worst]
        meta = get_rule(rule)
        entry.contributions.append(
            Contribution(
                rule,
                meta.meta.title if meta else rule,
                sum(n for _, n in items),
                worst,
                min(raw, cap),
                raw > cap,
            )
        )
    entry.contributions.sort(key=lambda c: (-c.points, c.rule))
    entry.score = min(MAX_SCORE, sum(c.points for c in entry.contributions))
    return entry


class PostureService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def summary(
        self, by: PostureBy = PostureBy.AGENT, *, key: str | None = None, limit: int = 50
    ) -> list[PostureEntry]:
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000", field="limit")
        column = {
            PostureBy.AGENT: _F.c.agent,
            PostureBy.OWNER: _F.c.owner,
            PostureBy.SYSTEM: _F.c.system,
        }[by]
        live = (FindingStatus.OPEN.value, FindingStatus.ACKNOWLEDGED.value)
        query = (
            sa.select(column, _F.c.rule, _F.c.severity, sa.func.count())
            .where(_F.c.status.in_(live), column.is_not(None))
            .group_by(column, _F.c.rule, _F.c.severity)
        )
        if key is not None:
            query = query.where(column == key)
        rows: dict[str, list[tuple[str, Severity, int]]] = defaultdict(list)
        with self._db.read() as connection:
            for group, rule, severity, count in connection.execute(query):
                rows[group].append((rule, Severity(severity), int(count)))
        entries = [score_entry(by, group, items) for group, items in rows.items()]
        entries.sort(key=lambda e: (-e.score, -e.findings, e.key))
        # Agents nobody owns are not a person to rank: their line comes last, outside the top.
        ranked = [e for e in entries if not e.no_owner][:limit]
        return ranked + [e for e in entries if e.no_owner]
