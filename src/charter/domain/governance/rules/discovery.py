"""Discovery health: a scheduled source that keeps failing leaves a blind spot.

While a source cannot be read, identities and credentials created or revoked in
that system since its last success are unseen: offboarding and leaks there go
unnoticed (NHI1). The threshold (``discovery.failures_before_finding``) travels with
the fact, so the rule stays a pure function of it.
"""

from __future__ import annotations

from charter.domain.enums import Severity
from charter.domain.governance.discovery_sources import SourceFacts
from charter.domain.governance.facts import RuleContext
from charter.domain.governance.rule_registry import EntityType, Hit, rule
from charter.domain.governance.rules._common import iso


@rule(
    id="discovery-source-failing",
    title="Scheduled discovery source keeps failing",
    severity=Severity.MEDIUM,
    owasp=("NHI1",),
    entity=EntityType.SOURCE,
    remediation=(
        "Read the last error in 'charter discover status': renew the token its environment "
        "variable names, fix the target or the watched directory, or remove the source from "
        "the policy's 'discovery' section. The finding resolves after the next success."
    ),
    evidence=(
        "source",
        "consecutive_failures",
        "threshold",
        "last_error",
        "last_error_at",
        "last_success_at",
    ),
)
def source_failing(source: SourceFacts, ctx: RuleContext) -> Hit | None:
    """A source failed ``failures_before_finding`` times in a row (and has not recovered)."""
    if source.consecutive_failures < source.threshold:
        return None
    since = (
        f"since {source.last_success_at:%Y-%m-%d %H:%M} UTC"
        if source.last_success_at
        else "and never succeeded"
    )
    return Hit(
        f"discovery source {source.name} ({source.describe}) failed "
        f"{source.consecutive_failures} times in a row {since}: {source.last_error or '?'}",
        {
            "source": source.name,
            "consecutive_failures": source.consecutive_failures,
            "threshold": source.threshold,
            "last_error": source.last_error,
            "last_error_at": iso(source.last_error_at),
            "last_success_at": iso(source.last_success_at),
        },
    )
