"""Where Charter keeps its state, read from the environment when asked (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("CHARTER_HOME", ".charter")).expanduser()
        url = env.get("CHARTER_DATABASE_URL") or f"sqlite:///{(home / 'charter.db').resolve()}"
        return cls(home=home, database_url=url)
