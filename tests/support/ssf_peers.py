"""Real Shared Signals peers on loopback: a receiver Charter pushes SETs to, and an IdP
that pushes SETs to Charter. Both use PyJWT, not Charter's JOSE code, so the signatures
are checked (and made) by an independent implementation."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

RECEIVER_SECRET = "Bearer receiver-secret-123"


class SsfPeer:
    """``POST /receiver`` records pushed SETs (202; 503 for the first ``fail_first``);
    ``GET /idp/jwks`` publishes the IdP's key."""

    def __init__(self, *, fail_first: int = 0) -> None:
        self.pushed: list[dict[str, Any]] = []
        self.refused = 0
        self.fail_first = fail_first
        self.idp_key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "idp-key-1"
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != "/idp/jwks":
                    self._answer(404)
                    return
                jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(peer.idp_key.public_key()))
                self._answer(200, json.dumps({"keys": [{**jwk, "kid": peer.kid}]}).encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/receiver":
                    self._answer(404)
                    return
                if peer.refused < peer.fail_first:
                    peer.refused += 1
                    self._answer(503)
                    return
                peer.pushed.append(
                    {
                        "token": body.decode(),
                        "content_type": self.headers.get("Content-Type"),
                        "authorization": self.headers.get("Authorization"),
                        "at": time.monotonic(),
                    }
                )
                self._answer(202)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> SsfPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_pushed(self, count: int, seconds: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(self.pushed) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.pushed)

    # -- the IdP side --------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        return self.url + "/idp"

    def person_token(self, audience: str, email: str) -> str:
        """A person's token from the IdP (the ``subject_token`` of a token exchange)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": f"idp|{email}",
            "email": email,
            "aud": audience,
            "iat": now,
            "exp": now + 600,
        }
        return jwt.encode(claims, self.idp_key, algorithm="ES256", headers={"kid": self.kid})

    def idp_set(self, audience: str, event: str, email: str, **overrides: Any) -> str:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "jti": uuid.uuid4().hex,
            "iat": int(time.time()),
            "aud": audience,
            "sub_id": {"format": "email", "email": email},
            "events": {event: {"event_timestamp": int(time.time())}},
        }
        claims.update(overrides)
        return jwt.encode(
            claims,
            self.idp_key,
            algorithm="ES256",
            headers={"kid": self.kid, "typ": "secevent+jwt"},
        )


def push_set(charter_url: str, token: str) -> httpx.Response:
    """What an IdP's transmitter does (RFC 8935 §2)."""
    return httpx.post(
        f"{charter_url}/ssf/events",
        content=token,
        headers={"Content-Type": "application/secevent+jwt", "Accept": "application/json"},
        timeout=10,
    )


def verify_charter_set(charter_url: str, token: str, audience: str) -> dict[str, Any]:
    """A receiver's check of a SET from Charter: the JWKS from ``jwks_uri`` of the SSF
    configuration, the ``typ``, the signature and ``aud`` (PyJWT)."""
    config = httpx.get(f"{charter_url}/.well-known/ssf-configuration", timeout=10).json()
    jwks = httpx.get(config["jwks_uri"].replace(config["issuer"], charter_url), timeout=10).json()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "secevent+jwt"
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=[header["alg"]],
        audience=audience,
        options={"require": ["iss", "iat", "jti", "aud"]},
    )
    return claims
