"""A token endpoint answer: the response (RFC 6749 §5.1, RFC 8693 §2.2.1) once its
writes are committed, or the refusal (RFC 6749 §5.2)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.tokens import dpop
from charter.domain.tokens.errors import OAuthError, OAuthErrorCode
from charter.domain.tokens.one_time_use import OneTimeUse
from charter.services.metrics import TOKENS_ISSUED, TOKENS_REFUSED
from charter.services.tokens.ledger import Entry


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
        entry: Entry,
        response: TokenResponse | None,
        error: OAuthError | None,
        replay_error: Callable[[OneTimeUse], OAuthError],
    ) -> None:
        self._entry = entry
        self._response = response
        self._error = error
        self._replay_error = replay_error

    def _finish(self, replayed: OneTimeUse | None) -> TokenResponse:
        """The answer, counted once for ``/metrics`` now that it is final."""
        if self._error is not None:
            TOKENS_REFUSED.labels(self._error.error.value).inc()
            raise self._error
        if replayed is not None:
            error = self._replay_error(replayed)
            TOKENS_REFUSED.labels(error.error.value).inc()
            raise error
        assert self._response is not None
        exchanged = self._response.issued_token_type is not None
        TOKENS_ISSUED.labels("token_exchange" if exchanged else "client_credentials").inc()
        return self._response

    def result(self, timeout: float = 60) -> TokenResponse:
        """Wait in this thread (synchronous callers)."""
        return self._finish(self._entry.future.result(timeout=timeout))

    async def wait(self) -> TokenResponse:
        """Wait on the event loop (the HTTP endpoint)."""
        waiter = self._entry.waiter
        if waiter is not None:
            return self._finish(await waiter)
        return self._finish(await asyncio.wrap_future(self._entry.future))


def replay_error(use: OneTimeUse) -> OAuthError:
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


__all__ = ["PendingToken", "TokenResponse", "replay_error"]
