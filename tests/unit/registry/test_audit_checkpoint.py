"""Checkpoints and the keyed chain as pure functions: each problem is named."""

from __future__ import annotations

import hmac

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from charter.domain.audit import event_material
from charter.domain.audit_chain import Anchor, ChainKey
from charter.domain.audit_checkpoint import (
    Checkpoint,
    CheckpointKey,
    CheckpointPublicKey,
    Stored,
    checkpoint_problem,
)
from charter.errors import InvalidInput

KEY = CheckpointKey(bytes(range(32)))
LINKS = {5: "a" * 64, 9: "b" * 64}


def _stored(name: str, sequence: int, time: str, link: str | None = None) -> Stored:
    return Stored(name, KEY.sign(sequence, link or LINKS[sequence], time, 1))


def _problem(*stored: Stored, events: int = 9, keyed_from: int | None = 1) -> str | None:
    return checkpoint_problem(
        stored, key=KEY.public(), events=events, keyed_from=keyed_from, links=LINKS
    )


def test_agreeing_checkpoints_pass() -> None:
    assert _problem(_stored("a", 5, "2026-01-01T01"), _stored("b", 9, "2026-01-01T02")) is None


def test_a_head_that_went_backwards_between_checkpoints_is_a_rollback() -> None:
    problem = _problem(_stored("a", 9, "2026-01-01T01"), _stored("b", 5, "2026-01-01T02"))
    assert problem and "went backwards" in problem and "rolled back" in problem


def test_truncation_rewrite_and_a_moved_boundary_are_named() -> None:
    assert "vouches for event 9" in (_problem(_stored("a", 9, "t"), events=7) or "")
    assert "rewritten" in (_problem(_stored("a", 9, "t", "c" * 64)) or "")
    assert "boundary moved" in (_problem(_stored("a", 9, "t"), keyed_from=4) or "")


def test_any_change_to_a_signed_field_breaks_the_signature() -> None:
    point = KEY.sign(9, LINKS[9], "2026-01-01T00:00:00Z", 1)
    public = KEY.public()
    assert public.verifies(point)
    for change in ({"sequence": 8}, {"hash": "c" * 64}, {"time": "2027"}, {"keyed_from": 2}):
        fields = {**point.fields(), "signature": point.signature, **change}
        fields.pop("format")
        assert not public.verifies(Checkpoint(**fields))


def test_a_malformed_checkpoint_is_bad_input_naming_the_field() -> None:
    good = KEY.sign(9, LINKS[9], "t", 1).to_json()
    with pytest.raises(InvalidInput) as caught:
        Checkpoint.parse(good.replace('"sequence": 9', '"sequence": "9"').encode(), source="f")
    assert caught.value.field == "checkpoint.sequence"
    with pytest.raises(InvalidInput, match="not JSON"):
        Checkpoint.parse(b"{", source="f")
    with pytest.raises(InvalidInput, match="not a PEM public key"):
        CheckpointPublicKey.from_pem(b"not a key", source="f")
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = other.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(InvalidInput, match="not an Ed25519"):
        CheckpointPublicKey.from_pem(pem, source="f")


def test_anchors_are_sealed_over_every_field() -> None:
    key = ChainKey(b"k" * 32)
    sealed = Anchor("head", 9, "a" * 64, key.key_id, key.seal("head", 9, "a" * 64, key.key_id))
    assert sealed.sealed_by(key)
    for other in (
        Anchor("keyed_from", 9, "a" * 64, sealed.key_id, sealed.mac),
        Anchor("head", 8, "a" * 64, sealed.key_id, sealed.mac),
        Anchor("head", 9, "b" * 64, sealed.key_id, sealed.mac),
    ):
        assert not other.sealed_by(key)
    assert not sealed.sealed_by(ChainKey(b"x" * 32))


def test_the_chain_link_is_standard_hmac_sha256() -> None:
    key = ChainKey(bytes(range(32)))
    fields = (7, "2026-01-01T00:00:00.000000Z", "a", "b", "c", "d", "{}", "0" * 64)
    expected = hmac.new(bytes(range(32)), b"v2\x1f" + event_material(*fields), "sha256")
    assert key.link(*fields) == expected.hexdigest()
    assert ChainKey(b"x" * 32).link(*fields) != key.link(*fields)
