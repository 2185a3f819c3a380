"""The resource server's step-up challenge, driven through ASGI with a step-up hook.

The hook stands in for the gateway's (which decides against the charter; that
path runs end to end in tests/integration/test_gateway_stepup.py). Here: which
requests are peeked at, that the body reaches the MCP handler intact whether
or not it was read, and the exact challenge.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from starlette.types import Message
from tests.unit.gateway.fakes import FakeAuthority

from charter.gateway.auth import PEEK_LIMIT, ResourceServer
from charter.gateway.authority import AgentPrincipal
from charter.gateway.sessions import Sessions
from charter.gateway.stepup import Call, parse_call

RESOURCE = "https://gw.test/mcp"
META = "https://gw.test/.well-known/oauth-protected-resource/mcp"
BOT = AgentPrincipal("helpdesk-bot", scopes=frozenset({"read_ticket"}))


def tool_call(name: str, **extra: Any) -> bytes:
    body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": name}}
    return json.dumps({**body, **extra}).encode()


class Rig:
    def __init__(self, needed: dict[str, str]) -> None:
        self.needed = needed
        self.asked: list[Call] = []
        self.bodies: list[bytes] = []

        async def step_up(principal: AgentPrincipal, call: Call) -> str | None:
            self.asked.append(call)
            return self.needed.get(str(call.params.get("name")))

        async def inner(scope: Any, receive: Any, send: Any) -> None:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.bodies.append(body)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"inner"})

        async def gone(agent: str, reason: str) -> None:
            return None

        self.server = ResourceServer(
            inner,
            authority=FakeAuthority({}, tokens={"tok": BOT, "dpop": BOT}),
            resource=RESOURCE,
            sessions=Sessions(),
            on_agent_gone=gone,
            step_up=step_up,
        )

    def send(
        self,
        chunks: list[bytes],
        method: str = "POST",
        auth: str = "Bearer tok",
        *extra: tuple[bytes, bytes],
    ) -> tuple[int, dict[str, str], bytes]:
        scope = {
            "type": "http",
            "method": method,
            "path": "/mcp",
            "scheme": "https",
            "server": ("gw.test", 443),
            "client": ("10.1.2.3", 5000),
            "headers": [(b"authorization", auth.encode()), (b"mcp-session-id", b"s-1"), *extra],
        }
        incoming = [
            {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
            for i, chunk in enumerate(chunks)
        ]
        sent: list[Message] = []

        async def receive() -> Message:
            return incoming.pop(0) if incoming else {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message)

        anyio.run(self.server, scope, receive, send)
        headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
        return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_a_call_the_hook_names_a_scope_for_is_a_403_challenge() -> None:
    rig = Rig({"send_email": "send_email"})
    status, headers, body = rig.send([tool_call("send_email")])
    assert status == 403
    assert headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", scope="send_email", error_description="the charter '
        "allows this call but the token's scope does not include 'send_email': request a token "
        f'with scope \'send_email\'", resource_metadata="{META}"'
    )
    assert json.loads(body)["scope"] == "send_email"
    assert json.loads(body)["error"] == "insufficient_scope"
    assert rig.bodies == []  # the MCP handler never saw it
    (asked,) = rig.asked
    assert (asked.method, asked.source_ip, asked.session) == ("tools/call", "10.1.2.3", "s-1")


def test_a_call_the_hook_lets_pass_reaches_the_handler_with_its_whole_body() -> None:
    rig = Rig({})
    whole = tool_call("read_ticket", extra="x" * 1000)
    chunks = [whole[:10], whole[10:500], whole[500:]]
    assert rig.send(chunks)[0] == 200
    assert rig.bodies == [whole]
    assert len(rig.asked) == 1


def test_a_dpop_token_is_challenged_with_the_dpop_scheme() -> None:
    rig = Rig({"send_email": "send_email"})
    server = rig.server

    async def authenticate(presented: Any, audience: str) -> AgentPrincipal:
        return BOT

    server.authority.authenticate = authenticate  # type: ignore[method-assign]
    status, headers, _ = rig.send(
        [tool_call("send_email")], "POST", "DPoP dpop", (b"dpop", b"p.r.f")
    )
    assert status == 403  # (this authority skips the proof check)
    assert headers["www-authenticate"].startswith('DPoP error="insufficient_scope"')


@pytest.mark.parametrize(
    "chunks",
    [
        [b"{not json"],
        [b'[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"send_email"}}]'],
        [b'{"jsonrpc":"2.0","method":"tools/call","params":{"name":"send_email"}}'],
        [b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"send_email"}}'],
        [b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["send_email"]}'],
        [b'{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"send_email"}}'],
        [b"[" * 100_000],
    ],
)
def test_anything_but_one_request_is_left_to_the_handler(chunks: list[bytes]) -> None:
    rig = Rig({"send_email": "send_email"})
    assert rig.send(chunks)[0] == 200
    assert rig.asked == []
    assert rig.bodies == [b"".join(chunks)]


def test_a_body_over_the_peek_limit_is_passed_on_whole_without_asking() -> None:
    rig = Rig({"send_email": "send_email"})
    whole = tool_call("send_email", pad="y" * (PEEK_LIMIT + 10))
    chunks = [whole[i : i + 65536] for i in range(0, len(whole), 65536)]
    assert rig.send(chunks)[0] == 200
    assert rig.asked == []
    assert rig.bodies == [whole]


def test_get_and_delete_are_never_peeked_at() -> None:
    rig = Rig({"send_email": "send_email"})
    for method in ("GET", "DELETE"):
        assert rig.send([tool_call("send_email")], method=method)[0] == 200
    assert rig.asked == []


def test_parse_call_reads_the_three_decided_methods_only() -> None:
    for method in ("tools/call", "resources/read", "prompts/get"):
        body = json.dumps({"jsonrpc": "2.0", "id": "a", "method": method, "params": {}})
        parsed = parse_call(body.encode())
        assert parsed is not None and parsed.method == method
    assert parse_call(b"") is None
    assert parse_call(b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}') is None


def test_a_failing_step_up_check_leaves_the_call_to_the_handler() -> None:
    rig = Rig({})

    async def broken(principal: AgentPrincipal, call: Call) -> str | None:
        raise RuntimeError("boom")

    rig.server.step_up = broken
    whole = tool_call("send_email")
    assert rig.send([whole])[0] == 200  # decided (and denied, if so) by the MCP handler
    assert rig.bodies == [whole]
