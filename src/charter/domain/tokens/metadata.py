"""Authorization server metadata (RFC 8414 §2), served at
``/.well-known/oauth-authorization-server``.

Every endpoint URL is derived from the issuer identifier (``CHARTER_ISSUER``),
which is also the ``iss`` of every token and an accepted client-assertion
audience, so clients that discover the server find consistent values.
"""

from __future__ import annotations

from typing import Any

from charter.domain.tokens.client_auth import ASSERTION_TYPE
from charter.domain.tokens.dpop import SIGNING_ALGS
from charter.domain.tokens.jwk import AGENT_ALGS, Alg
from charter.domain.tokens.requests import CLIENT_CREDENTIALS
from charter.domain.tokens.token_exchange import GRANT_TYPE as TOKEN_EXCHANGE

TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path
INTROSPECTION_PATH = "/oauth/introspect"
REVOCATION_PATH = "/oauth/revoke"
REGISTRATION_PATH = "/oauth/register"
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"


def endpoint(issuer: str, path: str) -> str:
    return issuer.rstrip("/") + path


def authorization_server_metadata(issuer: str) -> dict[str, Any]:
    auth_methods = ["private_key_jwt"]
    auth_algs = [alg.value for alg in AGENT_ALGS]
    return {
        "issuer": issuer,
        "token_endpoint": endpoint(issuer, TOKEN_PATH),
        "jwks_uri": endpoint(issuer, JWKS_PATH),
        "registration_endpoint": endpoint(issuer, REGISTRATION_PATH),
        "introspection_endpoint": endpoint(issuer, INTROSPECTION_PATH),
        "revocation_endpoint": endpoint(issuer, REVOCATION_PATH),
        # no authorization endpoint: agents use client credentials and token exchange
        "response_types_supported": [],
        "grant_types_supported": [CLIENT_CREDENTIALS, TOKEN_EXCHANGE],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": auth_algs,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": auth_algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": auth_algs,
        "dpop_signing_alg_values_supported": list(SIGNING_ALGS),
        "client_assertion_types_supported": [ASSERTION_TYPE],
        "access_token_signing_alg_values_supported": [alg.value for alg in Alg],
        # an https URL as client_id (draft-ietf-oauth-client-id-metadata-document)
        "client_id_metadata_document_supported": True,
        "service_documentation": "https://charter.dev/docs/tokens",
    }
