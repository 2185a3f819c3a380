"""Temporary AWS keys (``ASIA…``, from STS) are found like long-term ones.

Session credentials leak from CI logs and ``~/.aws/credentials`` copied with a
session token; a hand-applied mutation that dropped ``ASIA`` from the AWS
detector went unnoticed because every AWS case used an ``AKIA`` key. Checked on
every prefilter engine, since each compiles the prefixes on its own.
"""

from __future__ import annotations

import pytest

from charter.discovery.scan.checks import sha256_hex
from charter.discovery.scan.prefilter import ENGINES
from charter.domain.enums import Severity

from .helpers import fake, scan_text


def _engines() -> list[str]:
    usable = []
    for name, module in (("hyperscan", "hyperscan"), ("re2", "re2"), ("re", "re")):
        try:
            __import__(module)
        except ImportError:
            continue
        usable.append(name)
    assert set(usable) <= set(ENGINES)
    return usable


@pytest.mark.parametrize("engine", _engines())
def test_a_temporary_sts_key_is_found_with_its_secret(engine: str) -> None:
    credential = fake("aws-access-key", 3)
    key_id = "ASIA" + credential.token[4:]
    secret = credential.text.split("= ")[-1]
    text = f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"
    hits = [h for h in scan_text(text, engine) if h.detector == "aws-access-key"]
    assert len(hits) == 1
    assert hits[0].fingerprint == sha256_hex(key_id.encode())
    assert hits[0].properties["key_type"] == "temporary (STS) access key"
    assert hits[0].preview == f"ASIA…{key_id[-4:]}"  # recognisable as a session key, never usable
    assert hits[0].properties["secret_nearby"] is True
    assert hits[0].severity == Severity.HIGH  # working, but expires: below a long-term key

    alone = [h for h in scan_text(f"key_id: {key_id}\n", engine) if h.detector == "aws-access-key"]
    assert [(h.fingerprint, h.severity) for h in alone] == [
        (sha256_hex(key_id.encode()), Severity.INFO)
    ]
