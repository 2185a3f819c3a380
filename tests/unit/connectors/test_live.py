"""Live API fetch, replayed from recorded real-format responses (the remote side is a
MockTransport).

Each replay pages the way the real API pages (Link headers, @odata.nextLink,
nextPageToken, Kubernetes ``continue``, Slack cursors), and the records it
yields must equal what the same data gives when read from export files.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import pytest

from charter.connectors import registry
from charter.connectors.base import LiveApiError

from .helpers import LIVE, materialise, normalise, replay

#: Every connector with a live API; each recording names its target in replay.json.
LIVE_SOURCES = sorted(c.id for c in registry.CONNECTORS.values() if c.live_api is not None)


def _recording(source: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((LIVE / source / "replay.json").read_text())
    return data


def _comparable(records: list[Any], *, drop: tuple[str, ...] = ()) -> list[Any]:
    return sorted(
        (dataclasses.replace(r, **dict.fromkeys(drop)) for r in records), key=lambda r: r.id
    )


@pytest.mark.parametrize("source", LIVE_SOURCES)
def test_live_fetch_replays_and_matches_the_export_files(source: str) -> None:
    connector = registry.get(source)
    recording = _recording(source)
    transport, asked = replay(source)
    with httpx.Client(transport=transport) as client:
        live = materialise(connector.normalize(connector.fetch_live(client, recording["target"])))
    assert not [a for a in asked if "no recorded" in a]
    assert len(asked) >= 2, "pagination or several endpoints were followed"
    assert live.identities, "the recording yields identities"
    files = normalise(source)
    accounts = {b.account for b in live.batches}  # a recording may cover fewer accounts
    files.identities = [i for i in files.identities if i.account in accounts]
    files.credentials = [c for c in files.credentials if c.account in accounts]
    files.grants = [g for g in files.grants if g.account in accounts]
    drop = tuple(recording.get("not_in_api", ()))  # fields only an export carries
    assert _comparable(live.identities, drop=drop) == _comparable(files.identities, drop=drop)
    assert _comparable(live.credentials, drop=drop) == _comparable(files.credentials, drop=drop)
    assert _comparable(live.grants) == _comparable(files.grants)


def test_an_api_error_is_an_upstream_error_naming_the_url() -> None:
    connector = registry.get("github")

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "Bad credentials"})

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        raw = connector.fetch_live(client, "acme")
        with pytest.raises(
            LiveApiError, match=r"personal-access-tokens answered HTTP 401: .*Bad credentials"
        ):
            connector.normalize(raw)


def test_live_needs_a_token(monkeypatch: pytest.MonkeyPatch, sqlite_services: Any) -> None:
    monkeypatch.delenv("CHARTER_GITHUB_TOKEN", raising=False)
    from charter.errors import InvalidInput

    with pytest.raises(InvalidInput, match="set CHARTER_GITHUB_TOKEN"):
        sqlite_services.estate.ingest.ingest_live("github", "acme", actor="t")


@pytest.mark.parametrize("source", LIVE_SOURCES)
def test_live_ingest_through_the_service_authenticates_as_the_connector_declares(
    source: str, sqlite_services: Any
) -> None:
    api = registry.get(source).live_api
    assert api is not None
    transport, _ = replay(source)
    seen: list[httpx.Headers] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return transport.handle_request(request)

    report = sqlite_services.estate.ingest.ingest_live(
        source,
        _recording(source)["target"],
        actor="t",
        token="00abcEXAMPLE",
        transport=httpx.MockTransport(spy),
    )
    assert seen and report.results
    for headers in seen:
        assert headers["authorization"] == f"{api.scheme} 00abcEXAMPLE"
        for name, value in api.headers:
            assert headers[name] == value


def test_okta_tokens_go_in_oktas_own_scheme(sqlite_services: Any) -> None:
    transport, _ = replay("okta")
    seen: list[str] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return transport.handle_request(request)

    report = sqlite_services.estate.ingest.ingest_live(
        "okta", "acme.okta.com", actor="t", token="00abcEXAMPLE", transport=httpx.MockTransport(spy)
    )
    assert set(seen) == {"SSWS 00abcEXAMPLE"}
    assert report.results[0].identities.created == 8


def test_github_gets_its_media_type_and_api_version() -> None:
    api = registry.get("github").live_api
    assert api is not None
    headers = api.request_headers("t")
    assert headers["Accept"] == "application/vnd.github+json"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert headers["Authorization"] == "Bearer t"


def test_a_cluster_ca_is_trusted_only_where_the_connector_declares_one() -> None:
    environ = {"CHARTER_K8S_CA": "/etc/charter/k8s-ca.pem"}
    for connector in registry.CONNECTORS.values():
        api = connector.live_api
        if api is None:
            continue
        expected = "/etc/charter/k8s-ca.pem" if api.ca_env == "CHARTER_K8S_CA" else True
        assert api.verify(environ) == expected, connector.id
        assert api.verify({}) is True
    k8s = registry.get("k8s").live_api
    assert k8s is not None and k8s.ca_env == "CHARTER_K8S_CA"
