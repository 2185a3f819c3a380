"""Real processes for gateway tests and the benchmark: store, upstream, Charter server, gateway.

``prepare_store`` writes people, agents and enrolled keys into a fresh store in
this process; ``upstream_http`` and ``gateway_process`` start the upstream MCP
server and ``charter gateway`` as child processes and wait until they answer;
``mcp_session`` opens a real MCP client session; ``running_stack`` starts the whole set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from tests.support import cli_fork
from tests.support.server import CHARTER, ROOT, LiveServer, free_port, live_server

from charter.config import Settings
from charter.domain.charter_parsing import load_document, parse_charter
from charter.domain.lifecycle import Transition
from charter.domain.roles import parse_roles
from charter.domain.tokens.jwk import Alg, PrivateKey, generate_private_key, jwk_from_public_key
from charter.domain.tokens.jws import sign
from charter.sdk.credentials import AgentCredentials
from charter.services.context import Services
from charter.services.people import PersonRecord
from charter.store import schema

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


#: What ``charter gateway`` imports when it starts (the fork server imports it once).
GATEWAY_IMPORTS = ("charter.gateway.config", "charter.gateway.serve")


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
    url: str,
    process: subprocess.Popen[bytes] | cli_fork.ForkedProcess,
    log: Path,
    what: str,
    timeout: float = 60,
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


def _stop(process: subprocess.Popen[bytes] | cli_fork.ForkedProcess) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def upstream_http(
    home: Path, env: dict[str, str] | None = None, *, sse: bool = False, modern_only: bool = False
) -> Iterator[str]:
    """The test upstream MCP server on streamable HTTP (JSON or SSE responses); yields its URL."""
    port = free_port()
    log = home / f"upstream-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                str(UPSTREAM),
                "--http",
                str(port),
                *(["--sse"] if sse else []),
                *(["--modern-only"] if modern_only else []),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
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
        process = cli_fork.spawn(
            [CHARTER, "gateway", "--config", str(config), "--port", str(port), *args],
            env=env,
            stdout=out.name,
            cwd=ROOT,
            preload=GATEWAY_IMPORTS,
        )
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


IDP = "https://idp.acme.test"
ROLES = {
    "version": 1,
    "roles": [
        {
            "name": "support-staff",
            "groups": ["support"],
            "allow": [{"action": "read_ticket", "resource": "helpdesk:*"}],
        }
    ],
}


@dataclass
class Stack:
    env: dict[str, str]
    home: Path
    charter: LiveServer
    gateway: str
    keys: dict[str, PrivateKey]
    idp_key: PrivateKey

    def credentials(self, agent: str, **options: Any) -> AgentCredentials:
        return AgentCredentials(agent, self.keys[agent], base_url=self.charter.url, **options)

    def token(self, agent: str, scope: str, **options: Any) -> str:
        return self.credentials(agent, **options).token(scope, resource=self.gateway).value

    def person_token(self, email: str) -> str:
        """An ID token from the company's identity provider (a trusted issuer)."""
        now = int(time.time())
        claims = {
            "iss": IDP,
            "sub": email,
            "email": email,
            "aud": ISSUER,
            "iat": now,
            "exp": now + 300,
        }
        return sign(claims, self.idp_key, kid="idp-1")

    def read(self, query: Any) -> list[Any]:
        services = Services.from_settings(Settings.from_env(self.env))
        try:
            with services.db.read() as connection:
                return list(connection.execute(query))
        finally:
            services.close()

    def activity(
        self, agent: str, at_least: int = 1, *, having: tuple[Any, ...] | None = None
    ) -> list[Any]:
        """The agent's gateway rows once there are ``at_least`` of them (and, with ``having``,
        once an ``(action, resource, allowed)`` row equal to it is among them): the gateway
        writes activity in batches, and earlier tests on a shared stack add rows too."""
        table = schema.activities
        deadline = time.monotonic() + 10  # the gateway writes activity in batches
        while True:
            rows = self.read(
                sa.select(
                    table.c.action,
                    table.c.resource,
                    table.c.allowed,
                    table.c.on_behalf_of,
                    table.c.source,
                    table.c.latency_us,
                    table.c.reasons,
                )
                .where(table.c.agent == agent, table.c.source == "gateway")
                .order_by(table.c.id)
            )
            found = having is None or having in [(r.action, r.resource, r.allowed) for r in rows]
            if (len(rows) >= at_least and found) or time.monotonic() > deadline:
                return rows
            time.sleep(0.2)

    def audit(self, action: str, *, at_least: int = 0, timeout: float = 10.0) -> list[Any]:
        """The ``action`` events; with ``at_least``, wait (up to ``timeout``) for that many."""
        events = schema.events
        deadline = time.monotonic() + timeout
        while True:
            rows = self.read(
                sa.select(events.c.actor, events.c.target, events.c.summary).where(
                    events.c.action == action
                )
            )
            if len(rows) >= at_least or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)


@contextmanager
def running_stack(
    home: Path, *, upstream_over_http: bool = False, **gateway: Any
) -> Iterator[Stack]:
    """People, two enrolled agents, roles, a trusted IdP; the Charter server and the gateway
    with the test upstream as its stdio child (credential injected from the environment),
    or, with ``upstream_over_http``, as a separate streamable HTTP server."""
    env = env_for(
        home, TEST_HELPDESK_KEY="hk-live-0123456789", UPSTREAM_CALL_LOG=str(home / "calls.log")
    )
    keys = prepare_store(env, [HELPDESK_CHARTER, REVIEWER_CHARTER])
    idp_key = generate_private_key(Alg.ES256)
    services = Services.from_settings(Settings.from_env(env))
    try:
        services.decisions.apply_roles(parse_roles(ROLES), actor="test:setup", source="test")
        services.tokens.trusted.add(
            IDP,
            actor="test:setup",
            jwks={"keys": [jwk_from_public_key(idp_key.public_key(), kid="idp-1")]},
        )
    finally:
        services.decisions.close()
        services.close()
    upstream = stdio_upstream(
        env={"HELPDESK_API_KEY": {"env": "TEST_HELPDESK_KEY"}}, inherit_env=False
    )
    upstream["stdio"]["env"]["UPSTREAM_CALL_LOG"] = str(home / "calls.log")
    upstream["stdio"]["env"]["UPSTREAM_CANCEL_LOG"] = str(home / "cancelled.log")
    with ExitStack() as started:
        if upstream_over_http:
            upstream_env = {**env, **upstream["stdio"]["env"], "HELPDESK_API_KEY": "hk-http"}
            url = started.enter_context(upstream_http(home, upstream_env, sse=True))
            upstream = {"name": "helpdesk", "http": {"url": url}}
        config = write_config(home, upstream, **gateway)
        charter = started.enter_context(live_server(env))
        gateway_url = started.enter_context(gateway_process(env, config))
        yield Stack(env, home, charter, gateway_url, keys, idp_key)


def payload(answer: httpx.Response) -> Any:
    """The JSON-RPC message of an answer, sent as JSON or as the one event of an SSE stream."""
    if answer.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:] for line in answer.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return answer.json()
