"""The streaming readers: structure, errors that name the record, bounded memory, size limits."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest

from charter.connectors.streaming import (
    MAX_RECORD_CHARS,
    iter_csv,
    iter_json,
    open_export,
    read_json_records,
)
from charter.errors import InputTooLarge, InvalidInput


def records(text: str, **kwargs: object) -> list[tuple[str | None, int, str, object]]:
    stream = io.BytesIO(text.encode())
    return [(m, i, r.where, r.data) for m, i, r in iter_json(stream, "x.json", **kwargs)]  # type: ignore[arg-type]


def test_top_level_array_and_object_members() -> None:
    assert records('[1, {"a": [2]}, "s"]') == [
        (None, 0, "x.json: [0]", 1),
        (None, 1, "x.json: [1]", {"a": [2]}),
        (None, 2, "x.json: [2]", "s"),
    ]
    got = records('{"Users": [{"n": 1}, {"n": 2}], "IsTruncated": false, "Roles": []}')
    assert got == [
        ("Users", 0, "x.json: Users[0]", {"n": 1}),
        ("Users", 1, "x.json: Users[1]", {"n": 2}),
        ("IsTruncated", -1, "x.json: IsTruncated", False),
    ]


def test_members_not_asked_for_are_returned_whole() -> None:
    got = records('{"items": [1, 2], "other": [3]}', arrays=["items"])
    assert got[-1] == ("other", -1, "x.json: other", [3])


def test_concatenated_documents_as_gh_paginate_writes_them() -> None:
    got = records('[{"id": 1}]\n[{"id": 2}, {"id": 3}]\n')
    assert [d for *_, d in got] == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert got[2][2] == "x.json: document 2, [2]"


def test_a_number_split_across_reads_is_not_cut(tmp_path: Path) -> None:
    path = tmp_path / "numbers.json"
    path.write_text(json.dumps([1234567890123] * 200_000))
    values = {rec.data for _, _, rec in read_json_records(path)}
    assert values == {1234567890123}


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ('[{"a": 1}, {"b": ', "x.json: [1]", "truncated"),
        ('{"items": [1, 2', "x.json: items[1]", "truncated"),
        ('[{"a": "unterminated', "x.json: [0]", "truncated"),
        ("[1, 2, ]", "x.json: [2]", "invalid JSON"),
        ('{"a" 1}', "x.json: a", "expected ':'"),
        ("", "x.json", "empty"),
        ("not json", "x.json", "not a JSON export"),
    ],
)
def test_bad_json_names_the_file_and_the_record(text: str, where: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        records(text)
    assert caught.value.field == where
    assert message in str(caught.value)
    assert str(caught.value).startswith(where)


def test_a_record_larger_than_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("charter.connectors.streaming.MAX_RECORD_CHARS", 10_000)
    with pytest.raises(InvalidInput, match="larger than"):
        records('[{"a": "' + "x" * (3 << 20) + '"}]')
    assert MAX_RECORD_CHARS > 10_000


def test_memory_stays_bounded_while_streaming_a_large_export(tmp_path: Path) -> None:
    """~40 MB of records are read with a peak far below the file size (one record + the window)."""
    path = tmp_path / "big.json"
    record = json.dumps({"metadata": {"name": "sa", "namespace": "ns"}, "pad": "x" * 400})
    with path.open("w") as out:
        out.write('{"apiVersion": "v1", "kind": "List", "items": [')
        out.write(",".join([record] * 90_000))
        out.write("]}")
    size = path.stat().st_size
    tracemalloc.start()
    count = sum(1 for m, i, _ in read_json_records(path, arrays=["items"]) if i >= 0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 90_000
    assert size > 35_000_000
    assert peak < 16_000_000, f"peak {peak} bytes for a {size} byte export"


def test_an_export_above_the_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "two-gigabytes.json"
    with big.open("wb") as handle:  # sparse: costs no disk
        handle.truncate(2 * 1024**3)
    monkeypatch.setenv("CHARTER_MAX_EXPORT_BYTES", str(1024**3))
    with pytest.raises(InputTooLarge) as caught:
        open_export(big)
    assert caught.value.field == str(big)
    assert "2,147,483,648 bytes" in str(caught.value)


def test_a_2gb_file_within_the_limit_streams_and_fails_fast_on_content(tmp_path: Path) -> None:
    big = tmp_path / "two-gigabytes.json"
    with big.open("wb") as handle:
        handle.truncate(2 * 1024**3)
    with pytest.raises(InvalidInput, match="not a JSON export"):
        list(read_json_records(big))


def test_csv_checks_header_and_row_width(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("user,arn\nalice,arn:1\n\nbob,arn:2\n")
    rows = list(iter_csv(good, required=["user", "arn"]))
    assert [r.data["user"] for r in rows] == ["alice", "bob"]
    assert rows[1].where == "good.csv: line 4"
    missing = tmp_path / "missing.csv"
    missing.write_text("user,created\nalice,2025-01-01\n")
    with pytest.raises(InvalidInput, match="lacks the column") as caught:
        list(iter_csv(missing, required=["user", "arn"]))
    assert caught.value.field == "missing.csv: header"
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("user,arn\nalice,arn:1,extra\n")
    with pytest.raises(InvalidInput, match="3 fields but the header has 2") as caught:
        list(iter_csv(ragged, required=["user"]))
    assert caught.value.field == "ragged.csv: line 2"


def test_invalid_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'[{"name": "caf\xe9"}]')
    with pytest.raises(InvalidInput, match="not UTF-8"):
        list(read_json_records(path))
