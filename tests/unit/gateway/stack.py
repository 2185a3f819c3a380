"""Real processes for gateway tests and the benchmark: store, upstream, Charter server, gateway.

``prepare_store`` writes people, agents and enrolled keys into a fresh store in
this process; ``upstream_http`` and ``gateway_process`` start the upstream MCP
server and ``charter gateway`` as child processes and wait until they answer;
``agent_client`` opens a real MCP client session with an agent's token.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from tests.support.server import CHARTER, ROOT, free_port

from charter.config import Settings
from charter.domain.charter_parsing import load_document, parse_charter
from charter.domain.lifecycle import Transition
from charter.services.context import Services
from charter.services.people import PersonRecord
from charter.tokens.jwk import Alg, PrivateKey, generate_private_key

HERE = Path(__file__).resolve().parent
UPSTREAM = HERE / "upstream_server.py"
ISSUER = "http://charter.test"

HELPDESK_CHARTER = """
name: helpdesk-bot
owner: maria.garcia@acme.example
purpose: Answer helpdesk tickets and e-mail customers about them, through the MCP gateway.
allow:
  - action: read_ticket
    resource: "helpdesk:tools/read_ticket"
  - action: send_email
    resource: "helpdesk:tools/send_email"
    when:
      - {attribute: args.to, op: in, value: [customer@example.com, team@acme.example]}
    rate_limit_per_minute: 5
  - action: slow
    resource: "helpdesk:*"
  - action: hang
    resource: "helpdesk:*"
  - action: crash
    resource: "helpdesk:*"
  - action: whoami
    resource: "helpdesk:*"
  - action: resources.read
    resource: "helpdesk:resources/helpdesk://*"
  - action: prompts.get
    resource: "helpdesk:prompts/summarize_ticket"
deny:
  - action: delete_table
    resource: "*"
delegation:
  allowed: true
  groups: [support]
"""

REVIEWER_CHARTER = """
name: ticket-reviewer
owner: maria.garcia@acme.example
purpose: Read helpdesk tickets for quality review; never acts for anyone else.
allow:
  - action: read_ticket
    resource: "helpdesk:tools/read_ticket"
delegation:
  allowed: false
"""

PEOPLE = [
    PersonRecord(email="maria.garcia@acme.example", name="Maria Garcia", groups=("support",)),
    PersonRecord(email="noah.smith@acme.example", name="Noah Smith", groups=("support",)),
]


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CHARTER_HOME": str(home), "CHARTER_ISSUER": ISSUER, "COLUMNS": "200"}
    env.pop("CHARTER_DATABASE_URL", None)
    env.pop("CHARTER_URL", None)
    env.update(extra)
    return env


def prepare_store(env: dict[str, str], charters: list[str]) -> dict[str, PrivateKey]:
    """People, active agents from ``charters`` and one enrolled key each (returned)."""
    services = Services.from_settings(Settings.from_env(env))
    keys: dict[str, PrivateKey] = {}
    try:
        services.people.import_records(PEOPLE, actor="test:setup")
        for text in charters:
            spec = parse_charter(load_document(text))
            services.registry.register(spec, actor="test:setup")
            services.registry.transition(
                spec.name, Transition.ACTIVATE, actor="test:setup", reason="test"
            )
            key = generate_private_key(Alg.EDDSA)
            services.tokens.enrol(spec.name, key.public_key(), actor="test:setup")
            keys[spec.name] = key
    finally:
        services.close()
    return keys


def _wait(
    url: str, process: subprocess.Popen[bytes], log: Path, what: str, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: " + log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer within {timeout} s")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def upstream_http(home: Path) -> Iterator[str]:
    """The test upstream MCP server on streamable HTTP; yields its /mcp URL."""
    port = free_port()
    log = home / f"upstream-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(UPSTREAM), "--http", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}/mcp"
            _wait(url, process, log, "the upstream MCP server")
            yield url
        finally:
            _stop(process)


def write_config(home: Path, upstream: dict[str, Any], **gateway: Any) -> Path:
    import yaml

    path = home / "gateway.yaml"
    document: dict[str, Any] = {"version": 1, "upstreams": [upstream]}
    if gateway:
        document["gateway"] = gateway
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def stdio_upstream(name: str = "helpdesk", **extra: Any) -> dict[str, Any]:
    return {"name": name, "stdio": {"command": sys.executable, "args": [str(UPSTREAM)], **extra}}


@contextmanager
def gateway_process(env: dict[str, str], config: Path, *args: str) -> Iterator[str]:
    """``charter gateway`` on a free port; yields its /mcp URL (also the token audience)."""
    port = free_port()
    log = Path(env["CHARTER_HOME"]) / f"gateway-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [CHARTER, "gateway", "--config", str(config), "--port", str(port), *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        try:
            _wait(f"http://127.0.0.1:{port}/healthz", process, log, "charter gateway")
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            _stop(process)


@asynccontextmanager
async def mcp_session(
    url: str, headers: dict[str, str] | None = None, mode: str = "legacy"
) -> AsyncIterator[Client]:
    """A real MCP client session over streamable HTTP (``headers`` carry the token)."""
    http = create_mcp_http_client(headers=headers or {})
    async with (
        http,
        Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client,
    ):
        yield client
