"""The PEP's ``X-Request-ID``, echoed back when it is safe to (AuthZEN §10.1).

Both the security middleware (on refusals, before any router runs) and the
AuthZEN router echo it, so the check lives here, below both.
"""

from __future__ import annotations

MAX_REQUEST_ID = 256


def echoable_request_id(sent: str | None) -> str | None:
    """The PEP's ``X-Request-ID`` if it is safe to send back (printable ASCII, bounded)."""
    if sent and len(sent) <= MAX_REQUEST_ID and sent.isprintable() and sent.isascii():
        return sent
    return None
