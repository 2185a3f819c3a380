"""The database URL Charter is given: the spellings it accepts, and why one cannot be used.

Operators write ``postgres://`` and ``postgresql://`` (Heroku, libpq, most
docs); SQLAlchemy reads the first as an unknown dialect and the second as the
psycopg2 driver, which Charter does not ship. Both mean PostgreSQL through
psycopg 3 here. Every refusal is a :class:`StoreError` naming
``CHARTER_DATABASE_URL`` and the form expected, with any password redacted.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.engine import URL

from charter.errors import StoreError

FIELD = "CHARTER_DATABASE_URL"
EXPECTED = "write sqlite:///path or postgresql://user@host:port/db"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_POSTGRES_SCHEMES = ("postgres", "postgresql")
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
#: Failures that mean no server answered, not that it refused us.
_NOT_RUNNING = ("connection refused", "timeout", "timed out", "no route to host")


def normalize_url(url: str) -> str:
    """``postgres://…`` and ``postgresql://…`` become ``postgresql+psycopg://…``."""
    scheme, separator, rest = url.strip().partition("://")
    if separator and scheme.lower() in _POSTGRES_SCHEMES:
        return f"postgresql+psycopg://{rest}"
    return url.strip()


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (also when SQLAlchemy cannot parse it)."""
    return _PASSWORD.sub(r"\1***@", url)


def parse_url(url: str) -> URL:
    """The parsed, normalized URL of a supported backend, or a one-line refusal."""
    text = normalize_url(url)
    try:
        parsed = sa.engine.make_url(text)
    except (sa.exc.ArgumentError, ValueError):
        raise StoreError(
            f"{redact(url.strip())!r} is not a database URL: {EXPECTED}", field=FIELD
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise StoreError(
            f"{backend!r} databases are not supported (only SQLite and PostgreSQL): {EXPECTED}",
            field=FIELD,
        )
    return parsed


def missing_driver(url: URL) -> StoreError:
    return StoreError(
        f"the database driver {url.drivername!r} is not installed: {EXPECTED}", field=FIELD
    )


def sqlite_unusable(path: str, reason: str) -> StoreError:
    hint = "" if "not a database" in reason else "; check that its directory is writable"
    return StoreError(f"cannot open the SQLite database {path} ({reason}){hint}", field=FIELD)


def cannot_connect(url: URL, exc: BaseException) -> StoreError:
    """Why the database at ``url`` did not answer, in one line, without its password."""
    cause = getattr(exc, "orig", None) or exc
    reason = _reason(str(cause))
    if url.password:
        reason = reason.replace(str(url.password), "***")
    if url.get_backend_name() == "sqlite":
        return sqlite_unusable(url.database or ":memory:", reason)
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    hint = "; is PostgreSQL running?" if any(w in reason for w in _NOT_RUNNING) else ""
    return StoreError(f"cannot connect to {where} ({reason}){hint}", field=FIELD)


def _reason(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else "no reason given"
    reason = first.rsplit("failed: ", 1)[-1].removeprefix("FATAL:").strip()
    return reason[:1].lower() + reason[1:]
