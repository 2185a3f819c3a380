"""Real protocol peers on loopback for the delivery tests and the bench.

* :class:`MailServer` — aiosmtpd with STARTTLS (a self-signed certificate the
  client must verify) and AUTH required; records every message it accepts.
* :class:`Receiver` — one HTTP server playing a Slack and a Teams incoming
  webhook, a generic webhook receiver that verifies Standard Webhooks
  signatures itself (independently of Charter's code), GitHub's and Jira's
  issue endpoints (replies shaped as in their documentation), and channels that
  refuse, stall or answer garbage.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SMTP_USER, SMTP_PASSWORD = "charter", "mail-password-123"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "data": envelope.content.decode("utf-8", "replace"),
                "tls": session.ssl is not None,
                "auth": session.authenticated,
            }
        )
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == SMTP_USER.encode()
        and data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # False: the server answers 535


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailServer:
    def __init__(self, directory: Path) -> None:
        self.cert, key = self_signed(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.recorder = _Recorder()
        self._controller = Controller(
            self.recorder,
            hostname="127.0.0.1",
            port=_free_port(),
            tls_context=context,
            require_starttls=True,
            authenticator=_authenticate,
            auth_required=True,
        )

    def __enter__(self) -> MailServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.recorder.messages


def verify_standard_webhook(secret: str, headers: Any, body: bytes, window: int = 300) -> str:
    """The receiver's recipe (docs/notices.md), written from the scheme, not from Charter."""
    msg_id = headers["webhook-id"]
    stamp = headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > window:
        raise ValueError("stale")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.partition(",")[2] for s in headers["webhook-signature"].split()]
    if not any(hmac.compare_digest(expected, g) for g in given):
        raise ValueError("bad signature")
    return str(msg_id)


#: from GitHub's REST docs, "Create an issue" (201) — the fields Charter reads and a few more
GITHUB_ISSUE = {
    "id": 1,
    "node_id": "MDU6SXNzdWUx",
    "url": "https://api.github.com/repos/octocat/Hello-World/issues/1347",
    "html_url": "https://github.com/octocat/Hello-World/issues/1347",
    "number": 1347,
    "state": "open",
    "title": "Found a bug",
    "body": "I'm having a problem with this.",
    "locked": False,
    "comments": 0,
}
#: from Jira's REST v2 docs, "Create issue" (201) and "Get issue" (fields.status)
JIRA_CREATED = {
    "id": "10000",
    "key": "ED-24",
    "self": "https://your-domain.atlassian.net/rest/api/2/issue/10000",
    "transition": {"status": 200, "errorCollection": {"errorMessages": [], "errors": {}}},
}


def jira_issue(done: bool) -> dict[str, Any]:
    category = (
        {"id": 3, "key": "done", "name": "Done"}
        if done
        else {
            "id": 2,
            "key": "new",
            "name": "To Do",
        }
    )
    return {
        "id": "10000",
        "key": "ED-24",
        "fields": {"status": {"name": "Done" if done else "To Do", "statusCategory": category}},
    }


class Receiver:
    """One loopback HTTP server; each path plays one peer (see the module docstring)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.hits: Counter[str] = Counter()
        self.webhook_ids: list[str] = []
        self.bodies: dict[str, list[Any]] = {}
        self.bad_signatures = 0
        self.issue_closed = False
        self.jira_done = False
        self.github_auth: list[str] = []
        self.jira_auth: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.handle_post(self, body)

            def do_GET(self) -> None:
                receiver.handle_get(self)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # several workers' parallel sends

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _record(self, path: str, value: Any) -> None:
        with self._lock:
            self.hits[path] += 1
            self.bodies.setdefault(path, []).append(value)

    def handle_post(self, handler: Any, body: bytes) -> None:
        path = handler.path
        if path == "/webhook":
            try:
                msg_id = verify_standard_webhook(self.secret, handler.headers, body)
            except (ValueError, KeyError):
                with self._lock:
                    self.bad_signatures += 1
                handler._reply(401, b'{"error":"signature"}')
                return
            with self._lock:
                self.webhook_ids.append(msg_id)
            self._record(path, json.loads(body))
            handler._reply(204, b"")
        elif path == "/slack":
            self._record(path, json.loads(body))
            handler._reply(200, b"ok", "text/plain")
        elif path == "/teams":
            self._record(path, json.loads(body))
            handler._reply(202, b"1", "text/plain")
        elif path == "/refuse":
            self._record(path, body)
            handler._reply(503, b'{"message":"maintenance"}')
        elif path == "/garbage":  # a Slack webhook that answers something else than "ok"
            self._record(path, body)
            handler._reply(200, b"<html>login</html>", "text/html")
        elif path == "/slow":
            self._record(path, body)
            time.sleep(3)
            handler._reply(200, b"ok", "text/plain")
        elif path == "/repos/acme/ops/issues":
            self.github_auth.append(handler.headers.get("authorization", ""))
            self._record(path, json.loads(body))
            handler._reply(201, json.dumps(GITHUB_ISSUE).encode())
        elif path == "/rest/api/2/issue":
            self.jira_auth.append(handler.headers.get("authorization", ""))
            self._record(path, json.loads(body))
            handler._reply(201, json.dumps(JIRA_CREATED).encode())
        else:
            handler._reply(404, b'{"message":"Not Found"}')

    def handle_get(self, handler: Any) -> None:
        path = handler.path.split("?")[0]
        self._record(path, None)
        if path == "/repos/acme/ops/issues/1347":
            state = "closed" if self.issue_closed else "open"
            handler._reply(200, json.dumps({**GITHUB_ISSUE, "state": state}).encode())
        elif path == "/rest/api/2/issue/ED-24":
            handler._reply(200, json.dumps(jira_issue(self.jira_done)).encode())
        else:
            handler._reply(404, b'{"message":"Not Found"}')
