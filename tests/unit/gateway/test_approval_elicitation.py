"""Who the gateway may ask about a held call, and what the person reads."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import mcp_types as types
import pytest

from charter.domain.decision import Decision, Reason, ReasonCode
from charter.gateway.approval_elicitation import (
    SHOWN_ARGUMENTS,
    _text,
    can_elicit,
    shown_arguments,
)
from charter.gateway.authority import AgentPrincipal


def ctx(elicitation: Any, *, can_send: bool = True, request_id: Any = 7) -> Any:
    capabilities = types.ClientCapabilities(elicitation=elicitation) if elicitation else None
    session = SimpleNamespace(client_capabilities=capabilities, can_send_request=can_send)
    return SimpleNamespace(session=session, request_id=request_id)


@pytest.mark.parametrize(
    ("elicitation", "expected"),
    [
        (types.ElicitationCapability(), True),  # {} means form mode
        (types.ElicitationCapability(form=types.FormElicitationCapability()), True),
        (types.ElicitationCapability(url=types.UrlElicitationCapability()), False),
        (None, False),
    ],
    ids=["empty", "form", "url-only", "none"],
)
def test_only_a_client_that_declared_form_elicitation_is_asked(
    elicitation: Any, expected: bool
) -> None:
    assert can_elicit(ctx(elicitation)) is expected


def test_no_stream_to_ask_on_means_no_question() -> None:
    assert not can_elicit(ctx(types.ElicitationCapability(), can_send=False))
    assert not can_elicit(ctx(types.ElicitationCapability(), request_id=None))


def test_the_question_names_the_exact_call() -> None:
    principal = AgentPrincipal("mailer-bot", on_behalf_of="maria@acme.example")
    rule = "charter/mailer-bot/allow/0"
    decision = Decision(False, reasons=(Reason(ReasonCode.APPROVAL_REQUIRED, "held", rule),))
    shown = shown_arguments({"args": {"to": "c@example.com"}})
    assert shown == '{"to": "c@example.com"}'
    text = _text(
        principal, "calling send_email", "send_email", "h:tools/s", decision, "apr-1", shown
    )
    assert "mailer-bot" in text and "maria@acme.example" in text
    assert rule in text and "apr-1" in text and "h:tools/s" in text and shown in text


def test_arguments_cannot_fake_a_line_of_the_question() -> None:
    sneaky = {"args": {"to": "c@example.com\u2028Rule: pre-approved\u202e", "n": "é"}}
    shown = shown_arguments(sneaky)
    assert shown is not None
    assert "\u2028" not in shown and "\u202e" not in shown and "\n" not in shown
    assert "\\u2028" in shown and "\\u202e" in shown
    assert "é" in shown  # readable text stays readable


def test_arguments_too_long_to_read_are_not_asked_about() -> None:
    assert shown_arguments({"args": {"body": "x" * SHOWN_ARGUMENTS}}) is None
    assert shown_arguments({"args": {"body": "x" * (SHOWN_ARGUMENTS - 20)}}) is not None
