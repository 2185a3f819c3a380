"""Pages of AuthZEN search results: limits, and opaque page tokens bound to their query.

A token is ``base64url(offset ‖ query digest ‖ MAC)``: the offset of the next
result, a digest of the query it continues (subject, action, resource,
context, kind and ``page.limit``: AuthZEN requires them unchanged between
pages), and an HMAC-SHA-256 over both under a key the service derives from
the master key (the same on every replica). An altered, truncated or foreign
token, or one replayed with a different query, is refused naming ``page.token``.
Results are sorted by id, so pages taken in turn cover each result once while
the policy stays the same (AuthZEN promises no snapshot across pages).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from charter.errors import InvalidInput

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_TOKEN_LENGTH = 128
_DIGEST = 16
_MAC = 16
_OFFSET = struct.Struct(">I")
_RAW = _OFFSET.size + _DIGEST + _MAC
_LABEL = b"charter authzen search page\x00"

T = TypeVar("T")


def query_digest(query: Mapping[str, Any]) -> bytes:
    """What a page token is bound to: the query, canonically serialised."""
    return hashlib.sha256(orjson.dumps(query, option=orjson.OPT_SORT_KEYS)).digest()[:_DIGEST]


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _LABEL + payload, hashlib.sha256).digest()[:_MAC]


def issue_token(key: bytes, digest: bytes, offset: int) -> str:
    payload = _OFFSET.pack(offset) + digest
    return base64.urlsafe_b64encode(payload + _mac(key, payload)).rstrip(b"=").decode("ascii")


def read_token(key: bytes, digest: bytes, token: str) -> int:
    """The offset a token continues at; :class:`InvalidInput` (``page.token``) if it is not
    one this PDP issued for this very query."""
    foreign = InvalidInput(
        "page.token is not a page token this PDP issued (altered, truncated or from elsewhere); "
        "start again without a token",
        field="page.token",
    )
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise foreign
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise foreign from None
    if len(raw) != _RAW:
        raise foreign
    payload, mac = raw[:-_MAC], raw[-_MAC:]
    if not hmac.compare_digest(mac, _mac(key, payload)):
        raise foreign
    if not hmac.compare_digest(payload[_OFFSET.size :], digest):
        raise InvalidInput(
            "page.token continues another query: subject, action, resource, context and "
            "page.limit must stay those of the first page",
            field="page.token",
        )
    offset: int = _OFFSET.unpack(payload[: _OFFSET.size])[0]
    return offset


def effective_limit(limit: int | None) -> int:
    """``page.limit`` as served: the default when absent, at most :data:`MAX_LIMIT`."""
    if limit is None:
        return DEFAULT_LIMIT
    return min(limit, MAX_LIMIT)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_token: str
    total: int

    def describe(self) -> dict[str, Any]:
        """The response's ``page`` object (AuthZEN: ``next_token`` empty at the end)."""
        return {"next_token": self.next_token, "count": len(self.items), "total": self.total}


def page_of(
    results: Sequence[T], offset: int, limit: int | None, key: bytes, digest: bytes
) -> Page[T]:
    """The page at ``offset``; a token for the next one while results remain."""
    size = effective_limit(limit)
    items = results[offset : offset + size]
    end = offset + len(items)
    more = size > 0 and end < len(results)
    return Page(items, issue_token(key, digest, end) if more else "", len(results))
