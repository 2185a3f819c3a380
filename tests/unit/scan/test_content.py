"""The content scanner: chunked streaming finds each secret exactly once, on the
right line, wherever the chunk boundary falls; every engine agrees."""

from __future__ import annotations

import io

import pytest

from charter.discovery.scan import content
from charter.discovery.scan.detectors import all_detectors

from .helpers import fake, scan_text, scanner


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # The smallest sizes that keep the invariants the next test checks.
    monkeypatch.setattr(content, "CHUNK", 40 * 1024)
    monkeypatch.setattr(content, "OVERLAP", 17 * 1024)
    monkeypatch.setattr(content, "CONTEXT", 2200)


def test_overlap_covers_every_detector_window() -> None:
    widest = max(d.window_after + d.window_before for d in all_detectors())
    assert widest < content.OVERLAP
    assert content.CONTEXT >= 2048 + 64  # an AWS secret up to 2 KB before its key id


def _document(secret_at_line: int, text: str, lines: int = 4000) -> str:
    filler = [f"value_{i} = {i * 7919 % 10007}  # some ordinary code here" for i in range(lines)]
    filler.insert(secret_at_line - 1, text)
    return "\n".join(filler) + "\n"


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("detector_id", ["github-pat", "private-key", "aws-access-key", "jwt"])
def test_streaming_finds_each_secret_once_across_chunk_boundaries(detector_id: str) -> None:
    credential = fake(detector_id)
    for line in [1, *range(2, 4000, 97)]:
        data = _document(line, credential.text).encode()
        streamed = scanner().scan_stream(io.BytesIO(data))
        whole = scanner().scan_buffer(data)
        assert [(h.detector, h.line) for h in streamed.secrets] == [(detector_id, line)]
        assert streamed.secrets == whole.secrets


@pytest.mark.usefixtures("small_chunks")
def test_streaming_counts_lines_and_signals_over_many_chunks() -> None:
    token = fake("github-pat").token
    lines = [f"import openai  # {i}" if i % 50 == 0 else f"x{i} = {i}" for i in range(30000)]
    lines[25000] = f"TOKEN = '{token}'"
    result = scanner().scan_stream(io.BytesIO(("\n".join(lines) + "\n").encode()))
    assert [(h.detector, h.line) for h in result.secrets] == [("github-pat", 25001)]
    imports = [s.line for s in result.signals if s.signal == "py-import"]
    assert imports == [i + 1 for i in range(0, 30000, 50) if i != 25000]


def test_invalid_utf8_is_reported_and_still_scanned() -> None:
    token = fake("slack-bot-token").token
    data = b"caf\xe9 latin-1 text\nSLACK=" + token.encode() + b"\n"
    result = scanner().scan_stream(io.BytesIO(data))
    assert not result.valid_utf8
    assert [h.detector for h in result.secrets] == ["slack-bot-token"]
    assert scanner().scan_stream(io.BytesIO("naïve ✓\n".encode())).valid_utf8


def test_every_engine_finds_the_same() -> None:
    corpus = "\n\n".join(fake(d.id, 3).text for d in all_detectors())
    results = {
        engine: [(h.detector, h.line, h.fingerprint) for h in scan_text(corpus, engine)]
        for engine in ("hyperscan", "re2", "re")
    }
    assert len(results["hyperscan"]) == len(all_detectors())
    assert results["hyperscan"] == results["re2"] == results["re"]


def test_overlapping_findings_keep_the_most_specific() -> None:
    key_file = fake("gcp-service-account-key").text
    assert [h.detector for h in scan_text(key_file)] == ["gcp-service-account-key"]


def test_a_token_cut_by_the_window_is_not_reported() -> None:
    token = fake("github-pat").token
    assert not scan_text(token + "ABCDEF")  # longer than the format: not a GitHub token
