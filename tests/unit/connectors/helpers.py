"""Shared helpers for connector tests: load fixtures, normalise, replay recorded API responses."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from charter.connectors import registry
from charter.domain.batch import Batch
from charter.domain.estate import Credential, Grant, Identity

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
LIVE = FIXTURES / "live"


@dataclasses.dataclass
class Normalised:
    batches: list[Batch]
    identities: list[Identity]
    credentials: list[Credential]
    grants: list[Grant]

    def identity(self, predicate: Callable[[Identity], bool]) -> Identity:
        found = [i for i in self.identities if predicate(i)]
        assert len(found) == 1, [i.id for i in found]
        return found[0]

    def by_id(self) -> dict[str, Any]:
        return {r.id: r for r in (*self.identities, *self.credentials, *self.grants)}


def materialise(batches: list[Batch]) -> Normalised:
    identities: list[Identity] = []
    credentials: list[Credential] = []
    grants: list[Grant] = []
    for batch in batches:
        identities += list(batch.identities)
        credentials += list(batch.credentials)
        grants += list(batch.grants)
    return Normalised(batches, identities, credentials, grants)


def normalise(source: str, *paths: Path) -> Normalised:
    connector = registry.get(source)
    files = registry.files_for(connector, list(paths) or [FIXTURES / source])
    return materialise(connector.normalize(connector.fetch(files)))


def _key(method: str, url: str) -> str:
    parsed = httpx.URL(url)
    query = urlencode(sorted(parsed.params.multi_items()))
    return f"{method.upper()} {parsed.scheme}://{parsed.host}{parsed.path}?{query}"


def replay(source: str) -> tuple[httpx.MockTransport, list[str]]:
    """A transport answering from tests/fixtures/live/<source>/responses.json; unknown → 404."""
    folder = LIVE / source
    entries = json.loads((folder / "responses.json").read_text())
    table = {_key(*e["request"].split(" ", 1)): e for e in entries}
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        key = _key(request.method, str(request.url))
        asked.append(key)
        entry = table.get(key)
        if entry is None:
            return httpx.Response(404, json={"message": f"no recorded response for {key}"})
        headers = {"content-type": "application/json", **entry.get("headers", {})}
        return httpx.Response(
            entry.get("status", 200), content=(folder / entry["body"]).read_bytes(), headers=headers
        )

    return httpx.MockTransport(handler), asked
