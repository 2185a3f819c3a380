"""Response models derived from the domain's read models, so a record is declared once.

A response model lists its fields as ``__annotations__ = record_fields(Record, …)``:
pydantic reads them like written annotations, in the record's order. Only the
wire form differs from the record: enums go out as their values, tuples as lists.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Collection, Mapping
from enum import Enum
from typing import Any


def record_fields(
    record: type[Any],
    *,
    wire: Mapping[str, Any] | None = None,
    omit: Collection[str] = (),
    replace: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The fields of the dataclass ``record`` as annotations, in its order.

    ``wire`` gives a field another type on the wire (an enum's ``str``), ``omit`` leaves
    fields out, ``replace`` puts other fields in one's place (a JSON text as its parts).
    """
    hints = typing.get_type_hints(record)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(record):
        if field.name in omit:
            continue
        if replace and field.name in replace:
            fields.update(replace[field.name])
            continue
        fields[field.name] = (wire or {}).get(field.name, hints[field.name])
    return fields


def wire_value(value: Any) -> Any:
    """A record's attribute as the response model takes it: an enum by its value."""
    return value.value if isinstance(value, Enum) else value
