"""How estate records become store rows, and how a stored row is compared with a new record.

Two encodings of the same columns:

- :func:`row_values` — a dict of Python values for SQLAlchemy Core (PostgreSQL,
  where the driver binds datetimes and JSONB natively); compared semantically
  with :func:`same_values`.
- :class:`SqliteCodec` — a tuple already in SQLite's stored form: ``DATETIME``
  text exactly as SQLAlchemy writes it (UTC components, microseconds), canonical
  JSON text (sorted keys), booleans as 0/1. Inserts skip SQLAlchemy's per-row
  parameter processing, and a re-ingest compares the stored tuple with the new
  one as raw values, parsing nothing — what makes a million-row estate fast on
  the embedded store.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

import sqlalchemy as sa

from charter.errors import InvalidInput

IDENTITY_COLUMNS = (
    "source",
    "account",
    "kind",
    "name",
    "system",
    "native_id",
    "owner",
    "owner_confidence",
    "agent",
    "ai_related",
    "created_at",
    "last_used_at",
    "evidence",
    "properties",
)
CREDENTIAL_COLUMNS = (
    "source",
    "account",
    "kind",
    "provider",
    "fingerprint",
    "preview",
    "identity",
    "agent",
    "created_at",
    "expires_at",
    "last_used_at",
    "last_rotated_at",
    "location",
    "properties",
)
GRANT_COLUMNS = (
    "source",
    "account",
    "subject_type",
    "subject",
    "system",
    "resource",
    "permissions",
    "reason",
    "properties",
)
JSON_COLUMNS = frozenset({"evidence", "properties", "permissions"})


def aware(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def plain(value: Any) -> Any:
    """JSON-shaped, comparable form of a value as the store gives it back."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return aware(value).isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def row_values(record: Any, columns: Sequence[str]) -> dict[str, Any]:
    """Column → Python value (enums as values, tuples as lists, datetimes in UTC)."""
    row: dict[str, Any] = {"id": record.id}
    for column in columns:
        value = getattr(record, column)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dt.datetime):
            value = aware(value)
        row[column] = value
    return row


def check_json(row: Mapping[str, Any], columns: Sequence[str], *, what: str) -> None:
    """Name the record, not a driver error, when a property is not JSON."""
    for column in JSON_COLUMNS.intersection(columns):
        try:
            json.dumps(row[column])
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"{what} {column} holds a value that is not JSON: {exc}", field=what
            ) from exc


def same_values(new: Mapping[str, Any], old: Any, columns: Sequence[str]) -> bool:
    """Does a stored row (SQLAlchemy result) hold exactly what ``new`` says, and is it not gone?"""
    if old.gone_at is not None:
        return False
    for column in columns:
        a, b = new[column], getattr(old, column)
        if column in JSON_COLUMNS:
            if plain(a) != plain(b):
                return False
        elif isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
            if (a is None) != (b is None) or (a is not None and aware(a) != aware(b)):
                return False
        elif a != b:
            return False
    return True


# -- SQLite's stored form -----------------------------------------------------------------
#: Stored text of recently encoded instants. Exports repeat timestamps a lot (creation and
#: rotation dates, day-rounded last use), and hashing a datetime costs a fraction of
#: formatting it. Keyed by the instant (aware datetimes compare by instant; naive ones are
#: UTC by convention and never equal an aware one), bounded by clearing.
_TIMES: dict[dt.datetime, str] = {}
_TIMES_MAX = 65536


def sqlite_time(moment: dt.datetime | None) -> str | None:
    """``DATETIME`` text exactly as SQLAlchemy's SQLite dialect stores it: UTC, microseconds."""
    if moment is None:
        return None
    text = _TIMES.get(moment)
    if text is None:
        utc = moment if moment.tzinfo is dt.UTC else aware(moment)
        text = utc.replace(tzinfo=None).isoformat(" ", "microseconds")
        if len(_TIMES) >= _TIMES_MAX:
            _TIMES.clear()
        _TIMES[moment] = text
    return text


def _json_text(value: Any) -> str:
    return json.dumps(
        list(value) if isinstance(value, tuple) else value, sort_keys=True, ensure_ascii=False
    )


def _json_encoder() -> Callable[[Any], str]:
    """``_json_text`` without building a ``JSONEncoder`` per value (the C encoder, made once).

    Same text: the C encoder is what ``json.dumps`` itself runs for these options (tuples
    are encoded as lists by it). Falls back to ``_json_text`` where there is no C encoder.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return _json_text
    options = json.JSONEncoder(sort_keys=True, ensure_ascii=False)
    markers: dict[int, Any] = {}
    encode = make(
        markers,
        options.default,
        json.encoder.encode_basestring,
        None,
        options.key_separator,
        options.item_separator,
        True,
        False,
        True,
    )

    def text(value: Any) -> str:
        if isinstance(value, str):  # json.dumps short-cuts a bare string the same way
            return json.encoder.encode_basestring(value)
        try:
            return "".join(encode(value, 0))
        except BaseException:
            markers.clear()  # an error leaves the containers it was inside marked
            raise

    return text


json_text = _json_encoder()


class SqliteCodec:
    """Encodes one table's records into stored tuples; knows the statements that use them."""

    def __init__(self, table: sa.Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._json_at = tuple(i for i, c in enumerate(columns) if c in JSON_COLUMNS)
        self._time_at = tuple(
            i for i, c in enumerate(columns) if isinstance(table.c[c].type, sa.DateTime)
        )
        self._fast = self._compile()
        # Statements are built from the schema's own table and column names (constants);
        # every value is a bound parameter.
        names = ", ".join(columns)
        self.select = f"SELECT id, {names}, gone_at FROM {table.name} WHERE id IN "  # + (?, ?, …)  # noqa: S608
        marks = ", ".join("?" for _ in range(len(columns) + 4))
        every = f"id, {names}, first_seen, last_seen, gone_at"
        self.insert = f"INSERT INTO {table.name} ({every}) VALUES ({marks})"  # noqa: S608
        sets = ", ".join(f"{c} = ?" for c in columns)
        self.update = f"UPDATE {table.name} SET {sets}, last_seen = ?, gone_at = NULL WHERE id = ?"  # noqa: S608
        self.touch = f"UPDATE {table.name} SET last_seen = ? WHERE id IN "  # noqa: S608  + (?, ?, …)
        self.agent_index = 1 + columns.index("agent") if "agent" in columns else None
        self.scope_index = (1 + columns.index("source"), 1 + columns.index("account"))

    def _compile(self) -> Callable[[Any], tuple[Any, ...]]:
        """One generated function per table: ``record -> stored tuple``, no per-column loop.

        Column names are the schema's constants (identifiers), never data. StrEnum values
        are str and booleans are int to the sqlite3 driver, so only times and JSON convert.
        """
        parts = []
        for index, column in enumerate(self.columns):
            if not column.isidentifier():  # pragma: no cover - schema constants
                raise ValueError(column)
            if index in self._time_at:
                parts.append(f"T(r.{column})")
            elif index in self._json_at:
                parts.append(f"J(r.{column})")
            else:
                parts.append(f"r.{column}")
        source = f"def encode(r):\n    return ({', '.join(parts)},)\n"
        namespace: dict[str, Any] = {"T": sqlite_time, "J": json_text}
        exec(source, namespace)  # noqa: S102 - generated from column names only
        encode: Callable[[Any], tuple[Any, ...]] = namespace["encode"]
        return encode

    def encode(self, record: Any, *, kind: str) -> tuple[Any, ...]:
        """The stored tuple; :class:`InvalidInput` naming the ``kind`` record when a property is
        not JSON.
        """
        try:
            return self._fast(record)
        except (TypeError, ValueError, RecursionError):
            pass  # find which column, and say so
        what = f"{kind} {record.id!r}"
        values = list(operator.attrgetter(*self.columns)(record))
        for index in self._time_at:
            values[index] = sqlite_time(values[index])
        for index in self._json_at:
            try:
                values[index] = _json_text(values[index])
            except (TypeError, ValueError) as exc:
                column = self.columns[index]
                raise InvalidInput(
                    f"{what} {column} holds a value that is not JSON: {exc}", field=what
                ) from exc
        return tuple(values)
