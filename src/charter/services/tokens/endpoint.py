"""The token endpoint (RFC 6749 §4.4 client credentials, RFC 8693 token exchange).

:meth:`TokenEndpoint.token` checks a request and signs its token without
blocking on the store, then hands the request's single-use ``jti``s and its
audit Event to the ledger (group commit). The caller waits on the returned
:class:`PendingToken` — ``.result()`` or ``await .wait()`` — which answers only
once that commit is done, with the token or the refusal.

Everything the endpoint needs from the service (the store-backed snapshot, key
ring, agent keys, charters, roles) comes through :class:`IssuerContext`.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from charter.domain.audit import EventDraft
from charter.domain.charter import CharterSpec
from charter.domain.delegation import delegable_capabilities
from charter.domain.enums import AgentState
from charter.domain.patterns import parse_pattern
from charter.domain.roles import RolesFile
from charter.domain.tokens import client_auth, dpop, token_exchange
from charter.domain.tokens.claims import access_token_claims, parse_act
from charter.domain.tokens.errors import InvalidToken, OAuthError, OAuthErrorCode, invalid_request
from charter.domain.tokens.jwk import thumbprint
from charter.domain.tokens.one_time_use import OneTimeUse
from charter.domain.tokens.requests import CLIENT_CREDENTIALS, TokenRequest
from charter.domain.tokens.scopes import parse_scope, require_within_charter
from charter.errors import InvalidInput
from charter.services.narrowing import check_chain
from charter.services.tokens.access_tokens import AccessTokenVerifier
from charter.services.tokens.client_metadata import ClientMetadataDocuments, is_metadata_url
from charter.services.tokens.keys import KeyRing
from charter.services.tokens.ledger import Entry, Ledger
from charter.services.tokens.pending import PendingToken, TokenResponse, replay_error
from charter.services.tokens.state import AgentStatus, StateView, ValiditySnapshot
from charter.services.tokens.trusted_issuers import TrustedIssuers


class IssuerContext(Protocol):
    """What the endpoint needs from the token service (implemented by ``TokenService``)."""

    issuer: str
    token_endpoint: str
    audiences: frozenset[str]
    require_dpop_nonce: bool
    state: StateView
    ledger: Ledger
    trusted: TrustedIssuers
    verifier: AccessTokenVerifier

    @property
    def nonces(self) -> dpop.Nonces: ...

    def keyring(self, snapshot: ValiditySnapshot) -> KeyRing: ...

    def keys_for(
        self, snapshot: ValiditySnapshot
    ) -> Callable[[str], list[client_auth.ClientKey]]: ...

    @property
    def client_metadata(self) -> ClientMetadataDocuments: ...

    def agent_with_keys(self, kids: set[str]) -> str: ...

    def charter(self, agent: str, version: int) -> CharterSpec: ...

    def roles(self) -> RolesFile: ...

    def now(self) -> float: ...

    def today(self) -> str: ...


class TokenEndpoint:
    def __init__(self, context: IssuerContext) -> None:
        self._ctx = context
        #: granted scopes by (agent, charter version, requested scope): a charter version
        #: never changes, so neither does the answer (refusals are not cached)
        self._scopes: dict[tuple[str, int, str | None], tuple[str, ...]] = {}

    def _granted(
        self, client: str, status: AgentStatus, charter: CharterSpec, requested: str | None
    ) -> tuple[str, ...]:
        key = (client, status.charter_version, requested)
        scopes = self._scopes.get(key)
        if scopes is None:
            scopes = require_within_charter(charter, parse_scope(requested))
            if len(self._scopes) >= 10_000:
                self._scopes.clear()
            self._scopes[key] = scopes
        return scopes

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
            snapshot = self._ctx.state.current(fresh=True)  # exact even on PostgreSQL
            authenticated = self._authenticate(params, snapshot)
            client = authenticated.client_id
            status = self._active(client, snapshot)
            charter = self._ctx.charter(client, status.charter_version)
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
        self, params: Mapping[str, str], snapshot: ValiditySnapshot
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
        client_id = params.get("client_id")
        if is_metadata_url(client_id):
            assert client_id is not None
            return self._authenticate_by_document(assertion, client_id, snapshot)
        return client_auth.authenticate(
            assertion,
            client_id=client_id,
            keys_for=self._ctx.keys_for(snapshot),
            audiences=self._ctx.audiences,
            now=self._ctx.now(),
        )

    def _authenticate_by_document(
        self, assertion: str, url: str, snapshot: ValiditySnapshot
    ) -> client_auth.AuthenticatedClient:
        """A client whose ``client_id`` is its metadata document's URL: the assertion must
        verify with a key the document publishes *and* that is enrolled for an agent in
        Charter (enrolment is where a key was bound to a charter); the client is that agent."""
        metadata = self._ctx.client_metadata.resolve(url)
        published: set[str] = set()
        for jwk in metadata.jwks:
            try:
                published.add(thumbprint(jwk))
            except (InvalidInput, KeyError):
                continue
        agent = self._ctx.agent_with_keys(published)
        enrolled = [k for k in self._ctx.keys_for(snapshot)(agent) if k.key.kid in published]
        authenticated = client_auth.authenticate(
            assertion,
            client_id=url,
            keys_for=lambda _issuer: enrolled,
            audiences=self._ctx.audiences,
            now=self._ctx.now(),
        )
        return dataclasses.replace(authenticated, client_id=agent)

    def _active(self, agent: str, snapshot: ValiditySnapshot) -> AgentStatus:
        status = snapshot.agents.get(agent)
        if status is None or status.state != AgentState.ACTIVE:
            state = status.state.value if status else "unknown"
            raise OAuthError(
                OAuthErrorCode.UNAUTHORIZED_CLIENT,
                f"agent {agent} is {state}: only active agents get tokens",
                reason="agent_not_active",
            )
        if status.expires is not None and status.expires < self._ctx.today():
            raise OAuthError(
                OAuthErrorCode.UNAUTHORIZED_CLIENT,
                f"the charter of {agent} expired on {status.expires}",
                reason="charter_expired",
            )
        return status

    def _token_dpop(self, request: TokenRequest) -> dpop.DPoPProof:
        assert request.dpop is not None
        urls = [self._ctx.token_endpoint] + ([request.url] if request.url else [])
        now = self._ctx.now()
        try:
            return dpop.check_proof(
                request.dpop,
                htm="POST",
                htu=urls,
                now=now,
                nonces=self._ctx.nonces,
                require_nonce=self._ctx.require_dpop_nonce,
            )
        except dpop.NonceRequired as exc:
            raise OAuthError(
                OAuthErrorCode.USE_DPOP_NONCE,
                exc.message,
                reason=exc.reason,
                headers={"DPoP-Nonce": self._ctx.nonces.issue(now)},
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
        snapshot: ValiditySnapshot,
        uses: list[OneTimeUse],
        proof: dpop.DPoPProof | None,
    ) -> PendingToken:
        scopes = self._granted(client, status, charter, params.get("scope"))
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
        snapshot: ValiditySnapshot,
        uses: list[OneTimeUse],
        proof: dpop.DPoPProof | None,
    ) -> PendingToken:
        subject_token = params.get("subject_token")
        requested_type = params.get("requested_token_type")
        if requested_type not in (
            None,
            token_exchange.TokenType.ACCESS_TOKEN,
            token_exchange.TokenType.JWT,
        ):
            raise invalid_request(
                "Charter issues access tokens: requested_token_type must be the access_token "
                "or jwt token type (RFC 8693 §3)",
                reason="unsupported_requested_token_type",
                field="requested_token_type",
            )
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
                keys_for=self._ctx.keys_for(snapshot),
                audiences=self._ctx.audiences,
                now=self._ctx.now(),
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
        token_exchange.check_may_act(subject, client, self._ctx.issuer)
        if len(subject.actors) + 1 > charter.delegation.max_chain:
            raise OAuthError(
                OAuthErrorCode.INVALID_GRANT,
                f"the delegation chain would hold {len(subject.actors) + 1} agents; "
                f"the charter of {client} accepts {charter.delegation.max_chain}",
                reason="chain_too_long",
            )
        access = delegable_capabilities(
            charter, snapshot.people.get(subject.person), self._ctx.roles()
        )
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
        earlier = [  # each hop only narrows (services/narrowing.py)
            (a.sub, self._ctx.charter(a.sub, snapshot.agents[a.sub].charter_version))
            for a in subject.actors
            if a.sub in snapshot.agents
        ]
        check_chain(client, charter, earlier, scopes, at=self._ctx.now())
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

    def _subject(self, subject_token: str, client: str) -> token_exchange.ExchangeSubject:
        issuer = token_exchange.unverified_issuer(subject_token)
        if issuer != self._ctx.issuer:
            return token_exchange.verify_idp_token(
                subject_token,
                self._ctx.trusted,
                our_audiences=self._ctx.audiences,
                now=self._ctx.now(),
            )
        try:
            verified = self._ctx.verifier.verify(subject_token)
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
        snapshot: ValiditySnapshot,
        scopes: tuple[str, ...],
        lifetime: int,
        cap: int | None,
        act: dict[str, Any] | None,
        uses: list[OneTimeUse],
        proof: dpop.DPoPProof | None,
        action: str,
    ) -> PendingToken:
        now = self._ctx.now()
        audience = request.resources() or (self._ctx.issuer,)
        issued_at = max(int(now), status.changed_at, snapshot.floors.get(client, 0))
        expires_at = int(now) + lifetime if cap is None else min(int(now) + lifetime, cap)
        ring = self._ctx.keyring(snapshot)
        claims = access_token_claims(
            issuer=self._ctx.issuer,
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
        assert ring.access_tokens is not None
        token = ring.access_tokens.sign(claims)
        response = TokenResponse(
            access_token=token,
            token_type="DPoP" if proof else "Bearer",
            expires_in=expires_at - int(now),
            scope=" ".join(scopes),
            claims=claims,
            issued_token_type=token_exchange.TokenType.ACCESS_TOKEN if act else None,
            dpop_nonce=self._ctx.nonces.issue(now) if proof else None,
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
            error = replay_error(use)
            return EventDraft(
                request.actor,
                "token.refuse",
                "agent",
                client,
                None,
                {"error": error.error.value, "reason": error.reason},
            )

        entry = Entry(uses, EventDraft(client, action, "agent", client, None, summary), on_replay)
        self._ctx.ledger.submit(entry, request.loop)
        return PendingToken(entry, response, None, replay_error)

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
        entry = Entry((), event)
        self._ctx.ledger.submit(entry, request.loop)
        return PendingToken(entry, None, error, replay_error)

    def authenticate_caller(self, request: TokenRequest) -> str:
        """Client authentication for introspection and revocation (private_key_jwt, single use)."""
        params = request.single()
        snapshot = self._ctx.state.current(fresh=True)
        authenticated = self._authenticate(params, snapshot)
        self._active(authenticated.client_id, snapshot)
        replayed = self._ctx.ledger.write(Entry([authenticated.use], None))
        if replayed is not None:
            raise replay_error(replayed)
        return authenticated.client_id


def token_exchange_actors(act: Mapping[str, Any] | None) -> list[Any]:
    """The earlier agents of a new ``act`` claim (for the audit summary)."""
    return list(parse_act(act)[1:]) if act else []


def _claimed_client(request: TokenRequest) -> str:
    """Who a refused request *said* it was (for the audit target; unauthenticated)."""
    values = request.params.get("client_id") or ()
    return (values[0] if values else "unknown")[:63] or "unknown"
