"""The commands of deploy/commands.yaml, run as processes against one PostgreSQL database.

What compose and the Helm chart would start, started here without a container:
the migrate one-shot, a server, a gateway and a worker, with the same argv
(only the address and ports differ). Each answers its probes; the gateway is
not ready while its upstream is down, and says so.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tests.conftest import postgres_url
from tests.support.deploy_commands import command
from tests.support.server import free_port

CHARTER = str(Path(sys.executable).parent / "charter")


@pytest.fixture
def database() -> Iterator[str]:
    base = postgres_url()
    if base is None:
        pytest.skip("PostgreSQL not available")
    name = f"ops_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    argv = [CHARTER, *argv[1:]]  # the venv's charter, as the image's PATH finds it
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, status: int = 200) -> dict:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log.read_text(errors="replace")[-2000:]
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == status:
                return dict(answer.json())
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered {status}"
        time.sleep(0.2)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_migrate_server_gateway_and_worker_run_their_deploy_commands(
    database: str, tmp_path: Path
) -> None:
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    env = {
        **os.environ,
        "CHARTER_DATABASE_URL": database,
        "CHARTER_MASTER_KEY": key,
        "CHARTER_HOME": str(tmp_path / "home"),
    }
    migrated = subprocess.run(
        [CHARTER, *command("migrate")[1:]], env=env, capture_output=True, text=True, timeout=120
    )
    assert migrated.returncode == 0, migrated.stderr
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "version: 1\nupstreams:\n  - name: tools\n    http:\n"
        f"      url: http://127.0.0.1:{free_port()}/mcp\n"
    )
    ports = {
        "host": "127.0.0.1",
        "port": free_port(),
        "metrics_port": free_port(),
        "gateway_port": free_port(),
        "gateway_metrics_port": free_port(),
        "gateway_config": str(config),
    }
    started: list[subprocess.Popen[bytes]] = []
    try:
        server = _start(command("server", **ports), env, tmp_path / "server.log")
        started.append(server)
        gateway = _start(command("gateway", **ports), env, tmp_path / "gateway.log")
        started.append(gateway)
        worker = _start(command("worker"), env, tmp_path / "worker.log")
        started.append(worker)
        ready = _wait(f"http://127.0.0.1:{ports['port']}/readyz", server, tmp_path / "server.log")
        assert ready["status"] == "ready"
        scraped = httpx.get(f"http://127.0.0.1:{ports['metrics_port']}/metrics", timeout=5)
        assert "charter_decisions_total" in scraped.text
        gateway_url = f"http://127.0.0.1:{ports['gateway_port']}"
        _wait(f"{gateway_url}/healthz", gateway, tmp_path / "gateway.log")
        body = _wait(f"{gateway_url}/readyz", gateway, tmp_path / "gateway.log", status=503)
        failing = {name for name, check in body["checks"].items() if not check["ok"]}
        assert failing == {"upstreams"}  # the store and the policy are fine; the upstream is down
        metrics = httpx.get(f"http://127.0.0.1:{ports['gateway_metrics_port']}/metrics", timeout=5)
        assert "charter_request_duration_seconds" in metrics.text
        time.sleep(1)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
    finally:
        for process in started:
            _stop(process)
