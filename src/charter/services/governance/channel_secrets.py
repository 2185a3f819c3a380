"""The secrets channels need, from the worker's environment or the delivery secrets file.

Read when a delivery pass starts (so a rotated secret is picked up on the next
pass), never written to the store, and never part of an error message: a
missing one names the reference (``env CHARTER_SLACK_URL``), not a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from charter.domain.charter_parsing import load_document
from charter.domain.governance.channels import EnvRef, SecretRef
from charter.errors import InvalidInput

MAX_SECRETS_BYTES = 256 * 1024


class ChannelSecrets:
    def __init__(self, values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> None:
        self._values = dict(values)
        self._environ = os.environ if environ is None else environ
        self._used: set[str] = set()

    @classmethod
    def load(cls, path: Path | None, environ: Mapping[str, str] | None = None) -> ChannelSecrets:
        return cls(read_secrets(path) if path is not None else {}, environ)

    def resolve(self, value: str | EnvRef | SecretRef, *, field: str) -> str:
        if isinstance(value, EnvRef):
            found = self._environ.get(value.env)
            if not found:
                raise InvalidInput(
                    f"environment variable {value.env} is not set (needed for {field})",
                    field=field,
                )
        elif isinstance(value, SecretRef):
            if value.secret not in self._values:
                raise InvalidInput(
                    f"secret {value.secret!r} is not in the secrets file (needed for {field})",
                    field=field,
                )
            found = self._values[value.secret]
        else:
            return value
        self._used.add(found)
        return found

    def redact(self, text: str) -> str:
        """``text`` without any secret value in it (errors are stored and shown)."""
        for value in sorted(self._used | set(self._values.values()), key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "[redacted]")
        return text


def read_secrets(path: Path) -> dict[str, str]:
    try:
        if path.stat().st_size > MAX_SECRETS_BYTES:
            raise InvalidInput(f"{path} is larger than {MAX_SECRETS_BYTES} bytes", field="secrets")
        document = load_document(path.read_text(encoding="utf-8"), source=str(path))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="secrets_file") from exc
    if not isinstance(document, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in document.items()
    ):
        raise InvalidInput(
            f"{path}: a secrets file is a flat mapping of names to text", field="secrets_file"
        )
    return dict(document)
