"""The multi-pattern prefilter: every probe over a buffer in one pass.

Running sixty Python regexes over every byte is what makes naive scanners slow
(~10 MB/s). Hyperscan compiles all prefilters into one automaton and reports
where each one starts (``SOM_LEFTMOST``), at memory bandwidth; only those spots
go on to Python ``re``. Where hyperscan is unavailable (it needs x86-64 with
SSSE3), RE2's ``Set`` says which probes occur and RE2 finds where; plain ``re``
is the last resort. ``engine_name`` says which ran, and the summary prints it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

#: (probe index, start offset) pairs, in no particular order.
Hits = list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Probe:
    """One prefilter expression (hyperscan/RE2 syntax: no lookaround, no backrefs)."""

    pattern: str
    caseless: bool = False


class Prefilter(Protocol):
    name: str

    def scan(self, data: bytes) -> Hits: ...


class HyperscanPrefilter:
    def __init__(self, probes: Sequence[Probe]) -> None:
        import hyperscan

        self.name = f"hyperscan {getattr(hyperscan, '__version__', '')}".strip()
        flags = [
            hyperscan.HS_FLAG_SOM_LEFTMOST | (hyperscan.HS_FLAG_CASELESS if p.caseless else 0)
            for p in probes
        ]
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(
            expressions=[p.pattern.encode() for p in probes],
            ids=list(range(len(probes))),
            elements=len(probes),
            flags=flags,
        )

    @staticmethod
    def _on_match(probe: int, start: int, _end: int, _flags: int, hits: object) -> None:
        cast(Hits, hits).append((probe, start))

    def scan(self, data: bytes) -> Hits:
        hits: Hits = []
        if data:
            self._db.scan(data, match_event_handler=self._on_match, context=hits)
        return hits


class Re2Prefilter:
    def __init__(self, probes: Sequence[Probe]) -> None:
        import re2

        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1  # bytes in, any byte valid
        self.name = "re2"
        self._set: Any = re2.Set.SearchSet(options)
        self._each: list[Any] = []
        for probe in probes:
            pattern = ("(?i)" if probe.caseless else "") + probe.pattern
            self._set.Add(pattern.encode())
            self._each.append(re2.compile(pattern.encode(), options))
        self._set.Compile()

    def scan(self, data: bytes) -> Hits:
        if not data:
            return []
        return [
            (index, match.start())
            for index in self._set.Match(data)
            for match in self._each[index].finditer(data)
        ]


class RePrefilter:
    """Plain ``re``, one probe at a time: correct, and about 10x slower."""

    def __init__(self, probes: Sequence[Probe]) -> None:
        self.name = "re (slow fallback)"
        self._each = [
            re.compile(p.pattern.encode(), re.IGNORECASE if p.caseless else 0) for p in probes
        ]

    def scan(self, data: bytes) -> Hits:
        return [(i, m.start()) for i, rx in enumerate(self._each) for m in rx.finditer(data)]


ENGINES: dict[str, Callable[[Sequence[Probe]], Prefilter]] = {
    "hyperscan": HyperscanPrefilter,
    "re2": Re2Prefilter,
    "re": RePrefilter,
}


def build_prefilter(probes: Sequence[Probe], engine: str | None = None) -> Prefilter:
    """The fastest engine that imports here, or the one asked for (tests pin each)."""
    if engine is not None:
        return ENGINES[engine](probes)
    for name in ("hyperscan", "re2"):
        try:
            return ENGINES[name](probes)
        except ImportError:
            continue
    return RePrefilter(probes)
