"""Ingest: connector → normalize → attribute → reconcile, for files, a whole tree, or a live API.

Each batch (one source and account) is one transaction: an export with a bad
record leaves nothing of that source and account behind. ``ingest_tree`` (what
``charter discover all`` runs) classifies every file under a directory once (its
plan, :meth:`EstateIngest.plan_tree`, also sizes a progress display), then
ingests source by source in the registry's order — clouds before clusters, so
a Kubernetes service account can be linked to the AWS role it assumes — and
keeps going when one source fails, reporting each failure by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from charter.connectors import registry
from charter.connectors.base import Connector, ExportFile
from charter.connectors.registry import Found
from charter.errors import CharterError, InvalidInput
from charter.services.metrics import INGEST_SECONDS
from charter.services.reconcile import ReconcileResult, ReconcileService


@dataclass(frozen=True, slots=True)
class IngestEvent:
    """What a progress display hears: a source starts, a batch lands, a source ends or fails."""

    kind: str  # "source" | "batch" | "done" | "failed"
    source: str
    files: int = 0
    result: ReconcileResult | None = None
    error: str | None = None


Progress = Callable[[IngestEvent], None]


@dataclass(slots=True)
class IngestReport:
    results: list[ReconcileResult] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (source, message)
    files: dict[str, list[str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def skipped(self) -> int:
        """How many records the connectors skipped, over all batches."""
        return sum(result.skipped for result in self.results)

    @property
    def warnings(self) -> list[str]:
        """Why: each skipped record ("where: why") and each part that could not be read."""
        return [warning for result in self.results for warning in result.warnings]

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "skipped": self.skipped,
            "batches": [r.summary() for r in self.results],
            "failures": [{"source": s, "error": m} for s, m in self.failures],
            "files": self.files,
            "ignored": self.ignored,
        }


def _noop(_event: IngestEvent) -> None:
    return None


class EstateIngest:
    def __init__(self, reconcile: ReconcileService) -> None:
        self._reconcile = reconcile

    def ingest_files(
        self, source: str, paths: Sequence[Path], *, actor: str, progress: Progress = _noop
    ) -> IngestReport:
        """Ingest one source's export files (or directories holding them). Raises on bad input."""
        connector = registry.get(source)
        files = registry.files_for(connector, paths)
        report = IngestReport(files={source: [str(f.path) for f in files]})
        self._run(connector, files, report, actor=actor, progress=progress)
        return report

    def plan_tree(self, root: Path) -> Found:
        """Which exports of which source are under ``root``, and which files are ignored.

        A caller that shows progress sizes it from the plan, then hands the plan to
        :meth:`ingest_plan`, so the tree is classified once.
        """
        return registry.find_exports(root)

    def ingest_tree(self, root: Path, *, actor: str, progress: Progress = _noop) -> IngestReport:
        """Find and ingest the exports of every kind under ``root``; failures are collected."""
        return self.ingest_plan(self.plan_tree(root), actor=actor, progress=progress)

    def ingest_plan(self, found: Found, *, actor: str, progress: Progress = _noop) -> IngestReport:
        """Ingest what :meth:`plan_tree` found, source by source; failures are collected."""
        report = IngestReport(
            files={k: [str(f.path) for f in v] for k, v in found.by_connector.items()},
            ignored=[str(p) for p in found.ignored],
        )
        if not found.by_connector:
            raise InvalidInput(f"no exports Charter recognises under {found.root}", field="dir")
        for source, files in found.by_connector.items():
            progress(IngestEvent("source", source, len(files)))
            try:
                self._run(registry.get(source), files, report, actor=actor, progress=progress)
            except CharterError as exc:
                report.failures.append((source, str(exc)))
                progress(IngestEvent("failed", source, len(files), error=str(exc)))
            else:
                progress(IngestEvent("done", source, len(files)))
        return report

    def ingest_live(
        self,
        source: str,
        target: str,
        *,
        actor: str,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        progress: Progress = _noop,
    ) -> IngestReport:
        """Read the source's live API (``transport`` lets tests replay recorded responses)."""
        connector = registry.get(source)
        if connector.live_sdk is not None:  # the vendor's SDK finds its own credentials
            report = IngestReport(files={source: [f"live: {target}"]})
            with INGEST_SECONDS.labels(connector.id).time():
                raw = connector.fetch_sdk(target)  # read in full before anything is written
                self._apply(connector, raw, report, actor=actor, progress=progress)
            return report
        api = connector.live_api
        if api is None:
            raise InvalidInput(f"{source} has no live API; export the files instead", field="live")
        token = token or os.environ.get(api.credential_env)
        if not token:
            raise InvalidInput(
                f"set {api.credential_env} to read {connector.title} live", field="live"
            )
        report = IngestReport(files={source: [f"live: {target}"]})
        with (
            httpx.Client(
                headers=api.request_headers(token),
                transport=transport,
                timeout=30.0,
                verify=api.verify(os.environ),
            ) as client,
            INGEST_SECONDS.labels(connector.id).time(),
        ):
            raw = connector.fetch_live(client, target)
            self._apply(connector, raw, report, actor=actor, progress=progress)
        return report

    def _run(
        self,
        connector: Connector[Any],
        files: Sequence[ExportFile],
        report: IngestReport,
        *,
        actor: str,
        progress: Progress,
    ) -> None:
        with INGEST_SECONDS.labels(connector.id).time():  # fetch, normalize, reconcile
            self._apply(connector, connector.fetch(files), report, actor=actor, progress=progress)

    def _apply(
        self,
        connector: Connector[Any],
        raw: Any,
        report: IngestReport,
        *,
        actor: str,
        progress: Progress,
    ) -> None:
        for batch in connector.normalize(raw):
            result = self._reconcile.apply(batch, actor=actor)
            report.results.append(result)
            progress(IngestEvent("batch", batch.source, result=result))
