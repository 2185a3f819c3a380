"""Which credentials could any credential rule hit: a SQL condition, so the others are never read.

Most credentials in a well-kept estate are young, expiring and in use: no
credential rule hits them, yet building their facts and running five rules on
each was most of an evaluation's client-side time. Each credential rule has here
a SQL condition that holds for **every** credential the rule could hit (a
superset: the rule itself still decides), and the loader reads only the rows
where the enabled rules' conditions hold. A credential outside them cannot hit,
so its stored findings resolve exactly as if it had been evaluated.

Conservative by construction:

* time bounds are moved two days towards *more* candidates, so a time stored in
  another textual form (``T`` separator, an offset, a bare date) on SQLite is
  still read; a non-text value sorts before any text on SQLite and is read too;
* the rotation cadence is the shortest any agent's charter or the policy sets;
* conditions only use exact comparisons the rule makes too (``source = 'fs'``,
  ``kind IN …``), never a reimplementation of a rule's judgement;
* an enabled credential rule without a condition here turns the filter off
  (every credential is read), so a new rule is never silently skipped;
  ``tests/unit/governance/test_prefilter.py`` also fails until it has one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.governance.facts import AgentBrief
from charter.domain.governance.policy import Thresholds
from charter.domain.governance.rules.secrets import SECRET_KINDS, STATIC_KINDS
from charter.domain.moments import utc

#: how far each time bound is moved towards more candidates
SLACK = dt.timedelta(days=2)


@dataclass(frozen=True, slots=True)
class CredentialPrefilter:
    """``WHERE`` text over the ``credentials`` table (driver marks) and its parameters."""

    sql: str
    params: tuple[Any, ...]


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values))


def credential_prefilter(
    rule_ids: Iterable[str],
    *,
    now: dt.datetime,
    thresholds: Thresholds,
    agents: Mapping[str, AgentBrief],
    postgres: bool,
) -> CredentialPrefilter | None:
    """The condition for the enabled credential rules ``rule_ids``; None to read every credential
    (a rule this module does not know)."""
    mark = "%s" if postgres else "?"

    def bound(seconds: int) -> Any:
        moment = utc(now) - dt.timedelta(seconds=seconds) + SLACK
        return moment if postgres else moment.strftime("%Y-%m-%d %H:%M:%S.%f")

    cadences = [a.rotate_every for a in agents.values() if a.rotate_every]
    cadence = min([thresholds.rotate_every, *cadences])
    secret_kinds = _quoted(SECRET_KINDS)
    conditions: list[tuple[str, tuple[Any, ...]]] = []
    for rule_id in sorted(set(rule_ids)):
        if rule_id == "secret-leaked":
            conditions.append(("source = 'fs'", ()))
        elif rule_id == "long-lived-secret":
            conditions.append(
                (
                    f"(source <> 'fs' AND kind IN ({secret_kinds}) AND (expires_at IS NULL "
                    f"OR COALESCE(last_rotated_at, created_at) < {mark}))",
                    (bound(cadence),),
                )
            )
        elif rule_id == "credential-reuse":
            conditions.append(
                (
                    "(source <> 'fs' AND fingerprint IN (SELECT fingerprint FROM credentials "
                    "WHERE gone_at IS NULL GROUP BY fingerprint HAVING count(*) > 1))",
                    (),
                )
            )
        elif rule_id == "static-cloud-key":
            conditions.append((f"(source <> 'fs' AND kind IN ({_quoted(STATIC_KINDS)}))", ()))
        elif rule_id == "stale-credential":
            conditions.append(
                (
                    f"(source <> 'fs' AND (last_used_at IS NULL OR last_used_at < {mark}))",
                    (bound(thresholds.stale_after),),
                )
            )
        else:
            return None
    if not conditions:
        return CredentialPrefilter("1 = 0", ())
    return CredentialPrefilter(
        "(" + " OR ".join(sql for sql, _ in conditions) + ")",
        tuple(p for _, params in conditions for p in params),
    )
