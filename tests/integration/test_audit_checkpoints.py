"""Signed checkpoints out of the database: what they catch that the store alone cannot."""

from __future__ import annotations

import json
import shutil
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.support.server import charter_env, free_port, run_cli

from charter.config import Settings
from charter.domain.audit import EventDraft
from charter.domain.audit_chain import ChainBroken
from charter.domain.audit_checkpoint import Checkpoint, CheckpointKey, CheckpointPublicKey
from charter.errors import InvalidInput
from charter.services.audit_checkpoints import KEY_FILE, CheckpointTarget
from charter.services.context import Services
from charter.store import schema
from charter.store.audit_schema import audit_anchors

E = schema.events
A = audit_anchors


def _append(services: Services, count: int, prefix: str = "t") -> None:
    drafts = [
        EventDraft("test:admin", "test.append", "test", f"{prefix}{n}", None, n)
        for n in range(count)
    ]
    services.audit.append(drafts)


def _verify_against(services: Services, directory: Path, public_key: Path | None = None):  # type: ignore[no-untyped-def]
    return services.audit.verify(services.audit.read_checkpoints(directory, public_key))


def _saved_head(services: Services) -> tuple[dict[str, object], int]:
    """What a copy of the store keeps: the sealed head row and the head counter."""
    with services.db.read() as connection:
        row = connection.execute(sa.select(A).where(A.c.name == "head")).one()._asdict()
    return row, services.audit.count()


def _roll_back(services: Services, saved: tuple[dict[str, object], int]) -> None:
    """Put the audit tables back as they were when ``saved`` was taken (a restored copy)."""
    head, count = saved
    with services.db.write() as connection:
        connection.execute(sa.delete(E).where(E.c.seq > count))
        connection.execute(
            sa.update(schema.meta).where(schema.meta.c.key == "audit_head").values(value=count)
        )
        connection.execute(sa.update(A).where(A.c.name == "head").values(**head))


def test_checkpoints_are_private_signed_files_beside_their_public_key(services: Services) -> None:
    _append(services, 5)
    written = services.audit.checkpoint()
    directory = services.settings.audit_checkpoint_dir
    assert written.path.parent == directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(written.path.stat().st_mode) == 0o600
    stored = Checkpoint.parse(written.path.read_bytes(), source="file")
    assert stored == written.checkpoint and stored.sequence == 5 and stored.keyed_from == 1
    published = CheckpointPublicKey.from_pem((directory / KEY_FILE).read_bytes(), source="pub")
    assert published.verifies(stored)
    report = _verify_against(services, directory)
    assert report.ok, report.problem
    assert report.checkpoints == 1 and report.newest_checkpoint == 5


def test_truncation_with_a_replayed_head_passes_the_store_but_not_the_checkpoints(
    services: Services,
) -> None:
    _append(services, 7)
    saved = _saved_head(services)  # the writer keeps the sealed head of event 7
    _append(services, 3)
    services.audit.checkpoint()
    _roll_back(services, saved)  # delete 8–10, lower the counter, put the old sealed head back
    assert services.audit.verify().ok  # the store alone cannot tell
    report = _verify_against(services, services.settings.audit_checkpoint_dir)
    assert not report.ok
    assert "ends at event 7" in (report.problem or "") and "vouches for event 10" in (
        report.problem or ""
    )


def test_a_rolled_back_then_forked_chain_differs_from_the_checkpoint(services: Services) -> None:
    _append(services, 4)
    saved = _saved_head(services)
    _append(services, 4)
    services.audit.checkpoint()
    _roll_back(services, saved)
    _append(services, 6, "fork")  # life goes on from the old copy: events 5–10 are new ones
    report = _verify_against(services, services.settings.audit_checkpoint_dir)
    assert not report.ok and "event 8 differs from checkpoint" in (report.problem or "")
    with pytest.raises(ChainBroken):
        services.audit.checkpoint()  # nothing vouches for the forked chain
    assert len(list(services.settings.audit_checkpoint_dir.glob("*.json"))) == 1


def test_restoring_an_old_copy_of_the_sqlite_file_is_caught(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'charter.db'}")
    services = Services.from_settings(settings)
    _append(services, 5)
    services.audit.checkpoint()
    services.close()
    copies = tmp_path / "copy"
    copies.mkdir()
    for path in tmp_path.glob("charter.db*"):
        shutil.copy2(path, copies / path.name)
    services = Services.from_settings(settings)
    _append(services, 5)
    services.audit.checkpoint()
    services.close()
    for path in tmp_path.glob("charter.db*"):
        path.unlink()
    for path in copies.iterdir():
        shutil.copy2(path, tmp_path / path.name)
    services = Services.from_settings(settings)
    try:
        assert services.audit.verify().ok
        report = _verify_against(services, settings.audit_checkpoint_dir)
        assert not report.ok and "rolled back" in (report.problem or "")
    finally:
        services.close()


def test_a_checkpoint_edited_to_match_a_truncated_store_is_a_forgery(services: Services) -> None:
    _append(services, 6)
    saved = _saved_head(services)
    _append(services, 2)
    written = services.audit.checkpoint()
    _roll_back(services, saved)
    data = json.loads(written.path.read_text())
    with services.db.read() as connection:
        data["hash"] = connection.execute(sa.select(E.c.hash).where(E.c.seq == 6)).scalar_one()
    data["sequence"] = 6
    written.path.write_text(json.dumps(data))
    report = _verify_against(services, services.settings.audit_checkpoint_dir)
    assert not report.ok and "forged signature" in (report.problem or "")


def test_a_checkpoint_signed_with_another_key_is_a_forgery(
    services: Services, tmp_path: Path
) -> None:
    _append(services, 3)
    written = services.audit.checkpoint()
    directory = services.settings.audit_checkpoint_dir
    pinned = tmp_path / "pinned.pub"
    shutil.copy(directory / KEY_FILE, pinned)
    mallory = CheckpointKey(Ed25519PrivateKey.generate().private_bytes_raw())
    forged = mallory.sign(3, written.checkpoint.hash, "2030-01-01T00:00:00.000000Z", 1)
    (directory / "2030-forged.json").write_text(forged.to_json())
    (directory / KEY_FILE).write_text(mallory.public().pem())
    replaced = _verify_against(services, directory)  # with the master key: the key file was swapped
    assert not replaced.ok and "was replaced" in (replaced.problem or "")
    report = _verify_against(services, directory, pinned)  # an auditor's pinned copy
    assert not report.ok and "2030-forged.json has a forged signature" in (report.problem or "")


def test_a_missing_or_empty_checkpoint_directory_is_bad_input(
    services: Services, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="does not exist") as caught:
        services.audit.read_checkpoints(tmp_path / "nowhere")
    assert caught.value.field == "--checkpoints"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match="no checkpoint files"):
        services.audit.read_checkpoints(tmp_path / "empty")


class _Sink(BaseHTTPRequestHandler):
    received: list[bytes] = []  # noqa: RUF012 - one sink per test

    def do_POST(self) -> None:
        self.received.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def sink() -> Iterator[tuple[str, list[bytes]]]:
    _Sink.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/checkpoints", _Sink.received
    server.shutdown()
    server.server_close()


def test_checkpoints_are_posted_to_the_sink(
    services: Services, sink: tuple[str, list[bytes]]
) -> None:
    url, received = sink
    _append(services, 2)
    services.audit.checkpoints = CheckpointTarget(services.settings.audit_checkpoint_dir, url)
    written = services.audit.checkpoint()
    assert written.sink_error is None
    posted = Checkpoint.parse(received[0], source="sink")
    assert posted == written.checkpoint
    assert services.audit.keyring.keys().checkpoint.public().verifies(posted)
    services.audit.checkpoints = CheckpointTarget(
        services.settings.audit_checkpoint_dir, f"http://127.0.0.1:{free_port()}/"
    )
    down = services.audit.checkpoint()
    assert down.sink_error and "did not answer" in down.sink_error and down.path.exists()


def test_the_cli_exit_codes_and_the_auditors_view(tmp_path: Path) -> None:
    """0 intact, 1 tampered, 2 bad input; an auditor without the master key checks signatures."""
    url = f"sqlite:///{tmp_path / 'charter.db'}"
    env = charter_env(tmp_path / "home", url)
    env.pop("CHARTER_MASTER_KEY", None)
    services = Services.from_settings(Settings(home=tmp_path / "home", database_url=url))
    _append(services, 6)
    saved = _saved_head(services)
    _append(services, 2)
    services.close()
    directory = str(tmp_path / "home" / "audit-checkpoints")
    made = run_cli("audit", "checkpoint", "--json", env=env)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["sequence"] == 8
    public = run_cli("audit", "checkpoint", "--public-key", env=env)
    assert public.stdout == (Path(directory) / KEY_FILE).read_text()
    intact = run_cli("audit", "verify", "--checkpoints", directory, "--json", env=env)
    assert intact.returncode == 0 and json.loads(intact.stdout)["checkpoints"] == 1
    missing = run_cli("audit", "verify", "--checkpoints", str(tmp_path / "nowhere"), env=env)
    assert (
        missing.returncode == 2
        and "--checkpoints" in missing.stderr
        and "does not exist" in missing.stderr
    )
    assert "Traceback" not in missing.stderr
    auditor = charter_env(tmp_path / "auditor", url)  # no master key: signatures and order only
    auditor.pop("CHARTER_MASTER_KEY", None)
    seen = run_cli("audit", "verify", "--checkpoints", directory, env=auditor)
    assert seen.returncode == 0 and "links NOT checked" in seen.stdout
    assert not (tmp_path / "auditor" / "master.key").exists()
    services = Services.from_settings(Settings(home=tmp_path / "home", database_url=url))
    _roll_back(services, saved)
    services.close()
    for environment in (env, auditor):
        caught = run_cli("audit", "verify", "--checkpoints", directory, "--json", env=environment)
        assert caught.returncode == 1
        assert "vouches for event 8" in json.loads(caught.stdout)["problem"]
    refused = run_cli("audit", "checkpoint", env=env)
    assert refused.returncode == 1 and "does not verify" in refused.stderr
