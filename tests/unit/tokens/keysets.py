"""Key material and in-memory state for token tests (no store needed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from charter.domain.enums import AgentState, PersonStatus
from charter.domain.people import Person
from charter.domain.tokens.jwk import Alg, PrivateKey, generate_private_key, jwk_from_public_key
from charter.domain.tokens.jws import VerificationKey
from charter.services.tokens.keys import KeyRing, SigningKey
from charter.services.tokens.state import AgentStatus, ValiditySnapshot

ISSUER = "https://charter.test"
NOW = 1_800_000_000


def signing_key(alg: Alg = Alg.ES256) -> SigningKey:
    private = generate_private_key(alg)
    jwk = jwk_from_public_key(private.public_key())
    return SigningKey(
        kid=jwk["kid"],
        alg=alg,
        public_jwk=jwk,
        verification=VerificationKey.of(private.public_key(), jwk["kid"]),
        created_at=dt.datetime.fromtimestamp(NOW - 3600, dt.UTC),
        retires_at=None,
        private=private,
    )


def ring(*keys: SigningKey) -> KeyRing:
    return KeyRing(keys[-1], {k.kid: k for k in keys}, float("inf"))


def snapshot(
    *,
    agents: dict[str, tuple[AgentState, int]] | None = None,
    people: dict[str, PersonStatus] | None = None,
    revoked: frozenset[str] = frozenset(),
    floors: dict[str, int] | None = None,
    changed_at: int = NOW - 3600,
) -> ValiditySnapshot:
    agents = agents if agents is not None else {"support-summarizer": (AgentState.ACTIVE, 1)}
    people = people or {}
    return ValiditySnapshot(
        agents={
            name: AgentStatus(state, version, changed_at)
            for name, (state, version) in agents.items()
        },
        people={email: Person(email, email, status) for email, status in people.items()},
        floors=floors or {},
        revoked=revoked,
        counters={"charters": 1, "people": 1, "tokens": 1},
    )


def base_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "support-summarizer",
        "aud": ISSUER,
        "client_id": "support-summarizer",
        "iat": NOW,
        "exp": NOW + 900,
        "jti": "jti-1",
        "scope": "tickets.read",
        "charter_version": 1,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def other_key(alg: Alg = Alg.ES256) -> PrivateKey:
    return generate_private_key(alg)
