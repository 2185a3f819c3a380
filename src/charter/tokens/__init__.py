"""The security token service's protocol modules, one per RFC.

``jwk`` (RFC 7517/7638), ``jws`` (RFC 7515), ``keys`` (our signing keys at
rest), ``enrolment`` (agent keys; RFC 7591 with enrolment codes),
``client_auth`` (RFC 7523), ``access_tokens`` (RFC 9068), ``token_exchange``
(RFC 8693), ``dpop`` (RFC 9449), ``revocation`` (RFC 7009), ``metadata``
(RFC 8414), ``scopes`` (RFC 6749 §3.3), ``requests`` (RFC 6749 §3.2, RFC
8707), ``endpoint`` and ``pending`` (the token endpoint and its answers),
``trusted_issuers`` (identity providers for delegation), ``state`` and
``ledger`` (how tokens stay in step with the store).
The façade every interface uses is :class:`charter.services.tokens.TokenService`.
"""
