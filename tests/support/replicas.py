"""Several ``charter serve`` replicas, a gateway and workers on one private PostgreSQL database.

What ``tests/integration/test_replicas.py`` and ``bench/propagation.py`` share: a
database created for the run (``charter_replicas_<random>``, dropped after), one
master key in the environment (what replicas on different machines share besides
the database), a home directory of its own per process, and real processes
started from the fork server with their logs beside them.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.support import cli_fork, deploy_commands
from tests.support.server import CHARTER, ROOT, SERVE_IMPORTS
from tests.support.server import free_port as any_free_port

ISSUER = "http://charter.test"
_handed_out: set[int] = set()


def free_port() -> int:
    """A free port not handed out before in this process (processes started together
    bind theirs only once they run: two must not be given the same one)."""
    while True:
        port = any_free_port()
        if port not in _handed_out:
            _handed_out.add(port)
            return port


@contextmanager
def private_database(base_url: str, prefix: str = "charter_replicas") -> Iterator[str]:
    """A new PostgreSQL database on ``base_url``'s server; its URL; dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def cluster_env(root: Path, database_url: str, name: str, **extra: str) -> dict[str, str]:
    """The environment of one process of the cluster: shared store and key, own home."""
    home = root / name
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CHARTER_HOME": str(home),
        "CHARTER_DATABASE_URL": database_url,
        "CHARTER_ISSUER": ISSUER,
        "COLUMNS": "200",
        **extra,
    }
    env.pop("CHARTER_URL", None)
    return env


def new_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Replica:
    name: str
    url: str
    process: cli_fork.ForkedProcess
    log: Path
    env: dict[str, str] = field(repr=False)

    def alive(self) -> bool:
        return self.process.poll() is None


def wait_for(url: str, process: cli_fork.ForkedProcess, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{log.name}: exited: " + log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{log.name}: no answer from {url} within {timeout} s")
        time.sleep(0.05)


def spawn_replica(env: dict[str, str], name: str, *args: str) -> Replica:
    """``charter serve`` on a free port (not yet waited for: start several, then wait)."""
    port = free_port()
    log = Path(env["CHARTER_HOME"]) / f"{name}.log"
    log.touch()
    server = deploy_argv("server", host="127.0.0.1", port=port, metrics_port=free_port())
    process = cli_fork.spawn(
        [*server, "--log-level", "warning", *args],
        env=env,
        stdout=str(log),
        cwd=ROOT,
        preload=SERVE_IMPORTS,
    )
    return Replica(name, f"http://127.0.0.1:{port}", process, log, env)


def deploy_argv(name: str, **values: str | int) -> list[str]:
    """The deployment's own command for ``name`` (deploy/commands.yaml: compose and the Helm
    chart run the same), with this test's ports and the checkout's ``charter``."""
    return [CHARTER, *deploy_commands.command(name, **values)[1:]]


def spawn(
    command: list[str], env: dict[str, str], log: Path, preload: tuple[str, ...] = ()
) -> cli_fork.ForkedProcess:
    """A ``charter`` command from the fork server, its output in ``log`` (created)."""
    log.touch()
    return cli_fork.spawn(command, env=env, stdout=str(log), cwd=ROOT, preload=preload)


def stop(*processes: cli_fork.ForkedProcess) -> None:
    """SIGTERM to all at once, then wait for each (SIGKILL after 5 s: teardown, not a test)."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def replicas(envs: list[dict[str, str]]) -> Iterator[list[Replica]]:
    """One replica per environment, started together; all answer ``/healthz`` on entry."""
    started: list[Replica] = []
    try:
        for index, env in enumerate(envs):
            started.append(spawn_replica(env, f"replica-{index}"))
        for replica in started:
            wait_for(f"{replica.url}/healthz", replica.process, replica.log)
        yield started
    finally:
        stop(*(replica.process for replica in started if replica.alive()))
