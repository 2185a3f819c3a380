"""RFC 8693 helpers: nested act claims and may_act."""

from __future__ import annotations

import pytest

from charter.domain.tokens.errors import OAuthError, OAuthErrorCode
from charter.domain.tokens.token_exchange import Subject, act_claim, check_may_act
from charter.services.tokens.access_tokens import Actor, parse_act


def test_act_nests_the_new_actor_outermost() -> None:
    assert act_claim("a", 1, ()) == {"sub": "a", "charter_version": 1}
    nested = act_claim("c", 3, (Actor("b", 2), Actor("a", 1)))
    assert nested == {
        "sub": "c",
        "charter_version": 3,
        "act": {"sub": "b", "charter_version": 2, "act": {"sub": "a", "charter_version": 1}},
    }
    assert parse_act(nested) == (Actor("c", 3), Actor("b", 2), Actor("a", 1))


def test_may_act_must_name_the_actor() -> None:
    free = Subject("p@x.example", "https://idp", 0, None)
    check_may_act(free, "support-summarizer", "https://charter.test")
    named = Subject("p@x.example", "https://idp", 0, {"sub": "support-summarizer"})
    check_may_act(named, "support-summarizer", "https://charter.test")
    with pytest.raises(OAuthError) as refused:
        check_may_act(named, "finance-reconciler", "https://charter.test")
    assert (refused.value.error, refused.value.reason) == (
        OAuthErrorCode.INVALID_GRANT,
        "may_act_mismatch",
    )
    other_issuer = Subject(
        "p@x.example", "https://idp", 0, {"sub": "support-summarizer", "iss": "https://other"}
    )
    with pytest.raises(OAuthError):
        check_may_act(other_issuer, "support-summarizer", "https://charter.test")
