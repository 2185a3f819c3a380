"""The keyed audit chain and its verification (pure: rows in, a report out).

Since chain v2 each event's link is HMAC-SHA256 under a key derived from the
master key, which never enters the database: whoever can write the database
but not read the master key cannot recompute a link, so an edited row shows
even when every later link is recomputed. Events written before v2 keep their
plain SHA-256 links and verify as a *legacy segment*; the first keyed sequence
(the boundary) is recorded in the store and sealed with the key.

Two anchors live beside the events (table ``audit_anchors``), both sealed:

* ``keyed_from`` — the first keyed sequence and the link it continues from;
* ``head`` — the newest sequence and its link, so deleting events at the end
  and lowering the head needs the key too. Rolling the whole store back to an
  older copy keeps an old, validly sealed head: only a checkpoint written out
  of the database (:mod:`charter.domain.audit_checkpoint`) shows that.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from charter.domain.audit import GENESIS_HASH, event_hash, event_material
from charter.errors import CharterError, InvalidInput

CHAIN_KEY_LABEL = "charter audit chain v2"
BOUNDARY = "keyed_from"
HEAD = "head"


class ChainKey:
    """The HMAC key of the chain; ``key_id`` names it without revealing it."""

    __slots__ = ("_inner", "_outer", "key_id", "secret")

    def __init__(self, secret: bytes) -> None:
        if len(secret) > 64:
            raise ValueError("the chain key is at most one SHA-256 block (64 bytes)")
        self.secret = secret
        self.key_id = hmac.new(secret, b"charter audit chain key id", "sha256").hexdigest()[:16]
        # HMAC (RFC 2104) with both pads absorbed once: each link copies two
        # SHA-256 states, which verifies ~1.6x faster than copying an hmac object.
        block = secret.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block) + b"v2\x1f")
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def __repr__(self) -> str:
        return f"ChainKey(key_id={self.key_id!r})"

    def link(
        self,
        seq: int,
        time: str,
        actor: str,
        action: str,
        target_type: str,
        target: str,
        summary: str,
        prev_hash: str,
    ) -> str:
        """HMAC-SHA256(secret, "v2" ‖ material), the same as ``hmac.new`` would give."""
        inner = self._inner.copy()
        inner.update(
            event_material(seq, time, actor, action, target_type, target, summary, prev_hash)
        )
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def seal(self, name: str, seq: int, link: str, key_id: str) -> str:
        """The MAC of an anchor row: its name, sequence, link and key id."""
        material = "\x1f".join(("anchor", name, str(seq), link, key_id)).encode()
        return hmac.new(self.secret, material, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Anchor:
    """One row of ``audit_anchors``; ``mac`` is None until the first keyed append seals it."""

    name: str
    seq: int
    hash: str
    key_id: str | None = None
    mac: str | None = None

    def sealed_by(self, key: ChainKey) -> bool:
        if self.mac is None or self.key_id is None:
            return False
        return hmac.compare_digest(key.seal(self.name, self.seq, self.hash, self.key_id), self.mac)


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    events: int
    first_broken_seq: int | None = None
    problem: str | None = None
    #: The first keyed sequence; events before it are the unkeyed legacy segment.
    keyed_from: int | None = None
    #: False when verified without the master key: only the links' order was checked.
    links_checked: bool = False
    key_id: str | None = None
    head_hash: str = GENESIS_HASH
    checkpoints: int = 0
    newest_checkpoint: int | None = None

    def as_dict(self) -> dict[str, Any]:
        legacy = (self.keyed_from - 1) if self.keyed_from else self.events
        return {
            "ok": self.ok,
            "events": self.events,
            "first_broken_seq": self.first_broken_seq,
            "problem": self.problem,
            "keyed_from": self.keyed_from,
            "legacy_events": min(legacy, self.events),
            "links_checked": self.links_checked,
            "key_id": self.key_id,
            "head_hash": self.head_hash if self.ok else None,
            "checkpoints": self.checkpoints,
            "newest_checkpoint": self.newest_checkpoint,
        }


class ChainBroken(CharterError):
    """The chain does not verify, so nothing may vouch for it (no checkpoint is signed)."""

    status = 409
    code = "audit-chain-broken"


class KeyMismatch(InvalidInput):
    """The chain was keyed under another master key: it cannot be checked with this one."""


def check_key(boundary: Anchor | None, key: ChainKey | None) -> None:
    if key is None or boundary is None or boundary.key_id is None:
        return
    if boundary.key_id != key.key_id:
        raise KeyMismatch(
            f"the audit chain is keyed with key {boundary.key_id} but this master key gives "
            f"{key.key_id}: set it to the master key the store was written with",
            field="CHARTER_MASTER_KEY",
        )


Row = tuple[int, str, str, str, str, str, str, str, str]


def verify_chain(
    rows: Iterable[Row],
    *,
    boundary: Anchor | None,
    head: Anchor | None,
    counted: int,
    key: ChainKey | None,
) -> ChainReport:
    """Recompute the chain; the first problem found is reported with its sequence.

    ``counted`` is the unsealed head counter (``meta.audit_head``) that a store
    with only legacy events was written with; once keyed, the sealed head counts.
    Without ``key`` the keyed links' order is checked but not their MACs (what an
    auditor holding only the checkpoint public key can do).
    """
    check_key(boundary, key)
    kid = key.key_id if key else None
    sealed = boundary is not None and boundary.mac is not None
    keyed_from = boundary.seq if boundary is not None and sealed else None

    def report(
        count: int, seq: int | None = None, problem: str | None = None, head: str = GENESIS_HASH
    ) -> ChainReport:
        return ChainReport(
            problem is None,
            count,
            seq,
            problem,
            keyed_from=keyed_from,
            links_checked=key is not None,
            key_id=kid,
            head_hash=head,
        )

    broken = report

    if boundary is None:
        return broken(0, None, "the keyed-chain boundary record was deleted from the store")
    if sealed and key is not None and not boundary.sealed_by(key):
        return broken(0, boundary.seq, "the keyed-chain boundary record was altered")
    expected_seq, prev, count = 1, GENESIS_HASH, 0
    for seq, time, actor, action, ttype, target, summary, prev_hash, digest in rows:
        count += 1
        if seq != expected_seq:
            missing = f"event {expected_seq} is missing (next present is {seq})"
            return broken(count, expected_seq, missing)
        if prev_hash != prev:
            return broken(count, seq, f"event {seq} does not link to event {seq - 1}")
        if keyed_from is None or seq < keyed_from:
            fields = (seq, time, actor, action, ttype, target, summary, prev)
            if event_hash(*fields) != digest:
                return broken(count, seq, f"event {seq} was altered after it was written")
        else:
            if seq == keyed_from and prev != boundary.hash:
                return broken(count, seq, f"event {seq} does not continue the legacy segment")
            if key is not None and not hmac.compare_digest(
                key.link(seq, time, actor, action, ttype, target, summary, prev), digest
            ):
                altered = f"event {seq} was altered after it was written (its keyed link differs)"
                return broken(count, seq, altered)
        prev = digest
        expected_seq += 1
    if keyed_from is not None:  # sealed with the first keyed event: the sealed head counts
        problem = _head_problem(head, key, count, prev)
        if problem:
            return broken(count, count + 1, problem)
    elif counted != count:
        deleted = (
            f"the chain ends at event {count} but {counted} events were written: "
            "events at the end were deleted"
        )
        return broken(count, count + 1, deleted)
    return report(count, head=prev)


def _head_problem(head: Anchor | None, key: ChainKey | None, count: int, last: str) -> str | None:
    if head is None or head.mac is None:
        return "the sealed head record was deleted from the store"
    if key is not None and not head.sealed_by(key):
        return "the sealed head record was altered (lowered to hide deleted events?)"
    if head.seq > count:
        return (
            f"the chain ends at event {count} but the sealed head is event {head.seq}: "
            "events at the end were deleted"
        )
    if head.seq != count or head.hash != last:
        return f"the sealed head (event {head.seq}) does not match the last event {count}"
    return None
