"""Live API fetch, replayed from recorded real-format responses (the remote side is a
MockTransport).

Each replay pages the way the real API pages (Link headers, @odata.nextLink,
nextPageToken, Kubernetes ``continue``, Slack cursors), and the records it
yields must equal what the same data gives when read from export files.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from charter.connectors import registry
from charter.connectors.base import UpstreamError

from .helpers import materialise, normalise, replay

TARGETS = {
    "github": "acme",
    "okta": "acme.okta.com",
    "entra": "7f3c2b1a-5d4e-4c3b-9a2f-1e0d9c8b7a65",
    "gcp": "acme-ml-prod",
    "k8s": "https://prod-eu-1.k8s.example:6443",
    "slack": "E0ACME01",
    "gworkspace": "C03acme01",
}


def _comparable(records: list[Any], *, drop: tuple[str, ...] = ()) -> list[Any]:
    return sorted(
        (dataclasses.replace(r, **dict.fromkeys(drop)) for r in records), key=lambda r: r.id
    )


@pytest.mark.parametrize("source", sorted(TARGETS))
def test_live_fetch_replays_and_matches_the_export_files(source: str) -> None:
    connector = registry.get(source)
    transport, asked = replay(source)
    with httpx.Client(transport=transport) as client:
        live = materialise(connector.normalize(connector.fetch_live(client, TARGETS[source])))
    assert not [a for a in asked if "no recorded" in a]
    assert len(asked) >= 2, "pagination or several endpoints were followed"
    files = normalise(source)
    if source == "k8s":  # one cluster recorded
        files.identities = [i for i in files.identities if i.account == "prod-eu-1"]
        files.credentials = [c for c in files.credentials if c.account == "prod-eu-1"]
        files.grants = [g for g in files.grants if g.account == "prod-eu-1"]
    drop = (
        ("last_used_at",) if source == "gcp" else ()
    )  # last use comes from Policy Analyzer, not the IAM API
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
            UpstreamError, match=r"personal-access-tokens answered HTTP 401: .*Bad credentials"
        ):
            connector.normalize(raw)


def test_live_needs_a_token(monkeypatch: pytest.MonkeyPatch, sqlite_services: Any) -> None:
    monkeypatch.delenv("CHARTER_GITHUB_TOKEN", raising=False)
    from charter.errors import InvalidInput

    with pytest.raises(InvalidInput, match="set CHARTER_GITHUB_TOKEN"):
        sqlite_services.estate.ingest.ingest_live("github", "acme", actor="t")


def test_live_ingest_through_the_service_sends_the_token(
    monkeypatch: pytest.MonkeyPatch, sqlite_services: Any
) -> None:
    transport, _ = replay("okta")
    seen: list[str] = []

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return transport.handle_request(request)

    report = sqlite_services.estate.ingest.ingest_live(
        "okta", "acme.okta.com", actor="t", token="00abcEXAMPLE", transport=httpx.MockTransport(spy)
    )
    assert set(seen) == {"SSWS 00abcEXAMPLE"}  # Okta's own scheme
    assert report.results[0].identities.created == 8
