"""The Shared Signals service: streams, their outbox, and the receiver, over one store."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from charter.domain import ssf
from charter.domain.tokens.jws import Signer
from charter.services.audit import AuditService
from charter.services.clock import Clock
from charter.services.ssf.outbox import Outbox, PushSender
from charter.services.ssf.receiver import Receiver
from charter.services.ssf.streams import Streams
from charter.store.database import Database

if TYPE_CHECKING:
    from charter.services.tokens.service import TokenService


class SsfService:
    def __init__(
        self,
        database: Database,
        audit: AuditService,
        clock: Clock,
        tokens: Callable[[], TokenService],
        *,
        hook: bool = True,
    ) -> None:
        """``hook``: add the outbox to the audit service's listeners (the container adds it
        itself, when it builds the audit service, so that no change is ever missed)."""
        self._tokens = tokens
        self._signers: dict[str, Signer] = {}
        self.streams = Streams(database, audit, clock)
        self.outbox = Outbox(database, clock, self.streams, self.issuer, self.signer)
        self._database, self._audit, self._clock = database, audit, clock
        self._receiver: Receiver | None = None
        if hook:
            audit.listeners.append(self.outbox.enqueue)

    def issuer(self) -> str:
        return self._tokens().issuer

    def signer(self) -> Signer:
        """A ``secevent+jwt`` signer over the token service's current signing key."""
        tokens = self._tokens()
        key = tokens.keyring(tokens.state.current()).signer
        signer = self._signers.get(key.kid)
        if signer is None:
            assert key.private is not None
            signer = Signer(key.private, kid=key.kid, typ=ssf.SET_TYPE)
            self._signers = {key.kid: signer}
        return signer

    @property
    def receiver(self) -> Receiver:
        if self._receiver is None:
            self._receiver = Receiver(self._database, self._audit, self._clock, self._tokens())
        return self._receiver

    def configuration(self) -> dict[str, Any]:
        return ssf.configuration(self.issuer())

    def sender(self) -> PushSender:
        return PushSender(self.outbox)
