"""Scopes: the actions a token may be used for, never more than the charter allows.

A scope is an action name (``tickets.read``, an MCP tool name), one
``scope-token`` of RFC 6749 §3.3. A scope is *within the charter* when some
``allow`` capability's action pattern matches it and no unconditional ``deny``
on every resource (``resource: "*"``) matches it — deny wins. A scope holding
``*`` is refused: a token carries concrete actions, never patterns, so a
resource server cannot read more into it than was granted.

A token's scope is a ceiling, not a decision: every request made with it is
still decided against the charter (resources, conditions, schedules).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from charter.domain.charter import Capability, CharterSpec
from charter.domain.patterns import parse_pattern
from charter.domain.tokens.errors import OAuthError, OAuthErrorCode

#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,256}")
MAX_SCOPES = 100


def parse_scope(value: str | None) -> tuple[str, ...]:
    """Split a ``scope`` parameter into distinct scope tokens, in the order given."""
    if value is None or not value.strip():
        return ()
    scopes: list[str] = []
    for token in value.split(" "):
        if not token:
            continue
        if _SCOPE_TOKEN.fullmatch(token) is None or "*" in token:
            raise OAuthError(
                OAuthErrorCode.INVALID_SCOPE,
                f"{token[:64]!r} is not a scope: a scope is one action name, without '*'",
                reason="malformed_scope",
                field="scope",
            )
        if token not in scopes:
            scopes.append(token)
    if len(scopes) > MAX_SCOPES:
        raise OAuthError(
            OAuthErrorCode.INVALID_SCOPE,
            f"at most {MAX_SCOPES} scopes",
            reason="malformed_scope",
            field="scope",
        )
    return tuple(scopes)


def format_scope(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def _unconditional(capability: Capability) -> bool:
    return not (capability.when or capability.schedule or capability.valid)


def within_charter(charter: CharterSpec, scope: str) -> bool:
    if any(
        capability.resource == "*"
        and _unconditional(capability)
        and parse_pattern(capability.action).matches(scope)
        for capability in charter.deny
    ):
        return False
    return any(parse_pattern(c.action).matches(scope) for c in charter.allow)


def outside_charter(charter: CharterSpec, scopes: Sequence[str]) -> list[str]:
    """The requested scopes the charter does not allow (an escalation if non-empty)."""
    return [scope for scope in scopes if not within_charter(charter, scope)]


def default_scopes(charter: CharterSpec) -> tuple[str, ...]:
    """RFC 6749 §3.3's pre-defined default: the charter's exact (wildcard-free) allowed actions."""
    out: list[str] = []
    for capability in charter.allow:
        pattern = parse_pattern(capability.action)
        text = pattern.text
        exact = pattern.is_exact and "\\" not in text
        if exact and text not in out and within_charter(charter, text):
            out.append(text)
    return tuple(out)


def require_within_charter(charter: CharterSpec, scopes: Sequence[str]) -> tuple[str, ...]:
    """The scopes to grant: the request (or the default), refusing any escalation."""
    wanted = tuple(scopes) or default_scopes(charter)
    if not wanted:
        raise OAuthError(
            OAuthErrorCode.INVALID_SCOPE,
            "no scope was requested and the charter allows no exact action to default to",
            reason="no_scope",
            field="scope",
        )
    beyond = outside_charter(charter, wanted)
    if beyond:
        raise OAuthError(
            OAuthErrorCode.INVALID_SCOPE,
            f"the charter of {charter.name} does not allow: {', '.join(beyond)}",
            reason="scope_escalation",
            field="scope",
        )
    return wanted
