"""Baselines: the findings a pipeline already knows about, so only new ones fail it.

A baseline is any file ``charter discover fs --format json`` wrote (its
``findings[].fingerprint`` values), or a hand-kept ``{"fingerprints": [...]}``.
Matching is by fingerprint alone, so a known test key that moves to another
line or file stays known, and a new key in a known file is still new.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from charter.errors import InvalidInput

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
MAX_BASELINE_BYTES = 64 * 1024 * 1024


def parse_baseline(text: str, *, source: str = "baseline") -> frozenset[str]:
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"{source} is not JSON: {exc}", field="--baseline") from exc
    values: list[object] = []
    if isinstance(document, dict) and isinstance(document.get("findings"), list):
        values = [f.get("fingerprint") for f in document["findings"] if isinstance(f, dict)]
    elif isinstance(document, dict) and isinstance(document.get("fingerprints"), list):
        values = list(document["fingerprints"])
    else:
        raise InvalidInput(
            f"{source} has neither 'findings' (a charter JSON report) nor 'fingerprints'",
            field="--baseline",
        )
    bad = [v for v in values if not isinstance(v, str) or not _FINGERPRINT.match(v)]
    if bad:
        raise InvalidInput(
            f"{source} holds {len(bad)} value(s) that are not SHA-256 fingerprints",
            field="--baseline",
        )
    return frozenset(v for v in values if isinstance(v, str))


def load_baseline(path: Path) -> frozenset[str]:
    try:
        size = path.stat().st_size
        if size > MAX_BASELINE_BYTES:
            raise InvalidInput(f"{path} is larger than 64 MiB", field="--baseline")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}", field="--baseline") from exc
    return parse_baseline(text, source=str(path))
