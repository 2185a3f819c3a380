"""Step-up and the 401 without credentials, through real processes.

The Charter server issues the tokens (client credentials, ``private_key_jwt``),
``charter gateway`` decides in-process over the same store, the test upstream
runs as its stdio child. An agent whose token's scope is narrower than its
charter gets a ``403`` ``insufficient_scope`` challenge naming the one scope
the call needs; Charter's token endpoint issues that scope (within the
charter) and the retried call goes through. A scope beyond the charter is
never challenged for, and the token endpoint refuses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from tests.unit.gateway.stack import Stack, mcp_session, running_stack

from charter.sdk.credentials import TokenError

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "step-up-test", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("gateway-stepup")) as built:
        yield built


def open_session(stack: Stack, token: str) -> dict[str, str]:
    headers = {**ACCEPT, "Authorization": f"Bearer {token}"}
    opened = httpx.post(stack.gateway, json=INIT, headers=headers)
    assert opened.status_code == 200, opened.text
    headers["mcp-session-id"] = opened.headers["mcp-session-id"]
    headers["mcp-protocol-version"] = "2025-06-18"
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert httpx.post(stack.gateway, json=initialized, headers=headers).status_code == 202
    return headers


def call(stack: Stack, headers: dict[str, str], name: str, arguments: dict[str, Any]) -> Any:
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    return httpx.post(stack.gateway, json=body, headers=headers)


def test_no_credentials_get_no_error_code_but_a_bad_token_does(stack: Stack) -> None:
    metadata = stack.gateway.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")
    missing = httpx.post(stack.gateway, json=INIT, headers=ACCEPT)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata}"'
    assert "error" not in missing.json()  # RFC 6750 §3.1: no error code without credentials
    bad = httpx.post(stack.gateway, json=INIT, headers={**ACCEPT, "Authorization": "Bearer x.y.z"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert bad.json()["error"] == "invalid_token"


def test_a_narrow_token_is_challenged_to_step_up_and_the_stepped_up_token_works(
    stack: Stack,
) -> None:
    narrow = stack.token("helpdesk-bot", "read_ticket")
    headers = open_session(stack, narrow)
    assert call(stack, headers, "read_ticket", {"ticket_id": "1"}).status_code == 200

    mail = {"to": "customer@example.com", "subject": "step-up"}
    challenged = call(stack, headers, "send_email", mail)
    assert challenged.status_code == 403
    header = challenged.headers["www-authenticate"]
    assert header.startswith('Bearer error="insufficient_scope", scope="send_email", ')
    assert 'resource_metadata="' in header
    assert challenged.json()["scope"] == "send_email"
    forwarded = (stack.home / "calls.log").read_text().split()
    assert "send_email" not in forwarded  # refused before the MCP handler: never forwarded

    # The scope the challenge named, requested from Charter's token endpoint.
    stepped = stack.token("helpdesk-bot", "read_ticket send_email")

    async def retry() -> str:
        async with mcp_session(stack.gateway, {"Authorization": f"Bearer {stepped}"}) as client:
            result = await client.call_tool("send_email", mail)
            return str(result.content[0].text)  # type: ignore[union-attr]

    assert anyio.run(retry) == "sent 'step-up' to customer@example.com"
    rows = stack.activity("helpdesk-bot", at_least=3)
    refused = [r for r in rows if r.action == "send_email" and not r.allowed]
    assert refused and "scope_exceeded" in str(refused[0].reasons)


def test_a_call_the_charter_denies_is_never_a_challenge(stack: Stack) -> None:
    headers = open_session(stack, stack.token("helpdesk-bot", "read_ticket"))
    # outside the charter's condition: stepping up would not help, so the deny is the answer
    leak = call(stack, headers, "send_email", {"to": "ceo@rival.example", "subject": "x"})
    assert leak.status_code == 200
    assert leak.json()["error"]["code"] != 0
    assert "insufficient_scope" not in leak.headers.get("www-authenticate", "")
    # explicitly denied by the charter: no challenge either
    drop = call(stack, headers, "delete_table", {"table": "customers"})
    assert drop.status_code == 200 and "error" in drop.json()
    # an unknown name is left to the handler (refused there, never decided upstream)
    unknown = call(stack, headers, "../delete_table", {})
    assert unknown.status_code == 200 and "error" in unknown.json()
    # and the token endpoint never issues a scope beyond the charter
    with pytest.raises(TokenError) as caught:
        stack.token("helpdesk-bot", "read_ticket delete_table")
    assert "invalid_scope" in str(caught.value)


def test_a_batch_or_garbage_body_is_left_to_the_handler(stack: Stack) -> None:
    headers = open_session(stack, stack.token("helpdesk-bot", "read_ticket"))
    garbage = httpx.post(stack.gateway, content=b"{not json", headers=headers)
    assert garbage.status_code == 400  # the SDK's parse error, not a challenge
    assert "insufficient_scope" not in garbage.headers.get("www-authenticate", "")


def request(stack: Stack, headers: dict[str, str], method: str, params: dict[str, Any]) -> Any:
    body = {"jsonrpc": "2.0", "id": 9, "method": method, "params": params}
    return httpx.post(stack.gateway, json=body, headers=headers)


def test_resources_and_prompts_step_up_to_their_own_scopes(stack: Stack) -> None:
    headers = open_session(stack, stack.token("helpdesk-bot", "read_ticket"))
    for method, params, scope in (
        ("resources/read", {"uri": "helpdesk://tickets/4711"}, "resources.read"),
        ("resources/read", {"uri": "helpdesk://queues"}, "resources.read"),
        (
            "prompts/get",
            {"name": "summarize_ticket", "arguments": {"ticket_id": "1"}},
            "prompts.get",
        ),
    ):
        answer = request(stack, headers, method, params)
        assert answer.status_code == 403, (method, params, answer.text)
        assert f'scope="{scope}"' in answer.headers["www-authenticate"]
    # an unknown URI or prompt is the handler's refusal, not a challenge
    assert (
        request(stack, headers, "resources/read", {"uri": "file:///etc/passwd"}).status_code == 200
    )
    assert request(stack, headers, "prompts/get", {"name": "nope"}).status_code == 200
    wider = open_session(stack, stack.token("helpdesk-bot", "read_ticket resources.read"))
    read = request(stack, wider, "resources/read", {"uri": "helpdesk://tickets/4711"})
    assert read.status_code == 200 and "ticket 4711 (resource)" in read.text
