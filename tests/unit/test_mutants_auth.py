"""The gateway's resource-server surface: each refusal's words, the refusal response, metadata.

Written against surviving mutants of ``charter.gateway.auth``
(docs/mutation-testing.md). The ASGI middleware itself is exercised by the
server tests, which run the gateway out of process (mutmut cannot see them);
these tests pin the pure pieces it answers with.
"""

from __future__ import annotations

import json

import pytest
from starlette.datastructures import Headers

from charter.gateway.auth import (
    MAX_TOKEN_LENGTH,
    metadata_url,
    presented,
    refusal,
    resource_metadata,
)
from charter.gateway.authority import AuthError, AuthFailure, Scheme

META = "https://gw.test/.well-known/oauth-protected-resource/mcp"


def headers(*pairs: tuple[str, str]) -> Headers:
    return Headers(raw=[(k.lower().encode(), v.encode()) for k, v in pairs])


def failure(*pairs: tuple[str, str]) -> AuthFailure:
    with pytest.raises(AuthFailure) as caught:
        presented(headers(*pairs), "POST", "u")
    return caught.value


def test_each_malformed_credential_in_words() -> None:
    two = failure(("Authorization", "Bearer a"), ("Authorization", "Bearer b"))
    assert (two.error, two.description, two.reason) == (
        AuthError.INVALID_REQUEST,
        "send one Authorization header",
        "malformed",
    )
    basic = failure(("Authorization", "Basic " + "x" * 40))
    assert basic.description == "unsupported authorization scheme 'Basic': use Bearer or DPoP"
    long_scheme = failure(("Authorization", "S" * 40 + " t"))
    assert (
        long_scheme.description
        == f"unsupported authorization scheme {'S' * 20!r}: use Bearer or DPoP"
    )
    empty = failure(("Authorization", "DPoP"))
    assert (empty.description, empty.reason, empty.scheme) == (
        "the access token is missing or malformed",
        "malformed",
        Scheme.DPOP,
    )
    proofs = failure(("Authorization", "Bearer t"), ("DPoP", "x"), ("DPoP", "y"))
    assert (proofs.error, proofs.description, proofs.reason, proofs.scheme) == (
        AuthError.INVALID_DPOP_PROOF,
        "send exactly one DPoP proof",
        "dpop_malformed",
        Scheme.DPOP,
    )
    missing = failure(("Authorization", "dpop t"))
    assert (missing.description, missing.reason, missing.scheme) == (
        "a DPoP token needs a DPoP proof header",
        "dpop_missing",
        Scheme.DPOP,
    )


def test_a_token_of_the_longest_length_is_read_and_the_request_kept() -> None:
    token = "a" * MAX_TOKEN_LENGTH
    read = presented(headers(("Authorization", f"  bearer {token}  ")), "PUT", "http://gw/mcp")
    assert read is not None
    assert (read.scheme, read.token, read.proof, read.method, read.url) == (
        Scheme.BEARER,
        token,
        None,
        "PUT",
        "http://gw/mcp",
    )
    assert failure(("Authorization", "Bearer " + "a" * (MAX_TOKEN_LENGTH + 1))).reason == (
        "malformed"
    )


def test_a_refusal_without_a_token_asks_for_one() -> None:
    answer = refusal(None, META)
    assert answer.status_code == 401
    # RFC 6750 §3.1: a request without credentials gets no error code, in the body or the header
    assert json.loads(answer.body) == {"error_description": "an access token is required"}
    assert answer.headers["www-authenticate"] == f'Bearer resource_metadata="{META}"'
    assert answer.headers["cache-control"] == "no-store"
    assert "dpop-nonce" not in answer.headers


def test_a_refusal_carries_the_error_and_the_nonce() -> None:
    nonce = AuthFailure(
        AuthError.USE_DPOP_NONCE, 'say "please"', reason="nonce", scheme=Scheme.DPOP, nonce="n1"
    )
    answer = refusal(nonce, META)
    assert answer.status_code == 401
    assert json.loads(answer.body) == {
        "error": "use_dpop_nonce",
        "error_description": 'say "please"',
    }
    assert answer.headers["dpop-nonce"] == "n1"
    assert answer.headers["www-authenticate"] == (
        'DPoP error="use_dpop_nonce", error_description="say please", '
        f'algs="EdDSA ES256 RS256", resource_metadata="{META}"'
    )
    scope = refusal(AuthFailure(AuthError.INSUFFICIENT_SCOPE, "x" * 400, reason="s"), META)
    assert scope.status_code == 403
    assert f'error_description="{"x" * 300}"' in scope.headers["www-authenticate"]


def test_the_protected_resource_metadata() -> None:
    assert metadata_url("https://gw.test/mcp") == META
    assert (
        metadata_url("https://gw.test/") == "https://gw.test/.well-known/oauth-protected-resource"
    )
    document = resource_metadata("https://gw.test/mcp", ["https://as.test"], ["a.read"])
    assert document == {
        "resource": "https://gw.test/mcp",
        "authorization_servers": ["https://as.test"],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": ["EdDSA", "ES256", "RS256"],
        "resource_name": "Charter MCP gateway",
        "scopes_supported": ["a.read"],
    }
    assert "scopes_supported" not in resource_metadata("https://gw.test/mcp", [], None)
