"""Scopes are action names within the charter; deny wins; patterns are never granted."""

from __future__ import annotations

import pytest

from charter.domain.charter_parsing import parse_charter
from charter.domain.tokens.errors import OAuthError, OAuthErrorCode
from charter.domain.tokens.scopes import (
    default_scopes,
    outside_charter,
    parse_scope,
    require_within_charter,
    within_charter,
)

CHARTER = parse_charter(
    {
        "name": "support-summarizer",
        "owner": "maria.garcia@acme.example",
        "purpose": "Summarise tickets for the support team.",
        "allow": [
            {"action": "tickets.read", "resource": "zendesk:tickets/*"},
            {"action": "tickets.*", "resource": "zendesk:tickets/*"},
            {"action": "slack.post_message", "resource": "slack:channels/x"},
        ],
        "deny": [
            {"action": "tickets.delete", "resource": "*"},
            {"action": "tickets.export", "resource": "zendesk:tickets/restricted/*"},
            {
                "action": "tickets.merge",
                "resource": "*",
                "when": [{"attribute": "data.classification", "op": "eq", "value": "restricted"}],
            },
        ],
    }
)


def test_scope_parsing_follows_rfc6749() -> None:
    assert parse_scope("tickets.read  slack.post_message tickets.read") == (
        "tickets.read",
        "slack.post_message",
    )
    assert parse_scope(None) == () and parse_scope("  ") == ()
    for bad in ("tickets.*", 'a"b', "a\\b", "é", "x" * 300):
        with pytest.raises(OAuthError) as refused:
            parse_scope(bad)
        assert refused.value.error == OAuthErrorCode.INVALID_SCOPE


def test_within_the_charter_means_an_allow_matches_and_no_blanket_deny_does() -> None:
    assert within_charter(CHARTER, "tickets.read")
    assert within_charter(CHARTER, "tickets.comments.read")  # via tickets.*
    assert not within_charter(CHARTER, "tickets.delete")  # deny on every resource wins
    assert within_charter(CHARTER, "tickets.export")  # denied only on some resources
    assert within_charter(CHARTER, "tickets.merge")  # denied only under a condition
    assert outside_charter(CHARTER, ["billing.refund", "tickets.read"]) == ["billing.refund"]


def test_the_default_is_the_exact_actions_and_escalation_is_refused() -> None:
    assert default_scopes(CHARTER) == ("tickets.read", "slack.post_message")
    assert require_within_charter(CHARTER, ()) == ("tickets.read", "slack.post_message")
    with pytest.raises(OAuthError) as refused:
        require_within_charter(CHARTER, ("tickets.read", "tickets.delete"))
    assert (refused.value.error, refused.value.reason) == (
        OAuthErrorCode.INVALID_SCOPE,
        "scope_escalation",
    )
    assert "tickets.delete" in refused.value.message
