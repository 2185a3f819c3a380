"""Sign-in with an OpenID Connect provider: authorization code flow with PKCE.

Configured from the environment (read when the app is built, never at import):

- ``CHARTER_OIDC_ISSUER`` — the provider's issuer URL (its discovery document is
  ``<issuer>/.well-known/openid-configuration``, OpenID Connect Discovery 1.0 §4);
- ``CHARTER_OIDC_CLIENT_ID`` and, for confidential clients,
  ``CHARTER_OIDC_CLIENT_SECRET`` (sent with HTTP Basic, RFC 6749 §2.3.1);
- ``CHARTER_OIDC_REDIRECT_URL`` — optional; defaults to this server's
  ``/login/oidc/callback`` (register that URL at the provider);
- ``CHARTER_OIDC_NAME`` — the button's label (default "single sign-on").

The flow (OpenID Connect Core 1.0 §3.1, RFC 7636 PKCE with ``S256``):
``/login/oidc`` stores a fresh ``state``, ``nonce`` and code verifier in the
store (so any replica can finish the flow) and redirects to the provider;
``/login/oidc/callback`` takes the state back *once*, exchanges the code with
the verifier, and validates the ID token as Core §3.1.3.7 requires: signature
against the provider's JWKS with an asymmetric algorithm the provider
advertises, ``iss`` equal to the configured issuer, ``aud`` containing our
client id (and ``azp`` equal to it when present), ``exp``/``iat`` with a small
leeway, and ``nonce`` equal to the one we sent. The person is the verified
``email`` claim; they must already be a console user (roles are granted in
Charter, not by the provider), so an unknown or unverified address is refused.

Before the code is exchanged, the authorization response's ``iss`` parameter
is checked as RFC 9207 §2.4 asks (a defence against mix-up attacks): when the
callback carries ``iss`` it must be exactly the provider's issuer identifier,
and when the provider's metadata says
``authorization_response_iss_parameter_supported`` a callback without ``iss``
is refused.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from charter.errors import Unauthenticated

__all__ = ["OidcClient", "OidcSettings", "pkce_challenge", "pkce_pair"]

#: Asymmetric algorithms only: an ID token signed with the client secret (HS*)
#: or not at all ("none") is refused.
ALLOWED_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
LEEWAY_SECONDS = 60
METADATA_TTL_SECONDS = 3600.0
HTTP_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str | None = None
    redirect_url: str | None = None
    label: str = "single sign-on"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OidcSettings | None:
        env = os.environ if environ is None else environ
        issuer = env.get("CHARTER_OIDC_ISSUER", "").strip()
        client_id = env.get("CHARTER_OIDC_CLIENT_ID", "").strip()
        if not issuer or not client_id:
            return None
        return cls(
            issuer=issuer.rstrip("/"),
            client_id=client_id,
            client_secret=env.get("CHARTER_OIDC_CLIENT_SECRET") or None,
            redirect_url=env.get("CHARTER_OIDC_REDIRECT_URL") or None,
            label=env.get("CHARTER_OIDC_NAME") or "single sign-on",
        )


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 §4.2 ``S256``: BASE64URL(SHA256(ASCII(code_verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    """A code verifier (RFC 7636 §4.1, 64 unreserved characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    return verifier, pkce_challenge(verifier)


class OidcClient:
    """The relying party's side; one per app, safe to share between threads."""

    def __init__(self, settings: OidcSettings, http: httpx.Client | None = None) -> None:
        self.settings = settings
        self._http = http or httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=False)
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: jwt.PyJWKSet | None = None

    def close(self) -> None:
        self._http.close()

    # -- provider metadata ------------------------------------------------------------
    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = self._http.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            value = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unauthenticated(f"the identity provider's {what} is unavailable: {exc}") from exc
        if not isinstance(value, dict):
            raise Unauthenticated(f"the identity provider's {what} is not a JSON object")
        return value

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            fresh = time.monotonic() - self._metadata_at < METADATA_TTL_SECONDS
            if self._metadata is not None and fresh:
                return self._metadata
        url = self.settings.issuer + "/.well-known/openid-configuration"
        document = self._get_json(url, "discovery document")
        if str(document.get("issuer", "")).rstrip("/") != self.settings.issuer:
            # Discovery §4.3: the issuer in the document must be the one we asked.
            raise Unauthenticated("the identity provider's discovery document names another issuer")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(document.get(key), str):
                raise Unauthenticated(f"the identity provider's discovery document lacks {key}")
        with self._lock:
            self._metadata, self._metadata_at = document, time.monotonic()
        return document

    def _signing_key(self, kid: str | None, *, refresh: bool = False) -> jwt.PyJWK:
        with self._lock:
            keys = None if refresh else self._jwks
        if keys is None:
            document = self._get_json(str(self.metadata()["jwks_uri"]), "key set (JWKS)")
            try:
                keys = jwt.PyJWKSet.from_dict(document)
            except jwt.PyJWTError as exc:
                raise Unauthenticated(f"the identity provider's JWKS is unusable: {exc}") from exc
            with self._lock:
                self._jwks = keys
        for key in keys.keys:
            if kid is None or key.key_id == kid:
                return key
        if not refresh:  # the provider may have rotated its keys since we fetched them
            return self._signing_key(kid, refresh=True)
        raise Unauthenticated("the ID token is signed with a key the provider does not publish")

    # -- the flow -----------------------------------------------------------------------
    def check_response_issuer(self, iss: str | None) -> None:
        """RFC 9207 §2.4: the authorization response came from the provider we sent the
        person to (compared as strings, RFC 3986 §6.2.1, no normalising)."""
        metadata = self.metadata()
        if iss is None:
            if metadata.get("authorization_response_iss_parameter_supported") is True:
                raise Unauthenticated(
                    "the identity provider's response carries no iss parameter, "
                    "though its metadata says it always does"
                )
            return
        if iss != metadata.get("issuer"):
            raise Unauthenticated("the authorization response's iss parameter names another issuer")

    def authorization_url(
        self, *, redirect_uri: str, state: str, nonce: str, code_challenge: str
    ) -> str:
        endpoint = str(self.metadata()["authorization_endpoint"])
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid email profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def exchange(self, *, code: str, code_verifier: str, redirect_uri: str) -> str:
        """Trade the code for tokens (Core §3.1.3.1); returns the ID token."""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
        }
        auth: tuple[str, str] | None = None
        if self.settings.client_secret:
            auth = (self.settings.client_id, self.settings.client_secret)
        else:
            data["client_id"] = self.settings.client_id
        try:
            response = self._http.post(
                str(self.metadata()["token_endpoint"]),
                data=data,
                auth=auth,  # type: ignore[arg-type]
                headers={"accept": "application/json"},
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unauthenticated(f"the identity provider's token endpoint failed: {exc}") from exc
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", response.status_code) if isinstance(body, dict) else ""
            raise Unauthenticated(f"the identity provider refused the code ({error})")
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise Unauthenticated("the identity provider returned no ID token")
        return id_token

    def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """Validate an ID token (Core §3.1.3.7) and return its claims."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the ID token is malformed: {exc}") from exc
        algorithm = header.get("alg")
        advertised = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        if algorithm not in ALLOWED_ALGORITHMS or algorithm not in advertised:
            raise Unauthenticated(f"the ID token's algorithm {algorithm!r} is not accepted")
        key = self._signing_key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=[str(algorithm)],
                audience=self.settings.client_id,
                issuer=self.settings.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the ID token is not valid: {exc}") from exc
        azp = claims.get("azp")
        if azp is not None and azp != self.settings.client_id:
            raise Unauthenticated("the ID token was issued to another client (azp)")
        sent = claims.get("nonce")
        if not isinstance(sent, str) or not secrets.compare_digest(sent, nonce):
            raise Unauthenticated("the ID token's nonce does not match this sign-in")
        return claims

    @staticmethod
    def email_of(claims: Mapping[str, Any]) -> str:
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise Unauthenticated("the identity provider sent no e-mail address (scope 'email')")
        if claims.get("email_verified") is not True:
            raise Unauthenticated(f"the identity provider has not verified {email}")
        return email.lower()
