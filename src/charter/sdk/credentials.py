"""``AgentCredentials``: what an agent (or its framework) holds to get Charter tokens.

The agent keeps its private key; nothing secret is ever sent. For each token
request it signs a fresh client assertion (RFC 7523: ``iss = sub =`` its
client id, ``aud`` = the issuer, a one-time ``jti``, one minute of life), and
it reuses each token until shortly before it expires. With ``dpop=True`` every
token is bound to a second key the SDK keeps (RFC 9449) and every request
carries a proof; server nonces are picked up and retried transparently.

.. code-block:: python

    creds = AgentCredentials.from_pem_file(
        "support-summarizer", "support-summarizer.pem", base_url="https://charter.acme.example"
    )
    with httpx.Client(auth=creds.auth(scope="tickets.read")) as client:
        client.get("https://api.acme.example/tickets")

:class:`TokenVerifier` is the other side: a resource server verifying Charter
tokens from the JWKS (signature, ``typ``, ``iss``, ``aud``, expiry). Whether
the agent is still active is what introspection answers.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from charter.domain.tokens.client_auth import ASSERTION_TYPE
from charter.domain.tokens.dpop import DPOP_TYP, access_token_hash
from charter.domain.tokens.jwk import (
    Alg,
    PrivateKey,
    generate_private_key,
    jwk_from_public_key,
    load_private_key_pem,
)
from charter.domain.tokens.jws import JoseError, VerificationKey, parse_compact, sign
from charter.domain.tokens.token_exchange import GRANT_TYPE as TOKEN_EXCHANGE
from charter.domain.tokens.token_exchange import TokenType

ASSERTION_LIFETIME = 60
REFRESH_MARGIN = 60


class TokenError(Exception):
    """The authorization server refused (RFC 6749 §5.2 ``error`` and description)."""

    def __init__(
        self, error: str, description: str, status: int, reason: str | None = None
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    token_type: str
    expires_at: float
    scope: tuple[str, ...]
    issued_token_type: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        return self.expires_at - (time.time() if now is None else now) <= seconds


def _scope_text(scope: str | Sequence[str] | None) -> str | None:
    if scope is None:
        return None
    return scope if isinstance(scope, str) else " ".join(scope)


def _resources(resource: str | Sequence[str] | None) -> list[str]:
    if resource is None:
        return []
    return [resource] if isinstance(resource, str) else list(resource)


class AgentCredentials:
    """An agent's key, its client id, and the short-lived tokens they get it."""

    def __init__(
        self,
        client_id: str,
        private_key: PrivateKey,
        *,
        base_url: str,
        http: httpx.Client | None = None,
        dpop: bool = False,
        dpop_key: PrivateKey | None = None,
        refresh_margin: float = REFRESH_MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client_id = client_id
        self._key = private_key
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.Client(timeout=30)
        self._owns_http = http is None
        self.dpop = dpop or dpop_key is not None
        self._dpop_key = dpop_key or (generate_private_key(Alg.ES256) if self.dpop else None)
        self._dpop_jwk = (
            jwk_from_public_key(self._dpop_key.public_key()) if self._dpop_key else None
        )
        self._refresh_margin = refresh_margin
        self._clock = clock
        self._metadata: dict[str, Any] | None = None
        self._tokens: dict[tuple[str | None, tuple[str, ...]], AccessToken] = {}
        self._nonce: str | None = None
        self._lock = threading.Lock()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_pem_file(
        cls, client_id: str, path: str | Path, *, base_url: str, **options: Any
    ) -> AgentCredentials:
        key = load_private_key_pem(Path(path).read_bytes(), field=str(path))
        return cls(client_id, key, base_url=base_url, **options)

    @classmethod
    def enroll(
        cls, code: str, *, base_url: str, private_key: PrivateKey | None = None, **options: Any
    ) -> AgentCredentials:
        """Redeem a one-time enrolment code: register this agent's public key (RFC 7591)."""
        key = private_key or generate_private_key(Alg.EDDSA)
        http: httpx.Client = options.get("http") or httpx.Client(timeout=30)
        response = http.post(
            base_url.rstrip("/") + "/oauth/register",
            json={
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks": {"keys": [jwk_from_public_key(key.public_key())]},
            },
            headers={"Authorization": f"Bearer {code}"},
        )
        _raise_for_oauth(response)
        if "http" not in options:
            http.close()
        return cls(response.json()["client_id"], key, base_url=base_url, **options)

    @property
    def private_key(self) -> PrivateKey:
        return self._key

    # -- discovery ----------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """RFC 8414 metadata (fetched once)."""
        if self._metadata is None:
            response = self._http.get(self.base_url + "/.well-known/oauth-authorization-server")
            response.raise_for_status()
            self._metadata = dict(response.json())
        return self._metadata

    @property
    def issuer(self) -> str:
        return str(self.metadata()["issuer"])

    @property
    def token_url(self) -> str:
        return self.base_url + "/oauth/token"

    # -- proofs ---------------------------------------------------------------------------------
    def client_assertion(self) -> str:
        """A fresh RFC 7523 assertion: one use, one minute."""
        now = int(self._clock())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.issuer,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        return sign(claims, self._key, kid=jwk_from_public_key(self._key.public_key())["kid"])

    def dpop_proof(self, method: str, url: str, *, access_token: str | None = None) -> str:
        """An RFC 9449 proof for one request (``ath`` when it carries ``access_token``)."""
        if self._dpop_key is None or self._dpop_jwk is None:
            raise ValueError("DPoP is off for these credentials (dpop=True turns it on)")
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method.upper(),
            "htu": url.split("?")[0].split("#")[0],
            "iat": int(self._clock()),
        }
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        if self._nonce is not None:
            claims["nonce"] = self._nonce
        public = {k: v for k, v in self._dpop_jwk.items() if k not in ("kid", "use", "alg")}
        return sign(claims, self._dpop_key, kid=None, typ=DPOP_TYP, extra_headers={"jwk": public})

    # -- tokens ---------------------------------------------------------------------------------
    def _request_token(self, form: dict[str, Any]) -> AccessToken:
        for attempt in range(2):
            data = {
                **form,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.client_assertion(),
            }
            headers = {"DPoP": self.dpop_proof("POST", self.token_url)} if self.dpop else {}
            response = self._http.post(self.token_url, data=data, headers=headers)
            if "DPoP-Nonce" in response.headers:
                self._nonce = response.headers["DPoP-Nonce"]
            if (
                attempt == 0
                and response.status_code == 400
                and _error(response) == "use_dpop_nonce"
            ):
                continue
            _raise_for_oauth(response)
            body = response.json()
            try:
                claims = dict(parse_compact(body["access_token"]).claims)
            except JoseError:
                claims = {}
            return AccessToken(
                value=body["access_token"],
                token_type=body["token_type"],
                expires_at=self._clock() + float(body["expires_in"]),
                scope=tuple(str(body.get("scope", "")).split()),
                issued_token_type=body.get("issued_token_type"),
                claims=claims,
            )
        raise TokenError("use_dpop_nonce", "the server kept asking for a new nonce", 400)

    def token(
        self,
        scope: str | Sequence[str] | None = None,
        *,
        resource: str | Sequence[str] | None = None,
    ) -> AccessToken:
        """A token for ``scope`` (cached; refreshed ``refresh_margin`` s before it expires)."""
        key = (_scope_text(scope), tuple(_resources(resource)))
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and not cached.expires_within(
                self._refresh_margin, self._clock()
            ):
                return cached
            form: dict[str, Any] = {"grant_type": "client_credentials"}
            if key[0]:
                form["scope"] = key[0]
            if key[1]:
                form["resource"] = list(key[1])
            fresh = self._request_token(form)
            self._tokens[key] = fresh
            return fresh

    def exchange(
        self,
        subject_token: str,
        *,
        scope: str | Sequence[str] | None = None,
        resource: str | Sequence[str] | None = None,
        subject_token_type: str = TokenType.ACCESS_TOKEN,
    ) -> AccessToken:
        """Act for a person (RFC 8693): their token in, a delegated token out."""
        form: dict[str, Any] = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": subject_token_type,
            "actor_token": self.client_assertion(),
            "actor_token_type": TokenType.JWT.value,
            "requested_token_type": TokenType.ACCESS_TOKEN.value,
        }
        if scope is not None:
            form["scope"] = _scope_text(scope)
        if resource is not None:
            form["resource"] = _resources(resource)
        return self._request_token(form)

    def invalidate(self) -> None:
        """Forget cached tokens (after a resource server said the token is no longer good)."""
        with self._lock:
            self._tokens.clear()

    def headers(
        self,
        method: str,
        url: str,
        *,
        scope: str | Sequence[str] | None = None,
        resource: str | Sequence[str] | None = None,
    ) -> dict[str, str]:
        """``Authorization`` (and ``DPoP``) headers for one request."""
        token = self.token(scope, resource=resource)
        if token.token_type.lower() == "dpop":
            return {
                "Authorization": f"DPoP {token.value}",
                "DPoP": self.dpop_proof(method, url, access_token=token.value),
            }
        return {"Authorization": f"Bearer {token.value}"}

    def auth(
        self,
        scope: str | Sequence[str] | None = None,
        *,
        resource: str | Sequence[str] | None = None,
    ) -> httpx.Auth:
        """An ``httpx.Auth`` that adds fresh token headers to every request."""
        return _CharterAuth(self, scope, resource)

    # -- introspection and revocation -----------------------------------------------------------
    def _authenticated_post(self, path: str, data: dict[str, str]) -> httpx.Response:
        form = {
            **data,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.client_assertion(),
        }
        response = self._http.post(self.base_url + path, data=form)
        _raise_for_oauth(response)
        return response

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662, authenticated as this agent."""
        return dict(self._authenticated_post("/oauth/introspect", {"token": token}).json())

    def revoke(self, token: str) -> None:
        """RFC 7009: revoke a token this agent holds."""
        self._authenticated_post(
            "/oauth/revoke", {"token": token, "token_type_hint": "access_token"}
        )
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if v.value != token}

    def verifier(self, audience: str | None = None) -> TokenVerifier:
        return TokenVerifier(self.base_url, audience=audience, http=self._http, clock=self._clock)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> AgentCredentials:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _CharterAuth(httpx.Auth):
    def __init__(
        self,
        credentials: AgentCredentials,
        scope: str | Sequence[str] | None,
        resource: str | Sequence[str] | None,
    ) -> None:
        self._credentials = credentials
        self._scope = scope
        self._resource = resource

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            self._credentials.headers(
                request.method, str(request.url), scope=self._scope, resource=self._resource
            )
        )
        response = yield request
        if response.status_code == 401:  # revoked or re-chartered: one fresh token, once
            self._credentials.invalidate()
            request.headers.update(
                self._credentials.headers(
                    request.method, str(request.url), scope=self._scope, resource=self._resource
                )
            )
            yield request


def _error(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def _raise_for_oauth(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    raise TokenError(
        str(body.get("error") or f"http_{response.status_code}"),
        str(body.get("error_description") or body.get("detail") or response.text[:200]),
        response.status_code,
        body.get("charter_reason"),
    )


class TokenVerifier:
    """Verify Charter access tokens offline from the JWKS (RFC 9068 §4), for resource servers."""

    def __init__(
        self,
        base_url: str,
        *,
        audience: str | None = None,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.audience = audience
        self._http = http or httpx.Client(timeout=30)
        self._clock = clock
        self._keys: dict[str, VerificationKey] = {}
        self._issuer: str | None = None
        self._fetched = 0.0

    def _refresh(self) -> None:
        from charter.domain.tokens.jwk import public_key_from_jwk

        if self._issuer is None:
            meta = self._http.get(self.base_url + "/.well-known/oauth-authorization-server").json()
            self._issuer = str(meta["issuer"])
        document = self._http.get(self.base_url + "/.well-known/jwks.json").json()
        keys = {}
        for jwk in document.get("keys", []):
            public, _ = public_key_from_jwk(jwk)
            keys[jwk["kid"]] = VerificationKey.of(public, jwk["kid"])
        self._keys = keys
        self._fetched = time.monotonic()

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; :class:`TokenError` ``invalid_token`` otherwise."""
        try:
            compact = parse_compact(token)
        except JoseError as exc:
            raise TokenError("invalid_token", exc.message, 401, exc.reason) from exc
        kid = compact.kid or ""
        if kid not in self._keys and time.monotonic() - self._fetched > 5:
            self._refresh()
        key = self._keys.get(kid)
        if key is None or not key.verify(compact):
            raise TokenError("invalid_token", "the signature does not verify", 401, "bad_signature")
        claims = compact.claims
        if compact.header.get("typ") not in ("at+jwt", "application/at+jwt"):
            raise TokenError("invalid_token", "not an access token", 401, "wrong_type")
        if claims.get("iss") != self._issuer:
            raise TokenError("invalid_token", "wrong issuer", 401, "wrong_issuer")
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp <= self._clock():
            raise TokenError("invalid_token", "the token has expired", 401, "expired")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if self.audience is not None and self.audience not in audiences:
            raise TokenError(
                "invalid_token", "the token is for another audience", 401, "wrong_audience"
            )
        return dict(claims)
