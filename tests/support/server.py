"""Start a real ``charter serve`` process for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from charter.config import Settings
from charter.services.auth import UserRole
from charter.services.context import Services
from tests.support import cli_fork

ROOT = Path(__file__).resolve().parents[2]
CHARTER = str(Path(sys.executable).parent / "charter")
#: What ``charter serve`` imports when it starts (the fork server imports it once).
SERVE_IMPORTS = ("uvicorn", "charter.server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def charter_env(home: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CHARTER_HOME": str(home), "COLUMNS": "200", **extra}
    if database_url:
        env["CHARTER_DATABASE_URL"] = database_url
    else:
        env.pop("CHARTER_DATABASE_URL", None)
    return env


def run_cli(
    *args: str, env: dict[str, str], input_text: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``charter`` command as a user would: a new process per call.

    The process is forked from one that has already imported the CLI (see
    ``tests/support/cli_fork.py``), so a call costs the command, not the imports.
    """
    return cli_fork.run([CHARTER, *args], env=env, cwd=ROOT, input_text=input_text, timeout=timeout)


#: The console user every live server's store gets, and whose API token ``client()`` sends.
TEST_ADMIN_EMAIL = "test-admin@charter.example"
TEST_ADMIN_PASSWORD = "test-admin-password-1"
TEST_PEP_NAME = "test-pep"


@dataclass(frozen=True)
class Credentials:
    admin_token: str
    pep_key: str


def seed_credentials(env: dict[str, str]) -> Credentials:
    """Create (once per store) a test admin with an API token, and a test PEP key.

    Runs in the test process against the server's store before the server starts.
    """
    settings = Settings.from_env(env)
    services = Services.from_settings(settings)
    try:
        auth = services.auth
        if not any(u.email == TEST_ADMIN_EMAIL for u in auth.list_users()):
            auth.add_user(
                TEST_ADMIN_EMAIL,
                role=UserRole.ADMIN,
                password=TEST_ADMIN_PASSWORD,
                name="Test Admin",
                actor="test:setup",
            )
        token = auth.keys.create_api_token(
            TEST_ADMIN_EMAIL, name="live-server", expires_in=None, actor="test:setup"
        ).secret
        pep_name = TEST_PEP_NAME
        taken = {k.name for k in auth.keys.list_pep_keys()}
        suffix = 1
        while pep_name in taken:
            suffix += 1
            pep_name = f"{TEST_PEP_NAME}-{suffix}"
        pep = auth.keys.add_pep_key(pep_name, actor="test:setup").secret
    finally:
        services.close()
    return Credentials(token, pep)


class CharterAuth(httpx.Auth):
    """The PEP key on ``/access/`` paths, the admin API token everywhere else."""

    def __init__(self, admin_token: str, pep_key: str) -> None:
        self.admin_token = admin_token
        self.pep_key = pep_key

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        if "authorization" not in request.headers:
            path = request.url.path
            secret = (
                self.pep_key
                if path == "/access" or path.startswith("/access/")
                else (self.admin_token)
            )
            request.headers["authorization"] = f"Bearer {secret}"
        yield request


@dataclass
class LiveServer:
    url: str
    process: cli_fork.ForkedProcess
    env: dict[str, str]
    admin_token: str = ""
    pep_key: str = ""

    @property
    def auth(self) -> CharterAuth:
        return CharterAuth(self.admin_token, self.pep_key)

    def client(self, **kwargs: object) -> httpx.Client:
        """An HTTP client signed in as the test admin (PEP key on /access/)."""
        kwargs.setdefault("auth", self.auth)
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def anonymous_client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]


@contextmanager
def live_server(env: dict[str, str], *extra_args: str) -> Iterator[LiveServer]:
    """``charter serve`` on a free port; waits for /healthz, stops it cleanly after.

    The store first gets a test admin with an API token and a test PEP key, which
    :meth:`LiveServer.client` sends (``admin_token``/``pep_key`` hold them).
    """
    credentials = seed_credentials(env)
    port = free_port()
    log = open(Path(env["CHARTER_HOME"]) / f"server-{port}.log", "wb")  # noqa: SIM115
    process = cli_fork.spawn(
        [CHARTER, "serve", "--port", str(port), "--log-level", "warning", *extra_args],
        env=env,
        stdout=log.name,
        cwd=ROOT,
        preload=SERVE_IMPORTS,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                log.flush()
                raise RuntimeError(
                    "charter serve exited: " + Path(log.name).read_text(errors="replace")[-2000:]
                )
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("charter serve did not answer within 60 s")
            time.sleep(0.1)
        yield LiveServer(url, process, env, credentials.admin_token, credentials.pep_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
