"""The security token service: agents get short-lived, scoped, delegable tokens.

One façade over the protocol modules in :mod:`charter.tokens` (each named after
the RFC it implements) for every interface: the OAuth router, the CLI, the
SDK's tests, the gateway and the PDP. The token endpoint runs in two steps so
HTTP workers never block on the store: :meth:`TokenService.token` checks the
request and signs the token, then hands its single-use ``jti``s and its audit
Event to the ledger; the caller awaits :class:`PendingToken` (or calls
``.result()``), which answers only after that commit.

Resource servers inside Charter call :meth:`TokenService.verify_access_token`
(or :meth:`verify_authorization` with the raw headers): it returns a
:class:`~charter.domain.tokens.claims.VerifiedToken` — agent, person and
delegation chain, scopes — or raises ``InvalidToken``; a suspended,
decommissioned or re-chartered agent's tokens fail at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from charter.config import Settings
from charter.domain.charter import CharterSpec
from charter.domain.roles import EMPTY_ROLES, RolesFile, parse_roles
from charter.domain.tokens import client_auth, dpop
from charter.domain.tokens.claims import VerifiedToken
from charter.domain.tokens.errors import InvalidToken, OAuthError, OAuthErrorCode
from charter.domain.tokens.jwk import Alg, PublicKey, public_key_from_jwk
from charter.domain.tokens.jws import VerificationKey
from charter.domain.tokens.metadata import (
    INTROSPECTION_PATH,
    REVOCATION_PATH,
    TOKEN_PATH,
    authorization_server_metadata,
    endpoint,
)
from charter.domain.tokens.requests import TokenRequest
from charter.errors import NotFound
from charter.services.audit import AuditService
from charter.services.clock import Clock, SystemClock
from charter.services.tokens.access_tokens import AccessTokenVerifier
from charter.services.tokens.client_metadata import ClientMetadataDocuments, refused
from charter.services.tokens.endpoint import TokenEndpoint
from charter.services.tokens.enrolment import (
    AgentKey,
    Enrolled,
    Enrolment,
    EnrolmentCode,
    agent_key,
)
from charter.services.tokens.keys import TOKENS_VERSION_KEY, KeyRing, SigningKey, SigningKeys
from charter.services.tokens.ledger import Entry, Ledger
from charter.services.tokens.pending import PendingToken, TokenResponse
from charter.services.tokens.revocation import Revocations
from charter.services.tokens.state import StateView, ValiditySnapshot
from charter.services.tokens.trusted_issuers import JwksFetcher, TrustedIssuers, fetch_jwks
from charter.store import schema
from charter.store.database import Database
from charter.store.tokens_schema import agent_keys

ISSUER_ENV = "CHARTER_ISSUER"
DPOP_NONCE_ENV = "CHARTER_DPOP_REQUIRE_NONCE"
DEFAULT_ISSUER = "http://127.0.0.1:8000"


class TokenService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        settings: Settings,
        *,
        issuer: str | None = None,
        jwks_fetch: JwksFetcher = fetch_jwks,
        require_dpop_nonce: bool | None = None,
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock
        self.issuer = (issuer or os.environ.get(ISSUER_ENV) or DEFAULT_ISSUER).rstrip("/")
        self.token_endpoint = endpoint(self.issuer, TOKEN_PATH)
        self.audiences = frozenset(
            {
                self.issuer,
                self.token_endpoint,
                endpoint(self.issuer, INTROSPECTION_PATH),
                endpoint(self.issuer, REVOCATION_PATH),
            }
        )
        if require_dpop_nonce is None:
            require_dpop_nonce = os.environ.get(DPOP_NONCE_ENV, "0") == "1"
        self.require_dpop_nonce = require_dpop_nonce
        #: epoch seconds; the system clock is read directly (it is on every verification)
        self._now: Callable[[], float] = (
            time.time if isinstance(clock, SystemClock) else lambda: clock.now().timestamp()
        )
        self.state = StateView(database, clock)
        self.ledger = Ledger(database, audit, clock)
        self.signing_keys = SigningKeys(database, audit, clock, settings.home)
        self.enrolment = Enrolment(database, audit, clock)
        self.revocations = Revocations(database, audit, clock, self.enrolment)
        self.trusted = TrustedIssuers(database, audit, clock, jwks_fetch)
        self._client_metadata = ClientMetadataDocuments()
        self._lock = threading.Lock()
        self._ring: tuple[int, KeyRing] | None = None
        self._client_keys: tuple[int, dict[str, list[tuple[AgentKey, client_auth.ClientKey]]]] = (
            -1,
            {},
        )
        self._charters: dict[tuple[str, int], CharterSpec] = {}
        self._nonces: dpop.Nonces | None = None
        self.resource_replays = dpop.ReplayCache()
        #: on PostgreSQL several replicas (servers, gateways) may share the store: a proof a
        #: resource accepted is also consumed in ``used_jtis``, so no replica accepts it again
        #: (SQLite, the single-node default, keeps the in-process cache alone)
        self._shared_replays = database.is_postgres
        self.endpoint = TokenEndpoint(self)
        self.verifier = AccessTokenVerifier(
            self.issuer,
            self.keyring,
            lambda fresh: self.state.current(fresh=fresh),
            self._now,
        )

    # -- caches over the store ------------------------------------------------------------
    def keyring(self, snapshot: ValiditySnapshot) -> KeyRing:
        generation = snapshot.counters.get(TOKENS_VERSION_KEY, 0)
        cached = self._ring
        if cached is None or cached[0] != generation or cached[1].next_change <= self.now():
            with self._lock:
                self._ring = (generation, self.signing_keys.load())
                cached = self._ring
        return cached[1]

    @property
    def nonces(self) -> dpop.Nonces:
        if self._nonces is None:
            self._nonces = dpop.Nonces(self.signing_keys.master.derive("charter dpop nonce"))
        return self._nonces

    def now(self) -> float:
        return self._now()

    def today(self) -> str:
        return self._clock.now().date().isoformat()

    def keys_for(self, snapshot: ValiditySnapshot) -> Callable[[str], list[client_auth.ClientKey]]:
        generation = snapshot.counters.get(TOKENS_VERSION_KEY, 0)
        if self._client_keys[0] != generation:
            self._client_keys = (generation, {})
        cache = self._client_keys[1]
        now = self._clock.now()

        def keys_for(agent: str) -> list[client_auth.ClientKey]:
            keys = cache.get(agent)
            if keys is None:
                keys = self._load_client_keys(agent)
                cache[agent] = keys
            return [client for key, client in keys if key.usable(now)]

        return keys_for

    @property
    def client_metadata(self) -> ClientMetadataDocuments:
        """Client ID metadata documents (an https URL as ``client_id``)."""
        return self._client_metadata

    def agent_with_keys(self, kids: set[str]) -> str:
        """The one agent that enrolled (and has not revoked) any of these keys."""
        if not kids:
            raise refused("the client metadata document has no usable key", "unknown_client")
        with self._db.read() as connection:
            agents = set(
                connection.scalars(
                    sa.select(agent_keys.c.agent).where(
                        agent_keys.c.kid.in_(sorted(kids)), agent_keys.c.revoked_at.is_(None)
                    )
                )
            )
        if len(agents) != 1:
            raise refused(
                "no key of the client metadata document is enrolled for an agent in Charter"
                if not agents
                else "the document's keys are enrolled for more than one agent",
                "unknown_client",
            )
        return str(agents.pop())

    def _load_client_keys(self, agent: str) -> list[tuple[AgentKey, client_auth.ClientKey]]:
        with self._db.read() as connection:
            rows = connection.execute(
                sa.select(agent_keys).where(
                    agent_keys.c.agent == agent, agent_keys.c.revoked_at.is_(None)
                )
            )
            keys = [agent_key(row) for row in rows]
        return [(key, client_auth.ClientKey(agent, _verification(key))) for key in keys]

    def charter(self, agent: str, version: int) -> CharterSpec:
        key = (agent, version)
        spec = self._charters.get(key)
        if spec is None:
            with self._db.read() as connection:
                document = connection.execute(
                    sa.select(schema.charter_versions.c.document).where(
                        schema.charter_versions.c.agent == agent,
                        schema.charter_versions.c.version == version,
                    )
                ).scalar()
            if document is None:
                raise NotFound(f"agent {agent} has no charter v{version}", field="agent")
            spec = CharterSpec.model_validate(document)
            if len(self._charters) > 50_000:
                self._charters.clear()
            self._charters[key] = spec
        return spec

    def roles(self) -> RolesFile:
        from charter.services.decision_snapshot import latest_document

        with self._db.read() as connection:
            row = latest_document(connection, "roles")
        return parse_roles(dict(row.document)) if row is not None else EMPTY_ROLES

    # -- the token endpoint ---------------------------------------------------------------
    def token(self, request: TokenRequest) -> PendingToken:
        """Answer a token request (RFC 6749 §4.4 client credentials, RFC 8693 exchange)."""
        return self.endpoint.token(request)

    def issue(self, request: TokenRequest) -> TokenResponse:
        """:meth:`token`, waiting for the commit (synchronous callers)."""
        return self.endpoint.token(request).result()

    # -- resource side ----------------------------------------------------------------------
    def verify_access_token(
        self,
        token: str,
        *,
        audience: str | None = None,
        dpop_proof: str | None = None,
        htm: str | None = None,
        htu: str | None = None,
        fresh: bool = False,
    ) -> VerifiedToken:
        """Check a token a client presented; the PDP and the gateway call this.

        A DPoP-bound token (``cnf.jkt``) needs ``dpop_proof`` with ``htm`` and
        ``htu`` of the request it came with (RFC 9449 §7.1). Raises
        :class:`InvalidToken` with a stable ``reason``.
        """
        verified = self.verifier.verify(token, audience=audience, fresh=fresh)
        if verified.jkt is not None:
            if dpop_proof is None or htm is None or htu is None:
                raise InvalidToken("dpop_required", "the token is DPoP-bound: send a DPoP proof")
            now = self.now()
            try:
                proof = dpop.check_proof(
                    dpop_proof, htm=htm, htu=[htu], now=now, access_token=token
                )
            except dpop.DPoPError as exc:
                raise InvalidToken(exc.reason, exc.message) from exc
            if proof.jkt != verified.jkt:
                raise InvalidToken("dpop_wrong_key", "the DPoP proof is signed by another key")
            if not self.resource_replays.consume(proof.use, now):
                raise InvalidToken("dpop_replayed", "the DPoP proof was used before")
            if self._shared_replays and self.ledger.write(Entry((proof.use,), None)) is not None:
                raise InvalidToken("dpop_replayed", "the DPoP proof was used before, elsewhere")
        return verified

    def verify_authorization(
        self,
        authorization: str | None,
        dpop_header: str | None = None,
        *,
        method: str = "POST",
        url: str | None = None,
        audience: str | None = None,
    ) -> VerifiedToken:
        """Verify an ``Authorization: Bearer|DPoP <token>`` header (RFC 6750 §2.1,
        RFC 9449 §7.1).
        """
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "dpop") or not token:
            raise InvalidToken("no_token", "send Authorization: Bearer <token> or DPoP <token>")
        verified = self.verify_access_token(
            token, audience=audience, dpop_proof=dpop_header, htm=method, htu=url
        )
        if verified.jkt is not None and scheme.lower() != "dpop":
            raise InvalidToken("dpop_required", "a DPoP-bound token must use the DPoP scheme")
        return verified

    def introspect(self, token: str, *, holder: str | None = None) -> dict[str, Any]:
        """RFC 7662 §2.2: the token's claims if active now, else just ``active: false``.

        ``holder`` is the client asking about a token, when a client (not a resource
        server or an operator) asks: it learns only about tokens issued to itself. Any
        other token is ``active: false``, exactly as an unknown one — §2.2: "the
        protected resource is not allowed to introspect this particular token".
        """
        try:
            verified = self.verifier.verify(token, fresh=True)
        except InvalidToken:
            return {"active": False}
        if holder is not None and holder != verified.client_id:
            return {"active": False}
        return verified.introspection()

    def inspect(self, token: str) -> tuple[VerifiedToken | None, str | None]:
        """For operators: the verified token, or why it is inactive."""
        try:
            return self.verifier.verify(token, fresh=True), None
        except InvalidToken as exc:
            return None, exc.reason

    def authenticate_caller(self, request: TokenRequest) -> str:
        """Client authentication for introspection and revocation (private_key_jwt, single use)."""
        return self.endpoint.authenticate_caller(request)

    def revoke(self, token: str, *, client_id: str | None, actor: str) -> bool:
        """RFC 7009: revoke ``token``; a client may revoke only tokens it holds."""
        try:
            verified = self.verifier.decode(token)
        except InvalidToken:
            return False  # §2.2: an invalid token is no error
        if client_id is not None and client_id not in (
            verified.client_id,
            *verified.delegation_chain,
        ):
            raise OAuthError(
                OAuthErrorCode.UNAUTHORIZED_CLIENT,
                "the token was not issued to this client",
                reason="not_token_holder",
            )
        done = self.revocations.revoke_token(
            verified, actor=actor, via="api" if client_id else "operator"
        )
        self.state.invalidate()
        return done

    def revoke_agent_tokens(self, agent: str, *, actor: str, reason: str) -> int:
        self._require_agent(agent)
        floor = self.revocations.revoke_agent(agent, actor=actor, reason=reason)
        self.state.invalidate()
        return floor

    # -- enrolment, keys, trust ---------------------------------------------------------------
    def enrol(
        self, agent: str, public: PublicKey, *, actor: str, overlap: int | None = None
    ) -> Enrolled:
        done = self.enrolment.enrol(
            agent, public, actor=actor, **({"overlap": overlap} if overlap is not None else {})
        )
        self.state.invalidate()
        return done

    def issue_enrolment_code(
        self, agent: str, *, actor: str, ttl: int | None = None
    ) -> EnrolmentCode:
        return self.enrolment.issue_code(agent, actor=actor, **({"ttl": ttl} if ttl else {}))

    def register_with_code(self, code: str, jwks: Any, *, actor: str) -> Enrolled:
        """RFC 7591 §3.1 with the enrolment code as initial access token: one key, ``jwks``."""
        keys = jwks.get("keys") if isinstance(jwks, dict) else None
        if not isinstance(keys, list) or len(keys) != 1:
            raise OAuthError(
                OAuthErrorCode.INVALID_CLIENT_METADATA,
                "send exactly one public key in 'jwks'",
                reason="bad_key",
                field="jwks",
            )
        done = self.enrolment.redeem_code(code, keys[0], actor=actor)
        self.state.invalidate()
        return done

    def revoke_agent_key(self, agent: str, kid: str, *, actor: str, reason: str) -> AgentKey:
        done = self.enrolment.revoke_key(agent, kid, actor=actor, reason=reason)
        self.state.invalidate()
        return done

    def agent_keys(self, agent: str) -> list[AgentKey]:
        return self.enrolment.keys(agent)

    def rotate_signing_key(
        self, *, actor: str, alg: Alg, overlap: int, immediately: bool = False
    ) -> SigningKey:
        key = self.signing_keys.rotate(
            actor=actor, alg=alg, overlap=overlap, immediately=immediately
        )
        self.state.invalidate()
        return key

    def jwks(self) -> dict[str, Any]:
        """RFC 7517 §5: every key that verifies a current token."""
        return self.keyring(self.state.current()).jwks()

    def metadata(self) -> dict[str, Any]:
        return authorization_server_metadata(self.issuer)

    def _require_agent(self, agent: str) -> None:
        with self._db.read() as connection:
            found = connection.execute(
                sa.select(schema.agents.c.name).where(schema.agents.c.name == agent)
            ).first()
        if found is None:
            raise NotFound(f"no agent named {agent!r}", field="name")

    def close(self) -> None:
        self.ledger.close()
        self.state.close()


def _verification(key: AgentKey) -> VerificationKey:
    public, _ = public_key_from_jwk(key.public_jwk)
    return VerificationKey.of(public, key.kid)


__all__ = ["PendingToken", "TokenResponse", "TokenService"]
