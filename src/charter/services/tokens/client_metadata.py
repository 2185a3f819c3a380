"""Client ID Metadata Documents: an https URL as ``client_id``
(draft-ietf-oauth-client-id-metadata-document, the MCP authorization spec's
"Client ID Metadata Documents").

A client names itself by a URL; the document at that URL is its client
metadata (RFC 7591 §2 members). Charter fetches it with care, because the URL
comes from whoever sends the request:

* the URL must be ``https`` with a path, without fragment, user info or dot
  segments (draft §3);
* every address the host resolves to must be public — loopback, private,
  link-local, multicast and reserved addresses are refused (SSRF guard) unless
  ``CHARTER_CLIENT_METADATA_ALLOW_PRIVATE=1`` (tests and closed networks;
  it also allows ``http``);
* no redirects, a 5 s timeout, at most :data:`MAX_BYTES` (the draft's 5 KB
  recommendation), ``application/json`` only;
* the document's ``client_id`` must equal the URL exactly; it must not carry a
  ``client_secret`` nor use a shared-secret authentication method; Charter's
  clients authenticate with ``private_key_jwt``, so the document holds its
  keys inline (``jwks``); ``redirect_uris``, when present, are absolute URIs
  and a redirect URI is accepted only on an exact match;
* a valid document is cached per its ``Cache-Control: max-age`` within
  :data:`MIN_TTL`..:data:`MAX_TTL` seconds.

Known limit: the address check and the connection resolve the name separately,
so a DNS answer that changes in between (rebinding) is not caught here; run
Charter where its egress is filtered if that matters.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx

from charter.domain.tokens.errors import OAuthError, OAuthErrorCode

ALLOW_PRIVATE_ENV = "CHARTER_CLIENT_METADATA_ALLOW_PRIVATE"
MAX_BYTES = 5 * 1024
TIMEOUT = 5.0
MIN_TTL = 60.0
MAX_TTL = 24 * 3600.0
DEFAULT_TTL = 300.0
MAX_CACHED = 1000
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)
_SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})

Resolver = Callable[[str, int], list[str]]


def _resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def refused(message: str, reason: str = "client_metadata_invalid") -> OAuthError:
    return OAuthError(OAuthErrorCode.INVALID_CLIENT, message, reason=reason, field="client_id")


def is_metadata_url(client_id: object) -> bool:
    """Whether a ``client_id`` names a metadata document (an https/http URL) at all."""
    return isinstance(client_id, str) and client_id.startswith(("https://", "http://"))


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """A fetched and validated client ID metadata document."""

    client_id: str
    client_name: str | None
    redirect_uris: tuple[str, ...]
    jwks: tuple[Mapping[str, Any], ...]
    document: Mapping[str, Any]

    def redirect_uri_allowed(self, uri: str) -> bool:
        """Draft §4: a redirect URI must be one of the document's, compared exactly."""
        return uri in self.redirect_uris


class ClientMetadataDocuments:
    """Fetches, checks and caches client ID metadata documents (thread-safe)."""

    def __init__(
        self,
        *,
        allow_private: bool | None = None,
        resolver: Resolver = _resolve,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if allow_private is None:
            allow_private = os.environ.get(ALLOW_PRIVATE_ENV, "") in ("1", "true", "yes")
        self.allow_private = allow_private
        self._resolve = resolver
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ClientMetadata]] = {}

    def check_url(self, url: str) -> SplitResult:
        """Draft §3's rules for a client identifier URL, and the SSRF guard."""
        parts = urlsplit(url)
        schemes = ("https", "http") if self.allow_private else ("https",)
        if parts.scheme not in schemes or not parts.hostname:
            raise refused("a client_id URL must be https with a host")
        if parts.fragment or "#" in url or parts.username or parts.password:
            raise refused("a client_id URL has no fragment and no user or password")
        if not parts.path or parts.path == "/":
            raise refused("a client_id URL must have a path")
        if any(segment in (".", "..") for segment in parts.path.split("/")):
            raise refused("a client_id URL must not have . or .. path segments")
        if len(url) > 2048:
            raise refused("a client_id URL is at most 2048 characters")
        if not self.allow_private:
            port = parts.port or 443
            try:
                addresses = self._resolve(parts.hostname, port)
            except (OSError, UnicodeError) as exc:
                raise refused(f"the client_id host does not resolve: {exc}") from exc
            for address in addresses or ["0.0.0.0"]:  # noqa: S104 - an address checked, not bound
                if not ipaddress.ip_address(address.split("%")[0]).is_global:
                    raise refused(
                        "the client_id host resolves to a non-public address",
                        "client_metadata_ssrf",
                    )
        return parts

    def resolve(self, url: str) -> ClientMetadata:
        """The validated document at ``url`` (from the cache while fresh)."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            return cached[1]
        self.check_url(url)
        metadata, ttl = self._fetch(url)
        with self._lock:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[url] = (now + ttl, metadata)
        return metadata

    def _fetch(self, url: str) -> tuple[ClientMetadata, float]:
        try:
            with (
                httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as http,
                http.stream("GET", url, headers={"Accept": "application/json"}) as response,
            ):
                if response.status_code != 200:
                    raise refused(
                        f"the client metadata document answered HTTP {response.status_code}"
                    )
                media = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if media != "application/json":
                    raise refused("the client metadata document must be application/json")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise refused(f"the client metadata document is over {MAX_BYTES} bytes")
                cache_control = response.headers.get("cache-control", "")
        except httpx.HTTPError as exc:
            raise refused(f"the client metadata document could not be fetched: {exc}") from exc
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise refused("the client metadata document is not JSON") from exc
        return validate(document, url), _ttl(cache_control)


def _ttl(cache_control: str) -> float:
    found = _MAX_AGE.search(cache_control)
    ttl = float(found.group(1)) if found else DEFAULT_TTL
    return min(max(ttl, MIN_TTL), MAX_TTL)


def _absolute(uri: object) -> bool:
    if not isinstance(uri, str) or len(uri) > 2048:
        return False
    parts = urlsplit(uri)
    return bool(parts.scheme) and not parts.fragment and (bool(parts.netloc) or ":" in uri)


def validate(document: object, url: str) -> ClientMetadata:
    """Check a document against its URL (draft §4.1 and what Charter needs of a client)."""
    if not isinstance(document, dict):
        raise refused("the client metadata document is a JSON object")
    if document.get("client_id") != url:
        raise refused("the document's client_id must be exactly its own URL")
    if "client_secret" in document or "client_secret_expires_at" in document:
        raise refused("a client metadata document must not hold a client_secret")
    method = document.get("token_endpoint_auth_method", "private_key_jwt")
    if method in _SECRET_METHODS:
        raise refused(f"token_endpoint_auth_method {method!r} uses a shared secret: not allowed")
    if method != "private_key_jwt":
        raise refused("Charter's clients authenticate with private_key_jwt")
    redirect_uris = document.get("redirect_uris", [])
    if not isinstance(redirect_uris, list) or not all(_absolute(u) for u in redirect_uris):
        raise refused("redirect_uris is a list of absolute URIs without fragments")
    if "jwks_uri" in document and "jwks" not in document:
        raise refused("put the keys inline as jwks: Charter does not follow jwks_uri here")
    jwks = document.get("jwks")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys or not all(isinstance(k, dict) for k in keys):
        raise refused("the document needs jwks with the client's public keys")
    if any("d" in key for key in keys):
        raise refused("the document's jwks holds a private key")
    name = document.get("client_name")
    return ClientMetadata(
        client_id=url,
        client_name=name if isinstance(name, str) else None,
        redirect_uris=tuple(redirect_uris),
        jwks=tuple(keys),
        document=document,
    )
