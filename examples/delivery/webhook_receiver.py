"""A webhook receiver that verifies Charter's signatures (Standard Webhooks), stdlib only.

    CHARTER_WEBHOOK_SECRET=whsec_... python examples/delivery/webhook_receiver.py --port 8500

Every POST is checked before it is trusted: the ``webhook-timestamp`` within
five minutes of now (the replay window), then ``webhook-signature`` equal to
``v1,`` + base64(HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{raw body}")),
where ``key`` is the base64 after ``whsec_``. A ``webhook-id`` seen before is
acknowledged and dropped (a retry of a message that already arrived). Verified
events are printed one JSON line each; anything else is answered 401.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WINDOW = 300


def verify(secret: str, headers: dict[str, str], body: bytes, now: float) -> str:
    """The webhook-id of a genuine, fresh message; ValueError otherwise."""
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not msg_id or not stamp.isdigit() or not signatures:
        raise ValueError("missing webhook headers")
    if abs(now - int(stamp)) > WINDOW:
        raise ValueError("timestamp outside the replay window")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():  # space-separated, one per key during a rotation
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(expected, value):
            return msg_id
    raise ValueError("no signature matches")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8500)
    args = parser.parse_args()
    secret = os.environ["CHARTER_WEBHOOK_SECRET"]
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def _reply(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self._reply(200 if self.path == "/healthz" else 404)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                msg_id = verify(secret, headers, body, time.time())
            except ValueError as exc:
                print(f"refused: {exc}", file=sys.stderr, flush=True)
                self._reply(401)
                return
            if msg_id not in seen:
                seen.add(msg_id)
                event = json.loads(body)
                print(json.dumps({"id": msg_id, **event}), flush=True)
            self._reply(204)

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
