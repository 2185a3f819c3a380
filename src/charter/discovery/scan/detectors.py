"""Every registered secret detector, in one tuple.

Importing the rule modules registers their detectors; adding a provider is one
``REGISTRY.add(...)`` in the right rules module plus its sample and test cases.
"""

from __future__ import annotations

from charter.discovery.scan import (  # noqa: F401  (imported to register)
    rules_ai,
    rules_cloud,
    rules_code,
    rules_generic,
    rules_saas,
)
from charter.discovery.scan.detector import REGISTRY, Detector


def all_detectors() -> tuple[Detector, ...]:
    return REGISTRY.all()


def get(detector_id: str) -> Detector:
    return REGISTRY.get(detector_id)
