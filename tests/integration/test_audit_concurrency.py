"""Two processes appending to the audit chain at once: both land, the chain stays linear."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from charter.config import Settings
from charter.domain.audit import EventDraft
from charter.services.context import Services

PER_PROCESS = 500


def _append(url: str, home: str, worker: int, start: multiprocessing.synchronize.Event) -> None:
    services = Services.from_settings(Settings(home=Path(home), database_url=url))
    start.wait()
    for index in range(PER_PROCESS):
        services.audit.append(
            [
                EventDraft(
                    f"worker-{worker}", "test.append", "test", f"{worker}-{index}", None, index
                )
            ]
        )
    services.close()


@pytest.mark.slow
def test_two_writers_never_fork_the_chain(database_url: str, tmp_path: Path) -> None:
    Services.from_settings(Settings(home=tmp_path, database_url=database_url)).close()  # migrate
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_append, args=(database_url, str(tmp_path), n, start))
        for n in (1, 2)
    ]
    for process in workers:
        process.start()
    start.set()
    for process in workers:
        process.join(timeout=240)
        assert process.exitcode == 0
    services = Services.from_settings(Settings(home=tmp_path, database_url=database_url))
    try:
        report = services.audit.verify()
        assert report.ok, report.problem
        assert report.events == 2 * PER_PROCESS
        actors = {e.actor for e in services.audit.list(limit=2 * PER_PROCESS)}
        assert actors == {"worker-1", "worker-2"}
    finally:
        services.close()
