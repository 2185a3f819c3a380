"""The audit chain: each Event's link covers its content and the previous link.

The hash input is a fixed concatenation of the stored columns (the summary is
stored as the exact JSON text that was hashed), so verification re-hashes rows
without re-serialising anything: fast enough for millions of events. Links are
keyed (HMAC) since chain v2: see :mod:`charter.domain.audit_chain`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class EventDraft:
    """What a service wants recorded; the store assigns seq, time and hashes."""

    actor: str
    action: str
    target_type: str
    target: str
    before: Any = None
    after: Any = None

    def summary_text(self) -> str:
        return canonical_json({"before": self.before, "after": self.after})


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    time: str
    actor: str
    action: str
    target_type: str
    target: str
    summary: str
    prev_hash: str
    hash: str

    @property
    def before(self) -> Any:
        return json.loads(self.summary).get("before")

    @property
    def after(self) -> Any:
        return json.loads(self.summary).get("after")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_material(
    seq: int,
    time: str,
    actor: str,
    action: str,
    target_type: str,
    target: str,
    summary: str,
    prev_hash: str,
) -> bytes:
    """What a link covers: every stored column and the previous link."""
    return "\x1f".join(
        (str(seq), time, actor, action, target_type, target, summary, prev_hash)
    ).encode()


def event_hash(
    seq: int,
    time: str,
    actor: str,
    action: str,
    target_type: str,
    target: str,
    summary: str,
    prev_hash: str,
) -> str:
    """The unkeyed (legacy, chain v1) link: kept to verify events written before v2."""
    material = event_material(seq, time, actor, action, target_type, target, summary, prev_hash)
    return hashlib.sha256(material).hexdigest()
