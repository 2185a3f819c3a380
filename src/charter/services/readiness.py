"""``/readyz`` and the metrics' view of a process: may it take traffic, and what does it hold?

Ready means all three: the store answers, its schema is at this Charter's
migration heads (a replica of an older or newer Charter is not ready against
it), and the compiled decision snapshot is in memory. The probe loads the
snapshot when it is not yet, so the first decision after the probe goes green does
not wait for it. The probe is open to anyone who reaches the port, so a failure
says which check failed and never the driver's words (they name hosts and
ports): those go to the log, at WARNING, with the request's id.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from charter.services.metrics import DecisionTally
from charter.services.store_status import pending_revisions

if TYPE_CHECKING:
    from charter.services.context import Services

logger = logging.getLogger("charter.readiness")


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "not ready",
            "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in self.checks},
        }


class ReadinessProbe:
    """The three checks over one process's services (a current schema is cached per revision)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._current: frozenset[str] | None = None  # revisions known to be at the heads

    def check(self) -> Readiness:
        store = self._store()
        checks = [store[0], store[1], self._snapshot()]
        return Readiness(tuple(checks))

    def _store(self) -> tuple[Check, Check]:
        try:
            with self._services.db.read() as connection:
                connection.execute(sa.text("SELECT 1"))
        except Exception as exc:
            logger.warning("readiness: the store did not answer: %s", _one_line(exc))
            return Check("store", False, "the store did not answer (the log says why)"), Check(
                "migrations", False, "unknown: the store did not answer"
            )
        reached = Check("store", True, "the store answers")
        try:
            with self._services.db.read() as connection:
                rows = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
                revisions = frozenset(str(v) for v in rows.scalars())
        except Exception as exc:
            logger.warning("readiness: no schema version: %s", _one_line(exc))
            return reached, Check("migrations", False, "the store has no schema yet")
        if revisions and revisions == self._current:
            return reached, Check("migrations", True, "the schema is at this Charter's heads")
        pending = pending_revisions(tuple(sorted(revisions)))
        if pending or not revisions:
            missing = ", ".join(pending) or "every migration"
            detail = f"not applied yet: {missing} (run 'charter init' or the migrate job)"
            return reached, Check("migrations", False, detail)
        self._current = revisions
        return reached, Check("migrations", True, "the schema is at this Charter's heads")

    def _snapshot(self) -> Check:
        decisions = self._services.decisions
        try:
            if not decisions.loaded:
                decisions.snapshot()
        except Exception as exc:
            logger.warning("readiness: the decision snapshot did not load: %s", _one_line(exc))
            return Check("decision_snapshot", False, "not loaded (the log says why)")
        return Check("decision_snapshot", True, "the compiled policy is in memory")


class ServicesMetrics:
    """:class:`~charter.services.metrics.MetricsSource` over a process's services."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def decision_tally(self) -> DecisionTally:
        return self._services.decisions.recorder.tally

    def allows_not_written(self) -> int:
        stats = self._services.decisions.recorder.stats
        return stats.sampled_out + stats.shed

    def activity_backlog(self) -> int:
        return self._services.decisions.recorder.stats.queued

    def snapshot_age(self) -> float | None:
        if "decisions" not in self._services.__dict__:  # never built: nothing decided here
            return None
        checked = self._services.decisions.checked_at
        return None if checked is None else time.monotonic() - checked


def _one_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = " ".join(f"{type(cause).__name__}: {cause}".split())
    return text[:200] + "..." if len(text) > 200 else text


__all__ = ["Check", "Readiness", "ReadinessProbe", "ServicesMetrics"]
