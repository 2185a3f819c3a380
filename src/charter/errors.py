"""The exception tree.

Interfaces turn these into a clear message: the CLI exits 2 and names the field,
the API answers 4xx with an RFC 9457 problem body. Nothing else should escape a
service for bad input.
"""

from __future__ import annotations


class CharterError(Exception):
    """Base of every error Charter raises on purpose."""

    #: HTTP status the API answers with.
    status: int = 400
    #: A short, stable, machine-readable code (also the problem ``type`` suffix).
    code: str = "charter-error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message


class InvalidInput(CharterError):
    """Input that does not fit the model: a missing field, a bad pattern, a bad file."""

    status = 422
    code = "invalid-input"


class InputTooLarge(InvalidInput):
    status = 413
    code = "input-too-large"


class InputTooDeep(InvalidInput):
    """JSON or YAML nested past the limit: refused before a recursive parser sees it."""

    status = 400
    code = "input-too-deep"


class NotFound(CharterError):
    status = 404
    code = "not-found"


class Conflict(CharterError):
    """The request clashes with what is stored: a duplicate name, a stale version."""

    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal-transition"


class PermissionDenied(CharterError):
    status = 403
    code = "forbidden"


class Unauthenticated(CharterError):
    status = 401
    code = "unauthenticated"


class StoreError(CharterError):
    """The store is not usable: not initialised, unreachable, or migrated ahead of us."""

    status = 503
    code = "store-unavailable"
