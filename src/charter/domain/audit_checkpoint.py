"""Signed checkpoints of the audit head, kept outside the database.

Modelled on AWS CloudTrail's digest files: at an interval, and on demand, the
newest sequence and its link are signed (Ed25519) and written where a database
writer cannot reach. A later verification compares the store with every
checkpoint: a chain shorter than a checkpoint was truncated or rolled back; a
different link at a checkpoint's sequence was rewritten; a checkpoint whose
signature fails was forged. The signing key is derived from the master key and
never stored; its public half is published so anyone can check signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from charter.domain.audit import canonical_json
from charter.errors import InvalidInput

CHECKPOINT_KEY_LABEL = "charter audit checkpoint v1"
FORMAT = "charter-audit-checkpoint/1"
_HEX = frozenset("0123456789abcdef")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class CheckpointPublicKey:
    raw: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def pem(self) -> str:
        public = Ed25519PublicKey.from_public_bytes(self.raw)
        return public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    @classmethod
    def from_pem(cls, text: bytes, *, source: str) -> CheckpointPublicKey:
        try:
            public = serialization.load_pem_public_key(text)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{source} is not a PEM public key", field="public key") from exc
        if not isinstance(public, Ed25519PublicKey):
            raise InvalidInput(f"{source} is not an Ed25519 public key", field="public key")
        return cls(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    def verifies(self, checkpoint: Checkpoint) -> bool:
        if checkpoint.key_id != self.key_id:
            return False
        try:
            signature = base64.urlsafe_b64decode(
                checkpoint.signature + "=" * (-len(checkpoint.signature) % 4)
            )
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, checkpoint.payload())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class CheckpointKey:
    """The private signing key, derived from a 32-byte secret (never stored)."""

    seed: bytes = field(repr=False)

    def public(self) -> CheckpointPublicKey:
        public = Ed25519PrivateKey.from_private_bytes(self.seed).public_key()
        return CheckpointPublicKey(
            public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )

    def sign(self, sequence: int, link: str, time: str, keyed_from: int | None) -> Checkpoint:
        unsigned = Checkpoint(sequence, link, time, self.public().key_id, keyed_from, "")
        signature = Ed25519PrivateKey.from_private_bytes(self.seed).sign(unsigned.payload())
        return Checkpoint(sequence, link, time, unsigned.key_id, keyed_from, _b64(signature))


@dataclass(frozen=True, slots=True)
class Checkpoint:
    sequence: int
    hash: str
    time: str
    key_id: str
    keyed_from: int | None
    signature: str

    def fields(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "sequence": self.sequence,
            "hash": self.hash,
            "time": self.time,
            "key_id": self.key_id,
            "keyed_from": self.keyed_from,
        }

    def payload(self) -> bytes:
        """The signed bytes: the canonical JSON of every field but the signature."""
        return canonical_json(self.fields()).encode()

    def to_json(self) -> str:
        return json.dumps({**self.fields(), "signature": self.signature}, indent=2) + "\n"

    @classmethod
    def parse(cls, text: bytes, *, source: str) -> Checkpoint:
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{source} is not JSON", field="checkpoint") from exc
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise InvalidInput(f"{source} is not a {FORMAT} file", field="checkpoint.format")
        return cls(
            sequence=_int(data, "sequence", source),
            hash=_link(data, source),
            time=_text(data, "time", source),
            key_id=_text(data, "key_id", source),
            keyed_from=None if data.get("keyed_from") is None else _int(data, "keyed_from", source),
            signature=_text(data, "signature", source),
        )


def _int(data: Mapping[str, Any], name: str, source: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise InvalidInput(f"{source}: {name} must be a whole number", field=f"checkpoint.{name}")
    return value


def _text(data: Mapping[str, Any], name: str, source: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= 256:
        raise InvalidInput(f"{source}: {name} must be a string", field=f"checkpoint.{name}")
    return value


def _link(data: Mapping[str, Any], source: str) -> str:
    value = _text(data, "hash", source)
    if len(value) != 64 or not set(value) <= _HEX:
        raise InvalidInput(f"{source}: hash must be 64 hex digits", field="checkpoint.hash")
    return value


@dataclass(frozen=True, slots=True)
class Stored:
    """A checkpoint and where it was read from (a file name or a URL)."""

    name: str
    checkpoint: Checkpoint


def checkpoint_problem(
    stored: Sequence[Stored],
    *,
    key: CheckpointPublicKey,
    events: int,
    keyed_from: int | None,
    links: Mapping[int, str],
) -> str | None:
    """Compare the verified chain with every checkpoint; the first problem, or None.

    ``links`` maps each checkpointed sequence still in the chain to its link.
    """
    for item in stored:
        if not key.verifies(item.checkpoint):
            return f"checkpoint {item.name} has a forged signature (or another key's)"
    previous: Stored | None = None
    for item in sorted(stored, key=lambda s: (s.checkpoint.time, s.checkpoint.sequence)):
        point = item.checkpoint
        if previous is not None and point.sequence < previous.checkpoint.sequence:
            return (
                f"the head went backwards: checkpoint {item.name} is at event {point.sequence} "
                f"after {previous.name} at event {previous.checkpoint.sequence}: "
                "the store was rolled back"
            )
        previous = item
        if point.sequence > events:
            return (
                f"the chain ends at event {events} but checkpoint {item.name} vouches for event "
                f"{point.sequence}: events were deleted or the store was rolled back"
            )
        if point.sequence and links.get(point.sequence) != point.hash:
            return (
                f"event {point.sequence} differs from checkpoint {item.name}: "
                "the chain was rewritten"
            )
        if point.keyed_from is not None and point.keyed_from != keyed_from:
            return (
                f"the keyed-chain boundary moved: checkpoint {item.name} says keyed from event "
                f"{point.keyed_from}, the store says {keyed_from}"
            )
    return None
