"""OAuth 2.0 error responses (RFC 6749 §5.2 and the extensions we speak).

An :class:`OAuthError` is a :class:`~charter.errors.CharterError`, so the CLI
prints it like any other; the OAuth router answers it with the RFC 6749 §5.2
JSON body (``error``, ``error_description``) and the HTTP status the RFCs name,
never with a problem document, because OAuth clients parse ``error``.

``reason`` is Charter's own stable code for *why* (``jti_replayed``,
``wrong_audience``…): it goes to the audit log and the ``charter_reason``
member of the body, so a refusal can be explained without reading logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from charter.errors import CharterError, Unauthenticated


class OAuthErrorCode(StrEnum):
    """Error codes of RFC 6749 §5.2, RFC 8707 §2, RFC 9449 §5/§8, RFC 7009 §2.2.1, RFC 7591."""

    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    INVALID_GRANT = "invalid_grant"
    UNAUTHORIZED_CLIENT = "unauthorized_client"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_SCOPE = "invalid_scope"
    INVALID_TARGET = "invalid_target"
    INVALID_DPOP_PROOF = "invalid_dpop_proof"
    USE_DPOP_NONCE = "use_dpop_nonce"
    UNSUPPORTED_TOKEN_TYPE = "unsupported_token_type"  # noqa: S105 - an error code
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code
    INVALID_CLIENT_METADATA = "invalid_client_metadata"


#: RFC 6749 §5.2: 400 for everything except a failed client authentication (401).
_STATUS = {
    OAuthErrorCode.INVALID_CLIENT: 401,
    OAuthErrorCode.INVALID_TOKEN: 401,
}


class OAuthError(CharterError):
    """A refusal an OAuth client understands: ``error`` plus a description."""

    code = "oauth-error"

    def __init__(
        self,
        error: OAuthErrorCode,
        description: str,
        *,
        reason: str,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(description, field=field)
        self.error = error
        self.reason = reason
        self.status = status or _STATUS.get(error, 400)
        self.headers = dict(headers or {})
        self.code = f"oauth-{error.value.replace('_', '-')}"

    def body(self) -> dict[str, str]:
        """The RFC 6749 §5.2 JSON body."""
        return {
            "error": self.error.value,
            "error_description": self.message,
            "charter_reason": self.reason,
        }


class InvalidToken(Unauthenticated):
    """An access token (or DPoP proof) a resource server must not accept.

    ``reason`` is a stable code: ``malformed``, ``bad_signature``,
    ``unknown_key``, ``expired``, ``wrong_issuer``, ``wrong_audience``,
    ``revoked``, ``agent_not_active``, ``charter_changed``,
    ``delegator_departed``, ``dpop_required``, ``dpop_invalid``…
    ``agent`` names the agent when the refusal is about the agent itself (not
    active, unknown, charter expired), so a resource server can cut its sessions.
    """

    code = "invalid-token"

    def __init__(self, reason: str, message: str, *, agent: str | None = None) -> None:
        super().__init__(message, field="token")
        self.reason = reason
        self.agent = agent


def invalid_request(
    description: str, *, reason: str = "invalid_request", field: str | None = None
) -> OAuthError:
    return OAuthError(OAuthErrorCode.INVALID_REQUEST, description, reason=reason, field=field)


def invalid_client(description: str, *, reason: str) -> OAuthError:
    return OAuthError(
        OAuthErrorCode.INVALID_CLIENT, description, reason=reason, field="client_assertion"
    )
