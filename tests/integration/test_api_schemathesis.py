"""The whole API fuzzed against its own OpenAPI document, over real HTTP, as an admin.

Schemathesis generates valid and invalid requests for every operation the
document names and checks each answer: never a 5xx, a status and a media type
the document declares for that operation, a body matching the declared schema,
unlisted methods 405 and the declared authentication enforced. Bounded (a fixed
number of examples per operation, a fixed seed), so it runs in ``make test`` and
any failure replays the same way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from tests.support.server import ROOT, LiveServer, charter_env, live_server

from charter.config import Settings
from charter.server import create_app
from charter.services.context import Services

EXAMPLES_PER_OPERATION = 25
#: Every check but two. ``positive_data_acceptance``: the document cannot say what
#: a request must hold to succeed (a charter's owner must be in the directory, an
#: OAuth client assertion must verify), so schema-valid requests are refused, rightly.
#: ``negative_data_rejection``: unknown query parameters are ignored, as FastAPI
#: does, and this test sends the credential even where a case drops it.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    missing_required_header,
    unsupported_method,  # a method the document does not list for a path: 405
    ignored_auth,  # the declared bearer schemes are enforced
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server with the example people and agents, so some ids exist."""
    home: Path = tmp_path_factory.mktemp("schemathesis")
    with live_server(charter_env(home)) as running:
        with running.client() as client:
            people = (ROOT / "examples" / "people.json").read_bytes()
            assert client.post("/v1/people/import", content=people).status_code == 200
            for charter in sorted((ROOT / "examples" / "agents").glob("*.yaml")):
                client.post(
                    "/v1/agents",
                    content=charter.read_bytes(),
                    headers={"content-type": "application/yaml"},
                )
        yield running


def _document() -> dict[str, Any]:
    """The OpenAPI document the server serves, built at collection (one item per operation).

    Schemathesis's fixture-based loader does not work with this pytest, so the
    document comes from the same ``create_app`` over a throwaway store.
    """
    with tempfile.TemporaryDirectory() as home:
        settings_ = Settings(home=Path(home), database_url=f"sqlite:///{home}/openapi.db")
        services = Services.from_settings(settings_)
        try:
            return create_app(services).openapi()
        finally:
            services.close()


@schemathesis.serializer("application/secevent+jwt")
def _security_event_token(ctx: schemathesis.SerializationContext, value: Any) -> dict[str, Any]:
    """A SET (RFC 8935) is sent as its compact text."""
    return {"data": value if isinstance(value, bytes) else str(value).encode()}


schema = schemathesis.openapi.from_dict(_document())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case, api: LiveServer) -> None:
    secret = api.pep_key if case.path.startswith("/access/") else api.admin_token
    case.call_and_validate(
        base_url=api.url, headers={"Authorization": f"Bearer {secret}"}, checks=CHECKS, timeout=60
    )
