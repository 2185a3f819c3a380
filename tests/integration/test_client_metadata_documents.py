"""Client ID Metadata Documents at Charter's token endpoint, with the document on loopback.

A real HTTP server on 127.0.0.1 serves the client's metadata document; the
Charter server runs with ``CHARTER_CLIENT_METADATA_ALLOW_PRIVATE=1`` (without
it, loopback is refused: the SSRF guard, checked at the end). The client
authenticates with ``private_key_jwt`` under ``client_id=<its URL>``; the key
is one enrolled for ``helpdesk-bot`` in Charter, so the token is that agent's,
within its charter.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from tests.support.server import LiveServer, live_server
from tests.unit.gateway.stack import ISSUER, REVIEWER_CHARTER, env_for, prepare_store

from charter.domain.tokens.client_auth import ASSERTION_TYPE
from charter.domain.tokens.errors import OAuthError
from charter.domain.tokens.jwk import PrivateKey, jwk_from_public_key
from charter.domain.tokens.jws import sign
from charter.services.tokens.client_metadata import ClientMetadataDocuments


@dataclass
class Documents:
    """What the loopback server answers, per path; and how often it was asked."""

    base: str = ""
    served: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    def put(self, path: str, document: Any, *, content_type: str = "application/json") -> str:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.served[path] = (200, content_type, body)
        return self.base + path


@pytest.fixture(scope="module")
def documents() -> Iterator[Documents]:
    docs = Documents()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            docs.hits[self.path] = docs.hits.get(self.path, 0) + 1
            if self.path.startswith("/slow/"):
                time.sleep(2)
            status, content_type, body = docs.served.get(self.path, (404, "text/plain", b"no"))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    docs.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield docs
    server.shutdown()


@dataclass
class Setup:
    charter: LiveServer
    keys: dict[str, PrivateKey]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    from tests.unit.gateway.stack import HELPDESK_CHARTER

    home = tmp_path_factory.mktemp("cimd")
    env = env_for(home, CHARTER_CLIENT_METADATA_ALLOW_PRIVATE="1")
    keys = prepare_store(env, [HELPDESK_CHARTER, REVIEWER_CHARTER])
    with live_server(env) as charter:
        yield Setup(charter, keys)


def document(url: str, key: PrivateKey, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": url,
        "client_name": "Helpdesk assistant",
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [jwk_from_public_key(key.public_key())]},
        **extra,
    }


def token_request(
    setup: Setup, url: str, key: PrivateKey, scope: str = "read_ticket"
) -> httpx.Response:
    now = int(time.time())
    claims = {"iss": url, "sub": url, "aud": ISSUER, "iat": now, "exp": now + 60}
    claims["jti"] = uuid.uuid4().hex
    assertion = sign(claims, key, kid=jwk_from_public_key(key.public_key())["kid"])
    form = {
        "grant_type": "client_credentials",
        "client_id": url,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": scope,
    }
    return httpx.post(setup.charter.url + "/oauth/token", data=form)


def claims_of(token: str) -> dict[str, Any]:
    import base64

    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_metadata_advertises_client_id_metadata_documents(setup: Setup) -> None:
    meta = httpx.get(setup.charter.url + "/.well-known/oauth-authorization-server").json()
    assert meta["client_id_metadata_document_supported"] is True
    assert "authorization_response_iss_parameter_supported" not in meta  # no authorize endpoint


def test_a_client_named_by_its_document_gets_its_agents_token(
    setup: Setup, documents: Documents
) -> None:
    key = setup.keys["helpdesk-bot"]
    url = documents.put(
        "/clients/helpdesk.json", document(documents.base + "/clients/helpdesk.json", key)
    )
    answer = token_request(setup, url, key)
    assert answer.status_code == 200, answer.text
    claims = claims_of(answer.json()["access_token"])
    assert claims["sub"] == "helpdesk-bot" and claims["scope"] == "read_ticket"
    # again: the document comes from the cache, not the network
    assert token_request(setup, url, key).status_code == 200
    assert documents.hits["/clients/helpdesk.json"] == 1
    # and never wider than the charter
    wider = token_request(setup, url, key, scope="read_ticket delete_table")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("bend", "message"),
    [
        ({"client_id": "https://elsewhere.example/c.json"}, "exactly its own URL"),
        ({"client_secret": "s3cret"}, "client_secret"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "shared secret"),
        ({"redirect_uris": ["/relative"]}, "absolute URIs"),
        ({"jwks": {"keys": []}}, "needs jwks"),
    ],
)
def test_a_bad_document_is_refused(
    setup: Setup, documents: Documents, bend: dict[str, Any], message: str
) -> None:
    key = setup.keys["helpdesk-bot"]
    path = f"/bad/{uuid.uuid4().hex}.json"
    url = documents.base + path
    documents.put(path, {**document(url, key), **bend})
    answer = token_request(setup, url, key)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
    assert message in answer.json()["error_description"]


def test_transport_rules_size_type_and_status(setup: Setup, documents: Documents) -> None:
    key = setup.keys["helpdesk-bot"]
    big = documents.base + "/big.json"
    documents.put("/big.json", document(big, key, padding="x" * 6000))
    html = documents.base + "/page.json"
    documents.put("/page.json", document(html, key), content_type="text/html")
    missing = documents.base + "/missing.json"
    for url, message in (
        (big, "over 5120 bytes"),
        (html, "application/json"),
        (missing, "HTTP 404"),
    ):
        answer = token_request(setup, url, key)
        assert answer.status_code == 401 and message in answer.json()["error_description"]


def test_keys_must_be_enrolled_and_the_assertion_signed_by_one(
    setup: Setup, documents: Documents
) -> None:
    from charter.domain.tokens.jwk import Alg, generate_private_key

    stranger = generate_private_key(Alg.EDDSA)
    url = documents.put("/stranger.json", document(documents.base + "/stranger.json", stranger))
    answer = token_request(setup, url, stranger)
    assert answer.status_code == 401 and "enrolled" in answer.json()["error_description"]
    # the document publishes helpdesk-bot's key, but the reviewer's key signs: refused
    bot = setup.keys["helpdesk-bot"]
    url = documents.put("/bot.json", document(documents.base + "/bot.json", bot))
    forged = token_request(setup, url, setup.keys["ticket-reviewer"])
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_client"


def test_without_the_switch_loopback_and_private_addresses_are_refused(
    documents: Documents,
) -> None:
    guarded = ClientMetadataDocuments(allow_private=False)
    for url in (
        documents.base + "/clients/helpdesk.json",  # http at all
        "https://127.0.0.1/c.json",
        "https://10.0.0.8/c.json",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/c.json",
    ):
        with pytest.raises(OAuthError):
            guarded.resolve(url)
    public = ClientMetadataDocuments(
        allow_private=False, resolver=lambda host, port: ["192.168.1.20"]
    )
    with pytest.raises(OAuthError) as caught:
        public.resolve("https://client.example/c.json")  # a name resolving inward
    assert caught.value.reason == "client_metadata_ssrf"
    for url in (
        "https://client.example/",
        "https://client.example/a/../c.json",
        "https://u:p@client.example/c.json",
        "https://client.example/c.json#x",
    ):
        with pytest.raises(OAuthError):
            public.check_url(url)


def test_a_slow_document_does_not_hold_up_other_clients(setup: Setup, documents: Documents) -> None:
    key = setup.keys["helpdesk-bot"]
    url = documents.put(
        "/slow/helpdesk.json", document(documents.base + "/slow/helpdesk.json", key)
    )
    answers: list[httpx.Response] = []
    slow = threading.Thread(target=lambda: answers.append(token_request(setup, url, key)))
    slow.start()
    time.sleep(0.3)  # the slow fetch is under way
    started = time.monotonic()
    from charter.sdk.credentials import AgentCredentials

    reviewer = AgentCredentials(
        "ticket-reviewer", setup.keys["ticket-reviewer"], base_url=setup.charter.url
    )
    reviewer.token("read_ticket")
    reviewer.close()
    assert time.monotonic() - started < 1.5  # served while the document was still on its way
    slow.join()
    assert answers[0].status_code == 200, answers[0].text
