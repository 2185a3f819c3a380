"""Where Charter keeps its state, read from the environment when asked (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    #: Signed audit checkpoints go here (default ``$CHARTER_HOME/audit-checkpoints``) ...
    audit_checkpoints: Path | None = None
    #: ... and, when set, are POSTed to this URL too.
    audit_checkpoint_url: str | None = None

    @property
    def audit_checkpoint_dir(self) -> Path:
        return self.audit_checkpoints or self.home / "audit-checkpoints"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("CHARTER_HOME", ".charter")).expanduser()
        url = env.get("CHARTER_DATABASE_URL") or f"sqlite:///{(home / 'charter.db').resolve()}"
        checkpoints = env.get("CHARTER_AUDIT_CHECKPOINTS")
        return cls(
            home=home,
            database_url=url,
            audit_checkpoints=Path(checkpoints).expanduser() if checkpoints else None,
            audit_checkpoint_url=env.get("CHARTER_AUDIT_CHECKPOINT_URL") or None,
        )
