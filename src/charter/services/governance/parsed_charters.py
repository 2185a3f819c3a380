"""Charters parsed once per process: an evaluation reads every agent's charter document,
and a worker evaluates again and again over versions that never change."""

from __future__ import annotations

from typing import Any

from charter.domain.charter import CharterSpec

#: Parsed charters by (agent, version), with the document each was parsed from. A version
#: is never rewritten, so a worker's next evaluation reuses them: validating ten thousand
#: charters (their owners' e-mail syntax included) was about 6 % of an evaluation's CPU.
#: The document is still compared before a parsed charter is reused.
_CHARTERS: dict[tuple[str, int], tuple[Any, CharterSpec]] = {}
_CHARTERS_MAX = 100_000


def parsed_charter(name: str, version: int, document: Any) -> CharterSpec:
    """``CharterSpec.model_validate(document)``, once per (agent, version, document)."""
    key = (name, version)
    cached = _CHARTERS.get(key)
    if cached is not None and cached[0] == document:
        return cached[1]
    spec = CharterSpec.model_validate(document)
    if len(_CHARTERS) >= _CHARTERS_MAX:
        _CHARTERS.clear()
    _CHARTERS[key] = (document, spec)
    return spec
