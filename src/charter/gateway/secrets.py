"""Resolving the credentials the gateway injects into upstreams.

A config value is a literal, ``{env: NAME}`` (the gateway's environment) or
``{secret: KEY}`` (the secrets file: a flat YAML/JSON mapping). References are
resolved when an upstream starts, so a rotated secret is picked up on restart,
and a missing one fails that upstream loudly, naming the reference but never
printing a value.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import yaml

from charter.errors import InvalidInput
from charter.gateway.config import EnvRef, GatewayConfig, SecretRef, Value

MAX_SECRETS_BYTES = 256 * 1024


class Secrets:
    """The values the gateway may inject, and the means to keep them out of messages."""

    def __init__(self, values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> None:
        self._values = dict(values)
        self._environ = os.environ if environ is None else environ
        self._used: set[str] = set()

    @classmethod
    def load(cls, config: GatewayConfig, environ: Mapping[str, str] | None = None) -> Secrets:
        if config.secrets_file is None:
            return cls({}, environ)
        return cls(read_secrets_file(config.resolve_path(config.secrets_file)), environ)

    def resolve(self, value: Value, *, field: str) -> str:
        """The concrete text of one config value."""
        if isinstance(value, str):
            return value
        if isinstance(value, EnvRef):
            found = self._environ.get(value.env)
            if found is None:
                raise InvalidInput(
                    f"environment variable {value.env} is not set "
                    f"(the gateway needs it for {field})",
                    field=field,
                )
            self._used.add(found)
            return value.prefix + found
        if isinstance(value, SecretRef):
            if value.secret not in self._values:
                raise InvalidInput(
                    f"secret {value.secret!r} is not in the secrets file (needed for {field})",
                    field=field,
                )
            found = self._values[value.secret]
            self._used.add(found)
            return value.prefix + found
        raise InvalidInput(f"unsupported value for {field}", field=field)  # pragma: no cover

    def resolve_all(self, values: Mapping[str, Value], *, field: str) -> dict[str, str]:
        return {
            name: self.resolve(value, field=f"{field}.{name}") for name, value in values.items()
        }

    def redact(self, text: str) -> str:
        """``text`` with every injected secret value replaced, for errors an agent may see."""
        for value in sorted(self._used | set(self._values.values()), key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "[redacted]")
        return text


def read_secrets_file(path: Path) -> dict[str, str]:
    """Read a flat mapping of secret names to string values; warn-level strictness on access."""
    try:
        info = path.stat()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read secrets file {path}: {exc.strerror}", field="secrets_file"
        ) from exc
    if info.st_size > MAX_SECRETS_BYTES:
        raise InvalidInput(
            f"secrets file {path} is larger than {MAX_SECRETS_BYTES} bytes", field="secrets_file"
        )
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(
            f"secrets file {path} is readable by others (mode {stat.filemode(info.st_mode)}); "
            f"run: chmod 600 {path}",
            field="secrets_file",
        )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"secrets file {path} is not a YAML/JSON mapping: {exc}", field="secrets_file"
        ) from exc
    if document is None:
        return {}
    if not isinstance(document, dict) or not all(
        isinstance(key, str) and isinstance(value, str | int) for key, value in document.items()
    ):
        raise InvalidInput(
            f"secrets file {path} must be a flat mapping of names to text values",
            field="secrets_file",
        )
    return {key: str(value) for key, value in document.items()}
