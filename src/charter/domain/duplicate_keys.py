"""Where a JSON text repeats a key within one object: the key and its line.

``json.loads`` keeps the last of two equal keys and says nothing; the loader
in ``charter_parsing`` refuses them with an ``object_pairs_hook``, which knows
the key but not where it is. This walk runs only then, to point at the line.
"""

from __future__ import annotations

import json
import re

_LEXEME = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:]', re.DOTALL)


def duplicate_json_key(text: str) -> tuple[str, int] | None:
    """The first key that repeats within one object, with its 1-based line; None if none."""
    objects: list[set[str] | None] = []  # one entry per open bracket; None for an array
    lexemes = list(_LEXEME.finditer(text))
    for index, match in enumerate(lexemes):
        lexeme = match.group()
        if lexeme in "{[":
            objects.append(set() if lexeme == "{" else None)
        elif lexeme in "}]":
            if objects:
                objects.pop()
        elif lexeme.startswith('"') and objects and objects[-1] is not None:
            follows = lexemes[index + 1].group() if index + 1 < len(lexemes) else ""
            if follows != ":":
                continue  # a value, not a key
            try:
                key = json.loads(lexeme)
            except json.JSONDecodeError:
                return None
            keys = objects[-1]
            if key in keys:
                return key, text.count("\n", 0, match.start()) + 1
            keys.add(key)
    return None
