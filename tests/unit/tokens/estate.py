"""A small estate for token tests: people, active agents, roles, a trusted IdP, and helpers
that build client assertions, DPoP proofs and person tokens on the test clock.

Used by tests/integration/test_tokens_*.py (run on SQLite and PostgreSQL).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from charter.domain.charter_parsing import parse_charter, parse_charter_text
from charter.domain.lifecycle import Transition
from charter.domain.roles import parse_roles
from charter.domain.tokens.client_auth import ASSERTION_TYPE
from charter.domain.tokens.errors import OAuthError
from charter.domain.tokens.jwk import Alg, PrivateKey, generate_private_key, jwk_from_public_key
from charter.domain.tokens.jws import sign
from charter.domain.tokens.requests import TokenRequest
from charter.domain.tokens.token_exchange import GRANT_TYPE, TokenType
from charter.services.clock import FixedClock
from charter.services.context import Services
from charter.services.people import parse_directory
from charter.services.tokens.service import TokenResponse, TokenService

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
IDP = "https://idp.acme.example"
ROLES = {
    "version": 1,
    "roles": [
        {
            "name": "support-staff",
            "groups": ["support", "support-leads"],
            "allow": [{"action": "tickets.*", "resource": "zendesk:tickets/*"}],
        },
        {
            "name": "finance",
            "groups": ["finance-approvers"],
            "allow": [
                {"action": "stripe.*", "resource": "stripe:*"},
                {"action": "ledger.*", "resource": "ledger:*"},
            ],
        },
    ],
}
WEEKDAYS = {
    "timezone": "Europe/Berlin",
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "start": "06:00",
    "end": "20:00",
}
#: a second agent that takes over a support person's delegation from support-summarizer
TRIAGER = {
    "name": "ticket-triager",
    "owner": "li.wei@acme.example",
    "purpose": "Triage tickets that support-summarizer hands over.",
    "allow": [
        {"action": "tickets.read", "resource": "zendesk:tickets/*", "schedule": WEEKDAYS},
        {"action": "tickets.comments.read", "resource": "zendesk:tickets/*"},
    ],
    # each hop of a chain only narrows: no more than support-summarizer, whose token it extends
    "deny": [
        {
            "action": "*",
            "resource": "zendesk:tickets/*",
            "when": [{"attribute": "data.classification", "op": "eq", "value": "restricted"}],
        }
    ],
    "delegation": {"allowed": True, "groups": ["support", "support-leads"], "max_chain": 2},
}


class Estate:
    """The bundled examples, active, with helpers on the test clock."""

    def __init__(self, services: Services, clock: FixedClock) -> None:
        self.services = services
        self.clock = clock
        self.tokens: TokenService = services.tokens
        data = (EXAMPLES / "people.json").read_bytes()
        services.people.import_records(parse_directory(data, filename="people.json"), actor="test")
        for name in ("support-summarizer", "finance-reconciler", "code-reviewer"):
            spec = parse_charter_text((EXAMPLES / "agents" / f"{name}.yaml").read_text())
            services.registry.register(spec, actor="test")
            self.activate(name)
        services.registry.register(parse_charter(TRIAGER), actor="test")
        self.activate("ticket-triager")
        services.decisions.apply_roles(parse_roles(ROLES), actor="test", source="test")
        self.idp_key = generate_private_key(Alg.ES256)
        self.tokens.trusted.add(
            IDP, actor="test", jwks={"keys": [jwk_from_public_key(self.idp_key.public_key())]}
        )
        self.clock.advance(seconds=1.5)  # what follows happens after the set-up, not in its second

    def activate(self, name: str) -> None:
        self.services.registry.transition(name, Transition.ACTIVATE, actor="test", reason="ok")

    def transition(self, name: str, transition: Transition) -> None:
        self.services.registry.transition(name, transition, actor="test", reason="test")

    @property
    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def enrol(self, agent: str, alg: Alg = Alg.EDDSA) -> PrivateKey:
        key = generate_private_key(alg)
        self.tokens.enrol(agent, key.public_key(), actor="test")
        return key

    def assertion(self, agent: str, key: PrivateKey, **overrides: Any) -> str:
        kid = overrides.pop("kid", jwk_from_public_key(key.public_key())["kid"])
        claims: dict[str, Any] = {
            "iss": agent,
            "sub": agent,
            "aud": self.tokens.issuer,
            "iat": self.now,
            "exp": self.now + 60,
            "jti": uuid.uuid4().hex,
        }
        claims.update(overrides)
        return sign({k: v for k, v in claims.items() if v is not None}, key, kid=kid)

    def dpop(
        self,
        key: PrivateKey,
        *,
        htm: str = "POST",
        htu: str | None = None,
        access_token: str | None = None,
        **claims: Any,
    ) -> str:
        from charter.domain.tokens.dpop import access_token_hash

        jwk = {
            k: v
            for k, v in jwk_from_public_key(key.public_key()).items()
            if k not in ("kid", "use", "alg")
        }
        body: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": htm,
            "htu": htu or self.tokens.token_endpoint,
            "iat": self.now,
        }
        if access_token is not None:
            body["ath"] = access_token_hash(access_token)
        body.update(claims)
        return sign(body, key, kid=None, typ="dpop+jwt", extra_headers={"jwk": jwk})

    def person_token(self, who: str, *, key: PrivateKey | None = None, **overrides: Any) -> str:
        claims: dict[str, Any] = {
            "iss": IDP,
            "sub": f"idp|{who}",
            "email": who,
            "aud": self.tokens.issuer,
            "iat": self.now,
            "exp": self.now + 3600,
        }
        claims.update(overrides)
        kid = jwk_from_public_key(self.idp_key.public_key())["kid"]
        return sign(
            {k: v for k, v in claims.items() if v is not None}, key or self.idp_key, kid=kid
        )

    def request(
        self,
        agent: str,
        key: PrivateKey,
        *,
        dpop: str | None = None,
        assertion: str | None = None,
        resource: tuple[str, ...] = (),
        **params: Any,
    ) -> TokenRequest:
        form: dict[str, Any] = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion or self.assertion(agent, key),
        }
        form.update({k: v for k, v in params.items() if v is not None})
        pairs = list(form.items()) + [("resource", r) for r in resource]
        return TokenRequest.form(urlencode(pairs).encode(), dpop=dpop, actor="test")

    def exchange_request(
        self, agent: str, key: PrivateKey, subject_token: str, **params: Any
    ) -> TokenRequest:
        return self.request(
            agent,
            key,
            grant_type=GRANT_TYPE,
            subject_token=subject_token,
            subject_token_type=params.pop("subject_token_type", TokenType.ACCESS_TOKEN.value),
            actor_token=params.pop("actor_token", self.assertion(agent, key)),
            actor_token_type=params.pop("actor_token_type", TokenType.JWT.value),
            **params,
        )

    def issue(self, agent: str, key: PrivateKey, **kwargs: Any) -> TokenResponse:
        return self.tokens.issue(self.request(agent, key, **kwargs))

    def refused(self, request: TokenRequest) -> OAuthError:
        with pytest.raises(OAuthError) as refused:
            self.tokens.issue(request)
        return refused.value
