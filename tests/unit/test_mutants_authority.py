"""What the gateway core reads from Charter: an agent's view and a refusal's details.

Written against surviving mutants of ``charter.gateway.authority``
(docs/mutation-testing.md): the refusal must carry the agent (so the kill
switch can cut that agent's sessions) and the DPoP nonce (for the
``DPoP-Nonce`` header); an agent's view keeps its name, version and expiry.
"""

from __future__ import annotations

from charter.domain.charter import Capability
from charter.gateway.authority import (
    AgentPrincipal,
    AgentView,
    AuthError,
    AuthFailure,
    Scheme,
)


def test_a_refusal_carries_everything_the_gateway_answers_with() -> None:
    failure = AuthFailure(
        AuthError.USE_DPOP_NONCE,
        "a fresh server nonce is required",
        reason="dpop_nonce_required",
        scheme=Scheme.DPOP,
        agent="support-bot",
        nonce="n-123",
    )
    assert str(failure) == "a fresh server nonce is required"
    assert failure.error is AuthError.USE_DPOP_NONCE
    assert failure.description == "a fresh server nonce is required"
    assert failure.reason == "dpop_nonce_required"
    assert failure.scheme is Scheme.DPOP
    assert failure.agent == "support-bot"
    assert failure.nonce == "n-123"
    assert failure.status == 401


def test_a_refusal_defaults_to_bearer_without_agent_or_nonce() -> None:
    failure = AuthFailure(AuthError.INSUFFICIENT_SCOPE, "no", reason="scope")
    assert failure.scheme is Scheme.BEARER
    assert failure.agent is None
    assert failure.nonce is None
    assert failure.status == 403
    assert AuthFailure(AuthError.INVALID_REQUEST, "x", reason="r").status == 400
    assert AuthFailure(AuthError.INVALID_TOKEN, "x", reason="r").status == 401
    assert AuthFailure(AuthError.INVALID_DPOP_PROOF, "x", reason="r").status == 401


def test_an_agent_view_keeps_its_fields_and_collects_rate_limits() -> None:
    limited = Capability(action="tickets.read", rate_limit_per_minute=30)
    free = Capability(action="tickets.list")
    denied = Capability(action="tickets.delete")
    view = AgentView.build(
        "support-bot",
        active=True,
        version=7,
        allow=(("allow-0", limited), ("allow-1", free)),
        deny=(denied,),
        expired=True,
    )
    assert view == AgentView(
        "support-bot",
        True,
        7,
        (("allow-0", limited), ("allow-1", free)),
        (denied,),
        True,
        {"allow-0": 30},
    )
    default = AgentView.build("a", active=False, version=1, allow=(), deny=())
    assert default.expired is False
    assert default.limits == {}


def test_a_principal_is_in_scope_only_for_listed_actions() -> None:
    principal = AgentPrincipal("bot", on_behalf_of="ana@acme.example", scopes=frozenset({"a.read"}))
    assert principal.in_scope("a.read") is True
    assert principal.in_scope("a.write") is False
    assert principal.delegator == "ana@acme.example"
