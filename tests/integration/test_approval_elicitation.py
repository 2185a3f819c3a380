"""A held call approved by the person the agent acts for, asked through MCP elicitation.

The real stack: the Charter server, ``charter gateway`` with the test upstream as its
stdio child, and real MCP client sessions with (or without) an elicitation callback.
The agent acts for Maria (a token exchanged for her ID token); the rule holds
``send_email`` for the owner's approval, and Maria owns the agent, so the gateway asks
her on the call's own stream. Her answer is recorded as hers and the call is decided
again; anyone else's held call, or a client that cannot be asked, gets ``-32034``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from tests.support.server import live_server, run_cli
from tests.unit.gateway.stack import (
    IDP,
    Stack,
    env_for,
    gateway_process,
    prepare_store,
    stdio_upstream,
    write_config,
)

from charter.config import Settings
from charter.domain.roles import parse_roles
from charter.domain.tokens.jwk import Alg, generate_private_key, jwk_from_public_key
from charter.gateway import refusals
from charter.services.context import Services

MAILER = """
name: mailer-bot
owner: maria.garcia@acme.example
purpose: E-mails customers about their tickets, each e-mail approved by the person it acts for.
allow:
  - action: send_email
    resource: "helpdesk:tools/send_email"
    approve: {by: owner, ttl: 15m}
  - action: whoami
    resource: "helpdesk:*"
    approve: {by: owner, ttl: 15m}
  - action: read_ticket
    resource: "helpdesk:tools/read_ticket"
    approve: {by: role support-staff, ttl: 15m}
delegation:
  allowed: true
  groups: [support]
"""
MARIA = "maria.garcia@acme.example"
NOAH = "noah.smith@acme.example"
SCOPE = "send_email whoami read_ticket"
ROLES = {
    "version": 1,
    "roles": [
        {
            "name": "support-staff",
            "groups": ["support"],
            "allow": [
                {"action": "send_email", "resource": "helpdesk:*"},
                {"action": "whoami", "resource": "helpdesk:*"},
                {"action": "read_ticket", "resource": "helpdesk:*"},
            ],
        }
    ],
}
WAIT = 6.0  # gateway.approval_wait for this stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home: Path = tmp_path_factory.mktemp("approval-elicitation")
    env = env_for(home, TEST_HELPDESK_KEY="hk-live-0123456789")
    keys = prepare_store(env, [MAILER, MAILER.replace("mailer-bot", "courier-bot")])
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
    with ExitStack() as started:
        config = write_config(home, upstream, approval_wait=f"{WAIT:g}s")
        charter = started.enter_context(live_server(env))
        gateway = started.enter_context(gateway_process(env, config))
        yield Stack(env, home, charter, gateway, keys, idp_key)


def acting_for(stack: Stack, person: str | None, agent: str = "mailer-bot") -> str:
    """The agent's token, delegated by ``person`` (or its own, for nobody)."""
    credentials = stack.credentials(agent)
    if person is None:
        return credentials.token(SCOPE, resource=stack.gateway).value
    return credentials.exchange(
        stack.person_token(person), scope=SCOPE, resource=stack.gateway
    ).value


class Person:
    """The elicitation callback: what the person was asked, and how they answer."""

    def __init__(self, answer: types.ElicitResult | None, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.asked: list[Any] = []

    async def __call__(self, _ctx: Any, params: Any) -> types.ElicitResult:
        self.asked.append(params)
        if self.delay:
            await anyio.sleep(self.delay)
        assert self.answer is not None
        return self.answer


def approve(value: Any = True) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"approve": value})


def call(
    stack: Stack, token: str, tool: str, arguments: dict[str, Any], person: Person | None
) -> str | MCPError:
    """One tool call in a fresh session (with an elicitation callback when ``person``)."""

    async def session() -> str | MCPError:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        callbacks: dict[str, Any] = {"elicitation_callback": person} if person else {}
        client = Client(
            streamable_http_client(stack.gateway, http_client=http),
            mode="legacy",
            cache=None,
            **callbacks,
        )
        async with http, client:
            try:
                result = await client.call_tool(tool, arguments)
            except MCPError as error:
                return error
            return str(result.content[0].text)  # type: ignore[union-attr]

    return anyio.run(session)


def held(outcome: str | MCPError) -> str:
    assert isinstance(outcome, MCPError), f"expected the call to be held, got {outcome!r}"
    assert outcome.error.code == refusals.APPROVAL_REQUIRED, outcome.error
    assert outcome.error.data["access_request"]["status"] == "pending"
    return str(outcome.error.data["access_request"]["id"])


def sent(stack: Stack) -> int:
    log = stack.home / "calls.log"
    return log.read_text().split().count("send_email") if log.exists() else 0


def events(stack: Stack, action: str, target: str) -> list[Any]:
    return [e for e in stack.audit(action) if e.target == target]


def request_of(person: Person) -> str:
    """The access request the question named."""
    message = person.asked[-1].message
    return str(message.split("(access request ")[1].split(")")[0])


def test_accepted_the_call_runs_once_approved_by_the_person(stack: Stack) -> None:
    token = acting_for(stack, MARIA)
    mail = {"to": "customer@example.com", "subject": "your refund"}
    maria = Person(approve())
    before = sent(stack)
    assert call(stack, token, "send_email", mail, maria) == (
        "sent 'your refund' to customer@example.com"
    )
    assert sent(stack) == before + 1  # forwarded once
    assert len(maria.asked) == 1
    asked = maria.asked[0]
    # the exact call: the tool, its arguments, the rule and the access request
    assert "mailer-bot" in asked.message and MARIA in asked.message
    assert "send_email" in asked.message
    assert json.dumps(mail, sort_keys=True) in asked.message
    assert "charter/mailer-bot/allow/0" in asked.message
    assert asked.requested_schema["properties"]["approve"]["type"] == "boolean"
    ticket = request_of(maria)

    approved = events(stack, "approval.approve", ticket)
    assert [e.actor for e in approved] == [MARIA]  # audited as the person's approval
    assert "mcp-elicitation" in approved[0].summary
    assert events(stack, "approval.use", ticket)

    # replay after use: held again, as a new request (a client that cannot be asked)
    replay = held(call(stack, token, "send_email", mail, None))
    assert replay != ticket
    assert sent(stack) == before + 1


@pytest.mark.parametrize(
    "answer",
    [types.ElicitResult(action="decline"), approve(False)],
    ids=["decline", "accept-false"],
)
def test_declined_the_call_is_refused_and_never_forwarded(
    stack: Stack, answer: types.ElicitResult
) -> None:
    token = acting_for(stack, MARIA)
    mail = {"to": "customer@example.com", "subject": f"no {answer.action} {answer.content}"}
    maria = Person(answer)
    before = sent(stack)
    outcome = call(stack, token, "send_email", mail, maria)
    assert isinstance(outcome, MCPError)
    assert outcome.error.code == refusals.ACCESS_DENIED
    assert "approval_denied" in json.dumps(outcome.error.data)
    assert sent(stack) == before
    ticket = request_of(maria)
    assert [e.actor for e in events(stack, "approval.deny", ticket)] == [MARIA]
    # the denial stands for this exact call: asked again, refused without asking
    again = Person(approve())
    outcome = call(stack, token, "send_email", mail, again)
    assert isinstance(outcome, MCPError) and outcome.error.code == refusals.ACCESS_DENIED
    assert again.asked == []
    assert sent(stack) == before


@pytest.mark.parametrize(
    "answer",
    [
        types.ElicitResult(action="cancel"),
        approve("yes"),  # not the boolean true: nothing is recorded
        types.ElicitResult(action="accept", content={}),
    ],
    ids=["cancel", "accept-string", "accept-empty"],
)
def test_no_clear_answer_leaves_the_call_held(stack: Stack, answer: types.ElicitResult) -> None:
    token = acting_for(stack, MARIA)
    arguments = {"note": f"unclear {answer.action} {answer.content}"}
    maria = Person(answer)
    ticket = held(call(stack, token, "whoami", arguments, maria))
    assert request_of(maria) == ticket
    assert events(stack, "approval.approve", ticket) == []
    assert events(stack, "approval.deny", ticket) == []


def test_no_answer_in_time_leaves_the_call_held(stack: Stack) -> None:
    token = acting_for(stack, MARIA)
    slow = Person(approve(), delay=WAIT + 3)
    started = time.monotonic()
    ticket = held(call(stack, token, "whoami", {"note": "too slow"}, slow))
    assert time.monotonic() - started < WAIT + 2.5  # the gateway stopped waiting
    assert len(slow.asked) == 1
    time.sleep(1.0)  # whatever the person does later, the gateway stopped listening
    assert events(stack, "approval.approve", ticket) == []


def test_a_client_without_elicitation_gets_the_held_answer(stack: Stack) -> None:
    token = acting_for(stack, MARIA)
    before = sent(stack)
    mail = {"to": "customer@example.com", "subject": "no elicitation"}
    ticket = held(call(stack, token, "send_email", mail, None))
    assert sent(stack) == before
    assert events(stack, "approval.approve", ticket) == []


def test_an_approver_other_than_the_delegator_is_not_asked(stack: Stack) -> None:
    # Noah is not the owner: his agent's held call waits for Maria, elsewhere
    token = acting_for(stack, NOAH)
    noah = Person(approve())
    before = sent(stack)
    mail = {"to": "customer@example.com", "subject": "for noah"}
    ticket = held(call(stack, token, "send_email", mail, noah))
    assert noah.asked == []
    assert sent(stack) == before
    assert events(stack, "approval.approve", ticket) == []


def test_an_agent_acting_for_nobody_is_not_asked(stack: Stack) -> None:
    token = acting_for(stack, None)
    nobody = Person(approve())
    held(call(stack, token, "whoami", {"note": "own token"}, nobody))
    assert nobody.asked == []


def test_a_delegator_in_the_approving_role_is_asked(stack: Stack) -> None:
    # read_ticket waits for a member of support-staff; Noah is one, and the agent acts for him
    token = acting_for(stack, NOAH)
    noah = Person(approve())
    assert call(stack, token, "read_ticket", {"ticket_id": "7"}, noah).startswith("ticket 7")  # type: ignore[union-attr]
    assert len(noah.asked) == 1
    ticket = request_of(noah)
    assert [e.actor for e in events(stack, "approval.approve", ticket)] == [NOAH]
    assert held(call(stack, token, "read_ticket", {"ticket_id": "7"}, None)) != ticket


def test_suspending_the_agent_while_the_person_reads_cuts_the_call(stack: Stack) -> None:
    token = acting_for(stack, MARIA, agent="courier-bot")
    before = sent(stack)

    async def suspend_then_accept(_ctx: Any, params: Any) -> types.ElicitResult:
        suspend.asked.append(params)
        done = await anyio.to_thread.run_sync(
            lambda: run_cli(
                "agent", "suspend", "courier-bot", "--reason", "key leaked", env=stack.env
            )
        )
        assert done.returncode == 0, done.stderr
        await anyio.sleep(1.5)  # the kill switch notices within its watch interval
        return approve()

    suspend = Person(None)
    mail = {"to": "customer@example.com", "subject": "from a suspended agent"}
    outcome = call(stack, token, "send_email", mail, suspend_then_accept)  # type: ignore[arg-type]
    assert isinstance(outcome, MCPError), outcome
    assert outcome.error.code == refusals.AGENT_CUT_OFF
    assert len(suspend.asked) == 1
    assert sent(stack) == before
    assert events(stack, "approval.approve", request_of(suspend)) == []


def test_plain_json_answers_have_no_stream_to_ask_on(stack: Stack) -> None:
    upstream = stdio_upstream(
        env={"HELPDESK_API_KEY": {"env": "TEST_HELPDESK_KEY"}}, inherit_env=False
    )
    (stack.home / "json").mkdir(exist_ok=True)
    config = write_config(stack.home / "json", upstream, stream_responses=False)
    with gateway_process(stack.env, config) as gateway:
        plain = Stack(stack.env, stack.home, stack.charter, gateway, stack.keys, stack.idp_key)
        token = acting_for(plain, MARIA)
        maria = Person(approve())
        started = time.monotonic()
        held(call(plain, token, "whoami", {"note": "plain json"}, maria))
        assert maria.asked == []
        assert time.monotonic() - started < WAIT  # answered at once, not after a wait
