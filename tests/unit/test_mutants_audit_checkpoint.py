"""Mutation tests for ``domain/audit_checkpoint.py``: the file format, its bounds and every
problem a checkpoint can show, word for word (docs/mutation-testing.md)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from charter.domain.audit_checkpoint import (
    FORMAT,
    Checkpoint,
    CheckpointKey,
    CheckpointPublicKey,
    Stored,
    checkpoint_problem,
)
from charter.errors import InvalidInput

KEY = CheckpointKey(bytes(range(32)))
OTHER = CheckpointKey(bytes(32))
LINK = "0123456789abcdef" * 4


def _parse(**changes: object) -> Checkpoint:
    data = {**json.loads(KEY.sign(9, LINK, "t", 1).to_json()), **changes}
    return Checkpoint.parse(json.dumps(data).encode(), source="f.json")


def _refused(field: str, message: str, **changes: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        _parse(**changes)
    assert (caught.value.field, caught.value.message) == (field, message)


def test_a_signed_checkpoint_carries_what_it_was_given() -> None:
    point = KEY.sign(9, LINK, "2026-01-01T00:00:00Z", None)
    assert (point.sequence, point.hash, point.time, point.keyed_from) == (
        9,
        LINK,
        "2026-01-01T00:00:00Z",
        None,
    )
    assert point.key_id == KEY.public().key_id and len(point.key_id) == 16
    assert len(point.signature) == 86 and "=" not in point.signature  # unpadded base64url
    assert KEY.public().verifies(point)
    assert (
        point.payload()
        == (
            '{"format":"charter-audit-checkpoint/1","hash":"'
            + LINK
            + '","key_id":"'
            + point.key_id
            + '","keyed_from":null,"sequence":9,"time":"2026-01-01T00:00:00Z"}'
        ).encode()
    )


def test_the_file_is_indented_json_with_a_final_newline_and_reads_back() -> None:
    point = KEY.sign(9, LINK, "t", 1)
    text = point.to_json()
    assert text.endswith("}\n") and '\n  "format": "charter-audit-checkpoint/1",\n' in text
    assert json.loads(text) == {**point.fields(), "signature": point.signature}
    assert point.fields()["format"] == FORMAT == "charter-audit-checkpoint/1"
    assert Checkpoint.parse(text.encode(), source="f") == point
    assert _parse(keyed_from=None).keyed_from is None


def test_a_signature_from_another_key_or_not_base64_does_not_verify() -> None:
    point = KEY.sign(9, LINK, "t", 1)
    other = OTHER.sign(9, LINK, "t", 1)
    public = KEY.public()
    assert not public.verifies(other)
    renamed = Checkpoint(9, LINK, "t", point.key_id, 1, other.signature)
    assert not public.verifies(renamed)
    for signature in ("a", "abc", point.signature[:-2], ""):
        assert not public.verifies(Checkpoint(9, LINK, "t", point.key_id, 1, signature))


def test_the_public_key_round_trips_through_pem() -> None:
    public = KEY.public()
    pem = public.pem()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert CheckpointPublicKey.from_pem(pem.encode(), source="k.pem") == public
    with pytest.raises(InvalidInput) as caught:
        CheckpointPublicKey.from_pem(b"nothing", source="k.pem")
    assert (caught.value.field, caught.value.message) == (
        "public key",
        "k.pem is not a PEM public key",
    )
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(InvalidInput) as caught:
        CheckpointPublicKey.from_pem(
            other.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo), source="k.pem"
        )
    assert (caught.value.field, caught.value.message) == (
        "public key",
        "k.pem is not an Ed25519 public key",
    )


def test_the_format_is_checked() -> None:
    for text, in_message in ((b"[1]", "f.json is not a"), (b'{"format": "x"}', "is not a")):
        with pytest.raises(InvalidInput) as caught:
            Checkpoint.parse(text, source="f.json")
        assert caught.value.field == "checkpoint.format"
        assert caught.value.message == f"f.json is not a {FORMAT} file"
        assert in_message in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        Checkpoint.parse(b"\xff", source="f.json")
    assert (caught.value.field, caught.value.message) == ("checkpoint", "f.json is not JSON")


@pytest.mark.parametrize("value", [-1, 2**63, True, 1.0, "1", None])
def test_a_sequence_must_be_a_whole_number_in_range(value: object) -> None:
    _refused("checkpoint.sequence", "f.json: sequence must be a whole number", sequence=value)


def test_the_bounds_of_a_sequence() -> None:
    assert _parse(sequence=0).sequence == 0
    assert _parse(sequence=2**63 - 1).sequence == 2**63 - 1
    assert _parse(keyed_from=0).keyed_from == 0
    _refused("checkpoint.keyed_from", "f.json: keyed_from must be a whole number", keyed_from=-1)


@pytest.mark.parametrize("name", ["time", "key_id", "signature"])
def test_a_text_field_is_one_to_256_characters(name: str) -> None:
    assert getattr(_parse(**{name: "x" * 256}), name) == "x" * 256
    assert getattr(_parse(**{name: "x"}), name) == "x"
    for value in ("", "x" * 257, 5, None):
        _refused(f"checkpoint.{name}", f"f.json: {name} must be a string", **{name: value})


def test_the_link_is_64_lowercase_hex_digits() -> None:
    assert _parse(hash=LINK).hash == LINK
    for value in (LINK[:63], LINK + "0", LINK.upper(), "g" * 64):
        _refused("checkpoint.hash", "f.json: hash must be 64 hex digits", hash=value)
    _refused("checkpoint.hash", "f.json: hash must be a string", hash="")


def _problem(*points: tuple[str, Checkpoint], events: int = 9, keyed_from: int | None = 1) -> str:
    stored = [Stored(name, point) for name, point in points]
    links = {5: "a" * 64, 9: "b" * 64}
    found = checkpoint_problem(
        stored, key=KEY.public(), events=events, keyed_from=keyed_from, links=links
    )
    return found or ""


def test_every_problem_is_named_word_for_word() -> None:
    at5, at9 = KEY.sign(5, "a" * 64, "t1", 1), KEY.sign(9, "b" * 64, "t2", 1)
    assert _problem(("a", at5), ("b", OTHER.sign(9, "b" * 64, "t2", 1))) == (
        "checkpoint b has a forged signature (or another key's)"
    )
    late5 = KEY.sign(5, "a" * 64, "t3", 1)
    assert _problem(("a", at9), ("b", late5)) == (
        "the head went backwards: checkpoint b is at event 5 after a at event 9: "
        "the store was rolled back"
    )
    assert _problem(("a", at9), events=8) == (
        "the chain ends at event 8 but checkpoint a vouches for event 9: "
        "events were deleted or the store was rolled back"
    )
    assert _problem(("a", KEY.sign(9, "c" * 64, "t", 1))) == (
        "event 9 differs from checkpoint a: the chain was rewritten"
    )
    assert _problem(("a", at9), keyed_from=4) == (
        "the keyed-chain boundary moved: checkpoint a says keyed from event 1, the store says 4"
    )


def test_what_is_not_a_problem() -> None:
    at5, at9 = KEY.sign(5, "a" * 64, "t", 1), KEY.sign(9, "b" * 64, "t", 1)
    assert _problem(("b", at9), ("a", at5)) == ""  # same time: ordered by sequence
    assert _problem(("a", at9), events=9) == ""  # a checkpoint at the last event
    assert _problem(("a", KEY.sign(0, "0" * 64, "t", None)), events=0, keyed_from=None) == ""
    assert _problem(("a", KEY.sign(9, "b" * 64, "t", None)), keyed_from=4) == ""
    assert _problem(("a", at9), ("b", KEY.sign(9, "b" * 64, "t2", 1))) == ""
    assert _problem() == ""
