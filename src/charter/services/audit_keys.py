"""The audit keys, derived from the master key and never written to the database.

Two keys come out of ``CHARTER_MASTER_KEY`` (or ``$CHARTER_HOME/master.key``),
each under its own label so neither reveals the other: the chain's HMAC key and
the seed of the Ed25519 key that signs checkpoints. Every replica sharing a
store derives the same keys from the same master key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from charter.domain.audit_chain import CHAIN_KEY_LABEL, ChainKey
from charter.domain.audit_checkpoint import CHECKPOINT_KEY_LABEL, CheckpointKey
from charter.services.tokens.keys import MASTER_KEY_ENV, MASTER_KEY_FILE, MasterKey


@dataclass(frozen=True, slots=True)
class AuditKeys:
    chain: ChainKey
    checkpoint: CheckpointKey

    @classmethod
    def of(cls, master: MasterKey) -> AuditKeys:
        return cls(
            ChainKey(master.derive(CHAIN_KEY_LABEL)),
            CheckpointKey(master.derive(CHECKPOINT_KEY_LABEL)),
        )


class AuditKeyring:
    """Loads the master key once, when the audit log first needs it."""

    def __init__(self, home: Path, environ: Mapping[str, str] | None = None) -> None:
        self._home = home
        self._environ = environ
        self._keys: AuditKeys | None = None

    def keys(self) -> AuditKeys:
        """For writers: the master key, created on first start like the token service's."""
        if self._keys is None:
            self._keys = AuditKeys.of(MasterKey.load(self._home, self._environ))
        return self._keys

    def existing(self) -> AuditKeys | None:
        """For verifiers: the master key if there is one; never creates it."""
        env = os.environ if self._environ is None else self._environ
        configured = bool(env.get(MASTER_KEY_ENV)) or (self._home / MASTER_KEY_FILE).exists()
        if self._keys is None and not configured:
            return None
        return self.keys()
