"""Where Charter keeps its state, read from the environment when asked (never at import)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    #: Signed audit checkpoints go here (default ``$CHARTER_HOME/audit-checkpoints``) ...
    audit_checkpoints: Path | None = None
    #: ... and, when set, are POSTed to this URL too.
    audit_checkpoint_url: str | None = None
    #: What chose the store: ``CHARTER_DATABASE_URL``, ``CHARTER_HOME`` or ``default``.
    store_source: str = "settings"

    @property
    def audit_checkpoint_dir(self) -> Path:
        return self.audit_checkpoints or self.home / "audit-checkpoints"

    @property
    def sqlite_path(self) -> Path | None:
        """The store's file when it is SQLite on disk, else None."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url[len(prefix) :].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" and not path.startswith("file:") else None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        explicit_home = env.get("CHARTER_HOME")
        home = Path(explicit_home or default_home(env)).expanduser()
        url = env.get("CHARTER_DATABASE_URL")
        if url:
            source = DATABASE_URL_ENV
        else:
            url = f"sqlite:///{(home / 'charter.db').resolve()}"
            source = HOME_ENV if explicit_home else "default"
        checkpoints = env.get("CHARTER_AUDIT_CHECKPOINTS")
        return cls(
            home=home,
            database_url=url,
            audit_checkpoints=Path(checkpoints).expanduser() if checkpoints else None,
            audit_checkpoint_url=env.get("CHARTER_AUDIT_CHECKPOINT_URL") or None,
            store_source=source,
        )


HOME_ENV = "CHARTER_HOME"
DATABASE_URL_ENV = "CHARTER_DATABASE_URL"


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """Where the store lives when ``CHARTER_HOME`` is unset: one per user, whatever the directory.

    ``$XDG_DATA_HOME/charter``, else ``~/.local/share/charter``. A store relative to the
    current directory made ``charter agent list`` in another directory quietly start an
    empty one; a per-user home is the same store from everywhere, as ``gh`` or ``docker``
    keep theirs. Several stores side by side stay one ``CHARTER_HOME=...`` away.
    """
    env = os.environ if environ is None else environ
    data = env.get("XDG_DATA_HOME", "")
    if not data or not Path(data).is_absolute():  # the XDG spec ignores a relative value
        data = str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(data) / "charter"


def check_home(home: Path) -> None:
    """Refuse a ``CHARTER_HOME`` Charter could not keep its files in, before anything writes.

    It may be missing (it is created, with its parents); what exists of it must
    be a directory Charter can write in.
    """
    existing = home
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        what = "is" if existing == home else f"cannot be created: {existing} is"
        raise InvalidInput(
            f"{home} {what} a file, not a directory: point it at a directory (created if missing)",
            field=HOME_ENV,
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == home else f"cannot be created in {existing}"
        raise InvalidInput(
            f"{home} {what}: point it at a directory you can write in", field=HOME_ENV
        )


#: Proxies whose ``X-Forwarded-For``/``-Proto`` are believed: addresses or networks,
#: comma-separated.
TRUSTED_PROXIES_ENV = "CHARTER_TRUSTED_PROXIES"


def trusted_proxies(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The proxies the operator names in ``CHARTER_TRUSTED_PROXIES``; none by default.

    A forwarded header is only as true as whoever set it: believed from anyone
    (or from loopback, uvicorn's default), it lets a client choose the address
    that per-client limits and ``source_ip`` conditions see. ``*`` trusts every
    peer and is only for a server no one can reach except through the proxy.
    """
    env = os.environ if environ is None else environ
    entries = [part.strip() for part in env.get(TRUSTED_PROXIES_ENV, "").split(",")]
    proxies = tuple(entry for entry in entries if entry)
    for entry in proxies:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise InvalidInput(
                f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8)",
                field=TRUSTED_PROXIES_ENV,
            ) from None
    return proxies


def proxy_options(proxies: tuple[str, ...]) -> dict[str, Any]:
    """uvicorn's settings for ``proxies``: forwarded headers off unless some are named."""
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": list(proxies)}
