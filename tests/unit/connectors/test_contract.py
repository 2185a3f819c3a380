"""Every registered connector describes itself, reads its fixtures, and normalises purely."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
from pathlib import Path
from typing import Any

import pytest

from charter import connectors
from charter.connectors import registry
from charter.connectors.base import Connector, ConnectorBase
from charter.connectors.streaming import peek
from charter.domain.credential_steps import CredentialRef
from charter.domain.governance.rotation_steps import verify_step
from charter.services.governance.credential_steps import revoke_steps, rotate_steps

from .helpers import FIXTURES, LIVE, normalise

SOURCES = sorted(registry.CONNECTORS)
GOLDEN = FIXTURES / "golden"


def test_every_connector_module_is_registered() -> None:
    """A module that defines a CONNECTOR and is missing from the registry would never run."""
    package = Path(connectors.__file__).parent
    defined = set()
    for info in pkgutil.iter_modules([str(package)]):
        module = importlib.import_module(f"charter.connectors.{info.name}")
        connector = getattr(module, "CONNECTOR", None)
        if connector is not None:
            assert info.name == connector.id, "a connector's module is named after its source"
            defined.add(connector.id)
    assert defined == set(SOURCES)


def test_each_provider_has_one_connector_that_knows_its_steps() -> None:
    owners: dict[str, list[str]] = {}
    for connector in registry.CONNECTORS.values():
        for provider in connector.providers:
            owners.setdefault(provider, []).append(connector.id)
    assert owners, "some connector declares revoke or rotate steps"
    assert {p: ids for p, ids in owners.items() if len(ids) > 1} == {}


@pytest.mark.parametrize("source", SOURCES)
def test_a_connector_that_reports_last_use_does(source: str) -> None:
    """The map reads a missing date as "never used" only for these: the fixtures must show use."""
    if registry.get(source).reports_last_use:
        found = normalise(source)
        assert any(r.last_used_at for r in (*found.identities, *found.credentials))


@pytest.mark.parametrize("source", SOURCES)
def test_a_connector_gives_no_steps_for_a_credential_it_neither_issued_nor_found(
    source: str,
) -> None:
    stranger = CredentialRef(
        id="elsewhere:acct:key/1", source="elsewhere", provider="nobody", kind="token"
    )
    connector = registry.get(source)
    assert connector.revoke_steps(stranger) is None
    assert connector.rotation_steps(stranger) is None


@pytest.mark.parametrize("source", SOURCES)
def test_every_normalised_credential_gets_steps_that_name_it(source: str) -> None:
    """Whoever declares them, the steps are concrete: they name the key or where it lives."""
    for credential in normalise(source).credentials:
        ref = CredentialRef(
            id=credential.id,
            source=credential.source,
            provider=credential.provider,
            kind=credential.kind,
            preview=credential.preview,
            location=credential.location,
            properties=credential.properties,
        )
        revoke = revoke_steps(ref)
        rotate = rotate_steps(ref)
        assert revoke and all(revoke), credential.id
        assert rotate[-1] == verify_step(source), credential.id
        named = (ref.key_id, ref.preview, ref.location or "", ref.holder)
        assert any(n and n in " ".join(revoke) for n in named), (credential.id, revoke)


@pytest.mark.parametrize("source", SOURCES)
def test_connector_describes_itself(source: str) -> None:
    connector: Connector[Any] = registry.get(source)
    module = importlib.import_module(f"charter.connectors.{source}")
    assert module.CONNECTOR is connector and connector.id == source
    assert connector.title and connector.needs and connector.formats
    ids = [f.id for f in connector.formats]
    assert len(ids) == len(set(ids))
    for format_ in connector.formats:
        assert format_.id.startswith(f"{source}."), format_.id
        assert format_.title and format_.filename
        assert format_.media in ("json", "csv")
        assert len(format_.command) > 20, "the exact command that produces the export"
    assert (Path(__file__).resolve().parents[3] / "docs" / "connectors" / f"{source}.md").exists()
    if connector.live_api is not None:
        assert connector.live_api.credential_env.startswith("CHARTER_")
        assert (LIVE / source / "responses.json").exists(), "a live API needs recorded responses"
        assert (LIVE / source / "replay.json").exists(), "and the target they were recorded for"
        headers = connector.live_api.request_headers("T0KEN")
        assert headers["Authorization"] == f"{connector.live_api.scheme} T0KEN"
    if connector.live_sdk is not None:  # read through the vendor's SDK, tested against a server
        assert connector.live_api is None, "one way to read the system live"
        assert connector.live_sdk.target and connector.live_sdk.install
        assert connector.live_sdk.docs.startswith("https://")
        assert type(connector).fetch_sdk is not ConnectorBase.fetch_sdk


@pytest.mark.parametrize("source", SOURCES)
def test_every_format_has_a_fixture_that_sniffs_as_it(source: str) -> None:
    connector = registry.get(source)
    seen = set()
    for path in sorted((FIXTURES / source).iterdir()):
        hit = registry.classify(path)
        assert hit is not None, f"{path} is not recognised"
        assert hit[0] is connector, f"{path} was taken by {hit[0].id}"
        assert connector.sniff(peek(path)) is hit[1].format
        seen.add(hit[1].format.id)
    assert seen == {f.id for f in connector.formats}


@pytest.mark.parametrize("source", SOURCES)
def test_normalize_is_pure_and_every_record_is_well_formed(source: str) -> None:
    first = normalise(source)
    second = normalise(source)
    assert first.identities == second.identities
    assert first.credentials == second.credentials
    assert first.grants == second.grants
    assert first.identities, "the fixture yields identities"
    for batch in first.batches:
        scope = f"{batch.source}:{batch.account}"
        assert batch.source == source and batch.account
        for record in (*batch.identities, *batch.credentials, *batch.grants):
            assert record.source == source and record.account == batch.account
            assert record.id.startswith(f"{source}:"), record.id
        for grant in batch.grants:
            assert len(grant.reason) > 15, grant.id
            assert grant.subject_type in ("identity", "credential", "agent")
        for credential in batch.credentials:
            assert len(credential.fingerprint) == 64 and int(credential.fingerprint, 16) >= 0
        assert scope
    ids = [r.id for r in (*first.identities, *first.credentials, *first.grants)]
    assert len(ids) == len(set(ids)), "ids are unique within a source"


def _plain(record: Any) -> dict[str, Any]:
    out = {}
    for name in record.__slots__:
        value = getattr(record, name)
        out[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return json.loads(json.dumps(out, default=str))


@pytest.mark.parametrize("source", SOURCES)
def test_normalised_output_matches_the_golden_file(source: str) -> None:
    """Golden files pin the mapping;
    regenerate with CHARTER_UPDATE_GOLDEN=1 after a deliberate change.
    """
    found = normalise(source)
    actual = {
        "identities": [_plain(i) for i in found.identities],
        "credentials": [_plain(c) for c in found.credentials],
        "grants": [_plain(g) for g in found.grants],
    }
    path = GOLDEN / f"{source}.json"
    if os.environ.get("CHARTER_UPDATE_GOLDEN") == "1" or not path.exists():
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
    assert actual == json.loads(path.read_text())
