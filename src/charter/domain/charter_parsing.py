"""Turn charter text (YAML or JSON) into a :class:`CharterSpec`, with errors that name fields.

YAML is read with a loader that refuses anchors and aliases (no "billion laughs")
and anything but plain data; the text is size-checked before parsing.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import ValidationError

from charter.domain.charter import CharterSpec
from charter.errors import InputTooLarge, InvalidInput

MAX_CHARTER_BYTES = 1024 * 1024


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader without aliases: a charter never needs them and they enable YAML bombs."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        line = event.start_mark.line + 1 if event.start_mark else "?"
        if isinstance(event, yaml.AliasEvent):
            raise InvalidInput(
                f"YAML aliases and anchors are not accepted in Charter YAML (line {line})",
                field="file",
            )
        if getattr(event, "anchor", None):
            raise InvalidInput(
                f"YAML anchors and aliases are not accepted in Charter YAML (line {line})",
                field="file",
            )
        return super().compose_node(parent, index)


def load_document(text: str | bytes, *, source: str = "charter") -> dict[str, Any]:
    """Parse YAML or JSON text into a mapping, refusing oversize and unsafe input."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_CHARTER_BYTES:
        raise InputTooLarge(
            f"{source} is {size} bytes; a charter file may be at most {MAX_CHARTER_BYTES} bytes",
            field="file",
        )
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{source} is not UTF-8 text", field="file") from exc
    stripped = text.lstrip()
    try:
        if stripped.startswith("{"):
            document = json.loads(text)
        else:
            document = yaml.load(text, Loader=_PlainLoader)  # noqa: S506 - a SafeLoader subclass
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{source} is not valid YAML or JSON: {exc}", field="file") from exc
    if not isinstance(document, dict):
        raise InvalidInput(f"{source} must hold a mapping of charter fields", field="file")
    return document


def field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "charter"


def validation_error(exc: ValidationError, *, what: str = "charter") -> InvalidInput:
    """One InvalidInput naming the first bad field and listing every problem."""
    problems = []
    for error in exc.errors():
        location = field_path(tuple(error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required field is missing"
        problems.append((location, message))
    first_field = problems[0][0] if problems else what
    text = "; ".join(f"{location}: {message}" for location, message in problems)
    return InvalidInput(f"invalid {what}: {text}", field=first_field)


def parse_charter(document: dict[str, Any]) -> CharterSpec:
    try:
        return CharterSpec.model_validate(document)
    except ValidationError as exc:
        raise validation_error(exc) from exc
    except InvalidInput:
        raise


def parse_charter_text(text: str | bytes, *, source: str = "charter") -> CharterSpec:
    return parse_charter(load_document(text, source=source))
