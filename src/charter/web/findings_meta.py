"""What the console shows about finding rules: titles, OWASP ids, and counts by OWASP risk.

The rules describe themselves (``charter.domain.governance.rule_registry``); this module
only turns that metadata into what filters and charts need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from charter.domain.governance.rule_registry import OWASP_TITLES, all_rules


@dataclass(frozen=True, slots=True)
class RuleInfo:
    id: str
    title: str
    severity: str
    owasp: tuple[str, ...]
    remediation: str


def rules() -> dict[str, RuleInfo]:
    return {
        r.meta.id: RuleInfo(
            r.meta.id, r.meta.title, r.meta.severity.value, r.meta.owasp, r.meta.remediation
        )
        for r in all_rules()
    }


def rules_for_owasp(owasp_id: str) -> tuple[str, ...]:
    return tuple(sorted(r.id for r in rules().values() if owasp_id in r.owasp))


def owasp_ids() -> list[tuple[str, str]]:
    """Every OWASP id some rule maps to, with its title, in the lists' order."""
    used = {o for r in rules().values() for o in r.owasp}
    return [(oid, title) for oid, title in OWASP_TITLES.items() if oid in used]


def owasp_counts(by_rule: Mapping[str, int]) -> list[tuple[str, str, int]]:
    """Open findings per OWASP id (a finding counts once under each id its rule maps to)."""
    known = rules()
    totals: dict[str, int] = {}
    for rule_id, n in by_rule.items():
        for oid in known[rule_id].owasp if rule_id in known else ():
            totals[oid] = totals.get(oid, 0) + n
    return sorted(
        ((oid, OWASP_TITLES.get(oid, oid), n) for oid, n in totals.items() if n),
        key=lambda item: (-item[2], item[0]),
    )
