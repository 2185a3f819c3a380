"""``charter serve --workers N`` hands uvicorn a worker health check a busy host can meet.

uvicorn's supervisor pings each worker and replaces one that does not answer within
``timeout_worker_healthcheck`` (5 s by default). A spawned worker answers only
after it has imported Charter, which on a loaded two-core host takes longer: with
the default, workers were killed and respawned forever and the server never answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from tests.support.server import free_port
from typer.testing import CliRunner

from charter.cli.main import WORKER_HEALTHCHECK_SECONDS, app


def test_serve_passes_workers_and_a_patient_health_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: seen.update(options))
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port()), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert seen["workers"] == 2
    assert seen["factory"] is True
    assert seen["timeout_worker_healthcheck"] == WORKER_HEALTHCHECK_SECONDS >= 30
