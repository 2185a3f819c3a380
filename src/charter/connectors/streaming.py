"""Reading exports in bounded memory: a streaming JSON reader and a checked CSV reader.

Exports can be gigabytes (an AWS organisation's authorization details, a
cluster's Secrets). ``ijson`` is not a dependency, so this module streams JSON
on the standard library: it walks the *structure* around the records by hand
(``{``, keys, ``[``, commas) and hands each record to ``json.JSONDecoder.raw_decode``,
which parses in C. Memory holds the read buffer plus one record at a time; a
single record larger than :data:`MAX_RECORD_CHARS` is refused.

It also accepts concatenated JSON documents, which is what ``gh api --paginate``
writes (one array per page, back to back).

Every record comes with ``where`` — file, array and index — so an error names
the file and the record (``k8s.json: items[1234]``). Errors are
:class:`~charter.errors.InvalidInput` (``field`` is the record path);
a file above :func:`max_export_bytes` is :class:`~charter.errors.InputTooLarge`.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from charter.errors import InputTooLarge, InvalidInput

#: The default refusal threshold per export file; ``CHARTER_MAX_EXPORT_BYTES`` overrides.
DEFAULT_MAX_EXPORT_BYTES = 8 * 1024**3
#: One record (an IAM role with its inline policies, a Secret) may be at most this big.
MAX_RECORD_CHARS = 64 * 1024 * 1024
_READ = 1 << 20
_WS = " \t\r\n"


@dataclass(frozen=True, slots=True)
class Rec:
    """One record of an export and where it came from (for error messages)."""

    where: str
    data: Any

    def fail(self, message: str, *, field: str | None = None) -> InvalidInput:
        """An error naming this record: raise the result."""
        return InvalidInput(message, field=field or self.where)


def max_export_bytes() -> int:
    value = os.environ.get("CHARTER_MAX_EXPORT_BYTES")
    return int(value) if value and value.isdigit() else DEFAULT_MAX_EXPORT_BYTES


def open_export(path: Path, *, limit: int | None = None) -> BinaryIO:
    """Open an export for streaming, refusing a file above the size limit up front."""
    limit = max_export_bytes() if limit is None else limit
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputTooLarge(
                f"the file is {size:,} bytes; exports above {limit:,} bytes are refused "
                "(raise CHARTER_MAX_EXPORT_BYTES to allow it; "
                "reading streams, memory stays bounded)",
                field=str(path),
            )
        return path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read the file: {exc.strerror}", field=str(path)) from exc


class _Reader:
    """A sliding text window over a binary stream, with positions for error messages."""

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        self._stream = stream
        self.name = name
        self.buf = ""
        self.pos = 0
        self.eof = False
        self._dropped = 0  # characters discarded before buf[0]
        self._dropped_lines = 0

    def fill(self, size: int = _READ) -> bool:
        if self.eof:
            return False
        if self.pos > _READ:
            self._dropped_lines += self.buf.count("\n", 0, self.pos)
            self._dropped += self.pos
            self.buf, self.pos = self.buf[self.pos :], 0
        chunk = self._stream.read(size)
        try:
            text = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"not UTF-8 text near character {self._dropped + self.pos + exc.start}",
                field=self.name,
            ) from exc
        if not chunk:
            self.eof = True
        self.buf += text
        return bool(chunk)

    def peek(self) -> str:
        """The next non-space character ('' at the end of the input)."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WS:
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.fill():
                return ""

    def line(self, pos: int | None = None) -> int:
        pos = self.pos if pos is None else pos
        return self._dropped_lines + self.buf.count("\n", 0, pos) + 1

    def error(self, where: str, message: str) -> InvalidInput:
        return InvalidInput(f"{message} (line {self.line()})", field=where)

    def expect(self, char: str, where: str) -> None:
        found = self.peek()
        if found != char:
            if not found:
                raise self.error(where, f"the JSON ends early, expected {char!r} (truncated?)")
            raise self.error(where, f"invalid JSON: expected {char!r}, found {found!r}")
        self.pos += 1

    def value(self, decoder: json.JSONDecoder, where: str) -> Any:
        """Decode one JSON value at the cursor, reading more until it is complete."""
        self.peek()
        size = _READ
        while True:
            try:
                value, end = decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof:
                    truncated = exc.pos >= len(self.buf.rstrip()) or exc.msg.startswith(
                        "Unterminated"
                    )
                    if truncated:
                        raise self.error(
                            where, "the JSON ends in the middle of this record (truncated?)"
                        ) from None
                    raise InvalidInput(
                        f"invalid JSON: {exc.msg} (line {self.line(exc.pos)})", field=where
                    ) from None
            else:
                # a number (or literal) that touches the end of the window may go on
                if end < len(self.buf) or self.eof:
                    self.pos = end
                    return value
            if len(self.buf) - self.pos > MAX_RECORD_CHARS:
                raise self.error(
                    where, f"one record is larger than {MAX_RECORD_CHARS:,} characters"
                )
            self.fill(size)
            size = min(size * 2, 64 * _READ)  # geometric: a big record costs O(n), not O(n²)


def iter_json(
    stream: BinaryIO,
    name: str,
    *,
    arrays: Collection[str] | None = None,
) -> Iterator[tuple[str | None, int, Rec]]:
    """Stream a JSON export as ``(member, index, Rec)``.

    - a top-level array yields each element as ``(None, i, …)``;
    - a top-level object yields each element of the arrays named in ``arrays``
      (every array member when ``arrays`` is None) as ``(member, i, …)``, and
      every other member whole as ``(member, -1, …)``;
    - several documents back to back (``gh api --paginate``) are read in turn.
    """
    reader = _Reader(stream, name)
    decoder = json.JSONDecoder()
    document = 0
    counters: dict[str | None, int] = {}
    while True:
        first = reader.peek()
        if not first:
            if document == 0:
                raise InvalidInput("the file is empty; expected a JSON export", field=name)
            return
        prefix = f"{name}: " if document == 0 else f"{name}: document {document + 1}, "
        if first == "[":
            yield from _array(reader, decoder, None, counters, prefix)
        elif first == "{":
            reader.pos += 1
            if reader.peek() == "}":
                reader.pos += 1
            else:
                while True:
                    key = reader.value(decoder, f"{prefix}a key")
                    if not isinstance(key, str):
                        raise reader.error(name, "invalid JSON: an object key must be a string")
                    reader.expect(":", f"{prefix}{key}")
                    if reader.peek() == "[" and (arrays is None or key in arrays):
                        yield from _array(reader, decoder, key, counters, prefix)
                    else:
                        value = reader.value(decoder, f"{prefix}{key}")
                        yield key, -1, Rec(f"{prefix}{key}", value)
                    separator = reader.peek()
                    reader.pos += 1
                    if separator == "}":
                        break
                    if separator != ",":
                        reader.pos -= 1
                        reader.expect(",", f"{prefix}{key}")
        else:
            raise reader.error(
                name, f"not a JSON export (it starts with {first!r}, not '{{' or '[')"
            )
        document += 1


def _array(
    reader: _Reader,
    decoder: json.JSONDecoder,
    member: str | None,
    counters: dict[str | None, int],
    prefix: str,
) -> Iterator[tuple[str | None, int, Rec]]:
    reader.expect("[", f"{prefix}{member or 'the array'}")
    label = member or ""
    if reader.peek() == "]":
        reader.pos += 1
        return
    while True:
        index = counters.get(member, 0)
        counters[member] = index + 1
        where = f"{prefix}{label}[{index}]"
        value = reader.value(decoder, where)
        yield member, index, Rec(where, value)
        separator = reader.peek()
        if separator == "]":
            reader.pos += 1
            return
        reader.expect(",", where)


def read_json_records(
    path: Path, *, arrays: Collection[str] | None = None
) -> Iterator[tuple[str | None, int, Rec]]:
    """:func:`iter_json` over a file, closing it when the iteration ends."""
    with open_export(path) as stream:
        yield from iter_json(stream, path.name, arrays=arrays)


def iter_csv(path: Path, *, required: Sequence[str]) -> Iterator[Rec]:
    """Stream a CSV export's rows as dicts, checking the header and every row's width."""
    with open_export(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise InvalidInput(
                "the file is empty; expected a CSV export", field=path.name
            ) from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InvalidInput(f"not a readable CSV file: {exc}", field=path.name) from exc
        header = [h.strip() for h in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise InvalidInput(
                f"the CSV lacks the column(s) {', '.join(missing)}",
                field=f"{path.name}: header",
            )
        try:
            for row in reader:
                where = f"{path.name}: line {reader.line_num}"
                if not row or row == [""]:
                    continue
                if len(row) != len(header):
                    raise InvalidInput(
                        f"the row has {len(row)} fields but the header has {len(header)}",
                        field=where,
                    )
                yield Rec(where, dict(zip(header, row, strict=True)))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InvalidInput(
                f"not readable CSV: {exc}", field=f"{path.name}: line {reader.line_num}"
            ) from exc


@dataclass(frozen=True, slots=True)
class Head:
    """A cheap look at a file's start, for telling which export it is."""

    path: Path
    kind: str  # "json" | "csv" | "other"
    keys: frozenset[str] = frozenset()  # top-level member names seen
    first: Any = None  # the first record (top-level array element, or first array member's)
    first_member: str | None = None
    csv_header: tuple[str, ...] = ()


def peek(path: Path) -> Head:
    """Read just enough of ``path`` to classify it (never the whole file)."""
    try:
        with path.open("rb") as stream:
            start = stream.read(4096)
            stream.seek(0)
            text = start.decode("utf-8-sig", errors="replace").lstrip()
            if text[:1] in ("{", "["):
                keys: set[str] = set()
                try:
                    for member, index, rec in iter_json(stream, path.name):
                        if member is not None:
                            keys.add(member)
                        if index >= 0 and isinstance(rec.data, dict):
                            return Head(path, "json", frozenset(keys), rec.data, member)
                        if member == "items" or len(keys) > 64:
                            break
                except InvalidInput:
                    pass
                return Head(path, "json", frozenset(keys))
            if path.suffix.lower() == ".csv" or ("," in text.split("\n", 1)[0]):
                header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
                return Head(path, "csv", csv_header=tuple(h.strip() for h in header))
    except OSError:
        pass
    return Head(path, "other")
