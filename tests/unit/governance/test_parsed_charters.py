"""A charter is validated once per (agent, version, document), never reused for another."""

from __future__ import annotations

from typing import Any

import pytest

from charter.services.governance.parsed_charters import parsed_charter


def _document(purpose: str) -> dict[str, Any]:
    return {
        "name": "cache-probe",
        "owner": "ada@acme.example",
        "purpose": purpose,
        "allow": [{"action": "svc.read", "resource": "svc:*"}],
    }


def test_the_same_version_is_parsed_once() -> None:
    first = parsed_charter("cache-probe", 1, _document("reads the service catalogue"))
    again = parsed_charter("cache-probe", 1, _document("reads the service catalogue"))
    assert again is first


def test_a_different_document_under_the_same_key_is_parsed_again() -> None:
    old = parsed_charter("cache-probe", 2, _document("reads the service catalogue"))
    new = parsed_charter("cache-probe", 2, _document("reads the whole service catalogue"))
    assert new is not old and new.purpose == "reads the whole service catalogue"
    assert parsed_charter("cache-probe", 2, _document("reads the whole service catalogue")) is new


def test_an_invalid_document_raises_every_time() -> None:
    bad = {**_document("reads the service catalogue"), "owner": "not an address"}
    for _ in range(2):
        with pytest.raises(ValueError):
            parsed_charter("cache-probe", 3, bad)
