"""Checkpoints of the audit head, out of the database: a directory and an HTTP sink.

A checkpoint file is written only for a chain that verifies against the key and
every earlier checkpoint, so a tampered store is never vouched for. Files are
0600 in a directory created 0700 (one the operator made keeps its mode), named
by time so they sort in order, beside the public key (``checkpoint-key.pub``)
anyone may use to check their signatures.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from charter.domain.audit_checkpoint import Checkpoint, CheckpointPublicKey, Stored
from charter.errors import InvalidInput
from charter.store.private_files import private_dir

KEY_FILE = "checkpoint-key.pub"
MAX_CHECKPOINT_BYTES = 64 * 1024
SINK_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class CheckpointTarget:
    """Where checkpoints go: always a directory, and an HTTP sink if configured."""

    directory: Path
    url: str | None = None


@dataclass(frozen=True, slots=True)
class CheckpointSet:
    """The checkpoints to verify against and the key their signatures must match."""

    key: CheckpointPublicKey
    stored: list[Stored] = field(default_factory=list)
    #: Set when the directory itself was tampered with (its public key is not ours).
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Written:
    checkpoint: Checkpoint
    path: Path
    sink_error: str | None = None


def _read(path: Path, field_name: str) -> bytes:
    try:
        if path.stat().st_size > MAX_CHECKPOINT_BYTES:
            raise InvalidInput(
                f"{path} is larger than {MAX_CHECKPOINT_BYTES} bytes", field=field_name
            )
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field=field_name) from exc


def read_checkpoints(
    directory: Path,
    *,
    public_key: Path | None = None,
    derived: CheckpointPublicKey | None = None,
    allow_empty: bool = False,
) -> CheckpointSet:
    """Read every checkpoint in ``directory``; bad input raises (exit 2), forgery does not.

    The key is the one given (an auditor's pinned copy), else the one derived
    from the master key, else the directory's ``checkpoint-key.pub``.
    """
    if not directory.exists():
        raise InvalidInput(
            f"the checkpoint directory {directory} does not exist", field="--checkpoints"
        )
    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a directory", field="--checkpoints")
    files = sorted(directory.glob("*.json"))
    if not files and not allow_empty:
        raise InvalidInput(f"{directory} holds no checkpoint files (*.json)", field="--checkpoints")
    published = directory / KEY_FILE
    problem = None
    if public_key is not None:
        key = CheckpointPublicKey.from_pem(
            _read(public_key, "--public-key"), source=str(public_key)
        )
    elif derived is not None:
        key = derived
        if published.exists():
            shown = CheckpointPublicKey.from_pem(_read(published, KEY_FILE), source=str(published))
            if shown != derived:
                problem = (
                    f"{published} is not the checkpoint key of this master key: it was replaced"
                )
    elif published.exists():
        key = CheckpointPublicKey.from_pem(_read(published, KEY_FILE), source=str(published))
    else:
        raise InvalidInput(
            f"no public key: {published} is missing; pass --public-key FILE", field="--public-key"
        )
    stored = [
        Stored(path.name, Checkpoint.parse(_read(path, "--checkpoints"), source=str(path)))
        for path in files
    ]
    return CheckpointSet(key, stored, problem)


def _write_private(path: Path, text: str) -> None:
    """Write a 0600 file atomically (a reader never sees half of it)."""
    draft = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(draft, path)


@contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """One checkpoint writer at a time per directory, so files are in head order."""
    private_dir(directory)
    descriptor = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def file_name(checkpoint: Checkpoint) -> str:
    stamp = checkpoint.time.replace("-", "").replace(":", "")
    return f"{stamp}-{checkpoint.sequence:012d}.json"


def write_checkpoint(directory: Path, checkpoint: Checkpoint, key: CheckpointPublicKey) -> Path:
    private_dir(directory)
    published = directory / KEY_FILE
    if not published.exists() or published.read_text() != key.pem():
        _write_private(published, key.pem())
    path = directory / file_name(checkpoint)
    _write_private(path, checkpoint.to_json())
    return path


def post_checkpoint(url: str, checkpoint: Checkpoint) -> str | None:
    """POST the checkpoint to the sink; the reason it failed, or None."""
    try:
        response = httpx.post(
            url,
            content=checkpoint.to_json().encode(),
            headers={"content-type": "application/json"},
            timeout=SINK_TIMEOUT,
        )
    except httpx.HTTPError as exc:
        return f"the checkpoint sink {url} did not answer: {exc}"
    if not response.is_success:
        return f"the checkpoint sink {url} answered {response.status_code}"
    return None
