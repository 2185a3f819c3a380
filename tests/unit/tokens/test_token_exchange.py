"""RFC 8693 helpers: nested act claims, may_act, and a subject token checked without a store."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from charter.domain.tokens.claims import Actor, parse_act
from charter.domain.tokens.errors import OAuthError, OAuthErrorCode
from charter.domain.tokens.jwk import Alg, generate_private_key, jwk_from_public_key
from charter.domain.tokens.jws import VerificationKey, sign
from charter.domain.tokens.token_exchange import (
    ExchangeSubject,
    IssuerKeys,
    TrustedIssuer,
    act_claim,
    check_may_act,
    verify_idp_token,
)


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
    free = ExchangeSubject("p@x.example", "https://idp", 0, None)
    check_may_act(free, "support-summarizer", "https://charter.test")
    named = ExchangeSubject("p@x.example", "https://idp", 0, {"sub": "support-summarizer"})
    check_may_act(named, "support-summarizer", "https://charter.test")
    with pytest.raises(OAuthError) as refused:
        check_may_act(named, "finance-reconciler", "https://charter.test")
    assert (refused.value.error, refused.value.reason) == (
        OAuthErrorCode.INVALID_GRANT,
        "may_act_mismatch",
    )
    other_issuer = ExchangeSubject(
        "p@x.example", "https://idp", 0, {"sub": "support-summarizer", "iss": "https://other"}
    )
    with pytest.raises(OAuthError):
        check_may_act(other_issuer, "support-summarizer", "https://charter.test")


class InMemoryIssuers:
    """An :class:`IssuerKeys` from a dict: the check needs no registry, store or network."""

    def __init__(self, keys: dict[str, list[VerificationKey]]) -> None:
        self._keys = keys
        self.asked: list[tuple[str, str | None]] = []

    def get(self, issuer: str) -> TrustedIssuer | None:
        if issuer not in self._keys:
            return None
        return TrustedIssuer(issuer, None, None, None, "email")

    def keys(self, trusted: TrustedIssuer, kid: str | None) -> Sequence[VerificationKey]:
        self.asked.append((trusted.issuer, kid))
        return [k for k in self._keys[trusted.issuer] if kid is None or k.kid == kid]


def test_a_subject_token_is_checked_against_any_source_of_issuer_keys() -> None:
    key = generate_private_key(Alg.ES256)
    kid = jwk_from_public_key(key.public_key(), kid="k1")["kid"]
    issuers = InMemoryIssuers({"https://idp": [VerificationKey.of(key.public_key(), kid)]})
    source: IssuerKeys = issuers  # structural: no base class, no registration
    claims = {"iss": "https://idp", "aud": "https://charter.test", "exp": 1_000, "email": "P@X.io"}
    subject = verify_idp_token(
        sign(claims, key, kid=kid), source, our_audiences={"https://charter.test"}, now=900
    )
    assert subject == ExchangeSubject("p@x.io", "https://idp", 1_000, None)
    assert issuers.asked == [("https://idp", kid)]
    stranger = sign({**claims, "iss": "https://elsewhere"}, key, kid=kid)
    with pytest.raises(OAuthError) as refused:
        verify_idp_token(stranger, source, our_audiences={"https://charter.test"}, now=900)
    assert refused.value.reason == "untrusted_issuer"
