"""The resource-server surface: parsing credentials, challenges, RFC 9728 metadata."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from charter.gateway.auth import challenge, metadata_url, presented, resource_metadata
from charter.gateway.authority import AuthError, AuthFailure, Scheme


def headers(*pairs: tuple[str, str]) -> Headers:
    return Headers(raw=[(k.lower().encode(), v.encode()) for k, v in pairs])


def test_bearer_and_dpop_credentials_are_read() -> None:
    assert presented(headers(), "POST", "u") is None
    bearer = presented(headers(("Authorization", "Bearer abc.def.ghi")), "POST", "http://g/mcp")
    assert bearer is not None
    assert (bearer.scheme, bearer.token, bearer.proof) == (Scheme.BEARER, "abc.def.ghi", None)
    dpop = presented(headers(("Authorization", "DPoP t.o.k"), ("DPoP", "p.r.f")), "POST", "u")
    assert dpop is not None
    assert (dpop.scheme, dpop.proof) == (Scheme.DPOP, "p.r.f")


@pytest.mark.parametrize(
    ("pairs", "error"),
    [
        ((("Authorization", "Basic dXNlcjpwYXNz"),), AuthError.INVALID_REQUEST),
        ((("Authorization", "Bearer"),), AuthError.INVALID_REQUEST),
        ((("Authorization", "Bearer a b"),), AuthError.INVALID_REQUEST),
        ((("Authorization", "Bearer " + "a" * 20000),), AuthError.INVALID_REQUEST),
        ((("Authorization", "Bearer a"), ("Authorization", "Bearer b")), AuthError.INVALID_REQUEST),
        ((("Authorization", "DPoP a.b.c"),), AuthError.INVALID_DPOP_PROOF),
        (
            (("Authorization", "DPoP a.b.c"), ("DPoP", "x"), ("DPoP", "y")),
            AuthError.INVALID_DPOP_PROOF,
        ),
    ],
)
def test_malformed_credentials_are_refused(
    pairs: tuple[tuple[str, str], ...], error: AuthError
) -> None:
    with pytest.raises(AuthFailure) as caught:
        presented(headers(*pairs), "POST", "u")
    assert caught.value.error == error
    assert caught.value.status in (400, 401)


def test_challenges_follow_rfc6750_and_the_mcp_spec() -> None:
    url = metadata_url("https://gw.acme.example/mcp")
    assert url == "https://gw.acme.example/.well-known/oauth-protected-resource/mcp"
    assert (
        metadata_url("http://127.0.0.1:8100/")
        == "http://127.0.0.1:8100/.well-known/oauth-protected-resource"
    )
    assert challenge(None, url) == f'Bearer resource_metadata="{url}"'
    failure = AuthFailure(AuthError.INVALID_TOKEN, 'the token "x" expired', reason="expired")
    assert challenge(failure, url) == (
        'Bearer error="invalid_token", error_description="the token x expired", '
        f'resource_metadata="{url}"'
    )
    proof = AuthFailure(AuthError.INVALID_DPOP_PROOF, "bad", reason="dpop_x", scheme=Scheme.DPOP)
    assert challenge(proof, url).startswith('DPoP error="invalid_dpop_proof"')
    assert 'algs="EdDSA ES256 RS256"' in challenge(proof, url)


def test_protected_resource_metadata() -> None:
    document = resource_metadata("http://127.0.0.1:8100/mcp", ["http://charter.example"], None)
    assert document["resource"] == "http://127.0.0.1:8100/mcp"
    assert document["authorization_servers"] == ["http://charter.example"]  # exactly the issuer
    assert document["bearer_methods_supported"] == ["header"]
    assert "ES256" in document["dpop_signing_alg_values_supported"]
