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
:class:`~charter.tokens.access_tokens.VerifiedToken` — agent, person and
delegation chain, scopes — or raises ``InvalidToken``; a suspended,
decommissioned or re-chartered agent's tokens fail at once.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from charter.config import Settings
from charter.domain.audit import EventDraft
from charter.domain.charter import CharterSpec
from charter.domain.delegation import delegable_capabilities
from charter.domain.enums import AgentState
from charter.domain.patterns import parse_pattern
from charter.domain.roles import EMPTY_ROLES, RolesFile, parse_roles
from charter.errors import NotFound
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.store import schema
from charter.store.database import Database
from charter.store.tokens_schema import agent_keys
from charter.tokens import client_auth, dpop, token_exchange
from charter.tokens.access_tokens import AccessTokenVerifier, VerifiedToken, access_token_claims
from charter.tokens.enrolment import AgentKey, Enrolled, Enrolment, EnrolmentCode, agent_key
from charter.tokens.errors import InvalidToken, OAuthError, OAuthErrorCode, invalid_request
from charter.tokens.jwk import Alg, PublicKey, public_key_from_jwk
from charter.tokens.jws import VerificationKey, sign
from charter.tokens.keys import TOKENS_VERSION_KEY, KeyRing, SigningKey, SigningKeys
from charter.tokens.ledger import Entry, Ledger, OneTimeUse
from charter.tokens.metadata import (
    INTROSPECTION_PATH,
    REVOCATION_PATH,
    TOKEN_PATH,
    authorization_server_metadata,
    endpoint,
)
from charter.tokens.requests import CLIENT_CREDENTIALS, TokenRequest
from charter.tokens.revocation import Revocations
from charter.tokens.scopes import parse_scope, require_within_charter
from charter.tokens.state import AgentStatus, Snapshot, StateView
from charter.tokens.trusted_issuers import JwksFetcher, TrustedIssuers, fetch_jwks

ISSUER_ENV = "CHARTER_ISSUER"
DPOP_NONCE_ENV = "CHARTER_DPOP_REQUIRE_NONCE"
DEFAULT_ISSUER = "http://127.0.0.1:8000"


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1)."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    claims: Mapping[str, Any]
    issued_token_type: str | None = None
    dpop_nonce: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.issued_token_type:
            body["issued_token_type"] = self.issued_token_type
        return body


class PendingToken:
    """A token answer waiting for the ledger to commit its writes."""

    def __init__(
        self,
        future: Future[OneTimeUse | None],
        response: TokenResponse | None,
        error: OAuthError | None,
        replay_error: Callable[[OneTimeUse], OAuthError],
    ) -> None:
        self._future = future
        self._response = response
        self._error = error
        self._replay_error = replay_error

    def _finish(self, replayed: OneTimeUse | None) -> TokenResponse:
        if self._error is not None:
            raise self._error
        if replayed is not None:
            raise self._replay_error(replayed)
        assert self._response is not None
        return self._response

    def result(self, timeout: float = 60) -> TokenResponse:
        return self._finish(self._future.result(timeout=timeout))

    async def wait(self) -> TokenResponse:
        return self._finish(await asyncio.wrap_future(self._future))


def _replay_error(use: OneTimeUse) -> OAuthError:
    if use.namespace == dpop.JTI_NAMESPACE:
        return OAuthError(
            OAuthErrorCode.INVALID_DPOP_PROOF,
            "the DPoP proof was used before",
            reason="dpop_replayed",
        )
    return OAuthError(
        OAuthErrorCode.INVALID_CLIENT,
        "the client assertion was used before",
        reason="jti_replayed",
        field="client_assertion",
    )


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
        self.state = StateView(database, clock)
        self.ledger = Ledger(database, audit, clock)
        self.signing_keys = SigningKeys(database, audit, clock, settings.home)
        self.enrolment = Enrolment(database, audit, clock)
        self.revocations = Revocations(database, audit, clock, self.enrolment)
        self.trusted = TrustedIssuers(database, audit, clock, jwks_fetch)
        self._lock = threading.Lock()
        self._ring: tuple[int, KeyRing] | None = None
        self._client_keys: tuple[int, dict[str, list[tuple[AgentKey, VerificationKey]]]] = (-1, {})
        self._charters: dict[tuple[str, int], CharterSpec] = {}
        self._nonces: dpop.Nonces | None = None
        self.resource_replays = dpop.ReplayCache()
        self.verifier = AccessTokenVerifier(
            self.issuer,
            self._keyring,
            lambda fresh: self.state.current(fresh=fresh),
            lambda: self._clock.now().timestamp(),
        )

    # -- caches over the store ------------------------------------------------------------
    def _keyring(self, snapshot: Snapshot) -> KeyRing:
        generation = snapshot.counters.get(TOKENS_VERSION_KEY, 0)
        cached = self._ring
        if cached is None or cached[0] != generation or cached[1].next_change <= self._now():
            with self._lock:
                self._ring = (generation, self.signing_keys.load())
                cached = self._ring
        return cached[1]

    @property
    def nonces(self) -> dpop.Nonces:
        if self._nonces is None:
            self._nonces = dpop.Nonces(self.signing_keys.master.derive("charter dpop nonce"))
        return self._nonces

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _keys_for(self, snapshot: Snapshot) -> Callable[[str], list[client_auth.ClientKey]]:
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
            return [client_auth.ClientKey(agent, v) for k, v in keys if k.usable(now)]

        return keys_for

    def _load_client_keys(self, agent: str) -> list[tuple[AgentKey, VerificationKey]]:
        with self._db.read() as connection:
            rows = connection.execute(
                sa.select(agent_keys).where(
                    agent_keys.c.agent == agent, agent_keys.c.revoked_at.is_(None)
                )
            )
            keys = [agent_key(row) for row in rows]
        return [(key, _verification(key)) for key in keys]

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

    def _roles(self) -> RolesFile:
        from charter.services.decision_snapshot import latest_document

        with self._db.read() as connection:
            row = latest_document(connection, "roles")
        return parse_roles(dict(row.document)) if row is not None else EMPTY_ROLES

    # -- the token endpoint ---------------------------------------------------------------
    def token(self, request: TokenRequest) -> PendingToken:
        """Answer a token request (RFC 6749 §4.4 client credentials, RFC 8693 exchange)."""
        client: str | None = None
        try:
            params = request.single()
            grant = params.get("grant_type")
            if grant not in (CLIENT_CREDENTIALS, token_exchange.GRANT_TYPE):
                raise OAuthError(
                    OAuthErrorCode.UNSUPPORTED_GRANT_TYPE,
                    f"grant_type must be {CLIENT_CREDENTIALS} or token exchange",
                    reason="unsupported_grant_type",
                    field="grant_type",
                )
            snapshot = self.state.current(fresh=True)  # exact even on PostgreSQL
            authenticated = self._authenticate(params, snapshot)
            client = authenticated.client_id
            status = self._active(client, snapshot)
            charter = self.charter(client, status.charter_version)
            proof = self._token_dpop(request) if request.dpop else None
            if proof is None and charter.credentials.require_proof_of_possession:
                raise invalid_request(
                    f"the charter of {client} requires proof of possession: send a DPoP proof",
                    reason="dpop_required",
                )
            uses = [authenticated.use] + ([proof.use] if proof else [])
            if grant == CLIENT_CREDENTIALS:
                return self._client_credentials(
                    request, params, client, status, charter, snapshot, uses, proof
                )
            return self._exchange(request, params, client, status, charter, snapshot, uses, proof)
        except OAuthError as error:
            return self._refuse(request, error, client)

    def issue(self, request: TokenRequest) -> TokenResponse:
        """:meth:`token`, waiting for the commit (synchronous callers)."""
        return self.token(request).result()

    def _authenticate(
        self, params: Mapping[str, str], snapshot: Snapshot
    ) -> client_auth.AuthenticatedClient:
        client_auth.require_assertion_type(params.get("client_assertion_type"))
        assertion = params.get("client_assertion")
        if not assertion:
            raise OAuthError(
                OAuthErrorCode.INVALID_CLIENT,
                "a client_assertion is required",
                reason="no_client_authentication",
                field="client_assertion",
            )
        return client_auth.authenticate(
            assertion,
            client_id=params.get("client_id"),
            keys_for=self._keys_for(snapshot),
            audiences=self.audiences,
            now=self._now(),
        )

    def _active(self, agent: str, snapshot: Snapshot) -> AgentStatus:
        status = snapshot.agents.get(agent)
        if status is None or status.state != AgentState.ACTIVE:
            state = status.state.value if status else "unknown"
            raise OAuthError(
                OAuthErrorCode.UNAUTHORIZED_CLIENT,
                f"agent {agent} is {state}: only active agents get tokens",
                reason="agent_not_active",
            )
        if status.expires is not None and status.expires < self._clock.now().date().isoformat():
            raise OAuthError(
                OAuthErrorCode.UNAUTHORIZED_CLIENT,
                f"the charter of {agent} expired on {status.expires}",
                reason="charter_expired",
            )
        return status

    def _token_dpop(self, request: TokenRequest) -> dpop.DPoPProof:
        assert request.dpop is not None
        urls = [self.token_endpoint] + ([request.url] if request.url else [])
        now = self._now()
        try:
            return dpop.check_proof(
                request.dpop,
                htm="POST",
                htu=urls,
                now=now,
                nonces=self.nonces,
                require_nonce=self.require_dpop_nonce,
            )
        except dpop.NonceRequired as exc:
            raise OAuthError(
                OAuthErrorCode.USE_DPOP_NONCE,
                exc.message,
                reason=exc.reason,
                headers={"DPoP-Nonce": self.nonces.issue(now)},
            ) from exc
        except dpop.DPoPError as exc:
            raise OAuthError(
                OAuthErrorCode.INVALID_DPOP_PROOF, exc.message, reason=exc.reason
            ) from exc

    def _client_credentials(
        self,
        request: TokenRequest,
        params: Mapping[str, str],
        client: str,
        status: AgentStatus,
        charter: CharterSpec,
        snapshot: Snapshot,
        uses: list[OneTimeUse],
        proof: dpop.DPoPProof | None,
    ) -> PendingToken:
        scopes = require_within_charter(charter, parse_scope(params.get("scope")))
        return self._sign_and_record(
            request,
            client=client,
            subject=client,
            status=status,
            snapshot=snapshot,
            scopes=scopes,
            lifetime=charter.credentials.max_token_lifetime,
            cap=None,
            act=None,
            uses=uses,
            proof=proof,
            action="token.issue",
        )

    def _exchange(
        self,
        request: TokenRequest,
        params: Mapping[str, str],
        client: str,
        status: AgentStatus,
        charter: CharterSpec,
        snapshot: Snapshot,
        uses: list[OneTimeUse],
        proof: dpop.DPoPProof | None,
    ) -> PendingToken:
        subject_token = params.get("subject_token")
        if (
            not subject_token
            or params.get("subject_token_type") not in token_exchange.SUBJECT_TOKEN_TYPES
        ):
            raise invalid_request(
                "token exchange needs subject_token and a subject_token_type",
                reason="no_subject_token",
                field="subject_token",
            )
        actor_token = params.get("actor_token")
        if actor_token is not None:
            if params.get("actor_token_type") != token_exchange.TokenType.JWT:
                raise invalid_request(
                    "actor_token_type must be the jwt token type", field="actor_token_type"
                )
            actor = client_auth.authenticate(
                actor_token,
                client_id=client,
                keys_for=self._keys_for(snapshot),
                audiences=self.audiences,
                now=self._now(),
                namespace="actor",
            )
            uses.append(actor.use)
        if not charter.delegation.allowed:
            raise OAuthError(
                OAuthErrorCode.INVALID_GRANT,
                f"the charter of {client} does not allow acting for people",
                reason="delegation_not_allowed",
            )
        subject = self._subject(subject_token, client)
        token_exchange.check_may_act(subject, client, self.issuer)
        if len(subject.actors) + 1 > charter.delegation.max_chain:
            raise OAuthError(
                OAuthErrorCode.INVALID_GRANT,
                f"the delegation chain would hold {len(subject.actors) + 1} agents; "
                f"the charter of {client} accepts {charter.delegation.max_chain}",
                reason="chain_too_long",
            )
        access = delegable_capabilities(charter, snapshot.people.get(subject.person), self._roles())
        if not access.permitted:
            reason = access.refusal.value if access.refusal else "delegation_not_allowed"
            raise OAuthError(
                OAuthErrorCode.INVALID_GRANT,
                f"{subject.person} cannot delegate to {client}: {reason}",
                reason=reason,
            )
        wanted = require_within_charter(charter, parse_scope(params.get("scope")))
        patterns = [parse_pattern(grant.action) for grant in access.grants]
        scopes = tuple(
            s
            for s in wanted
            if any(p.matches(s) for p in patterns)
            and (subject.scopes is None or s in subject.scopes)
        )
        if not scopes:
            raise OAuthError(
                OAuthErrorCode.INVALID_SCOPE,
                f"{subject.person} may not delegate any of: {' '.join(wanted)}",
                reason="delegator_lacks_access",
                field="scope",
            )
        act = token_exchange.act_claim(client, status.charter_version, subject.actors)
        return self._sign_and_record(
            request,
            client=client,
            subject=subject.person,
            status=status,
            snapshot=snapshot,
            scopes=scopes,
            lifetime=charter.credentials.max_token_lifetime,
            cap=subject.expires_at,
            act=act,
            uses=uses,
            proof=proof,
            action="token.exchange",
        )

    def _subject(self, subject_token: str, client: str) -> token_exchange.Subject:
        issuer = token_exchange.unverified_issuer(subject_token)
        if issuer != self.issuer:
            return token_exchange.verify_idp_token(
                subject_token, self.trusted, our_audiences=self.audiences, now=self._now()
            )
        try:
            verified = self.verifier.verify(subject_token)
        except InvalidToken as exc:
            raise invalid_request(
                f"the subject_token is not active: {exc.message}",
                reason=f"subject_{exc.reason}",
                field="subject_token",
            ) from exc
        subject = token_exchange.subject_from_charter_token(verified)
        if client in verified.delegation_chain:
            raise OAuthError(
                OAuthErrorCode.INVALID_GRANT,
                f"{client} is already in this chain",
                reason="chain_loop",
            )
        return subject

    def _sign_and_record(
        self,
        request: TokenRequest,
        *,
        client: str,
        subject: str,
        status: AgentStatus,
        snapshot: Snapshot,
        scopes: tuple[str, ...],
        lifetime: int,
        cap: int | None,
        act: dict[str, Any] | None,
        uses: list[OneTimeUse],
        proof: dpop.DPoPProof | None,
        action: str,
    ) -> PendingToken:
        now = self._now()
        audience = request.resources() or (self.issuer,)
        issued_at = max(int(now), status.changed_at, snapshot.floors.get(client, 0))
        expires_at = int(now) + lifetime if cap is None else min(int(now) + lifetime, cap)
        ring = self._keyring(snapshot)
        claims = access_token_claims(
            issuer=self.issuer,
            subject=subject,
            client_id=client,
            audience=audience,
            scopes=scopes,
            issued_at=issued_at,
            expires_at=expires_at,
            jti=secrets.token_urlsafe(16),
            charter_version=status.charter_version,
            act=act,
            jkt=proof.jkt if proof else None,
        )
        assert ring.signer.private is not None
        token = sign(claims, ring.signer.private, kid=ring.signer.kid, typ="at+jwt")
        response = TokenResponse(
            access_token=token,
            token_type="DPoP" if proof else "Bearer",
            expires_in=expires_at - int(now),
            scope=" ".join(scopes),
            claims=claims,
            issued_token_type=token_exchange.TokenType.ACCESS_TOKEN if act else None,
            dpop_nonce=self.nonces.issue(now) if proof else None,
        )
        summary = {
            "jti": claims["jti"],
            "scope": claims["scope"],
            "aud": claims["aud"],
            "exp": expires_at,
            "dpop": proof is not None,
            "on_behalf_of": subject if act else None,
            "chain": [client, *(a.sub for a in token_exchange_actors(act))] if act else None,
        }

        def on_replay(use: OneTimeUse) -> EventDraft:
            error = _replay_error(use)
            return EventDraft(
                request.actor,
                "token.refuse",
                "agent",
                client,
                None,
                {"error": error.error.value, "reason": error.reason},
            )

        entry = Entry(uses, EventDraft(client, action, "agent", client, None, summary), on_replay)
        return PendingToken(self.ledger.submit(entry), response, None, _replay_error)

    def _refuse(self, request: TokenRequest, error: OAuthError, client: str | None) -> PendingToken:
        target = client or _claimed_client(request)
        event = EventDraft(
            request.actor,
            "token.refuse",
            "agent",
            target,
            None,
            {
                "error": error.error.value,
                "reason": error.reason,
                "grant_type": next(iter(request.params.get("grant_type") or ()), None),
                "authenticated": client is not None,
            },
        )
        return PendingToken(self.ledger.submit(Entry((), event)), None, error, _replay_error)

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
            now = self._now()
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
        """Verify an ``Authorization: Bearer|DPoP <token>`` header (RFC 6750 §2.1, RFC 9449 §7.1)."""
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

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662 §2.2: the token's claims if active now, else just ``active: false``."""
        try:
            return self.verifier.verify(token, fresh=True).introspection()
        except InvalidToken:
            return {"active": False}

    def inspect(self, token: str) -> tuple[VerifiedToken | None, str | None]:
        """For operators: the verified token, or why it is inactive."""
        try:
            return self.verifier.verify(token, fresh=True), None
        except InvalidToken as exc:
            return None, exc.reason

    def authenticate_caller(self, request: TokenRequest) -> str:
        """Client authentication for introspection and revocation (private_key_jwt, single use)."""
        params = request.single()
        snapshot = self.state.current(fresh=True)
        authenticated = self._authenticate(params, snapshot)
        self._active(authenticated.client_id, snapshot)
        replayed = self.ledger.write(Entry([authenticated.use], None))
        if replayed is not None:
            raise _replay_error(replayed)
        return authenticated.client_id

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
        return self._keyring(self.state.current()).jwks()

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


def token_exchange_actors(act: Mapping[str, Any] | None) -> list[Any]:
    """The earlier agents of a new ``act`` claim (for the audit summary)."""
    from charter.tokens.access_tokens import parse_act

    return list(parse_act(act)[1:]) if act else []


def _verification(key: AgentKey) -> VerificationKey:
    public, _ = public_key_from_jwk(key.public_jwk)
    return VerificationKey.of(public, key.kid)


def _claimed_client(request: TokenRequest) -> str:
    """Who a refused request *said* it was (for the audit target; unauthenticated)."""
    values = request.params.get("client_id") or ()
    return (values[0] if values else "unknown")[:63] or "unknown"
