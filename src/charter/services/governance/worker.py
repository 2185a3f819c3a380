"""The governance worker (``charter worker``): evaluations and due workflows, periodically.

Jobs and when they are due:

* ``evaluate`` — findings, whenever the store changed since the last evaluation
  (an ingest, a charter change, new activity, a directory import) and at least
  every ``worker.evaluate_every``;
* ``workflows`` — every ``worker.workflows_every``: owner departures (pending
  transfers, suspension after the grace period), charter expiry (warnings,
  suspension), access reviews (reminders, deadlines), JIT grants that ended,
  rotations (schedule what is due, verify what was started);
* ``deliver`` — every ``delivery.every``: notices and tasks out through the
  channels of the policy's ``delivery`` section (:mod:`.delivery`), within
  ``delivery.budget`` seconds a pass;
* ``discovery`` — each source of the policy's ``discovery`` section when it is due,
  under a lease per source (:mod:`.discovery_runs`), before ``evaluate`` so what it
  found is evaluated in the same pass;
* ``siem`` — every ``siem.every``, when the policy names ``siem.to``: decisions and
  findings since the last export as OCSF events (:mod:`charter.services.siem`);
* ``checkpoint`` — every ``worker.checkpoint_every``: a signed checkpoint of the
  audit head, written out of the database (refused, and logged as an error, if
  the chain does not verify).

Any number of workers may run against one store. Each job is taken under a
lease (:mod:`.leases`) and is due-checked *after* the lease is taken, so two
workers never run the same job for the same period; and every action inside is
guarded or keyed (:mod:`.agent_writes`, :mod:`.notices`), so even a worker
whose lease lapsed mid-job cannot act twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from charter.errors import CharterError
from charter.services.governance.leases import new_holder
from charter.services.siem import SiemExport, sink_for

if TYPE_CHECKING:
    from charter.services.governance.service import GovernanceService

logger = logging.getLogger("charter.worker")
ACTOR = "worker"


class Worker:
    def __init__(self, governance: GovernanceService, *, holder: str | None = None) -> None:
        self.g = governance
        self.holder = holder or new_holder()

    # -- jobs ----------------------------------------------------------------------------------
    def _evaluate(self) -> dict[str, Any]:
        result = self.g.evaluation.ensure_current(actor=ACTOR)
        if result is None:
            return {"evaluated": False}
        return {
            "evaluated": True,
            "run": result.run_id,
            **{k: result.counts.get(k, 0) for k in ("new", "resolved", "reopened", "live")},
        }

    def _workflows(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("departures", lambda: self.g.departures.apply(actor=ACTOR)),
            ("expiry", lambda: self.g.expiry.apply(actor=ACTOR)),
            ("review_reminders", lambda: self.g.review_deadlines.remind(actor=ACTOR)),
            ("review_deadlines", lambda: self.g.review_deadlines.enforce_deadlines(actor=ACTOR)),
            ("jit_expired", lambda: self.g.jit.expire(actor=ACTOR)),
            ("changes_expired", lambda: self.g.changes.expire(actor=ACTOR)),
            ("rotations_scheduled", lambda: self.g.rotation.schedule(actor=ACTOR)),
            ("rotations_verified", lambda: self.g.rotation.verify_pending(actor=ACTOR)),
        ]
        for name, step in steps:
            try:
                out[name] = step()
            except CharterError as exc:  # one failing step must not starve the others
                logger.warning("worker step %s failed: %s", name, exc)
                out[name] = {"error": str(exc)}
        return out

    def _checkpoint(self) -> dict[str, Any]:
        try:
            written = self.g.audit.checkpoint()
        except CharterError as exc:  # a broken chain is an alarm, not a reason to stop
            logger.error("audit checkpoint refused: %s", exc)
            return {"error": str(exc)}
        if written.sink_error:
            logger.warning("audit checkpoint not delivered: %s", written.sink_error)
        point = written.checkpoint
        return {"sequence": point.sequence, "path": str(written.path), "sink": written.sink_error}

    def _siem(self) -> dict[str, Any]:
        policy = self.g.policy().siem
        if policy.to is None:
            return {"exported": False}
        header = os.environ.get(policy.authorization_env) if policy.authorization_env else None
        try:
            sink = sink_for(policy.to, header)
            done = SiemExport(self.g.db, self.g.clock).export(sink, batch=policy.batch)
        except CharterError as exc:  # the SIEM is down: the next run sends the same events
            logger.warning("SIEM export failed: %s", exc)
            return {"error": str(exc)}
        return {"decisions": done.decisions, "findings": done.findings}

    def _deliver(self) -> dict[str, Any]:
        return self.g.delivery.run_pass(self.holder)

    def _discovery(self) -> dict[str, Any] | None:
        ttl = int(self.g.policy().worker.lease)
        try:
            pulled = self.g.discovery.run_due(self.holder, actor=ACTOR, ttl=ttl)
        except CharterError as exc:  # e.g. the policy cannot be read: the other jobs go on
            logger.warning("scheduled discovery failed: %s", exc)
            return {"error": str(exc)}
        return pulled or None

    def _due(self, job: str, every: int, force: Callable[[], bool] | None = None) -> bool:
        last = self.g.leases.last_run(f"job:{job}")
        now = self.g.clock.now()
        if last is None or now - last >= dt.timedelta(seconds=every):
            return True
        return bool(force and force())

    def run_job(self, job: str) -> dict[str, Any] | None:
        """Run ``job`` if due and not running elsewhere; None when skipped."""
        policy = self.g.policy().worker
        plan: dict[str, tuple[int, Callable[[], dict[str, Any]], Callable[[], bool] | None]] = {
            "evaluate": (
                policy.evaluate_every,
                self._evaluate,
                lambda: not self.g.evaluation.is_current(),
            ),
            "workflows": (policy.workflows_every, self._workflows, None),
            "checkpoint": (policy.checkpoint_every, self._checkpoint, None),
            "deliver": (self.g.policy().delivery.every, self._deliver, None),
            "siem": (self.g.policy().siem.every, self._siem, None),
        }
        every, run, force = plan[job]
        lease = f"job:{job}"
        if not self.g.leases.acquire(lease, self.holder, ttl=int(policy.lease)):
            return None
        result: dict[str, Any] | None = None
        try:
            if self._due(job, every, force):
                result = run()
        finally:
            self.g.leases.release(lease, self.holder, _jsonable(result) if result else None)
        return result

    def run_once(self) -> dict[str, Any]:
        """One pass over every job (what ``charter worker --once`` prints)."""
        out: dict[str, Any] = {}
        if self.g.policy().discovery.sources:
            out["discovery"] = self._discovery() or "not due"
        jobs = ["workflows", "evaluate", "checkpoint"]
        if self.g.policy().delivery.enabled:  # a policy with routes: notices go out
            jobs.insert(2, "deliver")
        if self.g.policy().siem.to:  # after the evaluation: its findings go out in this pass
            jobs.append("siem")
        for job in jobs:
            result = self.run_job(job)
            out[job] = result if result is not None else "not due"
        return out

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        ticks: int | None = None,
        on_pass: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Loop until ``stop`` is set (or ``ticks`` passes are done)."""
        stop = stop or threading.Event()
        done = 0
        while not stop.is_set():
            try:
                result = self.run_once()
                if on_pass is not None:
                    on_pass(result)
            except Exception:  # keep the worker alive; the next pass retries
                logger.exception("worker pass failed")
            done += 1
            if ticks is not None and done >= ticks:
                return
            stop.wait(self.g.policy().worker.tick)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
