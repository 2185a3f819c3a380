"""The fast path (raw JSON-RPC bytes to an HTTP upstream) decides before it forwards.

Real processes: the test upstream on streamable HTTP (SSE answers), the Charter
server, ``charter gateway``. The upstream's ``hang`` tool writes the request id
it was called with to the call log: the fast path's own ids (``charter-N``)
show which calls took it, the SDK's numbers show the ones that went the full
way. Every test that a call is refused also checks that the upstream never ran
it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.unit.gateway.stack import Stack, payload, running_stack

from charter.gateway import refusals

PROTOCOL = "2025-11-25"
SCOPES = "read_ticket hang send_email slow resources.read prompts.get"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(
        tmp_path_factory.mktemp("gateway-fast"), upstream_over_http=True, call_timeout="3s"
    ) as built:
        yield built


def open_session(
    client: httpx.Client,
    stack: Stack,
    capabilities: dict[str, Any] | None = None,
    *,
    initialize: bool = True,
) -> dict[str, str]:
    token = stack.token("helpdesk-bot", SCOPES)
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": PROTOCOL,
    }
    opened = client.post(
        stack.gateway,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL,
                "capabilities": capabilities or {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
    )
    assert opened.status_code == 200, opened.text
    session = {**headers, "Mcp-Session-Id": opened.headers["mcp-session-id"]}
    if not initialize:
        return session
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    done = client.post(stack.gateway, headers=session, json=initialized)
    assert done.status_code == 202
    return session


@pytest.fixture(scope="module")
def raw(stack: Stack) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """A session of an agent that takes no requests back: its calls may take the fast path."""
    with httpx.Client(timeout=30) as client:
        yield client, open_session(client, stack)


def ran(stack: Stack) -> list[str]:
    path = stack.home / "calls.log"
    return path.read_text().splitlines() if path.exists() else []


def call(
    client: httpx.Client,
    stack: Stack,
    headers: dict[str, str],
    name: str,
    arguments: dict[str, Any],
    request_id: Any = 1,
) -> Any:
    answer = client.post(
        stack.gateway,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        },
    )
    assert answer.status_code == 200, answer.text
    return payload(answer)


def test_an_allowed_call_takes_the_fast_path_and_answers_json(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = raw
    answer = client.post(
        stack.gateway,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": "mine-1",
            "method": "tools/call",
            "params": {"name": "hang", "arguments": {"seconds": 0.01}},
        },
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["mcp-session-id"] == headers["Mcp-Session-Id"]
    message = answer.json()
    assert message["id"] == "mine-1"  # the agent's id, not the gateway's
    assert message["result"]["content"][0]["text"] == "woke up"
    assert any(line.startswith("hang-request:charter-") for line in ran(stack))
    rows = [(r.action, r.resource, r.allowed) for r in stack.activity("helpdesk-bot")]
    assert ("hang", "helpdesk:tools/hang", True) in rows


def test_an_agent_that_takes_requests_back_goes_the_full_way(stack: Stack) -> None:
    with httpx.Client(timeout=30) as client:
        headers = open_session(client, stack, {"sampling": {}})
        before = len(ran(stack))
        message = call(client, stack, headers, "hang", {"seconds": 0.01}, request_id=5)
    assert message["result"]["content"][0]["text"] == "woke up"
    new = ran(stack)[before:]
    assert [line for line in new if line.startswith("hang-request:")] != []
    assert not any(line.startswith("hang-request:charter-") for line in new)


def test_only_an_accepted_initialized_notification_opens_the_fast_path(stack: Stack) -> None:
    with httpx.Client(timeout=30) as client:
        headers = open_session(client, stack, initialize=False)
        mentions = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {
                "name": "read_ticket",
                "arguments": {"ticket_id": "notifications/initialized"},
            },
        }
        client.post(stack.gateway, headers=headers, json=mentions)
        refused = {**headers, "MCP-Protocol-Version": "1999-01-01"}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert client.post(stack.gateway, headers=refused, json=initialized).status_code == 400
        before = len(ran(stack))
        client.post(
            stack.gateway,
            headers=headers,
            json={
                "jsonrpc": "2.0",
                "id": 8,
                "method": "tools/call",
                "params": {"name": "hang", "arguments": {"seconds": 0.01}},
            },
        )
    assert not any(line.startswith("hang-request:charter-") for line in ran(stack)[before:])


def test_a_denied_call_never_reaches_the_upstream(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = raw
    message = call(client, stack, headers, "delete_table", {"table": "users"}, request_id=7)
    assert message["id"] == 7
    assert message["error"]["code"] == refusals.ACCESS_DENIED
    assert "delete_table" in message["error"]["message"]
    assert message["error"]["data"]["decision"]["allowed"] is False
    denied = call(client, stack, headers, "send_email", {"to": "evil@example.net", "subject": "x"})
    assert denied["error"]["code"] == refusals.ACCESS_DENIED
    assert "delete_table" not in ran(stack)
    assert "send_email" not in ran(stack)
    deadline = time.monotonic() + 10  # the gateway writes Activity in batches
    rows: list[tuple[str, bool]] = []
    while ("delete_table", False) not in rows and time.monotonic() < deadline:
        rows = [(r.action, r.allowed) for r in stack.activity("helpdesk-bot")]
    assert ("delete_table", False) in rows


def test_unknown_names_and_odd_params_are_left_to_the_full_path(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = raw
    unknown = call(client, stack, headers, "drop_everything", {})
    assert unknown["error"]["code"] == refusals.UNKNOWN_NAME
    before = len(ran(stack))
    answer = client.post(
        stack.gateway,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "hang", "arguments": {"seconds": 0.01}, "_meta": {"x": 1}},
        },
    )
    assert payload(answer)["result"]["content"][0]["text"] == "woke up"
    new = [line for line in ran(stack)[before:] if line.startswith("hang-request:")]
    assert new
    assert not new[0].startswith("hang-request:charter-")


@pytest.mark.parametrize(
    "body",
    [
        b'[{"jsonrpc": "2.0", "id": 1, "method": "tools/call",'
        b' "params": {"name": "delete_table", "arguments": {"table": "t"}}}]',
        b'{"jsonrpc": "2.0", "id": true, "method": "tools/call",'
        b' "params": {"name": "delete_table", "arguments": {"table": "t"}}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call",'
        b' "params": {"name": "delete_table", "arguments": ["t"]}}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call",'
        b' "params": {"name": "delete_table", "arguments": {"table": "t"}}, "extra": 1}',
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": '
        b'{"name": "delete_table", "arguments": {"table": "t"}}, "method": "tools/list"}',
    ],
)
def test_odd_bodies_never_forward_a_denied_call(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]], body: bytes
) -> None:
    client, headers = raw
    answer = client.post(stack.gateway, headers=headers, content=body)
    assert answer.status_code in (200, 202, 400)  # an answer, an error, or not a request
    assert "delete_table" not in ran(stack)


def test_an_mcp_method_header_that_disagrees_is_not_taken(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = raw
    answer = client.post(
        stack.gateway,
        headers={**headers, "Mcp-Method": "tools/list"},
        json={
            "jsonrpc": "2.0",
            "id": 11,
            "method": "tools/call",
            "params": {"name": "delete_table", "arguments": {"table": "t"}},
        },
    )
    assert answer.status_code in (200, 400)
    if answer.status_code == 200:
        assert payload(answer)["error"]["code"] == refusals.ACCESS_DENIED
    assert "delete_table" not in ran(stack)


def test_a_reused_id_gets_both_answers_each_its_own(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    _, headers = raw
    answers: list[Any] = [None, None]

    def one(index: int, seconds: float) -> None:
        with httpx.Client(timeout=30) as own:
            answers[index] = call(own, stack, headers, "hang", {"seconds": seconds}, "same")

    threads = [threading.Thread(target=one, args=(i, 0.3 + i * 0.2)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for answer in answers:
        assert answer["id"] == "same"
        assert answer["result"]["content"][0]["text"] == "woke up"


def test_rate_limits_hold_on_the_fast_path(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = raw
    codes = []
    for index in range(7):
        message = call(
            client,
            stack,
            headers,
            "send_email",
            {"to": "customer@example.com", "subject": f"s{index}"},
            request_id=100 + index,
        )
        codes.append(message["error"]["code"] if "error" in message else "ok")
    assert codes[:5] == ["ok"] * 5
    assert codes[5:] == [refusals.RATE_LIMITED] * 2
    assert ran(stack).count("send_email") == 5


def test_an_upstream_timeout_is_an_error_and_the_upstream_hears_the_cancel(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = raw
    message = call(client, stack, headers, "hang", {"seconds": 30}, request_id=42)
    assert message["id"] == 42
    assert message["error"]["code"] == refusals.UPSTREAM_TIMEOUT
    cancelled = stack.home / "cancelled.log"
    deadline = time.monotonic() + 10  # the upstream accepts the notice (202), then handles it
    while not cancelled.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert '"requestId": "charter-' in cancelled.read_text()


def test_resources_and_prompts_take_it_too(
    stack: Stack, raw: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, headers = raw
    read = client.post(
        stack.gateway,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 21,
            "method": "resources/read",
            "params": {"uri": "helpdesk://queues"},
        },
    )
    assert payload(read)["result"]["contents"][0]["text"] == "support, billing"
    prompt = client.post(
        stack.gateway,
        headers=headers,
        json={
            "jsonrpc": "2.0",
            "id": 22,
            "method": "prompts/get",
            "params": {"name": "summarize_ticket", "arguments": {"ticket_id": "9"}},
        },
    )
    assert "ticket 9" in payload(prompt)["result"]["messages"][0]["content"]["text"]
