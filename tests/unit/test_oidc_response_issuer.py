"""RFC 9207 on the console's OpenID Connect client: the ``iss`` authorization response parameter.

The provider's discovery document is served by an ``httpx.MockTransport`` (the
identity provider is outside Charter; the full flow against a live provider
is in tests/integration/test_auth_oidc.py).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from charter.errors import Unauthenticated
from charter.web.oidc import OidcClient, OidcSettings

ISSUER = "https://idp.acme.example"


def client(**metadata: Any) -> OidcClient:
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        **metadata,
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=document))
    return OidcClient(OidcSettings(ISSUER, "charter"), http=httpx.Client(transport=transport))


@pytest.mark.parametrize("advertised", [True, False])
def test_a_matching_iss_is_accepted_and_any_other_refused(advertised: bool) -> None:
    rp = client(authorization_response_iss_parameter_supported=advertised)
    rp.check_response_issuer(ISSUER)
    for other in (ISSUER + "/", "https://evil.example", ISSUER.upper(), ""):
        with pytest.raises(Unauthenticated, match="names another issuer"):
            rp.check_response_issuer(other)


def test_a_missing_iss_is_refused_only_when_the_provider_promises_it() -> None:
    with pytest.raises(Unauthenticated, match="carries no iss parameter"):
        client(authorization_response_iss_parameter_supported=True).check_response_issuer(None)
    client().check_response_issuer(None)
    # only the JSON value true is a promise (RFC 8414 §2 booleans)
    client(authorization_response_iss_parameter_supported="true").check_response_issuer(None)
