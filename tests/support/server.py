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

ROOT = Path(__file__).resolve().parents[2]
CHARTER = str(Path(sys.executable).parent / "charter")


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
    """Run the installed ``charter`` command as a user would."""
    return subprocess.run(
        [CHARTER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input_text,
        cwd=ROOT,
        check=False,
    )


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]


@contextmanager
def live_server(env: dict[str, str], *extra_args: str) -> Iterator[LiveServer]:
    """``charter serve`` on a free port; waits for /healthz, stops it cleanly after."""
    port = free_port()
    log = open(Path(env["CHARTER_HOME"]) / f"server-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [CHARTER, "serve", "--port", str(port), "--log-level", "warning", *extra_args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
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
        yield LiveServer(url, process, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
