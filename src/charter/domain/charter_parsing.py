"""Turn charter text (YAML or JSON) into a :class:`CharterSpec`, with errors that name fields.

YAML is read with a loader that refuses anchors and aliases (no "billion laughs")
and anything but plain data; the text is size-checked before parsing. Both
formats refuse a key given twice in one mapping (otherwise the last one wins
silently: ``owner:`` twice) and nesting deeper than
:data:`~charter.domain.nesting.MAX_DEPTH`; the error names the key or the limit
and the line.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from pydantic import ValidationError

from charter.domain.charter import CharterSpec
from charter.domain.duplicate_keys import duplicate_json_key
from charter.domain.nesting import MAX_DEPTH, check_json_depth, too_deep
from charter.errors import InputTooLarge, InvalidInput

MAX_CHARTER_BYTES = 1024 * 1024


class PlainLoader(yaml.SafeLoader):
    """SafeLoader without aliases (they enable YAML bombs), duplicate keys or deep nesting."""

    source = "YAML"
    _depth = 0

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
        if not isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:  # the composer recurses per level
            raise too_deep(f"{self.source} (line {line})", field="file")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """A date YAML cannot build (``2027-31-06``) stays text, for the model to name the field."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        """``19:00`` is the text it was written as, not YAML 1.1's base-60 number 1140."""
        text = self.construct_scalar(node)
        if ":" in str(text):
            return text
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node: yaml.ScalarNode) -> Any:
        text = self.construct_scalar(node)
        if ":" in str(text):
            return text
        return super().construct_yaml_float(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                continue  # unhashable: the constructor below reports it
            if key in seen:
                line = key_node.start_mark.line + 1
                raise InvalidInput(
                    f"{self.source}: key {key!r} appears twice in one mapping (line {line})",
                    field=str(key),
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


PlainLoader.add_constructor("tag:yaml.org,2002:timestamp", PlainLoader.construct_yaml_timestamp)
PlainLoader.add_constructor("tag:yaml.org,2002:int", PlainLoader.construct_yaml_int)
PlainLoader.add_constructor("tag:yaml.org,2002:float", PlainLoader.construct_yaml_float)


def load_yaml(text: str, *, source: str) -> Any:
    """YAML as plain data with :class:`PlainLoader`'s refusals; syntax errors name ``source``."""
    loader = PlainLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise InvalidInput(
            f"{source} is not valid YAML: {_yaml_problem(exc)}", field="file"
        ) from exc
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's several-line message as one: what is wrong, and where."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if not problem:
        return " ".join(str(exc).split())
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    return f"{problem}{where}"


def load_json_strict(text: str, *, source: str) -> Any:
    """JSON refusing deep nesting and a key given twice in one object (named, with its line)."""
    check_json_depth(text, source=source, field="file")
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source} is not valid JSON: {exc}", field="file") from exc
    except _DuplicateKey as exc:
        found = duplicate_json_key(text)
        key, line = found if found else (exc.key, None)
        where = f" (line {line})" if line else ""
        raise InvalidInput(
            f"{source}: key {key!r} appears twice in one object{where}", field=key
        ) from None


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return document


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
    if text.lstrip().startswith("{"):
        document = load_json_strict(text, source=source)
    else:
        document = load_yaml(text, source=source)
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


#: What a value of each kind looks like, for messages about one that is not.
DATE_FORM = "write YYYY-MM-DD (e.g. 2027-06-30)"
DATETIME_FORM = "write YYYY-MM-DDTHH:MM[:SS] with an optional offset (e.g. 2027-06-30T09:00Z)"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problem_message(error: Any) -> str:
    """Pydantic's message for one error, in the words and forms a charter's author writes."""
    kind = str(error["type"])
    value = error.get("input")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind.startswith("date_"):
        return f"{_shown(value)} is not a date: {DATE_FORM}"
    if kind.startswith("datetime_"):
        return f"{_shown(value)} is not a date and time: {DATETIME_FORM}"
    if kind == "string_type":
        return f"expected text, got {_shown(value)}: write it in quotes"
    return " ".join(str(error["msg"]).removeprefix("Value error, ").split())


def validation_error(exc: ValidationError, *, what: str = "charter") -> InvalidInput:
    """One InvalidInput naming the first bad field (as its ``field``) and every problem.

    The message starts with the first field's problem (the CLI prints the field
    before it), then ``path: problem`` for each other one, then which document.
    """
    problems = [(field_path(tuple(error["loc"])), problem_message(error)) for error in exc.errors()]
    if not problems:
        return InvalidInput(f"invalid {what}", field=what)
    (first_field, first), rest = problems[0], problems[1:]
    text = "; ".join([first, *(f"{location}: {message}" for location, message in rest)])
    if what != "charter":
        text += f" (in the {what})"
    return InvalidInput(text, field=first_field)


def parse_charter(document: dict[str, Any]) -> CharterSpec:
    try:
        return CharterSpec.model_validate(document)
    except ValidationError as exc:
        raise validation_error(exc) from exc
    except InvalidInput:
        raise


def parse_charter_text(text: str | bytes, *, source: str = "charter") -> CharterSpec:
    return parse_charter(load_document(text, source=source))
