"""Token endpoint request parameters (RFC 6749 §3.2, RFC 8707 §2, RFC 8693 §2.1).

Parameters arrive ``application/x-www-form-urlencoded``. Each may appear once
(RFC 6749 §3.2), except ``resource`` and ``audience``, which may repeat to ask
for several audiences (RFC 8707 §2, RFC 8693 §2.1). A ``resource`` is an
absolute URI without a fragment; anything else is ``invalid_target``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urlsplit

from charter.domain.tokens.errors import OAuthError, OAuthErrorCode, invalid_request

CLIENT_CREDENTIALS = "client_credentials"
REPEATABLE = frozenset({"resource", "audience"})
MAX_BODY = 64 * 1024
MAX_RESOURCES = 10
MAX_FIELDS = 64


def parse_form(text: str) -> dict[str, list[str]]:
    """``application/x-www-form-urlencoded`` (WHATWG URL §5.1), without ``parse_qs``' overhead:
    a JWT never needs unquoting, so only pairs holding ``%`` or ``+`` are decoded."""
    params: dict[str, list[str]] = {}
    pairs = text.split("&")
    if len(pairs) > MAX_FIELDS:
        raise invalid_request(f"at most {MAX_FIELDS} parameters", reason="too_many_parameters")
    for pair in pairs:
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        params.setdefault(name, []).append(value)
    return params


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One request to the token endpoint, as the HTTP layer received it.

    ``url`` is the URL the request arrived at (for DPoP's ``htu``); ``actor``
    names the caller for the audit log until it has authenticated.
    """

    params: Mapping[str, Sequence[str]]
    dpop: str | None = None
    url: str | None = None
    actor: str = "api"
    #: the caller's event loop, if it awaits the answer there (see Ledger.submit)
    loop: asyncio.AbstractEventLoop | None = field(default=None, compare=False, repr=False)

    @classmethod
    def form(
        cls,
        body: bytes,
        *,
        dpop: str | None = None,
        url: str | None = None,
        actor: str = "api",
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> TokenRequest:
        """Parse a form body (size-limited, strict UTF-8)."""
        if len(body) > MAX_BODY:
            raise invalid_request(f"the request body is larger than {MAX_BODY} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise invalid_request("the request body is not UTF-8") from exc
        return cls(parse_form(text), dpop, url, actor, loop)

    def single(self) -> dict[str, str]:
        """Every non-repeatable parameter once; a repeated one is ``invalid_request``."""
        out: dict[str, str] = {}
        for name, values in self.params.items():
            if name in REPEATABLE:
                continue
            if len(values) != 1:
                raise invalid_request(
                    f"parameter {name!r} is given more than once",
                    reason="repeated_parameter",
                    field=name,
                )
            out[name] = values[0]
        return out

    def resources(self) -> tuple[str, ...]:
        """RFC 8707 §2 ``resource`` URIs plus RFC 8693 ``audience`` names, validated."""
        values = [*self.params.get("resource", ()), *self.params.get("audience", ())]
        if len(values) > MAX_RESOURCES:
            raise OAuthError(
                OAuthErrorCode.INVALID_TARGET,
                f"at most {MAX_RESOURCES} resources",
                reason="too_many_resources",
                field="resource",
            )
        out: list[str] = []
        logical = set(self.params.get("audience", ()))
        for value in values:
            parts = urlsplit(value)
            if not value or len(value) > 512:
                raise OAuthError(
                    OAuthErrorCode.INVALID_TARGET,
                    "a resource is 1 to 512 characters",
                    reason="bad_resource",
                    field="resource",
                )
            if value not in logical and (not parts.scheme or parts.fragment or "#" in value):
                raise OAuthError(
                    OAuthErrorCode.INVALID_TARGET,
                    f"resource {value[:100]!r} must be an absolute URI without a fragment",
                    reason="bad_resource",
                    field="resource",
                )
            if value not in out:
                out.append(value)
        return tuple(out)
