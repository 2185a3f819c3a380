"""A ``jti`` to consume once: what a checked assertion or DPoP proof hands the ledger.

The checks (:mod:`charter.domain.tokens.client_auth`, :mod:`charter.domain.tokens.dpop`)
are pure and only *name* the use. Consuming it is a write, so it happens
elsewhere: at the token endpoint in the issuance ledger, in the same commit as
the issuance (a replay is refused by every replica); at a resource in an
in-process :class:`~charter.domain.tokens.dpop.ReplayCache`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OneTimeUse:
    """A ``jti`` that must not have been seen before, kept until ``expires_at`` (epoch s)."""

    namespace: str
    issuer: str
    jti: str
    expires_at: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.namespace, self.issuer, self.jti)
