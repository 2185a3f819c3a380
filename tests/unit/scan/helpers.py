"""Shared by the scanner tests: one scanner per engine, and fake-credential helpers.

Every credential in these tests is generated at run time from a seeded RNG by
``charter.discovery.scan.samples`` (format-valid, authenticates nowhere), so no
key-shaped literal sits in the test sources.
"""

from __future__ import annotations

import random
from functools import lru_cache

from charter.discovery.scan.agent_code import SIGNALS
from charter.discovery.scan.content import ContentScanner, SecretHit
from charter.discovery.scan.detectors import all_detectors
from charter.discovery.scan.samples import Sample, sample


@lru_cache(maxsize=4)
def scanner(engine: str | None = None) -> ContentScanner:
    return ContentScanner(all_detectors(), SIGNALS, engine=engine)


def scan_text(text: str, engine: str | None = None) -> list[SecretHit]:
    return scanner(engine).scan_buffer(text.encode()).secrets


def fake(detector_id: str, seed: int = 0) -> Sample:
    return sample(detector_id, random.Random(f"{detector_id}:{seed}"))


def swap_last(token: str) -> str:
    """The same token with its last character changed (breaks a checksum or suffix)."""
    last = token[-1]
    return token[:-1] + ("B" if last != "B" else "C")
